"""Time `netbend grid` (shared unbent trajectory, cells batched) against the naive way: one
full generation per cell, as `render` makes one frame with the bend at that layer.

Prints a Markdown table with UNet evaluations and seconds for each way, all measured in one
run, and checks that the ways give the same cells.

    python benchmarks/grid_speed.py                                   # tiny model, CPU
    python benchmarks/grid_speed.py --model random-sd1 --size 512 --steps 50 --values 9   # full size, on a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np
import torch

from bench_util import sync, where
from netbend.audio.drives import Drive
from netbend.generation import models
from netbend.jobs.grid import generate
from netbend.jobs.render import panel_frames
from netbend.settings import Bend, Generation, GridJob, Panel
from netbend.settings.grid import default_layers


def naive(model, g: GridJob, layers: list[int], values: list[float]) -> tuple[np.ndarray, float, int]:
    """One full generation per cell, through the renderer (frame 0, constant r, bend at the layer)."""
    size = g.generation.size
    cells = np.zeros((len(layers), len(values), size[1], size[0], 3), np.uint8)
    sync(g.generation.device)
    t0 = time.perf_counter()
    for j, layer in enumerate(layers):
        for i, v in enumerate(values):
            panel = Panel(g.generation, [Bend(op=g.op, layer=layer)])
            drive = Drive(np.array([v]), np.array([v]))
            cells[j, i] = next(panel_frames(panel, model, [drive], n_frames=1, fps=1.0))[1]
    sync(g.generation.device)
    return cells, time.perf_counter() - t0, len(layers) * len(values) * g.generation.steps


def timed_grid(model, g: GridJob) -> tuple[np.ndarray, float, int]:
    g.check()
    generate(dataclasses.replace(g, layers=g.layers[:1], values=g.values[:1]), model)  # warm-up
    sync(g.generation.device)
    t0 = time.perf_counter()
    grid = generate(g, model)
    sync(g.generation.device)
    return grid.cells, time.perf_counter() - t0, grid.unet_evaluations


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", help="tiny, or random-sd1 (full-size SD 1.x, random weights)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--values", type=int, default=5, help="rows: rotate_r1 over 0..2pi")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    if args.model == "random-sd1":
        import sd_random

        model = sd_random.build(args.device, torch.float16 if args.device.startswith("cuda") else torch.float32)
    else:
        model = models.load(args.model, device=args.device)
    s = args.steps
    layers = default_layers(s)  # the paper's 0, 10, ..., 40, 49 for 50 steps
    values = [float(v) for v in np.linspace(0, 2 * math.pi, args.values)]
    generation = Generation(steps=s, size=(args.size, args.size), model=args.model, device=args.device)
    base = dict(op="rotate_r1", output="/tmp/netbend-grid-bench.png", layers=layers, values=values,
                generation=generation, overwrite=True)
    print(f"## grid speed: {where(args.device)}, model {args.model}")
    print(f"rotate_r1, layers {layers} x {len(values)} values, {args.size}x{args.size}, {s} DDIM steps, guidance 7.5\n")
    print("| way | UNet evaluations | seconds | speed-up | cells vs. naive (max grey-level difference) |")
    print("| --- | --- | --- | --- | --- |")
    g1 = GridJob(**base, batch=1)
    gb = GridJob(**base, batch=args.batch)
    ref, t_naive, e_naive = naive(model, g1, layers, values)
    print(f"| naive: one full generation per cell (render, batch 1) | {e_naive} | {t_naive:.2f} | 1.00 | - |", flush=True)
    for g in (g1, gb):
        cells, t, e = timed_grid(model, g)
        diff = int(np.abs(cells.astype(int) - ref).max())
        print(f"| netbend grid, shared trajectory, batch {g.batch} | {e} | {t:.2f} | {t_naive / t:.2f}x | {diff} |",
              flush=True)


if __name__ == "__main__":
    main()
