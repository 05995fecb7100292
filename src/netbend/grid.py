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

from . import __version__, models, operators, sites
from .bends import Bending, Bends, Clock, LatentBend, LayerBend
from .errors import NetbendError
from .models import DEFAULT_MODEL
from .noise import NoiseWalk
from .operators.registry import Chain, get
from .parsing import format_number, parse_number, parse_value
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
    site: str = "latent"  # or a UNet module (columns: the step during which it is bent) or a VAE-decoder one
    channels: Any = None  # the site's channels that are bent, as in render (`netbend.sites.parse_channels`)

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
    model: dict = field(default_factory=dict)  # what the model was, and the device and dtype it ran in
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def naive_evaluations(self) -> int:
        """One full generation per cell."""
        return len(self.layers) * len(self.rows) * self.settings.steps


# -- specifications ------------------------------------------------------------------------------

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

    from .scene import check_generation

    check_generation(s)
    where = sites.kind(s.site)
    chosen = sites.parse_channels(s.channels)
    if where == "vae":
        if s.layers is not None:
            raise NetbendError(f"--layers: site {s.site} is in the VAE decoder, which runs once after the last step; "
                               "its grid has one column (decode): leave --layers out")
        layers = [s.steps]
    else:
        last = s.steps if where == sites.LATENT else s.steps - 1
        layers = [k for k in default_layers(s.steps) if k <= last] if s.layers is None else list(s.layers)
        if not layers:
            raise NetbendError("--layers holds no layer")
        bad = [k for k in layers if not 0 <= k <= last]
        if bad:
            which = f"layer {bad[0]} is" if len(bad) == 1 else f"layers {', '.join(map(str, bad))} are"
            meaning = (f"layer k bends the latent entering step k of --steps {s.steps}; {s.steps} = the final latent"
                       if where == sites.LATENT else f"at a UNet site, layer k bends the module while step k of "
                       f"--steps {s.steps} runs")
            raise NetbendError(f"--layers: {which} outside 0..{last} ({meaning})")
    rows = grid_rows(s)
    for row in rows:
        if row.r is not None:
            row.chain.check_params(row.r[None])
        if where == sites.LATENT:  # options that do not fit the latent fail now (network sites: once the model loads)
            sites.check_on_latent(row.chain, chosen, s.size, None if row.r is None else row.r[None])
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

def _channels(s: GridSettings, model: models.StableDiffusion, rows: list[Row]) -> torch.Tensor | None:
    """The channels the grid bends at its site, each row's chain tried on them."""
    (shapes, (idx,)) = sites.pick_channels(model, [(s.site, sites.parse_channels(s.channels))], size=s.size,
                                           seed=s.seed, prompt=s.prompt)
    shape = shapes[s.site]
    for row in rows:
        sites.check_op(row.chain, shape[0] if idx is None else len(idx), s.site, shape,
                       None if row.r is None else row.r[None])
    return None if idx is None else torch.as_tensor(idx, dtype=torch.long)


def _clones(state: torch.Tensor, n: int) -> list[torch.Generator]:
    """``n`` CPU generators, each in ``state``."""
    out = []
    for _ in range(n):
        g = torch.Generator()
        g.set_state(state)
        out.append(g)
    return out


def generate(s: GridSettings, model: models.StableDiffusion, layers: list[int], rows: list[Row], *,
             progress: bool = True) -> Grid:
    """The cells of the grid, computed on the shared trajectory (see the module's docstring)."""
    from .render import frame_generators

    t0 = time.perf_counter()
    where = sites.kind(s.site)
    channels = _channels(s, model, rows)
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
    evaluations = 0
    cells = np.zeros((len(layers), len(rows), s.size[1], s.size[0], 3), np.uint8)
    total = order[-1] + sum(len(rows) * (s.steps - k) for k in layers)
    with tqdm(total=total, unit="eval", desc=Path(s.output).name, disable=not progress) as bar:

        def denoiser(b: int) -> Callable:
            guided = guided_denoiser(model.unet, cond.expand(b, -1, -1),
                                     None if uncond is None else uncond.expand(b, -1, -1), s.guidance)

            def counted(x_in: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                nonlocal evaluations
                evaluations += x_in.shape[0]
                bar.update(x_in.shape[0])
                return guided(x_in, t)

            return counted

        # the unbent trajectory, once: the latent, sampler state and random state entering each layer
        kept = {}
        k = 0
        for layer in order:
            x = sample(denoiser(1), scheduler, x, generator=sampler_gen, start=k, stop=layer)
            kept[layer] = (x, copy.deepcopy(scheduler), sampler_gen[0].get_state())
            k = layer
        # then each column's cells from there, a batch of rows at a time
        for j, layer in enumerate(layers):
            x_k, sched_k, state = kept[layer]
            steps = None if where == "vae" else range(layer, layer + 1)  # VAE modules act at decode time
            for a in range(0, len(rows), s.batch):
                chunk = rows[a:a + s.batch]
                b = len(chunk)
                r = None if chunk[0].r is None else torch.stack([row.r for row in chunk])
                bending = Bending([row.chain for row in chunk], r, b, _clones(bend_state, b), channels=channels)
                clock = Clock()
                on_latent = [LatentBend(bending, steps)] if where == sites.LATENT else []
                on_layers = [] if where == sites.LATENT else [LayerBend(bending, s.site, steps)]
                with sites.hooked(model, on_layers, clock):
                    latents = sample(denoiser(b), copy.deepcopy(sched_k), x_k.expand(b, -1, -1, -1).clone(),
                                     callback=Bends(on_latent, clock), generator=_clones(state, b), start=layer)
                    cells[j, a:a + b] = model.decode(latents)
    return Grid(s, layers, rows, cells, evaluations, time.perf_counter() - t0, model=model.describe())


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
        "model": g.model,
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
                ax.set_title("decode" if sites.kind(s.site) == "vae" else f"layer {layer}", fontsize=10)
            if j == 0:
                ax.set_ylabel(row.label, rotation=0, ha="right", va="center", fontsize=10, labelpad=6)
    chain = g.rows[0].chain if s.option is None else operators.parse(s.op)
    axis = _row_axis_label(s, chain)
    if axis:
        fig.supylabel(axis, fontsize=10)
    import textwrap

    model = Path(s.model).name if Path(s.model).exists() else s.model
    where = "" if s.site == sites.LATENT else f" at {s.site}" + (f" (channels {sites.parse_channels(s.channels)})"
                                                                  if s.channels is not None else "")
    fixed_r = f", r = {_label(float(g.rows[0].r.flatten()[0]))}" if s.option is not None and g.rows[0].r is not None else ""
    head = f"{chain}{where}{fixed_r}    \u201c{s.prompt}\u201d    seed {s.seed}    {model}"
    width = max(30, int((cell * n_cols + 1.0) * 11))  # characters that fit across the figure
    fig.suptitle("\n".join(textwrap.wrap(head, width) + [
        f"{s.steps} {s.scheduler} steps, guidance {s.guidance:g}, {s.size[0]}x{s.size[1]}"]), fontsize=11)
    fig.savefig(path, dpi=150, bbox_inches="tight")
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
