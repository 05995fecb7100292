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
