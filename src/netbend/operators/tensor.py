"""Tensor operators: a matrix acting on the channel axis (or along a spatial axis).

``y[c] = sum_k M[c, k] * x[k]`` at every pixel, for a matrix M built from r.
"""

from __future__ import annotations

import functools
import math

import torch

from ..errors import NetbendError
from .registry import Batch, Param, register

SIX_PLANES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def plane_rotation(theta: torch.Tensor, i: int, j: int, n: int = 4) -> torch.Tensor:
    """Rotation matrices by ``theta`` in the plane of axes ``(i, j)`` of an n-D space.

    Parameters
    ----------
    theta : torch.Tensor [shape=(B,)]  angle in radians
    i, j : int  the plane; ``M[i, j] = -sin`` and ``M[j, i] = +sin``

    Returns
    -------
    torch.Tensor [shape=(B, n, n)]
    """
    c, s = torch.cos(theta), torch.sin(theta)
    m = torch.eye(n, dtype=theta.dtype, device=theta.device).repeat(theta.shape[0], 1, 1)
    m[:, i, i] = c
    m[:, j, j] = c
    m[:, i, j] = -s
    m[:, j, i] = s
    return m


def apply_channel_matrix(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``y[b, c] = sum_k m[b, c, k] * x[b, k]`` at every pixel.

    x : (B, C, H, W); m : (B, C, C) or (C, C)
    """
    if m.shape[-1] != x.shape[1]:
        raise NetbendError(f"a {m.shape[-1]}x{m.shape[-1]} channel matrix cannot act on {x.shape[1]} channels")
    m = m.expand(x.shape[0], -1, -1) if m.ndim == 2 else m
    return torch.einsum("bck,bkhw->bchw", m.to(x.dtype), x)


def _check_plane(name: str, x: torch.Tensor, i: int, j: int) -> None:
    if i == j or min(i, j) < 0:
        raise NetbendError(f"operator {name!r}: the plane needs two different channels, got ({i}, {j})")
    if x.shape[1] <= max(i, j):
        raise NetbendError(f"operator {name!r}: the plane ({i}, {j}) needs at least {max(i, j) + 1} channels, got {x.shape[1]}")


def _rotation(name: str, plane: tuple[int, int], sign: float):
    i, j = plane

    def rotate(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        _check_plane(name, x, i, j)
        return apply_channel_matrix(x, plane_rotation(sign * r, i, j, x.shape[1]))

    return rotate


# The paper's R1..R4. It writes R2 and R3 with +sin above the diagonal and R1, R4 with
# -sin, i.e. R2 and R3 turn the other way; a rotation by 2*pi is the identity in all four.
_PAPER_ROTATIONS = {"rotate_r1": ((1, 2), 1.0), "rotate_r2": ((0, 2), -1.0),
                    "rotate_r3": ((0, 3), -1.0), "rotate_r4": ((0, 1), 1.0)}
for _name, (_plane, _sign) in _PAPER_ROTATIONS.items():
    register(_name, family="tensor", default_range=(0.0, 2 * math.pi), identity=0.0, channels=4,
             description=f"rotate the channel vector by r radians in the plane of channels {_plane} "
                         f"(the paper's {_name[-2:].upper()})")(_rotation(_name, _plane, _sign))


@register("rotate_plane", family="tensor", default_range=(0.0, 2 * math.pi), identity=0.0,
          description="rotate the channel vector by r radians in the plane of channels (i, j)")
def rotate_plane(x: Batch, r: Param, *, i: int = 0, j: int = 1) -> Batch:
    _check_plane("rotate_plane", x, i, j)
    return apply_channel_matrix(x, plane_rotation(r, i, j, x.shape[1]))


@register("rotate_six", family="tensor", param_shape=(6,), default_range=(0.0, 2 * math.pi), identity=[0.0] * 6, channels=4,
          description="rotate in all six planes of the 4 channels, one angle each: R(0,1) R(0,2) R(0,3) R(1,2) R(1,3) R(2,3)")
def rotate_six(x: Batch, r: Param) -> Batch:
    if x.shape[1] != 4:
        raise NetbendError(f"operator 'rotate_six' acts on 4 channels, got {x.shape[1]}")
    m = torch.eye(4, device=r.device).expand(r.shape[0], 4, 4)
    for k, (i, j) in enumerate(SIX_PLANES):  # six planes, not elements: a product of six 4x4 matrices
        m = m @ plane_rotation(r[:, k], i, j)
    return apply_channel_matrix(x, m)


@register("reflect", family="tensor", param_shape=None,
          description="reflect across channel d: negate that channel (identity with -1 at d)")
def reflect(x: Batch, *, channel: int = 0) -> Batch:
    if not 0 <= channel < x.shape[1]:
        raise NetbendError(f"operator 'reflect': channel must be in [0, {x.shape[1]}), got {channel}")
    sign = torch.ones(x.shape[1], device=x.device, dtype=x.dtype)
    sign[channel] = -1
    return x * sign.view(1, -1, 1, 1)


@functools.lru_cache(maxsize=16)  # built once per size, not at every denoising step
def hadamard_matrix(n: int, *, normalized: bool, name: str = "hadamard") -> torch.Tensor:
    """Sylvester's n x n Hadamard matrix (n a power of 2), divided by sqrt(n) if ``normalized``."""
    if n < 1 or n & (n - 1):
        raise NetbendError(f"operator {name!r} needs a power-of-two size, got {n}")
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h / math.sqrt(n) if normalized else h


@register("hadamard", family="tensor", param_shape=None, channels=4,
          description="multiply the channel vector by the paper's Hadamard matrix, entries +-1 (normalized=true: "
                      "divided by 2, orthogonal)")
def hadamard(x: Batch, *, normalized: bool = False) -> Batch:
    return apply_channel_matrix(x, hadamard_matrix(x.shape[1], normalized=normalized).to(x.device))


@register("hadamard_spatial", family="tensor", param_shape=None,
          description="multiply each channel by the Hadamard matrix along its width or height")
def hadamard_spatial(x: Batch, *, axis: str = "width", normalized: bool = True) -> Batch:
    if axis not in ("width", "height"):
        raise NetbendError(f"operator 'hadamard_spatial': axis must be width or height, got {axis!r}")
    n = x.shape[-1] if axis == "width" else x.shape[-2]
    h = hadamard_matrix(n, normalized=normalized, name="hadamard_spatial").to(x.device, x.dtype)
    return x @ h if axis == "width" else h @ x


@register("matrix", family="tensor", param_shape=(4, 4), default_range=(-1.0, 1.0), identity=torch.eye(4).tolist(), channels=4,
          description="multiply the channel vector by any 4x4 matrix r (the paper's tensor contraction)")
def matrix(x: Batch, r: Param) -> Batch:
    return apply_channel_matrix(x, r)


@register("expm", family="tensor", param_shape=None,
          description="matrix exponential of each channel's H x W matrix (square latents only)")
def expm(x: Batch) -> Batch:
    h, w = x.shape[-2:]
    if h != w:
        raise NetbendError(f"operator 'expm' needs square channels (H = W), got {h}x{w}")
    from .pointwise import finite

    return finite(torch.linalg.matrix_exp(x.float().contiguous()).to(x.dtype))
