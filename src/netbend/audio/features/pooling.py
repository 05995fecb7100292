"""Pooling features computed on short audio frames onto video frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from . import Analysis


def hop_length(analysis: Analysis) -> int:
    """A power-of-two hop of at most a quarter video frame and 512 samples, so that an
    onset lands in the frame it happens in."""
    per_frame = analysis.audio.sr / analysis.fps
    return int(max(32, min(512, 2 ** np.floor(np.log2(per_frame / 4)))))


def pool(values: np.ndarray, hop: int, *, n_frames: int, fps: float, sr: int, how: str = "mean") -> np.ndarray:
    """Short frames (d, T) or (T,), frame t at sample t * hop, to video frames: (n_frames, d) or (n_frames,).

    Video frame i takes the short frames that fall in its slice ``[i sr / fps, (i + 1) sr / fps)``
    (their mean, or max).
    """
    n = n_frames
    one_dim = values.ndim == 1
    values = np.atleast_2d(values)  # (d, T)
    centres = np.arange(values.shape[-1]) * hop
    owner = np.floor(centres * fps / sr).astype(np.int64)  # video frame of each
    keep = owner < n
    owner, values = owner[keep], values[:, keep]
    out = np.zeros((values.shape[0], n))
    if how == "max":
        np.maximum.at(out.T, owner, values.T)
    else:
        np.add.at(out.T, owner, values.T)
        out /= np.maximum(np.bincount(owner, minlength=n), 1)
    return out[0] if one_dim else out.T  # a (1, T) input stays (n_frames, 1)


def grid(analysis: Analysis) -> dict:
    """The keyword arguments of `pool` that place short frames on ``analysis``'s video frames."""
    return {"n_frames": analysis.n_frames, "fps": analysis.fps, "sr": analysis.audio.sr}
