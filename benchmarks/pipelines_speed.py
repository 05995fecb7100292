"""The paper's two pipelines side by side: seconds per frame of ``dafx`` and ``jaes``, and the ratio.

Full-size random-weight architectures (SD 1.x UNet and CLIP text encoder, the full VAE, and
a full-size `AutoencoderTiny`: TAESD's layers), the settings of the presets `dafx` (DDIM 50
steps, guidance 7.5: two UNet passes per step, full VAE) and `jaes` (4 LCM timesteps, one
pass per step, TAESD), each frame made by netbend's `Pipeline` with a latent bend. Also
prints the ratio that FLOPs predict (counted on one UNet pass and one decode), which the
measured ratio should approach where the UNet dominates. No LoRA: a fused LoRA costs nothing.

    python benchmarks/pipelines_speed.py --size 256 --repeats 2                 # a CPU (minutes)
    python benchmarks/pipelines_speed.py --size 512 --batches 1,8,16,32,64      # a GPU, fp16
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from bench_util import sync, where
import sd_random
from netbend.audio.drives import Drive
from netbend.jobs.render import panel_frames
from netbend.settings import Bend, Generation, Panel
from netbend.settings.presets import PRESETS

KEYS = ("scheduler", "steps", "timesteps", "guidance", "renoise")


def generation(preset: str, size: int, device: str) -> Generation:
    values = {k: v for k, v in PRESETS[preset].settings.items() if k in KEYS}
    return Generation(model="random-sd1", size=(size, size), device=device, **values)


def seconds_per_frame(model, g: Generation, frames: int, batch: int, device: str) -> float:
    panel = Panel(g, [Bend(op="rotate_r1")])  # on the final latent: the JAES pipeline's place
    r = np.linspace(0, 2 * np.pi, frames)
    sync(device)
    t0 = time.perf_counter()
    for _ in panel_frames(panel, model, [Drive(r, r)], n_frames=frames, fps=20.0, batch=batch):
        pass
    sync(device)
    return (time.perf_counter() - t0) / frames


def flops(model, g: Generation) -> float:
    """FLOPs of one frame: UNet passes (two per step with guidance) and one decode."""
    from torch.utils.flop_counter import FlopCounterMode

    c, h, w = model.latent_shape(*g.size)
    x = torch.zeros(1, c, h, w, device=model.device, dtype=model.dtype)
    text = model.encode_text([""])
    with FlopCounterMode(display=False) as unet:
        model.unet(x, torch.tensor(999, device=model.device), encoder_hidden_states=text)
    with FlopCounterMode(display=False) as decode:
        model.decode(x)
    passes = g.steps * (2 if g.guidance > 1 else 1)
    return passes * unet.get_total_flops() + decode.get_total_flops()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batches", default="1", help="batch sizes to try; on a GPU the largest that fits is kept")
    p.add_argument("--frames", type=int, default=0, help="frames per measurement (default: the batch, at least 1)")
    p.add_argument("--repeats", type=int, default=1, help="measurements of each, alternating")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    from diffusers import AutoencoderTiny

    dafx_model = sd_random.build(args.device, dtype)
    torch.manual_seed(1)
    taesd = AutoencoderTiny().eval().to(args.device, dtype)  # TAESD's architecture (its defaults), random weights
    jaes_model = dataclasses.replace(dafx_model, vae=taesd, decoder="taesd")
    runs = {"dafx": (dafx_model, generation("dafx", args.size, args.device)),
            "jaes": (jaes_model, generation("jaes", args.size, args.device))}
    predicted = flops(*runs["dafx"]) / flops(*runs["jaes"])
    print(f"# the paper's pipelines, {where(args.device)}, {args.size}x{args.size}, {str(dtype)[6:]}")
    print(f"FLOPs per frame: dafx {flops(*runs['dafx']) / 1e12:.2f} T, jaes {flops(*runs['jaes']) / 1e12:.3f} T "
          f"(ratio {predicted:.1f}x)")
    rows = []
    print("\n| batch | frames | dafx s/frame | jaes s/frame | jaes frames/s | measured ratio | FLOP ratio |")
    print("|---|---|---|---|---|---|---|")
    for batch in [int(b) for b in args.batches.split(",")]:
        frames = max(args.frames, batch)
        try:
            for name, (model, g) in runs.items():  # warm-up: kernels, allocator
                seconds_per_frame(model, dataclasses.replace(g, steps=1, timesteps=None), batch, batch, args.device)
            times = {name: [] for name in runs}
            for _ in range(args.repeats):
                for name, (model, g) in runs.items():
                    times[name].append(seconds_per_frame(model, g, frames, batch, args.device))
        except torch.cuda.OutOfMemoryError:
            print(f"batch {batch}: out of memory; larger batches left out")
            torch.cuda.empty_cache()
            break
        dafx, jaes = (float(np.mean(times[n])) for n in ("dafx", "jaes"))
        rows.append((batch, frames, dafx, jaes, times))  # printed at once: a run cut short keeps its rows
        print(f"| {batch} | {frames} | {dafx:.3f} | {jaes:.4f} | {1 / jaes:.2f} | {dafx / jaes:.1f}x | {predicted:.1f}x |")
    for batch, _, _, _, times in rows:
        print(f"batch {batch} each repeat, s/frame: " + "; ".join(
            f"{n} " + ", ".join(f"{t:.3f}" for t in ts) for n, ts in times.items()))


if __name__ == "__main__":
    main()
