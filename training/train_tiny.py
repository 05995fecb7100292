"""Train ``--model tiny-trained``: an autoencoder, then a text-conditioned UNet, on procedural scenes.

    python training/train_tiny.py --workers 16 --ae-steps 3000 --unet-steps 10000 --stage-minutes 1.5 3.8
        # the shipped run (one H200, training/README.md); then copy training/out/tiny-trained.safetensors
        # to src/netbend/generation/weights/
    python training/train_tiny.py --smoke --out /tmp/t.safetensors             # 15 s on a CPU: does it run?

1. Data: ``--images`` pictures of 64x64 drawn and captioned by `scenes.py` from ``--seed``.
2. Autoencoder (diffusers AutoencoderKL, SD's factor-8 latent of 4 channels): L1 + MSE
   reconstruction and a small KL term, ``--ae-steps`` steps; its latent scale set so that
   the latents have unit standard deviation, as SD's 0.18215 does.
3. UNet (UNet2DConditionModel) and CLIP text encoder together, from scratch, on the
   latents: SD's noise schedule and epsilon loss, 10 % of captions dropped (so classifier-free
   guidance works), an exponential moving average of the weights, ``--unet-steps`` steps.

Writes the weights (float16, `netbend.generation.trained.save`: what `--model tiny-trained`
loads), ``loss.png`` (both stages' loss curves), ``samples.png`` (a few prompts, DDIM 50,
guidance 7.5) and ``train.json`` (settings, steps, seconds, hardware, losses) beside them.
Everything is seeded; on the same hardware and software the same run gives the same weights
(cuDNN's nondeterministic kernels aside; ``--deterministic`` turns them off at some cost).
Each stage also stops at ``--stage-minutes`` and records how many steps it made.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "src"))

import scenes  # noqa: E402
from netbend.generation import trained  # noqa: E402

PROMPTS = ["a red orb in the sky", "a blue cube on the sea", "a green tree in the forest", "a white crane at night",
           "a yellow ring in the sky", "a purple mountain", "a floating orb", "a black crane on the sea"]


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(Path(__file__).parent / "out" / "tiny-trained.safetensors"),
                   help="weights file to write (loss.png, samples.png, train.json go beside it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images", type=int, default=60000)
    p.add_argument("--ae-steps", type=int, default=3000)
    p.add_argument("--ae-batch", type=int, default=128)
    p.add_argument("--unet-steps", type=int, default=12000)
    p.add_argument("--unet-batch", type=int, default=256)
    p.add_argument("--stage-minutes", type=float, nargs=2, default=(1.6, 4.0), metavar=("AE", "UNET"),
                   help="each stage stops here even if its steps are not done")
    p.add_argument("--workers", type=int, default=8, help="processes drawing the pictures")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--smoke", action="store_true", help="a tiny run to check that everything runs")
    a = p.parse_args()
    if a.smoke:
        a.images, a.ae_steps, a.ae_batch, a.unet_steps, a.unet_batch = 256, 6, 16, 6, 32
    return a


def autocast(device: str):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else torch.autocast("cpu",
                                                                                                        enabled=False)


def train_autoencoder(vae, images: torch.Tensor, a: argparse.Namespace, log: dict) -> None:
    """Reconstruction (L1 + MSE) and KL (1e-6, as SD's) on random batches of ``images`` (N, 3, H, W) in [-1, 1]."""
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=a.ae_steps, pct_start=0.05)
    g = torch.Generator(device=images.device).manual_seed(a.seed + 1)
    start, losses = time.time(), []
    vae.train()
    for step in range(a.ae_steps):
        x = images[torch.randint(len(images), (a.ae_batch,), device=images.device, generator=g)]
        with autocast(a.device):
            post = vae.encode(x).latent_dist
            rec = vae.decode(post.sample(generator=g)).sample
        loss = F.l1_loss(rec.float(), x) + F.mse_loss(rec.float(), x) + 1e-6 * post.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 100 == 0:
            print(f"autoencoder step {step}: loss {loss.item():.4f}", flush=True)
        if time.time() - start > a.stage_minutes[0] * 60:
            break
    vae.eval()
    log["ae"] = {"steps": len(losses), "seconds": time.time() - start, "loss": losses}


@torch.no_grad()
def latents_of(vae, images: torch.Tensor, batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Each picture's posterior mean and standard deviation, (N, 4, h, w) each."""
    means, stds = [], []
    for i in range(0, len(images), batch):
        d = vae.encode(images[i:i + batch]).latent_dist
        means.append(d.mean.float())
        stds.append(d.std.float())
    return torch.cat(means), torch.cat(stds)


def train_unet(unet, text_encoder, tokenizer, means, stds, scale: float, captions: list[str], a, log: dict):
    """Epsilon prediction on SD's noise schedule, captions dropped 10 % of the time; returns the EMA copies."""
    from diffusers import DDPMScheduler

    noise_sched = DDPMScheduler.from_config(trained.SCHEDULER_CONFIG)  # keys it does not take are left out
    alphas = noise_sched.alphas_cumprod.to(a.device)
    ids = tokenizer(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    empty = tokenizer([""], padding="max_length", max_length=77, return_tensors="pt").input_ids.to(a.device)
    ids = ids.to(a.device)
    params = [*unet.parameters(), *text_encoder.parameters()]
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-4, total_steps=a.unet_steps, pct_start=0.03)
    ema = [copy.deepcopy(unet).eval(), copy.deepcopy(text_encoder).eval()]
    averaged = [p for m in ema for p in m.parameters()]
    live_params = [p for m in (unet, text_encoder) for p in m.parameters()]
    g = torch.Generator(device=a.device).manual_seed(a.seed + 2)
    start, losses = time.time(), []
    unet.train()
    text_encoder.train()
    for step in range(a.unet_steps):
        pick = torch.randint(len(means), (a.unet_batch,), device=a.device, generator=g)
        z = (means[pick] + stds[pick] * torch.randn(means[pick].shape, device=a.device, generator=g))
        z = z * scale
        t = torch.randint(0, 1000, (a.unet_batch,), device=a.device, generator=g)
        noise = torch.randn(z.shape, device=a.device, generator=g)
        ab = alphas[t].view(-1, 1, 1, 1)
        noisy = ab.sqrt() * z + (1 - ab).sqrt() * noise
        drop = torch.rand(a.unet_batch, device=a.device, generator=g) < 0.1
        tokens = torch.where(drop[:, None], empty, ids[pick])
        with autocast(a.device):
            text = text_encoder(tokens)[0]
            pred = unet(noisy, t, encoder_hidden_states=text).sample
        loss = F.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():  # one fused update of every averaged weight
            torch._foreach_lerp_(averaged, live_params, 1 - decay)
        losses.append(loss.item())
        if step % 200 == 0:
            print(f"unet step {step}: loss {loss.item():.4f}", flush=True)
        if time.time() - start > a.stage_minutes[1] * 60:
            break
    log["unet"] = {"steps": len(losses), "seconds": time.time() - start, "loss": losses}
    return ema


@torch.no_grad()
def sample(parts: dict, prompts: list[str], *, seed: int, device: str, steps: int = 50,
           guidance: float = 7.5) -> np.ndarray:
    """DDIM pictures of ``prompts``, uint8 (n, H, W, 3)."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(trained.SCHEDULER_CONFIG)
    sched.set_timesteps(steps, device=device)
    tok = parts["tokenizer"]
    ids = tok(prompts + [""] * len(prompts), padding="max_length", max_length=77, return_tensors="pt").input_ids
    text = parts["text_encoder"](ids.to(device))[0]
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(len(prompts), 4, trained.SIZE // 8, trained.SIZE // 8, generator=g).to(device)
    for t in sched.timesteps:
        eps = parts["unet"](torch.cat([x, x]), t, encoder_hidden_states=text).sample
        cond, uncond = eps.chunk(2)
        x = sched.step(uncond + guidance * (cond - uncond), t, x).prev_sample
    img = parts["vae"].decode(x / parts["vae"].config.scaling_factor).sample
    return ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def figures(folder: Path, log: dict, pictures: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, key, title in zip(axes, ("ae", "unet"), ("autoencoder: L1 + MSE + KL", "UNet + text encoder: epsilon MSE")):
        loss = np.array(log[key]["loss"])
        ax.plot(loss, lw=0.4, alpha=0.4)
        k = max(1, len(loss) // 50)
        ax.plot(np.convolve(loss, np.ones(k) / k, mode="valid"), lw=1.5)
        ax.set(title=title, xlabel="step", yscale="log")
    fig.tight_layout()
    fig.savefig(folder / "loss.png", dpi=110)
    from PIL import Image

    Image.fromarray(np.concatenate(list(pictures), axis=1)).resize((64 * 4 * len(pictures), 64 * 4),
                                                                   Image.NEAREST).save(folder / "samples.png")


def main() -> None:
    a = arguments()
    torch.manual_seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    if a.deterministic:
        torch.use_deterministic_algorithms(True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log: dict = {"settings": {k: v for k, v in vars(a).items() if k != "out"}, "started": time.strftime("%F %T"),
                 "hardware": (torch.cuda.get_device_name() if a.device.startswith("cuda")
                              else f"{platform.machine()} CPU, {os.cpu_count()} cores"),
                 "torch": torch.__version__, "python": platform.python_version()}
    t0 = time.time()
    pictures, captions, _ = scenes.dataset(a.images, a.seed, size=trained.SIZE, workers=a.workers)
    log["data_seconds"] = time.time() - t0
    print(f"{len(pictures)} pictures in {log['data_seconds']:.1f} s", flush=True)
    images = torch.from_numpy(pictures).to(a.device).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    parts = trained.architecture(scenes.WORDS, seed=a.seed)
    for k in ("unet", "vae", "text_encoder"):
        parts[k].to(a.device)
    train_autoencoder(parts["vae"], images, a, log)
    means, stds = latents_of(parts["vae"], images)
    log["scaling_factor"] = float(1 / means.std())
    parts["vae"].register_to_config(scaling_factor=log["scaling_factor"])
    print(f"latent scale {log['scaling_factor']:.4f}", flush=True)
    del images
    unet, text = train_unet(parts["unet"], parts["text_encoder"], parts["tokenizer"], means, stds,
                            log["scaling_factor"], captions, a, log)
    parts["unet"], parts["text_encoder"] = unet, text
    log["seconds"] = time.time() - t0
    info = {k: v for k, v in log.items() if k not in ("ae", "unet")}
    info.update({k: {"steps": log[k]["steps"], "seconds": round(log[k]["seconds"], 1),
                     "final_loss": float(np.mean(log[k]["loss"][-100:]))} for k in ("ae", "unet")})
    trained.save(parts, out, words=scenes.WORDS, info=info)
    pictures = sample(parts, PROMPTS, seed=a.seed, device=a.device)
    figures(out.parent, log, pictures)
    (out.parent / "train.json").write_text(json.dumps({**info, "loss": {k: log[k]["loss"] for k in ("ae", "unet")}}))
    print(json.dumps(info, indent=1), flush=True)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MiB) in {log['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
