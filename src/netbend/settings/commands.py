"""The settings of the smaller commands: `netbend features` and `netbend sites`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import NetbendError
from ..paths import check_not_input, check_output
from .bend import LATENT, Bend
from .declare import Names, at_least, check_fields, same_as, setting
from .generation import Generation, model_inputs
from .render import RenderJob


def parse_names(text: str) -> list[str]:
    """``a, b,c`` -> ["a", "b", "c"]."""
    return [v.strip() for v in text.split(",") if v.strip()]


def _check_features(text: str, label: str) -> None:
    from ..audio import features

    features.parse_list(text)  # its errors name the feature


def _check_sites(names: list[str], label: str) -> None:
    from ..generation.sites import kind

    for name in names:
        kind(name)


@dataclass(frozen=True)
class FeaturesJob:
    """Audio features per video frame, optionally smoothed: a summary, a CSV and a plot."""

    audio: str | None = setting(None, flag="audio", help="audio file")
    list_features: bool = setting(False, flag="--list", help="list the features and their options")
    feature: str = setting("rms", check=_check_features, help="comma-separated features")
    fps: float = same_as(RenderJob, "fps", help="video frame rate")
    smooth: str | None = same_as(Bend, "smooth")
    stem: str | None = same_as(Bend, "stem", help="read the features from this file instead")
    csv: str | None = setting(None, help="write the values here, one row per frame (with --beats: the beat grid "
                                         "instead, one row per beat)")
    plot: str | None = setting(None, help="write a PNG with one panel per feature, raw and smoothed")
    smoothed: bool = setting(False, help="CSV holds smoothed values instead of raw ones")
    beats: bool = setting(False, help="print and export the tracked beat grid: a summary and a table; --csv then "
                                      "writes the grid (beat, time, bar, beat_in_bar, downbeat, bpm), not the "
                                      "features, and --plot marks beats and downbeats")
    meter: int = same_as(RenderJob, "meter")
    bar_offset: int = same_as(RenderJob, "bar_offset")
    overwrite: bool = same_as(RenderJob, "overwrite", help="replace an existing CSV or plot (never an input)")

    def check(self) -> None:
        from ..audio import smoothing

        check_fields(self, Names())
        if not self.audio:
            raise NetbendError("give an AUDIO file (or --list)")
        if self.smoothed and not smoothing.parse(self.smooth):
            raise NetbendError("--smoothed writes smoothed values: give --smooth too")
        if self.smoothed and self.beats and self.csv:
            raise NetbendError("--smoothed is about the features CSV, but with --beats the CSV holds the beat grid: "
                               "leave out one of them")
        if self.plot and Path(self.plot).suffix.lower() != ".png":
            raise NetbendError(f"--plot writes a PNG: give a name ending in .png, got {self.plot}")
        inputs = [("the input audio", self.audio)] + ([("the stem", self.stem)] if self.stem else [])
        for flag, out in (("--csv", self.csv), ("--plot", self.plot)):
            if out:
                check_output(Path(out), overwrite=self.overwrite, inputs=inputs, flag=flag)


@dataclass(frozen=True)
class SitesJob:
    """A model's bending sites, their shapes, and optionally clusters of their channels."""

    model: str = same_as(Generation, "model")
    decoder: str = same_as(Generation, "decoder")
    loras: list[str] = same_as(Generation, "loras")
    size: tuple[int, int] = same_as(Generation, "size")
    sites: list[str] | None = setting(None, flag="--site", parse=parse_names, check=_check_sites, metavar="S1,S2,...",
                                      help="only these sites (default: all)")
    clusters: int | None = setting(None, check=at_least(2), metavar="K",
                                   help="group each site's channels into K clusters")
    prompt: str = same_as(Generation, "prompt", help="prompt of the calibration run")
    seed: int = same_as(Generation, "seed", help="seed of the calibration run and of k-means")
    preview: str = setting("sites-preview", metavar="DIR",
                           help="with --clusters: where each site's cluster preview goes")
    device: str = same_as(Generation, "device")
    overwrite: bool = same_as(RenderJob, "overwrite", help="replace existing cluster previews (never an input)")

    def check(self) -> None:
        check_fields(self, Names())
        check_not_input(Path(self.preview), self.inputs(), "--preview")

    def inputs(self) -> list[tuple[str, str]]:
        return model_inputs(self.model, self.decoder, self.loras)

    def network_sites(self) -> list[str] | None:
        """The sites asked for, less the latent (None: all of them)."""
        return None if self.sites is None else [s for s in self.sites if s != LATENT]


def _check_track(value: float, label: str) -> None:
    if not 0 < value < 3600:
        raise NetbendError(f"{label} must be between 0 and 3600 seconds, got {value}")


@dataclass(frozen=True)
class DemoJob:
    """The built-in demo: a synthesized track rendered like a song, with a render's settings
    over `DEMO_DEFAULTS` and `demo_defaults`."""

    track_seconds: float = setting(8.0, flag="--duration", check=_check_track,
                                   help="length of the synthesized track in seconds")

    def check(self) -> None:
        check_fields(self, Names())


DEMO_DEFAULTS = {"model": "tiny-trained", "op": "rotate_r1"}  # what the demo renders unless told otherwise
_DEMO_SIZES = {"tiny-trained": (25, (64, 64)), "tiny": (8, (256, 256))}  # the built-in models: what they know


def demo_defaults(model: str) -> dict[str, object]:
    """Steps and size: the trained tiny model's 64x64 (a CPU renders the demo in about a minute), the
    random one's 256x256, a real model's 512x512."""
    steps, size = _DEMO_SIZES.get(model, (25, (512, 512)))
    return {"steps": steps, "size": size}


def demo_help() -> dict[str, str]:
    """The demo's defaults as the help shows them."""
    told = {m: demo_defaults(m) for m in (*_DEMO_SIZES, "")}
    return {**DEMO_DEFAULTS, "steps": ", ".join(f"{d['steps']} for {m or 'other models'}" for m, d in told.items()),
            "size": ", ".join("{}x{} for {}".format(*d["size"], m or "other models") for m, d in told.items())}
