"""A render job: a soundtrack, what each frame is made from, the bends, and where the video goes."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from .. import positions
from ..errors import NetbendError
from ..paths import check_not_input, check_output
from .bend import Bend
from .declare import Names, at_least, check_fields, fields_of, flat_fields, seed_range, setting
from .generation import Generation
from ..positions import Written

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")


def parse_seeds(text: str) -> list[int]:
    """``1,2,3`` -> [1, 2, 3]."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise NetbendError(f"--seeds must be integers separated by commas, got {text!r}") from None
    if not values:
        raise NetbendError("--seeds is empty")
    return values


def _check_fps(value: float, label: str) -> None:
    if not math.isfinite(value):
        raise NetbendError(f"{label} must be a finite number, got {value}")
    if not value > 0:
        raise NetbendError(f"{label} must be positive, got {value}")


def _check_start(value: Written, label: str) -> None:
    positions.check(value, label)


def _check_seeds(values: list[int], label: str) -> None:
    for v in values:
        seed_range(v, label)


@dataclass(frozen=True)
class Panel:
    """One picture of a video made of several side by side (the paper's four-panel piece).

    In a scene, a panel sets only what differs from the video's settings (those of the
    generation declared ``panel``, its ``bends`` and a ``stem``); loaded, it is complete.
    """

    generation: Generation = field(default_factory=Generation)
    bends: list[Bend] = setting(flag=None, default_factory=list, frames=False,
                                help="this panel's bends (default: the video's)")
    stem: str | None = setting(None, flag=None, path=True, frames=False,
                               help="an audio file driving every bend of this panel that reads no stem of its own")

    def stem_bends(self) -> list[Bend]:
        """The bends as they act: the panel's stem where a bend reads no stem of its own."""
        if self.stem is None:
            return list(self.bends)
        return [b if b.stem else dataclasses.replace(b, stem=self.stem) for b in self.bends]

    def check(self, names: Names, bend_names: list[Names]) -> None:
        self.generation.check(names)
        for bend, bn in zip(self.bends, bend_names):
            bend.check(self.generation.steps, bn)


def _panel_bend_names(k: int, n: int) -> list[Names]:
    return [Names(f"panels[{k}].bends[{i}].") for i in range(n)]


# what may differ between the panels of one video: the generation's settings declared so, and the panel's own
PANEL_KEYS = (tuple(name for name, f in fields_of(Generation).items() if f.metadata["panel"])
              + tuple(f.name for owner, f in flat_fields(Panel) if owner is None))


@dataclass(frozen=True)
class RenderJob:
    """Everything that decides a render: equal jobs give equal videos."""

    audio: str = setting(flag="audio", path=True, frames=False,
                         help="soundtrack (WAV, FLAC, OGG, MP3, or anything FFmpeg decodes), or a scene file (.yaml) "
                              "holding every setting and any number of bends")
    output: str = setting(flag=("-o", "--output"), path=True, frames=False,
                          help="video file to write (.mp4); a sidecar .json goes beside it")
    generation: Generation = field(default_factory=Generation)
    bends: list[Bend] = setting(flag=None, default_factory=list, frames=False,
                                help="the bends, each with its own operator, site and driver")
    fps: float = setting(20.0, check=_check_fps,  # the paper's frame rate
                         help="video frame rate; one audio slice per frame")
    # frames=False: their effect reaches the frames through the placed times and the drives, both in the key
    meter: int = setting(4, check=at_least(1), metavar="BEATS", frames=False,
                         help="beats per bar of the tracked beat grid: bar.beat positions (9.1 = bar 9, beat 1) and "
                              "downbeats count with it")
    bar_offset: int = setting(0, metavar="BEATS", frames=False,
                              help="bar 1 starts this many beats after the first tracked beat (a pickup); negative "
                                   "when the tracker missed the song's first beats")
    start: Written = setting(0.0, frames=False, check=_check_start, parse=positions.written, metavar="TIME",
                             help="render the excerpt from this time: seconds, M:SS, bar.beat (9.1) or beat (b32); "
                                  "its frames equal the full render's")
    duration: Written | None = setting(None, frames=False, check=positions.check_length, parse=positions.written_length,
                                       metavar="LENGTH",
                                       help="... this long: seconds, M:SS, bars.beats (8.0 = 8 bars) or beats (b16) "
                                            "(default: to the end)")
    frames_dir: str | None = setting(None, path=True, frames=False, metavar="DIR",
                                     help="keep every frame as a PNG here; rerunning the same command resumes at the "
                                          "first missing frame (default: a work folder beside the output, removed "
                                          "after encoding)")
    batch: int = setting(1, frames=False, check=at_least(1),
                         help="images per UNet call; results equal batch 1's up to float rounding")
    seeds: list[int] | None = setting(None, frames=False, parse=parse_seeds, check=_check_seeds, metavar="S1,S2,...",
                                      help="render one video per seed (OUTPUT_seedN.mp4), or with --panels one panel "
                                           "per seed")
    panels: list[Panel] = setting(flag=None, default_factory=list, frames=False,
                                  help="pictures tiled side by side, each with its own settings: " + ", ".join(PANEL_KEYS))
    workers: int | None = setting(None, frames=False, scene=False, check=at_least(1), metavar="N",
                                  help="render on a local Ray cluster of N workers (one per GPU where there are "
                                       "GPUs, else one CPU each); frames equal a local render's (pip install "
                                       "'netbend[ray]')")
    ray: str | None = setting(None, frames=False, scene=False, metavar="ADDRESS",
                              help="render on the running Ray cluster: auto, or ray://HOST:10001 (Ray Client); "
                                   "every node needs netbend and, for a local model, the same path to it")
    overwrite: bool = setting(False, frames=False, scene=False,
                              help="replace an existing output (and kept frames made with other settings); never "
                                   "an input")
    sources: tuple[str, ...] = field(default=(), compare=False)  # files read to make the job: the scene file

    def inputs(self) -> list[tuple[str, str]]:
        """Every file the render reads, as (role, path): no output may replace one (`netbend.paths`)."""
        out = [("the input audio", self.audio)] + [("the scene file", s) for s in self.sources]
        out += [("a stem", s) for s in sorted({b.stem for p in self.as_panels() for b in p.stem_bends() if b.stem}
                                              | {p.stem for p in self.panels if p.stem})]
        for panel in self.as_panels():
            out += [i for i in panel.generation.inputs() if i not in out]
        return out

    @property
    def distributed(self) -> bool:
        """Whether the frames are made on Ray workers."""
        return bool(self.workers or self.ray)

    def as_panels(self) -> list[Panel]:
        """What is tiled side by side: the panels, or the job itself as its one panel."""
        return list(self.panels) or [Panel(self.generation, list(self.bends))]

    def bend_names(self, panel: int | None = None) -> list[Names]:
        """How messages name the bends' keys: by their flags for the bend the flags gave,
        ``bends[i].`` for a scene's; a panel's own bends (panel ``k``) ``panels[k].bends[i].``."""
        if panel is not None and self.panels[panel].bends != self.bends:
            return _panel_bend_names(panel, len(self.panels[panel].bends))
        flagged = sum(b.by_flags for b in self.bends)
        return [Names() if b.by_flags else Names(f"bends[{i - flagged}].") for i, b in enumerate(self.bends)]

    def videos(self) -> list[RenderJob]:
        """One job per video: per seed of ``seeds`` (OUTPUT_seedN, its own frames folder), or this one."""
        if not self.seeds:
            return [self]
        out = Path(self.output)
        return [dataclasses.replace(
            self, seeds=None, generation=dataclasses.replace(self.generation, seed=seed),
            output=str(out.with_name(f"{out.stem}_seed{seed}{out.suffix}")),
            frames_dir=str(Path(self.frames_dir) / f"seed{seed}") if self.frames_dir else None)
            for seed in self.seeds]

    def check(self) -> None:
        """Reject bad settings up front, with a message that names the bad value."""
        from ..audio import check_path

        check_path(self.audio)  # the first thing a newcomer gets wrong; cheaper to say before anything else
        stems = {b.stem for p in self.as_panels() for b in p.stem_bends() if b.stem} | {p.stem for p in self.panels}
        for stem in sorted(s for s in stems if s):
            check_path(stem)
        check_fields(self, Names())
        for bend, names in zip(self.bends, self.bend_names()):
            bend.check(self.generation.steps, names)
        for i, panel in enumerate(self.panels):  # every panel, before the first one renders
            if panel.generation.size != self.generation.size or panel.generation.device != self.generation.device:
                raise NetbendError(f"panels[{i}]: size and device cannot differ between panels")
            # every panel's bends, inherited ones too: its own steps may not fit them
            panel.check(Names(f"panels[{i}]."), _panel_bend_names(i, len(panel.bends)))
        out, inputs = Path(self.output), self.inputs()
        # each seed's output is checked when it starts
        check_output(out, overwrite=self.overwrite or bool(self.seeds), inputs=inputs, flag="-o/--output")
        for what, suffix in (("sidecar", ".json"), ("drivers plot", ".drivers.png")):
            check_not_input(out.with_suffix(suffix), inputs, f"the {what} of -o/--output")
        if self.frames_dir:
            check_not_input(Path(self.frames_dir), inputs, "--frames-dir")
        if out.suffix.lower() not in VIDEO_SUFFIXES:
            raise NetbendError(f"output must end in {', '.join(VIDEO_SUFFIXES)}, got {out.name}")

    def with_panels(self, stems: list[str], seeds: list[int]) -> RenderJob:
        """This job as panels side by side: one per stem (each driving the bends) and/or per seed, paired in order."""
        if not stems and not seeds:
            raise NetbendError("--panels tiles the --seeds: give --seeds (or --panel-stems)")
        if stems and not self.bends:
            raise NetbendError("--panel-stems drive the bend of --op with each stem: give --op")
        if stems and seeds and len(stems) != len(seeds):
            raise NetbendError(f"--panel-stems gives {len(stems)} stems but --seeds {len(seeds)} seeds")
        count = max(len(stems), len(seeds))
        panels = [Panel(dataclasses.replace(self.generation, seed=seeds[i]) if seeds else self.generation,
                        list(self.bends), stems[i] if stems else None) for i in range(count)]
        return dataclasses.replace(self, panels=panels, seeds=None)
