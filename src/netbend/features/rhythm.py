"""Features computed with librosa on its own short frames, pooled onto video frames."""

from __future__ import annotations

import numpy as np

from ..errors import NetbendError
from . import register


def _hop(analysis) -> int:
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


def _grid(analysis) -> dict:
    return {"n_frames": analysis.n_frames, "fps": analysis.fps, "sr": analysis.audio.sr}


def _onset_envelope(analysis) -> tuple[np.ndarray, int]:
    if "onset" not in analysis.cache:
        import librosa

        hop = _hop(analysis)
        analysis.cache["onset"] = (librosa.onset.onset_strength(y=analysis.audio.mono, sr=analysis.audio.sr, hop_length=hop), hop)
    return analysis.cache["onset"]


@register("onset", "onset strength (librosa), the largest in each frame")
def onset(analysis):
    env, hop = _onset_envelope(analysis)
    return pool(env, hop, **_grid(analysis), how="max")


def beat_times(analysis) -> np.ndarray:
    """Beat times in seconds, tracked with a tempo that may change over the song."""
    import librosa

    env, hop = _onset_envelope(analysis)
    sr = analysis.audio.sr
    tempo = librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=hop, aggregate=None)  # local tempo per frame
    _, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hop, bpm=tempo, units="time", trim=False)
    return np.asarray(beats)


@register("beat", "1 on each detected beat, decaying exponentially (decay: seconds) until the next", decay=0.15)
def beat(analysis, decay):
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
def chroma(analysis):
    import librosa

    hop = _hop(analysis)
    c = librosa.feature.chroma_stft(y=analysis.audio.mono, sr=analysis.audio.sr, hop_length=hop)
    return pool(c, hop, **_grid(analysis))


@register("mfcc", "mel-frequency cepstral coefficients (librosa), n-d", n=13)
def mfcc(analysis, n):
    import librosa

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise NetbendError(f"mfcc: n must be a positive integer, got {n!r}")
    hop = _hop(analysis)
    m = librosa.feature.mfcc(y=analysis.audio.mono, sr=analysis.audio.sr, n_mfcc=n, hop_length=hop,
                             n_mels=max(128, n))  # n coefficients need at least n mel bands
    return pool(m, hop, **_grid(analysis))
