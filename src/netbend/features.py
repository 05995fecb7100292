"""Audio features, one value per video frame.

Every feature is a function ``(audio, fps) -> np.ndarray [shape=(n_frames,)]`` registered
by name, with ``n_frames = floor(duration * fps)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .audio import Audio, frame_slices
from .errors import NetbendError


def rms(audio: Audio, fps: float) -> np.ndarray:
    """Root mean square of each frame's slice of the mono mix: ``sqrt(mean(x**2))``."""
    slices = frame_slices(audio.mono, audio.sr, fps)  # (n_frames, samples per frame)
    return np.sqrt(np.mean(np.square(slices, dtype=np.float64), axis=1))


FEATURES: dict[str, Callable[[Audio, float], np.ndarray]] = {"rms": rms}


def check(name: str) -> None:
    """Raise `NetbendError` if ``name`` is not a known feature."""
    if name not in FEATURES:
        raise NetbendError(f"unknown feature {name!r}; known features: {', '.join(FEATURES)}")


def compute(name: str, audio: Audio, fps: float) -> np.ndarray:
    """The feature ``name`` of ``audio``, shape ``(n_frames,)``, float64."""
    check(name)
    return FEATURES[name](audio, fps)
