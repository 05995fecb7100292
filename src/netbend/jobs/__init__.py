"""Jobs: what the commands do, as library code that reports progress through events.

- `render`: a music video (analysis -> pipeline -> frame store -> video, sidecar, plot)
- `grid`: a figure grid on a shared trajectory
- `features`, `sites`, `demo`: the smaller commands
- `events`: the progress events every job reports; `frames`: the frame store; `sidecar`
"""
