"""Rendering a music video: audio features drive a bend inside Stable Diffusion, frame by frame."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from . import __version__, audio as audio_io, features, mapping, models, operators, smoothing
from .bends import LatentBend
from .errors import NetbendError
from .paths import check_output
from .noise import NoiseWalk
from .sampling import SCHEDULERS, guided_denoiser, make_scheduler, sample
from .video import VideoWriter

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")


@dataclass
class RenderSettings:
    """Everything that decides a render. Two renders with equal settings give equal frames."""

    audio: str  # the soundtrack; its features drive the bend and it is muxed into the video
    output: str  # .mp4 (or .mov/.mkv); the sidecar JSON goes beside it
    prompt: str = "a floating orb"  # the paper's figure prompt
    negative_prompt: str = ""
    op: str | None = None  # operator chain, e.g. "rotate_r1 | normalize_max" (`netbend.operators.parse`); None: no bend
    feature: str = "rms"  # audio feature that drives the operator's parameter r (`netbend.features`)
    stem: str | None = None  # read the feature from this audio file (a stem) instead of the soundtrack
    smooth: str | None = None  # smoothing chain, e.g. "median:21,envelope:0.7,gate:0.05" (`netbend.smoothing`)
    curve: str = "linear"  # how the feature's range maps onto r: linear, exp, log
    invert: bool = False  # map the feature's largest value to the range's low end
    layer: int | None = None  # denoising step before which the latent is bent; None = steps (final latent)
    range: tuple[float, float] | None = None  # r range the feature is mapped onto; None = the operator's default
    steps: int = 50  # the paper: DDIM, 50 steps
    guidance: float = 7.5  # the paper's classifier-free guidance scale; <= 1 turns guidance off
    scheduler: str = "ddim"
    model: str = models.DEFAULT_MODEL
    fps: float = 20.0  # the paper's frame rate
    seed: int = 42  # seeds the noise walk
    size: tuple[int, int] = (512, 512)  # width, height in pixels; multiples of 8
    walk: float = 0.2  # noise-walk extent: 2 is a full circle over the video (paper's JAES runs: 0.2)
    batch: int = 1  # frames per UNet call; frames equal those of batch 1 up to float rounding
    device: str = "auto"
    overwrite: bool = False

    @property
    def bend_layer(self) -> int:
        return self.steps if self.layer is None else self.layer

    def chain(self) -> operators.Chain:
        return operators.parse(self.op)

    def bend_range(self) -> tuple[float, float] | None:
        """The range the feature is mapped onto; None when the chain takes no parameter."""
        chain = self.chain()
        if chain.param_shape is None:
            return None
        return self.range if self.range is not None else chain.default_range


def check_inputs(s: RenderSettings) -> None:
    """Reject bad settings up front, with a message that names the bad value."""
    for name in ("fps", "guidance", "walk"):
        if not math.isfinite(getattr(s, name)):
            raise NetbendError(f"--{name} must be a finite number, got {getattr(s, name)}")
    if s.range is not None and not all(math.isfinite(v) for v in s.range):
        raise NetbendError(f"--range must be two finite numbers, got {s.range[0]}:{s.range[1]}")
    if s.op is None and (s.layer is not None or s.range is not None):
        raise NetbendError("--layer and --range configure a bend: give --op too")
    if not 0 <= s.seed < 2**63:
        raise NetbendError(f"--seed must be in [0, 2**63), got {s.seed}")
    if s.steps < 1:
        raise NetbendError(f"--steps must be at least 1, got {s.steps}")
    if not 0 <= s.bend_layer <= s.steps:
        raise NetbendError(f"--layer must be in [0, {s.steps}] (0 = initial noise, {s.steps} = final latent), got {s.layer}")
    w, h = s.size
    if w <= 0 or h <= 0 or w % 8 or h % 8:
        raise NetbendError(f"--size must be positive multiples of 8, got {w}x{h}")
    if not s.fps > 0:
        raise NetbendError(f"--fps must be positive, got {s.fps}")
    if s.guidance < 0:
        raise NetbendError(f"--guidance must be non-negative, got {s.guidance}")
    if s.batch < 1:
        raise NetbendError(f"--batch must be at least 1, got {s.batch}")
    if s.scheduler not in SCHEDULERS:
        raise NetbendError(f"unknown scheduler {s.scheduler!r}; known schedulers: {', '.join(SCHEDULERS)}")
    if s.op is not None:
        chain = s.chain()
        if chain.param_shape is None and s.range is not None:
            raise NetbendError(f"--range has nothing to set: --op {chain} takes no parameter")
    features.check(s.feature)
    smoothing.parse(s.smooth)
    if s.curve not in mapping.CURVES:
        raise NetbendError(f"--curve must be one of {', '.join(mapping.CURVES)}, got {s.curve!r}")
    out = Path(s.output)
    check_output(out, overwrite=s.overwrite)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise NetbendError(f"output must end in {', '.join(VIDEO_SUFFIXES)}, got {out.name}")


@dataclass
class Drive:
    """The audio feature of every frame and the operator parameter it maps to."""

    feature: np.ndarray  # (n_frames,) or (n_frames, d) raw feature values
    r: np.ndarray  # (n_frames, *param_shape) operator parameter per frame
    smoothed: np.ndarray | None = None  # the feature after smoothing, as mapped onto r

    @property
    def n_frames(self) -> int:
        return len(self.feature)


def analyse(s: RenderSettings, audio: audio_io.Audio) -> Drive:
    """Compute the driving feature (from the stem if there is one), smooth it, and map it onto the bend's range."""
    n = audio_io.frame_count(audio.samples.shape[1], audio.sr, s.fps)
    if n == 0:
        raise NetbendError(f"audio {audio.path} ({audio.duration:.3f} s) is shorter than one frame at {s.fps} fps")
    source = audio_io.align(audio_io.load(s.stem), audio) if s.stem else audio  # a stem: silence past its end
    values = features.compute(s.feature, source, s.fps)[:n]
    smoothed = smoothing.apply(values, smoothing.parse(s.smooth), s.fps)
    chain = s.chain() if s.op else None
    if chain is None or chain.param_shape is None:
        if chain is not None:
            _try_bend(s, None)
        return Drive(values, np.zeros(n), smoothed)
    r = mapping.to_range(smoothed, *s.bend_range(), curve=s.curve, invert=s.invert)
    r = _fit_param(r, chain, s.feature)
    _try_bend(s, r)
    return Drive(values, r, smoothed)


def _fit_param(r: np.ndarray, chain: operators.Chain, feature: str) -> np.ndarray:
    """(n, d) mapped values -> (n, *param_shape): a 16-d feature feeds a 4x4 matrix, a 6-d one six angles."""
    shape = chain.param_shape
    d = 1 if r.ndim == 1 else r.shape[1]
    need = int(np.prod(shape)) if shape else 1
    if d != need:
        hint = {6: "encodec:d=6", 16: "encodec:d=16"}.get(need, "a one-number feature such as rms")
        raise NetbendError(f"--op {chain} takes {need} number(s) per frame but --feature {feature} gives {d}; use {hint}")
    return r.reshape(len(r), *shape)


def _try_bend(s: RenderSettings, r: np.ndarray | None) -> None:
    """Run the bend once on a small zero latent, so that a parameter outside the operator's
    domain or an option that does not fit the latent fails now, not after the model loads."""
    chain = s.chain()
    if chain.param_shape is not None:
        chain.check_params(torch.as_tensor(r, dtype=torch.float32))
    w, h = s.size
    chain(torch.zeros(1, 4, h // 8, w // 8), None if chain.param_shape is None else torch.as_tensor(r[:1]))


def _frame_generators(seed: int, frames: torch.Tensor, stream: int) -> list[torch.Generator]:
    # one CPU generator per frame and use (0: sampler, 1: bend), so that random draws give
    # the same frame at any batch size and the sampler's draws do not shift the bend's
    states = [np.random.SeedSequence([seed, int(i), stream]).generate_state(1)[0] for i in frames]
    return [torch.Generator().manual_seed(int(st)) for st in states]


def frames(s: RenderSettings, model: models.StableDiffusion, drive: Drive) -> Iterator[np.ndarray]:
    """Generate the video's frames in order, each uint8 (H, W, 3)."""
    n = drive.n_frames
    scheduler = make_scheduler(s.scheduler, model.scheduler_config, s.steps)
    cond = model.encode_text([s.prompt])  # (1, 77, D), encoded once per render
    uncond = model.encode_text([s.negative_prompt]) if s.guidance > 1 else None
    walk = NoiseWalk(model.latent_shape(*s.size), n_frames=n, seed=s.seed, walk=s.walk)
    chain = s.chain() if s.op else None
    for start in range(0, n, s.batch):
        idx = torch.arange(start, min(start + s.batch, n))
        b = len(idx)
        scheduler.set_timesteps(s.steps, device=model.device)  # also resets multistep state
        x = walk(idx).to(model.device, model.dtype) * scheduler.init_noise_sigma  # (B, 4, h, w)
        bend = None
        if chain is not None:
            r = torch.as_tensor(drive.r[idx.numpy()]) if chain.param_shape is not None else None
            bend = LatentBend(chain, s.bend_layer, r, _frame_generators(s.seed, idx, stream=1))
        denoise = guided_denoiser(
            model.unet, cond.expand(b, -1, -1), None if uncond is None else uncond.expand(b, -1, -1), s.guidance
        )
        latents = sample(denoise, scheduler, x, callback=bend, generator=_frame_generators(s.seed, idx, stream=0))
        yield from model.decode(latents)


@dataclass
class RenderResult:
    video: Path
    sidecar: Path
    n_frames: int


def render(s: RenderSettings, *, model: models.StableDiffusion | None = None, progress: bool = True) -> RenderResult:
    """Render ``s`` to a video with its soundtrack and a sidecar JSON beside it.

    ``model`` may be passed to reuse a loaded one; it must be the one ``s.model`` names.
    """
    check_inputs(s)
    audio = audio_io.load(s.audio)
    drive = analyse(s, audio)
    model = model or models.load(s.model, device=s.device)
    make_scheduler(s.scheduler, model.scheduler_config, s.steps)  # fail before the video is opened
    out = Path(s.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(out, fps=s.fps, size=s.size, audio=audio) as writer, \
            tqdm(total=drive.n_frames, unit="frame", desc=out.name, disable=not progress) as bar:
        for frame in frames(s, model, drive):
            writer.write(frame)
            bar.update()
    sidecar = out.with_suffix(".json")
    sidecar.write_text(json.dumps(_sidecar(s, model, audio, drive), indent=1, allow_nan=False))
    return RenderResult(out, sidecar, drive.n_frames)


def _sidecar(s: RenderSettings, model: models.StableDiffusion, audio: audio_io.Audio, drive: Drive) -> dict:
    import diffusers

    return {
        "netbend": __version__,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": dataclasses.asdict(s),
        "model": model.describe(),
        "audio": {"path": str(audio.path), "sample_rate": audio.sr, "channels": audio.samples.shape[0],
                  "duration_s": audio.duration},
        "video": {"n_frames": drive.n_frames, "fps": s.fps, "width": s.size[0], "height": s.size[1]},
        "bend": None if s.op is None else {
            "op": str(s.chain()), "layer": s.bend_layer, "feature": s.feature, "stem": s.stem,
            "smooth": s.smooth, "curve": s.curve, "invert": s.invert,
            "range": None if s.bend_range() is None else list(s.bend_range()),
        },
        "frames": {
            "time_s": (np.arange(drive.n_frames) / s.fps).tolist(),
            "feature": drive.feature.tolist(),
            "smoothed": None if drive.smoothed is None else drive.smoothed.tolist(),
            "r": drive.r.tolist(),
        },
    }
