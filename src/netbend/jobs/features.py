"""``netbend features``: analyse a song into per-frame features, write a CSV and a plot."""

from __future__ import annotations

import csv as csv_io
from pathlib import Path

import numpy as np

from ..audio import features, io as audio_io, smoothing
from ..paths import make_folder
from ..settings import FeaturesJob


def describe_features() -> str:
    """The feature registry as text: name, description, options (``netbend features --list``)."""
    lines = []
    for spec in features.FEATURES.values():
        opts = ", ".join(f"{k}={v}" for k, v in spec.options.items())
        lines.append(f"{spec.name:<10} {spec.description}" + (f"  [{opts}]" if opts else ""))
    lines.append("\nprefix harmonic. or percussive. to use the HPSS-separated signal; options as NAME:key=value")
    return "\n".join(lines)


def columns(label: str, values: np.ndarray) -> list[str]:
    """CSV column names of values (n_frames,) or (n_frames, d): the label, or label_0 .. label_{d-1}."""
    return [label] if values.ndim == 1 else [f"{label}_{i}" for i in range(values.shape[1])]


def run_features(job: FeaturesJob) -> str:
    """Compute, smooth, write what ``job`` asks for; return a short summary to print."""
    job.check()
    fps = job.fps
    requests = features.parse_list(job.feature)
    steps = smoothing.parse(job.smooth)
    song = audio_io.load(job.audio)
    n = audio_io.frames_of(song, fps)
    stem = job.stem
    analysis = features.Analysis(audio_io.align(audio_io.load(stem), song) if stem else song, fps)
    raw = {str(r): analysis.compute(r)[:n] for r in requests}
    smooth_values = {k: smoothing.apply(v, steps, fps) for k, v in raw.items()}
    lines = [f"{song.path.name}" + (f" (features of {Path(stem).name})" if stem else "")
             + f": {song.duration:.2f} s at {song.sr} Hz, {n} frames at {fps:g} fps"
             + (f", smoothing {','.join(map(str, steps))}" if steps else "")]
    for k, v in raw.items():
        s = smooth_values[k]
        lines.append(f"  {k:<20} d={1 if v.ndim == 1 else v.shape[1]:<3} min {s.min():.4g}  max {s.max():.4g}  "
                     f"mean {s.mean():.4g}")
    if job.csv:
        make_folder(Path(job.csv).parent)
        _write_csv(job.csv, smooth_values if job.smoothed else raw, fps)
        lines.append(f"wrote {job.csv} ({'smoothed' if job.smoothed else 'raw'} values)")
    if job.plot:
        _plot(job, song.path.name, raw, smooth_values, steps)
        lines.append(f"wrote {job.plot}")
    return "\n".join(lines)


def _plot(job: FeaturesJob, name: str, raw: dict, smoothed: dict, steps: list) -> None:
    from ..output.plots import plot_features

    title = f"{name}  ({job.fps:g} fps" + (f", smoothing {','.join(map(str, steps))})" if steps else ", no smoothing)")
    panels = []
    for k, v in raw.items():
        if v.ndim == 1 or not steps:
            panels.append((k, v, smoothed[k] if steps else None))
        else:  # an image each for raw and smoothed
            panels += [(f"{k} (raw)", v, None), (f"{k} (smoothed)", smoothed[k], None)]
    make_folder(Path(job.plot).parent)
    plot_features(job.plot, panels, fps=job.fps, title=title)


def _write_csv(path: str, values: dict[str, np.ndarray], fps: float) -> None:
    n = len(next(iter(values.values())))
    header = ["frame", "time"] + [c for k, v in values.items() for c in columns(k, v)]
    table = np.column_stack([np.arange(n), np.arange(n) / fps] + [v.reshape(n, -1) for v in values.values()])
    with open(path, "w", newline="") as fh:
        writer = csv_io.writer(fh)
        writer.writerow(header)
        for i, row in enumerate(table):
            writer.writerow([i, f"{row[1]:.6f}", *(f"{x:.9g}" for x in row[2:])])
