"""The operator registry, bound operators, and chains of operators.

Registered functions receive ``x`` of shape ``(B, C, H, W)`` and, if they take a
parameter, ``r`` of shape ``(B, *param_shape)`` as float32 on ``x``'s device; random
operators also receive ``generator``. They return a tensor of ``x``'s shape and dtype.
Fixed options are keyword-only arguments of the function.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Sequence

import torch

from ..errors import NetbendError
from ..parsing import parse_value

FAMILIES = ("point-wise", "tensor", "morphological", "motion", "normalisation")
ACCUMULATIONS = ("add", "multiply")  # how a driver's successive values compose (`OperatorSpec.accumulate`)
# What every registered operator function receives from `Operator.__call__`, by name:
Batch = torch.Tensor  # x and the result: (B, C, H, W)
Param = torch.Tensor  # r: (B, *param_shape) float32, e.g. (B,) for a scalar, (B, 6), (B, 4, 4)
Generators = torch.Generator | Sequence[torch.Generator] | None

# Point-wise operators accept these two options on top of their own (see `restrict`).
RESTRICT_OPTIONS = {"region": None, "fraction": None}


@dataclass(frozen=True)
class OperatorSpec:
    """One registry entry."""

    name: str
    family: str
    fn: Callable[..., torch.Tensor]
    param_shape: tuple[int, ...] | None  # () for a scalar r; None when the operator takes no parameter
    default_range: tuple[float, float] | None  # where audio features are mapped by default
    identity: Any  # the r that leaves x unchanged (a float, or nested lists for a matrix), if there is one
    description: str
    validate: Callable[[torch.Tensor], None] | None = None  # raises NetbendError for r outside the domain
    paper_range: tuple[float, float] | None = None  # the paper's range, where it differs from default_range
    channels: int | None = None  # the channel count the operator is defined for (4: the latent's); None: any
    # how successive values compose when a driver is integrated over time: "add" (a pan by 2 then by 3 is a pan
    # by 5), or "multiply" (a zoom by 2 then by 3 is a zoom by 6; its identity is 1)
    accumulate: str = "add"

    @cached_property
    def random(self) -> bool:
        """Whether the operator draws random numbers (it then takes a ``generator``)."""
        return "generator" in inspect.signature(self.fn).parameters

    @cached_property
    def own_options(self) -> dict[str, Any]:
        """The function's own keyword-only options and their defaults."""
        params = inspect.signature(self.fn).parameters.values()
        return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name != "generator"}

    @property
    def restrictions(self) -> tuple[str, ...]:
        """The restriction options (`RESTRICT_OPTIONS`) this operator takes: point-wise
        operators take those that are not already options of their own."""
        own = self.own_options
        return tuple(k for k in RESTRICT_OPTIONS if k not in own) if self.family == "point-wise" else ()

    @property
    def options(self) -> dict[str, Any]:
        """All options and their defaults."""
        return {**self.own_options, **{k: RESTRICT_OPTIONS[k] for k in self.restrictions}}

    @property
    def takes_param(self) -> bool:
        return self.param_shape is not None


_REGISTRY: dict[str, OperatorSpec] = {}


def register(
    name: str,
    *,
    family: str,
    description: str,
    param_shape: tuple[int, ...] | None = (),
    default_range: tuple[float, float] | None = None,
    identity: Any = None,
    validate: Callable[[torch.Tensor], None] | None = None,
    paper_range: tuple[float, float] | None = None,
    channels: int | None = None,
    accumulate: str = "add",
) -> Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]:
    """Decorator: add the function to the registry under ``name``."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if accumulate not in ACCUMULATIONS:
        raise ValueError(f"accumulate must be one of {ACCUMULATIONS}, got {accumulate!r}")

    def add(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        if name in _REGISTRY:
            raise ValueError(f"operator {name!r} is already registered")
        _REGISTRY[name] = OperatorSpec(name, family, fn, param_shape, default_range, identity, description, validate,
                                       paper_range, channels, accumulate)
        return fn

    return add


def names() -> list[str]:
    """Registered operator names, in registration order."""
    return list(_REGISTRY)


def spec(name: str) -> OperatorSpec:
    """The registry entry for ``name``; a `NetbendError` listing the known names if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NetbendError(f"unknown operator {name!r}; known operators: {', '.join(names())}") from None


def _as_generators(generator: Generators, batch: int) -> list[torch.Generator] | None:
    if generator is None or isinstance(generator, torch.Generator):
        return None if generator is None else [generator] * batch
    generator = list(generator)
    if len(generator) != batch:
        raise NetbendError(f"got {len(generator)} generators for a batch of {batch}")
    return generator


def rand(shape: Sequence[int], x: torch.Tensor, generator: list[torch.Generator] | None) -> torch.Tensor:
    """Uniform [0, 1) numbers of shape ``(B, *shape)`` on ``x``'s device, float32.

    Sample ``b`` draws from ``generator[b]``, on the generator's device, so a frame's
    draws depend on its own generator only, not on the batch it is rendered in.
    ``None`` draws from torch's global generator.
    """
    if generator is None:
        return torch.rand((x.shape[0], *shape), device=x.device)
    return torch.stack([torch.rand(tuple(shape), generator=g, device=g.device) for g in generator]).to(x.device)


def randn(shape: Sequence[int], x: torch.Tensor, generator: list[torch.Generator] | None) -> torch.Tensor:
    """Standard normal numbers, like `rand`."""
    if generator is None:
        return torch.randn((x.shape[0], *shape), device=x.device)
    return torch.stack([torch.randn(tuple(shape), generator=g, device=g.device) for g in generator]).to(x.device)


class Operator:
    """An operator with its fixed options bound: ``op(x, r, generator=None) -> Tensor``.

    ``r=`` may also be fixed as an option (``get("multiply", r=2)``), which makes the
    operator parameterless in a chain.
    """

    def __init__(self, spec: OperatorSpec, options: dict[str, Any]):
        options = dict(options)
        self.fixed_r = options.pop("r", None)
        if self.fixed_r is not None and not spec.takes_param:
            raise NetbendError(f"operator {spec.name!r} takes no parameter r")
        if self.fixed_r is not None and spec.param_shape == ():
            self.fixed_r = _checked_option(spec.name, "r", self.fixed_r, 0.0)
        unknown = set(options) - set(spec.options)
        if unknown:
            known = ", ".join(spec.options) or "none"
            raise NetbendError(f"operator {spec.name!r} has no option {', '.join(sorted(unknown))}; its options: {known}")
        defaults = spec.options
        options = {k: _checked_option(spec.name, k, v, defaults[k]) for k, v in options.items()}
        self.spec = spec
        self.own_options = {k: v for k, v in options.items() if k not in spec.restrictions}
        self.region = options.get("region") if "region" in spec.restrictions else None
        self.fraction = options.get("fraction") if "fraction" in spec.restrictions else None
        if self.region is not None or self.fraction is not None:
            from .pointwise import check_restriction

            check_restriction(spec.name, self.region, self.fraction)
        if self.fixed_r is not None:
            self.check_params(torch.as_tensor(self.fixed_r, dtype=torch.float32))

    @property
    def options(self) -> dict[str, Any]:
        opts = dict(self.own_options)
        for key in ("region", "fraction"):
            if getattr(self, key) is not None:
                opts[key] = getattr(self, key)
        if self.fixed_r is not None:
            opts["r"] = self.fixed_r
        return opts

    @property
    def driven(self) -> bool:
        """Whether this operator takes its parameter from the caller (an audio feature)."""
        return self.spec.takes_param and self.fixed_r is None

    def __repr__(self) -> str:
        return f"Operator({format_link(self)})"

    def __or__(self, other: Operator | Chain) -> Chain:
        return Chain([self]) | other

    def check_params(self, r: torch.Tensor) -> None:
        """Raise `NetbendError` if any parameter value in ``r`` (N, *param_shape) is outside the domain."""
        if self.spec.validate is not None:
            self.spec.validate(r)

    def __call__(self, x: torch.Tensor, r: float | torch.Tensor | None = None, *, generator: Generators = None,
                 checked: bool = False) -> torch.Tensor:
        """Apply the operator.

        Parameters
        ----------
        x : torch.Tensor [shape=(C, H, W) or (B, C, H, W)]
        r : float or torch.Tensor [shape=param_shape or (B, *param_shape)]
            The audio-driven parameter; ``None`` uses the fixed ``r=`` option or else the
            identity value. Ignored by operators that take no parameter.
        generator : torch.Generator, or one per sample; for random operators
        checked : r was checked against the operator's domain already (a render checks a
            whole song's values once, before the first frame), so it is not checked again

        Returns
        -------
        torch.Tensor of the shape, dtype and device of ``x``.
        """
        if x.ndim not in (3, 4):
            raise NetbendError(f"operator {self.spec.name!r} needs x of shape (C, H, W) or (B, C, H, W), got {tuple(x.shape)}")
        xb = x if x.ndim == 4 else x[None]
        gens = _as_generators(generator, xb.shape[0])
        kwargs = dict(self.own_options)
        if self.spec.random:
            kwargs["generator"] = gens
        args = (xb,)
        if self.spec.takes_param:
            rb = self._param(self.fixed_r if self.fixed_r is not None else r, xb)
            if not checked:
                self.check_params(rb)
            args = (xb, rb)
        y = self.spec.fn(*args, **kwargs)
        if self.region is not None or self.fraction is not None:
            from .pointwise import restrict

            y = restrict(self.spec.name, xb, y, region=self.region, fraction=self.fraction, generator=gens)
        return y if x.ndim == 4 else y[0]

    def _param(self, r: float | torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        shape = self.spec.param_shape
        if r is None:
            if self.spec.identity is None:
                raise NetbendError(f"operator {self.spec.name!r} needs a parameter r (it has no identity value)")
            r = self.spec.identity
        r = torch.as_tensor(r, dtype=torch.float32, device=x.device)
        if tuple(r.shape) == shape:
            r = r.expand(x.shape[0], *shape)
        if tuple(r.shape) != (x.shape[0], *shape):
            raise NetbendError(
                f"operator {self.spec.name!r} needs r of shape {shape} or {(x.shape[0], *shape)}, got {tuple(r.shape)}"
            )
        return r


def _checked_option(op: str, key: str, value: Any, default: Any) -> Any:
    """``value`` if it has the type of the option's default (ints for int options, finite
    numbers for float options); a `NetbendError` naming operator, option and value otherwise."""
    import math

    def bad(kind: str) -> NetbendError:
        return NetbendError(f"operator {op!r}: option {key} must be {kind}, got {value!r}")

    if default is None:  # region, fraction, axis=None: checked by the operator itself
        if isinstance(value, bool):
            raise bad("a number or a name")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a finite number")
        value = float(value)
    elif isinstance(default, str) and not isinstance(value, (str, int)):
        raise bad("a name")
    return value


class Chain:
    """Operators applied in order: ``(op1 | op2)(x, r) = op2(op1(x, r), r)``.

    The parameter ``r`` drives every operator in the chain that takes one and has no
    fixed ``r=`` option; those must agree on the parameter's shape, since one audio
    driver feeds them all.
    """

    def __init__(self, ops: Sequence[Operator]):
        if not ops:
            raise NetbendError("an operator chain needs at least one operator")
        self.ops = list(ops)
        shapes = {op.spec.param_shape for op in self.ops if op.driven}
        if len(shapes) > 1:
            raise NetbendError(
                f"chain {self} drives operators with parameters of different shapes {sorted(shapes)}; "
                "fix all but one with an r= option"
            )

    def __repr__(self) -> str:
        return " | ".join(format_link(op) for op in self.ops)

    def __or__(self, other: Operator | Chain) -> Chain:
        return Chain(self.ops + (other.ops if isinstance(other, Chain) else [other]))

    @property
    def driven(self) -> list[Operator]:
        """The operators that take ``r`` from the caller."""
        return [op for op in self.ops if op.driven]

    @property
    def param_shape(self) -> tuple[int, ...] | None:
        """Shape of the chain's parameter; None if nothing in it is driven."""
        return self.driven[0].spec.param_shape if self.driven else None

    @property
    def default_range(self) -> tuple[float, float] | None:
        """The first driven operator's default range."""
        return self.driven[0].spec.default_range if self.driven else None

    @property
    def identity(self) -> float | None:
        return self.driven[0].spec.identity if self.driven else None

    @property
    def accumulate(self) -> str:
        """How the first driven operator's parameter accumulates over time: add, or multiply."""
        return self.driven[0].spec.accumulate if self.driven else "add"

    @property
    def channels(self) -> int | None:
        """The channel count the chain needs (4 with a rotation or a 4x4 matrix in it); None: any."""
        return next((op.spec.channels for op in self.ops if op.spec.channels is not None), None)

    def check_params(self, r: torch.Tensor) -> None:
        """r (B, *param_shape) lies in every driven operator's domain; a `NetbendError` otherwise."""
        for op in self.driven:
            op.check_params(r)

    def __call__(self, x: torch.Tensor, r: float | torch.Tensor | None = None, *, generator: Generators = None,
                 checked: bool = False) -> torch.Tensor:
        batch = x.shape[0] if x.ndim == 4 else 1
        gens = _as_generators(generator, batch)
        for op in self.ops:
            x = op(x, r, generator=None if gens is None else (gens if x.ndim == 4 else gens[0]), checked=checked)
        return x


def format_link(op: Operator) -> str:
    opts = ",".join(f"{k}={v}" for k, v in op.options.items())
    return op.spec.name + (f":{opts}" if opts else "")


def get(name: str, **options: Any) -> Operator:
    """The operator ``name`` with its fixed ``options`` bound."""
    return Operator(spec(name), options)


def parse(text: str) -> Chain:
    """Parse a chain: ``name[:key=value,...] [| name[:key=value,...] ...]``.

    Examples: ``rotate_r1``, ``dilate:k=4 | normalize_mean:axis=0``,
    ``multiply:region=row:32`` (values may contain ``:``; options are split at ``,``).
    """
    links = []
    for part in text.split("|"):
        part = part.strip()
        if not part:
            raise NetbendError(f"empty operator in chain {text!r}")
        name, _, rest = part.partition(":")
        options = {}
        for item in filter(None, (s.strip() for s in rest.split(","))) if rest else []:
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise NetbendError(f"option {item!r} of operator {name.strip()!r} must look like key=value")
            if key in options:
                raise NetbendError(f"option {key} of operator {name.strip()!r} is given twice")
            options[key] = parse_value(value)
        links.append(get(name.strip(), **options))
    return Chain(links)
