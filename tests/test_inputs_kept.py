"""netbend never destroys a file the user gave it: no output replaces an input, even with --overwrite."""

from __future__ import annotations

import os

import pytest
import yaml

from netbend.generation import tiny
from test_cli import TINY, assert_one_line_error, run


def refused(capsys, needle, *argv):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, needle)


def test_a_csv_never_replaces_the_song_and_replaces_other_files_only_when_told(tmp_path, wav, capsys):
    song = wav(0.5)
    before = song.read_bytes()
    refused(capsys, f"--csv {song} is the input audio; choose another name",
            "features", str(song), "--feature", "rms", "--csv", str(song), "--overwrite")
    assert song.read_bytes() == before
    other = tmp_path / "notes.csv"
    other.write_text("mine")
    refused(capsys, "exists; pass --overwrite to replace it", "features", str(song), "--csv", str(other))
    assert other.read_text() == "mine"
    assert run(capsys, "features", str(song), "--csv", str(other), "--overwrite")[0] == 0
    assert other.read_text().startswith("frame,time,rms")


def test_a_video_input_is_never_its_own_output(tmp_path, wav, capsys):
    video = tmp_path / "v.mp4"
    assert run(capsys, "render", str(wav(0.3)), "-o", str(video), *TINY)[0] == 0  # a video is a valid audio input
    before = video.read_bytes()
    refused(capsys, f"-o/--output {video} is the input audio", "render", str(video), "-o", str(video), "--overwrite", *TINY)
    os.chdir(tmp_path)  # ./v.mp4 against the absolute path: the same file
    refused(capsys, "is the input audio", "render", str(video), "-o", "./v.mp4", "--overwrite", *TINY)
    assert video.read_bytes() == before


@pytest.mark.parametrize("link", [os.symlink, os.link])
def test_a_link_to_the_input_is_the_input(tmp_path, wav, capsys, link):
    song = wav(0.3)
    before = song.read_bytes()
    link(song, tmp_path / "out.mp4")
    refused(capsys, "is the input audio", "render", str(song), "-o", str(tmp_path / "out.mp4"), "--overwrite", *TINY)
    assert song.read_bytes() == before


def test_a_prompt_schedule_and_a_scene_are_inputs(tmp_path, wav, capsys):
    song = wav(0.3)
    schedule = tmp_path / "schedule.mp4"  # any name is a valid schedule file
    schedule.write_text("0:00 : an orb\n")
    refused(capsys, "is the prompt schedule", "render", str(song), "--prompts", str(schedule), "-o", str(schedule),
            "--overwrite", *TINY)
    assert schedule.read_text() == "0:00 : an orb\n"
    scene = tmp_path / "s.yaml"
    scene.write_text(yaml.safe_dump({"audio": str(song), "output": "s.mp4", "model": "tiny"}))
    before = scene.read_bytes()
    refused(capsys, f"--dump-scene {scene} is the scene file", "render", str(scene), "--dump-scene", str(scene),
            "--overwrite")
    assert scene.read_bytes() == before


def test_nothing_is_written_inside_a_decoder_or_lora_folder(tmp_path, capsys):
    tiny.taesd().save_pretrained(tmp_path / "taesd")
    refused(capsys, f"-o/--output {tmp_path / 'taesd' / 'g.png'} is inside the decoder", "grid", "--op", "rotate_r1",
            "--model", "tiny", "--decoder", str(tmp_path / "taesd"), "-o", str(tmp_path / "taesd" / "g.png"))
    lora = tiny.save_lora(tmp_path / "lora")
    refused(capsys, "is inside a LoRA", "sites", "--model", "tiny", "--lora", str(lora.parent), "--clusters", "2",
            "--preview", str(lora.parent / "previews"))
    assert sorted(p.name for p in lora.parent.iterdir()) == [lora.name]


def test_a_frames_folder_never_takes_an_input(tmp_path, wav, capsys):
    song = wav(0.3)
    frames = tmp_path / "frames"
    frames.mkdir()
    schedule = frames / "00000.png"  # named like the first frame, which a store with --overwrite would delete
    schedule.write_text("0:00 : an orb\n")
    (frames / "mine.txt").write_text("kept")
    refused(capsys, "holds the prompt schedule 00000.png, named like a frame", "render", str(song), "--prompts",
            str(schedule), "-o", str(tmp_path / "o.mp4"), "--frames-dir", str(frames), "--overwrite", *TINY)
    assert schedule.read_text() == "0:00 : an orb\n" and (frames / "mine.txt").read_text() == "kept"
    refused(capsys, f"--frames-dir {song} is the input audio", "render", str(song), "-o", str(tmp_path / "p.mp4"),
            "--frames-dir", str(song), *TINY)
    # files named like frames without netbend's record of them are not taken for frames
    refused(capsys, "holds files named like frames but no record", "render", str(song), "-o", str(tmp_path / "r.mp4"),
            "--frames-dir", str(frames), *TINY)
    assert schedule.read_text() == "0:00 : an orb\n"
    schedule.unlink()
    # a frames folder holding the user's other files keeps them through a render and its clean-up
    assert run(capsys, "render", str(song), "-o", str(tmp_path / "q.mp4"), "--frames-dir", str(frames), *TINY)[0] == 0
    assert (frames / "mine.txt").read_text() == "kept"
