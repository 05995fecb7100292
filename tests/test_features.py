"""Audio features, smoothing and mapping on synthetic signals with known answers."""

import math
from fractions import Fraction

import librosa
import numpy as np
import pytest

from netbend import NetbendError
from netbend.audio import features, mapping, smoothing
from netbend.audio import Audio
from netbend.audio.features.spectral import PAPER


def make(y, sr):
    return Audio(np.asarray(y, np.float32)[None], sr, path=None)


def sine(freq, sr, seconds, amp=0.5):
    return amp * np.sin(2 * np.pi * freq * np.arange(round(sr * seconds)) / sr)


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_sine_centroid_is_its_frequency_within_a_bin(sr, freq):
    a = make(sine(freq, sr, 1.0), sr)
    bin_hz = sr / (1 << (int(sr / 20) - 1).bit_length())
    c = features.compute("centroid:window=hann", a, 20)
    assert np.all(np.abs(c - freq) < bin_hz)


def test_paper_definition_on_a_bin_aligned_sine():
    # 2048-sample slices need no zero-padding; 1000 Hz is bin 50 of 20 Hz, so the bare
    # spectrum of the paper is a single line and the centroid is exact
    sr, freq = 40960, 1000.0
    a = make(sine(freq, sr, 1.0), sr)
    np.testing.assert_allclose(features.compute("centroid", a, 20), freq, rtol=1e-5)  # float32 audio: FFT noise floor
    assert np.all(features.compute("spread", a, 20) < 20.0)  # under one bin
    flux = features.compute("flux", a, 20)
    assert flux[0] == 0 and np.all(flux[1:] < 1e-6 * np.abs(np.fft.rfft(a.mono[:2048])).sum())
    np.testing.assert_allclose(features.compute("rms", a, 20), 0.5 / math.sqrt(2), rtol=1e-6)


def test_silence_gives_zeros_never_nan():
    a = make(np.zeros(22050), 22050)
    for name in (*PAPER, "bands", "onset", "beat", "chroma", "mfcc", "percussive.rms"):
        values = features.compute(name, a, 20)
        assert np.all(values == 0), name
    # silent stretches inside a song are 0 too (mfcc would give librosa's log floor there)
    y = np.concatenate([sine(440, 22050, 1.0), np.zeros(22050)])
    m = features.compute("mfcc", make(y, 22050), 20)
    assert np.all(m[20:] == 0) and np.all(np.abs(m[:19]).sum(axis=1) > 0)


def test_flux_into_silence_is_the_change_as_in_the_paper():
    # 20480 Hz at 20 fps: 1024-sample slices, a power of two, so the paper's spectrum needs no padding
    sr = 20480
    y = np.concatenate([sine(440, sr, 1.0), np.zeros(sr)])
    flux = features.compute("flux", make(y, sr), 20)
    last_sound = np.abs(np.fft.rfft(y[19 * 1024:20 * 1024])).sum()  # sum |a_t - a_(t-1)| with a_t = 0
    np.testing.assert_allclose(flux[20], last_sound, rtol=1e-5)
    assert np.all(flux[21:] == 0)  # silence after silence: no change
    assert np.all(features.compute("centroid", make(y, sr), 20)[20:] == 0)  # other features stay 0 in silence


def test_a_beat_on_a_frame_boundary_lights_one_frame():
    from netbend.audio.features import librosa_based

    analysis = features.Analysis(make(np.zeros(48000) + 0.1, 48000), 25)
    original = librosa_based.beat_times
    librosa_based.beat_times = lambda _: np.array([0.16])  # exactly the start of frame 4
    try:
        pulse = analysis.compute("beat")
    finally:
        librosa_based.beat_times = original
    assert pulse[3] < 1 and pulse[4] == 1 and pulse[5] == pytest.approx(math.exp(-0.04 / 0.15))


def test_white_noise_has_a_large_spread_and_a_sine_a_small_one():
    sr = 44100
    noise = make(np.random.default_rng(0).standard_normal(sr), sr)
    spread = features.compute("spread", noise, 20)
    assert np.all(spread > 5000)  # uniform over 0..22 kHz: about 22050 / sqrt(12) = 6365 Hz
    assert np.all(features.compute("spread:window=hann", make(sine(1000, sr, 1.0), sr), 20) < 100)


def test_click_track_beat_peaks_on_clicks_and_follows_a_tempo_change():
    sr, fps = 22050, 20
    clicks = np.concatenate([np.arange(0.5, 10, 0.5), np.arange(10, 20, 0.375)])  # 120 bpm, then 160 bpm
    y = librosa.clicks(times=clicks, sr=sr, length=sr * 20)
    beat = features.compute("beat", make(y, sr), fps)
    peaks = np.flatnonzero(beat > 0.9) / fps  # frames where a beat was just detected
    for part in (clicks[(clicks > 2) & (clicks < 9)], clicks[(clicks > 11) & (clicks < 19)]):
        gaps = np.abs(part[:, None] - peaks[None, :]).min(axis=1)
        assert np.mean(gaps <= 1.5 / fps) > 0.9  # nearly every click has a peak within 1.5 frames
    late = peaks[peaks > 11]
    assert np.median(np.diff(late)) == pytest.approx(0.375, abs=1.5 / fps)  # the new, faster tempo


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
@pytest.mark.parametrize("fps", [20, 24, 25, 29.97, 30, 60])
def test_frame_counts_for_awkward_durations_and_rates(sr, fps):
    n = int(3.3337 * sr) + 7
    a = make(np.random.default_rng(1).standard_normal(n) * 0.1, sr)
    expected = math.floor(Fraction(n) * Fraction(str(fps)) / sr)
    analysis = features.Analysis(a, fps)
    for name in ("rms", "flux", "onset", "chroma", "bands"):
        assert len(analysis.compute(name)) == expected, name


def test_multi_dimensional_features_have_their_dimensions():
    a = make(sine(440, 22050, 2.0) + 0.1 * sine(3000, 22050, 2.0), 22050)
    analysis = features.Analysis(a, 20)
    assert analysis.compute("chroma").shape == (40, 12)
    assert np.argmax(analysis.compute("chroma").mean(axis=0)) == 9  # A is pitch class 9
    assert analysis.compute("mfcc:n=7").shape == (40, 7)
    bands = analysis.compute("bands:edges=0/1000/5000/11025")
    assert bands.shape == (40, 3)
    assert bands[:, 0].mean() > 10 * bands[:, 1].mean() > 0 and bands[:, 2].mean() < bands[:, 1].mean() / 100


def test_harmonic_and_percussive_variants_separate_a_tone_from_clicks():
    sr = 22050
    tone = sine(330, sr, 4.0, amp=0.3)
    clicks = librosa.clicks(times=np.arange(0.25, 4, 0.5), sr=sr, length=len(tone))
    analysis = features.Analysis(make(tone + clicks, sr), 20)
    harmonic, percussive = analysis.compute("harmonic.rms"), analysis.compute("percussive.rms")
    assert harmonic.mean() > 3 * features.compute("percussive.rms", make(tone, sr), 20).mean()
    click_frames = (np.arange(0.25, 4, 0.5) * 20).astype(int)
    others = np.setdiff1d(np.arange(len(percussive)), np.concatenate([click_frames, click_frames + 1]))
    assert percussive[click_frames].mean() > 3 * percussive[others].mean()


@pytest.mark.parametrize("reduce", ["pca", "tsne"])
def test_encodec_with_the_tiny_model_end_to_end(reduce):
    a = make(sine(440, 24000, 2.0) + 0.2 * np.random.default_rng(2).standard_normal(48000), 24000)
    values = features.compute(f"encodec:d=6:reduce={reduce}:model=tiny", a, 20)
    assert values.shape == (40, 6) and np.isfinite(values).all() and values.std(axis=0).min() > 0


def test_missing_encodec_model_is_one_clear_line(tmp_path):
    a = make(sine(440, 24000, 1.0), 24000)
    with pytest.raises(NetbendError, match=r"cannot load EnCodec model .*encodec:model=DIR") as e:
        features.compute(f"encodec:model={tmp_path}/none", a, 20)
    assert "\n" not in str(e.value)


def test_option_limits():
    a = make(sine(440, 22050, 1.0), 22050)
    assert features.compute("mfcc:n=200", a, 20).shape == (20, 200)
    with pytest.raises(NetbendError, match=r"bands: no frequencies in band\(s\) 30000-40000 Hz"):
        features.compute("bands:edges=0/1000/30000/40000", a, 20)
    with pytest.raises(NetbendError, match="beat: decay must be positive seconds, got 'abc'"):
        features.compute("beat:decay=abc", a, 20)
    with pytest.raises(NetbendError, match="d=40 is more than the embedding.s 32 dimensions"):
        features.compute("encodec:model=tiny:d=40", make(sine(440, 24000, 1.0), 24000), 20)


@pytest.mark.parametrize(("text", "message"), [
    ("loudness", "unknown feature 'loudness'"),
    ("drums.rms", "unknown feature source 'drums'"),
    ("mfcc:k=3", "feature 'mfcc' has no option 'k'"),
    ("mfcc:20", "must look like key=value"),
    ("mfcc:n=3:n=5", "option n of feature .mfcc. is given twice"),
])
def test_feature_request_errors(text, message):
    with pytest.raises(NetbendError, match=message):
        features.parse(text)


# --- smoothing ------------------------------------------------------------------------


def test_smoothing_steps_against_hand_computed_arrays():
    x = np.array([1.0, 5, 2, 8, 3])
    np.testing.assert_array_equal(smoothing.median(x, 3), [1, 2, 5, 3, 3])
    # the paper's envelope: instant attack, (1 - a) new + a last when not larger
    np.testing.assert_allclose(smoothing.envelope(np.array([0.0, 4, 2, 2, 5, 1]), 0.5), [0, 4, 3, 2.5, 5, 3])
    np.testing.assert_array_equal(smoothing.gate(np.array([0.0, 1, 2, 3, 4]), 0.3), [0, 0, 2, 3, 4])
    np.testing.assert_allclose(smoothing.ema(np.array([2.0, 4, 0]), 0.5), [2, 3, 1.5])
    g = smoothing.gaussian(np.array([0.0, 0, 1, 0, 0]), 1.0)
    assert g[2] == g.max() and g[1] == pytest.approx(g[3]) and g.sum() == pytest.approx(1.0, abs=0.02)
    # attack 0 s rises at once; release 1 s at 10 fps keeps exp(-0.1) of the last value per frame
    ar = smoothing.attack_release(np.array([0.0, 1.0, 0.0, 0.0]), 0.0, 1.0, 10)
    np.testing.assert_allclose(ar, [0, 1, math.exp(-0.1), math.exp(-0.2)])


def test_smoothing_chain_runs_in_order_per_dimension():
    rng = np.random.default_rng(3)
    x = rng.random((50, 3))
    steps = smoothing.parse("median:5,envelope:0.7,gate:0.05")
    assert [str(s) for s in steps] == ["median:5", "envelope:0.7", "gate:0.05"]
    both = smoothing.apply(x, steps, 20)
    for d in range(3):
        np.testing.assert_allclose(both[:, d], smoothing.apply(x[:, d], steps, 20))
    # order matters: gating before the median differs from after
    assert not np.allclose(smoothing.apply(x[:, 0], smoothing.parse("gate:0.5,median:5"), 20),
                           smoothing.apply(x[:, 0], smoothing.parse("median:5,gate:0.5"), 20))


@pytest.mark.parametrize(("text", "message"), [
    ("median:4", "odd"), ("envelope:1.5", r"\[0, 1\)"), ("gate:2", "fraction"), ("blur:3", "unknown smoothing"),
    ("median", "takes 1"), ("ema:x", "numbers"), ("gaussian:0", "positive"), ("gaussian:inf", "finite"),
])
def test_smoothing_errors(text, message):
    with pytest.raises(NetbendError, match=message):
        smoothing.parse(text)


# --- mapping --------------------------------------------------------------------------


def test_mapping_curves_invert_and_dimensions():
    x = np.array([0.0, 1, 2, 3, 4])
    np.testing.assert_allclose(mapping.to_range(x, 1, 3), [1, 1.5, 2, 2.5, 3])
    np.testing.assert_allclose(mapping.to_range(x, 1, 3, invert=True), [3, 2.5, 2, 1.5, 1])
    e, lg = mapping.to_range(x, 0, 1, curve="exp"), mapping.to_range(x, 0, 1, curve="log")
    assert e[0] == 0 and e[-1] == pytest.approx(1) and np.all(e[1:-1] < x[1:-1] / 4)  # slow start
    assert np.all(lg[1:-1] > x[1:-1] / 4)  # fast start
    np.testing.assert_allclose(mapping.to_range(e, 0, 1, curve="log"), x / 4, atol=1e-12)  # inverses
    two = mapping.to_range(np.column_stack([x, 10 * x[::-1]]), 0, 1)
    np.testing.assert_allclose(two, np.column_stack([x / 4, x[::-1] / 4]))  # per dimension
    const = mapping.to_range(np.column_stack([x, np.full(5, 7.0)]), -1, 1)
    assert np.all(const[:, 1] == -1)
    with pytest.raises(NetbendError, match="unknown curve"):
        mapping.to_range(x, 0, 1, curve="cubic")
