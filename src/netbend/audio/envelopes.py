"""Event envelopes: a shape (attack, decay, sustain, release) started on each event of a
song (an onset, a beat, a feature crossing a level), drawn on the video frames.

Events are times in seconds. An event belongs to the frame it falls in, frame ``i``
covering ``[i / fps, (i + 1) / fps)`` (an event on a boundary belongs to the later frame),
and its envelope is measured from the start of that frame, so with no attack it peaks on the
event's own frame. Where envelopes overlap, the frame takes the largest of them: a new
event retriggers the shape, it does not add to what is still ringing.

Sources of events: `threshold_events` (a feature rising through a level, with a gate that
closes when it falls back), `onset_events` (librosa's onsets with their strengths), and
`strength_at` (a feature's value at each event, as its strength).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NetbendError

if TYPE_CHECKING:
    from .features import Analysis

_SNAP = 1e-9  # frames: a time this close below a frame boundary is on it (i / fps * fps may miss i by an ulp)
_EPS = 1e-9  # seconds: the same tolerance on times within an envelope
_CUT = 37.0  # time constants after which a fall is below exp(-37) ~ 1e-16 of its start: not computed, 0
_CHUNK = 1 << 20  # (event, frame) pairs evaluated at once, to keep memory flat for long songs


@dataclass(frozen=True)
class Envelope:
    """The shape started on each event; times in seconds, each fall exponential.

    ``decay`` or ``release`` 0 is an instant fall: the level is at its start value at the
    instant the fall begins and at its target from the next frame on.
    """

    attack: float = 0.0  # seconds, linear rise 0 -> 1 from the event's frame start; 0: a hit
    decay: float = 0.2  # seconds, time constant of the fall from 1 toward `sustain`; a short flash
    sustain: float = 0.0  # level held while the event's gate is open (0..1); 0: a pure hit
    release: float = 0.2  # seconds, time constant of the fall from the level at gate close to 0

    def __post_init__(self) -> None:
        problem = _problem({f.name: getattr(self, f.name) for f in fields(self)})
        if problem:
            raise NetbendError(f"envelope {self}: {problem}")

    def __str__(self) -> str:
        return ",".join(f"{getattr(self, f.name):g}" for f in fields(self))


def _problem(values: dict[str, float]) -> str | None:
    """What is wrong with some of an envelope's numbers (by field name), or None."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{name} must be a finite number, got {value!r}"
        if value < 0:
            return f"{name} must be >= 0, got {value:g}"
    if values.get("sustain", 0) > 1:
        return f"sustain is a level in [0, 1], got {values['sustain']:g}"
    return None


def parse_envelope(text: str) -> Envelope:
    """``"A,D"`` (attack, decay seconds) or ``"A,D,S,R"`` (with sustain level and release seconds).

    ``"0,0.3"`` is a hit falling with a 0.3 s time constant; ``"0.02,0.1,0.5,0.4"`` rises in
    20 ms, falls to half while the gate is open and then fades with 0.4 s. Sustain and release
    not given keep `Envelope`'s defaults (0 and 0.2 s).

    Raises
    ------
    NetbendError
        one line naming ``text``: wrong count, not numbers, negative or non-finite times,
        sustain outside [0, 1].
    """
    usage = "use A,D or A,D,S,R (attack, decay, sustain, release; seconds and a level)"
    if not isinstance(text, str):
        raise NetbendError(f"envelope {text!r} is not text; {usage}")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 4):
        raise NetbendError(f"envelope {text!r} has {len(parts)} number(s); {usage}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise NetbendError(f"envelope {text!r}: not all numbers; {usage}") from None
    problem = _problem(dict(zip(("attack", "decay", "sustain", "release"), numbers)))
    if problem:
        raise NetbendError(f"envelope {text!r}: {problem}")
    return Envelope(*numbers)


def event_frames(times: np.ndarray, fps: float) -> np.ndarray:
    """The frame each time (seconds) falls in, ``floor(t * fps)``; a time on a boundary (to
    within 1e-9 frame) belongs to the later frame. int64, the shape of ``times``."""
    return np.floor(np.asarray(times, dtype=np.float64) * fps + _SNAP).astype(np.int64)


def _fall(x: np.ndarray, tau: float) -> np.ndarray:
    """``exp(-x / tau)`` for ``x >= 0`` seconds; ``tau`` 0: 1 at ``x == 0``, 0 after."""
    if tau > 0:
        return np.exp(-x / tau)
    return (x <= _EPS).astype(np.float64)


def _open(u: np.ndarray, env: Envelope) -> np.ndarray:
    """The level ``u`` seconds after the event's frame start while the gate is open."""
    held = env.sustain + (1.0 - env.sustain) * _fall(np.maximum(u - env.attack, 0.0), env.decay)
    if env.attack == 0:
        return held
    return np.where(u < env.attack - _EPS, u / env.attack, held)


def _level(k: np.ndarray, k_gate: np.ndarray, env: Envelope, fps: float) -> np.ndarray:
    """One event's envelope ``k`` frames after its frame (``k >= 0``), its gate closing
    ``k_gate`` frames after it (``k >= k_gate``: released from the level at close).

    Parameters
    ----------
    k, k_gate : np.ndarray [shape=(m,)] int, frames since the event's frame

    Returns
    -------
    np.ndarray [shape=(m,)] float64 in [0, 1]
    """
    u = k / fps
    u_gate = k_gate / fps
    closed = k >= k_gate
    released = _open(u_gate, env) * _fall(np.maximum(u - u_gate, 0.0), env.release)
    return np.where(closed, released, _open(u, env))


def _reach(k_gate: np.ndarray, env: Envelope, fps: float) -> np.ndarray:
    """Frames after its own that an event's envelope is above ~1e-16 of its peak."""
    if env.sustain == 0:  # the open level itself dies away
        k_open = math.ceil((env.attack + _CUT * env.decay) * fps) + 1
        k_gate = np.minimum(k_gate, k_open)
        tail = np.where(k_gate < k_open, math.ceil(_CUT * env.release * fps) + 1, 0)
    else:
        tail = math.ceil(_CUT * env.release * fps) + 1
    return k_gate + tail


def _default_gates(times: np.ndarray) -> np.ndarray:
    """Each event's gate closes at the next event (in time); the last one's never in the song."""
    order = np.argsort(times, kind="stable")
    gates = np.empty_like(times)
    gates[order[:-1]] = times[order[1:]]
    gates[order[-1:]] = np.inf
    return gates


def _inputs(events, fps, n_frames, strength, gates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`render`'s arrays as float64 (n_events,), checked; strength and gates filled in."""
    if not fps > 0 or not math.isfinite(fps):
        raise NetbendError(f"envelopes: fps must be positive, got {fps!r}")
    if isinstance(n_frames, bool) or int(n_frames) != n_frames or n_frames < 0:
        raise NetbendError(f"envelopes: n_frames must be a whole number >= 0, got {n_frames!r}")
    times = np.asarray(events, dtype=np.float64)
    if times.ndim != 1:
        raise NetbendError(f"envelopes: events must be one time per event, shape (n,), got {times.shape}")
    arrays = []
    for name, given, fill in (("strength", strength, 1.0), ("gates", gates, None)):
        if given is None:
            arrays.append(np.full(len(times), fill) if fill is not None else None)
            continue
        a = np.asarray(given, dtype=np.float64)
        if a.shape != times.shape:
            raise NetbendError(f"envelopes: {name} must have one value per event, shape {times.shape}, got {a.shape}")
        if np.isnan(a).any() or (name == "strength" and not np.isfinite(a).all()):
            raise NetbendError(f"envelopes: {name} must be numbers, got {a[~np.isfinite(a)][0]!r}")
        arrays.append(a)
    strength, gates = arrays
    if gates is not None and (gates < times - _EPS).any():
        i = int(np.flatnonzero(gates < times - _EPS)[0])
        raise NetbendError(f"envelopes: gate-close time {gates[i]:g} s is before its event at {times[i]:g} s")
    return times, strength, gates


def render(events: np.ndarray, *, fps: float, n_frames: int, envelope: Envelope,
           strength: np.ndarray | None = None, gates: np.ndarray | None = None) -> np.ndarray:
    """The envelope of every event on ``n_frames`` video frames at ``fps``.

    Event ``e`` at ``t`` seconds belongs to frame ``f = floor(t * fps)`` (a boundary belongs
    to the later frame); ``k`` frames later, ``u = k / fps`` seconds from that frame's start,
    its level is ``u / attack`` while rising, then ``sustain + (1 - sustain) exp(-(u - attack)
    / decay)`` while its gate is open. The gate closes at the start of the frame its close time
    falls in (``u_g`` after the event's frame start); from there the level is ``L(u_g) exp(-(u
    - u_g) / release)``, so the closing frame still shows the level at close. With no attack the
    peak, ``strength``, is on the event's frame.

    Several events: each envelope is computed on its own and each frame takes the largest
    (retriggering, not a sum); with negative strengths, the value of largest magnitude.
    Falls are cut where they drop below ~1e-16 of the event's peak (taken as 0), so that
    each event only touches the frames it reaches; the work is O(frames reached).

    Parameters
    ----------
    events : np.ndarray [shape=(n,)] seconds; those outside ``[0, n_frames / fps)`` (or NaN) are ignored
    fps : float  frames per second
    n_frames : int
    envelope : Envelope
    strength : np.ndarray [shape=(n,)] or None  scales each event's envelope; None: 1
    gates : np.ndarray [shape=(n,)] or None  each event's gate-close time, seconds, not before
        the event (inf: never); None: the next event's time, so that the sustain holds
        between events, the last one's until the end

    Returns
    -------
    np.ndarray [shape=(n_frames,)] float64
    """
    times, strength, gates = _inputs(events, fps, n_frames, strength, gates)
    n = int(n_frames)
    frame = event_frames(np.clip(np.nan_to_num(times, nan=-1.0), -1.0, n / fps + 1.0), fps)
    keep = np.isfinite(times) & (frame >= 0) & (frame < n)
    times, frame, strength = times[keep], frame[keep], strength[keep]
    top, bottom = np.zeros(n), np.zeros(n)  # the largest and the most negative level on each frame
    if len(times) == 0:
        return top
    gates = _default_gates(times) if gates is None else gates[keep]
    gate_frame = event_frames(np.minimum(gates, n / fps + 1.0), fps)  # inf: past the end
    k_gate = np.maximum(np.minimum(gate_frame, n) - frame, 0)
    last = np.minimum(frame + _reach(k_gate, envelope, fps), n - 1)  # inclusive
    _draw(top, bottom, frame, last - frame + 1, k_gate, strength, envelope, fps)
    return np.where(-bottom > top, bottom, top)


def _draw(top: np.ndarray, bottom: np.ndarray, frame: np.ndarray, lengths: np.ndarray, k_gate: np.ndarray,
          strength: np.ndarray, envelope: Envelope, fps: float) -> None:
    """Raise ``top`` (n_frames,) to and lower ``bottom`` to each event's level on the ``lengths``
    frames from its ``frame`` on, in chunks of at most _CHUNK (event, frame) pairs (or one event)."""
    ends = np.cumsum(lengths)
    start = 0
    while start < len(frame):
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + _CHUNK, side="right")))
        owner = np.repeat(np.arange(start, stop), lengths[start:stop])  # (pairs,) event of each pair
        k = np.arange(base, ends[stop - 1]) - (ends - lengths)[owner]  # (pairs,) frames since the event's
        values = strength[owner] * _level(k, k_gate[owner], envelope, fps)
        np.maximum.at(top, frame[owner] + k, values)
        np.minimum.at(bottom, frame[owner] + k, values)
        start = stop


def threshold_events(values: np.ndarray, level: float, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Where a feature rises through a level: events, and gates that close when it falls back.

    The level is a fraction of the feature's range over the song, ``level * (max - min) + min``
    (as the paper's noise gate). A song that starts at or above it has an event at 0.

    Parameters
    ----------
    values : np.ndarray [shape=(n_frames,)]  the feature, one value per frame
    level : float in [0, 1]
    fps : float

    Returns
    -------
    times : np.ndarray [shape=(m,)] seconds, the start of the first frame at or above the level
    gates : np.ndarray [shape=(m,)] seconds, the start of the first frame back below it
        (``n_frames / fps`` if it never falls back); a constant feature gives no events
    """
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 <= level <= 1:
        raise NetbendError(f"threshold events: the level is a fraction of the range, in [0, 1], got {level!r}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise NetbendError(f"threshold events need a one-number feature, shape (n_frames,), got {x.shape}")
    if len(x) == 0 or not x.max() > x.min():
        return np.zeros(0), np.zeros(0)
    above = np.concatenate([[False], x >= level * (x.max() - x.min()) + x.min(), [False]])
    change = np.diff(above.astype(np.int8))  # +1 at the first frame above, -1 at the first back below
    return np.flatnonzero(change > 0) / fps, np.flatnonzero(change < 0) / fps


def onset_events(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """Onsets (librosa.onset.onset_detect) on the analysis's cached onset envelope.

    Returns
    -------
    times : np.ndarray [shape=(m,)] seconds
    strengths : np.ndarray [shape=(m,)] the onset envelope at each onset (librosa's units,
        larger for louder attacks; `strength_at` or a division by their max makes them 0..1)
    """
    import librosa

    from .features.librosa_based import _onset_envelope

    env, hop = _onset_envelope(analysis)
    sr = analysis.audio.sr
    frames = librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=hop, units="frames")
    frames = np.asarray(frames, dtype=np.int64)
    return frames * hop / sr, np.asarray(env, dtype=np.float64)[frames]


def strength_at(events: np.ndarray, values: np.ndarray, fps: float) -> np.ndarray:
    """A feature's value at each event's frame, over the feature's largest magnitude in the song.

    The frame where the feature is largest gives 1; a feature with negative values is
    divided by its largest ``|value|``, so strengths lie in [-1, 1]; an all-zero feature
    gives 0. Events outside the feature's frames ``[0, n_frames / fps)`` get 0.

    Parameters
    ----------
    events : np.ndarray [shape=(m,)] seconds
    values : np.ndarray [shape=(n_frames,)]
    fps : float

    Returns
    -------
    np.ndarray [shape=(m,)] float64
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise NetbendError(f"event strengths need a one-number feature, shape (n_frames,), got {x.shape}")
    times = np.asarray(events, dtype=np.float64)
    peak = np.abs(x).max() if len(x) else 0.0
    frame = event_frames(np.clip(np.nan_to_num(times, nan=-1.0), -1.0, len(x) / fps + 1.0), fps)
    inside = (frame >= 0) & (frame < len(x))
    out = np.zeros(times.shape)
    if peak > 0:
        out[inside] = x[frame[inside]] / peak
    return out
