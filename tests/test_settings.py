"""Settings declared once: every surface (flags, scene files, sidecar, frame-store key, checks) reads the declarations."""

import argparse
import dataclasses
from dataclasses import dataclass, field

import pytest

from netbend import NetbendError
from netbend.audio.mapping import CURVES
from netbend.cli import build_parser
from netbend.generation.prompts import MODES
from netbend.generation.schedulers import SCHEDULERS
from netbend.settings import Bend, Generation, GridJob, Panel, RenderJob, SitesJob, scene, setting
from netbend.settings.declare import Names, check_fields, finite, flag_of, flat_fields, frames_key
from netbend.settings.flags import add_flags, given
from netbend.settings.studio import StudioJob


def options_of(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {o for a in sub._actions for o in a.option_strings} | {a.metavar for a in sub._actions if not a.option_strings}


@pytest.mark.parametrize("command, classes", [("render", (RenderJob, Bend)), ("grid", (GridJob,)), ("sites", (SitesJob,)),
                                              ("studio", (StudioJob,))])
def test_every_declared_flag_is_on_its_command(command, classes):
    options = options_of(command)
    skip = set(GridJob.IGNORED) if command == "grid" else set()  # not meaningful for one image
    for cls in classes:
        for _, f in flat_fields(cls):
            flag = flag_of(f)
            if flag is not None and f.name not in skip:
                assert (flag if flag.startswith("-") else f.name) in options, (cls.__name__, f.name)


def test_flag_names_of_a_render_never_collide():
    names = [f.name for cls in (RenderJob, Bend) for _, f in flat_fields(cls)]
    assert len(names) == len(set(names))


def test_choices_are_read_from_the_registries():
    fields = {f.name: f for _, f in flat_fields(RenderJob)} | {f.name: f for f in dataclasses.fields(Bend)}
    assert fields["scheduler"].metadata["choices"] == tuple(SCHEDULERS)
    assert fields["interpolation"].metadata["choices"] == MODES
    assert fields["curve"].metadata["choices"] == CURVES
    with pytest.raises(NetbendError, match="unknown scheduler 'heun'"):
        check_fields(Generation(scheduler="heun"), Names())


@dataclass(frozen=True)
class WithEta(Generation):
    """A generation with one more field, declared as any other."""

    eta: float = setting(0.0, check=finite, help="DDIM's eta: 0 deterministic, 1 as DDPM")


@dataclass(frozen=True)
class JobWithEta(RenderJob):
    generation: WithEta = field(default_factory=WithEta)


def test_a_new_field_reaches_every_surface_from_its_declaration_alone():
    parser = argparse.ArgumentParser()
    add_flags(parser, JobWithEta)  # what the command line does for every render flag
    help_text = " ".join(parser.format_help().split())
    assert "--eta ETA DDIM's eta: 0 deterministic, 1 as DDPM (default: 0.0)" in help_text
    args = parser.parse_args(["song.wav", "-o", "out.mp4", "--eta", "0.5", "--steps", "7"])
    assert given(args, JobWithEta) == {"audio": "song.wav", "output": "out.mp4", "eta": 0.5, "steps": 7}
    job = scene.from_mapping(JobWithEta, given(args, JobWithEta))
    assert job.generation.eta == 0.5 and job.generation.steps == 7
    assert scene.to_mapping(job) == {"audio": "song.wav", "output": "out.mp4", "steps": 7, "eta": 0.5}  # scene/sidecar
    assert frames_key(job.generation)["eta"] == 0.5  # the frame-store key: a changed eta is other frames
    with pytest.raises(NetbendError, match="eta must be a number, got 'x'"):
        scene.from_mapping(JobWithEta, {"audio": "a.wav", "output": "o.mp4", "eta": "x"})
    with pytest.raises(NetbendError, match="--eta must be a finite number"):
        check_fields(dataclasses.replace(job.generation, eta=float("nan")), Names())


def test_a_scene_round_trip_keeps_every_setting(tmp_path):
    (tmp_path / "song.wav").write_bytes(b"")
    job = RenderJob(
        audio=str(tmp_path / "song.wav"), output=str(tmp_path / "o.mp4"), fps=12.0, start=1.5, duration=3.0,
        frames_dir=str(tmp_path / "f"), batch=4, seeds=[3, 4],
        generation=Generation(prompt="a crane", prompts="0:00 : a\n0:02 : b\n", interpolation="slerp",
                              negative_prompt="text", model="tiny", scheduler="euler_a", steps=9, guidance=3.0,
                              size=(64, 32), seed=5, walk=1.0, device="cpu"),
        bends=[Bend(op="rotate_r1", layer=3, feature="onset", smooth="median:3", range=(0.0, 1.0), curve="exp",
                    invert=True),
               Bend(op="multiply", site="unet.mid_block", steps_active=(1, 4), channels="0:8", constant=2.0,
                    window=(1.0, 2.0)),
               Bend(op="add", layers=(0, 2), keyframes=[(0.0, 0.0), (1.0, 2.0)], stem=str(tmp_path / "drums.wav"))])
    job = dataclasses.replace(job, panels=[Panel(dataclasses.replace(job.generation, seed=9), job.bends),
                                           Panel(job.generation, job.bends[:1], stem=str(tmp_path / "bass.wav"))])
    again = scene.load(scene.dump(job, tmp_path / "s.yaml"))
    assert again == job
    record = scene.to_mapping(again, defaults=True)  # the sidecar's settings: every one, defaults too
    assert set(record) == {f.name for _, f in flat_fields(RenderJob) if f.metadata["scene"]}  # not how to run


@pytest.mark.parametrize("data, needle", [
    ({"panels": [{"size": [64, 64]}]}, "panels[0].size cannot differ between panels"),
    ({"bends": [{"op": "add", "window": [1]}]}, "bends[0].window must be a pair of values [a, b], got [1]"),
    ({"seeds": [1, "two"]}, "seeds must be a list of values of one kind"),
    ({"bends": [{"op": "add", "invert": "yes"}]}, "bends[0].invert must be true or false"),
])
def test_scene_values_are_checked_against_their_declared_types(tmp_path, data, needle):
    with pytest.raises(NetbendError) as e:
        scene.from_mapping(RenderJob, {"audio": "a.wav", "output": "o.mp4", **data})
    assert needle in str(e.value)


def test_flags_override_a_scene_and_its_panels_inherit_them(tmp_path):
    (tmp_path / "s.yaml").write_text("audio: a.wav\noutput: o.mp4\nsteps: 9\npanels:\n  - seed: 1\n  - seed: 2\n    steps: 4\n")
    job = scene.load(tmp_path / "s.yaml", {"steps": 5, "prompt": "a crane"})
    assert job.generation.steps == 5 and [p.generation.steps for p in job.panels] == [5, 4]
    assert {p.generation.prompt for p in job.panels} == {"a crane"}
    assert job.audio == str(tmp_path / "a.wav")  # relative to the scene
