"""What a render writes beside its video: the sidecar JSON and the plot of what drives each bend."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..audio.drives import Drive
from ..audio.io import Audio
from ..settings import Bend, Panel, RenderJob
from ..settings.bend import LATENT
from ..settings.scene import to_mapping


def settings_record(job: RenderJob) -> dict:
    """Every setting of ``job``, defaults included, as the sidecar records them."""
    return to_mapping(job, defaults=True)


def bend_records(picture: Panel, drives: list[Drive]) -> list[dict]:
    """What the sidecar says of each bend: its settings and its driver's values per frame."""
    from ..generation.channels import parse_channels

    steps = picture.generation.steps
    return [{
        "op": str(bend.chain()), "site": bend.site, "channels": str(parse_channels(bend.channels)),
        # latent: bent before each of these steps; UNet sites: while these steps run; VAE sites: at decode time
        ("steps_bent" if bend.site == LATENT else "steps_active"):
            None if bend.steps_bent(steps) is None else list(bend.steps_bent(steps)),
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
    } for bend, drive in zip(picture.stem_bends(), drives)]


def sidecar(job: RenderJob, *, model: dict | None, song: Audio, n_frames: int, excerpt: tuple[int, int],
            pictures: list[Panel], drives: list[list[Drive]]) -> dict:
    """The whole record of a render: settings, versions, model, audio, video, every bend's values."""
    import diffusers
    import torch

    record = {
        "netbend": __version__,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings_record(job),
        "model": model if model is not None else {"source": job.generation.model,
                                                  "note": "every frame was already on disk"},
        "audio": {"path": str(song.path), "sample_rate": song.sr, "channels": song.samples.shape[0],
                  "duration_s": song.duration},
        "video": {"n_frames": excerpt[1] - excerpt[0], "first_frame": excerpt[0], "song_frames": n_frames,
                  "fps": job.fps, "width": job.generation.size[0] * len(pictures), "height": job.generation.size[1]},
        "time_s": (np.arange(n_frames) / job.fps).tolist(),
        "bends": bend_records(pictures[0], drives[0]),
    }
    if job.panels:
        record["panels"] = [{"settings": to_mapping(p.generation, defaults=True), "stem": p.stem,
                             "bends": bend_records(p, d)} for p, d in zip(pictures, drives)]
    return record


def plot_drives(pictures: list[Panel], drives: list[list[Drive]], path: Path, *, fps: float, title: str) -> Path:
    """One row per bend (of every panel): its driver, raw and as smoothed (what was mapped onto r)."""
    from ..output.plots import plot_features

    rows = []
    for k, (picture, ds) in enumerate(zip(pictures, drives)):
        for bend, drive in zip(picture.stem_bends(), ds):
            label, raw, smoothed = _row(bend, drive)
            rows.append((f"panel {k}: {label}" if len(pictures) > 1 else label, raw, smoothed))
    return plot_features(path, rows, fps=fps, title=title)


def _row(bend: Bend, drive: Drive) -> tuple[str, np.ndarray, np.ndarray | None]:
    label = f"{bend.op}  <-  {bend.driver()}" + (f"  (smoothing {bend.smooth})" if bend.smooth else "")
    smoothed = drive.smoothed if bend.smooth and drive.feature.ndim == 1 else None
    return label, drive.feature, smoothed
