"""The musical beat grid: beats tracked once per song, bars of ``meter`` beats laid over them.

Tracking
--------
librosa's dynamic-programming beat tracker (Ellis 2007) runs on an onset envelope with a hop
of about 10 ms (`track_hop`: the same at every video frame rate), guided by a local tempo
estimate per envelope frame
(``librosa.feature.tempo(aggregate=None)``), so the tempo may change over the song.

Rubato: the tracker follows a *slowly* changing local tempo. An accelerando, or a new tempo
held for a few bars, is picked up within a few beats; free rubato, a sudden change or a
fermata is not. There it keeps its last period and ticks on, drifting off the music, until
onsets pull it back. It never leaves a gap either: it places beats through silence and held
notes alike (the silent fermatas of a slow orchestral opening get beats). netbend drops the
beats that nothing in the audio supports rather than inventing or interpolating any:

- **silent**: the loudest RMS frame (2048 samples, one per envelope hop) within half a beat
  period of the beat is more than 50 dB below the song's loudest frame. Classical recordings,
  the widest in dynamics, span about 40 dB between their loudest and their quietest playing;
  50 dB below the peak is reverberation tails, room and tape noise, or digital silence.
- **no pulse**: in the window of one beat period either side of the beat, the onset
  envelope's peak does not stand clearly above the window's floor, its median:
  ``peak - median < 2 * median + 0.1``. The median is the floor because onsets take up fewer
  than half of the frames of any pulsed window. Broadband noise, a held chord with vibrato
  or reverberation peak at 0.3-0.7 medians above the median; clicks, drums, plucked or struck
  notes, even brushes under a pad and noise, at 4 or more, whatever the hop (a ratio). The
  0.1 (the envelope's unit: dB of rise, averaged over mel bands) keeps the numerical ripple
  of a steady tone, whose floor is about 0, from counting; audible onsets rise by far more.
  So the second beat of a note held for two beats is kept (its onset is one period away),
  the inner beats of a note held longer are dropped.

A beat that fails both counts as silent. Bars are counted over the kept beats, by index:
after a dropped stretch, downbeats stay right only if a whole number of bars was dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NetbendError

if TYPE_CHECKING:
    from .features import Analysis

SILENCE_DB = -50.0  # a beat's neighbourhood this far below the song's loudest frame is silent
PULSE_RATIO = 2.0  # an onset rises above the window's median by at least this many medians ...
PULSE_MIN = 0.1  # ... plus this much (onset-envelope units, dB of rise): numerical ripple is no onset
RMS_FRAME = 2048  # samples per RMS frame, the onset envelope's FFT size


@dataclass(frozen=True)
class Tracking:
    """The beats tracked in one analysis, before a meter is laid over them (times in seconds)."""

    times: np.ndarray  # (n,) kept beats, strictly increasing
    silent: np.ndarray  # (k,) beats dropped as silent
    no_pulse: np.ndarray  # (m,) beats dropped for want of a pulse


@dataclass(frozen=True)
class BeatGrid:
    """Beat times with bars of ``meter`` beats over them.

    Parameters
    ----------
    times : np.ndarray [shape=(n,)]
        Beat times in seconds, float64, strictly increasing (may be empty).
    meter : int
        Beats per bar.
    bar_offset : int
        Bar 1 starts this many beats after the first tracked beat (a pickup); negative when
        the tracker missed the song's first beats.
    duration : float
        The song's length in seconds.
    """

    times: np.ndarray
    meter: int = 4
    bar_offset: int = 0
    duration: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.meter, bool) or not isinstance(self.meter, (int, np.integer)) or self.meter < 1:
            raise NetbendError(f"meter must be a positive whole number of beats, got {self.meter!r}")
        if isinstance(self.bar_offset, bool) or not isinstance(self.bar_offset, (int, np.integer)):
            raise NetbendError(f"bar offset must be a whole number of beats, got {self.bar_offset!r}")
        object.__setattr__(self, "times", np.asarray(self.times, dtype=np.float64).reshape(-1))

    def __len__(self) -> int:
        return len(self.times)

    @property
    def bpm(self) -> np.ndarray:
        """Local tempo at each beat, beats per minute, shape (n,).

        60 over the mean of the intervals between beats within two beats of it, leaving out
        gaps (an interval over 1.5 times the median of it and its neighbours: beats were dropped
        there), so one gap does not show as a slow tempo, and the beat times' quantisation to the
        analysis hop (which makes single intervals alternate by a few per cent) averages out.
        The last beat takes the interval before it. A grid of fewer than two beats has no
        tempo: 0.
        """
        if len(self.times) < 2:
            return np.zeros(len(self.times))
        d = np.diff(self.times)
        d = np.append(d, d[-1])  # (n,) interval from each beat to the next
        neighbours = np.stack([np.append(d[:1], d[:-1]), d, np.append(d[1:], d[-1:])])  # (3, n), edges repeated
        median = np.median(neighbours, axis=0)
        valid = d <= 1.5 * median
        window = np.ones(5)
        total = np.convolve(np.where(valid, d, 0.0), window, mode="same")
        count = np.convolve(valid.astype(float), window, mode="same")
        return 60.0 / np.where(count > 0, total / np.maximum(count, 1), median)

    @property
    def positions(self) -> np.ndarray:
        """Each beat's count from the start of bar 1, 0-based, shape (n,): ``i - bar_offset``."""
        return np.arange(len(self.times)) - self.bar_offset

    @property
    def downbeat(self) -> np.ndarray:
        """Whether each beat starts a bar, bool, shape (n,)."""
        return self.positions % self.meter == 0

    def bar_beat(self, i: int) -> tuple[int, int]:
        """1-based (bar, beat in bar) of beat ``i`` (0-based); beats before bar 1 are in bar 0 or below
        (with ``bar_offset=1``, beat 0 is bar 0, beat ``meter``)."""
        if not 0 <= i < len(self.times):
            raise NetbendError(f"beat index {i} is outside the grid's {len(self.times)} beats")
        k = int(i) - self.bar_offset
        return k // self.meter + 1, k % self.meter + 1


def track(analysis: Analysis, *, meter: int = 4, bar_offset: int = 0) -> BeatGrid:
    """The beat grid of ``analysis``'s audio with bars of ``meter`` beats.

    The beats are tracked once per analysis (`tracked`); laying a meter over them is cheap.
    """
    return BeatGrid(tracked(analysis).times, meter, bar_offset, analysis.audio.duration)


def track_hop(sr: int) -> int:
    """The onset envelope's hop for tracking: the power of two nearest 10 ms (256 samples at
    22.05 kHz, 512 at 44.1 and 48 kHz), whatever the video's frame rate, so the grid of a song
    is the same at every --fps."""
    return int(2 ** np.round(np.log2(sr / 100)))


def tracked(analysis: Analysis) -> Tracking:
    """The beats of ``analysis``'s audio, kept and dropped, tracked once and cached in ``analysis.cache``."""
    if "beats" not in analysis.cache:
        analysis.cache["beats"] = _track(analysis)
    return analysis.cache["beats"]


def _track(analysis: Analysis) -> Tracking:
    import librosa

    sr = analysis.audio.sr
    hop = track_hop(sr)
    env = librosa.onset.onset_strength(y=analysis.audio.mono, sr=sr, hop_length=hop)  # (T,)
    if not np.any(env > 0):  # silence, or a tone without a single onset
        return Tracking(*(np.zeros(0) for _ in range(3)))
    tempo = librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=hop, aggregate=None)  # (T,) bpm per frame
    _, frames = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hop, bpm=tempo, trim=False)
    frames = np.unique(np.asarray(frames, dtype=np.int64))
    if len(frames) == 0:
        return Tracking(*(np.zeros(0) for _ in range(3)))
    if len(frames) > 1:
        d = np.diff(frames).astype(np.float64)
        period = (np.append(d[:1], d) + np.append(d, d[-1:])) / 2  # (n,) frames, mean of the intervals on each side
    else:
        period = np.array([60.0 / tempo[min(frames[0], len(tempo) - 1)] * sr / hop])
    rms = librosa.feature.rms(y=analysis.audio.mono, frame_length=RMS_FRAME, hop_length=hop)[0]  # (T',)
    silent = np.nanmax(_window(rms, frames, period / 2), axis=1) < rms.max() * 10 ** (SILENCE_DB / 20)
    around = _window(env, frames, period)  # (n, w), NaN outside each beat's window
    floor = np.nanmedian(around, axis=1)
    pulse = np.nanmax(around, axis=1) - floor >= PULSE_RATIO * floor + PULSE_MIN
    times = librosa.frames_to_time(frames, sr=sr, hop_length=hop).astype(np.float64)
    return Tracking(times[~silent & pulse], times[silent], times[~silent & ~pulse])


def _window(values: np.ndarray, centres: np.ndarray, half: np.ndarray) -> np.ndarray:
    """``values`` within ``half`` frames of each centre, (n, 2 max(half) + 1); NaN outside a window or
    ``values`` (a centre past the end stands for the last frame)."""
    centres = np.minimum(centres, len(values) - 1)
    reach = int(np.ceil(half.max()))
    idx = centres[:, None] + np.arange(-reach, reach + 1)[None, :]  # (n, w)
    inside = (np.abs(idx - centres[:, None]) <= half[:, None]) & (idx >= 0) & (idx < len(values))
    return np.where(inside, values[np.clip(idx, 0, len(values) - 1)], np.nan)
