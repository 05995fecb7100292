"""Musical time in renders: positions on the beat grid, beat-synced prompts and cycles, event
envelopes driving bends, accumulated motion, and a scene with all of them (click tracks with
known beats, the tiny model)."""

import json

import librosa
import numpy as np
import pytest
import soundfile
import torch
import yaml

from netbend import NetbendError, positions
from netbend.audio import Audio, beats, drives, features
from netbend.generation.pipeline import Pipeline
from netbend.jobs import timeline
from netbend.settings import Bend, Names

from conftest import DEVICE, settings
from test_cli import assert_one_line_error, run

SR, FPS = 22050, 10
CLICKS = np.concatenate([np.arange(0.5, 6.0, 0.5), np.arange(6.0, 12.0, 0.4)])  # 120 bpm, then 150 bpm from 6 s
TOL = 0.035  # seconds: the tracker lands a hop or two (11.6 ms each) after a click


def beat(n):
    """The true time of beat n (1-based) of CLICKS."""
    return CLICKS[n - 1]


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    path = tmp_path_factory.mktemp("clicks") / "clicks.wav"
    soundfile.write(path, librosa.clicks(times=CLICKS, sr=SR, length=round(SR * 12.5)), SR)
    return path


@pytest.fixture(scope="module")
def grid(song):
    y, sr = soundfile.read(song, dtype="float32")
    return beats.track(features.Analysis(Audio(y[None], sr, song), FPS))


def test_bar_beat_and_beat_positions_fall_on_the_clicks_across_a_tempo_change(grid):
    assert len(grid.times) == len(CLICKS)  # every click tracked (the positions below count on it)
    for text, n in (("1.1", 1), ("3.1", 9), ("3.4", 12), ("4.1", 13), ("5.1", 17), ("7.2", 26), ("b12", 12)):
        assert abs(positions.resolve(text, grid, "t") - beat(n)) <= TOL, text
    assert abs(positions.resolve("b12.5", grid, "t") - (beat(12) + beat(13)) / 2) <= TOL
    pickup = beats.BeatGrid(grid.times, meter=4, bar_offset=1)
    assert abs(positions.resolve("1.1", pickup, "t") - beat(2)) <= TOL
    waltz = beats.BeatGrid(grid.times, meter=3)
    assert abs(positions.resolve("5.1", waltz, "t") - beat(13)) <= TOL  # 3 beats to the bar
    assert positions.resolve("1:05.5", grid, "t") == 65.5 and positions.resolve(12, grid, "t") == 12.0


def test_lengths_count_beats_from_where_they_start(grid):
    assert abs(positions.resolve_length("1.0", beat(17), grid, "d") - 4 * 0.4) <= 2 * TOL  # a bar at 150 bpm
    assert abs(positions.resolve_length("b2", beat(9), grid, "d") - 1.0) <= 2 * TOL  # two beats at 120 bpm
    assert abs(positions.resolve_length("2.0", beat(9), grid, "d") - (beat(17) - beat(9))) <= 2 * TOL
    assert abs(positions.resolve_length("b2", beat(17), grid, "d", backwards=True) - 0.8) <= 2 * TOL
    assert positions.resolve_length("1.5s", 3.0, grid, "d") == 1.5


@pytest.mark.parametrize(("text", "message"), [
    ("9.1", r"t 9.1 is past the song's last tracked beat, b26 \(bar 7.2, at 0:11.6"),
    ("b27", "past the song's last tracked beat, b26"),
    ("2.5", "bar 2 has beats 1 to 4 .meter 4.; write 12.5s or 0:12.5 for seconds"),
    ("0.1", "before the song's first tracked beat"),
])
def test_positions_off_the_grid_are_errors_that_name_it(grid, text, message):
    with pytest.raises(NetbendError, match=message):
        positions.resolve(text, grid, "t")


def test_a_prompt_switches_on_its_beat_held_or_interpolated(tmp_path, song, tiny_model):
    text = "0:00 : a floating orb\n5.1 hold : a crane\n7.1 ~b2 : a tree\n"  # 5.1 = beat 17, 7.1 = beat 25
    job, rec = timeline.place(settings(tmp_path, song, prompts=text, fps=FPS), load(song), {})
    pipe = Pipeline(tiny_model, job.generation, n_frames=125, fps=FPS)
    e = pipe.prompts.embeddings(np.arange(125) / FPS)
    orb, crane, tree = (tiny_model.encode_text([p])[0] for p in ("a floating orb", "a crane", "a tree"))
    switch = int(beat(17) * FPS)  # the frame that holds the click at 8.0 s
    assert all(torch.equal(e[i], orb) for i in range(switch))  # held up to the beat ...
    assert all(torch.equal(e[i], crane) for i in range(switch, int(beat(23) * FPS) + 1))  # ... then at once
    arrive, begin = int(beat(25) * FPS), int(beat(23) * FPS)  # the move takes the two beats before 7.1
    assert torch.equal(e[arrive], tree) and not torch.equal(e[arrive - 1], tree)
    mid = (begin + arrive) // 2
    w = ((e[mid] - crane).flatten() @ (tree - crane).flatten() / (tree - crane).flatten().square().sum()).item()
    assert 0.3 < w < 0.7  # halfway through the move, about halfway between the prompts
    assert [p["written"] for p in rec["placed"]] == ["5.1", "7.1"]


def test_a_cycle_advances_every_bar_from_its_start(tmp_path, song):
    s = settings(tmp_path, song, cycle=["red", "green", "blue"], cycle_every="1.0", cycle_from="2.1", fps=FPS)
    job, _ = timeline.place(s, load(song), {})
    from netbend.generation import prompts

    keys = prompts.parse(job.generation.prompts)
    assert [k.prompt for k in keys] == ["red", "green", "blue", "red", "green", "blue"]
    for k, n in zip(keys, (5, 9, 13, 17, 21, 25)):  # the downbeats from bar 2 on
        assert abs(k.time - beat(n)) <= TOL + 1 / FPS  # on the frame holding the click
    two = timeline.place(settings(tmp_path, song, cycle=["a", "b"], cycle_every="b2", fps=FPS), load(song), {})[0]
    assert len(prompts.parse(two.generation.prompts)) == 13  # beats 1, 3, ..., 25
    with pytest.raises(NetbendError, match="--cycle and --prompts both give"):
        settings(tmp_path, song, cycle=["a"], prompts="0:00 : b").check()


def load(path):
    from netbend.audio import load as load_audio

    return load_audio(str(path))


def drive_of(song, **bend):
    b = Bend(op=bend.pop("op", "add"), **bend)
    b.check(3, Names())
    return drives.drive(b, load(song), fps=FPS, n_frames=125, analyses={}, names=Names())


def test_beat_and_downbeat_envelopes_peak_on_their_frames_and_decay(song):
    d = drive_of(song, trigger="beat", envelope="0,0.15", range=(0.0, 1.0))
    peaks = np.floor(CLICKS * FPS + 0.35).astype(int)  # the frame that holds each (tracked) click
    np.testing.assert_allclose(d.r[peaks], 1.0, atol=1e-9)
    after = peaks[:-1] + 2
    np.testing.assert_allclose(d.r[after], np.exp(-0.2 / 0.15), rtol=1e-6)  # two frames later
    down = drive_of(song, trigger="downbeat", envelope="0,0.15", range=(0.0, 1.0))
    assert set(np.flatnonzero(down.r == down.r.max())) == set(peaks[::4])


def test_an_envelope_takes_its_events_strength_from_a_feature(tmp_path):
    loud = np.array([1.0, 0.25, 1.0, 0.25])  # clicks of two loudnesses, one second apart
    times = np.array([0.5, 1.5, 2.5, 3.5])
    y = sum(a * librosa.clicks(times=[t], sr=SR, length=SR * 4) for a, t in zip(loud, times))
    path = tmp_path / "accents.wav"
    soundfile.write(path, y, SR)
    b = Bend(op="add", trigger="onset", strength="rms", envelope="0,0.1", range=(0.0, 1.0))
    d = drives.drive(b, load(path), fps=FPS, n_frames=40, analyses={}, names=Names())
    frames = (times * FPS).astype(int)
    assert d.r[frames[0]] == pytest.approx(1.0) and d.r[frames[2]] == pytest.approx(1.0, rel=0.05)
    assert 0.1 < d.r[frames[1]] / d.r[frames[0]] < 0.5  # the soft clicks drive less


def test_accumulated_drives_integrate_a_rate_per_second(song):
    spin = drive_of(song, op="spin", constant=90.0, accumulate=True)
    np.testing.assert_allclose(spin.r[:5], [0, 9, 18, 27, 36])  # 90 degrees a second at 10 fps, from 0
    wrapped = drive_of(song, op="spin", constant=90.0, accumulate=True, wrap=360.0)
    np.testing.assert_allclose(wrapped.r, np.mod(9.0 * np.arange(125), 360))
    zoom = drive_of(song, op="zoom", constant=2.0, accumulate=True)
    np.testing.assert_allclose(zoom.r[:21:10], [1, 2, 4])  # doubling every second
    held = drive_of(song, op="zoom", constant=2.0, accumulate=True, limit=1.5)
    assert held.r.max() == pytest.approx(1.5) and held.r[-1] == pytest.approx(1.5)
    quiet = drive_of(song, op="pan_x", feature="rms", range=(0.0, 8.0), accumulate=True)
    assert np.all(np.diff(quiet.r) >= 0) and quiet.r[-1] > 8  # never back: loudness pushes it on
    with pytest.raises(NetbendError, match="wrap bounds an accumulated parameter"):
        drive_of(song, op="spin", constant=1.0, wrap=360.0)
    with pytest.raises(NetbendError, match="only a one-number parameter accumulates"):
        drive_of(song, op="rotate_six", constant=1.0, accumulate=True)


SCENE = """\
audio: {audio}
model: tiny
steps: 2
size: 32x32
fps: 10
start: '2.1'        # bar 2, beat 1: the click at 2.5 s
duration: '2.0'     # two bars: to beat 13, 6.4 s
bar_offset: 0
prompts: |
  0:00 : a floating orb
  3.1 hold : a crane
  4.1 ~b2 : a tree
bends:
  - op: zoom
    constant: 1.5
    accumulate: true
    wrap: 2
    window: ['2.3', '4.1']
  - op: spin
    trigger: beat
    envelope: 0,0.2
    range: 0:45
  - op: pan_x
    keyframes: [['2.1', 0], ['b12', 4], [6.3, 0]]
panels:
  - {}
  - cycle: [a red orb, a blue cube]
    cycle_every: b2
"""


def test_a_scene_in_musical_time_renders_and_round_trips(tmp_path, song, capsys):
    (tmp_path / "s.yaml").write_text(SCENE.replace("{audio}", str(song)))
    out = tmp_path / "v.mp4"
    code, _, err = run(capsys, "render", str(tmp_path / "s.yaml"), "--quiet", "-o", str(out), "--device", DEVICE)
    assert code == 0, err
    code, _, err = run(capsys, "render", str(tmp_path / "s.yaml"), "--dump-scene", str(tmp_path / "dumped.yaml"),
                       "-o", str(out), "--device", DEVICE)
    assert code == 0, err
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["video"]["first_frame"] == int(beat(5) * FPS) + 0  # 2.5 s -> frame 25
    assert side["video"]["n_frames"] == int(CLICKS[12] * FPS + 0.35) - int(beat(5) * FPS)  # to the frame of 6.4 s
    placed = {p["what"]: p for p in side["musical_time"]["placed"]}
    assert abs(placed["--start"]["seconds"] - beat(5)) <= TOL + 0.1 and placed["--start"]["written"] == "2.1"
    zoom = side["bends"][0]["frames"]
    active = np.flatnonzero(zoom["active"])
    assert active[0] == int(beat(7) * FPS + 0.35) and active[-1] == int(beat(13) * FPS + 0.35) - 1
    dumped = yaml.safe_load((tmp_path / "dumped.yaml").read_text())
    assert dumped["start"] == "2.1" and dumped["bends"][2]["keyframes"][1] == ["b12", 4.0]
    again = tmp_path / "again.mp4"
    code, _, err = run(capsys, "render", str(tmp_path / "dumped.yaml"), "--quiet", "-o", str(again), "--device", DEVICE)
    assert code == 0, err
    redone = json.loads(again.with_suffix(".json").read_text())
    assert {**redone["settings"], "output": None} == {**side["settings"], "output": None}
    assert redone["bends"] == side["bends"]  # the same drives, frame by frame


def test_musical_flags_give_one_line_errors(tmp_path, song, capsys):
    tiny = ["--model", "tiny", "--steps", "1", "--size", "32x32", "-o", str(tmp_path / "x.mp4"), "--device", DEVICE]
    code, _, err = run(capsys, "render", str(song), *tiny, "--start", "9.1")
    assert_one_line_error(code, err, "--start 9.1 is past the song's last tracked beat, b26")
    code, _, err = run(capsys, "render", str(song), *tiny, "--start", "soon")
    assert_one_line_error(code, err, "cannot read 'soon' as a time")
    code, _, err = run(capsys, "render", str(song), *tiny, "--op", "zoom", "--trigger", "rms>2")
    assert_one_line_error(code, err, "LEVEL is a fraction of the feature's range")


def test_edge_cases_of_musical_time_fail_in_one_line_or_work(tmp_path, song):
    late = settings(tmp_path, song, cycle=["a", "b"], cycle_from="11.9s", fps=FPS)
    with pytest.raises(NetbendError, match=r"--cycle-from 11.9s \(0:11.90\) is after the song's last tracked beat"):
        timeline.place(late, load(song), {})
    tone = tmp_path / "tone.wav"  # no beats at all: a cycle in seconds needs none
    soundfile.write(tone, 0.3 * np.sin(2 * np.pi * 220 * np.arange(SR * 3) / SR), SR)
    secs = settings(tmp_path, tone, cycle=["a", "b"], cycle_from=0.0, cycle_every=1.0, fps=FPS)
    from netbend.generation import prompts

    assert [k.time for k in prompts.parse(timeline.place(secs, load(tone), {})[0].generation.prompts)] == [0, 1, 2]
    early = settings(tmp_path, song, prompts="0:00 : a\n0:00.2 ~b2 : b\n", fps=FPS)  # before the first beat
    keys = prompts.parse(timeline.place(early, load(song), {})[0].generation.prompts)
    assert keys[1].time == pytest.approx(0.2) and keys[1].morph == 0.0  # nothing to morph over: a switch
    with pytest.raises(NetbendError, match="takes 1 number.s. per frame but --feature chroma gives 12"):
        drive_of(song, op="spin", feature="chroma", accumulate=True)
    with pytest.raises(NetbendError, match="beats in a bar count from 1"):
        settings(tmp_path, song, start="1.0").check()


def test_the_downbeat_feature_counts_bars_of_the_renders_meter(song):
    b = Bend(op="add", feature="downbeat", range=(0.0, 1.0))
    d = drives.drive(b, load(song), fps=FPS, n_frames=125, analyses={}, names=Names(), meter=3)
    peaks = np.floor(CLICKS * FPS + 0.35).astype(int)
    assert set(np.flatnonzero(d.r == d.r.max())) == set(peaks[::3])
