"""Loading audio and cutting it into one slice per video frame."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile

from ..errors import NetbendError


@dataclass(frozen=True)
class Audio:
    """A decoded sound file at its own sample rate."""

    samples: np.ndarray  # (channels, n) float32 in [-1, 1], the file's own channels
    sr: int  # Hz
    path: Path

    @property
    def mono(self) -> np.ndarray:
        """The channels mixed down, shape (n,)."""
        return self.samples.mean(axis=0)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples.shape[1] / self.sr


def check_path(path: str | Path) -> Path:
    """``path`` as a Path if it is an existing file; a `NetbendError` saying what it is otherwise."""
    path = Path(path)
    if path.is_dir():
        raise NetbendError(f"audio path {path} is a folder, not a file")
    if not path.is_file():
        raise NetbendError(f"audio file not found: {path}")
    return path


def load(path: str | Path) -> Audio:
    """Decode an audio file: WAV/FLAC/OGG/MP3 through soundfile, anything else FFmpeg reads through PyAV.

    Raises `NetbendError` with one line when the file is missing, unreadable or empty.
    """
    path = check_path(path)
    try:
        data, sr = soundfile.read(path, dtype="float32", always_2d=True)  # (n, channels)
        samples = np.ascontiguousarray(data.T)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        samples, sr = _load_with_pyav(path)
    if samples.shape[1] == 0:
        raise NetbendError(f"audio file has no samples: {path}")
    return Audio(samples, int(sr), path)


def _load_with_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise NetbendError(f"cannot read audio {path}: the file has no audio stream")
            stream = container.streams.audio[0]
            # fltp: float32, one plane per channel, so frames stack to (channels, n)
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=stream.rate)
            chunks = [
                out.to_ndarray()
                for frame in container.decode(stream)
                for out in resampler.resample(frame)
            ]
            chunks += [out.to_ndarray() for out in resampler.resample(None)]
            sr = stream.rate
    except av.FFmpegError as e:
        raise NetbendError(f"cannot read audio {path}: not a format soundfile or FFmpeg can decode ({e.strerror or e})") from None
    if not chunks:
        raise NetbendError(f"audio file has no samples: {path}")
    return np.concatenate(chunks, axis=1).astype(np.float32), sr


def fps_fraction(fps: float) -> Fraction:
    """The frame rate as an exact fraction (integer rates, 23.976/29.97-style rates): audio
    slices and the video's timebase both use it, so they agree."""
    return Fraction(fps).limit_denominator(1_000_000)


def frame_count(n_samples: int, sr: int, fps: float) -> int:
    """``floor(duration * fps)``: the number of whole video frames the audio covers."""
    return math.floor(Fraction(n_samples) * fps_fraction(fps) / sr)


def frames_of(song: Audio, fps: float) -> int:
    """The video frames ``song`` covers at ``fps``; an error if not even one."""
    n = frame_count(song.samples.shape[1], song.sr, fps)
    if n == 0:
        raise NetbendError(f"audio {song.path} ({song.duration:.3f} s) is shorter than one frame at {fps:g} fps")
    return n


def frame_slices(y: np.ndarray, sr: int, fps: float, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Cut ``y`` into non-overlapping slices, one per video frame.

    Slice ``i`` starts at sample ``floor(i * sr / fps)`` (no drift for non-integer
    ``sr / fps``) and is ``floor(sr / fps)`` samples long.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : int  Hz
    fps : float  video frames per second
    start, stop : int  only frames ``start:stop`` (to work through a long song in blocks)

    Returns
    -------
    np.ndarray [shape=(frame_count(n, sr, fps), floor(sr / fps))], or the rows start:stop
    """
    f = fps_fraction(fps)
    n_frames = frame_count(len(y), sr, f)
    stop = n_frames if stop is None else min(stop, n_frames)
    hop = sr * f.denominator  # slice i starts at i * hop // f.numerator
    starts = np.arange(start, max(start, stop), dtype=np.int64) * hop // f.numerator
    length = hop // f.numerator
    return y[starts[:, None] + np.arange(length)]


def align(stem: Audio, song: Audio) -> Audio:
    """``stem`` cut to the song's length, or padded with silence to it (at the stem's own rate),
    so that its features have the song's frames."""
    import math

    n = math.ceil(song.samples.shape[1] * stem.sr / song.sr)
    samples = stem.samples[:, :n]
    if samples.shape[1] < n:
        samples = np.pad(samples, ((0, 0), (0, n - samples.shape[1])))
    return Audio(samples, stem.sr, stem.path)
