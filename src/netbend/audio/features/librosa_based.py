"""Features computed with librosa (onset, beat, chroma, mfcc) on its own short frames, pooled onto video frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...errors import NetbendError
from . import register
from .pooling import grid, hop_length, pool

if TYPE_CHECKING:
    from . import Analysis


def _onset_envelope(analysis: Analysis) -> tuple[np.ndarray, int]:
    if "onset" not in analysis.cache:
        import librosa

        hop = hop_length(analysis)
        analysis.cache["onset"] = (librosa.onset.onset_strength(y=analysis.audio.mono, sr=analysis.audio.sr, hop_length=hop), hop)
    return analysis.cache["onset"]


@register("onset", "onset strength (librosa), the largest in each frame")
def onset(analysis: Analysis) -> np.ndarray:
    env, hop = _onset_envelope(analysis)
    return pool(env, hop, **grid(analysis), how="max")


def beat_times(analysis: Analysis) -> np.ndarray:
    """Beat times in seconds, tracked with a tempo that may change over the song."""
    import librosa

    env, hop = _onset_envelope(analysis)
    sr = analysis.audio.sr
    tempo = librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=hop, aggregate=None)  # local tempo per frame
    _, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hop, bpm=tempo, units="time", trim=False)
    return np.asarray(beats)


@register("beat", "1 on each detected beat, decaying exponentially (decay: seconds) until the next", decay=0.15)
def beat(analysis: Analysis, decay: float) -> np.ndarray:
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < float("inf"):
        raise NetbendError(f"beat: decay must be positive seconds, got {decay!r}")
    times = beat_times(analysis)
    if len(times) == 0:
        return np.zeros(analysis.n_frames)
    t = np.arange(analysis.n_frames) / analysis.fps  # frame starts
    # the latest beat before the end of each frame (a beat on a boundary belongs to the later frame)
    idx = np.searchsorted(times, t + 1.0 / analysis.fps, side="left") - 1
    since = np.where(idx >= 0, t - times[np.maximum(idx, 0)], np.inf)
    return np.exp(-np.maximum(since, 0.0) / decay)


@register("chroma", "12 pitch-class energies (librosa chroma_stft), 12-d")
def chroma(analysis: Analysis) -> np.ndarray:
    import librosa

    hop = hop_length(analysis)
    c = librosa.feature.chroma_stft(y=analysis.audio.mono, sr=analysis.audio.sr, hop_length=hop)
    return pool(c, hop, **grid(analysis))


@register("mfcc", "mel-frequency cepstral coefficients (librosa), n-d", n=13)
def mfcc(analysis: Analysis, n: int) -> np.ndarray:
    import librosa

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise NetbendError(f"mfcc: n must be a positive integer, got {n!r}")
    hop = hop_length(analysis)
    m = librosa.feature.mfcc(y=analysis.audio.mono, sr=analysis.audio.sr, n_mfcc=n, hop_length=hop,
                             n_mels=max(128, n))  # n coefficients need at least n mel bands
    return pool(m, hop, **grid(analysis))
