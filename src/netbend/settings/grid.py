"""A figure grid: one operator across layers (columns) and parameter values (rows), as in the paper's figures."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import NetbendError
from ..parsing import format_number, parse_number, parse_value
from ..paths import check_not_input, check_output
from .bend import LATENT, Bend
from .declare import Names, check_fields, same_as, setting
from .generation import Generation
from .render import RenderJob

if TYPE_CHECKING:
    import torch

    from ..operators import Chain

DEFAULT_ROWS = 9  # values over the operator's default range when --values is not given (0..2pi in pi/4 for rotations)


@dataclass
class Row:
    """One row of the grid: the chain it applies and its parameter."""

    label: str  # what the figure writes at the row's left
    chain: Chain
    r: torch.Tensor | None  # of the chain's param_shape; None when nothing in the chain is driven
    value: Any  # r, or the option's value, as recorded in the sidecar


def _list_or_range(text: str, flag: str, usage: str, item: Callable, expand: Callable) -> list:
    """``A,B,C`` read item by item, or ``X:Y[:Z]`` given to ``expand`` as its parts; one error
    line naming ``flag`` and showing ``usage`` for anything else."""
    text = text.strip()
    try:
        out = expand(text.split(":")) if ":" in text else [item(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise NetbendError(f"{flag} must be {usage}, got {text!r}") from None
    if not out:
        raise NetbendError(f"{flag} is empty: give at least one value")
    return out


def parse_layers(text: str) -> list[int]:
    """``0,10,20`` or ``START:STOP:STEP`` (STOP included when the steps land on it: 0:50:5 = 0, 5, ..., 50)."""

    def expand(parts: list[str]) -> list[int]:
        if len(parts) not in (2, 3):
            raise ValueError
        start, stop, step = (*map(int, parts), 1)[:3]
        if step <= 0:
            raise NetbendError(f"--layers {text}: STEP must be positive")
        return list(range(start, stop + 1, step))

    layers = _list_or_range(text, "--layers", "a list such as 0,10,20 or a range START:STOP:STEP such as 0:50:5",
                            int, expand)
    return list(dict.fromkeys(layers))  # in the order given, each once


def parse_values(text: str) -> list[float]:
    """``0,pi/2,pi`` or ``START:STOP:COUNT``: COUNT values from START to STOP, both included (0:2pi:9 = 0, pi/4, ..., 2pi)."""

    def expand(parts: list[str]) -> list[float]:
        if len(parts) != 3:
            raise ValueError
        import numpy as np

        start, stop, count = parse_number(parts[0]), parse_number(parts[1]), int(parts[2])
        if count < 1:
            raise NetbendError(f"--values {text}: COUNT must be at least 1")
        return [float(v) for v in np.linspace(start, stop, count)] if math.isfinite(start + stop) else [start, stop]

    values = _list_or_range(text, "--values", "a list such as 0,pi/2,pi or START:STOP:COUNT such as 0:2pi:9",
                            parse_number, expand)
    if not all(math.isfinite(v) for v in values):
        raise NetbendError(f"--values must be finite numbers, got {text!r}")
    return values


def parse_option(text: str) -> tuple[str, list]:
    """``key=v1,v2,...`` (``key`` may name its operator: ``normalize_mean.axis=0,1,2``)."""
    key, eq, rest = text.partition("=")
    values = [parse_value(v) for v in rest.split(",") if v.strip()]
    if not eq or not key.strip():
        raise NetbendError(f"--option must look like KEY=V1,V2,... such as channel=0,1,2,3, got {text!r}")
    if not values:
        raise NetbendError(f"--option {key.strip()} has no values: give KEY=V1,V2,...")
    return key.strip(), values


def default_layers(steps: int) -> list[int]:
    """The paper's columns (0, 10, 20, 30, 40, 49 for 50 steps), for any number of steps."""
    return sorted({round(i * steps / 5) for i in range(5)} | {max(steps - 1, 0)})


def _label(value: Any) -> str:
    """A row's label: numbers in multiples of pi where they are (0.25π, π), others plainly."""
    return format_number(value) if isinstance(value, float) else str(value)


def _with_option(chain: Chain, key: str, value: Any) -> Chain:
    """``chain`` with the option ``key`` (``op.key`` or a key only one of its operators has) set to ``value``."""
    name, _, opt = key.rpartition(".")
    targets = [i for i, op in enumerate(chain.ops) if opt in op.spec.options and (not name or op.spec.name == name)]
    if not targets or len(targets) > 1 and not name:
        known = "; ".join(f"{op.spec.name}: {', '.join(op.spec.options) or 'none'}" for op in chain.ops)
        if not targets:
            raise NetbendError(f"--option {key}: no operator of {chain} has an option {opt!r} (options: {known})")
        raise NetbendError(f"--option {key}: several operators of {chain} have an option {opt!r}; "
                           f"name one, e.g. {chain.ops[targets[0]].spec.name}.{opt}")
    if len(targets) > 1:
        raise NetbendError(f"--option {key}: {name} appears more than once in {chain}")
    from ..operators.registry import Chain, get

    ops = list(chain.ops)
    op = ops[targets[0]]
    ops[targets[0]] = get(op.spec.name, **{**op.options, opt: value})
    return Chain(ops)


def grid_rows(s: GridJob) -> list[Row]:
    """The rows of ``s``: one per value of r, or one per value of the varied option."""
    import numpy as np

    from .. import operators

    chain = operators.parse(s.op)
    shape = chain.param_shape
    values = s.values
    if s.option is not None:
        key, option_values = s.option
        if key.rpartition(".")[2] == "r":
            raise NetbendError("--option r=...: the parameter r varies the rows with --values")
        chains = [_with_option(chain, key, v) for v in option_values]
        if shape is None and values is not None:
            raise NetbendError(f"operator {chain} takes no parameter, so --values has nothing to set")
        if shape is not None and (values is None or len(values) != 1):
            raise NetbendError(f"--values and --option both vary the rows: {chain} takes a parameter, so give --values "
                               "one value (the r of every row), or fix it in --op with r=")
        r = None if shape is None else _param(chain, values[0])
        return [Row(_label(v), c, r, v) for c, v in zip(chains, option_values)]
    if shape is None:
        if values is not None:
            raise NetbendError(f"operator {chain} takes no parameter, so --values has nothing to vary; "
                               "vary one of its options with --option KEY=V1,V2,...")
        return [Row("", chain, None, None)]
    if values is not None and not values:
        raise NetbendError("--values is empty: give at least one value")
    if values is None:
        if chain.default_range is None:
            raise NetbendError(f"operator {chain} has no default range: give --values")
        values = [float(v) for v in np.linspace(*chain.default_range, DEFAULT_ROWS)]
    return [Row(_label(float(v)), chain, _param(chain, v), v) for v in values]


def _param(chain: Chain, value: Any) -> torch.Tensor:
    """One grid value as the chain's parameter: a number, or the same number for each of a vector's entries."""
    import torch

    shape = chain.param_shape
    if value is None:
        raise NetbendError(f"operator {chain} needs a parameter: give it with --values V")
    if isinstance(value, (list, tuple)):
        return torch.as_tensor(value, dtype=torch.float32)
    if len(shape) > 1:
        raise NetbendError(f"operator {chain} takes a {'x'.join(map(str, shape))} parameter, which one number per row "
                           "cannot give; fix it in --op with r= and vary an --option, or sweep another operator")
    return torch.full(shape, float(value))


@dataclass(frozen=True)
class GridJob:
    """What a grid shows and how its cells are generated (the generation means what it means in a render)."""

    op: str = setting(flag="--op", metavar="CHAIN", help="operator(s), as in render, e.g. rotate_r1 or "
                                                         "'dilate:k=4 | normalize_mean'")
    output: str = setting(flag=("-o", "--output"), help="the grid image (.png); each cell also goes to "
                                                        "NAME/layer{L}_{row}.png and a record of the settings to NAME.json")
    layers: list[int] | None = setting(
        None, parse=parse_layers,
        help="columns: a list 0,10,20 or START:STOP:STEP with STOP included (0:50:5 = 0,5,...,50); each within "
             "0..STEPS for the latent, 0..STEPS-1 for a UNet site, none for a VAE site (default: 0, STEPS/5, ..., "
             "STEPS-1, the paper's 0,10,20,30,40,49 for 50 steps)")
    values: list[float] | None = setting(
        None, parse=parse_values,
        help="rows: values of r, a list 0,pi/2,pi or START:STOP:COUNT with both ends included (0:2pi:9 = 0, pi/4, "
             "..., 2pi); write --values=-1:1:5 or --values=-1,0,1 when the first is negative (default: the "
             f"operator's range in {DEFAULT_ROWS} values; with --option, one value: the r of every row)")
    option: tuple[str, list] | None = setting(
        None, parse=parse_option, metavar="KEY=V1,V2,...",
        help="rows vary this option of the chain instead, e.g. channel=0,1,2,3 for reflect or "
             "normalize_mean.axis=0,1,2")
    site: str = same_as(Bend, "site", help="where the bend acts, as in render; at a UNet site column L bends the "
                                           "module while step L runs, a VAE site has one column (decode)")
    channels: Any = same_as(Bend, "channels")
    generation: Generation = field(default_factory=Generation)
    batch: int = same_as(RenderJob, "batch", default=8, help="cells per UNet call; results equal batch 1's up to "
                                                              "float rounding")
    overwrite: bool = same_as(RenderJob, "overwrite", help="replace an existing grid and its cells")
    workers: int | None = same_as(RenderJob, "workers", help="make the columns on a local Ray cluster of N workers "
                                                              "(each computes its columns' shared trajectory)")
    ray: str | None = same_as(RenderJob, "ray")

    # generation settings that mean nothing for one image
    IGNORED = ("prompts", "cycle", "cycle_every", "cycle_from", "cycle_morph", "interpolation", "walk", "renoise")

    @property
    def folder(self) -> Path:
        """Where each cell is saved as ``layer{L}_{row}.png``."""
        out = Path(self.output)
        return out.with_name(out.stem)

    def columns(self) -> list[int]:
        """The layers of the columns, each checked against the site and the steps."""
        from ..generation.sites import kind

        steps, where = self.generation.steps, kind(self.site)
        if where == "vae":
            if self.layers is not None:
                raise NetbendError(f"--layers: site {self.site} is in the VAE decoder, which runs once after the last "
                                   "step; its grid has one column (decode): leave --layers out")
            return [steps]
        last = steps if where == LATENT else steps - 1
        layers = [k for k in default_layers(steps) if k <= last] if self.layers is None else list(self.layers)
        if not layers:
            raise NetbendError("--layers holds no layer")
        bad = [k for k in layers if not 0 <= k <= last]
        if bad:
            which = f"layer {bad[0]} is" if len(bad) == 1 else f"layers {', '.join(map(str, bad))} are"
            meaning = (f"layer k bends the latent entering step k of --steps {steps}; {steps} = the final latent"
                       if where == LATENT else f"at a UNet site, layer k bends the module while step k of "
                       f"--steps {steps} runs")
            raise NetbendError(f"--layers: {which} outside 0..{last} ({meaning})")
        return layers

    def check(self) -> None:
        """Everything about the grid that can be wrong, before a model loads."""
        from ..generation.channels import check_on_latent, parse_channels

        check_fields(self, Names())
        self.columns()
        chosen = parse_channels(self.channels)
        for row in grid_rows(self):
            if row.r is not None:
                row.chain.check_params(row.r[None])
            if self.site == LATENT:  # options that do not fit the latent fail now (network sites: once the model loads)
                check_on_latent(row.chain, chosen, self.generation.size, None if row.r is None else row.r[None])
        out = Path(self.output)
        if out.suffix.lower() != ".png":
            raise NetbendError(f"-o/--output is the grid image and must end in .png, got {out.name}")
        inputs = self.generation.inputs()
        check_output(out, overwrite=self.overwrite, inputs=inputs, flag="-o/--output")
        check_output(out.with_suffix(".json"), overwrite=self.overwrite, inputs=inputs, flag="the record of -o/--output")
        check_not_input(self.folder, inputs, "the cells folder of -o/--output")
        if self.folder.exists() and not self.folder.is_dir():
            raise NetbendError(f"cannot save the cells in {self.folder}: it is a file")
        if not self.overwrite and any(self.folder.glob("layer*_*.png")):
            raise NetbendError(f"{self.folder} holds cells of an earlier grid; pass --overwrite to replace them")
