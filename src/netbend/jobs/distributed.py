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

from ..errors import NetbendError, first_words
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


RETRIES = 3  # lost workers a shard may go through before the render stops


def _actor_class(ray: Any, workers: int, report: Report) -> tuple[Any, int]:
    """The worker actor (one GPU each on a cluster with GPUs, else one CPU) and how many fit."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus and workers > gpus:  # more would wait for a GPU forever
        report(Note(f"{gpus} GPUs: {gpus} workers, not {workers}"))
        workers = gpus
    return ray.remote(max_restarts=0, **({"num_gpus": 1} if gpus else {"num_cpus": 1}))(_Worker), workers


def _failed(e: Exception) -> NetbendError:
    """A worker's error as the one line the driver prints (a `NetbendError`'s own text)."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, NetbendError):
        return NetbendError(str(cause))
    return NetbendError(f"a worker failed: {type(cause or e).__name__}: {first_words(cause or e)}")


def render_shards(panel: Any, drives: list, indices: list[int], *, workers: int, options: dict,
                  save: Callable[[int, bytes], None], report: Report = silent) -> dict[str, Any]:
    """Make the frames ``indices`` of ``panel`` on ``workers`` actors, ``save`` each as it comes;
    what the sidecar records (frames per worker, workers lost)."""
    ray = _ray()
    actor, workers = _actor_class(ray, workers, report)
    size = max(1, options.get("batch", 1))
    queue = deque((indices[i:i + size], 0) for i in range(0, len(indices), size))  # (shard, workers it lost)
    shared = ray.put(drives)  # sent once, not with every shard
    actors = {k: actor.remote(panel.generation) for k in range(min(workers, len(queue)))}
    done, lost = {k: 0 for k in actors}, 0
    in_flight: dict[Any, tuple[int, Any, list[int], int]] = {}  # ref: (worker, its actor then, shard, tries)

    def submit(k: int) -> None:
        if queue:
            shard, tries = queue.popleft()
            in_flight[actors[k].frames.remote(panel, shared, shard, options)] = (k, actors[k], shard, tries)

    try:
        try:
            pids = ray.get([a.pid.remote() for a in actors.values()])
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as e:  # a worker that cannot start
            raise _failed(e) from None
        for k, pid in zip(actors, pids):
            report(Stage(f"worker {k} ready (pid {pid})"))
        for k in actors:  # two shards each: one computing, one waiting, so a worker never idles
            submit(k)
            submit(k)
        while in_flight:
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            k, sent_to, shard, tries = in_flight.pop(ref)
            try:
                frames = ray.get(ref)
            except ray.exceptions.RayActorError:  # the worker died: its shards go to a new one
                if tries + 1 > RETRIES:
                    raise NetbendError(f"frames {shard[0]}..{shard[-1]} lost {RETRIES} workers in a row; "
                                       "stopping (out of memory?)") from None
                queue.appendleft((shard, tries + 1))
                if actors[k] is sent_to:  # not replaced yet (its other shards fail too)
                    lost += 1
                    report(Note(f"worker {k} was lost; its frames go to a new worker"))
                    ray.kill(sent_to)  # an unreachable one would keep its GPU
                    actors[k] = actor.remote(panel.generation)
                submit(k)
                continue
            except ray.exceptions.RayTaskError as e:
                raise _failed(e) from None
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
    actor, workers = _actor_class(ray, workers, report)
    shares = [list(range(len(layers)))[k::workers] for k in range(min(workers, len(layers)))]  # column positions
    actors = [actor.remote(job.generation) for _ in shares]
    report(Stage(f"{len(actors)} workers making {len(layers)} columns"))
    try:
        parts = ray.get([a.grid.remote(dataclasses.replace(job, layers=[layers[j] for j in share], workers=None,
                                                           ray=None)) for a, share in zip(actors, shares)])
    except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as e:
        raise _failed(e) from None
    finally:
        for a in actors:
            ray.kill(a)
    cells = np.zeros((len(layers), *parts[0][0].shape[1:]), np.uint8)
    for share, (part, _) in zip(shares, parts):
        cells[share] = part
    return Grid(job, layers, grid_rows(job), cells, sum(e for _, e in parts), time.perf_counter() - t0,
                model={"source": job.generation.model, "note": f"loaded by {len(actors)} Ray workers"})
