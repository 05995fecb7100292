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
from ..settings.scene import to_mapping


def settings_record(job: RenderJob) -> dict:
    """Every setting of ``job``, defaults included, as the sidecar records them."""
    return to_mapping(job, defaults=True)


def bend_records(panel: Panel, drives: list[Drive]) -> list[dict]:
    """What the sidecar says of each bend: every setting, as it acted (the chain and channels as
    parsed, the range mapped onto, the steps it bent: before these for the latent, while these
    ran for a UNet module, None for a decoder module), and its driver's values per frame."""
    from ..generation.channels import parse_channels

    records = []
    for bend, drive in zip(panel.stem_bends(), drives):
        bent = bend.steps_bent(panel.generation.steps)
        records.append({
            **to_mapping(bend, defaults=True),
            "op": str(bend.chain()), "channels": str(parse_channels(bend.channels)),
            "range": bend.param_range(), "steps_bent": None if bent is None else list(bent),
            "frames": {
                "feature": drive.feature.tolist(),
                "smoothed": None if drive.smoothed is None else drive.smoothed.tolist(),
                "r": drive.r.tolist(),
                "active": None if drive.active is None else drive.active.tolist(),
            },
        })
    return records


def sidecar(job: RenderJob, *, model: dict | None, song: Audio, n_frames: int, excerpt: tuple[int, int],
            panels: list[Panel], drives: list[list[Drive]]) -> dict:
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
                  "fps": job.fps, "width": job.generation.size[0] * len(panels), "height": job.generation.size[1]},
        "time_s": (np.arange(n_frames) / job.fps).tolist(),
        "bends": bend_records(panels[0], drives[0]),
    }
    if job.panels:  # settings as written (``job``), bends as they acted (``panels``: times in seconds)
        record["panels"] = [{"settings": to_mapping(w.generation, defaults=True), "stem": p.stem,
                             "bends": bend_records(p, d)} for w, p, d in zip(job.panels, panels, drives)]
    return record


def plot_drives(panels: list[Panel], drives: list[list[Drive]], path: Path, *, fps: float, title: str) -> Path:
    """One row per bend (of every panel): its driver, raw and as smoothed (what was mapped onto r)."""
    from ..output.plots import plot_features

    rows = []
    for k, (panel, ds) in enumerate(zip(panels, drives)):
        for bend, drive in zip(panel.stem_bends(), ds):
            label, raw, smoothed = _row(bend, drive)
            rows.append((f"panel {k}: {label}" if len(panels) > 1 else label, raw, smoothed))
    return plot_features(path, rows, fps=fps, title=title)


def _row(bend: Bend, drive: Drive) -> tuple[str, np.ndarray, np.ndarray | None]:
    label = f"{bend.op}  <-  {bend.driver()}" + (f"  (smoothing {bend.smooth})" if bend.smooth else "")
    smoothed = drive.smoothed if bend.smooth and drive.feature.ndim == 1 else None
    return label, drive.feature, smoothed
