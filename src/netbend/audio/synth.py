"""A short synthesized track with a beat, so the demo runs on any machine without files."""

from __future__ import annotations

import numpy as np


def track(*, duration: float = 8.0, sr: int = 44100, bpm: float = 120.0, seed: int = 0) -> np.ndarray:
    """A stereo drum-and-pad loop that builds up: kick on every beat, hi-hat on off-beats,
    a minor chord swelling over the whole track, louder in its second half.

    Returns
    -------
    np.ndarray [shape=(2, round(duration * sr))] float32 in [-1, 1]
    """
    rng = np.random.default_rng(seed)
    n = round(duration * sr)
    t = np.arange(n) / sr
    beat = 60.0 / bpm
    since_beat = t % beat
    # kick: a sine sweeping 120 -> 40 Hz under a fast exponential decay
    phase = 2 * np.pi * (40 * since_beat + 80 * 0.03 * (1 - np.exp(-since_beat / 0.03)))
    kick = np.sin(phase) * np.exp(-since_beat / 0.12)
    # hi-hat: noise bursts half a beat after each kick
    since_off = (t + beat / 2) % beat
    hat = rng.standard_normal(n) * np.exp(-since_off / 0.02) * 0.25
    # pad: A minor triad with a slow swell
    pad = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)) / 3
    pad *= 0.25 * (0.5 - 0.5 * np.cos(2 * np.pi * t / duration))
    build = np.where(t < duration / 2, 0.5, 1.0)  # the second half hits harder
    left = build * (kick + hat * 0.8) + pad
    right = build * (kick + hat * 1.2) + pad
    y = np.stack([left, right])
    return (0.9 * y / np.abs(y).max()).astype(np.float32)
