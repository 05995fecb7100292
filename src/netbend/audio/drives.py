"""What drives each bend, frame by frame: a feature (smoothed and mapped onto the operator's
range), a constant, or keyframes; and when the bend is active."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NetbendError
from . import features, mapping, smoothing
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
           analyses: dict[str | None, features.Analysis] | None = None) -> list[Drive]:
    """The drive of each bend over the whole song (``n_frames`` at ``fps``). ``analyses``: one
    per audio file (None: the song), shared by the bends that read it and kept across calls."""
    analyses = {} if analyses is None else analyses
    return [drive(b, song, fps=fps, n_frames=n_frames, analyses=analyses, names=nm) for b, nm in zip(bends, names)]


def drive(bend: Bend, song: Audio, *, fps: float, n_frames: int, analyses: dict, names: Names) -> Drive:
    """One bend's `Drive`; ``names`` name its keys in errors."""
    chain = bend.chain()
    n = n_frames
    t = np.arange(n) / fps  # frame start times, seconds
    active = None if bend.window is None else (t >= bend.window[0]) & (t < bend.window[1])
    if bend.constant is not None:
        values = smoothed = r = np.full(n, float(bend.constant))
    elif bend.keyframes is not None:
        kt, kv = np.array(bend.keyframes).T
        values = smoothed = r = np.interp(t, kt, kv)  # held before the first and after the last point
    else:
        if bend.stem not in analyses:
            source = align(load(bend.stem), song) if bend.stem else song  # silence past its end
            analyses[bend.stem] = features.Analysis(source, fps)
        values = analyses[bend.stem].compute(bend.feature)[:n]
        smoothed = smoothing.apply(values, smoothing.parse(bend.smooth), fps)
        r = None if chain.param_shape is None else mapping.to_range(
            smoothed, *bend.param_range(), curve=bend.curve, invert=bend.invert)
    if chain.param_shape is None:
        return Drive(values, np.zeros(n), smoothed, active)
    source = bend.feature if bend.constant is None and bend.keyframes is None else "constant"
    return Drive(values, fit_param(r, chain, source, names), smoothed, active)


def fit_param(r: np.ndarray, chain: Chain, feature: str, names: Names) -> np.ndarray:
    """(n, d) mapped values -> (n, *param_shape): a 16-d feature feeds a 4x4 matrix, a 6-d one six angles."""
    shape = chain.param_shape
    d = 1 if r.ndim == 1 else r.shape[1]
    need = int(np.prod(shape)) if shape else 1
    if d != need:
        hint = {6: "encodec:d=6", 16: "encodec:d=16"}.get(need, "a one-number feature such as rms")
        raise NetbendError(f"{names.key('op')} {chain} takes {need} number(s) per frame but {names.key('feature')} "
                           f"{feature} gives {d}; use {hint}")
    return r.reshape(len(r), *shape)
