"""Figures of a figure grid and of channel clusters."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from ..parsing import format_number

if TYPE_CHECKING:
    from ..generation.channels import Clusters
    from ..jobs.grid import Grid


def plot_grid(g: Grid, path: Path) -> Path:
    """The figure: a column per layer, a row per value, labelled like the paper's."""
    from matplotlib.figure import Figure

    from .. import operators

    job = g.job
    size, where = job.generation.size, g.where
    n_cols, n_rows = len(g.layers), len(g.rows)
    cell = 1.7  # inches
    fig = Figure(figsize=(cell * n_cols + 1.0, cell * n_rows + 0.9), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for j, layer in enumerate(g.layers):
        for i, row in enumerate(g.rows):
            ax = axes[i, j]
            ax.imshow(g.cells[j, i], interpolation="nearest" if size[0] < 128 else "antialiased")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("decode" if where == "vae" else f"layer {layer}", fontsize=10)
            if j == 0:
                ax.set_ylabel(row.label, rotation=0, ha="right", va="center", fontsize=10, labelpad=6)
    chain = g.rows[0].chain if job.option is None else operators.parse(job.op)
    axis = job.option[0] if job.option is not None else "" if chain.param_shape is None else "r"
    if axis:
        fig.supylabel(axis, fontsize=10)
    fig.suptitle(_title(g, chain, cell * n_cols + 1.0), fontsize=11)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path


def _title(g: Grid, chain: object, width_inches: float) -> str:
    from ..generation.channels import parse_channels

    job, gen = g.job, g.job.generation
    model = Path(gen.model).name if Path(gen.model).exists() else gen.model
    where = "" if job.site == "latent" else f" at {job.site}" + (f" (channels {parse_channels(job.channels)})"
                                                                   if job.channels is not None else "")
    first = g.rows[0]
    fixed_r = f", r = {format_number(float(first.r.flatten()[0]))}" if job.option is not None and first.r is not None else ""
    head = f"{chain}{where}{fixed_r}    \u201c{gen.prompt}\u201d    seed {gen.seed}    {model}"
    width = max(30, int(width_inches * 11))  # characters that fit across the figure
    return "\n".join(textwrap.wrap(head, width) + [
        f"{gen.steps} {gen.scheduler} steps, guidance {gen.guidance:g}, {gen.size[0]}x{gen.size[1]}"])


def plot_clusters(clusters: dict[str, Clusters], folder: Path) -> list[Path]:
    """One PNG per site: each cluster's mean feature map, with its size."""
    from matplotlib.figure import Figure

    from ..paths import make_folder

    make_folder(folder)
    paths = []
    for site, cl in clusters.items():
        k = len(cl.means)
        fig = Figure(figsize=(1.6 * k + 0.4, 2.1), layout="constrained")
        axes = fig.subplots(1, k, squeeze=False)[0]
        for j, ax in enumerate(axes):
            ax.imshow(cl.means[j], cmap="magma", interpolation="nearest")
            ax.set_title(f"cluster {j}: {cl.sizes[j]} ch", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"{site}: mean feature map of each cluster", fontsize=10)
        path = folder / f"{site}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths
