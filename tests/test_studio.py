"""netbend studio: its API endpoints through gradio_client, a real browser (Playwright + Debian's
chromium), and its safety rules (paths, upload size, auth off the loopback)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
import yaml
from gradio_client import Client, handle_file
from PIL import Image

from conftest import tone
from netbend.cli import main
from netbend.errors import NetbendError
from netbend.settings.studio import StudioJob
from netbend.studio.app import launch, scene_text
from netbend.studio import form

SCENE = "model: tiny\nsteps: 2\nsize: 64x64\nfps: 10\nbends:\n- op: rotate_r1\n  feature: rms\n"
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("song") / "song.wav"
    soundfile.write(path, tone(1.0), 16000)  # 1 s: 20 frames at 20 fps, 10 at 10 fps
    return path


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio")
    page, url = launch(StudioJob(port=free_port(), frames_root=str(root), model="tiny"), block=False)
    yield url, root
    page.close()


@pytest.fixture(scope="module")
def client(studio):
    return Client(studio[0], verbose=False)


def frames_of(video: str) -> tuple[int, bool]:
    with av.open(video) as c:
        return sum(1 for _ in c.decode(video=0)), bool(c.streams.audio)


def test_features_endpoint_gives_one_row_per_frame(client, song):
    png, csv_path = client.predict(handle_file(str(song)), "rms", "median:3", "0:5", 20, api_name="/features")
    rows = Path(csv_path).read_text().splitlines()
    assert rows[0] == "frame,time,rms_raw,rms_smoothed,rms_r" and len(rows) == 1 + 20
    r = [float(line.split(",")[-1]) for line in rows[1:]]
    assert min(r) == 0.0 and max(r) == 5.0  # min-max mapped onto the range given
    assert Image.open(png).format == "PNG"


def test_render_endpoint_makes_the_video_with_its_audio(client, song):
    video, sidecar = client.predict(handle_file(str(song)), SCENE, api_name="/render")
    assert frames_of(video) == (10, True)
    assert '"op": "rotate_r1"' in Path(sidecar).read_text()


def test_a_scene_saved_by_the_app_renders_to_the_same_frames_through_the_cli(client, song, studio, tmp_path, capsys):
    values = {item.elem_id: None for item in form.items()}
    values.update({"generation-model": "tiny", "generation-steps": "2", "generation-size": "64x64",
                   "video-fps": 10, "bend-op": "rotate_r1", "bend-feature": "rms", "bend-smooth": "median:3"})
    text = scene_text("", *[values[item.elem_id] for item in form.items()])  # what "Save scene" writes
    client.predict(handle_file(str(song)), text, api_name="/render")
    [kept] = [p for p in (studio[1] / "work").glob("render-*/scene.yaml") if "median:3" in p.read_text()]
    studio_frames = sorted((kept.parent / "frames").glob("0*.png"))
    saved = tmp_path / "scene.yaml"
    saved.write_text(text)
    code = main(["render", str(_with_audio(saved, song)), "-o", str(tmp_path / "cli.mp4"), "--frames-dir",
                 str(tmp_path / "frames"), "--quiet"])
    assert code == 0
    cli_frames = sorted((tmp_path / "frames").glob("0*.png"))
    assert len(studio_frames) == len(cli_frames) == 10
    for a, b in zip(studio_frames, cli_frames):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def _with_audio(scene: Path, song: Path) -> Path:
    scene.write_text(f"audio: {song}\n" + scene.read_text())
    return scene


@pytest.mark.parametrize("line, needle", [
    ("  stem: /etc/passwd\n", "stem /etc/passwd is outside the studio's folders"),
    ("  stem: ../../../../etc/hosts\n", "is outside the studio's folders"),
    ("frames_dir: /tmp\n", None),  # the studio chooses its own frames folder: a scene's is replaced
])
def test_a_scene_cannot_reach_outside_the_studio(client, studio, song, line, needle):
    text = SCENE + line if line.startswith(" ") else line + SCENE
    if needle is None:
        video, sidecar = client.predict(handle_file(str(song)), text, api_name="/render")
        assert frames_of(video)[0] == 10
        kept = json.loads(Path(sidecar).read_text())["settings"]["frames_dir"]
        assert Path(kept).is_relative_to(studio[1] / "work")  # the studio's frames folder, not /tmp
        return
    with pytest.raises(Exception, match=needle):
        client.predict(handle_file(str(song)), text, api_name="/render")


def test_a_model_folder_outside_the_studio_is_refused(client, song, tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(Exception, match="model .* is outside the studio's folders"):
        client.predict(handle_file(str(song)), SCENE.replace("model: tiny", f"model: {tmp_path / 'model'}"),
                       api_name="/render")


def test_uploads_past_the_size_limit_are_refused(tmp_path, song):
    # its own process (netbend studio from the command line): a server's upload folder is per process
    big = tmp_path / "big.wav"
    soundfile.write(big, tone(40.0, sr=16000), 16000)  # 2.6 MB
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "netbend", "studio", "--port", str(port), "--model", "tiny",
                               "--frames-root", str(tmp_path / "root"), "--max-upload-mb", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                c = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                time.sleep(0.5)
        with pytest.raises(Exception, match="(?i)size|large"):
            c.predict(handle_file(str(big)), "rms", "", "", 20, api_name="/features")
        png, _ = c.predict(handle_file(str(song)), "rms", "", "", 20, api_name="/features")  # a small one passes
        assert Path(png).exists()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_off_the_loopback_the_studio_needs_a_log_in(monkeypatch, capsys):
    monkeypatch.delenv("NETBEND_STUDIO_AUTH", raising=False)
    with pytest.raises(NetbendError, match="--host 0.0.0.0 lets other machines in: give --auth"):
        StudioJob(host="0.0.0.0").check()
    StudioJob(host="0.0.0.0", auth="me:secret").check()
    StudioJob(host="::1").check()  # the IPv6 loopback needs none
    monkeypatch.setenv("NETBEND_STUDIO_AUTH", "me:secret")
    StudioJob(host="0.0.0.0").check()
    monkeypatch.delenv("NETBEND_STUDIO_AUTH")
    assert main(["studio", "--host", "0.0.0.0"]) == 2
    assert "give --auth" in capsys.readouterr().err


def test_in_a_real_browser_upload_shape_preview_render(studio, song, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url = studio[0]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.goto(url)
        expect(page.locator("#render-button")).to_be_visible(timeout=30_000)  # the page is up
        page.locator("#song input[type=file]").set_input_files(str(song))
        plot = page.locator("#driver-plot img")
        expect(plot).to_be_visible(timeout=60_000)
        first = plot.get_attribute("src")
        page.screenshot(path=str(shots / "1-upload.png"), full_page=True)
        smooth = page.locator("#bend-smooth textarea, #bend-smooth input").first
        smooth.fill("median:9,envelope:0.8")
        smooth.press("Enter")
        expect(plot).not_to_have_attribute("src", first, timeout=60_000)  # the plot changed
        page.screenshot(path=str(shots / "2-smoothing.png"), full_page=True)
        page.get_by_text("Prompts and generation").click()  # open the section
        for elem, value in (("generation-steps", "2"), ("generation-size", "64x64"), ("bend-op", "rotate_r1")):
            box = page.locator(f"#{elem} textarea, #{elem} input").first
            box.fill(value)
            box.press("Tab")
        page.locator("#preview-seconds input").fill("0.5")
        page.locator("#preview-button").click()
        expect(page.locator("#preview-gallery img").first).to_be_visible(timeout=120_000)
        page.screenshot(path=str(shots / "3-preview.png"), full_page=True)
        page.locator("#render-button").click()
        video = page.locator("#video video")
        expect(video).to_be_visible(timeout=180_000)
        assert video.get_attribute("src")
        page.screenshot(path=str(shots / "4-render.png"), full_page=True)
        browser.close()
    assert len(list(shots.glob("*.png"))) == 4


@pytest.mark.parametrize("scene, needle", [
    (SCENE.replace("rotate_r1", "twirl"), "unknown operator 'twirl'"),
    (SCENE + "  layer: 9\n", "bends[0].layer must be in [0, 2]"),
])
def test_bad_settings_show_the_clis_one_line_message_and_the_app_keeps_serving(client, song, scene, needle):
    with pytest.raises(Exception, match=re.escape(needle)) as e:
        client.predict(handle_file(str(song)), scene, api_name="/render")
    assert "Traceback" not in str(e.value)
    png, _ = client.predict(handle_file(str(song)), "rms", "", "", 20, api_name="/features")  # still serving
    assert Path(png).exists()


def test_cancel_stops_after_the_current_frame_and_rendering_again_resumes(tmp_path, song):
    from netbend.jobs.events import Progress
    from netbend.studio.work import Cancelled, Studio

    studio = Studio(StudioJob(frames_root=str(tmp_path), model="tiny"))
    upload = studio.uploads / "song.wav"
    upload.write_bytes(song.read_bytes())
    made = []

    def press_cancel_at_the_third_frame(event):
        if isinstance(event, Progress) and "encoding" not in event.task:
            made.append(event.done)
            if event.done == 3:
                studio.cancel.set()

    with pytest.raises(Cancelled, match="render again to go on"):
        studio.render(str(upload), SCENE, press_cancel_at_the_third_frame)
    [frames] = list(studio.work.glob("render-*/frames"))
    assert len(list(frames.glob("0*.png"))) == 3  # stopped after the frame it was on, frames kept
    made.clear()
    files = studio.render(str(upload), SCENE, lambda event: made.append(getattr(event, "done", None)))
    assert frames_of(str(files["video"])) == (10, True)
    assert sorted(p.name for p in files.values()) == ["scene.yaml", "video.drivers.png", "video.json", "video.mp4"]


def test_a_scene_fills_the_form_and_the_form_gives_the_scene_back():
    from netbend.studio.app import form_values

    text = ("model: tiny\nsteps: 8\nsize: 256x128\nprompt: a crane\nscheduler: lcm\nfps: 10.0\nbends:\n"
            "- op: rotate_r1\n  feature: percussive.onset\n  smooth: median:5\n  range: [0.0, 3.0]\n  layer: 4\n"
            "- op: threshold\n  constant: 0.5\n")
    values = form_values(text)
    back = yaml.safe_load(scene_text(values[-1], *values[:-1]))
    from netbend.settings import RenderJob
    from netbend.settings.scene import from_mapping

    where = {"audio": "song.wav", "output": "o.mp4"}
    assert from_mapping(RenderJob, {**back, **where}) == from_mapping(RenderJob, {**yaml.safe_load(text), **where})
    assert back["bends"][0]["range"] == "0.0:3.0"  # the form holds the flag's text, which scenes read too


def test_grid_endpoint_takes_a_grid_or_a_render_scene(client):
    for text in ("model: tiny\nsteps: 2\nsize: 64x64\nop: rotate_r1\nvalues: 0,pi\n",
                 "model: tiny\nsteps: 2\nsize: 64x64\nvalues: 0,pi\nbends:\n- op: rotate_r1\n"):
        png = Image.open(client.predict(text, api_name="/grid"))
        assert png.width >= 3 * 64 and png.height >= 2 * 64  # layers 0, 1, 2 by 2 values, 64 px cells


def test_the_form_keeps_what_it_does_not_show_of_a_loaded_scene():
    from netbend.studio.app import form_values, scene_from_form

    text = ("model: tiny\nsteps: 4\npanels:\n- seed: 1\n- seed: 2\nbends:\n- op: threshold\n  constant: 0.5\n"
            "  layer: 2\n")
    values = form_values(text)
    values[[i.elem_id for i in form.items()].index("generation-steps")] = "6"  # an edit in the form
    back = yaml.safe_load(scene_from_form(text, values[-1], *values[:-1]))
    assert back["steps"] == 6 and back["panels"] == [{"seed": 1}, {"seed": 2}]
    assert back["bends"] == [{"op": "threshold", "constant": 0.5, "layer": 2}]


@pytest.mark.parametrize("line, needle", [
    ("ray: ray://10.1.1.1:10001\n", "ray says how to run, not what to render"),
    ("workers: 64\n", "workers says how to run"),
    ("seeds: [1, 2]\n", "the studio renders one video at a time"),
])
def test_a_browser_scene_cannot_choose_how_the_server_runs(client, song, line, needle):
    with pytest.raises(Exception, match=needle):
        client.predict(handle_file(str(song)), line + SCENE, api_name="/render")
