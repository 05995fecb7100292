"""``netbend features``: analyse a song into per-frame features, write a CSV and a plot; with
``--beats``, its beat grid as a summary, a table, a CSV and marks on the plot."""

from __future__ import annotations

import csv as csv_io
from pathlib import Path

import numpy as np

from ..audio import beats, features, io as audio_io, smoothing
from ..paths import make_folder
from ..positions import clock_text as clock
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
    analysis = features.Analysis(audio_io.align(audio_io.load(stem), song) if stem else song, fps, meter=job.meter,
                                 bar_offset=job.bar_offset)
    raw = {str(r): analysis.compute(r)[:n] for r in requests}
    smooth_values = {k: smoothing.apply(v, steps, fps) for k, v in raw.items()}
    lines = [f"{song.path.name}" + (f" (features of {Path(stem).name})" if stem else "")
             + f": {song.duration:.2f} s at {song.sr} Hz, {n} frames at {fps:g} fps"
             + (f", smoothing {','.join(map(str, steps))}" if steps else "")]
    for k, v in raw.items():
        s = smooth_values[k]
        lines.append(f"  {k:<20} d={1 if v.ndim == 1 else v.shape[1]:<3} min {s.min():.4g}  max {s.max():.4g}  "
                     f"mean {s.mean():.4g}")
    grid = beats.track(analysis, meter=job.meter, bar_offset=job.bar_offset) if job.beats else None
    if grid is not None:
        lines += describe_beats(grid, beats.tracked(analysis))
    if job.csv:
        make_folder(Path(job.csv).parent)
        if grid is not None:
            write_beats_csv(job.csv, grid)
            lines.append(f"wrote {job.csv} (the beat grid, {len(grid)} beats)")
        else:
            _write_csv(job.csv, smooth_values if job.smoothed else raw, fps)
            lines.append(f"wrote {job.csv} ({'smoothed' if job.smoothed else 'raw'} values)")
    if job.plot:
        _plot(job, song.path.name, raw, smooth_values, steps, grid)
        lines.append(f"wrote {job.plot}")
    return "\n".join(lines)


def _plot(job: FeaturesJob, name: str, raw: dict, smoothed: dict, steps: list, grid: beats.BeatGrid | None) -> None:
    from ..output.plots import plot_features

    title = f"{name}  ({job.fps:g} fps" + (f", smoothing {','.join(map(str, steps))})" if steps else ", no smoothing)")
    marks = {}
    if grid is not None:
        title += f"; green lines: beats, thick: downbeats (meter {grid.meter})"
        marks = {"beats": grid.times, "downbeats": grid.times[grid.downbeat]}
    panels = []
    for k, v in raw.items():
        if v.ndim == 1 or not steps:
            panels.append((k, v, smoothed[k] if steps else None))
        else:  # an image each for raw and smoothed
            panels += [(f"{k} (raw)", v, None), (f"{k} (smoothed)", smoothed[k], None)]
    make_folder(Path(job.plot).parent)
    plot_features(job.plot, panels, fps=job.fps, title=title, **marks)


def _write_csv(path: str, values: dict[str, np.ndarray], fps: float) -> None:
    n = len(next(iter(values.values())))
    header = ["frame", "time"] + [c for k, v in values.items() for c in columns(k, v)]
    table = np.column_stack([np.arange(n), np.arange(n) / fps] + [v.reshape(n, -1) for v in values.values()])
    with open(path, "w", newline="") as fh:
        writer = csv_io.writer(fh)
        writer.writerow(header)
        for i, row in enumerate(table):
            writer.writerow([i, f"{row[1]:.6f}", *(f"{x:.9g}" for x in row[2:])])


def describe_beats(grid: beats.BeatGrid, tracking: beats.Tracking, *, rows: int = 8) -> list[str]:
    """A summary line of the beat grid and a table of its beats: all of them up to ``4 * rows``,
    else the first and last ``rows`` around an ellipsis (the CSV has every beat)."""
    dropped = f"dropped {len(tracking.silent)} silent, {len(tracking.no_pulse)} without pulse"
    if len(grid) == 0:
        return [f"beat grid: no beats ({dropped})"]
    bpm = grid.bpm
    tempo = (f"tempo {bpm.min():.1f}-{bpm.max():.1f} bpm, median {np.median(bpm):.1f}" if len(grid) > 1
             else "no tempo (one beat)")
    lines = [f"beat grid: {len(grid)} beats, {int(grid.downbeat.sum())} downbeats (meter {grid.meter}, bar offset "
             f"{grid.bar_offset}); {tempo}; first beat {clock(grid.times[0])}, last {clock(grid.times[-1])}; {dropped}",
             f"  {'beat':>6}  {'time':>9}  {'bar.beat':>8}  {'down':>4}  {'bpm':>6}"]
    shown = range(len(grid)) if len(grid) <= 4 * rows else [*range(rows), None, *range(len(grid) - rows, len(grid))]
    for i in shown:
        if i is None:
            lines.append(f"  {'...':>6}  ({len(grid) - 2 * rows} more beats; --csv writes them all)")
            continue
        bar, beat = grid.bar_beat(i)
        lines.append(f"  {f'b{i + 1}':>6}  {clock(grid.times[i]):>9}  {f'{bar}.{beat}':>8}  {'*' if grid.downbeat[i] else '':>4}"
                     f"  {bpm[i]:>6.1f}")
    return lines


def write_beats_csv(path: str, grid: beats.BeatGrid) -> None:
    """The beat grid as CSV, one row per beat: beat (1-based, as ``b32`` positions count), time (s), bar and beat_in_bar
    (1-based; bar 0 and below before bar 1), downbeat (1 or 0), bpm (local tempo)."""
    k = grid.positions
    with open(path, "w", newline="") as fh:
        writer = csv_io.writer(fh)
        writer.writerow(["beat", "time", "bar", "beat_in_bar", "downbeat", "bpm"])
        for i, (t, bar, beat, down, bpm) in enumerate(zip(grid.times, k // grid.meter + 1, k % grid.meter + 1,
                                                          grid.downbeat, grid.bpm)):
            writer.writerow([i + 1, f"{t:.6f}", int(bar), int(beat), int(down), f"{bpm:.3f}"])
