from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile


# The suite runs on the CPU (CI); NETBEND_TEST_DEVICE=cuda runs it on a GPU in float16 (benchmarks/gpu.sh).
DEVICE = os.environ.get("NETBEND_TEST_DEVICE", "cpu")


def tone(duration: float, sr: int = 16000, freq: float = 440.0, channels: int = 2) -> np.ndarray:
    """A sine whose loudness ramps up and pulses, so RMS varies: (n, channels) float32."""
    t = np.arange(round(duration * sr)) / sr
    env = 0.1 + 0.8 * (t / duration) * (0.5 + 0.5 * np.cos(2 * np.pi * 2 * t))
    y = env * np.sin(2 * np.pi * freq * t)
    return np.repeat(y[:, None], channels, axis=1).astype(np.float32)


@pytest.fixture
def wav(tmp_path: Path):
    """Write a synthetic clip to tmp_path and return its path: wav(duration, sr=..., name=...)."""

    def make(duration: float, *, sr: int = 16000, name: str = "clip.wav", channels: int = 2) -> Path:
        path = tmp_path / name
        soundfile.write(path, tone(duration, sr, channels=channels), sr)
        return path

    return make


@pytest.fixture(scope="session")
def tiny_model():
    from netbend.generation import models

    return models.load("tiny", device=DEVICE)


STEPS = 3  # denoising steps of the tiny renders in the tests


def settings(tmp_path: Path, clip, **kw):
    """A RenderJob for a fast tiny-model render of ``clip`` (64x64, 3 steps, 10 fps). Generation
    and bend settings may be given flat, as on the command line (they make the flags' bend);
    ``panels`` as mappings of what each panel changes."""
    import dataclasses

    from netbend.settings import Bend, Generation, Panel, RenderJob

    base = dict(audio=str(clip), output=str(tmp_path / "out.mp4"), model="tiny", steps=STEPS, size=(64, 64),
                fps=10, device=DEVICE)
    kw = {**base, **kw}
    bend = {k: kw.pop(k) for k in list(kw) if k in {f.name for f in dataclasses.fields(Bend)}}
    generation = Generation(**{k: kw.pop(k) for k in list(kw) if k in {f.name for f in dataclasses.fields(Generation)}})
    bends = ([Bend(**bend, by_flags=True)] if bend else []) + list(kw.pop("bends", []))
    panels = [p if isinstance(p, Panel) else Panel(dataclasses.replace(generation, **{k: v for k, v in p.items() if k not in ("bends", "stem")}),
                                                   p.get("bends", bends), p.get("stem"))
              for p in kw.pop("panels", [])]
    return RenderJob(generation=generation, bends=bends, panels=panels, **kw)


def render_frames(s, model) -> np.ndarray:
    """All frames of ``s``'s (first) panel as uint8 (n, H, W, 3), without writing a video."""
    from netbend import audio
    from netbend.jobs.render import all_drives, panel_frames

    song = audio.load(s.audio)
    n = audio.frames_of(song, s.fps)
    drives = all_drives(s, song, n)[0]
    frames = panel_frames(s.as_panels()[0], model, drives, n_frames=n, fps=s.fps, batch=s.batch, names=s.bend_names())
    return np.stack([f for _, f in frames])
