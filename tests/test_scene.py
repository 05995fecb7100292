"""Scene files, prompt schedules and several bends at once."""

import numpy as np
import pytest
import torch
import yaml

from netbend import NetbendError
from netbend.generation import prompts
from netbend.settings import Bend, scene
from netbend.cli import main

from conftest import DEVICE, STEPS, render_frames, settings


# --- prompt schedules ---------------------------------------------------------------------


def test_schedule_parsing_times_and_colons_in_prompts():
    text = """
    # the intro
    0:00 : a floating orb
    0:02.5 : a crane: origami, paper
    1:00:00: the end : really
    """
    frames_ = prompts.parse(text)
    assert [(k.time, k.prompt) for k in frames_] == [
        (0.0, "a floating orb"), (2.5, "a crane: origami, paper"), (3600.0, "the end : really")]


@pytest.mark.parametrize(("text", "message"), [
    ("0:00 : a\n0:10 : b\n0:05 : c", r"line 3: time 0:05 is not after the previous keyframe \(10 s\)"),
    ("0:00 : a\n0:00 : b", "line 2: time 0:00 is not after"),
    ("0:00 : a\nhello world", r"line 2: expected 'M:SS : prompt', got 'hello world'"),
    ("0:75 : a", "line 1: minutes and seconds must be below 60"),
    ("1:75:00 : a", "line 1: minutes and seconds must be below 60"),
    ("1:30 a crane", r"line 1: expected 'M:SS : prompt', got '1:30 a crane'"),
    ("0:00 - a", "line 1: expected"),
    ("# only a comment", "has no prompts"),
])
def test_schedule_errors_name_the_line(text, message):
    with pytest.raises(NetbendError, match=message):
        prompts.parse(text)


def test_lerp_hits_the_keyframes_and_holds_after_the_last(tiny_model):
    keys = prompts.parse("0:01 : a floating orb\n0:03 : a crane")
    calls = []

    def encode(texts):
        calls.append(texts)
        return tiny_model.encode_text(texts)

    sched = prompts.PromptSchedule(keys, encode)
    orb, crane = tiny_model.encode_text(["a floating orb"])[0], tiny_model.encode_text(["a crane"])[0]
    e = sched.embeddings(np.array([0.0, 1.0, 2.0, 3.0, 9.0]))
    assert torch.equal(e[0], orb) and torch.equal(e[1], orb)  # held before the first, exact at it
    half = tiny_model.dtype == torch.float16  # (orb + crane) / 2 and orb + w (crane - orb) round differently there
    torch.testing.assert_close(e[2], (orb + crane) / 2, **(dict(atol=1e-3, rtol=1e-3) if half else {}))
    assert torch.equal(e[3], crane) and torch.equal(e[4], crane)
    assert calls == [["a floating orb", "a crane"]]  # each distinct prompt encoded once
    s = prompts.PromptSchedule(keys, tiny_model.encode_text, "slerp").embeddings(np.array([1.0, 2.0, 3.0]))
    torch.testing.assert_close(s[0], orb)
    torch.testing.assert_close(s[2], crane, atol=1e-5, rtol=1e-5)
    assert s[1].norm() > e[2].norm()  # slerp keeps the norm that lerp loses between the two


def test_a_schedule_changes_the_frames_over_time(tmp_path, wav, tiny_model):
    clip = wav(0.5)
    plain = render_frames(settings(tmp_path, clip, prompt="a floating orb"), tiny_model)
    sched = render_frames(settings(tmp_path, clip, prompts="0:00 : a floating orb\n0:00.2 : a crane"), tiny_model)
    assert np.array_equal(plain[0], sched[0])  # the first keyframe is the plain prompt
    assert not np.array_equal(plain[4], sched[4])


# --- several bends --------------------------------------------------------------------------


def test_two_bends_with_their_own_drivers_both_act(tmp_path, wav, tiny_model):
    clip = wav(0.5)
    a = Bend(op="rotate_r1", layer=STEPS, feature="rms")
    b = Bend(op="add", layer=1, keyframes=[(0.0, 0.0), (0.5, 2.0)])
    plain = render_frames(settings(tmp_path, clip), tiny_model)
    only_a = render_frames(settings(tmp_path, clip, bends=[a]), tiny_model)
    only_b = render_frames(settings(tmp_path, clip, bends=[b]), tiny_model)
    both = render_frames(settings(tmp_path, clip, bends=[a, b]), tiny_model)
    for one in (only_a, only_b):
        assert (one != plain).mean() > 0.05
    assert (both != only_a).mean() > 0.05 and (both != only_b).mean() > 0.05


def test_window_constant_and_layer_ranges(tmp_path, wav, tiny_model):
    clip = wav(0.5)
    plain = render_frames(settings(tmp_path, clip), tiny_model)
    windowed = render_frames(settings(tmp_path, clip, bends=[
        Bend(op="multiply", layers=(1, 3), constant=1.8, window=(0.2, 0.4))]), tiny_model)
    assert np.array_equal(windowed[:2], plain[:2]) and np.array_equal(windowed[4:], plain[4:])
    assert (windowed[2:4] != plain[2:4]).mean() > 0.05


def test_a_bend_over_a_range_of_steps_is_each_step_in_turn(tmp_path, wav, tiny_model):
    clip = wav(0.2)
    over_range = render_frames(settings(tmp_path, clip, bends=[Bend(op="multiply", layers=(1, 3), constant=1.2)]),
                               tiny_model)
    one_by_one = render_frames(settings(tmp_path, clip, bends=[Bend(op="multiply", layer=1, constant=1.2),
                                                              Bend(op="multiply", layer=2, constant=1.2)]),
                               tiny_model)
    assert np.array_equal(over_range, one_by_one)
    assert (over_range != render_frames(settings(tmp_path, clip), tiny_model)).mean() > 0.05


# --- scene files ----------------------------------------------------------------------------


def test_dump_scene_then_render_gives_the_flags_frames(tmp_path, wav, tiny_model, capsys):
    clip = wav(0.5)
    schedule = tmp_path / "prompts.txt"
    schedule.write_text("0:00 : a floating orb\n0:00.3 : a crane: origami\n")
    flags = ["render", str(clip), "-o", str(tmp_path / "v.mp4"), "--model", "tiny", "--steps", str(STEPS),
             "--size", "64x64", "--fps", "10", "--op", "rotate_r1 | normalize_max", "--layer", "2",
             "--smooth", "median:3", "--prompts", str(schedule), "--seed", "7", "--device", DEVICE]
    path = tmp_path / "scene.yaml"
    assert main([*flags, "--dump-scene", str(path)]) == 0
    assert not (tmp_path / "v.mp4").exists()  # dumping does not render
    data = yaml.safe_load(path.read_text())
    assert data["bends"] == [{"op": "rotate_r1 | normalize_max", "layer": 2, "smooth": "median:3"}]
    assert "op" not in data and data["seed"] == 7 and "a crane: origami" in data["prompts"]
    loaded = scene.load(path)
    from netbend.cli import build_parser
    from netbend.settings.flags import render_job

    from_flags, _ = render_job(build_parser().parse_args(flags))
    assert np.array_equal(render_frames(loaded, tiny_model), render_frames(from_flags, tiny_model))


def test_scene_paths_are_relative_to_the_scene_and_render_from_the_cli(tmp_path, wav, capsys):
    clip = wav(0.4, name="song.wav")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "audio": "song.wav", "output": "out/scene.mp4", "model": "tiny", "steps": 2, "size": [64, 64], "fps": 10,
        "device": DEVICE,
        "bends": [{"op": "rotate_r1", "feature": "rms"}, {"op": "threshold", "layer": 0, "constant": 0.2}],
    }))
    assert main(["render", str(tmp_path / "s.yaml"), "--quiet"]) == 0
    assert (tmp_path / "out" / "scene.mp4").exists() and clip.exists()
    import json

    side = json.loads((tmp_path / "out" / "scene.json").read_text())
    assert [b["op"] for b in side["bends"]] == ["rotate_r1", "threshold"]


@pytest.mark.parametrize(("data", "message"), [
    ({"audio": "a.wav", "output": "o.mp4", "stepz": 4}, "unknown key 'stepz'"),
    ({"audio": "a.wav", "output": "o.mp4", "steps": "many"}, "steps must be an integer, got 'many'"),
    ({"audio": "a.wav", "output": "o.mp4", "size": 64}, "size must be a pair"),
    ({"output": "o.mp4"}, "needs the key 'audio'"),
    ({"audio": "a.wav", "output": "o.mp4", "bends": [{"op": "add", "lyer": 3}]}, r"unknown key bends\[0\].'lyer'"),
    ({"audio": "a.wav", "output": "o.mp4", "bends": [{"op": "add", "keyframes": [1, 2]}]}, r"bends\[0\].keyframes must be"),
    ({"audio": "a.wav", "output": "o.mp4", "bends": "add"}, "bends must be a list"),
    ({"audio": "a.wav", "output": "o.mp4", "steps": None}, "steps needs a value"),
    ({"audio": "a.wav", "output": "o.mp4", "size": ["a", 64]}, r"size must be a pair of integers"),
    ({"audio": "a.wav", "output": "o.mp4", "duration": "soon"}, "duration: cannot read 'soon' as a length"),
    ({"audio": "a.wav", "output": "o.mp4", "bends": [{"op": 5}]}, r"bends\[0\].op must be text, got 5"),
    ({"audio": "a.wav", "output": "o.mp4", "bends": [{"op": "add", "layer": "1"}]}, r"bends\[0\].layer must be an integer"),
    ({"audio": 5, "output": "o.mp4"}, "audio must be text, got 5"),
])
def test_scene_validation_names_the_key_and_value(tmp_path, data, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(NetbendError, match=message):
        scene.load(path)


@pytest.mark.parametrize(("bend", "message"), [
    ({"op": "add", "layer": 9}, r"bends\[0\].layer must be in \[0, 3\]"),
    ({"op": "add", "layers": (2, 9)}, r"bends\[0\].layers must be START:STOP with START < STOP within \[0, 4\], got 2:9"),
    ({"op": "add", "layers": (2, 2)}, r"bends\[0\].layers must be START:STOP with START < STOP"),
    ({"op": "add", "constant": 1.0, "keyframes": [(0, 1)]}, "choose one driver"),
    ({"op": "add", "window": (3, 1)}, r"bends\[0\].window must be"),
    ({"op": "add", "keyframes": [(1, 0), (0, 1)]}, "increasing times"),
    ({"op": "wobble"}, "unknown operator 'wobble'"),
])
def test_bend_checks_name_the_bend(tmp_path, wav, bend, message):
    with pytest.raises(NetbendError, match=message):
        settings(tmp_path, wav(0.2), bends=[Bend(**bend)]).check()


def test_scene_panels_load_dump_and_validate(tmp_path):
    path = tmp_path / "four.yaml"
    path.write_text(yaml.safe_dump({
        "audio": "song.wav", "output": "four.mp4",
        "panels": [{"seed": 1, "bends": [{"op": "rotate_r1", "stem": "drums.wav"}]},
                   {"seed": 2, "prompt": "a crane", "bends": [{"op": "threshold", "constant": 0.5}]}],
    }))
    s = scene.load(path)
    assert s.panels[0].generation.seed == 1 and s.panels[0].bends[0].stem == str(tmp_path / "drums.wav")
    assert s.panels[1].bends[0] == Bend(op="threshold", constant=0.5)
    again = scene.load(scene.dump(s, tmp_path / "again.yaml"))
    assert again.panels == s.panels
    path.write_text(yaml.safe_dump({"audio": "a.wav", "output": "o.mp4", "panels": [{"size": [64, 64]}]}))
    with pytest.raises(NetbendError, match=r"panels\[0\].size cannot differ between panels"):
        scene.load(path)


@pytest.mark.parametrize("panel, message", [
    ({"scheduler": "bogus"}, r"unknown panels\[1\].scheduler 'bogus'"),
    ({"guidance": -3.0}, r"panels\[1\].guidance must be a non-negative number"),
    ({"interpolation": "cubic"}, r"panels\[1\].interpolation must be lerp or slerp"),
    ({"prompts": "nonsense"}, "prompt schedule line 1"),
    ({"walk": float("inf")}, r"panels\[1\].walk must be a finite number"),
    ({"bends": [Bend(op="rotate_r1", layer=99)]}, r"panels\[1\].bends\[0\].layer must be in"),
])
def test_every_panel_is_checked_before_any_renders(tmp_path, wav, panel, message):
    with pytest.raises(NetbendError, match=message):
        settings(tmp_path, wav(0.2), panels=[{"seed": 1}, panel]).check()
