"""The job runner's events, the pipeline as the one maker of frames, and what the command line keeps light."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from netbend.cli import build_parser, main
from netbend.jobs.events import Note, Progress, Stage
from netbend.jobs.grid import render_grid
from netbend.jobs.render import render
from netbend.settings import Bend, Generation, GridJob
from netbend.settings.flags import given, render_job
from netbend.settings.render import RenderJob

from conftest import DEVICE, STEPS, settings

SRC = Path(__file__).parents[1] / "src" / "netbend"
MID = "unet.mid_block"


def check_progress(events: list) -> dict[str, int]:
    """Every task's progress only grows, stays within its total and ends at it; tasks and how often each ran."""
    runs: dict[str, int] = {}
    open_tasks: dict[str, int] = {}
    for e in events:
        if not isinstance(e, Progress):
            continue
        last = open_tasks.get(e.task)
        assert 0 <= e.done <= e.total, e
        assert last is None or e.done >= last, (e, last)
        open_tasks[e.task] = e.done
        if e.done == e.total:
            runs[e.task] = runs.get(e.task, 0) + 1
            del open_tasks[e.task]
    assert open_tasks == {}, f"tasks that never ended: {open_tasks}"
    return runs


def test_a_render_reports_progress_that_grows_to_its_total(tmp_path, wav, tiny_model):
    # two cluster counts: two calibration runs, each its own task from start to end
    s = settings(tmp_path, wav(0.3), bends=[Bend(op="multiply", site=MID, channels="cluster:0/2", constant=0.5),
                                             Bend(op="multiply", site=MID, channels="cluster:1/3", constant=0.5)])
    events = []
    render(s, model=tiny_model, report=events.append)
    runs = check_progress(events)
    assert runs == {"out.mp4": 1, "calibrating channels": 2, "encoding out.mp4": 1}
    frames = [e for e in events if isinstance(e, Progress) and e.task == "out.mp4"]
    assert [e.done for e in frames] == [0, 1, 2, 3]


def test_a_grid_and_a_model_load_report_too(tmp_path, tiny_model):
    events = []
    job = GridJob(op="rotate_r1", output=str(tmp_path / "g.png"), layers=[0, STEPS], values=[0.0, 1.0],
                  generation=Generation(model="tiny", steps=STEPS, size=(64, 64), device=DEVICE))
    render_grid(job, report=events.append)  # loads the model itself
    assert events[0] == Stage("loading model tiny")
    assert check_progress(events) == {"g.png": 1}
    assert events[-1] == Progress("g.png", STEPS + 2 * STEPS, STEPS + 2 * STEPS, "eval")


def test_seeds_kept_from_an_earlier_run_are_a_note(tmp_path, wav, tiny_model):
    s = settings(tmp_path, wav(0.2), seeds=[1, 2])
    render(s, model=tiny_model)
    (tmp_path / "out_seed2.mp4").unlink()
    events = []
    results = render(s, model=tiny_model, report=events.append)
    assert [r.kept for r in results] == [True, False]
    assert Note(f"kept {tmp_path / 'out_seed1.mp4'}: rendered before with these settings") in events


def test_a_flag_bend_reaches_every_panel_of_a_scene(tmp_path, wav):
    clip = wav(0.3)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"audio": str(clip), "output": "p.mp4",
                                                     "panels": [{"seed": 1}, {"seed": 2, "bends": []}]}))
    job, _ = render_job(build_parser().parse_args(["render", str(tmp_path / "p.yaml"), "--op", "rotate_r1"]))
    assert [[b.op for b in p.bends] for p in job.panels] == [["rotate_r1"], []]  # a panel's own bends stay its own


def test_a_scene_for_a_device_this_machine_lacks_can_still_be_written(tmp_path, wav, capsys):
    scene = tmp_path / "gpu.yaml"
    assert main(["render", str(wav(0.3)), "-o", str(tmp_path / "o.mp4"), "--device", "cuda:1", "--dump-scene",
                 str(scene)]) == 0
    assert yaml.safe_load(scene.read_text())["device"] == "cuda:1"
    assert main(["render", str(wav(0.3)), "-o", str(tmp_path / "o.mp4"), "--device", "tpu", "--dump-scene",
                 str(scene), "--overwrite"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err


def test_a_panel_stem_that_is_missing_is_reported_before_anything_runs(tmp_path, wav):
    s = settings(tmp_path, wav(0.3), panels=[{"seed": 1, "stem": str(tmp_path / "missing.wav"), "bends": []}])
    with pytest.raises(Exception, match="audio file not found: .*missing.wav"):
        s.check()


def test_the_demo_track_length_is_not_the_excerpt_length():
    args = build_parser().parse_args(["demo", "-o", "d.mp4", "--duration", "3"])
    assert "duration" not in given(args, RenderJob) and given(args, RenderJob)["output"] == "d.mp4"


def test_building_the_command_line_imports_no_torch():
    code = "import sys; from netbend.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_an_error_after_progress_began_is_a_line_of_its_own(tmp_path, wav):
    proc = subprocess.run([sys.executable, "-m", "netbend", "render", str(wav(0.3)), "-o", str(tmp_path / "o.mp4"),
                           "--model", "tiny", "--steps", "2", "--size", "64x64", "--fps", "10", "--device", DEVICE,
                           "--op", "rotate_r1", "--site", MID],  # refused once the model is there, after the bar began
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = [line for line in re.split(r"[\r\n]", proc.stderr) if line.strip()]
    assert lines[-1].startswith("netbend: error: --op at site unet.mid_block: rotate_r1 is defined on 4 channels")
    assert any("o.mp4" in line for line in lines[:-1])  # the bar was there


def test_only_the_pipeline_builds_samplers_noise_walks_and_denoisers():
    makers = {"make_scheduler(": "schedulers.py", "NoiseWalk(": "noise.py", "guided_denoiser(": "sampling.py"}
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for call, home in makers.items():
            uses = [m.start() for m in re.finditer(re.escape(call), text) if not text[:m.start()].endswith("def ")]
            if uses and path.name not in ("pipeline.py", home):
                pytest.fail(f"{path.relative_to(SRC)} calls {call}...: only the pipeline builds it")
