"""Figure grids: the cells of a `netbend.settings.GridJob`, computed on a shared trajectory.

Every cell has the same prompt, seed and model; cell (layer L, value v) is the image that
`netbend render` makes for one frame with the operator at layer L and r = v. The cells
share the unbent trajectory up to their layer, so the grid computes that trajectory once,
keeps the latent (and the sampler's state) at each requested layer, and runs only the
remaining steps for each cell, a column's cells batched together:

    UNet evaluations = max(layers) + sum over layers L of rows * (steps - L)

instead of layers * rows * steps for one full generation per cell.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import __version__
from ..generation import models
from ..generation.bending import BatchBend, PlacedBend
from ..generation.channels import check_op, parse_channels, pick_channels
from ..generation.pipeline import Pipeline, Trajectory
from ..generation.sites import kind
from ..paths import make_folder
from ..settings import GridJob
from ..settings.grid import Row, grid_rows
from ..settings.scene import to_mapping
from .events import Counter, Note, Report, Stage, silent, steps

if TYPE_CHECKING:
    from ..generation.models import StableDiffusion


@dataclass
class Grid:
    """The cells of a grid, uint8 (n_layers, n_rows, H, W, 3), and what they cost."""

    job: GridJob
    layers: list[int]
    rows: list[Row]
    cells: np.ndarray
    unet_evaluations: int  # latents passed through the UNet (a guided pass counts once)
    seconds: float
    model: dict = field(default_factory=dict)  # what the model was, and the device and dtype it ran in
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def naive_evaluations(self) -> int:
        """One full generation per cell."""
        return len(self.layers) * len(self.rows) * self.job.generation.steps

    @property
    def where(self) -> str:
        return kind(self.job.site)


def render_grid(job: GridJob, *, model: StableDiffusion | None = None, report: Report = silent) -> Grid:
    """Check ``job``, generate its cells and write the grid, the cells and the record."""
    job.check()
    from ..generation.trained import size_note

    note = size_note(job.generation.model, job.generation.size)
    if note:
        report(Note(note))
    if job.workers or job.ray:
        from .distributed import cluster, grid_columns

        with cluster(job.workers, job.ray) as n:
            g = grid_columns(job, n, report=report)
    else:
        if model is None:
            report(Stage(f"loading model {job.generation.model}"))
            model = models.load_for(job.generation)
        g = generate(job, model, report=report)
    save(g)
    return g


def generate(job: GridJob, model: StableDiffusion, *, report: Report = silent) -> Grid:
    """The cells of a checked grid, computed on the shared trajectory (see the module's docstring)."""
    t0 = time.perf_counter()
    layers, rows = job.columns(), grid_rows(job)
    steps = job.generation.steps
    counter = Counter(report, Path(job.output).name, max(layers) + sum(len(rows) * (steps - k) for k in layers),
                      unit="eval")
    pipe = Pipeline(model, job.generation, on_evaluation=counter.add)  # frame 0 of a one-frame render
    channels = _channels(job, pipe, rows, report)
    kept = _shared(pipe, layers)
    cells = np.zeros((len(layers), len(rows), job.generation.size[1], job.generation.size[0], 3), np.uint8)
    where = kind(job.site)
    for j, layer in enumerate(layers):
        bent_steps = None if where == "vae" else range(layer, layer + 1)  # VAE modules act at decode time
        for a in range(0, len(rows), job.batch):
            chunk = rows[a:a + job.batch]
            b = len(chunk)
            r = None if chunk[0].r is None else torch.stack([row.r for row in chunk])
            # every cell draws as frame 0's bend 0 would: its own generator in that stream's state
            bend = BatchBend([row.chain for row in chunk], r, b, pipe.streams(torch.zeros(b, dtype=torch.long), 1),
                             channels=channels)
            cells[j, a:a + b] = pipe.finish(kept[layer].branch(b), [PlacedBend(bend, job.site, bent_steps)])
    return Grid(job, layers, rows, cells, pipe.evaluations, time.perf_counter() - t0, model=model.describe())


def _shared(pipe: Pipeline, layers: list[int]) -> dict[int, Trajectory]:
    """The unbent trajectory of frame 0, once: a copy of it entering each layer."""
    traj = pipe.start(torch.zeros(1, dtype=torch.long))
    kept = {}
    for layer in sorted(layers):
        pipe.denoise(traj, stop=layer)
        kept[layer] = traj.branch(1)
    return kept


def _channels(job: GridJob, pipe: Pipeline, rows: list[Row], report: Report) -> torch.Tensor | None:
    """The channels the grid bends at its site, each row's chain tried on them."""
    g = job.generation
    shapes, (idx,) = pick_channels(pipe.model, [(job.site, parse_channels(job.channels))], size=g.size, seed=g.seed,
                                   prompt=g.first_prompt, report=steps(report, "calibrating channels"))
    shape = shapes[job.site]
    for row in rows:
        check_op(row.chain, shape[0] if idx is None else len(idx), job.site, shape,
                 None if row.r is None else row.r[None])
    return None if idx is None else torch.as_tensor(idx, dtype=torch.long)


def save(g: Grid) -> dict[str, Path]:
    """The grid PNG, each cell as ``NAME/layer{L}_{row}.png``, and a JSON record beside them."""
    from PIL import Image

    from ..output.figures import plot_grid

    job = g.job
    out = Path(job.output)
    make_folder(out.parent)
    make_folder(job.folder)
    for old in job.folder.glob("layer*_*.png"):
        old.unlink()  # cells of an earlier grid (checked: --overwrite was given)
    for j, layer in enumerate(g.layers):
        for i in range(len(g.rows)):
            Image.fromarray(g.cells[j, i]).save(job.folder / f"layer{layer}_{i}.png")
    plot_grid(g, out)
    record = {
        "netbend": __version__,
        "settings": {k: v for k, v in to_mapping(job, defaults=True).items() if k not in job.IGNORED},
        "layers": g.layers,
        "rows": [{"label": row.label, "op": str(row.chain), "value": row.value,
                  "r": None if row.r is None else row.r.tolist()} for row in g.rows],
        "cells": f"{job.folder.name}/layer{{L}}_{{row}}.png",
        "model": g.model,
        "unet_evaluations": g.unet_evaluations,
        "naive_unet_evaluations": g.naive_evaluations,
        "seconds": round(g.seconds, 3),
    }
    sidecar = out.with_suffix(".json")
    sidecar.write_text(json.dumps(record, indent=1, default=str))
    g.files = {"grid": out, "cells": job.folder, "sidecar": sidecar}
    return g.files

