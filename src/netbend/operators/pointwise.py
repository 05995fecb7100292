"""Point-wise operators: each output element depends on its input element (and r) alone.

All of them work for any channel count. Every point-wise operator also takes the
options ``region`` (``"channel:I"``, ``"row:I"``, ``"column:I"``, or ``AXIS:START:STOP``)
and ``fraction`` (a random fraction of the elements), which restrict it to part of the
tensor (see `restrict`).

Non-finite results: where an operator would turn finite input into NaN or ±Inf
(``power`` of a negative number to a fractional r or of 0 to a negative r, ``inversion``
with a tiny r in float16), NaN becomes 0 and ±Inf the dtype's largest finite value of that
sign (`finite`). ``log`` takes |x| no smaller than the smallest normal float32, so log 0 is
a large finite number (about -87 / ln r), not an infinity.

Restrictions select where an operator's output is kept; an operator whose output depends
on the whole tensor (``rescale``) still computes it over the whole tensor.
"""

from __future__ import annotations

import math

import torch

from ..errors import NetbendError
from .registry import Batch, Param, rand, randn, register

AXES = {"channel": 1, "row": 2, "column": 3}  # axis of (B, C, H, W)


def _b(r: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) parameter -> (B, 1, 1, 1) in x's dtype, to broadcast over (B, C, H, W)."""
    return r.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))


def _b32(r: torch.Tensor) -> torch.Tensor:
    """(B,) parameter -> (B, 1, 1, 1) float32, for operators computed in float32 whatever x's dtype."""
    return r.float().view(-1, 1, 1, 1)


def finite(y: torch.Tensor) -> torch.Tensor:
    """NaN -> 0, +-Inf -> the dtype's largest finite value of that sign; y of any shape."""
    big = torch.finfo(y.dtype).max
    return torch.nan_to_num(y, nan=0.0, posinf=big, neginf=-big)


def _fraction(name: str, fraction: float) -> float:
    if not 0.0 <= fraction <= 1.0:
        raise NetbendError(f"operator {name!r}: fraction must be in [0, 1], got {fraction}")
    return fraction


def parse_region(name: str, region: str) -> tuple[str, int, int]:
    """``"row:32"`` -> ("row", 32, 33); ``"column:10:20"`` -> ("column", 10, 20)."""
    parts = str(region).split(":")
    if parts[0] not in AXES or len(parts) not in (2, 3):
        raise NetbendError(
            f"operator {name!r}: region must be AXIS:INDEX or AXIS:START:STOP with AXIS one of "
            f"{', '.join(AXES)}, got {region!r}"
        )
    try:
        start = int(parts[1])
        stop = int(parts[2]) if len(parts) == 3 else start + 1
    except ValueError:
        raise NetbendError(f"operator {name!r}: region indices must be integers, got {region!r}") from None
    return parts[0], start, stop


def slice_mask(name: str, x: torch.Tensor, axis: str, start: int, stop: int) -> torch.Tensor:
    """Boolean mask (1, C, H, W)-broadcastable, True on indices ``start:stop`` of ``axis``."""
    if axis not in AXES:
        raise NetbendError(f"operator {name!r}: axis must be one of {', '.join(AXES)}, got {axis!r}")
    dim = AXES[axis]
    size = x.shape[dim]
    if not (0 <= start < stop <= size):
        raise NetbendError(f"operator {name!r}: {axis} index {start}:{stop} is outside 0:{size}")
    shape = [1, 1, 1, 1]
    shape[dim] = size
    idx = torch.arange(size, device=x.device)
    return ((idx >= start) & (idx < stop)).view(shape)


def check_restriction(name: str, region: str | None, fraction: float | None) -> None:
    if region is not None:
        parse_region(name, region)
    if fraction is not None:
        _fraction(name, fraction)


def restrict(name: str, x: torch.Tensor, y: torch.Tensor, *, region: str | None, fraction: float | None,
             generator: list[torch.Generator] | None) -> torch.Tensor:
    """Keep ``y`` (operator ``name``'s output) only inside ``region`` and/or a random
    ``fraction`` of the elements; elsewhere keep ``x``. x, y: (B, C, H, W)."""
    mask = torch.ones((1, 1, 1, 1), dtype=torch.bool, device=x.device)
    if region is not None:
        mask = mask & slice_mask(name, x, *parse_region(name, region))
    if fraction is not None:
        mask = mask & (rand(x.shape[1:], x, generator) < fraction)
    return torch.where(mask, y, x)


@register("add", family="point-wise", default_range=(0.0, 5.0), identity=0.0, description="add r to every element")
def add(x: Batch, r: Param) -> Batch:
    return x + _b(r, x)


@register("subtract", family="point-wise", default_range=(0.0, 5.0), identity=0.0, description="subtract r from every element")
def subtract(x: Batch, r: Param) -> Batch:
    return x - _b(r, x)


@register("multiply", family="point-wise", default_range=(0.0, 10.0), identity=1.0, description="multiply every element by r")
def multiply(x: Batch, r: Param) -> Batch:
    return x * _b(r, x)


@register("add_sparse", family="point-wise", default_range=(0.0, 5.0), identity=0.0,
          description="add r to a random fraction of the elements (fresh mask each call)")
def add_sparse(x: Batch, r: Param, *, fraction: float = 0.05,
               generator: list[torch.Generator] | None = None) -> Batch:
    mask = rand(x.shape[1:], x, generator) < _fraction("add_sparse", fraction)
    return torch.where(mask, x + _b(r, x), x)


@register("add_noise", family="point-wise", default_range=(0.0, 3.0), identity=0.0,
          description="add r times standard normal noise")
def add_noise(x: Batch, r: Param, *, generator: list[torch.Generator] | None = None) -> Batch:
    return x + _b(r, x) * randn(x.shape[1:], x, generator).to(x.dtype)


@register("threshold", family="point-wise", default_range=(0.0, 4.0), identity=0.0,
          description="keep elements with |x| >= r, set the rest to 0")
def threshold(x: Batch, r: Param) -> Batch:
    return torch.where(x.abs() >= _b(r, x), x, torch.zeros_like(x))


@register("binary_threshold", family="point-wise", default_range=(0.0, 4.0),
          description="1 where x >= r, else 0")
def binary_threshold(x: Batch, r: Param) -> Batch:
    return (x >= _b(r, x)).to(x.dtype)


@register("soft_threshold", family="point-wise", default_range=(0.0, 2.0), identity=0.0,
          description="shrink towards 0: sign(x) * max(|x| - r, 0)")
def soft_threshold(x: Batch, r: Param) -> Batch:
    return torch.sign(x) * torch.clamp(x.abs() - _b(r, x), min=0)


def _nonzero(r: torch.Tensor) -> None:
    if (r == 0).any():
        raise NetbendError("operator 'inversion' is undefined at r = 0 (it computes 1/r - x); "
                           "map the feature onto a range without 0, e.g. --range 0.1:5")


@register("inversion", family="point-wise", default_range=(0.2, 5.0), paper_range=(0.0, 5.0), validate=_nonzero,
          description="1/r - x (undefined at r = 0)")
def inversion(x: Batch, r: Param) -> Batch:
    return finite((1.0 / _b32(r) - x.float()).to(x.dtype))


@register("negate", family="point-wise", param_shape=None, description="-x")
def negate(x: Batch) -> Batch:
    return -x


@register("absolute", family="point-wise", param_shape=None, description="|x|")
def absolute(x: Batch) -> Batch:
    return x.abs()


def _log_base(r: torch.Tensor) -> None:
    bad = r[(r <= 0) | (r == 1)]
    if bad.numel():
        raise NetbendError(f"operator 'log' needs a base r > 0 and r != 1, got r = {bad.flatten()[0].item():g}; "
                           "map the feature onto a range such as --range 1.5:10")


@register("log", family="point-wise", default_range=(1.5, 10.0), paper_range=(0.0, 10.0), validate=_log_base,
          description="logarithm base r of |x| (r > 0, r != 1; |x| below the smallest normal float counts as it)")
def log(x: Batch, r: Param) -> Batch:
    tiny = torch.finfo(torch.float32).tiny
    return finite((torch.log(x.float().abs().clamp(min=tiny)) / torch.log(_b32(r))).to(x.dtype))


@register("power", family="point-wise", default_range=(0.0, 3.0), identity=1.0,
          description="x to the power r (NaN from negative x and fractional r -> 0)")
def power(x: Batch, r: Param) -> Batch:
    return finite(torch.pow(x.float(), _b32(r)).to(x.dtype))


@register("clamp", family="point-wise", param_shape=None, description="clamp to [lo, hi]")
def clamp(x: Batch, *, lo: float = -1.0, hi: float = 1.0) -> Batch:
    if lo > hi:
        raise NetbendError(f"operator 'clamp' needs lo <= hi, got lo={lo}, hi={hi}")
    return torch.clamp(x, lo, hi)


@register("rescale", family="point-wise", param_shape=None,
          description="min-max rescale each sample into [lo, hi] (a constant tensor goes to lo)")
def rescale(x: Batch, *, lo: float = -1.0, hi: float = 1.0) -> Batch:
    dims = tuple(range(1, x.ndim))
    xf = x.float()
    vmin, vmax = xf.amin(dim=dims, keepdim=True), xf.amax(dim=dims, keepdim=True)
    span = vmax - vmin
    unit = torch.where(span > 0, (xf - vmin) / torch.where(span > 0, span, 1), 0)
    return (lo + unit * (hi - lo)).to(x.dtype)


@register("add_gaussian", family="point-wise", default_range=(0.0, 5.0), identity=0.0,
          description="add r times a centred 2-D Gaussian density (sigma on a -5..5 grid, the paper's: peak "
                      "1/(2 pi sigma^2), 0.071 for sigma 1.5) to every channel")
def add_gaussian(x: Batch, r: Param, *, sigma: float = 1.5) -> Batch:
    if not sigma > 0:
        raise NetbendError(f"operator 'add_gaussian': sigma must be positive, got {sigma}")
    h, w = x.shape[-2:]
    step = 10.0 / max(max(h, w) - 1, 1)  # the longer side spans -5..5; both axes share the spacing
    v = ((torch.arange(h, device=x.device) - (h - 1) / 2) * step).view(-1, 1)
    u = ((torch.arange(w, device=x.device) - (w - 1) / 2) * step).view(1, -1)
    # (H, W): the normal density, as the paper's code (its peak 1 / (2 pi sigma^2), not 1)
    bump = torch.exp(-(u**2 + v**2) / (2 * sigma**2)) / (2 * math.pi * sigma**2)
    return x + _b(r, x) * bump.to(x.dtype)


@register("add_slice", family="point-wise", default_range=(0.0, 5.0), identity=0.0,
          description="add r to one channel, row or column (or an index range START:STOP)")
def add_slice(x: Batch, r: Param, *, axis: str = "row", index: str = "0") -> Batch:
    start, _, stop = str(index).partition(":")
    try:
        start, stop = int(start), int(stop) if stop else int(start) + 1
    except ValueError:
        raise NetbendError(f"operator 'add_slice': index must be I or START:STOP, got {index!r}") from None
    return torch.where(slice_mask("add_slice", x, axis, start, stop), x + _b(r, x), x)


def _random_lines(x, r, dim: int, fraction: float, generator, name: str):
    shape = [1] * (x.ndim - 1)  # per sample: (1, H, 1) for rows, (1, 1, W) for columns
    shape[dim - 1] = x.shape[dim]
    chosen = rand(shape, x, generator) < _fraction(name, fraction)  # (B, 1, H, 1) or (B, 1, 1, W)
    return torch.where(chosen, x + _b(r, x), x)


@register("add_random_rows", family="point-wise", default_range=(0.0, 5.0), identity=0.0,
          description="add r to a random fraction of the rows, across all channels")
def add_random_rows(x: Batch, r: Param, *, fraction: float = 0.05,
                    generator: list[torch.Generator] | None = None) -> Batch:
    return _random_lines(x, r, 2, fraction, generator, "add_random_rows")


@register("add_random_columns", family="point-wise", default_range=(0.0, 5.0), identity=0.0,
          description="add r to a random fraction of the columns, across all channels")
def add_random_columns(x: Batch, r: Param, *, fraction: float = 0.05,
                       generator: list[torch.Generator] | None = None) -> Batch:
    return _random_lines(x, r, 3, fraction, generator, "add_random_columns")
