"""Writing frames as an H.264 MP4 with the soundtrack muxed in as AAC, via PyAV."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from ..audio.io import Audio, fps_fraction
from ..errors import NetbendError

AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def resample(samples: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Resample (channels, n) float32 audio from ``sr`` to ``target`` Hz with FFmpeg's resampler."""
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=layout)
    frame.sample_rate = sr
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=target)
    out = [f.to_ndarray() for f in resampler.resample(frame)] + [f.to_ndarray() for f in resampler.resample(None)]
    return np.concatenate(out, axis=1)


class VideoWriter:
    """Stream RGB frames into an MP4 at exactly ``fps``, interleaving the audio as it goes.

    The file is written under a temporary name beside ``path`` and renamed into place by
    `close`, so a half-written video never sits under the final name; leaving the
    ``with`` block through an exception deletes it.

    >>> with VideoWriter("out.mp4", fps=20, size=(512, 512), audio=audio) as w:
    ...     w.write(frame)  # (512, 512, 3) uint8
    """

    def __init__(self, path: str | Path, *, fps: float, size: tuple[int, int], audio: Audio | None = None, crf: int = 18):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.rate = fps_fraction(fps)
        self.container = av.open(str(self.partial), "w")
        self.video = self.container.add_stream("libx264", rate=self.rate, options={"crf": str(crf)})
        # one encoder thread: x264's threads make the bytes (and now and then the pixels) of the same
        # frames differ between runs; encoding costs little beside the diffusion that made the frames
        self.video.codec_context.thread_count = 1
        self.video.width, self.video.height = size
        self.video.pix_fmt = "yuv420p"  # what every player reads
        self.frames = 0
        self.audio = audio
        self.audio_done = 0  # samples already sent to the encoder
        if audio is not None:
            # AAC holds mono or stereo here; more channels are mixed down to mono
            samples = audio.samples if audio.samples.shape[0] <= 2 else audio.mono[None]
            # AAC takes a fixed set of rates; others (192 kHz, 37.8 kHz) are resampled to 48 kHz
            self.audio_sr = audio.sr if audio.sr in AAC_RATES else 48000
            self.audio_samples = samples if self.audio_sr == audio.sr else resample(samples, audio.sr, self.audio_sr)
            self.audio_stream = self.container.add_stream("aac", rate=self.audio_sr)
            self.audio_stream.layout = "mono" if self.audio_samples.shape[0] == 1 else "stereo"

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.container.close()
            self.partial.unlink(missing_ok=True)

    def write(self, frame: np.ndarray) -> None:
        """Append one frame, uint8 (H, W, 3) RGB, and the audio up to its end."""
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.frames
        self.container.mux(self.video.encode(vf))
        self.frames += 1
        if self.audio is not None:
            self._write_audio(int(self.frames * self.audio_sr / self.rate))

    def _write_audio(self, end: int) -> None:
        end = min(end, self.audio_samples.shape[1])
        if end <= self.audio_done:
            return
        chunk = np.ascontiguousarray(self.audio_samples[:, self.audio_done:end], dtype=np.float32)
        af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self.audio_stream.layout.name)
        af.sample_rate = self.audio_sr
        af.pts = self.audio_done
        self.container.mux(self.audio_stream.encode(af))
        self.audio_done = end

    def close(self) -> Path:
        """Flush the encoders, add the rest of the audio, and move the file into place."""
        self.container.mux(self.video.encode(None))
        if self.audio is not None:
            self._write_audio(self.audio_samples.shape[1])
            self.container.mux(self.audio_stream.encode(None))
        self.container.close()
        try:
            os.replace(self.partial, self.path)
        except OSError as e:
            self.partial.unlink(missing_ok=True)
            raise NetbendError(f"cannot write {self.path}: {e.strerror}") from None
        return self.path
