"""Operators: pure tensor functions that bend a latent or an activation.

Each operator is registered by name together with its family, the shape of its
audio-driven parameter ``r``, the range that audio features are mapped onto by default
(the paper's ranges where it states one), the value of ``r`` that leaves the input
unchanged, and a one-line description. The command line listing, the audio mapping and
the documentation all read this one table.

>>> from netbend import operators
>>> op = operators.get("rotate_r1")
>>> y = op(torch.randn(4, 64, 64), 1.2)          # (4, 64, 64)
>>> y = op(torch.randn(8, 4, 64, 64), torch.rand(8))  # one angle per sample

Registered functions receive ``x`` of shape ``(B, C, H, W)`` and ``r`` of shape
``(B, *param_shape)`` as float32 on ``x``'s device; they return a tensor of ``x``'s shape
and dtype. Fixed options are keyword-only arguments of the function.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .errors import NetbendError

FAMILIES = ("point-wise", "tensor", "morphological", "normalisation")


@dataclass(frozen=True)
class OperatorSpec:
    """One registry entry."""

    name: str
    family: str
    fn: Callable[..., torch.Tensor]
    param_shape: tuple[int, ...]  # () for a scalar r
    default_range: tuple[float, float]  # where audio features are mapped by default
    identity: float  # the r that leaves x unchanged; the value of an "off" bend
    description: str

    @property
    def options(self) -> dict[str, Any]:
        """Keyword-only options of the operator and their defaults."""
        params = inspect.signature(self.fn).parameters.values()
        return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


_REGISTRY: dict[str, OperatorSpec] = {}


def register(
    name: str,
    fn: Callable[..., torch.Tensor],
    *,
    family: str,
    default_range: tuple[float, float],
    identity: float,
    description: str,
    param_shape: tuple[int, ...] = (),
) -> OperatorSpec:
    """Add ``fn`` to the registry under ``name`` and return its entry."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if name in _REGISTRY:
        raise ValueError(f"operator {name!r} is already registered")
    spec = OperatorSpec(name, family, fn, param_shape, default_range, identity, description)
    _REGISTRY[name] = spec
    return spec


def names() -> list[str]:
    """Registered operator names, in registration order."""
    return list(_REGISTRY)


def spec(name: str) -> OperatorSpec:
    """The registry entry for ``name``; a `NetbendError` listing the known names if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NetbendError(f"unknown operator {name!r}; known operators: {', '.join(names())}") from None


class Operator:
    """An operator with its fixed options bound: ``op(x, r) -> Tensor``."""

    def __init__(self, spec: OperatorSpec, options: dict[str, Any]):
        unknown = set(options) - set(spec.options)
        if unknown:
            known = ", ".join(spec.options) or "none"
            raise NetbendError(
                f"operator {spec.name!r} has no option {', '.join(sorted(unknown))}; its options: {known}"
            )
        self.spec = spec
        self.options = options

    def __repr__(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.options.items())
        return f"Operator({self.spec.name}{':' + opts if opts else ''})"

    def __call__(self, x: torch.Tensor, r: float | torch.Tensor | None = None) -> torch.Tensor:
        """Apply the operator.

        Parameters
        ----------
        x : torch.Tensor [shape=(C, H, W) or (B, C, H, W)]
        r : float or torch.Tensor [shape=param_shape or (B, *param_shape)]
            The audio-driven parameter; ``None`` means the identity value.

        Returns
        -------
        torch.Tensor of the shape, dtype and device of ``x``.
        """
        if x.ndim not in (3, 4):
            raise NetbendError(f"operator {self.spec.name!r} needs x of shape (C, H, W) or (B, C, H, W), got {tuple(x.shape)}")
        batched = x if x.ndim == 4 else x[None]
        y = self.spec.fn(batched, self._param(r, batched), **self.options)
        return y if x.ndim == 4 else y[0]

    def _param(self, r: float | torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        shape = self.spec.param_shape
        if r is None:
            r = self.spec.identity
        r = torch.as_tensor(r, dtype=torch.float32, device=x.device)
        if tuple(r.shape) == shape:
            r = r.expand(x.shape[0], *shape)
        if tuple(r.shape) != (x.shape[0], *shape):
            raise NetbendError(
                f"operator {self.spec.name!r} needs r of shape {shape} or {(x.shape[0], *shape)}, got {tuple(r.shape)}"
            )
        return r


def get(name: str, **options: Any) -> Operator:
    """The operator ``name`` with its fixed ``options`` bound."""
    return Operator(spec(name), options)


# --- point-wise -------------------------------------------------------------------------


def _per_sample(r: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) parameter -> (B, 1, 1, 1) in x's dtype, to broadcast over (B, C, H, W)."""
    return r.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))


def add(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return x + _per_sample(r, x)


def multiply(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return x * _per_sample(r, x)


register("add", add, family="point-wise", default_range=(0.0, 5.0), identity=0.0,
         description="add r to every element")
register("multiply", multiply, family="point-wise", default_range=(0.0, 10.0), identity=1.0,
         description="multiply every element by r")


# --- tensor: a matrix on the channel axis ----------------------------------------------


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

    x : (B, C, H, W); m : (B, C, C)
    """
    if m.shape[-1] != x.shape[1]:
        raise NetbendError(f"a {m.shape[-1]}x{m.shape[-1]} channel matrix cannot act on {x.shape[1]} channels")
    return torch.einsum("bck,bkhw->bchw", m.to(x.dtype), x)


def _rotation(plane: tuple[int, int], sign: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    i, j = plane

    def rotate(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        if x.shape[1] <= max(i, j):
            raise NetbendError(f"a rotation in the plane of channels {plane} needs at least {max(i, j) + 1} channels, got {x.shape[1]}")
        return apply_channel_matrix(x, plane_rotation(sign * r, i, j, x.shape[1]))

    return rotate


# The paper's R1..R4. It writes R2 and R3 with +sin above the diagonal and R1, R4 with
# -sin, i.e. R2 and R3 turn the other way; a rotation by 2*pi is the identity in all four.
_PAPER_ROTATIONS = {"rotate_r1": ((1, 2), 1.0), "rotate_r2": ((0, 2), -1.0),
                    "rotate_r3": ((0, 3), -1.0), "rotate_r4": ((0, 1), 1.0)}
for _name, (_plane, _sign) in _PAPER_ROTATIONS.items():
    register(_name, _rotation(_plane, _sign), family="tensor", default_range=(0.0, 2 * math.pi), identity=0.0,
             description=f"rotate the channel vector by r radians in the plane of channels {_plane} (paper's {_name[-2:].upper()})")
