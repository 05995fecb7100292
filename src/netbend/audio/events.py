"""A bend's ``trigger``: the events of a song that start its envelope (`netbend.audio.envelopes`).

``onset`` (librosa's onsets), ``beat`` and ``downbeat`` (the tracked beat grid,
`netbend.audio.beats`), or ``FEATURE>LEVEL``: the frames where a feature rises through
LEVEL, a fraction of its range over the song (``rms>0.5``, ``percussive.onset>0.3``), each
event lasting while the feature stays above it (its gate, which holds the sustain).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NetbendError

KINDS = ("onset", "beat", "downbeat")


@dataclass(frozen=True)
class Trigger:
    kind: str  # onset, beat, downbeat, or threshold
    feature: str | None = None  # threshold: the feature request
    level: float = 0.0  # threshold: a fraction of the feature's range


def parse_trigger(text: str, label: str = "trigger") -> Trigger:
    """``"onset"``, ``"downbeat"``, ``"rms>0.5"`` -> `Trigger`; a `NetbendError` naming ``label`` otherwise."""
    from . import features

    t = text.strip()
    if t in KINDS:
        return Trigger(t)
    name, sep, level = t.partition(">")
    if not sep:
        raise NetbendError(f"{label} must be one of {', '.join(KINDS)} or FEATURE>LEVEL (e.g. rms>0.5), got {text!r}")
    try:
        value = float(level)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise NetbendError(f"{label} {text!r}: LEVEL is a fraction of the feature's range, from 0 to 1")
    features.check(name.strip())
    return Trigger("threshold", name.strip(), value)


def events(trigger: Trigger, analysis, *, meter: int, bar_offset: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(event times, gate-close times or None) of ``trigger`` in ``analysis`` (a `features.Analysis`)."""
    from . import beats, envelopes

    if trigger.kind == "onset":
        return envelopes.onset_events(analysis)[0], None
    if trigger.kind in ("beat", "downbeat"):
        grid = beats.track(analysis, meter=meter, bar_offset=bar_offset)
        return (grid.times if trigger.kind == "beat" else grid.times[grid.downbeat]), None
    values = analysis.compute(trigger.feature)
    if values.ndim != 1:
        raise NetbendError(f"trigger {trigger.feature}>{trigger.level:g}: the feature gives {values.shape[1]} numbers "
                           "per frame; a threshold needs one")
    return envelopes.threshold_events(values, trigger.level, analysis.fps)


def drive(text: str, envelope: str, strength: str | None, analysis, *, n_frames: int, meter: int,
          bar_offset: int) -> np.ndarray:
    """A bend's envelope over the song's ``n_frames``: (n_frames,) float64, 0 to 1."""
    from . import envelopes

    times, gates = events(parse_trigger(text), analysis, meter=meter, bar_offset=bar_offset)
    weights = None
    if strength is not None:
        weights = envelopes.strength_at(times, analysis.compute(strength)[:n_frames], analysis.fps)
    return envelopes.render(times, fps=analysis.fps, n_frames=n_frames, envelope=envelopes.parse_envelope(envelope),
                            strength=weights, gates=gates)
