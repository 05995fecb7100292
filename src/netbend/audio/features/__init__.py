"""Audio features, one value or one d-vector per video frame.

A feature is asked for by a short text, ``[SOURCE.]NAME[:key=value[:key=value...]]``:

- ``rms``, ``centroid``, ``spread``, ``skewness``, ``kurtosis``, ``flux`` (the paper's),
  ``bands``, ``onset``, ``beat``, ``chroma``, ``mfcc``, ``encodec`` (`netbend features --list`);
- ``harmonic.NAME`` / ``percussive.NAME`` compute it on the HPSS-separated signal;
- options: ``mfcc:n=20``, ``bands:edges=0/300/3000``, ``encodec:d=6:reduce=pca``.

Every feature returns float64 of shape ``(n_frames,)`` or ``(n_frames, d)`` with
``n_frames = floor(duration * fps)``, frame ``i`` covering the audio from ``i / fps``.
A silent frame (all its samples 0) is 0 in every feature, never NaN or Inf, except in the
features that measure a change from the frame before (``flux``): a change into silence is a
change, as in the paper, and a silent frame after a silent one is 0 there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..io import Audio, frame_count
from ...errors import NetbendError

SOURCES = ("mix", "harmonic", "percussive")


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    fn: Callable[..., np.ndarray]  # fn(analysis, **options) -> (n_frames,) or (n_frames, d)
    description: str
    options: dict[str, Any]
    change: bool = False  # measures a change from the frame before: not zeroed in silence


FEATURES: dict[str, FeatureSpec] = {}


def register(name: str, description: str, *, change: bool = False, **options: Any) -> Callable[[Callable], Callable]:
    """Decorator: register ``fn(analysis, **options)`` as feature ``name`` with option defaults;
    ``change``: the feature measures a change from the frame before (kept in silent frames)."""

    def add(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        FEATURES[name] = FeatureSpec(name, fn, description, options, change)
        return fn

    return add


@dataclass(frozen=True)
class Request:
    """A parsed feature request."""

    name: str
    source: str = "mix"
    options: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        head = self.name if self.source == "mix" else f"{self.source}.{self.name}"
        return head + "".join(f":{k}={v}" for k, v in self.options)


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse(text: str) -> Request:
    """``"percussive.onset"``, ``"mfcc:n=20"`` -> `Request`; unknown names and options are errors."""
    head, *opts = [p.strip() for p in text.strip().split(":")]
    source, _, name = head.rpartition(".")
    source = source or "mix"
    if source not in SOURCES:
        raise NetbendError(f"unknown feature source {source!r} in {text!r}; use harmonic.NAME or percussive.NAME")
    if name not in FEATURES:
        raise NetbendError(f"unknown feature {name!r}; known features: {', '.join(FEATURES)}")
    spec = FEATURES[name]
    options = []
    for opt in opts:
        key, eq, value = opt.partition("=")
        if not eq:
            raise NetbendError(f"feature option {opt!r} in {text!r} must look like key=value")
        if key not in spec.options:
            known = ", ".join(spec.options) or "none"
            raise NetbendError(f"feature {name!r} has no option {key!r}; its options: {known}")
        if key in dict(options):
            raise NetbendError(f"option {key} of feature {name!r} is given twice in {text!r}")
        options.append((key, _value(value)))
    return Request(name, source, tuple(options))


def parse_list(text: str) -> list[Request]:
    """Comma-separated feature requests: ``"rms,centroid,percussive.onset"``."""
    items = [t for t in (s.strip() for s in text.split(",")) if t]
    if not items:
        raise NetbendError("no feature given")
    return [parse(t) for t in items]


@dataclass
class Analysis:
    """One audio file at one frame rate, with what its features share cached
    (the spectra of the paper's features, the HPSS separation)."""

    audio: Audio
    fps: float
    cache: dict = field(default_factory=dict)
    meter: int = 4  # the render's bars (--meter, --bar-offset), for the features that count them (downbeat)
    bar_offset: int = 0

    @property
    def n_frames(self) -> int:
        return frame_count(self.audio.samples.shape[1], self.audio.sr, self.fps)

    def source(self, name: str) -> Analysis:
        """This analysis on the harmonic or percussive part of the signal."""
        if name == "mix":
            return self
        if name not in self.cache:
            import librosa

            harmonic, percussive = librosa.effects.hpss(self.audio.mono)
            for part, y in (("harmonic", harmonic), ("percussive", percussive)):
                self.cache[part] = Analysis(Audio(y[None].astype(np.float32), self.audio.sr, self.audio.path), self.fps,
                                            meter=self.meter, bar_offset=self.bar_offset)
        return self.cache[name]

    def compute(self, request: Request | str) -> np.ndarray:
        """The feature's values, float64, (n_frames,) or (n_frames, d)."""
        request = parse(request) if isinstance(request, str) else request
        import warnings

        spec = FEATURES[request.name]
        target = self.source(request.source)
        with warnings.catch_warnings():  # librosa warns about tuning on empty or silent frames
            warnings.simplefilter("ignore", UserWarning)
            values = np.asarray(spec.fn(target, **{**spec.options, **dict(request.options)}), dtype=np.float64)
        assert values.shape[0] == self.n_frames, (request, values.shape, self.n_frames)
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        if request.name != "rms" and not spec.change:
            values[target.compute("rms") == 0] = 0.0  # a silent frame is 0 in every feature but a change
        return values


def compute(request: Request | str, audio: Audio, fps: float) -> np.ndarray:
    """One feature of ``audio`` at ``fps``; see `Analysis` to compute several sharing work."""
    return Analysis(audio, fps).compute(request)


def check(text: str) -> None:
    """Raise `NetbendError` if ``text`` is not a valid feature request."""
    parse(text)


# registration, in the order `netbend features --list` shows them
from . import spectral, librosa_based, neural  # noqa: E402,F401,I001
