"""Figure grids: one operator across layers (columns) and parameter values (rows), as in the paper's figures.

Every cell has the same prompt, seed and model; cell (layer L, value v) is the image that
`netbend render` makes for one frame with the operator at layer L and r = v. The cells
share the unbent trajectory up to their layer, so the grid computes that trajectory once,
keeps the latent (and the sampler's state) at each requested layer, and runs only the
remaining steps for each cell, a column's cells batched together:

    UNet evaluations = max(layers) + sum over layers L of rows * (steps - L)

instead of layers * rows * steps for one full generation per cell.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from . import __version__, models, operators
from .errors import NetbendError
from .models import DEFAULT_MODEL
from .noise import NoiseWalk
from .operators.registry import Chain, _value, get
from .parsing import parse_number
from .sampling import guided_denoiser, make_scheduler, sample

DEFAULT_ROWS = 9  # values over the operator's default range when --values is not given (0..2pi in pi/4 for rotations)


@dataclass
class GridSettings:
    """What a grid shows and how its cells are generated (the generation settings mean what they mean in `render`)."""

    op: str  # operator chain, e.g. "rotate_r1" or "dilate:k=4 | normalize_mean"
    output: str  # the grid PNG; cells go to a folder of the same name beside it
    layers: list[int] | None = None  # columns: denoising steps before which the latent is bent; None = paper-like spread
    values: list[float] | None = None  # rows: values of r; None = the operator's default range in DEFAULT_ROWS values
    option: tuple[str, list] | None = None  # or rows vary this option of the chain: ("channel", [0, 1, 2, 3])
    prompt: str = "a floating orb"
    negative_prompt: str = ""
    model: str = DEFAULT_MODEL
    steps: int = 50
    guidance: float = 7.5
    scheduler: str = "ddim"
    size: tuple[int, int] = (512, 512)
    seed: int = 42
    batch: int = 8  # cells per UNet call
    device: str = "auto"
    overwrite: bool = False

    @property
    def folder(self) -> Path:
        """Where each cell is saved as ``layer{L}_{row}.png``."""
        out = Path(self.output)
        return out.with_name(out.stem)


@dataclass
class Row:
    """One row of the grid: the chain it applies and its parameter."""

    label: str  # what the figure writes at the row's left
    chain: Chain
    r: torch.Tensor | None  # of the chain's param_shape; None when nothing in the chain is driven
    value: Any  # r, or the option's value, as recorded in the sidecar


@dataclass
class Grid:
    """The cells of a grid, uint8 (n_layers, n_rows, H, W, 3), and what they cost."""

    settings: GridSettings
    layers: list[int]
    rows: list[Row]
    cells: np.ndarray
    unet_evaluations: int  # latents passed through the UNet (each counts twice with guidance, once here)
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def naive_evaluations(self) -> int:
        """One full generation per cell."""
        return len(self.layers) * len(self.rows) * self.settings.steps


# -- specifications ------------------------------------------------------------------------------

def parse_layers(text: str) -> list[int]:
    """``0,10,20`` or ``START:STOP:STEP`` (STOP included when the steps land on it: 0:50:5 = 0, 5, ..., 50)."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop, step = parts if len(parts) == 3 else (*parts, 1)
            if step <= 0:
                raise NetbendError(f"--layers {text}: STEP must be positive")
            layers = list(range(start, stop + 1, step))
        else:
            layers = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise NetbendError(f"--layers must be a list such as 0,10,20 or a range START:STOP:STEP such as 0:50:5, "
                           f"got {text!r}") from None
    if not layers:
        raise NetbendError(f"--layers {text} holds no layer")
    return list(dict.fromkeys(layers))  # in the order given, each once


def parse_values(text: str) -> list[float]:
    """``0,pi/2,pi`` or ``START:STOP:COUNT``: COUNT values from START to STOP, both included (0:2pi:9 = 0, pi/4, ..., 2pi)."""
    text = text.strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop = parse_number(parts[0]), parse_number(parts[1])
            count = int(parts[2])
            if count < 1:
                raise NetbendError(f"--values {text}: COUNT must be at least 1")
            return [float(v) for v in np.linspace(start, stop, count)]
        values = [parse_number(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise NetbendError(f"--values must be a list such as 0,pi/2,pi or START:STOP:COUNT such as 0:2pi:9, "
                           f"got {text!r}") from None
    if not values:
        raise NetbendError("--values is empty: give at least one value")
    if not all(math.isfinite(v) for v in values):
        raise NetbendError(f"--values must be finite numbers, got {text!r}")
    return values


def parse_option(text: str) -> tuple[str, list]:
    """``key=v1,v2,...`` (``key`` may name its operator: ``normalize_mean.axis=0,1,2``)."""
    key, eq, rest = text.partition("=")
    values = [_value(v) for v in rest.split(",") if v.strip()]
    if not eq or not key.strip():
        raise NetbendError(f"--option must look like KEY=V1,V2,... such as channel=0,1,2,3, got {text!r}")
    if not values:
        raise NetbendError(f"--option {key.strip()} has no values: give KEY=V1,V2,...")
    return key.strip(), values


def default_layers(steps: int) -> list[int]:
    """The paper's columns (0, 10, 20, 30, 40, 49 for 50 steps), for any number of steps."""
    return sorted({round(i * steps / 5) for i in range(5)} | {max(steps - 1, 0)})


def _is_angle(chain: Chain) -> bool:
    rng = chain.default_range
    return rng is not None and math.isclose(rng[1], 2 * math.pi)


def _label(value: float, angle: bool) -> str:
    if not angle:
        return f"{value:g}"
    q = value / math.pi
    if abs(q) < 1e-12:
        return "0"
    return {"1": "π", "-1": "-π"}.get(f"{q:.3g}", f"{q:.3g}π")


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
    ops = list(chain.ops)
    op = ops[targets[0]]
    ops[targets[0]] = get(op.spec.name, **{**op.options, opt: value})
    return Chain(ops)


def grid_rows(s: GridSettings) -> list[Row]:
    """The rows of ``s``: one per value of r, or one per value of the varied option."""
    chain = operators.parse(s.op)
    shape = chain.param_shape
    values = s.values
    if s.option is not None:
        key, option_values = s.option
        if values is not None and len(values) > 1:
            raise NetbendError("--values and --option both vary the rows: give --values one value (the r of every "
                               "row), or leave it out")
        r = None if shape is None else _param(chain, values[0] if values else chain.identity)
        return [Row(f"{v}", _with_option(chain, key, v), r, v) for v in option_values]
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
    angle = _is_angle(chain)
    return [Row(_label(v, angle), chain, _param(chain, v), v) for v in values]


def _param(chain: Chain, value: Any) -> torch.Tensor:
    """One grid value as the chain's parameter: a number, or the same number for each of a vector's entries."""
    shape = chain.param_shape
    if value is None:
        raise NetbendError(f"operator {chain} needs a parameter: give it with --values V")
    if isinstance(value, (list, tuple)):
        return torch.as_tensor(value, dtype=torch.float32)
    if len(shape) > 1:
        raise NetbendError(f"operator {chain} takes a {'x'.join(map(str, shape))} parameter, which one number per row "
                           "cannot give; fix it in --op with r= and vary an --option, or sweep another operator")
    return torch.full(shape, float(value))


def check(s: GridSettings) -> tuple[list[int], list[Row]]:
    """Everything about ``s`` that can be wrong, before a model loads: the layers and rows it makes."""
    from .paths import check_output

    if s.steps < 1:
        raise NetbendError(f"--steps must be at least 1, got {s.steps}")
    if s.batch < 1:
        raise NetbendError(f"--batch must be at least 1, got {s.batch}")
    w, h = s.size
    if w < 8 or h < 8 or w % 8 or h % 8:
        raise NetbendError(f"--size must be multiples of 8 pixels, got {w}x{h}")
    layers = default_layers(s.steps) if s.layers is None else list(s.layers)
    if not layers:
        raise NetbendError("--layers holds no layer")
    bad = [k for k in layers if not 0 <= k <= s.steps]
    if bad:
        which = f"layer {bad[0]} is" if len(bad) == 1 else f"layers {', '.join(map(str, bad))} are"
        raise NetbendError(f"--layers: {which} outside 0..{s.steps} (layer k bends the latent entering step k of "
                           f"--steps {s.steps}; {s.steps} = the final latent)")
    rows = grid_rows(s)
    probe = torch.zeros(1, 4, h // 8, w // 8)
    for row in rows:
        if row.r is not None:
            row.chain.check_params(row.r[None])
        row.chain(probe, None if row.r is None else row.r[None])  # options that do not fit the latent fail now
    out = Path(s.output)
    if out.suffix.lower() != ".png":
        raise NetbendError(f"-o/--output is the grid image and must end in .png, got {out.name}")
    check_output(out, overwrite=s.overwrite)
    check_output(out.with_suffix(".json"), overwrite=s.overwrite)
    if s.folder.exists() and not s.folder.is_dir():
        raise NetbendError(f"cannot save the cells in {s.folder}: it is a file")
    if not s.overwrite and any(s.folder.glob("layer*_*.png")):
        raise NetbendError(f"{s.folder} holds cells of an earlier grid; pass --overwrite to replace them")
    return layers, rows


# -- generation ----------------------------------------------------------------------------------

class _RowBends:
    """Step callback bending cell i of the batch with row i's chain before step ``layer``."""

    def __init__(self, layer: int, rows: list[Row], generators: list[torch.Generator]):
        self.layer, self.rows, self.generators = layer, rows, generators

    def __call__(self, k: int, x: torch.Tensor) -> torch.Tensor:
        if k != self.layer:
            return x
        return torch.cat([row.chain(x[i:i + 1], None if row.r is None else row.r[None], generator=[g])
                          for i, (row, g) in enumerate(zip(self.rows, self.generators))])


def _copy_generators(states: list[torch.Tensor], n: int) -> list[torch.Generator]:
    out = []
    for _ in range(n):
        g = torch.Generator()
        g.set_state(states[0])
        out.append(g)
    return out


def generate(s: GridSettings, model: models.StableDiffusion, layers: list[int], rows: list[Row], *,
             progress: bool = True) -> Grid:
    """The cells of the grid, computed on the shared trajectory (see the module's docstring)."""
    from .render import frame_generators

    t0 = time.perf_counter()
    scheduler = make_scheduler(s.scheduler, model.scheduler_config, s.steps)
    scheduler.set_timesteps(s.steps, device=model.device)
    cond = model.encode_text([s.prompt])
    uncond = model.encode_text([s.negative_prompt]) if s.guidance > 1 else None
    # frame 0 of a render: its noise (walk angle 0) and its random streams (0: sampler, 1: the bend)
    x = NoiseWalk(model.latent_shape(*s.size), n_frames=1, seed=s.seed, walk=0.0)(torch.zeros(1))
    x = x.to(model.device, model.dtype) * scheduler.init_noise_sigma
    frame = torch.zeros(1, dtype=torch.long)
    sampler_gen = frame_generators(s.seed, frame, stream=0)
    bend_state = frame_generators(s.seed, frame, stream=1)[0].get_state()

    order = sorted(layers)
    total = order[-1] + sum(len(rows) * (s.steps - k) for k in layers)
    bar = tqdm(total=total, unit="eval", desc=Path(s.output).name, disable=not progress)
    count = [0]

    def denoiser(b: int) -> Callable:
        guided = guided_denoiser(model.unet, cond.expand(b, -1, -1),
                                 None if uncond is None else uncond.expand(b, -1, -1), s.guidance)

        def counted(x_in: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            count[0] += x_in.shape[0]
            bar.update(x_in.shape[0])
            return guided(x_in, t)

        return counted

    # the unbent trajectory, once: the latent, sampler state and random state entering each layer
    kept = {}
    k = 0
    for layer in order:
        x = sample(denoiser(1), scheduler, x, generator=sampler_gen, start=k, stop=layer)
        kept[layer] = (x, copy.deepcopy(scheduler), [g.get_state() for g in sampler_gen])
        k = layer
    cells = np.zeros((len(layers), len(rows), s.size[1], s.size[0], 3), np.uint8)
    with bar:
        for j, layer in enumerate(layers):
            x_k, sched_k, states = kept[layer]
            for a in range(0, len(rows), s.batch):
                chunk = rows[a:a + s.batch]
                b = len(chunk)
                bends = _RowBends(layer, chunk, _copy_generators([bend_state], b))
                latents = sample(denoiser(b), copy.deepcopy(sched_k), x_k.expand(b, -1, -1, -1).clone(),
                                 callback=bends, generator=_copy_generators(states, b), start=layer)
                cells[j, a:a + b] = model.decode(latents)
    return Grid(s, layers, rows, cells, count[0], time.perf_counter() - t0)


# -- output --------------------------------------------------------------------------------------

def _row_axis_label(s: GridSettings, chain: Chain) -> str:
    if s.option is not None:
        return s.option[0]
    return "" if chain.param_shape is None else "r"


def save(g: Grid) -> dict[str, Path]:
    """The grid PNG, each cell as ``NAME/layer{L}_{row}.png``, and a JSON record beside them."""
    from PIL import Image

    s = g.settings
    out = Path(s.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    s.folder.mkdir(parents=True, exist_ok=True)
    for old in s.folder.glob("layer*_*.png"):
        old.unlink()  # cells of an earlier grid (checked: --overwrite was given)
    for j, layer in enumerate(g.layers):
        for i in range(len(g.rows)):
            Image.fromarray(g.cells[j, i]).save(s.folder / f"layer{layer}_{i}.png")
    plot(g, out)
    record = {
        "netbend": __version__,
        "settings": dataclasses.asdict(s),
        "layers": g.layers,
        "rows": [{"label": row.label, "op": str(row.chain), "value": row.value,
                  "r": None if row.r is None else row.r.tolist()} for row in g.rows],
        "cells": f"{s.folder.name}/layer{{L}}_{{row}}.png",
        "unet_evaluations": g.unet_evaluations,
        "naive_unet_evaluations": g.naive_evaluations,
        "seconds": round(g.seconds, 3),
    }
    sidecar = out.with_suffix(".json")
    sidecar.write_text(json.dumps(record, indent=1, default=str))
    g.files = {"grid": out, "cells": s.folder, "sidecar": sidecar}
    return g.files


def plot(g: Grid, path: Path) -> Path:
    """The figure: a column per layer, a row per value, labelled like the paper's."""
    from matplotlib.figure import Figure

    s = g.settings
    n_cols, n_rows = len(g.layers), len(g.rows)
    cell = 1.7  # inches
    fig = Figure(figsize=(cell * n_cols + 1.0, cell * n_rows + 0.9), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for j, layer in enumerate(g.layers):
        for i, row in enumerate(g.rows):
            ax = axes[i, j]
            ax.imshow(g.cells[j, i], interpolation="nearest" if s.size[0] < 128 else "antialiased")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"layer {layer}", fontsize=10)
            if j == 0:
                ax.set_ylabel(row.label, rotation=0, ha="right", va="center", fontsize=10, labelpad=6)
    chain = g.rows[0].chain if s.option is None else operators.parse(s.op)
    axis = _row_axis_label(s, chain)
    if axis:
        fig.supylabel(axis, fontsize=10)
    model = Path(s.model).name if Path(s.model).exists() else s.model
    fig.suptitle(f"{chain}    \u201c{s.prompt}\u201d    seed {s.seed}    {model}\n"
                 f"{s.steps} {s.scheduler} steps, guidance {s.guidance:g}, {s.size[0]}x{s.size[1]}", fontsize=11)
    fig.savefig(path, dpi=150)
    return path


def render_grid(s: GridSettings, *, model: models.StableDiffusion | None = None, progress: bool = True) -> Grid:
    """Check ``s``, generate its cells and write the grid, the cells and the record."""
    layers, rows = check(s)
    if model is None:
        model = models.load(s.model, device=s.device)
    make_scheduler(s.scheduler, model.scheduler_config, s.steps)  # a bad sampler fails before any step
    g = generate(s, model, layers, rows, progress=progress)
    save(g)
    return g
