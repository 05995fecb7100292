from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile

from netbend import NetbendError, audio
from netbend.audio import features, mapping
from netbend.audio import Audio


def make(y, sr):
    return Audio(np.asarray(y, np.float32)[None], sr, path=None)


@pytest.mark.parametrize(("n", "sr", "fps", "expected"), [
    (16000 * 3, 16000, 20, 60),
    (16000 * 3 - 1, 16000, 20, 59),  # a sample short of 3 s: the last frame is not whole
    (44100 * 2 + 1837, 44100, 24, 48),  # sr / fps = 1837.5
    (48000 * 10, 48000, 29.97, 299),
])
def test_frame_count_is_floor_of_duration_times_fps(n, sr, fps, expected):
    assert audio.frame_count(n, sr, fps) == expected
    assert len(audio.frame_slices(np.zeros(n), sr, fps)) == expected


def test_slices_do_not_drift_when_sr_over_fps_is_fractional():
    y = np.arange(44100 * 2, dtype=np.float64)
    slices = audio.frame_slices(y, 44100, 24)  # 1837.5 samples per frame
    assert slices.shape == (48, 1837)
    # slice i starts at floor(i * 1837.5), not at i * 1837
    assert slices[47, 0] == int(47 * Fraction(44100, 24))


def test_rms_of_a_sine_is_amplitude_over_root_two_and_silence_is_zero():
    sr, fps = 40000, 20  # 2000-sample slices hold whole periods of 1 kHz
    t = np.arange(sr * 2) / sr
    y = np.concatenate([0.6 * np.sin(2 * np.pi * 1000 * t), np.zeros(sr)])
    rms = features.compute("rms", make(y, sr), fps)
    assert rms.shape == (60,)
    np.testing.assert_allclose(rms[:40], 0.6 / np.sqrt(2), rtol=1e-6)
    assert np.all(rms[40:] == 0)


def test_mapping_is_min_max_and_constant_maps_to_low_end():
    np.testing.assert_allclose(mapping.to_range(np.array([2.0, 4.0, 3.0]), 1.0, 11.0), [1.0, 11.0, 6.0])
    silent = features.compute("rms", make(np.zeros(16000), 16000), 20)
    r = mapping.to_range(silent, 0.5, 6.0)
    assert np.all(r == 0.5) and not np.isnan(r).any()


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "MP3"])
def test_load_soundfile_formats_mixes_to_mono_at_own_rate(tmp_path, fmt):
    sr = 22050 if fmt != "MP3" else 24000
    t = np.arange(sr) / sr
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), 0.1 * np.ones_like(t)], axis=1)
    path = tmp_path / f"a.{fmt.lower()}"
    soundfile.write(path, stereo, sr, format=fmt)
    a = audio.load(path)
    assert a.sr == sr and a.samples.shape[0] == 2 and a.mono.ndim == 1
    assert abs(a.duration - 1.0) < 0.1  # lossy codecs pad a little
    if fmt in ("WAV", "FLAC"):
        np.testing.assert_allclose(a.mono, stereo.mean(axis=1), atol=1e-4)


def test_load_m4a_through_pyav(tmp_path):
    sr = 44100
    path = tmp_path / "a.m4a"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=sr)
        s.layout = "mono"
        y = (0.3 * np.sin(2 * np.pi * 440 * np.arange(sr * 2) / sr)).astype(np.float32)[None]
        f = av.AudioFrame.from_ndarray(y, format="fltp", layout="mono")
        f.sample_rate, f.pts = sr, 0
        c.mux(s.encode(f))
        c.mux(s.encode(None))
    a = audio.load(path)
    assert a.sr == sr and abs(a.duration - 2.0) < 0.1
    rms = features.compute("rms", a, 10)
    np.testing.assert_allclose(np.median(rms), 0.3 / np.sqrt(2), rtol=0.05)


def test_load_errors(tmp_path):
    with pytest.raises(NetbendError, match="not found"):
        audio.load(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio" * 100)
    with pytest.raises(NetbendError, match="cannot read audio"):
        audio.load(junk)
