"""Rendering a music video: audio features drive a bend inside Stable Diffusion, frame by frame."""

from __future__ import annotations

import dataclasses
import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from . import __version__, audio as audio_io, features, mapping, models, operators, smoothing
from .bends import LatentBend, Bends
from .errors import NetbendError
from .noise import NoiseWalk
from .prompts import PromptSchedule, parse as parse_prompts, Keyframe
from .sampling import guided_denoiser, make_scheduler, sample
from .scene import Bend, RenderSettings, check_inputs  # noqa: F401  (RenderSettings, check_inputs: re-exported)
from .video import VideoWriter

@dataclass
class Drive:
    """One bend's parameter for every frame, and the feature it came from."""

    feature: np.ndarray  # (n_frames,) or (n_frames, d) raw driver values (feature, constant or keyframes)
    r: np.ndarray  # (n_frames, *param_shape) operator parameter per frame
    smoothed: np.ndarray | None = None  # the feature after smoothing, as mapped onto r
    active: np.ndarray | None = None  # (n_frames,) bool: inside the bend's window; None = always

    @property
    def n_frames(self) -> int:
        return len(self.feature)


def analyse(s: RenderSettings, audio: audio_io.Audio) -> list[Drive]:
    """The drive of every bend (`RenderSettings.all_bends`), in order."""
    n = audio_io.frame_count(audio.samples.shape[1], audio.sr, s.fps)
    if n == 0:
        raise NetbendError(f"audio {audio.path} ({audio.duration:.3f} s) is shorter than one frame at {s.fps} fps")
    analyses: dict[str | None, features.Analysis] = {}  # one per audio file, shared by the bends that read it
    drives = []
    for i, bend in enumerate(s.all_bends()):
        drives.append(_drive(s, bend, audio, n, analyses, "--" if s.op and i == 0 else f"bends[{i - bool(s.op)}]."))
    return drives


def _drive(s: RenderSettings, bend: Bend, audio: audio_io.Audio, n: int, analyses: dict, label: str) -> Drive:
    chain = bend.chain()
    t = np.arange(n) / s.fps  # frame start times, seconds
    active = None if bend.window is None else (t >= bend.window[0]) & (t < bend.window[1])
    if bend.constant is not None:
        values = np.full(n, float(bend.constant))
        smoothed, r = values, values
    elif bend.keyframes is not None:
        kt, kv = np.array(bend.keyframes).T
        values = np.interp(t, kt, kv)  # held before the first and after the last point
        smoothed, r = values, values
    else:
        if bend.stem not in analyses:
            source = audio_io.align(audio_io.load(bend.stem), audio) if bend.stem else audio  # silence past its end
            analyses[bend.stem] = features.Analysis(source, s.fps)
        values = analyses[bend.stem].compute(bend.feature)[:n]
        smoothed = smoothing.apply(values, smoothing.parse(bend.smooth), s.fps)
        r = None if chain.param_shape is None else mapping.to_range(
            smoothed, *bend.param_range(), curve=bend.curve, invert=bend.invert)
    if chain.param_shape is None:
        _try_bend(s, chain, None)
        return Drive(values, np.zeros(n), smoothed, active)
    r = _fit_param(r, chain, bend.feature if bend.constant is None and bend.keyframes is None else "constant", label)
    _try_bend(s, chain, r)
    return Drive(values, r, smoothed, active)


def _fit_param(r: np.ndarray, chain: operators.Chain, feature: str, label: str = "--") -> np.ndarray:
    """(n, d) mapped values -> (n, *param_shape): a 16-d feature feeds a 4x4 matrix, a 6-d one six angles."""
    shape = chain.param_shape
    d = 1 if r.ndim == 1 else r.shape[1]
    need = int(np.prod(shape)) if shape else 1
    if d != need:
        hint = {6: "encodec:d=6", 16: "encodec:d=16"}.get(need, "a one-number feature such as rms")
        raise NetbendError(f"{label}op {chain} takes {need} number(s) per frame but {label}feature {feature} "
                           f"gives {d}; use {hint}")
    return r.reshape(len(r), *shape)


def _try_bend(s: RenderSettings, chain: operators.Chain, r: np.ndarray | None) -> None:
    """Run the bend once on a small zero latent, so that a parameter outside the operator's
    domain or an option that does not fit the latent fails now, not after the model loads."""
    if chain.param_shape is not None:
        chain.check_params(torch.as_tensor(r, dtype=torch.float32))
    w, h = s.size
    chain(torch.zeros(1, 4, h // 8, w // 8), None if chain.param_shape is None else torch.as_tensor(r[:1]))


def _frame_generators(seed: int, frames: torch.Tensor, stream: int) -> list[torch.Generator]:
    # one CPU generator per frame and use (0: sampler, 1: bend), so that random draws give
    # the same frame at any batch size and the sampler's draws do not shift the bend's
    states = [np.random.SeedSequence([seed, int(i), stream]).generate_state(1)[0] for i in frames]
    return [torch.Generator().manual_seed(int(st)) for st in states]


def frames(s: RenderSettings, model: models.StableDiffusion, drives: list[Drive] | Drive,
           n_frames: int | None = None) -> Iterator[np.ndarray]:
    """Generate the video's frames in order, each uint8 (H, W, 3).

    ``drives``: one per bend of `RenderSettings.all_bends`, as `analyse` makes them;
    ``n_frames`` is needed only when there is no bend (else the drives know it).
    """
    drives = [drives] if isinstance(drives, Drive) else drives
    if n_frames is None:
        if not drives:
            song = audio_io.load(s.audio)
            n_frames = audio_io.frame_count(song.samples.shape[1], song.sr, s.fps)
        else:
            n_frames = drives[0].n_frames
    n = n_frames
    scheduler = make_scheduler(s.scheduler, model.scheduler_config, s.steps)
    keyframes = parse_prompts(s.prompts) if s.prompts is not None else [Keyframe(0.0, s.prompt)]
    schedule = PromptSchedule(keyframes, model.encode_text, s.interpolation)  # each prompt encoded once
    uncond = model.encode_text([s.negative_prompt]) if s.guidance > 1 else None
    walk = NoiseWalk(model.latent_shape(*s.size), n_frames=n, seed=s.seed, walk=s.walk)
    bends = [(b, b.chain(), d) for b, d in zip(s.all_bends(), drives)]
    for start in range(0, n, s.batch):
        idx = torch.arange(start, min(start + s.batch, n))
        b = len(idx)
        scheduler.set_timesteps(s.steps, device=model.device)  # also resets multistep state
        x = walk(idx).to(model.device, model.dtype) * scheduler.init_noise_sigma  # (B, 4, h, w)
        sites = []
        for i, (bend, chain, drive) in enumerate(bends):
            r = torch.as_tensor(drive.r[idx.numpy()]) if chain.param_shape is not None else None
            mask = None if drive.active is None else torch.as_tensor(drive.active[idx.numpy()])
            sites.append(LatentBend(chain, bend.steps_bent(s.steps), r, _frame_generators(s.seed, idx, stream=1 + i), mask))
        cond = schedule.embeddings(idx.numpy() / s.fps)  # (B, 77, D)
        denoise = guided_denoiser(model.unet, cond, None if uncond is None else uncond.expand(b, -1, -1), s.guidance)
        latents = sample(denoise, scheduler, x, callback=Bends(sites) if sites else None,
                         generator=_frame_generators(s.seed, idx, stream=0))
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
    drives = analyse(s, audio)
    n = audio_io.frame_count(audio.samples.shape[1], audio.sr, s.fps)
    model = model or models.load(s.model, device=s.device)
    make_scheduler(s.scheduler, model.scheduler_config, s.steps)  # fail before the video is opened
    out = Path(s.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(out, fps=s.fps, size=s.size, audio=audio) as writer, \
            tqdm(total=n, unit="frame", desc=out.name, disable=not progress) as bar:
        for frame in frames(s, model, drives, n):
            writer.write(frame)
            bar.update()
    sidecar = out.with_suffix(".json")
    sidecar.write_text(json.dumps(_sidecar(s, model, audio, n, drives), indent=1, allow_nan=False))
    return RenderResult(out, sidecar, n)


def _sidecar(s: RenderSettings, model: models.StableDiffusion, audio: audio_io.Audio, n: int,
             drives: list[Drive]) -> dict:
    import diffusers

    def record(bend: Bend, drive: Drive) -> dict:
        return {
            "op": str(bend.chain()), "steps_bent": list(bend.steps_bent(s.steps)), "feature": bend.feature,
            "stem": bend.stem, "smooth": bend.smooth, "curve": bend.curve, "invert": bend.invert,
            "constant": bend.constant, "keyframes": bend.keyframes, "window": bend.window,
            "range": bend.param_range(),
            "frames": {
                "feature": drive.feature.tolist(),
                "smoothed": None if drive.smoothed is None else drive.smoothed.tolist(),
                "r": drive.r.tolist(),
                "active": None if drive.active is None else drive.active.tolist(),
            },
        }

    return {
        "netbend": __version__,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": dataclasses.asdict(s),
        "model": model.describe(),
        "audio": {"path": str(audio.path), "sample_rate": audio.sr, "channels": audio.samples.shape[0],
                  "duration_s": audio.duration},
        "video": {"n_frames": n, "fps": s.fps, "width": s.size[0], "height": s.size[1]},
        "time_s": (np.arange(n) / s.fps).tolist(),
        "bends": [record(b, d) for b, d in zip(s.all_bends(), drives)],
    }
