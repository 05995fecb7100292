"""Never lose work: frames on disk, resume after a kill, excerpts, one video per seed."""

import subprocess
import sys
import time

import av
import numpy as np

from netbend.cli import main

from conftest import DEVICE

TINY = ["--model", "tiny", "--steps", "3", "--size", "64x64", "--fps", "10", "--quiet", "--device", DEVICE]


def png(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def decoded(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_an_interrupted_render_resumes_to_the_same_video(tmp_path, wav, capsys):
    clip = wav(3.0)  # 30 frames
    bend = ["--op", "add_sparse:fraction=0.2", "--layer", "1"]  # random: the resumed frames must redraw the same masks
    args = ["render", str(clip), "-o", str(tmp_path / "v.mp4"), "--frames-dir", str(tmp_path / "frames"), *TINY, *bend]
    proc = subprocess.Popen([sys.executable, "-m", "netbend", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while len(list((tmp_path / "frames").glob("0*.png"))) < 8 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    kept = len(list((tmp_path / "frames").glob("0*.png")))
    assert 8 <= kept < 30 and not (tmp_path / "v.mp4").exists()
    assert main(args) == 0  # the same command again
    assert len(decoded(tmp_path / "v.mp4")) == 30
    assert len(list((tmp_path / "frames").glob("0*.png"))) == 30  # --frames-dir keeps them
    ref = ["render", str(clip), "-o", str(tmp_path / "ref.mp4"), "--frames-dir", str(tmp_path / "ref"), *TINY, *bend]
    assert main(ref) == 0  # uninterrupted
    for i in range(30):  # the frames made before and after the interruption are those of an uninterrupted run
        assert np.array_equal(png(tmp_path / "frames" / f"{i:05d}.png"), png(tmp_path / "ref" / f"{i:05d}.png")), i
    assert main(["render", str(clip), "-o", str(tmp_path / "w.mp4"), *TINY, *bend]) == 0
    assert not list(tmp_path.glob(".w.frames"))  # the default work folder goes after encoding


def test_kept_frames_made_with_other_settings_are_not_mixed_in(tmp_path, wav, capsys):
    clip = wav(0.5)
    args = ["render", str(clip), "-o", str(tmp_path / "v.mp4"), "--frames-dir", str(tmp_path / "f"), *TINY]
    assert main(args) == 0
    code = main([*args[:3], str(tmp_path / "w.mp4"), *args[4:], "--seed", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "were made with other settings (seed)" in err and "--overwrite" in err
    assert main([*args[:3], str(tmp_path / "w.mp4"), *args[4:], "--seed", "3", "--overwrite"]) == 0
    assert not np.array_equal(decoded(tmp_path / "v.mp4"), decoded(tmp_path / "w.mp4"))


def test_an_excerpt_has_its_frames_and_audio_and_equals_the_full_render(tmp_path, wav, capsys):
    from PIL import Image

    clip = wav(3.0, sr=16000)
    common = [*TINY, "--op", "rotate_r1"]
    assert main(["render", str(clip), "-o", str(tmp_path / "full.mp4"), "--frames-dir", str(tmp_path / "ff"), *common]) == 0
    assert main(["render", str(clip), "-o", str(tmp_path / "part.mp4"), "--frames-dir", str(tmp_path / "pf"), *common,
                 "--start", "1", "--duration", "1.2s"]) == 0
    assert len(decoded(tmp_path / "part.mp4")) == 12
    with av.open(str(tmp_path / "part.mp4")) as c:
        a = c.streams.audio[0]
        assert abs(float(a.duration * a.time_base) - 1.2) < 0.05
    kept = sorted(p.name for p in (tmp_path / "pf").glob("0*.png"))
    assert kept == [f"{i:05d}.png" for i in range(10, 22)]  # frames keep their place in the song
    for name in kept:  # the excerpt's frames are the full render's (before H.264 compression)
        assert np.array_equal(np.asarray(Image.open(tmp_path / "pf" / name)), np.asarray(Image.open(tmp_path / "ff" / name)))
    code = main(["render", str(clip), "-o", str(tmp_path / "none.mp4"), *TINY, "--start", "5"])
    assert code == 2 and "holds no whole frame" in capsys.readouterr().err


def test_one_video_per_seed(tmp_path, wav, capsys):
    clip = wav(0.3)
    assert main(["render", str(clip), "-o", str(tmp_path / "b.mp4"), *TINY, "--seeds", "1,2"]) == 0
    one, two = decoded(tmp_path / "b_seed1.mp4"), decoded(tmp_path / "b_seed2.mp4")
    assert len(one) == len(two) == 3 and not np.array_equal(one, two)
    (tmp_path / "b_seed2.mp4").unlink()  # as if the run had been stopped during seed 2
    assert main(["render", str(clip), "-o", str(tmp_path / "b.mp4"), *TINY, "--seeds", "1,2"]) == 0
    assert "kept" in capsys.readouterr().out and (tmp_path / "b_seed2.mp4").exists()
    code = main(["render", str(clip), "-o", str(tmp_path / "c.mp4"), *TINY, "--seeds", "1,x"])
    assert code == 2 and "--seeds must be integers" in capsys.readouterr().err


def test_panels_of_stems_and_seeds_side_by_side(tmp_path, wav, capsys):
    import json

    import soundfile

    clip = wav(0.5)
    t = np.arange(8000) / 16000
    for name, gain in (("drums", t > 0.25), ("bass", t <= 0.25)):
        soundfile.write(tmp_path / f"{name}.wav", (np.sin(2 * np.pi * 100 * t) * gain).astype(np.float32), 16000)
    stems = f"{tmp_path / 'drums.wav'},{tmp_path / 'bass.wav'}"
    out = tmp_path / "p.mp4"
    assert main(["render", str(clip), "-o", str(out), *TINY, "--op", "rotate_r1", "--range", "0:3", "--panel-stems", stems,
                 "--frames-dir", str(tmp_path / "pf")]) == 0
    video = decoded(out)
    assert video.shape == (5, 64, 128, 3)  # two 64x64 panels side by side
    side = json.loads(out.with_suffix(".json").read_text())
    r = [np.array(p["bends"][0]["frames"]["r"]) for p in side["panels"]]
    assert r[0][0] == 0 and r[1][-1] == 0 and not np.array_equal(r[0], r[1])  # each panel its own driver
    from PIL import Image

    left = np.asarray(Image.open(tmp_path / "pf" / "panel0" / "00003.png"))
    right = np.asarray(Image.open(tmp_path / "pf" / "panel1" / "00003.png"))
    assert not np.array_equal(left, right)
    assert main(["render", str(clip), "-o", str(tmp_path / "s.mp4"), *TINY, "--seeds", "1,2,3", "--panels"]) == 0
    assert decoded(tmp_path / "s.mp4").shape == (5, 64, 192, 3)
    code = main(["render", str(clip), "-o", str(tmp_path / "x.mp4"), *TINY, "--panels"])
    assert code == 2 and "give --seeds" in capsys.readouterr().err


def test_overwrite_discards_only_the_frames_never_other_files(tmp_path, wav, capsys):
    clip = wav(0.3)
    (tmp_path / "notes.txt").write_text("mine")
    args = ["render", str(clip), "-o", str(tmp_path / "v.mp4"), "--frames-dir", str(tmp_path), *TINY]
    assert main(args) == 0
    assert main([*args[:3], str(tmp_path / "w.mp4"), *args[4:], "--seed", "5", "--overwrite"]) == 0
    assert (tmp_path / "notes.txt").read_text() == "mine" and clip.exists()
    assert len(list(tmp_path.glob("0*.png"))) == 3


def test_a_longer_song_under_the_same_name_is_not_resumed_from_old_frames(tmp_path, wav, capsys):
    import soundfile

    from conftest import tone

    clip = wav(2.0)
    args = ["render", str(clip), "-o", str(tmp_path / "v.mp4"), "--frames-dir", str(tmp_path / "f"), *TINY,
            "--duration", "1"]
    assert main(args) == 0
    soundfile.write(clip, tone(3.0, 16000), 16000)  # the noise walk spreads over the whole song: frames change
    code = main([*args[:3], str(tmp_path / "w.mp4"), *args[4:]])
    assert code == 2 and "song_frames" in capsys.readouterr().err


def test_a_scene_takes_the_flags_given_on_the_command_line(tmp_path, wav, capsys):
    import yaml

    clip = wav(2.0)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"audio": str(clip), "output": str(tmp_path / "s.mp4"),
                                                     "model": "tiny", "steps": 2, "size": [64, 64], "fps": 10}))
    assert main(["render", str(tmp_path / "s.yaml"), "--start", "0.5s", "--duration", "0:00.5", "--size", "32x32",
                 "--quiet", "--device", DEVICE]) == 0
    assert decoded(tmp_path / "s.mp4").shape == (5, 32, 32, 3)


def test_dump_scene_keeps_panels(tmp_path, wav, capsys):
    clip = wav(0.3)
    path = tmp_path / "p.yaml"
    assert main(["render", str(clip), "-o", str(tmp_path / "p.mp4"), *TINY, "--seeds", "1,2", "--panels",
                 "--dump-scene", str(path)]) == 0
    assert main(["render", str(path), "--quiet"]) == 0
    assert decoded(tmp_path / "p.mp4").shape == (3, 64, 128, 3)
    # without --panels the seeds are the scene's too: one video each
    seeds = tmp_path / "q.yaml"
    assert main(["render", str(clip), "-o", str(tmp_path / "q.mp4"), *TINY, "--seeds", "1,2", "--dump-scene",
                 str(seeds)]) == 0
    assert main(["render", str(seeds), "--quiet"]) == 0
    one, two = decoded(tmp_path / "q_seed1.mp4"), decoded(tmp_path / "q_seed2.mp4")
    assert one.shape == two.shape == (3, 64, 64, 3) and not np.array_equal(one, two)
