"""What drives each bend, frame by frame: a feature or an event envelope (smoothed and mapped
onto the operator's range), a constant, or keyframes, optionally accumulated over time; and
when the bend is active."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NetbendError
from . import events, features, mapping, smoothing
from .io import Audio, align, load

if TYPE_CHECKING:
    from ..operators import Chain
    from ..settings import Bend, Names


@dataclass
class Drive:
    """One bend's parameter for every frame of the song, and the values it came from."""

    feature: np.ndarray  # (n_frames,) or (n_frames, d) raw driver values (feature, constant or keyframes)
    r: np.ndarray  # (n_frames, *param_shape) operator parameter per frame
    smoothed: np.ndarray | None = None  # the feature after smoothing, as mapped onto r
    active: np.ndarray | None = None  # (n_frames,) bool: inside the bend's window; None = always

    @property
    def n_frames(self) -> int:
        return len(self.feature)


def drives(bends: list[Bend], song: Audio, *, fps: float, n_frames: int, names: list[Names],
           analyses: dict[str | None, features.Analysis] | None = None, meter: int = 4,
           bar_offset: int = 0) -> list[Drive]:
    """The drive of each bend over the whole song (``n_frames`` at ``fps``). ``analyses``: one
    per audio file (None: the song), shared by the bends that read it and kept across calls;
    ``meter``, ``bar_offset``: the bars of the beat grid (downbeat triggers)."""
    analyses = {} if analyses is None else analyses
    return [drive(b, song, fps=fps, n_frames=n_frames, analyses=analyses, names=nm, meter=meter,
                  bar_offset=bar_offset) for b, nm in zip(bends, names)]


def drive(bend: Bend, song: Audio, *, fps: float, n_frames: int, analyses: dict, names: Names, meter: int = 4,
          bar_offset: int = 0) -> Drive:
    """One bend's `Drive` (its times in seconds: `netbend.jobs.timeline`); ``names`` name its keys in errors."""
    chain = bend.chain()
    n = n_frames
    t = np.arange(n) / fps  # frame start times, seconds
    active = None if bend.window is None else (t >= bend.window[0]) & (t < bend.window[1])
    if bend.constant is not None:
        values = smoothed = r = np.full(n, float(bend.constant))
    elif bend.keyframes is not None:
        kt, kv = np.array(bend.keyframes, dtype=np.float64).T
        values = smoothed = r = np.interp(t, kt, kv)  # held before the first and after the last point
    else:
        analysis = _analysis(bend, song, fps, analyses, meter, bar_offset)
        if bend.trigger is not None:
            values = events.drive(bend.trigger, bend.envelope, bend.strength, analysis, n_frames=n, meter=meter,
                                  bar_offset=bar_offset)
        else:
            values = analysis.compute(bend.feature)[:n]
        smoothed = smoothing.apply(values, smoothing.parse(bend.smooth), fps)
        r = None if chain.param_shape is None else mapping.to_range(
            smoothed, *bend.param_range(), curve=bend.curve, invert=bend.invert)
    if chain.param_shape is None:
        return Drive(values, np.zeros(n), smoothed, active)
    r = fit_param(r, chain, bend, names)
    if bend.accumulate:  # a one-number parameter (`Bend.check`)
        r = mapping.accumulate(r, identity=chain.identity or 0.0, how=chain.accumulate, fps=fps, active=active,
                               wrap=bend.wrap, limit=bend.limit, label=names.key("range"))
    return Drive(values, r, smoothed, active)


def _analysis(bend: Bend, song: Audio, fps: float, analyses: dict, meter: int, bar_offset: int) -> features.Analysis:
    if bend.stem not in analyses:
        source = align(load(bend.stem), song) if bend.stem else song  # silence past its end
        analyses[bend.stem] = features.Analysis(source, fps, meter=meter, bar_offset=bar_offset)
    return analyses[bend.stem]


def fit_param(r: np.ndarray, chain: Chain, bend: Bend, names: Names) -> np.ndarray:
    """(n, d) mapped values -> (n, *param_shape): a 16-d feature feeds a 4x4 matrix, a 6-d one six angles."""
    shape = chain.param_shape
    d = 1 if r.ndim == 1 else r.shape[1]
    need = int(np.prod(shape)) if shape else 1
    if d != need:
        hint = {6: "encodec:d=6", 16: "encodec:d=16"}.get(need, "a one-number feature such as rms")
        key = next((k for k in ("constant", "keyframes", "trigger") if getattr(bend, k) is not None), "feature")
        what = f"{names.key(key)}" + (f" {bend.feature}" if key == "feature" else f" {bend.trigger}" if key == "trigger"
                                      else "")
        raise NetbendError(f"{names.key('op')} {chain} takes {need} number(s) per frame but {what} gives {d}; "
                           f"use {hint}")
    return r.reshape(len(r), *shape)
