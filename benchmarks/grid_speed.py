"""Time `netbend grid` (shared unbent trajectory, cells batched) against the naive way: one
full generation per cell, as `render` makes one frame with the bend at that layer.

Prints a Markdown table with UNet evaluations and seconds for each way, all measured in one
run, and checks that the ways give the same cells.

    python benchmarks/grid_speed.py                                   # tiny model, CPU
    python benchmarks/grid_speed.py --model random-sd1 --size 512 --steps 50 --values 9   # full size, on a GPU
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from bench_util import sync, where
from netbend import models
from netbend.grid import GridSettings, check, default_layers, generate
from netbend.render import Drive, RenderSettings, frames


def naive(model, g: GridSettings, layers: list[int], values: list[float]) -> tuple[np.ndarray, float, int]:
    """One full generation per cell, through the renderer (frame 0, constant r, bend at the layer)."""
    cells = np.zeros((len(layers), len(values), g.size[1], g.size[0], 3), np.uint8)
    sync(g.device)
    t0 = time.perf_counter()
    for j, layer in enumerate(layers):
        for i, v in enumerate(values):
            s = RenderSettings(audio="-", output="-.mp4", op=g.op, layer=layer, steps=g.steps, size=g.size,
                               model=g.model, seed=g.seed, guidance=g.guidance, prompt=g.prompt, device=g.device)
            cells[j, i] = next(frames(s, model, Drive(np.array([v]), np.array([v]))))
    sync(g.device)
    return cells, time.perf_counter() - t0, len(layers) * len(values) * g.steps


def timed_grid(model, g: GridSettings) -> tuple[np.ndarray, float, int]:
    layers, rows = check(g)
    generate(g, model, layers[:1], rows[:1], progress=False)  # warm-up
    sync(g.device)
    t0 = time.perf_counter()
    grid = generate(g, model, layers, rows, progress=False)
    sync(g.device)
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
    base = dict(op="rotate_r1", output="/tmp/netbend-grid-bench.png", layers=layers, values=values, steps=s,
                size=(args.size, args.size), model=args.model, device=args.device, overwrite=True)
    print(f"## grid speed: {where(args.device)}, model {args.model}")
    print(f"rotate_r1, layers {layers} x {len(values)} values, {args.size}x{args.size}, {s} DDIM steps, guidance 7.5\n")
    print("| way | UNet evaluations | seconds | speed-up | cells vs. naive (max grey-level difference) |")
    print("| --- | --- | --- | --- | --- |")
    g1 = GridSettings(**base, batch=1)
    gb = GridSettings(**base, batch=args.batch)
    ref, t_naive, e_naive = naive(model, g1, layers, values)
    print(f"| naive: one full generation per cell (render, batch 1) | {e_naive} | {t_naive:.2f} | 1.00 | - |", flush=True)
    for g in (g1, gb):
        cells, t, e = timed_grid(model, g)
        diff = int(np.abs(cells.astype(int) - ref).max())
        print(f"| netbend grid, shared trajectory, batch {g.batch} | {e} | {t:.2f} | {t_naive / t:.2f}x | {diff} |",
              flush=True)


if __name__ == "__main__":
    main()
