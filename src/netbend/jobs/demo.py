"""``netbend demo``: a synthesized track with a beat, rendered offline with the tiny model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..audio.synth import track
from ..paths import check_output, make_folder
from ..settings import Bend, DemoJob, RenderJob
from ..settings.commands import DEMO_DEFAULTS, demo_defaults
from ..settings.presets import expand
from ..settings.scene import from_mapping
from .events import Note, Report, silent
from .render import RenderResult, render

SR = 44100  # the track's sample rate


def demo(job: DemoJob, render_settings: dict[str, Any], bend: dict[str, Any], *, preset: str | None = None,
         report: Report = silent) -> tuple[RenderResult, Path]:
    """Write the demo track beside the output (``render_settings["output"]``) and render it;
    ``render_settings`` and ``bend``: flat settings of the render and its bend, over the ``preset``
    (less its model: the demo's is the tiny one unless told otherwise), over `DEMO_DEFAULTS`."""
    job.check()
    model = render_settings.get("model", DEMO_DEFAULTS["model"])
    data, notes = expand(preset, render_settings, RenderJob, skip=("model",),
                         base={"model": DEMO_DEFAULTS["model"], **demo_defaults(model)})
    for note in notes:
        report(Note(note))
    out = Path(data["output"])
    wav = out.with_suffix(".wav")  # kept beside the video so the track can be rendered again
    flag_bend = from_mapping(Bend, {"op": DEMO_DEFAULTS["op"], **bend}, by_flags=True)
    video = from_mapping(RenderJob, {**data, "audio": str(wav), "bends": [flag_bend]})
    check_output(wav, overwrite=video.overwrite, inputs=video.generation.inputs(), flag="the demo track of -o/--output")
    make_folder(out.parent)
    import soundfile

    soundfile.write(wav, track(duration=job.track_seconds, sr=SR).T, SR)
    try:
        [result] = render(video, report=report)  # checks the settings first
    except BaseException:
        wav.unlink(missing_ok=True)  # the track belongs to a video that was not made
        raise
    return result, wav
