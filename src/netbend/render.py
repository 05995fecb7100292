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

from . import __version__, audio as audio_io, features, mapping, models, operators, sites, smoothing
from .bends import Bending, Bends, Clock, LatentBend, LayerBend
from .errors import NetbendError
from .noise import NoiseWalk
from .prompts import PromptSchedule, parse as parse_prompts, Keyframe
from .sampling import guided_denoiser, make_scheduler, sample
from .scene import Bend, RenderSettings, bend_labels, check_inputs  # noqa: F401  (RenderSettings, check_inputs: re-exported)
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
    n = audio_io.frames_of(audio, s.fps)
    analyses: dict[str | None, features.Analysis] = {}  # one per audio file, shared by the bends that read it
    drives = []
    for bend, label in zip(s.all_bends(), bend_labels(s)):
        drives.append(_drive(s, bend, audio, n, analyses, label))
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
        _try_bend(s, bend, chain, None, label)
        return Drive(values, np.zeros(n), smoothed, active)
    r = _fit_param(r, chain, bend.feature if bend.constant is None and bend.keyframes is None else "constant", label)
    _try_bend(s, bend, chain, r, label)
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


def _try_bend(s: RenderSettings, bend: Bend, chain: operators.Chain, r: np.ndarray | None, label: str) -> None:
    """Run a latent bend once on a small zero latent, so that a parameter outside the
    operator's domain or an option that does not fit the latent fails now, not after the
    model loads (network sites are tried once the model has loaded, in `prepare_sites`)."""
    if chain.param_shape is not None:
        chain.check_params(torch.as_tensor(r, dtype=torch.float32))
    if bend.site != sites.LATENT:
        return
    try:
        sites.check_on_latent(chain, sites.parse_channels(bend.channels), s.size,
                              None if chain.param_shape is None else torch.as_tensor(r[:1]), f"{label}channels")
    except NetbendError as e:
        raise NetbendError(f"{label}op {chain} on the latent's channels {bend.channels or 'all'}: {e}") from None


def prepare_sites(s: RenderSettings, model: models.StableDiffusion, bends: list[Bend],
                  drives: list[Drive]) -> list[torch.Tensor | None]:
    """The channels each bend acts on (None: all), once the model is there: network sites'
    shapes are probed, clusters calibrated, and every bend tried on its site (a 4-channel
    operator on anything but 4 channels, an index past the site's channels: an error now,
    before any frame)."""
    first_prompt = parse_prompts(s.prompts)[0].prompt if s.prompts is not None else s.prompt
    labels = bend_labels(s)
    chosen = [sites.parse_channels(b.channels, f"{label}channels") for b, label in zip(bends, labels)]
    shapes, picked = sites.pick_channels(model, [(b.site, c) for b, c in zip(bends, chosen)], size=s.size,
                                         seed=s.seed, prompt=first_prompt, labels=labels)
    for bend, idx, drive, label in zip(bends, picked, drives, labels):
        chain = bend.chain()
        shape = shapes[bend.site]
        r = None if chain.param_shape is None else torch.as_tensor(drive.r[:1], dtype=torch.float32)
        try:
            sites.check_op(chain, shape[0] if idx is None else len(idx), bend.site, shape, r)
        except NetbendError as e:
            raise NetbendError(f"{label}op at site {bend.site}: {e}") from None
    return [None if idx is None else torch.as_tensor(idx, dtype=torch.long) for idx in picked]


def frame_generators(seed: int, frames: torch.Tensor, stream: int) -> list[torch.Generator]:
    # one CPU generator per frame and use (stream 0: the sampler, 1 + i: bend i), so that random
    # draws give the same frame at any batch size and one use's draws do not shift another's
    states = [np.random.SeedSequence([seed, int(i), stream]).generate_state(1)[0] for i in frames]
    return [torch.Generator().manual_seed(int(st)) for st in states]


def frames(s: RenderSettings, model: models.StableDiffusion, drives: list[Drive] | Drive,
           n_frames: int | None = None, indices: list[int] | None = None) -> Iterator[np.ndarray]:
    """Generate the video's frames, each uint8 (H, W, 3): all of them in order, or those of ``indices``.

    ``drives``: one per bend of `RenderSettings.all_bends`, as `analyse` makes them;
    ``n_frames``: the song's frames, needed when there is no bend (else the drives know it).
    A frame depends on its index alone, so any subset, in any batches, gives the same frames.
    """
    drives = [drives] if isinstance(drives, Drive) else drives
    if n_frames is None and not drives:
        raise ValueError("frames() needs n_frames when there is no bend")
    n = drives[0].n_frames if n_frames is None else n_frames
    scheduler = make_scheduler(s.scheduler, model.scheduler_config, s.steps)
    keyframes = parse_prompts(s.prompts) if s.prompts is not None else [Keyframe(0.0, s.prompt)]
    schedule = PromptSchedule(keyframes, model.encode_text, s.interpolation)  # each prompt encoded once
    uncond = model.encode_text([s.negative_prompt]) if s.guidance > 1 else None
    walk = NoiseWalk(model.latent_shape(*s.size), n_frames=n, seed=s.seed, walk=s.walk)
    all_bends = s.all_bends()
    channels = prepare_sites(s, model, all_bends, drives)
    bends = [(b, b.chain(), d, c) for b, d, c in zip(all_bends, drives, channels)]
    todo = list(range(n)) if indices is None else list(indices)
    for start in range(0, len(todo), s.batch):
        idx = torch.as_tensor(todo[start:start + s.batch])
        b = len(idx)
        scheduler.set_timesteps(s.steps, device=model.device)  # also resets multistep state
        x = walk(idx).to(model.device, model.dtype) * scheduler.init_noise_sigma  # (B, 4, h, w)
        latent_bends, layer_bends = [], []
        for i, (bend, chain, drive, chans) in enumerate(bends):
            r = torch.as_tensor(drive.r[idx.numpy()]) if chain.param_shape is not None else None
            mask = None if drive.active is None else torch.as_tensor(drive.active[idx.numpy()])
            bending = Bending(chain, r, b, frame_generators(s.seed, idx, stream=1 + i), mask, chans)
            if bend.site == sites.LATENT:
                latent_bends.append(LatentBend(bending, bend.steps_bent(s.steps)))
            else:
                layer_bends.append(LayerBend(bending, bend.site, bend.steps_bent(s.steps)))
        cond = schedule.embeddings(idx.numpy() / s.fps)  # (B, 77, D)
        denoise = guided_denoiser(model.unet, cond, None if uncond is None else uncond.expand(b, -1, -1), s.guidance)
        clock = Clock()
        with sites.hooked(model, layer_bends, clock):  # hooks removed after the batch, or an error
            latents = sample(denoise, scheduler, x, callback=Bends(latent_bends, clock) if bends else None,
                             generator=frame_generators(s.seed, idx, stream=0))
            images = model.decode(latents)
        yield from images


@dataclass
class RenderResult:
    video: Path
    sidecar: Path
    n_frames: int
    plot: Path | None = None  # the drivers' plot, when there is a bend


def render(s: RenderSettings, *, model: models.StableDiffusion | None = None, progress: bool = True) -> RenderResult:
    """Render ``s`` to a video with its soundtrack and a sidecar JSON beside it.

    ``model`` may be passed to reuse a loaded one; it must be the one ``s.model`` names.
    With ``s.panels``, each panel is rendered as its own settings and the panels are
    tiled side by side in one video.
    """
    check_inputs(s)
    audio = audio_io.load(s.audio)
    n = audio_io.frame_count(audio.samples.shape[1], audio.sr, s.fps)
    first, stop = excerpt_frames(s, n)
    out = Path(s.output)
    work = Path(s.frames_dir) if s.frames_dir else out.parent / f".{out.stem}.frames"
    models_by_name = {s.model: model} if model else {}
    panels = [s] if not s.panels else panel_settings(s, work)
    stores, all_drives = [], []
    for i, p in enumerate(panels):
        drives = analyse(p, audio)  # over the whole song, so that an excerpt's frames equal the full render's
        store = FrameStore(Path(p.frames_dir) if p.frames_dir else work, settings_key(p, drives, n), overwrite=s.overwrite)
        missing = [i for i in range(first, stop) if not store.has(i)]
        if missing:
            if p.model not in models_by_name:
                models_by_name[p.model] = models.load(p.model, device=p.device)
            m = models_by_name[p.model]
            make_scheduler(p.scheduler, m.scheduler_config, p.steps)  # fail before any frame is made
            label = out.name if len(panels) == 1 else f"{out.name} panel {i}"
            with tqdm(total=stop - first, initial=stop - first - len(missing), unit="frame", desc=label,
                      disable=not progress) as bar:
                for j, frame in zip(missing, frames(p, m, drives, n, missing)):
                    store.save(j, frame)  # on disk as soon as it is done: an interrupted render resumes here
                    bar.update()
        stores.append(store)
        all_drives.append(drives)
    sr_per_frame = audio.sr / s.fps
    end = audio.samples.shape[1] if stop == n else math.floor(stop * sr_per_frame)
    clip = audio_io.Audio(audio.samples[:, math.floor(first * sr_per_frame):end], audio.sr, audio.path)
    out.parent.mkdir(parents=True, exist_ok=True)
    w, h = s.size
    with VideoWriter(out, fps=s.fps, size=(w * len(stores), h), audio=clip) as writer:
        for i in range(first, stop):
            writer.write(np.concatenate([st.load(i) for st in stores], axis=1))  # panels side by side
    if not s.frames_dir:
        for st in stores:
            st.remove()
        if s.panels:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    sidecar = out.with_suffix(".json")
    described = {k: v.describe() for k, v in models_by_name.items() if v is not None}
    record = _sidecar(s, described.get(s.model), audio, n, all_drives[0], (first, stop))
    if s.panels:
        record["panels"] = [{"settings": dataclasses.asdict(p), "bends": _bend_records(p, d)}
                            for p, d in zip(panels, all_drives)]
        record["video"]["width"] = w * len(stores)
    sidecar.write_text(json.dumps(record, indent=1, allow_nan=False))
    plot = _plot_drives(panels, all_drives, out.with_suffix(".drivers.png")) if any(all_drives) else None
    return RenderResult(out, sidecar, stop - first, plot)


def panel_settings(s: RenderSettings, work: Path) -> list[RenderSettings]:
    """The settings of each panel: the scene's, with the panel's own values; a panel's
    ``stem`` drives every bend that names no stem of its own."""
    out = []
    for i, p in enumerate(s.panels):
        p = dict(p)
        stem = p.pop("stem", None)
        panel = dataclasses.replace(s, panels=[], frames_dir=str(work / f"panel{i}"), **p)
        if stem is not None:
            panel = dataclasses.replace(panel, stem=panel.stem or stem,
                                        bends=[b if b.stem else dataclasses.replace(b, stem=stem) for b in panel.bends])
        out.append(panel)
    return out


def _plot_drives(panels: list[RenderSettings], drives_per_panel: list[list[Drive]], path: Path) -> Path:
    """One row per bend (of every panel): its driver, raw and as smoothed (what was mapped onto r)."""
    from .plotting import plot_features

    rows = []
    for k, (s, drives) in enumerate(zip(panels, drives_per_panel)):
        for row in _driver_rows(s, drives):
            rows.append((f"panel {k}: {row[0]}" if len(panels) > 1 else row[0], *row[1:]))
    return plot_features(path, rows, fps=panels[0].fps, title=f"{Path(panels[0].audio).name}: what drives each bend")


def _driver_rows(s: RenderSettings, drives: list[Drive]) -> list:
    panels = []
    for bend, drive in zip(s.all_bends(), drives):
        source = (f"constant {bend.constant:g}" if bend.constant is not None else "keyframes"
                  if bend.keyframes is not None else bend.feature + (f" of {Path(bend.stem).name}" if bend.stem else ""))
        label = f"{bend.op}  <-  {source}" + (f"  (smoothing {bend.smooth})" if bend.smooth else "")
        smoothed = drive.smoothed if bend.smooth and drive.feature.ndim == 1 else None
        panels.append((label, drive.feature, smoothed))
    return panels


def excerpt_frames(s: RenderSettings, n: int) -> tuple[int, int]:
    """Frames [first, stop) of the excerpt ``s.start`` .. ``s.start + s.duration`` of a song of n frames."""
    if n == 0:
        raise NetbendError(f"audio {s.audio} is shorter than one frame at {s.fps:g} fps")
    first = math.floor(s.start * s.fps + 1e-9)  # 0.7 s at 10 fps is frame 7, not 6.999...
    stop = n if s.duration is None else min(n, math.floor((s.start + s.duration) * s.fps + 1e-9))
    if first >= n or stop <= first:
        span = f"--start {s.start:g} s" + ("" if s.duration is None else f" with --duration {s.duration:g} s")
        raise NetbendError(f"{span} holds no whole frame of this song ({n / s.fps:.2f} s at {s.fps:g} fps)")
    return first, stop


def settings_key(s: RenderSettings, drives: list[Drive], n: int) -> dict:
    """What decides the frames' content: the settings (less output, excerpt, batch and where
    frames go) and every bend's parameter values, which follow from the audio files."""
    import hashlib

    skip = {"audio", "output", "overwrite", "frames_dir", "start", "duration", "batch", "device", "panels",
            "op", "feature", "stem", "smooth", "curve", "invert", "layer", "range", "site", "steps_active", "channels",
            "bends"}
    settings = {k: v for k, v in dataclasses.asdict(s).items() if k not in skip}
    # the bends as they act (flags or scene alike), without the stems' paths: their content is in the drives
    settings["bends"] = [{k: v for k, v in dataclasses.asdict(b).items() if k != "stem"} for b in s.all_bends()]
    settings["device"] = models.pick_device(s.device).type  # cpu float32 and cuda float16 differ
    settings["song_frames"] = n  # the noise walk spreads over the whole song
    digest = hashlib.sha256()
    for d in drives:
        digest.update(np.ascontiguousarray(d.r, dtype=np.float64).tobytes())
        digest.update(b"-" if d.active is None else np.packbits(d.active).tobytes())
    return {"netbend": __version__, "settings": settings, "drives_sha256": digest.hexdigest()}


class FrameStore:
    """Finished frames as PNGs (``00000.png`` ...) in a folder, with the key of the settings
    that made them; frames made under other settings are never mixed in."""

    def __init__(self, folder: Path, key: dict, *, overwrite: bool):
        self.folder = folder
        if folder.exists() and not folder.is_dir():
            raise NetbendError(f"frames folder {folder} is a file")
        meta = folder / "netbend-frames.json"
        key = json.loads(json.dumps(key))  # as it reads back from the file
        if meta.exists():
            kept = json.loads(meta.read_text())
            if kept != key:
                if not overwrite:
                    changed = sorted(k for k in set(kept.get("settings", {})) | set(key["settings"])
                                     if kept.get("settings", {}).get(k) != key["settings"].get(k))
                    if kept.get("drives_sha256") != key["drives_sha256"]:
                        changed.append("the bends' parameter values (audio or driver)")
                    if kept.get("netbend") != key["netbend"]:
                        changed.append("netbend's version")
                    raise NetbendError(f"frames in {folder} were made with other settings ({', '.join(changed)}); "
                                       "pass --overwrite to discard them, or use another --frames-dir")
                self.remove()
        folder.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps(key, indent=1))

    def path(self, i: int) -> Path:
        return self.folder / f"{i:05d}.png"

    def has(self, i: int) -> bool:
        return self.path(i).exists()

    def save(self, i: int, frame: np.ndarray) -> None:
        from PIL import Image

        tmp = self.folder / f".{i:05d}.tmp.png"
        Image.fromarray(frame).save(tmp)
        os.replace(tmp, self.path(i))  # a frame is either whole or absent

    def load(self, i: int) -> np.ndarray:
        from PIL import Image

        return np.asarray(Image.open(self.path(i)).convert("RGB"))

    def remove(self) -> None:
        """Delete the frames and the record of their settings, nothing else; the folder too if that empties it."""
        for f in [*self.folder.glob("[0-9][0-9][0-9][0-9][0-9].png"), *self.folder.glob(".[0-9]*.tmp.png"),
                  self.folder / "netbend-frames.json"]:
            f.unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass  # the user's own files are there too


def _bend_records(s: RenderSettings, drives: list[Drive]) -> list[dict]:
    """What the sidecar says of each bend: its settings and its driver's values per frame."""
    return [{
        "op": str(bend.chain()), "site": bend.site, "channels": str(sites.parse_channels(bend.channels)),
        # latent: bent before each of these steps; UNet sites: while these steps run; VAE sites: at decode time
        ("steps_bent" if bend.site == sites.LATENT else "steps_active"):
            None if bend.steps_bent(s.steps) is None else list(bend.steps_bent(s.steps)),
        "feature": bend.feature,
        "stem": bend.stem, "smooth": bend.smooth, "curve": bend.curve, "invert": bend.invert,
        "constant": bend.constant, "keyframes": bend.keyframes, "window": bend.window,
        "range": bend.param_range(),
        "frames": {
            "feature": drive.feature.tolist(),
            "smoothed": None if drive.smoothed is None else drive.smoothed.tolist(),
            "r": drive.r.tolist(),
            "active": None if drive.active is None else drive.active.tolist(),
        },
    } for bend, drive in zip(s.all_bends(), drives)]


def _sidecar(s: RenderSettings, model: dict | None, audio: audio_io.Audio, n: int, drives: list[Drive],
             excerpt: tuple[int, int]) -> dict:
    import diffusers

    return {
        "netbend": __version__,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": dataclasses.asdict(s),
        "model": model if model is not None else {"source": s.model, "note": "every frame was already on disk"},
        "audio": {"path": str(audio.path), "sample_rate": audio.sr, "channels": audio.samples.shape[0],
                  "duration_s": audio.duration},
        "video": {"n_frames": excerpt[1] - excerpt[0], "first_frame": excerpt[0], "song_frames": n, "fps": s.fps,
                  "width": s.size[0], "height": s.size[1]},
        "time_s": (np.arange(n) / s.fps).tolist(),
        "bends": _bend_records(s, drives),
    }
