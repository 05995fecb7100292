"""Normalisations, usually chained after another operator (``rotate_r1 | normalize_max``)."""

from __future__ import annotations

import torch

from ..errors import NetbendError
from .registry import Batch, Param, register

AXES = {"channel": 0, "row": 1, "column": 2}  # of a sample (C, H, W)


@register("normalize_max", family="normalisation", param_shape=None,
          description="divide each sample by its largest |x| (an all-zero sample stays 0)")
def normalize_max(x: Batch) -> Batch:
    peak = x.abs().amax(dim=(1, 2, 3), keepdim=True)
    return x / torch.where(peak > 0, peak, torch.ones_like(peak))


@register("normalize_l2", family="normalisation", param_shape=None,
          description="L2-normalise the channel vector at every pixel (a zero vector stays 0)")
def normalize_l2(x: Batch) -> Batch:
    norm = x.float().norm(dim=1, keepdim=True)
    return (x.float() / torch.where(norm > 0, norm, torch.ones_like(norm))).to(x.dtype)


@register("normalize_mean", family="normalisation", param_shape=None,
          description="subtract the mean: global (axis=None) or along axis 0/channel, 1/row, 2/column")
def normalize_mean(x: Batch, *, axis: int | None = None) -> Batch:
    if axis is None:
        dims = (1, 2, 3)
    else:
        a = AXES.get(axis, axis)
        if a not in (0, 1, 2):
            raise NetbendError(f"operator 'normalize_mean': axis must be None, 0/channel, 1/row or 2/column, got {axis!r}")
        dims = (a + 1,)
    return (x.float() - x.float().mean(dim=dims, keepdim=True)).to(x.dtype)
