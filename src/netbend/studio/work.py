"""What the studio does, without the page: analysis, previews, grids and renders inside its folders.

Everything the browser asks for goes through `Studio`: a scene's text becomes a
`netbend.settings.RenderJob` through the same scene reader as ``netbend render scene.yaml``,
every path in it must lie inside the studio's folders (uploads and work), models stay
loaded per model/decoder/LoRA choice, and the song's analysis is kept per song so that a
changed smoothing step re-plots without analysing again.
"""

from __future__ import annotations

import csv as csv_io
import dataclasses
import hashlib
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import NetbendError
from ..jobs.events import Event, Progress, Report, silent
from ..settings import Bend, GridJob, RenderJob
from ..settings.studio import StudioJob


class Cancelled(NetbendError):
    """A render stopped by the user after its current batch; its frames stay for the next run."""


class Studio:
    """One studio server's state: its folders, loaded models, analyses, and the cancel flag."""

    def __init__(self, job: StudioJob):
        self.job = job
        self.root = Path(job.frames_root).expanduser().resolve()
        self.uploads, self.work = self.root / "uploads", self.root / "work"
        for folder in (self.uploads, self.work):
            folder.mkdir(parents=True, exist_ok=True)
        self.models: dict[tuple, Any] = {}
        self.analyses: dict[tuple, dict] = {}
        self.cancel = threading.Event()
        self.lock = threading.Lock()  # one model load at a time

    # -- paths ----------------------------------------------------------------------------------

    def inside(self, value: str | Path, label: str) -> Path:
        """``value`` resolved, if it lies in the uploads or work folder; else a `NetbendError`."""
        path = Path(value).expanduser().resolve()
        if not any(path.is_relative_to(folder) for folder in (self.uploads, self.work)):
            raise NetbendError(f"{label} {value} is outside the studio's folders; upload the file instead")
        return path

    def check_paths(self, job: RenderJob) -> None:
        """Every file a job would read or write lies inside the studio's folders (models: a hub id,
        the server's own --model, or inside them)."""
        self.inside(job.audio, "audio")
        self.inside(job.output, "output")
        if job.frames_dir:
            self.inside(job.frames_dir, "frames_dir")
        for role, path in job.inputs():
            if not self.own_model(path):
                self.inside(path, role.removeprefix("the ").removeprefix("a "))

    def own_model(self, path: str | Path) -> bool:
        """Whether ``path`` is the server's own --model (which the browser may use, wherever it is)."""
        return Path(path).expanduser().resolve() == Path(self.job.model).expanduser().resolve()

    # -- scenes ---------------------------------------------------------------------------------

    def scene_job(self, audio: str | None, text: str, kind: str = "render") -> RenderJob:
        """The render job of a scene's text for the uploaded ``audio``, its output and frames in a
        work folder named by the song and the settings (so that rendering again resumes)."""
        import yaml

        from ..settings import scene

        if not audio:
            raise NetbendError("upload a song first")
        audio_path = self.inside(audio, "audio")
        data = {**_mapping(text, "the scene"), "audio": str(audio_path), "frames_dir": "frames"}
        data["output"] = Path(str(data.get("output") or "video.mp4")).name
        digest = hashlib.sha1(f"{audio_path}\n{yaml.safe_dump(data, sort_keys=True)}".encode()).hexdigest()[:12]
        folder = self.work / f"{kind}-{digest}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "scene.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        job, _ = scene.read(path)  # refuses how-to-run keys (overwrite, workers, ray): the studio decides those
        if job.seeds:
            raise NetbendError("the studio renders one video at a time: leave seeds out (use panels, or netbend "
                               "render --seeds)")
        job = dataclasses.replace(job, overwrite=True)  # its own work folder: a rerun replaces its video
        self.check_paths(job)
        return job

    def model_for(self, generation: Any) -> Any:
        from ..generation import models

        key = models.key(generation)
        with self.lock:
            if key not in self.models:
                self.models[key] = models.load_for(generation)
        return self.models[key]

    def sites(self, text: str) -> str:
        """The bending sites of the scene's model (with its decoder) at its size, as `netbend sites` lists them."""
        import yaml

        from ..generation import sites
        from ..jobs.sites import describe
        from ..settings import Generation
        from ..settings.bend import LATENT
        from ..settings.scene import from_mapping

        data = yaml.safe_load(text or "") or {}
        known = {f.name for f in dataclasses.fields(Generation)}
        g = from_mapping(Generation, {k: v for k, v in data.items() if k in known})
        for role, path in g.inputs():
            if not self.own_model(path):
                self.inside(path, role)
        model = self.model_for(g)
        shapes = {n: info.shape for n, info in sites.probe(model, g.size).items()}
        return describe({LATENT: model.latent_shape(*g.size), **shapes})

    # -- features -------------------------------------------------------------------------------

    def features(self, audio: str | None, feature: str, smooth: str | None, range_text: str | None, fps: float,
                 *, op: str = "add", curve: str = "linear", invert: bool = False) -> tuple[Path, Path, str]:
        """The plot (raw, smoothed, r per frame) and CSV of a feature of the uploaded song; a summary line."""
        from ..audio import frames_of, load
        from ..audio.drives import drive
        from ..jobs.features import columns
        from ..output.plots import plot_features
        from ..parsing import parse_number
        from ..settings import Names
        from ..settings.declare import pair_of

        path = self.inside(audio, "audio") if audio else None
        if path is None:
            raise NetbendError("upload a song first")
        range_ = pair_of(parse_number, "LO:HI such as 0:5")(range_text) if range_text else None
        bend = Bend(op=op, feature=feature, smooth=smooth or None, range=range_, curve=curve, invert=invert)
        bend.check(1, Names())
        song = load(str(path))
        n = frames_of(song, fps)
        analyses = self.analyses.setdefault((str(path), path.stat().st_mtime_ns, float(fps)), {})
        d = drive(bend, song, fps=fps, n_frames=n, analyses=analyses, names=Names())
        stem = self.work / f"features-{hashlib.sha1(repr((str(path), feature, smooth, range_text, fps, op, curve, invert)).encode()).hexdigest()[:12]}"
        rows = [(f"{feature} (raw, and {smooth})" if smooth else feature, d.feature, d.smoothed if smooth else None)]
        if d.r is not None:
            rows.append((f"r of {op}", d.r, None))
        png = plot_features(stem.with_suffix(".png"), rows, fps=fps, title=f"{path.name}: {feature}")
        csv_path = stem.with_suffix(".csv")
        with csv_path.open("w", newline="") as fh:
            writer = csv_io.writer(fh)
            parts = [("raw", d.feature), ("smoothed", d.smoothed)] + ([("r", d.r)] if d.r is not None else [])
            writer.writerow(["frame", "time"] + [c for label, v in parts for c in columns(f"{feature}_{label}", v)])
            flat = [np.asarray(v, dtype=float).reshape(n, -1) for _, v in parts]
            for i in range(n):
                writer.writerow([i, f"{i / fps:.6f}", *(f"{x:.9g}" for v in flat for x in v[i])])
        return png, csv_path, f"{n} frames at {fps:g} fps"

    # -- frames ---------------------------------------------------------------------------------

    def preview(self, audio: str | None, text: str, *, start: float, seconds: float,
                size: tuple[int, int]) -> Iterator[tuple[int, np.ndarray]]:
        """The frames of a short excerpt at a small size, each as soon as it is made."""
        from ..audio import frames_of, load
        from ..jobs import timeline
        from ..jobs.render import all_drives, excerpt_frames, panel_frames

        job = self.scene_job(audio, text, kind="preview")
        job = dataclasses.replace(job, start=start, duration=seconds,
                                  generation=dataclasses.replace(job.generation, size=size))
        job.check()
        song = load(job.audio)
        n = frames_of(song, job.fps)
        analyses: dict = {}
        job, _ = timeline.place(job, song, analyses)  # bars and beats to seconds
        first, stop = excerpt_frames(job, n)
        drives = all_drives(job, song, n, analyses)[0]
        panel = job.as_panels()[0]
        yield from panel_frames(panel, self.model_for(panel.generation), drives, n_frames=n, fps=job.fps,
                                indices=list(range(first, stop)), names=job.bend_names(), batch=job.batch)

    def render(self, audio: str | None, text: str, report: Report = silent) -> dict[str, Path]:
        """Render a scene for the uploaded song: the video, sidecar, drivers plot and scene file.
        ``cancel`` (set from another thread) stops it after the current frame; run it again to resume."""
        from ..jobs.render import render

        job = self.scene_job(audio, text)
        self.cancel.clear()

        def watched(event: Event) -> None:
            report(event)
            if isinstance(event, Progress) and self.cancel.is_set():
                raise Cancelled("cancelled; the frames made so far are kept: render again to go on from them")

        model = self.model_for(job.generation)
        [result] = render(job, model=model, report=watched)
        out = {"video": result.video, "sidecar": result.sidecar, "scene": Path(job.output).with_name("scene.yaml")}
        if result.plot:
            out["plot"] = result.plot
        return out

    def grid(self, text: str, report: Report = silent) -> Path:
        """The figure grid a scene-like text describes (GridJob's keys), as a PNG in a work folder."""
        import yaml

        from ..jobs.grid import render_grid
        from ..settings import scene

        data = _mapping(text, "the grid's settings")
        bends = data.get("bends") or []
        if "op" not in data and bends and isinstance(bends[0], dict):  # a render's scene: its first bend's operator
            data.update({k: bends[0][k] for k in ("op", "site", "channels") if k in bends[0]})
        known = ({f.name for _, f in scene.flat_fields(GridJob) if f.metadata.get("scene", True)}
                 - set(GridJob.IGNORED))
        data = {k: v for k, v in data.items() if k in known}
        digest = hashlib.sha1(yaml.safe_dump(data, sort_keys=True).encode()).hexdigest()[:12]
        data.update(output=str(self.work / f"grid-{digest}" / "grid.png"), overwrite=True)
        job = scene.from_mapping(GridJob, data)
        for role, path in job.generation.inputs():
            if not self.own_model(path):
                self.inside(path, role)
        job.check()
        return render_grid(job, model=self.model_for(job.generation), report=report).files["grid"]


def _mapping(text: str | None, what: str) -> dict:
    """A scene's YAML text as a mapping (scene files' loader: no base-60 numbers), or a one-line error."""
    import yaml

    from ..settings import scene

    try:
        data = yaml.load(text or "{}", Loader=scene._loader()) or {}
    except yaml.YAMLError as e:
        raise NetbendError(f"{what} is not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise NetbendError(f"{what} must be a mapping of settings")
    return data
