"""Mapping a feature's values onto an operator's parameter range."""

from __future__ import annotations

import numpy as np


def to_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Min-max map ``values`` over the whole song onto ``[lo, hi]``.

    The song's smallest value goes to ``lo`` and its largest to ``hi``. A constant
    feature (a silent song, say) maps to ``lo`` everywhere, never to NaN.

    Parameters
    ----------
    values : np.ndarray [shape=(n_frames,)]
    lo, hi : float  the parameter range; ``lo > hi`` inverts the mapping

    Returns
    -------
    np.ndarray [shape=(n_frames,)] float64
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    vmin, vmax = values.min(), values.max()
    if not vmax > vmin:
        return np.full_like(values, lo)
    return lo + (values - vmin) / (vmax - vmin) * (hi - lo)
