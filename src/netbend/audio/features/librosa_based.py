"""Features computed with librosa (onset, beat, downbeat, chroma, mfcc) on its own short frames, pooled onto
video frames; beat and downbeat come from the beat grid of `netbend.audio.beats`."""

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
    """Beat times in seconds of the beat grid (`netbend.audio.beats`): tracked with a tempo that may
    change over the song, none in silence or where there is no pulse."""
    from .. import beats

    return beats.tracked(analysis).times


def _pulses(analysis: Analysis, times: np.ndarray, decay: float) -> np.ndarray:
    """(n_frames,): 1 at each of ``times`` (seconds), decaying exponentially with time constant ``decay``."""
    if len(times) == 0:
        return np.zeros(analysis.n_frames)
    t = np.arange(analysis.n_frames) / analysis.fps  # frame starts
    # the latest beat before the end of each frame (a beat on a boundary belongs to the later frame)
    idx = np.searchsorted(times, t + 1.0 / analysis.fps, side="left") - 1
    since = np.where(idx >= 0, t - times[np.maximum(idx, 0)], np.inf)
    return np.exp(-np.maximum(since, 0.0) / decay)


def _check_decay(name: str, decay: float) -> None:
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < float("inf"):
        raise NetbendError(f"{name}: decay must be positive seconds, got {decay!r}")


@register("beat", "1 on each beat of the beat grid, decaying exponentially (decay: seconds) until the next; "
                  "none in silence or without a pulse", decay=0.15)
def beat(analysis: Analysis, decay: float) -> np.ndarray:
    _check_decay("beat", decay)
    return _pulses(analysis, beat_times(analysis), decay)


@register("downbeat", "1 on each downbeat (first beat of a bar of meter beats; bar 1 starts offset beats after "
                      "the first beat), decaying exponentially (decay: seconds); meter and offset default to the "
                      "render's --meter and --bar-offset", meter=None, offset=None, decay=0.3)
def downbeat(analysis: Analysis, meter: int | None, offset: int | None, decay: float) -> np.ndarray:
    from .. import beats

    _check_decay("downbeat", decay)
    meter = analysis.meter if meter is None else meter
    offset = analysis.bar_offset if offset is None else offset
    if isinstance(meter, bool) or not isinstance(meter, int) or meter < 1:
        raise NetbendError(f"downbeat: meter must be a positive whole number of beats, got {meter!r}")
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise NetbendError(f"downbeat: offset must be a whole number of beats, got {offset!r}")
    grid = beats.track(analysis, meter=meter, bar_offset=offset)
    return _pulses(analysis, grid.times[grid.downbeat], decay)


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
