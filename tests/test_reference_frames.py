"""Frames that must not change: pixel hashes made before the redesign of issue 11.

The hashes below were computed at commit 41e92e5 (before settings, pipeline and job runner
were rewritten) by rendering these same commands through the command line, on the CPU in
float32 with one thread (torch 2.13.0), and hashing each frame's RGB pixels in file order.
They are an independent record: they come from the old code, not from the code under test.
A change to any of them must be stated, with its reason, in the commit that makes it.

One thread, because the order of float sums in a convolution depends on the thread count
(2 threads and 1 thread give frames a grey level apart here); on CUDA (float16) the frames
differ by design, so the comparison is made on the CPU only.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml
from PIL import Image

from conftest import DEVICE, tone
from netbend.cli import main

TINY = ["--model", "tiny", "--size", "64x64", "--fps", "10", "--quiet", "--device", "cpu"]

REFERENCE = {  # name: (frames, sha256 of their pixels)
    "schedule_rotate_r1_rms_layer3": (10, "2815355ae0830e00a479b54c79030a6f53a45007fc5615b9c041b61b4531c098"),
    "scene_euler_a_three_sites": (10, "4861fdfaea1f0aef1420312f67e7f816d16f77f33edad2acc440f4028b95572c"),
    "grid_rotate_r1": (9, "a941c28475b4473a8152729a70bed39dcfd3589e686a999b8a21fdcc200430f8"),
    "panel_seed3": (10, "1f447359b2ceed74a18576b27eba5719ce1aac3c36885f794399ed2a2eecf13d"),
    "panel_seed4": (10, "6f397e361367ad3e706445f2b17b58f09d05fbb40bd9a5380bb6338c9a1d9f50"),
}


def digest(folder: Path) -> tuple[int, str]:
    files = sorted(folder.glob("[0-9]*.png")) or sorted(folder.glob("layer*_*.png"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(np.asarray(Image.open(f).convert("RGB")).tobytes())
    return len(files), h.hexdigest()


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.skipif(DEVICE != "cpu", reason="the reference frames are the CPU's (float32); CUDA renders in float16")
def test_frames_equal_those_made_before_the_redesign(tmp_path, one_thread):
    soundfile.write(tmp_path / "clip.wav", tone(1.0, 16000), 16000)
    (tmp_path / "sched.txt").write_text("0:00 : a floating orb\n0:00.5 : a crane: origami, paper\n")
    got = {}
    # the case: DDIM, rotate_r1 driven by rms, a prompt schedule, the bend mid-way
    assert main(["render", str(tmp_path / "clip.wav"), "-o", str(tmp_path / "a.mp4"), *TINY, "--steps", "6",
                 "--scheduler", "ddim", "--op", "rotate_r1", "--feature", "rms", "--layer", "3",
                 "--prompts", str(tmp_path / "sched.txt"), "--frames-dir", str(tmp_path / "a")]) == 0
    got["schedule_rotate_r1_rms_layer3"] = digest(tmp_path / "a")
    # a scene: a random sampler, a random operator over a range of steps, a UNet site with a seeded
    # fraction of its channels and smoothing, a VAE site with a window
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "audio": "clip.wav", "output": "b.mp4", "model": "tiny", "steps": 5, "size": [64, 64], "fps": 10,
        "device": "cpu", "scheduler": "euler_a", "guidance": 3.0, "negative_prompt": "blurry", "walk": 1.0, "seed": 7,
        "frames_dir": "b", "prompt": "a crane",
        "bends": [{"op": "add_sparse:fraction=0.1", "layers": [1, 3], "keyframes": [[0, 0], [1, 3]]},
                  {"op": "multiply | dilate:k=3", "site": "unet.up_blocks.1", "channels": 0.25, "steps_active": [1, 4],
                   "feature": "rms", "smooth": "median:3", "range": [0.5, 1.5]},
                  {"op": "multiply", "site": "vae.decoder.up_blocks.1", "constant": 0.7, "window": [0.3, 0.8]}]}))
    assert main(["render", str(tmp_path / "s.yaml"), "--quiet"]) == 0
    got["scene_euler_a_three_sites"] = digest(tmp_path / "b")
    # a figure grid on the shared trajectory
    assert main(["grid", "--op", "rotate_r1", "--layers", "0,3,6", "--values", "0:2pi:3", *TINY[:4], "--steps", "6",
                 "--batch", "1", "--device", "cpu", "--quiet", "-o", str(tmp_path / "g.png")]) == 0
    got["grid_rotate_r1"] = digest(tmp_path / "g")
    # seeds as panels
    assert main(["render", str(tmp_path / "clip.wav"), "-o", str(tmp_path / "p.mp4"), *TINY, "--steps", "4",
                 "--seeds", "3,4", "--panels", "--op", "threshold", "--layer", "2",
                 "--frames-dir", str(tmp_path / "p")]) == 0
    got["panel_seed3"] = digest(tmp_path / "p" / "panel0")
    got["panel_seed4"] = digest(tmp_path / "p" / "panel1")
    assert got == REFERENCE
