"""Rendering a panel's frames on a Ray cluster: frame shards sent to actors, frames back to the driver.

The driver (the process the user started) has analysed the audio; it splits the frames
still missing from its frame store into shards of ``batch`` frames and sends them to Ray
actors. Each actor loads the model once and makes its frames with the same
`netbend.jobs.render.panel_frames` as a local render, then sends them back as PNG bytes
through Ray's object store (no shared file system needed); the driver saves each in its
frame store as it arrives, so a driver that is killed resumes from there. An actor that
dies (OOM, a preempted node) loses only its shards in flight: they go to a new actor.
Workers run with one thread per CPU; frames equal a local render's made with as many
threads (float sums depend on the thread count).
"""

from __future__ import annotations

import os
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import NetbendError
from .events import Note, Report, Stage, silent


@contextmanager
def cluster(workers: int | None, address: str | None) -> Iterator[int]:
    """Ray for the block: a local cluster of ``workers`` CPUs (``address`` None), or the cluster at
    ``address`` (``auto``, ``ray://HOST:PORT``); the number of workers to use. A Ray that is
    already running in this process is used as it is and left running."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        options = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=workers, **options)
        except Exception as e:  # no cluster there, a version mismatch, ...
            raise NetbendError(f"cannot start Ray{' at ' + address if address else ''}: {' '.join(str(e).split())[:200]}") from e
    try:
        resources = ray.cluster_resources()
        n = workers or int(resources.get("GPU", 0)) or int(resources.get("CPU", 1))
        yield max(1, n)
    finally:
        if started:
            ray.shutdown()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise NetbendError("--workers and --ray need Ray: pip install 'netbend[ray]'") from None
    return ray


class _Worker:
    """A Ray actor: the model of one generation, loaded once, making shards of frames."""

    def __init__(self, generation: Any):
        from ..generation import models

        self.error = None
        try:
            self.model = models.load_for(generation)
        except NetbendError as e:  # told to the driver with its first shard
            self.error = f"a worker cannot load the model: {e} (a local model must be at the same path on every node)"

    def pid(self) -> int:
        return os.getpid()

    def grid(self, job: Any) -> tuple[Any, int]:
        """The cells of a grid job (its share of the columns) and the UNet evaluations they took."""
        from .grid import generate

        if self.error:
            raise NetbendError(self.error)
        g = generate(job, self.model)
        return g.cells, g.unet_evaluations

    def frames(self, panel: Any, drives: list, indices: list[int], options: dict) -> list[tuple[int, bytes]]:
        from .frames import png
        from .render import panel_frames

        if self.error:
            raise NetbendError(self.error)
        return [(i, png(f)) for i, f in panel_frames(panel, self.model, drives, indices=indices, **options)]


def render_shards(panel: Any, drives: list, indices: list[int], *, workers: int, options: dict,
                  save: Callable[[int, bytes], None], report: Report = silent) -> dict[str, Any]:
    """Make the frames ``indices`` of ``panel`` on ``workers`` actors, ``save`` each as it comes;
    what the sidecar records (frames per worker, workers lost)."""
    ray = _ray()
    gpus = ray.cluster_resources().get("GPU", 0) >= 1
    actor = ray.remote(max_restarts=0, **({"num_gpus": 1} if gpus else {"num_cpus": 1}))(_Worker)
    size = max(1, options.get("batch", 1))
    queue = deque(indices[i:i + size] for i in range(0, len(indices), size))
    actors = {k: actor.remote(panel.generation) for k in range(min(workers, len(queue)))}
    for k, pid in zip(actors, ray.get([a.pid.remote() for a in actors.values()])):
        report(Stage(f"worker {k} ready (pid {pid})"))
    done, lost = {k: 0 for k in actors}, 0
    in_flight: dict[Any, tuple[int, Any, list[int]]] = {}  # ref: (worker, its actor then, shard)

    def submit(k: int) -> None:
        if queue:
            shard = queue.popleft()
            in_flight[actors[k].frames.remote(panel, drives, shard, options)] = (k, actors[k], shard)

    for k in actors:  # two shards each: one computing, one waiting, so a worker never idles
        submit(k)
        submit(k)
    try:
        while in_flight:
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            k, sent_to, shard = in_flight.pop(ref)
            try:
                frames = ray.get(ref)
            except ray.exceptions.RayActorError:  # the worker died: its shards go to a new one
                queue.appendleft(shard)
                if actors[k] is sent_to:  # not replaced yet (its other shards fail too)
                    lost += 1
                    report(Note(f"worker {k} was lost; its frames go to a new worker"))
                    actors[k] = actor.remote(panel.generation)
                submit(k)
                continue
            except ray.exceptions.RayTaskError as e:
                cause = e.cause if isinstance(getattr(e, "cause", None), Exception) else None
                if isinstance(cause, NetbendError):
                    raise NetbendError(str(cause)) from None
                raise
            for i, data in frames:
                save(i, data)
            done[k] += len(frames)
            submit(k)
    finally:
        for a in actors.values():
            ray.kill(a)
    return {"by": "ray", "workers": len(actors), "frames_per_worker": list(done.values()), "workers_lost": lost}


def grid_columns(job: Any, workers: int, *, report: Report = silent) -> Any:
    """A grid's cells made on ``workers`` actors, the columns dealt out in turn (a column's cost
    falls with its layer); each worker computes the shared trajectory its columns need."""
    import dataclasses
    import time

    import numpy as np

    from .grid import Grid
    from ..settings.grid import grid_rows

    ray = _ray()
    t0 = time.perf_counter()
    layers = job.columns()
    shares = [layers[k::workers] for k in range(min(workers, len(layers)))]
    gpus = ray.cluster_resources().get("GPU", 0) >= 1
    actor = ray.remote(max_restarts=0, **({"num_gpus": 1} if gpus else {"num_cpus": 1}))(_Worker)
    actors = [actor.remote(job.generation) for _ in shares]
    report(Stage(f"{len(actors)} workers making {len(layers)} columns"))
    try:
        parts = ray.get([a.grid.remote(dataclasses.replace(job, layers=share, workers=None, ray=None))
                         for a, share in zip(actors, shares)])
    except ray.exceptions.RayTaskError as e:
        if isinstance(getattr(e, "cause", None), NetbendError):
            raise NetbendError(str(e.cause)) from None
        raise
    finally:
        for a in actors:
            ray.kill(a)
    cells = np.zeros((len(layers), *parts[0][0].shape[1:]), np.uint8)
    for share, (part, _) in zip(shares, parts):
        for j, layer in enumerate(share):
            cells[layers.index(layer)] = part[j]
    return Grid(job, layers, grid_rows(job), cells, sum(e for _, e in parts), time.perf_counter() - t0,
                model={"source": job.generation.model, "note": f"loaded by {len(actors)} Ray workers"})
