"""Morphological operators, per channel, with a flat k x k structuring element (kornia)."""

from __future__ import annotations

import torch

from ..errors import NetbendError
from .registry import Batch, Param, register


def _kernel(name: str, k: int, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(k, int) or k < 1:
        raise NetbendError(f"operator {name!r}: k must be a positive integer, got {k!r}")
    return torch.ones(k, k, device=x.device, dtype=torch.float32)


def _per_channel(fn, x: torch.Tensor) -> torch.Tensor:
    # kornia works per channel already; compute in float32 (half precision is not supported everywhere)
    return fn(x.float()).to(x.dtype)


@register("dilate", family="morphological", param_shape=None, description="grey-scale dilation: max over a k x k window")
def dilate(x: Batch, *, k: int = 3) -> Batch:
    import kornia

    return _per_channel(lambda t: kornia.morphology.dilation(t, _kernel("dilate", k, x)), x)


@register("erode", family="morphological", param_shape=None, description="grey-scale erosion: min over a k x k window")
def erode(x: Batch, *, k: int = 3) -> Batch:
    import kornia

    return _per_channel(lambda t: kornia.morphology.erosion(t, _kernel("erode", k, x)), x)


@register("gradient", family="morphological", param_shape=None, description="morphological gradient: dilation - erosion")
def gradient(x: Batch, *, k: int = 3) -> Batch:
    import kornia

    return _per_channel(lambda t: kornia.morphology.gradient(t, _kernel("gradient", k, x)), x)


@register("sobel", family="morphological", param_shape=None, description="Sobel edge magnitude of each channel")
def sobel(x: Batch, *, normalized: bool = True) -> Batch:
    import kornia

    return _per_channel(lambda t: kornia.filters.sobel(t, normalized=normalized, eps=0.0), x)
