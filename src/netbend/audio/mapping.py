"""Mapping a feature's values onto an operator's parameter range."""

from __future__ import annotations

import numpy as np

from ..errors import NetbendError

CURVES = ("linear", "exp", "log")
_K = 4.0  # steepness of the exp/log curves; they are each other's inverse


def to_range(values: np.ndarray, lo: float, hi: float, *, curve: str = "linear", invert: bool = False) -> np.ndarray:
    """Min-max map ``values`` over the whole song onto ``[lo, hi]``, per dimension.

    The song's smallest value goes to ``lo`` and its largest to ``hi`` (the reverse with
    ``invert``). ``curve`` bends the way in between: ``exp`` rises slowly then fast,
    ``log`` fast then slowly. A constant dimension (a silent song, say) maps to ``lo``
    everywhere, never to NaN.

    Parameters
    ----------
    values : np.ndarray [shape=(n_frames,) or (n_frames, d)]
    lo, hi : float  the parameter range

    Returns
    -------
    np.ndarray, float64, the shape of ``values``
    """
    if curve not in CURVES:
        raise NetbendError(f"unknown curve {curve!r}; use one of {', '.join(CURVES)}")
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    vmin, vmax = values.min(axis=0), values.max(axis=0)
    span = vmax - vmin
    constant = ~(span > 0)
    u = (values - vmin) / np.where(constant, 1.0, span)  # [0, 1]
    if invert:
        u = 1.0 - u
    if curve == "exp":
        u = np.expm1(_K * u) / np.expm1(_K)
    elif curve == "log":
        u = np.log1p(u * np.expm1(_K)) / _K
    u = np.where(constant, 0.0, u)
    return lo + u * (hi - lo)


def accumulate(r: np.ndarray, *, identity: float, how: str, fps: float, active: np.ndarray | None = None,
               wrap: float | None = None, limit: float | None = None, label: str = "range") -> np.ndarray:
    """A parameter integrated over time: each frame's ``r`` read as a rate per second.

    ``how="add"``: frame ``i`` gets ``identity + sum_{j<i} (r_j - identity) / fps`` (a spin of
    ``r`` degrees per second); ``how="multiply"``: ``prod_{j<i} r_j ** (1 / fps)`` (a zoom by
    ``r`` per second). Frame 0 is the identity; frames outside ``active`` add nothing.
    ``wrap``: the accumulated offset is taken modulo this period (a factor for multiply: the
    zoom restarts at 1 each time it reaches ``wrap``); ``limit``: it stops this far from the
    identity (a factor for multiply, in both directions).

    Parameters
    ----------
    r : np.ndarray [shape=(n_frames,)]
    label : how errors name the range the rates came from
    """
    r = np.asarray(r, dtype=np.float64)
    if how == "multiply":
        if np.any(r <= 0):
            raise NetbendError(f"{label}: an accumulated zoom needs factors above 0 per second, got {r.min():g}")
        step = np.log(r) / fps  # in log space a zoom adds
        period = None if wrap is None else float(np.log(wrap))
        bound = None if limit is None else float(np.log(limit))
    elif how == "add":
        step, period, bound = (r - identity) / fps, wrap, limit
    else:
        raise NetbendError(f"unknown accumulation {how!r}; use add or multiply")
    if active is not None:
        step = np.where(active, step, 0.0)
    if bound is None:
        total = np.concatenate([[0.0], np.cumsum(step)[:-1]])  # frame i: the steps before it
    else:  # an integrator that saturates at the bound and leaves it as soon as the rate turns
        total = np.zeros(len(step))
        for i in range(1, len(step)):
            total[i] = min(max(total[i - 1] + step[i - 1], -bound), bound)
    if period is not None:
        total = np.mod(total, period)
    return np.exp(total) if how == "multiply" else identity + total
