"""``netbend features``: analyse a song into per-frame features, write a CSV and a plot."""

from __future__ import annotations

import csv as csv_io
from pathlib import Path

import numpy as np

from . import audio as audio_io, features, smoothing
from .errors import NetbendError
from .paths import check_output


def describe_features() -> str:
    lines = []
    for spec in features.FEATURES.values():
        opts = ", ".join(f"{k}={v}" for k, v in spec.options.items())
        lines.append(f"{spec.name:<10} {spec.description}" + (f"  [{opts}]" if opts else ""))
    lines.append("\nprefix harmonic. or percussive. to use the HPSS-separated signal; options as NAME:key=value")
    return "\n".join(lines)


def columns(label: str, values: np.ndarray) -> list[str]:
    """CSV column names: the label, or label_0 .. label_{d-1} for a d-dimensional feature."""
    return [label] if values.ndim == 1 else [f"{label}_{i}" for i in range(values.shape[1])]


def run_features(path: str, *, feature_list: str, fps: float, smooth: str | None = None, stem: str | None = None,
                 csv: str | None = None, plot: str | None = None, smoothed: bool = False) -> str:
    """Compute, smooth, write what was asked for; return a short summary to print."""
    if not fps > 0 or not np.isfinite(fps):
        raise NetbendError(f"--fps must be a positive number, got {fps}")
    requests = features.parse_list(feature_list)
    steps = smoothing.parse(smooth)
    if smoothed and not steps:
        raise NetbendError("--smoothed writes smoothed values: give --smooth too")
    if plot and Path(plot).suffix.lower() != ".png":
        raise NetbendError(f"--plot writes a PNG: give a name ending in .png, got {plot}")
    for out in (csv, plot):
        if out:
            check_output(Path(out), overwrite=True)
    song = audio_io.load(path)
    n = audio_io.frames_of(song, fps)
    analysis = features.Analysis(audio_io.align(audio_io.load(stem), song) if stem else song, fps)
    raw = {str(r): analysis.compute(r)[:n] for r in requests}
    smooth_values = {k: smoothing.apply(v, steps, fps) for k, v in raw.items()}
    lines = [f"{song.path.name}" + (f" (features of {Path(stem).name})" if stem else "")
             + f": {song.duration:.2f} s at {song.sr} Hz, {n} frames at {fps:g} fps"
             + (f", smoothing {','.join(map(str, steps))}" if steps else "")]
    for k, v in raw.items():
        s = smooth_values[k]
        lines.append(f"  {k:<20} d={1 if v.ndim == 1 else v.shape[1]:<3} min {s.min():.4g}  max {s.max():.4g}  mean {s.mean():.4g}")
    if csv:
        Path(csv).parent.mkdir(parents=True, exist_ok=True)
        _write_csv(csv, smooth_values if smoothed else raw, fps)
        lines.append(f"wrote {csv} ({'smoothed' if smoothed else 'raw'} values)")
    if plot:
        from .plotting import plot_features

        title = f"{song.path.name}  ({fps:g} fps" + (f", smoothing {','.join(map(str, steps))})" if steps else ", no smoothing)")
        panels = []
        for k, v in raw.items():
            if v.ndim == 1 or not steps:
                panels.append((k, v, smooth_values[k] if steps else None))
            else:  # an image each for raw and smoothed
                panels += [(f"{k} (raw)", v, None), (f"{k} (smoothed)", smooth_values[k], None)]
        Path(plot).parent.mkdir(parents=True, exist_ok=True)
        plot_features(plot, panels, fps=fps, title=title)
        lines.append(f"wrote {plot}")
    return "\n".join(lines)


def _write_csv(path: str, values: dict[str, np.ndarray], fps: float) -> None:
    n = len(next(iter(values.values())))
    header = ["frame", "time"] + [c for k, v in values.items() for c in columns(k, v)]
    table = np.column_stack([np.arange(n), np.arange(n) / fps] + [v.reshape(n, -1) for v in values.values()])
    with open(path, "w", newline="") as fh:
        writer = csv_io.writer(fh)
        writer.writerow(header)
        for i, row in enumerate(table):
            writer.writerow([i, f"{row[1]:.6f}", *(f"{x:.9g}" for x in row[2:])])
