"""Event envelopes on hand-placed events, and their sources on synthetic features and clicks."""

import math

import librosa
import numpy as np
import pytest

from netbend import NetbendError
from netbend.audio import Audio, envelopes
from netbend.audio.envelopes import Envelope, onset_events, parse_envelope, render, strength_at, threshold_events
from netbend.audio.features import Analysis


def test_a_hit_peaks_on_its_frame_and_decays_with_its_time_constant():
    fps, tau = 30, 0.2
    out = render(np.array([10.4 / fps]), fps=fps, n_frames=60, envelope=Envelope(decay=tau))  # inside frame 10
    assert out.dtype == np.float64 and out.shape == (60,)
    assert np.all(out[:10] == 0) and out[10] == 1.0 and out.argmax() == 10
    for k in (1, 2, 5, 12, 30, 49):
        assert out[10 + k] == pytest.approx(math.exp(-k / (fps * tau)), rel=1e-12), k


@pytest.mark.parametrize("fps", [24, 25, 29.97, 30, 24000 / 1001, 60])
def test_an_event_on_a_frame_boundary_belongs_to_the_later_frame(fps):
    n = 200
    frames = np.arange(0, n, 7)
    out = render(frames / fps, fps=fps, n_frames=n, envelope=Envelope(decay=0))  # a one-frame blip each
    expected = np.zeros(n)
    expected[frames] = 1.0
    np.testing.assert_array_equal(out, expected)


def test_attack_ramps_linearly_and_peaks_attack_seconds_after():
    fps = 30
    out = render(np.array([5 / fps]), fps=fps, n_frames=40, envelope=Envelope(attack=0.1, decay=0.2))
    np.testing.assert_allclose(out[5:9], [0, 1 / 3, 2 / 3, 1], atol=1e-12)  # 0.1 s = 3 frames
    assert out.argmax() == 8
    np.testing.assert_allclose(out[8:20], np.exp(-np.arange(12) / (fps * 0.2)), rtol=1e-12)
    # an attack between frames: the peak falls between them, each frame on the same curve
    out = render(np.array([0.0]), fps=fps, n_frames=5, envelope=Envelope(attack=0.05, decay=0.2))
    np.testing.assert_allclose(out[:2], [0, (1 / 30) / 0.05])
    np.testing.assert_allclose(out[2:], np.exp(-(np.arange(2, 5) / 30 - 0.05) / 0.2))


def test_a_gate_holds_the_sustain_then_releases_with_its_time_constant():
    fps, decay, sustain, release = 30, 0.01, 0.5, 0.3
    env = Envelope(decay=decay, sustain=sustain, release=release)
    out = render(np.array([5 / fps]), fps=fps, n_frames=60, envelope=env, gates=np.array([20 / fps]))
    k = np.arange(15)
    np.testing.assert_allclose(out[5:20], sustain + (1 - sustain) * np.exp(-k / (fps * decay)), rtol=1e-12)
    np.testing.assert_allclose(out[10:20], sustain, atol=1e-6)  # held while the gate is open
    at_close = sustain + (1 - sustain) * math.exp(-15 / (fps * decay))
    j = np.arange(40)
    np.testing.assert_allclose(out[20:], at_close * np.exp(-j / (fps * release)), rtol=1e-12)
    assert np.all(out[:5] == 0)


def test_a_gate_closing_during_the_attack_releases_from_the_level_reached():
    fps = 10
    env = Envelope(attack=0.4, decay=0.1, sustain=1.0, release=0.1)
    out = render(np.array([0.0]), fps=fps, n_frames=6, envelope=env, gates=np.array([0.2]))
    np.testing.assert_allclose(out, [0, 0.25, 0.5, 0.5 * math.exp(-1), 0.5 * math.exp(-2), 0.5 * math.exp(-3)])


def test_without_gates_the_sustain_holds_until_the_next_event_and_the_frame_takes_the_largest():
    fps = 30
    env = Envelope(decay=0, sustain=0.5, release=0.1)  # instant fall to the sustain
    out = render(np.array([2, 10]) / fps, fps=fps, n_frames=30, envelope=env, strength=np.array([1.0, 0.6]))
    first = np.zeros(30)
    first[2], first[3:10] = 1.0, 0.5
    first[10:] = 0.5 * np.exp(-np.arange(20) / (fps * 0.1))  # released from the second event's frame on
    second = np.zeros(30)
    second[10], second[11:] = 0.6, 0.3  # the last event holds its sustain to the end
    np.testing.assert_allclose(out, np.maximum(first, second), rtol=1e-12)
    assert out[11] == pytest.approx(0.5 * math.exp(-1 / 3)) and out[12] == pytest.approx(0.3)


def test_overlapping_events_take_the_maximum_not_the_sum():
    fps, tau = 30, 0.2
    out = render(np.array([8, 5]) / fps, fps=fps, n_frames=40, envelope=Envelope(decay=tau))  # any order
    k = np.arange(40)
    one = np.where(k >= 5, np.exp(-(k - 5) / (fps * tau)), 0)
    two = np.where(k >= 8, np.exp(-(k - 8) / (fps * tau)), 0)
    np.testing.assert_allclose(out, np.maximum(one, two), rtol=1e-12)
    assert out[8] == 1.0  # the retrigger, not 1 + exp(-0.5)


def test_strength_scales_each_event_and_a_negative_one_wins_by_magnitude():
    fps, env = 30, Envelope(decay=0.2)
    one = render(np.array([0.5]), fps=fps, n_frames=40, envelope=env)
    np.testing.assert_allclose(render(np.array([0.5]), fps=fps, n_frames=40, envelope=env, strength=np.array([0.25])),
                               0.25 * one, rtol=1e-12)
    out = render(np.array([5, 8]) / fps, fps=fps, n_frames=20, envelope=env, strength=np.array([-1.0, 0.9]))
    assert out[5] == -1.0 and out[7] == pytest.approx(-math.exp(-2 / 6))
    assert out[8] == 0.9 and out[12] == pytest.approx(0.9 * math.exp(-4 / 6))  # here the positive one is larger


def test_events_outside_the_song_are_ignored_and_bad_inputs_are_one_line():
    out = render(np.array([-0.1, 2.0, np.nan, 1e300]), fps=10, n_frames=20, envelope=Envelope())
    assert np.all(out == 0)
    assert render(np.array([1.99]), fps=10, n_frames=20, envelope=Envelope())[19] == 1.0
    assert render(np.zeros(0), fps=10, n_frames=5, envelope=Envelope()).shape == (5,)
    for kwargs, message in [({"gates": np.array([0.5])}, "gate-close time 0.5 s is before its event at 1 s"),
                            ({"strength": np.ones(2)}, "strength must have one value per event"),
                            ({"fps": 0}, "fps must be positive")]:
        with pytest.raises(NetbendError, match=message):
            render(np.array([1.0]), **{"fps": 10, "n_frames": 20, "envelope": Envelope(), **kwargs})


@pytest.mark.parametrize("chunk", [1 << 20, 1000])  # one pass, and many chunks (some of one event)
def test_a_long_song_with_many_onsets_matches_events_rendered_one_by_one(chunk, monkeypatch):
    monkeypatch.setattr(envelopes, "_CHUNK", chunk)
    fps, n = 30, 3000
    rng = np.random.default_rng(1)
    events, strength = rng.uniform(0, n / fps, 300), rng.uniform(0.1, 1, 300)
    env = Envelope(attack=0.02, decay=0.15, sustain=0.3, release=0.25)
    gates = events + rng.uniform(0, 1, 300)
    out = render(events, fps=fps, n_frames=n, envelope=env, strength=strength, gates=gates)
    each = [render(events[i:i + 1], fps=fps, n_frames=n, envelope=env, strength=strength[i:i + 1],
                   gates=gates[i:i + 1]) for i in range(300)]
    np.testing.assert_allclose(out, np.max(each, axis=0), atol=1e-15)


def test_threshold_events_cross_a_fraction_of_the_range():
    fps = 10
    x = 10 + np.array([0, 0, 1, 3, 4, 2, 0, 0, 5, 5, 1, 0, 3])  # range 10..15
    times, gates = threshold_events(x, 0.5, fps)  # level 12.5, not 0.5 * 15
    np.testing.assert_allclose(times * fps, [3, 8, 12])
    np.testing.assert_allclose(gates * fps, [5, 10, 13])  # the last never falls back: the end
    times, gates = threshold_events(x, 0.4, fps)  # level 12: "at or above"
    np.testing.assert_allclose(times * fps, [3, 8, 12])
    np.testing.assert_allclose(gates * fps, [6, 10, 13])
    times, gates = threshold_events(np.array([5.0, 1, 1, 5]), 0.5, fps)  # starts above: an event at 0
    np.testing.assert_allclose(times * fps, [0, 3])
    np.testing.assert_allclose(gates * fps, [1, 4])
    assert threshold_events(np.full(9, 3.0), 0.5, fps)[0].size == 0
    with pytest.raises(NetbendError, match="in \\[0, 1\\], got 1.5"):
        threshold_events(x, 1.5, fps)


def test_threshold_events_drive_a_gated_envelope_on_their_frames():
    fps = 30
    x = np.zeros(40)
    x[10:18] = 1.0
    times, gates = threshold_events(x, 0.5, fps)
    env = Envelope(decay=0, sustain=0.7, release=0)
    out = render(times, fps=fps, n_frames=40, envelope=env, gates=gates)
    expected = np.zeros(40)
    expected[10], expected[11:19] = 1.0, 0.7  # frame 18, where the gate closes, shows the level at close
    np.testing.assert_array_equal(out, expected)


def test_onset_events_find_clicks_with_strengths_ordered_by_loudness():
    sr, fps = 22050, 30
    times = np.array([9, 24, 39, 54, 69]) / fps + 0.002  # just after frame starts: detection lags a few ms
    amps = np.array([0.2, 1.0, 0.5, 0.8, 0.05])
    y = sum(a * librosa.clicks(times=[t], sr=sr, length=int(2.8 * sr)) for t, a in zip(times, amps))
    onsets, strengths = onset_events(Analysis(Audio(y[None].astype(np.float32), sr, None), fps))
    assert onsets.shape == strengths.shape == (5,)
    assert np.all(np.abs(onsets - times) < 1 / fps)
    np.testing.assert_array_equal(np.floor(onsets * fps), np.floor(times * fps))  # the clicks' frames
    np.testing.assert_array_equal(np.argsort(strengths), np.argsort(amps))
    silent = Analysis(Audio(np.zeros((1, sr), np.float32), sr, None), fps)
    assert onset_events(silent)[0].size == 0


def test_strength_at_divides_by_the_largest_value():
    fps = 10
    x = np.array([0, 2, 4, 1, 8, 0.0])
    np.testing.assert_allclose(strength_at(np.array([0.1, 0.25, 0.4, 9.0]), x, fps), [0.25, 0.5, 1.0, 0])
    np.testing.assert_allclose(strength_at(np.array([0.0, 0.1]), np.array([-4.0, 2, 1]), fps), [-1.0, 0.5])
    np.testing.assert_array_equal(strength_at(np.array([0.0, 0.1]), np.zeros(3), fps), [0, 0])


@pytest.mark.parametrize("text, expected", [
    ("0,0.3", Envelope(0, 0.3, 0, 0.2)),
    (" 0.02, 0.1 ,0.5,0.4", Envelope(0.02, 0.1, 0.5, 0.4)),
    ("0,0,1,0", Envelope(0, 0, 1, 0)),
])
def test_parse_envelope_accepts(text, expected):
    assert parse_envelope(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "has 1 number"), ("0.3", "has 1 number"), ("0,1,2", "has 3 number"), ("0,1,0,1,0", "has 5 number"),
    ("a,b", "not all numbers"), ("0,", "not all numbers"), ("-1,0.2", "attack must be >= 0, got -1"),
    ("0,0.2,-0.1,0.1", "sustain must be >= 0"), ("0,0.2,1.5,0.1", "sustain is a level in \\[0, 1\\], got 1.5"),
    ("0,nan", "decay must be a finite number"), ("0,0.2,0.5,inf", "release must be a finite number"),
])
def test_parse_envelope_rejects_in_one_line_naming_the_text(text, message):
    with pytest.raises(NetbendError, match=message) as error:
        parse_envelope(text)
    assert repr(text) in str(error.value) and "\n" not in str(error.value)


def test_an_envelope_made_in_code_is_checked_too():
    with pytest.raises(NetbendError, match="decay must be >= 0, got -0.1"):
        Envelope(decay=-0.1)
