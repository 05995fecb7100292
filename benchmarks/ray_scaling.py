"""Frames per second of a render on 1 and 2 local Ray workers, against this process alone.

The tiny model at a size where the UNet dominates, the same job each time, measured side by
side in one run. "Overhead per frame" is what going through Ray costs a frame: (1 worker's
seconds - this process's with one thread) / frames.

    python benchmarks/ray_scaling.py --frames 40 --size 256 --steps 8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from bench_util import where
from netbend.jobs.render import render
from netbend.settings import Bend, Generation, RenderJob


def job(folder: Path, song: Path, args, workers: int | None) -> RenderJob:
    return RenderJob(audio=str(song), output=str(folder / "v.mp4"), fps=10.0, workers=workers,
                     generation=Generation(model="tiny", steps=args.steps, size=(args.size, args.size), device="cpu"),
                     bends=[Bend(op="rotate_r1", layer=args.steps // 2)])


def seconds(j: RenderJob, threads: int | None = None) -> float:
    saved = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        render(j)
    finally:
        torch.set_num_threads(saved)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=8)
    args = p.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        song = tmp / "song.wav"
        t = np.arange(int(args.frames / 10 * 16000)) / 16000
        soundfile.write(song, (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + t)).astype(np.float32), 16000)
        rows = []
        local1 = seconds(job(tmp / "a", song, args, None), threads=1)
        local = seconds(job(tmp / "b", song, args, None))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            one = seconds(job(tmp / "c", song, args, 1))
            two = seconds(job(tmp / "d", song, args, 2))
        finally:
            ray.shutdown()
        rows = [("this process, 1 thread", local1), (f"this process, {torch.get_num_threads()} threads", local),
                ("Ray, 1 worker", one), ("Ray, 2 workers", two)]
    print(f"# Ray scaling, {where('cpu')}: tiny model, {args.size}x{args.size}, {args.steps} steps, {args.frames} frames")
    print("| how | seconds | frames/s | vs. 1 worker |\n|---|---|---|---|")
    for name, s in rows:
        print(f"| {name} | {s:.1f} | {args.frames / s:.2f} | {one / s:.2f}x |")
    print(f"overhead per frame through Ray (1 worker - 1 thread here): {(one - local1) / args.frames * 1000:.0f} ms "
          "(includes starting the worker and loading the model in it)")


if __name__ == "__main__":
    main()
