"""The settings of the smaller commands: `netbend features` and `netbend sites`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import NetbendError
from ..paths import check_output
from .bend import LATENT, Bend
from .declare import Names, at_least, check_fields, same_as, setting
from .generation import Generation
from .render import RenderJob


def parse_names(text: str) -> list[str]:
    """``a, b,c`` -> ["a", "b", "c"]."""
    return [v.strip() for v in text.split(",") if v.strip()]


def _check_sites(names: list[str], label: str) -> None:
    from ..generation.sites import kind

    for name in names:
        kind(name)


@dataclass(frozen=True)
class FeaturesJob:
    """Audio features per video frame, optionally smoothed: a summary, a CSV and a plot."""

    audio: str | None = setting(None, flag="audio", help="audio file")
    list_features: bool = setting(False, flag="--list", help="list the features and their options")
    feature: str = setting("rms", help="comma-separated features")
    fps: float = same_as(RenderJob, "fps", help="video frame rate")
    smooth: str | None = same_as(Bend, "smooth")
    stem: str | None = same_as(Bend, "stem", help="read the features from this file instead")
    csv: str | None = setting(None, help="write the values here, one row per frame")
    plot: str | None = setting(None, help="write a PNG with one panel per feature, raw and smoothed")
    smoothed: bool = setting(False, help="CSV holds smoothed values instead of raw ones")

    def check(self) -> None:
        from ..audio import features, smoothing

        check_fields(self, Names())
        if not self.audio:
            raise NetbendError("give an AUDIO file (or --list)")
        features.parse_list(self.feature)
        if self.smoothed and not smoothing.parse(self.smooth):
            raise NetbendError("--smoothed writes smoothed values: give --smooth too")
        if self.plot and Path(self.plot).suffix.lower() != ".png":
            raise NetbendError(f"--plot writes a PNG: give a name ending in .png, got {self.plot}")
        for out in (self.csv, self.plot):
            if out:
                check_output(Path(out), overwrite=True)


@dataclass(frozen=True)
class SitesJob:
    """A model's bending sites, their shapes, and optionally clusters of their channels."""

    model: str = same_as(Generation, "model")
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

    def check(self) -> None:
        check_fields(self, Names())

    def network_sites(self) -> list[str] | None:
        """The sites asked for, less the latent (None: all of them)."""
        return None if self.sites is None else [s for s in self.sites if s != LATENT]


def _check_track(value: float, label: str) -> None:
    if not 0 < value < 3600:
        raise NetbendError(f"{label} must be between 0 and 3600 seconds, got {value}")


@dataclass(frozen=True)
class DemoJob:
    """The built-in demo: a synthesized track rendered like a song (the rest is a render's settings)."""

    duration: float = setting(8.0, check=_check_track, help="length of the synthesized track in seconds")

    def check(self) -> None:
        check_fields(self, Names())
