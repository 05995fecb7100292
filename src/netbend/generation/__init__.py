"""Generation: models, the sampling loop, and where and how bends act inside it.

- `models`, `tiny`, `trained`: loading checkpoints (hub id, folder, single file) and the offline tiny
  models (random; trained by netbend, `training/`)
- `pipeline`: `Pipeline`, the one object that makes frames (sampler, prompts, noise walk,
  random streams, denoiser, decoder)
- `sampling`, `schedulers`, `noise`, `prompts`: the loop and its parts
- `bending`, `sites`, `channels`: bends on a batch, the networks' bending sites and their channels
"""
