"""Reproducible files, folders that cannot be made, and two renders sharing a frames folder."""

import subprocess
import sys
import time

import pytest

from netbend.cli import main

from conftest import DEVICE
from test_cli import assert_one_line_error, run

TINY = ["--model", "tiny", "--steps", "2", "--size", "64x64", "--fps", "10", "--quiet", "--device", DEVICE]


def netbend(*argv: str, **kw) -> subprocess.CompletedProcess:
    """The command as a user runs it: a process of its own."""
    return subprocess.run([sys.executable, "-m", "netbend", *argv], capture_output=True, text=True, timeout=300, **kw)


def test_the_same_command_twice_writes_the_same_bytes(tmp_path, wav):
    clip = wav(2.0)
    for name in ("a", "b"):
        proc = netbend("render", str(clip), "-o", str(tmp_path / f"{name}.mp4"), *TINY, "--op", "add_sparse",
                       "--layer", "1", "--seed", "3")
        assert proc.returncode == 0, proc.stderr
    a, b = (tmp_path / "a.mp4").read_bytes(), (tmp_path / "b.mp4").read_bytes()
    assert len(a) > 1000 and a == b


@pytest.mark.parametrize("argv", [
    ["render", "{clip}", "-o", "{bad}/out.mp4"],
    ["render", "{clip}", "-o", "{tmp}/out.mp4", "--frames-dir", "{bad}/frames"],
    ["render", "{clip}", "-o", "{tmp}/out.mp4", "--dump-scene", "{bad}/scene.yaml"],
    ["features", "{clip}", "--csv", "{bad}/f.csv"],
    ["grid", "--op", "add", "-o", "{bad}/grid.png"],
])
@pytest.mark.parametrize("bad", ["/proc/netbend-test", "/sys/netbend-test/deeper"])
def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path, wav, capsys, argv, bad):
    clip = wav(0.3)
    argv = [a.format(clip=clip, tmp=tmp_path, bad=bad) for a in argv]
    tiny = [a for a in TINY if a not in ("--fps", "10")] if argv[0] == "grid" else TINY
    code, _, err = run(capsys, *argv, *(tiny if argv[0] != "features" else []))
    assert_one_line_error(code, err, "netbend-test")


def test_a_second_render_into_the_same_frames_folder_stops_and_a_killed_one_leaves_no_lock(tmp_path, wav, capsys):
    clip = wav(3.0)  # 30 frames: the first render is still busy when the second starts
    frames = tmp_path / "frames"
    first = ["render", str(clip), "-o", str(tmp_path / "a.mp4"), "--frames-dir", str(frames), *TINY]
    proc = subprocess.Popen([sys.executable, "-m", "netbend", *first], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not list(frames.glob("0*.png")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, "the first render ended before the second started"
        code, _, err = run(capsys, "render", str(clip), "-o", str(tmp_path / "b.mp4"), "--frames-dir", str(frames), *TINY)
        assert_one_line_error(code, err, f"frames folder {frames} is in use by another netbend render")
        assert not (tmp_path / "b.mp4").exists()
    finally:
        proc.kill()  # as a crash would: the lock goes with the process
        proc.wait()
    assert (frames / ".netbend-frames.lock").exists()  # the file stays; the lock on it does not
    assert main(first) == 0  # resumes
    assert len(list(frames.glob("0*.png"))) == 30
