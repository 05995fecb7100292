"""``netbend sites``: a model's bending sites, their shapes, and clusters of their channels."""

from __future__ import annotations

from pathlib import Path

from ..errors import NetbendError
from ..paths import check_output
from ..generation import channels as channels_io, models, sites
from ..generation.bending import LATENT
from ..settings import SitesJob
from .events import Report, Stage, silent, steps


def run_sites(job: SitesJob, *, report: Report = silent) -> str:
    """The sites as a table (and with ``clusters``, the cluster sizes; previews are saved); a text to print."""
    job.check()
    report(Stage(f"loading model {job.model}"))
    model = models.load(job.model, device=job.device, decoder=job.decoder, loras=job.loras)
    for name in job.network_sites() or []:
        sites.module(model, name)  # an unknown name fails here, with suggestions
    shapes = {n: info.shape for n, info in sites.probe(model, job.size, job.network_sites()).items()}
    if job.sites is None or LATENT in job.sites:
        shapes = {LATENT: model.latent_shape(*job.size), **shapes}
    if job.clusters is None:
        return describe(shapes)
    few = [n for n in (job.network_sites() or []) if shapes[n][0] < job.clusters]
    if few:
        raise NetbendError(f"site {few[0]} has {shapes[few[0]][0]} channels, too few for {job.clusters} clusters")
    # listing all: sites with too few channels (and the latent) show '-'
    wanted = [n for n, shape in shapes.items() if n != LATENT and shape[0] >= job.clusters]
    for name in wanted:  # before the calibration run: the previews it would write
        check_output(Path(job.preview) / f"{name}.png", overwrite=job.overwrite, inputs=job.inputs(), flag="--preview")
    clusters = channels_io.calibrate(model, wanted, job.clusters, prompt=job.prompt, size=job.size, seed=job.seed,
                                     report=steps(report, "calibrating channels"))
    from ..output.figures import plot_clusters

    paths = plot_clusters(clusters, Path(job.preview))
    return (describe(shapes, clusters) + f"\n\ncluster previews in {job.preview}/, one image per site ({len(paths)}). "
            f"A render with --channels cluster:C/{job.clusters} clusters the same way when its model, --size, "
            "--seed and (first) prompt are these.")


def describe(shapes: dict[str, tuple[int, int, int]], clusters: dict[str, channels_io.Clusters] | None = None) -> str:
    """The sites as a text table: name, output shape (C, H, W), channels (and cluster sizes)."""
    rows = [("site", "output (C x H x W)", "channels") + (("clusters (channels each)",) if clusters else ())]
    for name, shape in shapes.items():
        row = (name, " x ".join(map(str, shape)), str(shape[0]))
        if clusters:
            row += (" ".join(map(str, clusters[name].sizes)) if name in clusters else "-",)
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(wd) for v, wd in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * wd for wd in widths))
    return "\n".join(lines)
