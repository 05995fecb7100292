"""Musical time in a render: every position written in bars and beats placed on the song's beats.

`place` takes a job whose times may be musical (``9.1``, ``b32``: `netbend.positions`) and
gives the same job in seconds: the excerpt, each panel's prompt schedule (a ``cycle`` made
into one), the bends' windows and keyframes. The beat grid is tracked only when some position
needs it, once per song (`netbend.audio.beats`), in the analysis the bends' features share.
What each position became goes into the sidecar and the notes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .. import positions
from ..audio import beats, features
from ..audio.io import Audio
from ..errors import NetbendError
from ..generation import prompts
from ..generation.prompts import Keyframe
from ..settings import Bend, Generation, RenderJob


def musical(job: RenderJob) -> bool:
    """Whether any time of ``job`` is written in bars or beats."""
    times = [job.start] + ([] if job.duration is None else [job.duration])
    for panel in job.as_panels():
        for bend in panel.bends:
            times += list(bend.window or ()) + [t for t, _ in bend.keyframes or ()]
    return any(positions.is_musical(t) for t in times) or any(p.generation.musical for p in job.as_panels())


def place(job: RenderJob, song: Audio, analyses: dict) -> tuple[RenderJob, dict | None]:
    """``job`` with every time in seconds, and the record of where the musical ones fell (None
    when there were none). ``analyses``: by audio file (None: the song), shared with the drives."""
    if not musical(job):
        return job, None
    if None not in analyses:
        analyses[None] = features.Analysis(song, job.fps, meter=job.meter, bar_offset=job.bar_offset)
    tracked = beats.track(analyses[None], meter=job.meter, bar_offset=job.bar_offset)
    grid = on_frames(tracked, job.fps)
    placed: list[tuple[str, Any, float]] = []  # (what, as written, seconds)

    def at(value: Any, label: str) -> float:
        seconds = positions.resolve(value, grid, label)
        if positions.is_musical(value):
            placed.append((label, value, seconds))
        return seconds

    start = at(job.start, "--start")
    duration = None
    if job.duration is not None:
        duration = positions.resolve_length(job.duration, start, grid, "--duration")
        if positions.is_musical(job.duration):
            placed.append(("--duration", job.duration, duration))
    top = placed if not job.panels else []  # with panels, the panels' record says where things fell
    generation = _generation(job.generation, grid, song.duration, "prompts", top)
    bends = [_bend(b, at if not job.panels else _quiet(grid), f"bends[{i}]") for i, b in enumerate(job.bends)]
    panels = [dataclasses.replace(p, generation=_generation(p.generation, grid, song.duration, f"panels[{k}].prompts", placed),
                                  bends=[_bend(b, at, f"panels[{k}].bends[{i}]") for i, b in enumerate(p.bends)])
              for k, p in enumerate(job.panels)]
    out = dataclasses.replace(job, start=start, duration=duration, generation=generation, bends=bends, panels=panels)
    return out, record(tracked, placed)


def on_frames(grid: beats.BeatGrid, fps: float) -> beats.BeatGrid:
    """``grid`` with each beat moved to the start of the video frame it falls in: what happens on
    a beat happens in the frame that holds it (as an event's envelope peaks there,
    `netbend.audio.envelopes`), not in the next one because the beat came a few ms after the
    frame began."""
    times = np.floor(grid.times * fps + 1e-9) / fps
    return dataclasses.replace(grid, times=np.maximum.accumulate(times))


def _quiet(grid: beats.BeatGrid) -> Any:
    return lambda value, label: positions.resolve(value, grid, label)


def _bend(bend: Bend, at: Any, label: str) -> Bend:
    window = None if bend.window is None else tuple(at(t, f"{label}.window") for t in bend.window)
    keyframes = None if bend.keyframes is None else [(at(t, f"{label}.keyframes"), v) for t, v in bend.keyframes]
    if window is not None and not window[0] < window[1]:
        raise NetbendError(f"{label}.window {list(bend.window)} is [{window[0]:.3f}, {window[1]:.3f}) s on this song's "
                           "beats: on must come before off")
    if keyframes is not None and any(b[0] <= a[0] for a, b in zip(keyframes, keyframes[1:])):
        raise NetbendError(f"{label}.keyframes {bend.keyframes} fall at "
                           f"{[round(t, 3) for t, _ in keyframes]} s on this song's beats: times must increase")
    return dataclasses.replace(bend, window=window, keyframes=keyframes)


def _generation(g: Generation, grid: beats.BeatGrid, duration: float, label: str, placed: list) -> Generation:
    if not g.musical:
        return g
    if g.cycle:
        keys = cycle(g, grid, duration)
        placed.append((f"{label}: cycle from", g.cycle_from, keys[0].time))
    else:
        keys = prompts.place(g.keyframes(), grid, source=label)
        placed += [(label, k.time, p.time) for k, p in zip(g.keyframes(), keys) if positions.is_musical(k.time)]
    text = prompts.text(keys)
    if isinstance(g.prompts, str) and hasattr(g.prompts, "path"):  # keep the file it came from, an input
        text = type(g.prompts)(text, g.prompts.path)
    return dataclasses.replace(g, prompts=text, cycle=None)


def cycle(g: Generation, grid: beats.BeatGrid, duration: float) -> list[Keyframe]:
    """The keyframes of ``g.cycle``: its prompts in turn, one every ``cycle_every`` from
    ``cycle_from`` up to the song's last tracked beat, each arriving over ``cycle_morph``."""
    first = positions.resolve(g.cycle_from, grid, "--cycle-from")
    every = positions.read(g.cycle_every, length=True)
    if every.kind == "seconds":
        count = int(math.ceil((duration - first) / every.value - 1e-9)) if first < duration else 0  # before the end
        turns = [first + k * every.value for k in range(count)]
        end = f"the song's end ({positions.clock_text(duration)})"
    else:
        step = positions.beats_in(every, grid.meter, f"--cycle-every {g.cycle_every}")
        beat = positions.beat_at(grid, first, f"--cycle-from {g.cycle_from}")
        count = int(math.floor((len(grid.times) - beat) / step + 1e-9)) + 1 if beat <= len(grid.times) else 0
        turns = [positions.time_of_beat(grid, beat + k * step, "--cycle") for k in range(count)]
        end = f"the song's last tracked beat (b{len(grid.times)})"
    if not turns:
        raise NetbendError(f"--cycle-from {g.cycle_from} ({positions.clock_text(first)}) is after {end}: the cycle "
                           "never starts")
    keys = [Keyframe(t, g.cycle[k % len(g.cycle)], 0.0 if k == 0 else g.cycle_morph) for k, t in enumerate(turns)]
    return prompts.place(keys, grid, source="--cycle")


def record(grid: beats.BeatGrid, placed: list[tuple[str, Any, float]]) -> dict:
    """The sidecar's ``musical_time``: the grid in brief and where each musical position fell."""
    bpm = grid.bpm
    return {
        "beats": len(grid.times), "meter": grid.meter, "bar_offset": grid.bar_offset,
        "bpm": None if len(bpm) == 0 else {"median": float(np.median(bpm)), "min": float(bpm.min()),
                                           "max": float(bpm.max())},
        "first_beat_s": None if len(grid.times) == 0 else float(grid.times[0]),
        "last_beat_s": None if len(grid.times) == 0 else float(grid.times[-1]),
        "placed": [{"what": what, "written": str(value), "seconds": seconds} for what, value, seconds in placed],
    }


def summary(rec: dict) -> str:
    """One line for the notes: the grid and the first positions placed."""
    bpm = rec["bpm"]
    head = (f"musical time: {rec['beats']} beats, meter {rec['meter']}"
            + ("" if bpm is None else f", {bpm['min']:.0f}-{bpm['max']:.0f} bpm (median {bpm['median']:.0f})"))
    shown = [positions.describe(p["written"], p["seconds"]) for p in rec["placed"][:4]]
    more = len(rec["placed"]) - len(shown)
    return head + ("; " + ", ".join(shown) if shown else "") + (f" and {more} more (see the sidecar)" if more > 0 else "")
