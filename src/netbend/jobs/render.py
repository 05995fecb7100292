"""Rendering music videos: audio analysis -> pipeline -> frame store -> video, sidecar and plot.

`render` runs a `netbend.settings.RenderJob` to the end, one video per seed of ``seeds``,
panels side by side, resuming from the frames already on disk, and tells ``report`` how it
goes (`netbend.jobs.events`). `panel_frames` makes the frames of one panel.
"""

from __future__ import annotations

import json
import math
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch

from ..audio import drives as drives_io
from ..audio.drives import Drive
from ..audio.io import Audio, frames_of, load
from ..errors import NetbendError
from ..generation import models
from ..generation.bending import BatchBend, PlacedBend
from ..generation.channels import check_on_latent, check_op, parse_channels, pick_channels
from ..generation.pipeline import Pipeline, sampler_record
from ..paths import check_output
from ..settings import Names, Panel, RenderJob
from ..settings.bend import LATENT
from .events import Counter, Note, Report, Stage, silent, steps
from .frames import FrameStore, store_key

if TYPE_CHECKING:
    from ..generation.models import StableDiffusion


@dataclass
class RenderResult:
    video: Path
    sidecar: Path
    n_frames: int
    plot: Path | None = None  # the drivers' plot, when there is a bend
    kept: bool = False  # rendered before with these settings (a seed of ``seeds``), left as it was


def render(job: RenderJob, *, model: StableDiffusion | None = None, report: Report = silent) -> list[RenderResult]:
    """Render ``job``: its video, or one per seed of ``job.seeds``, each with its soundtrack, a
    sidecar JSON and the plot of its drivers beside it. ``model`` may be passed to reuse a
    loaded one; it must be the one the job names."""
    job.check()
    from ..generation.trained import size_note

    for note in {size_note(p.generation.model, p.generation.size) for p in job.as_panels()} - {None}:
        report(Note(note))
    plan = []
    videos = job.videos()
    for video in videos:  # every output is checked before the first video starts
        kept = len(videos) > 1 and already_rendered(video)
        if not kept:
            check_output(Path(video.output), overwrite=video.overwrite, inputs=video.inputs(), flag="-o/--output")
        plan.append((video, kept))
    loaded = {} if model is None else {models.key(job.generation): model}
    results = []
    with _workers(job) as workers:
        for video, kept in plan:
            if kept:
                report(Note(f"kept {video.output}: rendered before with these settings"))
                out = Path(video.output)
                results.append(RenderResult(out, out.with_suffix(".json"), 0, kept=True))
            else:
                results.append(render_video(video, loaded=loaded, report=report, workers=workers))
    return results


@contextmanager
def _workers(job: RenderJob) -> Iterator[int]:
    """Ray for the block when the job asks for it (the number of workers), else 0: a local render."""
    if not job.distributed:
        yield 0
        return
    from .distributed import cluster

    with cluster(job.workers, job.ray) as n:
        yield n


def already_rendered(job: RenderJob) -> bool:
    """Whether the output exists with a sidecar recording exactly these settings (so a ``seeds``
    run that was interrupted goes on with the seeds not yet done)."""
    from .sidecar import settings_record

    out = Path(job.output)
    sidecar = out.with_suffix(".json")
    if not (out.exists() and sidecar.exists()):
        return False
    try:
        kept = json.loads(sidecar.read_text())["settings"]
    except (OSError, ValueError, KeyError):
        return False
    return kept == json.loads(json.dumps(settings_record(job)))


def render_video(job: RenderJob, *, loaded: dict[tuple, StableDiffusion], report: Report = silent,
                 workers: int = 0) -> RenderResult:
    """One video of a checked job (``seeds`` already split): its panels side by side.
    ``loaded``: models by `netbend.generation.models.key`, filled as they load; ``workers``: Ray
    workers to make the frames on (0: this process)."""
    from .sidecar import plot_drives, sidecar

    from . import timeline

    song = load(job.audio)
    n = frames_of(song, job.fps)
    analyses: dict = {}  # each audio file analysed once: the beat grid, the features
    written = job  # as the user wrote it, for the sidecar (a rerun compares it)
    job, musical = timeline.place(job, song, analyses)  # every bar.beat position in seconds
    if musical:
        report(Note(timeline.summary(musical)))
    first, stop = excerpt_frames(job, n)
    out = Path(job.output)
    panels = job.as_panels()
    drives = all_drives(job, song, n, analyses)  # over the whole song: an excerpt's frames equal the full render's
    work = Path(job.frames_dir) if job.frames_dir else out.parent / f".{out.stem}.frames"
    made: list[dict] = []  # how each panel's frames were made
    with ExitStack() as stack:
        stores = []
        for i, (panel, ds) in enumerate(zip(panels, drives)):
            folder = work / f"panel{i}" if job.panels else work
            store = stack.enter_context(FrameStore(folder, store_key(job, panel, ds, n), overwrite=job.overwrite,
                                                         inputs=job.inputs()))
            stores.append(store)
            task = out.name if not job.panels else f"{out.name} panel {i}"
            made.append(_fill(store, job, i, ds, range(first, stop), n_frames=n, task=task, loaded=loaded,
                              report=report, workers=workers))
        encode(job, stores, song, (first, stop), n_frames=n, report=report)
        if not job.frames_dir:
            for store in stores:
                store.remove()
            if job.panels:
                _remove_empty(work)
    used = loaded.get(models.key(job.generation))
    described = None if used is None else {**used.describe(), "sampler": sampler_record(used, job.generation)}
    if described is None and workers:
        described = {"source": job.generation.model, "note": "loaded by the Ray workers"}
    record = sidecar(written, model=described, song=song, n_frames=n,
                     excerpt=(first, stop), panels=panels, drives=drives)
    if musical:
        record["musical_time"] = musical
    record["rendering"] = made if job.panels else made[0]
    side = out.with_suffix(".json")
    side.write_text(json.dumps(record, indent=1, allow_nan=False))
    plot = None
    if any(drives):
        plot = plot_drives(panels, drives, out.with_suffix(".drivers.png"), fps=job.fps,
                           title=f"{Path(job.audio).name}: what drives each bend")
    return RenderResult(out, side, stop - first, plot)


def _fill(store: FrameStore, job: RenderJob, k: int, drives: list[Drive], wanted: range, *, n_frames: int,
          task: str, loaded: dict, report: Report, workers: int = 0) -> dict:
    """Make the frames of ``wanted`` that ``store`` lacks, of panel ``k``, each saved as soon as it is
    done (on ``workers`` Ray workers, or here); how they were made, for the sidecar."""
    panel = job.as_panels()[k]
    missing = [i for i in wanted if not store.has(i)]
    if not missing:
        return {"by": "none: every frame was on disk"}
    names = job.bend_names(k if job.panels else None)
    if workers:
        from .distributed import render_shards

        counter = Counter(report, task, len(wanted), done=len(wanted) - len(missing))

        def save(i: int, data: bytes) -> None:
            store.save(i, data)
            counter.add()

        return render_shards(panel, drives, missing, workers=workers, save=save, report=report,
                             options=dict(n_frames=n_frames, fps=job.fps, batch=job.batch, names=names))
    which = models.key(panel.generation)
    if which not in loaded:
        report(Stage(f"loading model {panel.generation.model}"))
        loaded[which] = models.load_for(panel.generation)
    counter = Counter(report, task, len(wanted), done=len(wanted) - len(missing))
    for i, frame in panel_frames(panel, loaded[which], drives, n_frames=n_frames, fps=job.fps, batch=job.batch,
                                 indices=missing, names=names, report=report):
        store.save(i, frame)  # on disk as soon as it is done: an interrupted render resumes here
        counter.add()
    return {"by": "local"}


def all_drives(job: RenderJob, song: Audio, n: int, analyses: dict | None = None) -> list[list[Drive]]:
    """Every panel's drives, each audio file analysed once (``analyses``: by file, None the song,
    kept across calls); parameters outside an operator's domain, or options that do not fit the
    latent, fail here, before a model loads."""
    analyses = {} if analyses is None else analyses
    out = []
    for k, panel in enumerate(job.as_panels()):
        names = job.bend_names(k if job.panels else None)
        ds = drives_io.drives(panel.stem_bends(), song, fps=job.fps, n_frames=n, names=names, analyses=analyses,
                              meter=job.meter, bar_offset=job.bar_offset)
        for bend, drive, nm in zip(panel.stem_bends(), ds, names):
            _try_bend(bend.chain(), bend, drive, panel.generation.size, nm)
        out.append(ds)
    return out


def _try_bend(chain, bend, drive: Drive, size: tuple[int, int], names: Names) -> None:
    """Run a latent bend once on a small zero latent, so that a parameter outside the
    operator's domain or an option that does not fit the latent fails now, not after the
    model loads (network sites are tried once it has, in `bend_channels`)."""
    r = None if chain.param_shape is None else torch.as_tensor(drive.r, dtype=torch.float32)
    if r is not None:
        chain.check_params(r)
    if bend.site != LATENT:
        return
    try:
        check_on_latent(chain, parse_channels(bend.channels), size, None if r is None else r[:1], names.key("channels"))
    except NetbendError as e:
        raise NetbendError(f"{names.key('op')} {chain} on the latent's channels {bend.channels or 'all'}: {e}") from None


def bend_channels(pipe: Pipeline, bends: list, drives: list[Drive], names: list[Names],
                  report: Report = silent) -> list[torch.Tensor | None]:
    """The channels each bend acts on (None: all), once the model is there: network sites'
    shapes are probed, clusters calibrated, and every bend tried on its site (a 4-channel
    operator on anything but 4 channels, an index past the site's channels: an error now,
    before any frame)."""
    g = pipe.generation
    labels = [nm.label for nm in names]
    chosen = [parse_channels(b.channels, f"{label}channels") for b, label in zip(bends, labels)]
    shapes, picked = pick_channels(pipe.model, [(b.site, c) for b, c in zip(bends, chosen)], size=g.size, seed=g.seed,
                                   prompt=g.first_prompt, labels=labels, report=steps(report, "calibrating channels"))
    for bend, idx, drive, label in zip(bends, picked, drives, labels):
        chain = bend.chain()
        shape = shapes[bend.site]
        r = None if chain.param_shape is None else torch.as_tensor(drive.r[:1], dtype=torch.float32)
        try:
            check_op(chain, shape[0] if idx is None else len(idx), bend.site, shape, r)
        except NetbendError as e:
            raise NetbendError(f"{label}op at site {bend.site}: {e}") from None
    return [None if idx is None else torch.as_tensor(idx, dtype=torch.long) for idx in picked]


def panel_frames(panel: Panel, model: StableDiffusion, drives: list[Drive], *, n_frames: int, fps: float,
                   batch: int = 1, indices: list[int] | None = None, names: list[Names] | None = None,
                   report: Report = silent) -> Iterator[tuple[int, np.ndarray]]:
    """(index, uint8 (H, W, 3)) for the frames of ``panel``: all ``n_frames`` in order, or those of
    ``indices``, ``batch`` per UNet call. ``drives``: one per bend, over the whole song."""
    bends = panel.stem_bends()
    names = names or [Names(f"bends[{i}].") for i in range(len(bends))]
    pipe = Pipeline(model, panel.generation, n_frames=n_frames, fps=fps)
    channels = bend_channels(pipe, bends, drives, names, report)
    chains = [b.chain() for b in bends]
    todo = list(range(n_frames)) if indices is None else list(indices)
    for start in range(0, len(todo), batch):
        idx = torch.as_tensor(todo[start:start + batch])
        rows = idx.numpy()
        placed = []
        for i, (bend, chain, drive, chans) in enumerate(zip(bends, chains, drives, channels)):
            r = None if chain.param_shape is None else torch.as_tensor(drive.r[rows])
            active = None if drive.active is None else torch.as_tensor(drive.active[rows])
            bb = BatchBend(chain, r, len(idx), pipe.streams(idx, 1 + i), active, chans)
            placed.append(PlacedBend(bb, bend.site, bend.steps_bent(panel.generation.steps)))
        yield from zip(idx.tolist(), pipe.frames(idx, placed))


def excerpt_frames(job: RenderJob, n: int) -> tuple[int, int]:
    """Frames [first, stop) of the excerpt ``start`` .. ``start + duration`` of a song of n frames."""
    # job's times are seconds here (`netbend.jobs.timeline.place`)
    first = math.floor(job.start * job.fps + 1e-9)  # 0.7 s at 10 fps is frame 7, not 6.999...
    stop = n if job.duration is None else min(n, math.floor((job.start + job.duration) * job.fps + 1e-9))
    if first >= n or stop <= first:
        span = f"--start {job.start:g} s" + ("" if job.duration is None else f" with --duration {job.duration:g} s")
        raise NetbendError(f"{span} holds no whole frame of this song ({n / job.fps:.2f} s at {job.fps:g} fps)")
    return first, stop


def encode(job: RenderJob, stores: list[FrameStore], song: Audio, excerpt: tuple[int, int], *, n_frames: int,
           report: Report = silent) -> None:
    """The video of the excerpt's frames (the stores' panels side by side) with its audio."""
    from ..output.video import VideoWriter
    from ..paths import make_folder

    first, stop = excerpt
    per_frame = song.sr / job.fps
    end = song.samples.shape[1] if stop == n_frames else math.floor(stop * per_frame)
    clip = Audio(song.samples[:, math.floor(first * per_frame):end], song.sr, song.path)
    out = Path(job.output)
    make_folder(out.parent)
    w, h = job.generation.size
    counter = Counter(report, f"encoding {out.name}", stop - first)
    with VideoWriter(out, fps=job.fps, size=(w * len(stores), h), audio=clip) as writer:
        for i in range(first, stop):
            writer.write(np.concatenate([st.load(i) for st in stores], axis=1))  # panels side by side
            counter.add()


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
