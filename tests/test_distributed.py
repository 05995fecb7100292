"""Rendering on Ray workers: the same frames as a local render, through a lost worker, an interrupted
driver and a worker that cannot load the model. Ray runs with two CPUs and is stopped at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import ray
import torch

from conftest import settings
from netbend.errors import NetbendError
from netbend.jobs.events import Progress, Stage
from netbend.jobs.render import render
from test_cli import TINY

CLIP_SECONDS = 2.0  # 20 frames at 10 fps


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    import soundfile

    from conftest import tone

    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    soundfile.write(path, tone(CLIP_SECONDS), 16000)
    return path


def one_thread_render(job):
    """A local render with one torch thread, as each CPU worker runs (float sums depend on threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return render(job)
    finally:
        torch.set_num_threads(threads)


def frames(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("0*.png"))}


def test_two_workers_make_the_frames_of_a_local_render(tmp_path, clip):
    from netbend.settings import Bend

    # a latent bend and a network-site bend with a random operator (per-frame random streams)
    bends = [Bend(op="add_random_rows:fraction=0.3", site="unet.mid_block", channels="0.25", constant=1.0)]
    local = settings(tmp_path, clip, frames_dir=str(tmp_path / "local"), output=str(tmp_path / "local.mp4"),
                     op="rotate_r1", layer=2, feature="rms", bends=bends)
    one_thread_render(local)
    remote = settings(tmp_path, clip, frames_dir=str(tmp_path / "ray"), output=str(tmp_path / "ray.mp4"), workers=2,
                      op="rotate_r1", layer=2, feature="rms", bends=bends)
    [result] = render(remote)
    made = frames(tmp_path / "ray")
    assert len(made) == 20 and made == frames(tmp_path / "local")
    rendering = json.loads(result.sidecar.read_text())["rendering"]
    assert rendering["by"] == "ray" and rendering["workers"] == 2 and sum(rendering["frames_per_worker"]) == 20


def test_a_killed_worker_loses_only_its_frames_in_flight(tmp_path, clip):
    bend = dict(op="rotate_r1", layer=1, feature="rms")
    one_thread_render(settings(tmp_path, clip, frames_dir=str(tmp_path / "local"), output=str(tmp_path / "l.mp4"), **bend))
    pids, killed = [], []

    def kill_one_worker(event):
        if isinstance(event, Stage) and event.text.startswith("worker "):
            pids.append(int(event.text.rsplit("pid ", 1)[1].rstrip(")")))
        if isinstance(event, Progress) and "encoding" not in event.task and event.done >= 4 and not killed:
            os.kill(pids[0], signal.SIGKILL)  # an OOM kill or a preempted node, mid-render
            killed.append(pids[0])

    job = settings(tmp_path, clip, frames_dir=str(tmp_path / "ray"), output=str(tmp_path / "r.mp4"), workers=2, **bend)
    [result] = render(job, report=kill_one_worker)
    assert killed and frames(tmp_path / "ray") == frames(tmp_path / "local")
    assert json.loads(result.sidecar.read_text())["rendering"]["workers_lost"] == 1


def test_an_interrupted_driver_resumes_with_workers(tmp_path, clip):
    args = ["render", str(clip), "-o", str(tmp_path / "v.mp4"), "--frames-dir", str(tmp_path / "frames"), "--op",
            "rotate_r1", "--layer", "1", *TINY, "--steps", "3", "--workers", "2"]
    # Ctrl-C as in a terminal: a suite started in the background (`cmd &`) ignores SIGINT, and its children
    # would inherit that and never see the signal
    driver = subprocess.Popen([sys.executable, "-m", "netbend", *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while len(list((tmp_path / "frames").glob("0*.png"))) < 6 and time.time() < deadline and driver.poll() is None:
        time.sleep(0.05)
    assert driver.poll() is None, "the driver finished before it could be interrupted"
    driver.send_signal(signal.SIGINT)  # Ctrl-C: the driver stops its Ray and exits
    assert driver.wait(timeout=60) == 130
    kept = len(list((tmp_path / "frames").glob("0*.png")))
    assert 6 <= kept < 20
    from netbend.cli import main

    assert main(args) == 0  # the same command again: the missing frames only
    one_thread_render(settings(tmp_path, clip, frames_dir=str(tmp_path / "local"), output=str(tmp_path / "l.mp4"),
                               op="rotate_r1", layer=1, steps=3))
    assert frames(tmp_path / "frames") == frames(tmp_path / "local")


def test_a_worker_that_cannot_load_the_model_stops_the_render_in_one_line(tmp_path, clip):
    (tmp_path / "model").mkdir()  # a folder the driver sees, holding no model (as a path only the driver has)
    job = settings(tmp_path, clip, model=str(tmp_path / "model"), workers=2, op="rotate_r1")
    with pytest.raises(NetbendError, match="a worker cannot load the model: .* same path on every node") as e:
        render(job)
    assert "\n" not in str(e.value)


def test_a_bad_operator_value_in_a_worker_is_the_local_message(tmp_path, clip):
    job = settings(tmp_path, clip, workers=2, op="dilate:k=3", site="unet.mid_block", channels="0:500")
    with pytest.raises(NetbendError) as remote:
        render(job)
    with pytest.raises(NetbendError) as local:
        render(settings(tmp_path, clip, op="dilate:k=3", site="unet.mid_block", channels="0:500"))
    assert str(remote.value) == str(local.value)


def test_a_grid_on_two_workers_equals_the_local_grid(tmp_path):  # a layer asked twice, too
    import numpy as np
    from PIL import Image

    from netbend.jobs.grid import render_grid
    from netbend.settings import Generation, GridJob

    def grid(name, **kw):
        job = GridJob(op="rotate_r1", output=str(tmp_path / f"{name}.png"), values=[0.0, 1.0, 2.0], layers=[0, 3, 0, 6],
                      generation=Generation(model="tiny", steps=6, size=(64, 64), device="cpu"), **kw)
        return render_grid(job)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = grid("local")
    finally:
        torch.set_num_threads(threads)
    remote = grid("ray", workers=2)
    assert remote.layers == local.layers and np.array_equal(remote.cells, local.cells)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "ray.png")), np.asarray(Image.open(tmp_path / "local.png")))


def test_ray_stops_and_leaves_no_process_behind():
    ray.shutdown()  # the module's Ray (the fixture's shutdown after this is a no-op)
    deadline = time.time() + 30
    while time.time() < deadline:
        left = subprocess.run(["pgrep", "-f", "raylet|gcs_server|ray::"], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(0.5)
    assert not left, left
