import subprocess
import sys

import av
import pytest

from netbend.cli import main

from conftest import DEVICE

TINY = ["--model", "tiny", "--steps", "2", "--size", "64x64", "--fps", "10", "--quiet", "--device", DEVICE]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netbend: error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


def test_render_from_the_command_line(tmp_path, wav, capsys):
    clip = wav(1.0)
    out = tmp_path / "v.mp4"
    code, stdout, _ = run(capsys, "render", str(clip), "-o", str(out), "--op", "rotate_r1", "--feature", "rms",
                          "--layer", "2", *TINY)
    assert code == 0 and "10 frames" in stdout
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 10 and len(c.streams.audio) == 1
    assert out.with_suffix(".json").exists()
    code, _, err = run(capsys, "render", str(clip), "-o", str(out), *TINY)
    assert_one_line_error(code, err, "exists", "--overwrite")


def test_demo_renders_offline(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    code, stdout, _ = run(capsys, "demo", "-o", str(out), "--duration", "1.0", "--steps", "2", "--size", "64x64",
                          "--fps", "8", "--quiet")
    assert code == 0
    assert out.with_suffix(".wav").exists()
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 8
        assert abs(float(c.streams.audio[0].duration * c.streams.audio[0].time_base) - 1.0) < 0.05


def test_demo_never_overwrites_a_track_and_checks_its_steps(tmp_path, capsys):
    song = tmp_path / "song.wav"
    song.write_bytes(b"precious")
    code, _, err = run(capsys, "demo", "-o", str(tmp_path / "song.mp4"), "--duration", "0.5", *TINY)
    assert_one_line_error(code, err, "song.wav exists", "--overwrite")
    assert song.read_bytes() == b"precious"
    code, _, err = run(capsys, "demo", "-o", str(tmp_path / "d.mp4"), *TINY, "--steps", "0")
    assert_one_line_error(code, err, "--steps must be at least 1")
    assert not (tmp_path / "d.wav").exists()


@pytest.mark.parametrize(("argv", "needles"), [
    (["render", "{tmp}/missing.wav"], ["audio file not found", "missing.wav"]),
    (["render", "{junk}"], ["cannot read audio", "junk.wav"]),
    (["render", "{clip}", "--op", "twirl"], ["unknown operator 'twirl'"]),
    (["render", "{clip}", "--op", "add", "--layer", "3"], ["--layer must be in [0, 2]", "got 3"]),
    (["render", "{clip}", "--size", "100x64"], ["multiples of 8", "100x64"]),
    (["render", "{tmp}"], ["is a folder"]),
    (["render", "{clip}", "--seed", "-1"], ["--seed"]),
    (["render", "{clip}", "--steps", "2000"], ["cannot make 2000 steps"]),
    (["render", "{clip}", "--scheduler", "lcm", "--steps", "60"], ["scheduler lcm cannot make 60 steps"]),
    (["render", "{clip}", "--device", "cuda:99"], ["device cuda:99 is not available"]),
    (["render", "{clip}", "--op", "add", "--range", "0:nan"], ["--range must be two finite numbers"]),
    (["render", "{clip}", "--fps", "inf"], ["--fps must be a finite number"]),
    (["render", "{clip}", "--layer", "1"], ["give --op"]),
    (["render", "{clip}", "-o", "{clip}/o.mp4"], ["is not a writable folder"]),
])
def test_bad_input_gives_one_line_error(tmp_path, wav, capsys, argv, needles):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really a wave file" * 50)
    clip = wav(0.5)
    argv = [a.format(tmp=tmp_path, junk=junk, clip=clip) for a in argv]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "o.mp4")]
    code, _, err = run(capsys, argv[0], *TINY, *argv[1:])
    assert_one_line_error(code, err, *needles)


@pytest.mark.parametrize("model", ["./no/such/folder", "{tmp}/missing.safetensors", "{tmp}/weights.bin"])
def test_model_path_that_does_not_exist_or_is_not_a_model(tmp_path, wav, capsys, model):
    (tmp_path / "weights.bin").write_bytes(b"0")
    clip = wav(0.3)
    code, _, err = run(capsys, "render", str(clip), "-o", str(tmp_path / "o.mp4"), "--model",
                       model.format(tmp=tmp_path), "--steps", "2", "--quiet")
    assert_one_line_error(code, err, "--model tiny")


def test_corrupt_single_file_checkpoint(tmp_path, wav, capsys):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 64)
    code, _, err = run(capsys, "render", str(wav(0.3)), "-o", str(tmp_path / "o.mp4"), "--model", str(bad), "--quiet")
    assert_one_line_error(code, err, "cannot load single-file checkpoint", "broken.safetensors", "--model tiny")


def test_unknown_hub_model_fails_with_one_line_and_no_random_fallback(tmp_path, wav):
    # a real process, as a user runs it: no traceback reaches the terminal
    env_cmd = [sys.executable, "-m", "netbend", "render", str(wav(0.3)), "-o", str(tmp_path / "o.mp4"),
               "--model", "netbend-tests/no-such-model", "--steps", "2", "--size", "64x64", "--quiet"]
    proc = subprocess.run(env_cmd, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "HF_HUB_ETAG_TIMEOUT": "5", "HF_HUB_DOWNLOAD_TIMEOUT": "5"})
    assert proc.returncode == 2
    assert_one_line_error(proc.returncode, proc.stderr, "netbend-tests/no-such-model", "--model tiny")
    assert not (tmp_path / "o.mp4").exists()


def test_ops_lists_every_operator_and_shows_one(capsys):
    from test_operators import PAPER_NAMES

    code, out, _ = run(capsys, "ops")
    listed = {line.split()[0] for line in out.splitlines()[2:] if line and not line[0].isspace()}
    assert code == 0 and set(PAPER_NAMES) <= listed
    assert "2π" in out  # rotation ranges read as multiples of pi
    code, out, _ = run(capsys, "ops", "add_slice")
    assert code == 0 and "axis=row" in out and "index=0" in out and "0..5" in out
    code, _, err = run(capsys, "ops", "wobble")
    assert_one_line_error(code, err, "unknown operator 'wobble'")


def test_render_takes_a_chain_and_a_range_with_pi(tmp_path, wav, capsys):
    import json

    out = tmp_path / "c.mp4"
    code, _, err = run(capsys, "render", str(wav(0.5)), "-o", str(out), *TINY, "--op", "rotate_r1 | normalize_max",
                       "--range", "pi/2:3pi/2")
    assert code == 0, err
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["bends"][0]["op"] == "rotate_r1 | normalize_max"
    assert side["bends"][0]["range"] == pytest.approx([1.5707963, 4.712389])


def test_features_writes_csv_and_plot(tmp_path, wav, capsys):
    import csv

    from PIL import Image

    clip = wav(2.0, sr=22050)
    out_csv, out_png = tmp_path / "f.csv", tmp_path / "f.png"
    code, stdout, err = run(capsys, "features", str(clip), "--fps", "25", "--feature", "rms,centroid,chroma,flux",
                            "--smooth", "median:3,envelope:0.7", "--csv", str(out_csv), "--plot", str(out_png))
    assert code == 0, err
    rows = list(csv.reader(out_csv.open()))
    assert rows[0] == ["frame", "time", "rms", "centroid", *[f"chroma_{i}" for i in range(12)], "flux"]
    assert len(rows) == 1 + 50  # floor(2.0 s * 25 fps) frames
    assert rows[2][:2] == ["1", "0.040000"]
    raw_rms = [float(r[2]) for r in rows[1:]]
    code, _, _ = run(capsys, "features", str(clip), "--fps", "25", "--feature", "rms", "--smooth", "median:3,envelope:0.7",
                     "--csv", str(out_csv), "--smoothed", "--overwrite")  # an existing CSV: only when told
    smooth_rms = [float(r[2]) for r in list(csv.reader(out_csv.open()))[1:]]
    assert smooth_rms != raw_rms and len(smooth_rms) == 50
    img = Image.open(out_png)
    assert img.format == "PNG" and img.height > img.width / 3  # four stacked panels
    assert "50 frames" in stdout and "median:3,envelope:0.7" in stdout


def test_features_list_and_errors(tmp_path, wav, capsys):
    code, out, _ = run(capsys, "features", "--list")
    assert code == 0 and all(name in out for name in ("rms", "centroid", "beat", "encodec", "chroma", "bands"))
    code, _, err = run(capsys, "features", str(wav(0.5)), "--feature", "rms,loud")
    assert_one_line_error(code, err, "unknown feature 'loud'")
    code, _, err = run(capsys, "features", str(wav(0.5)), "--smooth", "median:4")
    assert_one_line_error(code, err, "odd")


def test_features_of_a_stem_follow_the_soundtrack(tmp_path, wav, capsys):
    import csv

    import numpy as np
    import soundfile

    song = wav(2.0, sr=22050)
    stem = tmp_path / "stem.wav"
    soundfile.write(stem, 0.5 * np.ones(16000, dtype=np.float32), 16000)  # 1 s, at another rate
    out = tmp_path / "s.csv"
    code, stdout, err = run(capsys, "features", str(song), "--stem", str(stem), "--feature", "rms", "--csv", str(out))
    assert code == 0, err
    rms = [float(r[2]) for r in list(csv.reader(out.open()))[1:]]
    assert len(rms) == 40  # the soundtrack's frames
    assert all(v == pytest.approx(0.5) for v in rms[:20]) and all(v == 0 for v in rms[20:])  # silence past its end
    code, _, err = run(capsys, "features", str(tmp_path / "missing.wav"), "--stem", str(stem))
    assert_one_line_error(code, err, "audio file not found")


@pytest.mark.parametrize(("extra", "needles"), [
    (["--plot", "{tmp}/f.txt"], ["--plot writes a PNG"]),
    (["--csv", "{tmp}"], ["is a folder"]),
    (["--smoothed", "--csv", "{tmp}/x.csv"], ["--smoothed", "--smooth"]),
    (["--smooth", "gaussian:inf"], ["finite"]),
    (["--feature", "bands:edges=300/100"], ["increasing"]),
    (["--feature", "mfcc:n=0"], ["mfcc: n must be a positive integer"]),
])
def test_features_bad_options_are_one_line_errors(tmp_path, wav, capsys, extra, needles):
    extra = [e.format(tmp=tmp_path) for e in extra]
    code, _, err = run(capsys, "features", str(wav(0.5)), *extra)
    assert_one_line_error(code, err, *needles)


def test_missing_audio_is_reported_first(tmp_path, capsys):
    (tmp_path / "o.mp4").write_bytes(b"old")
    code, _, err = run(capsys, "render", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "o.mp4"), *TINY)
    assert_one_line_error(code, err, "audio file not found", "nope.wav")
