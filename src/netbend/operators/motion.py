"""Motion operators: move the picture like a camera (zoom, pan, spin), one value of r per sample.

Coordinates are those of the tensor being bent: element ``x[..., i, j]`` sits at the point
(j, i), x to the right and y DOWN (row 0 is the top of the picture), and the centre is
c = ((W - 1) / 2, (H - 1) / 2). A pixel is a pixel of that tensor: of the latent at the
latent, of the activation map at a network site (8 pixels is an eighth of a 64-wide latent
but half of a 16-wide map).

Each operator computes, for every output pixel p, the point of the input it shows, and
samples the input there bilinearly. The option ``mode`` says what lies beyond the edges:

- ``wrap``: the picture repeats (a torus): what a pan pushes out of one edge comes in at the other;
- ``reflect``: mirrored about the edge pixels' centres (``d c b | a b c d | c b a``);
- ``border``: the edge pixel repeats;
- ``zeros``: zeros.

Exactness: sampling runs in float64 and is cast back to ``x``'s dtype, and a source
coordinate within 1e-6 of a whole number is taken as that number, so its bilinear weights
are exactly 1 and 0. A pan by whole pixels with ``wrap`` is ``torch.roll``, ``spin`` by 90
degrees is ``torch.rot90`` and by 360 the identity, bit for bit; samples whose r is the
identity value are returned unchanged. The interpolation is written out here (four
gathers) rather than taken from kornia's ``remap`` / ``grid_sample``: those map pixel
coordinates onto [-1, 1] and back, which moves a whole-number coordinate by about 1e-16,
so a 0 next to a 1 comes out as 1e-16 instead of 0.
"""

from __future__ import annotations

import torch

from ..errors import NetbendError
from .registry import Batch, Param, register

MODES = ("wrap", "reflect", "border", "zeros")
SNAP = 1e-6  # a source coordinate this close to a whole number is that number (weights exactly 1 and 0)


def _check_mode(name: str, mode: str) -> None:
    if mode not in MODES:
        raise NetbendError(f"operator {name!r}: mode must be one of {', '.join(MODES)}, got {mode!r}")


def _fold(s: torch.Tensor, n: int, mode: str) -> torch.Tensor:
    """Source coordinates along an axis of n pixels -> the point inside the picture the mode
    reads there: [0, n) for wrap, [0, n - 1] for reflect; for border and zeros everything
    more than one pixel out reads the same, so coordinates are clamped to [-1, n]."""
    if mode == "wrap":
        return torch.remainder(s, n)
    if mode == "reflect" and n > 1:
        s = torch.remainder(s, 2 * n - 2)
        return torch.where(s > n - 1, 2 * n - 2 - s, s)
    return s.clamp(-1, n)  # a single pixel reflects to itself, like border


def _sample(x: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, mode: str) -> torch.Tensor:
    """Bilinear samples of ``x`` at the points (sx, sy).

    Parameters
    ----------
    x : torch.Tensor [shape=(B, C, H, W)], float64
    sx, sy : torch.Tensor [shape=(B, H, W)], float64  source column and row of each output pixel
    mode : one of `MODES`

    Returns
    -------
    torch.Tensor [shape=(B, C, H, W)], float64
    """
    b, c, h, w = x.shape
    sx = _fold(torch.where((sx - sx.round()).abs() < SNAP, sx.round(), sx), w, mode)
    sy = _fold(torch.where((sy - sy.round()).abs() < SNAP, sy.round(), sy), h, mode)
    x0, y0 = sx.floor(), sy.floor()
    tx, ty = (sx - x0).unsqueeze(1), (sy - y0).unsqueeze(1)  # (B, 1, H, W) weights of the right / lower neighbour
    x0, y0 = x0.long(), y0.long()
    flat = x.reshape(b, c, h * w)

    def at(ix: torch.Tensor, iy: torch.Tensor) -> torch.Tensor:  # x at whole pixels (B, H, W) -> (B, C, H, W)
        # wrap: the right neighbour of column W - 1 is column 0; otherwise an index past the
        # edge only occurs with weight 0 (reflect) or outside the picture (border, zeros)
        jx = ix % w if mode == "wrap" else ix.clamp(0, w - 1)
        jy = iy % h if mode == "wrap" else iy.clamp(0, h - 1)
        v = flat.gather(2, (jy * w + jx).view(b, 1, h * w).expand(b, c, -1)).view(b, c, h, w)
        if mode == "zeros":
            inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
            v = torch.where(inside.unsqueeze(1), v, torch.zeros((), dtype=v.dtype, device=v.device))
        return v

    top = at(x0, y0) * (1 - tx) + at(x0 + 1, y0) * tx
    bottom = at(x0, y0 + 1) * (1 - tx) + at(x0 + 1, y0 + 1) * tx
    return top * (1 - ty) + bottom * ty


def _warp(x: Batch, mode: str, *, zoom: torch.Tensor, degrees: torch.Tensor, tx: torch.Tensor,
          ty: torch.Tensor) -> Batch:
    """Zoom by ``zoom`` and spin by ``degrees`` about the centre, then pan by (tx, ty) pixels.

    Output pixel p shows the input at ``c + R(-degrees) (p - t - c) / zoom``, R the rotation
    counter-clockwise as seen (y down). Parameters: (B,) float64 tensors. Returns x's dtype.
    """
    b, _, h, w = x.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    f64 = {"dtype": _exact(x), "device": x.device}
    py, px = torch.meshgrid(torch.arange(h, **f64), torch.arange(w, **f64), indexing="ij")  # (H, W)
    dx = px - cx - tx.view(b, 1, 1)  # (B, H, W): offset from the centre, the pan undone
    dy = py - cy - ty.view(b, 1, 1)
    theta = torch.deg2rad(degrees)
    cos, sin = (torch.cos(theta) / zoom).view(b, 1, 1), (torch.sin(theta) / zoom).view(b, 1, 1)
    # The picture turns by +theta counter-clockwise as seen, i.e. by -theta in (x right, y down)
    # coordinates; the source point undoes it: turn the offset by +theta in those coordinates.
    sx = cx + cos * dx - sin * dy
    sy = cy + sin * dx + cos * dy
    return _sample(x.to(_exact(x)), sx, sy, mode).to(x.dtype)


def _exact(x: torch.Tensor) -> torch.dtype:
    """float64 for the sampling, except on Apple's MPS, which has none (float32 there: whole-pixel
    pans and quarter turns may then differ from roll and rot90 by a rounding)."""
    return torch.float32 if x.device.type == "mps" else torch.float64


def _moved(name: str, x: Batch, r: Param, mode: str, neutral: float, **params: torch.Tensor | float) -> Batch:
    """`_warp` with ``params`` (zoom, degrees, tx, ty: a (B,) tensor or a number, the
    neutral value where left out); samples whose r is ``neutral`` keep x unchanged."""
    _check_mode(name, mode)
    full = {"zoom": 1.0, "degrees": 0.0, "tx": 0.0, "ty": 0.0, **params}
    args = {k: torch.as_tensor(v, dtype=_exact(x), device=x.device).expand(x.shape[0]) for k, v in full.items()}
    y = _warp(x, mode, **args)
    return torch.where((r == neutral).view(-1, 1, 1, 1), x, y)


def _positive_zoom(r: torch.Tensor) -> None:
    bad = r[~(r > 0)]
    if bad.numel():
        raise NetbendError(f"operator 'zoom' needs a scale r > 0, got r = {bad.flatten()[0].item():g}; "
                           "map the feature onto a range such as --range 1:1.5")


@register("zoom", family="motion", default_range=(1.0, 1.5), identity=1.0, validate=_positive_zoom, accumulate="multiply",
          description="scale the picture about its centre by r (r > 1 magnifies, r < 1 shrinks)")
def zoom(x: Batch, r: Param, *, mode: str = "reflect") -> Batch:
    """Output pixel p shows the input at ``c + (p - c) / r``: r = 2 shows the middle half of
    the picture at twice the size; r is a factor (no unit), r > 0."""
    return _moved("zoom", x, r, mode, 1.0, zoom=r.to(_exact(x)))


@register("pan_x", family="motion", default_range=(0.0, 8.0), identity=0.0,
          description="shift the picture r pixels to the right (wraps round by default)")
def pan_x(x: Batch, r: Param, *, mode: str = "wrap") -> Batch:
    """``y[..., j] = x[..., j - r]``: r in pixels of x, may be fractional or negative (left)."""
    return _moved("pan_x", x, r, mode, 0.0, tx=r.to(_exact(x)))


@register("pan_y", family="motion", default_range=(0.0, 8.0), identity=0.0,
          description="shift the picture r pixels down (wraps round by default)")
def pan_y(x: Batch, r: Param, *, mode: str = "wrap") -> Batch:
    """``y[..., i, :] = x[..., i - r, :]``: r in pixels of x, may be fractional or negative (up)."""
    return _moved("pan_y", x, r, mode, 0.0, ty=r.to(_exact(x)))


@register("spin", family="motion", default_range=(0.0, 360.0), identity=0.0,
          description="rotate the picture by r degrees counter-clockwise about its centre (row 0 at the top)")
def spin(x: Batch, r: Param, *, mode: str = "reflect") -> Batch:
    """r in DEGREES, counter-clockwise as the picture is seen with row 0 at the top (negative:
    clockwise); at r = 90 a square x gives ``torch.rot90(x, 1, dims=(-2, -1))``."""
    return _moved("spin", x, r, mode, 0.0, degrees=r.to(_exact(x)))


@register("affine", family="motion", default_range=(0.0, 1.0), identity=0.0,
          description="zoom, spin and pan at once, by the amount r in [0, 1] of the options zoom, spin, pan_x, pan_y")
def affine(x: Batch, r: Param, *, zoom: float = 1.0, pan_x: float = 0.0, pan_y: float = 0.0, spin: float = 0.0,
           mode: str = "reflect") -> Batch:
    """At amount r the picture is zoomed by ``zoom ** r`` and spun by ``spin * r`` degrees
    about its centre, then panned by ``(pan_x * r, pan_y * r)`` pixels: the composition
    ``pan_y(pan_x(spin(zoom(x))))`` of the single operators, sampled once. r has no unit; 1 is
    the full motion of the options, values beyond [0, 1] extrapolate it."""
    if not zoom > 0:
        raise NetbendError(f"operator 'affine': zoom must be positive, got {zoom}")
    a = r.to(_exact(x))
    return _moved("affine", x, r, mode, 0.0, zoom=torch.pow(zoom, a), degrees=spin * a, tx=pan_x * a, ty=pan_y * a)
