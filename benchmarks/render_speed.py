"""Time netbend's renderer on full-size SD 1.x architectures (random weights).

Prints a Markdown table: seconds per frame and frames per second for netbend at several
batch sizes, with and without a bend, next to diffusers' StableDiffusionPipeline called
once per frame with the bend in callback_on_step_end (how research code does it), all
measured in one run so that ratios compare like with like.

    python benchmarks/render_speed.py --frames 8 --steps 50 --size 512      # on a GPU
    python benchmarks/render_speed.py --frames 2 --steps 2 --size 256       # a CPU smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench_util import sync, where
import sd_random
from netbend import operators
from netbend.audio.drives import Drive
from netbend.jobs.render import panel_frames
from netbend.settings import Bend, Generation, Panel


def time_netbend(model, args, *, batch: int, op: str | None) -> float:
    panel = Panel(Generation(steps=args.steps, size=(args.size, args.size), device=args.device),
                    [Bend(op=op, layer=args.steps // 2)] if op else [])
    r = np.linspace(0, 2 * np.pi, args.frames)
    drives = [Drive(r, r)] if op else []
    list(panel_frames(panel, model, drives, n_frames=args.frames, fps=20.0, batch=batch,
                        indices=list(range(min(batch, args.frames)))))  # warm-up: kernels, allocator
    sync(args.device)
    t0 = time.perf_counter()
    for _ in panel_frames(panel, model, drives, n_frames=args.frames, fps=20.0, batch=batch):
        pass
    sync(args.device)
    return (time.perf_counter() - t0) / args.frames


def time_pipeline(model, args) -> float:
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=model.vae, text_encoder=model.text_encoder, tokenizer=model.tokenizer, unet=model.unet,
        scheduler=DDIMScheduler.from_config(model.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    op = operators.get("rotate_r1")
    shape = (1, *model.latent_shape(args.size, args.size))

    def one(i: int):
        def bend(p, step, t, kw):
            if step == args.steps // 2 - 1:  # callbacks run after a step: this bends the latent entering the middle step
                kw["latents"] = op(kw["latents"], float(i))
            return kw

        latents = torch.randn(shape, generator=torch.Generator().manual_seed(i)).to(args.device, model.dtype)
        pipe("a floating orb", num_inference_steps=args.steps, guidance_scale=7.5, latents=latents,
             height=args.size, width=args.size, callback_on_step_end=bend, output_type="np")

    one(0)
    sync(args.device)
    t0 = time.perf_counter()
    for i in range(args.frames):
        one(i)
    sync(args.device)
    return (time.perf_counter() - t0) / args.frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batches", default="1,4")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    model = sd_random.build(args.device, dtype)
    print(f"## render speed: {where(args.device)}, {dtype}")
    print(f"{args.size}x{args.size}, {args.steps} DDIM steps, guidance 7.5, {args.frames} frames timed after a warm-up\n")
    print("| renderer | batch | bend | s/frame | frames/s | vs. diffusers pipeline |")
    print("| --- | --- | --- | --- | --- | --- |")
    base = time_pipeline(model, args)
    print(f"| diffusers StableDiffusionPipeline, one call per frame | 1 | rotate_r1 in callback | {base:.3f} | {1 / base:.2f} | 1.00 |")
    for batch in (int(b) for b in args.batches.split(",")):
        for op in (None, "rotate_r1"):
            t = time_netbend(model, args, batch=batch, op=op)
            print(f"| netbend | {batch} | {op or 'none'} | {t:.3f} | {1 / t:.2f} | {base / t:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
