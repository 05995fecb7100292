"""The beat grid on click tracks whose beats are known: tempo changes, silence, held notes, the CLI."""

import csv

import librosa
import numpy as np
import pytest
import soundfile

from netbend import NetbendError
from netbend.audio import Audio, beats, features

from test_cli import assert_one_line_error, run

SR, FPS = 22050, 20  # hop 256 samples: 11.6 ms
TOL = 0.03  # seconds: the tracker lands within a frame or two of the envelope's hop


def make(y):
    return Audio(np.asarray(y, np.float32)[None], SR, path=None)


def clicks(times, seconds):
    return librosa.clicks(times=times, sr=SR, length=round(SR * seconds))


def nearest(a, b):
    """For each of a, the distance to the nearest of b."""
    return np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :]).min(axis=1)


TEMPO_CHANGE = np.concatenate([np.arange(0.5, 6.0, 0.5), np.arange(6.0, 12.0, 0.4)])  # 120 bpm, then 150 bpm


@pytest.fixture(scope="module")
def tempo_change():
    return features.Analysis(make(clicks(TEMPO_CHANGE, 12.5)), FPS)


def test_clicks_with_a_tempo_change_are_tracked_within_a_hop_or_two(tempo_change):
    grid = beats.track(tempo_change)
    assert np.all(np.diff(grid.times) > 0) and grid.duration == pytest.approx(12.5)
    assert np.all(nearest(grid.times, TEMPO_CHANGE) <= TOL)  # no beat off the clicks
    inner = TEMPO_CHANGE[(TEMPO_CHANGE > 0.9) & (TEMPO_CHANGE < 11.5)]
    assert np.all(nearest(inner, grid.times) <= TOL)  # and every click has its beat
    bpm = grid.bpm
    # the local tempo averages the intervals within two beats: it blurs a tempo change over two beats each side
    assert np.allclose(bpm[grid.times < 4.6], 120, rtol=0.02)
    assert np.allclose(bpm[grid.times > 6.9], 150, rtol=0.02)


def test_bar_and_beat_numbering(tempo_change):
    grid = beats.track(tempo_change)
    assert [grid.bar_beat(i) for i in range(6)] == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2)]
    assert list(np.flatnonzero(grid.downbeat[:9])) == [0, 4, 8]
    pickup = beats.track(tempo_change, bar_offset=1)
    assert [pickup.bar_beat(i) for i in range(6)] == [(0, 4), (1, 1), (1, 2), (1, 3), (1, 4), (2, 1)]
    assert list(np.flatnonzero(pickup.downbeat[:9])) == [1, 5]
    waltz = beats.track(tempo_change, meter=3, bar_offset=-2)  # the tracker missed the first two beats
    assert [waltz.bar_beat(i) for i in range(3)] == [(1, 3), (2, 1), (2, 2)]
    np.testing.assert_array_equal(pickup.times, grid.times)
    with pytest.raises(NetbendError, match=f"beat index {len(grid)} is outside the grid's {len(grid)} beats"):
        grid.bar_beat(len(grid))


def test_bpm_ignores_one_gap_and_needs_two_beats():
    grid = beats.BeatGrid(np.array([0.0, 0.5, 1.0, 1.5, 5.5, 6.0, 6.5]))
    np.testing.assert_allclose(grid.bpm, 120)  # the 4 s gap (dropped beats) is no 15 bpm
    assert len(beats.BeatGrid(np.array([1.0])).bpm) == 1 and beats.BeatGrid(np.array([1.0])).bpm[0] == 0
    assert len(beats.BeatGrid(np.zeros(0)).bpm) == 0
    with pytest.raises(NetbendError, match="meter must be a positive whole number of beats, got 0"):
        beats.BeatGrid(np.zeros(0), meter=0)


def test_downbeat_feature_peaks_on_every_meter_th_beat(tempo_change):
    grid = beats.track(tempo_change, meter=3, bar_offset=1)
    down = tempo_change.compute("downbeat:meter=3:offset=1")
    lit = np.flatnonzero(down == 1) / FPS  # frames where a downbeat starts
    assert len(lit) == grid.downbeat.sum() == len(grid.times[1::3])
    assert np.all(nearest(grid.times[1::3], lit) < 1 / FPS)
    beat = tempo_change.compute("beat")
    assert np.sum(beat == 1) == len(grid)
    with pytest.raises(NetbendError, match="downbeat: meter must be a positive whole number of beats, got 0"):
        tempo_change.compute("downbeat:meter=0")


def test_no_beat_in_silence():
    # clicks from 2 to 6 s and 10 to 14 s over a noise floor 68 dB below them, so that the
    # silent frames are not all zeros (where every feature is 0 anyway)
    times = np.concatenate([np.arange(2.0, 6.0, 0.5), np.arange(10.0, 14.0, 0.5)])
    y = clicks(times, 15.0) + 1e-4 * np.random.default_rng(0).standard_normal(15 * SR)
    analysis = features.Analysis(make(y), FPS)
    tracking = beats.tracked(analysis)
    got = tracking.times
    assert np.all(nearest(got, times) <= TOL) and np.all(nearest(times, got) <= TOL)
    assert not np.any((got < 1.9) | ((got > 6.1) & (got < 9.9)) | (got > 14.1))  # the old tracker ticked on here
    assert len(tracking.silent) >= 8 and len(tracking.no_pulse) == 0
    t = np.arange(analysis.n_frames) / FPS
    for name in ("beat", "downbeat"):
        pulse = analysis.compute(name)
        assert np.all(pulse[t < 1.9] == 0), name
        stretch = pulse[(t > 6.1) & (t < 9.9)]
        assert np.all(np.diff(stretch) <= 0) and np.all(stretch[t[(t > 6.1) & (t < 9.9)] > 7] < 1e-2), name


def test_no_beat_on_a_held_tone_without_onsets():
    times = np.concatenate([np.arange(0.5, 4.0, 0.5), np.arange(8.0, 12.0, 0.5)])
    t = np.arange(12 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 330 * t) * ((t >= 4.0) & (t < 8.0))  # starts on the beat at 4 s
    tracking = beats.tracked(features.Analysis(make(clicks(times, 12.0) + tone), FPS))
    got = tracking.times
    # an onset one period away still carries a beat (a note held two beats): none from 4.6 s to 7.4 s
    assert not np.any((got > 4.6) & (got < 7.4))
    assert len(tracking.no_pulse) >= 4 and np.all((tracking.no_pulse > 4.6) & (tracking.no_pulse < 7.4))
    assert np.all(nearest(times[(times > 0.9) & (times < 11.6)], got) <= TOL)


def test_beats_are_tracked_once_per_analysis(tempo_change, monkeypatch):
    calls = []
    original = librosa.beat.beat_track
    monkeypatch.setattr(librosa.beat, "beat_track", lambda *a, **k: calls.append(1) or original(*a, **k))
    analysis = features.Analysis(tempo_change.audio, FPS)
    first = beats.track(analysis)
    for request in ("beat", "downbeat", "downbeat:meter=3:offset=2"):
        analysis.compute(request)
    np.testing.assert_array_equal(beats.track(analysis, meter=7, bar_offset=-1).times, first.times)
    assert len(calls) == 1
    beats.track(features.Analysis(tempo_change.audio, FPS))  # another analysis tracks again
    assert len(calls) == 2


def test_features_beats_on_the_command_line(tmp_path, capsys):
    times = np.concatenate([np.arange(1.0, 3.0, 0.5), np.arange(5.0, 7.0, 0.5)])  # silence from 3 to 5 s
    song = tmp_path / "clicks.wav"
    soundfile.write(song, clicks(times, 7.5), SR)
    out = tmp_path / "beats.csv"
    code, stdout, err = run(capsys, "features", str(song), "--beats", "--csv", str(out), "--bar-offset", "1",
                            "--plot", str(tmp_path / "f.png"))
    assert code == 0, err
    analysis = features.Analysis(make(clicks(times, 7.5)), FPS)
    grid, tracking = beats.track(analysis, bar_offset=1), beats.tracked(analysis)
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["beat", "time", "bar", "beat_in_bar", "downbeat", "bpm"]
    assert len(rows) == 1 + len(grid) == 1 + len(times)
    for i, row in enumerate(rows[1:]):
        assert int(row[0]) == i + 1 and float(row[1]) == pytest.approx(grid.times[i], abs=1e-6)
        assert (int(row[2]), int(row[3])) == grid.bar_beat(i) and int(row[4]) == grid.downbeat[i]
        assert float(row[5]) == pytest.approx(120, rel=0.03)
    assert rows[1][2:5] == ["0", "4", "0"] and rows[2][2:5] == ["1", "1", "1"]  # a one-beat pickup
    summary = next(line for line in stdout.splitlines() if line.startswith("beat grid:"))
    assert f"{len(grid)} beats, {grid.downbeat.sum()} downbeats" in summary
    assert f"dropped {len(tracking.silent)} silent, {len(tracking.no_pulse)} without pulse" in summary
    assert len(tracking.silent) >= 2 and "first beat 0:01.0" in summary and "last 0:06.5" in summary
    assert "0:01.52       1.1     *" in stdout and (tmp_path / "f.png").stat().st_size > 0


@pytest.mark.parametrize(("extra", "needles"), [
    (["--csv", "{song}"], ["--csv", "is the input audio"]),
    (["--csv", "{tmp}/b.csv", "--smoothed", "--smooth", "median:3"], ["--smoothed", "--beats"]),
    (["--meter", "0"], ["--meter must be at least 1"]),
    (["--feature", "downbeat:decay=0"], ["downbeat: decay must be positive seconds"]),
])
def test_beats_bad_options_are_one_line_errors(tmp_path, capsys, extra, needles):
    song = tmp_path / "clicks.wav"
    soundfile.write(song, clicks([0.5, 1.0], 1.5), SR)
    extra = [e.format(tmp=tmp_path, song=song) for e in extra]
    code, _, err = run(capsys, "features", str(song), "--beats", *extra)
    assert_one_line_error(code, err, *needles)
    assert song.stat().st_size > 0
