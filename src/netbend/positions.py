"""Times as people write them: clock time, seconds, or musical positions on the song's beat grid.

A *position* says when something happens:

- a number, ``12``, ``12.5s`` -- seconds (in a scene file any number is seconds);
- ``1:30``, ``1:30.5``, ``1:00:00`` -- minutes and seconds (hours too);
- ``9.1`` -- bar 9, beat 1, counted on the tracked beats with the render's ``meter`` and
  ``bar_offset`` (so a tempo change moves it with the music);
- ``b32`` -- beat 32 of the song (the first tracked beat is ``b1``); ``b32.5`` lies halfway
  between beats 32 and 33.

A *length* says for how long: seconds or clock time as above, ``b8`` (eight beats), or
``4.0`` (four bars and no beat; ``2.2`` is two bars and two beats), measured on the beat
grid from where it starts.

Decimal text is musical: ``9.1`` is bar 9 beat 1, never 9.1 seconds; write ``9.1s`` for
seconds. Text is only read here; `resolve` and `resolve_length` place it on a `BeatGrid`
(`netbend.audio.beats`), which is tracked only when some position needs it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from .errors import NetbendError

if TYPE_CHECKING:
    from .audio.beats import BeatGrid

Written = Union[float, str]  # a position or length as a setting holds it: seconds, or musical text

_CLOCK = re.compile(r"^\d+(?::\d{1,2}){1,2}(?:\.\d+)?$")  # M:SS, H:MM:SS, a fraction on the seconds
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)s?$")
_BAR = re.compile(r"^(-?\d+)\.(\d+)$")
_BEAT = re.compile(r"^b(\d+(?:\.\d+)?)$")
HINT = "write 12.5s or 0:12.5 for seconds, 9.1 for bar 9 beat 1, b32 for beat 32"


@dataclass(frozen=True)
class Parsed:
    """A position or length read from text: ``kind`` seconds, beat or bar."""

    kind: str
    value: float  # seconds; a beat number (positions: 1-based) or count; a bar
    beat: int = 0  # bar positions: the beat in the bar (1-based); bar lengths: beats beyond the bars


def clock(text: str) -> float:
    """``"1:02.5"`` -> 62.5, ``"1:00:00"`` -> 3600.0."""
    parts = text.split(":")
    if any(float(p) >= 60 for p in parts[1:]):
        raise ValueError(f"minutes and seconds must be below 60 in {text!r}")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + float(p)
    return seconds


def read(value: Any, *, length: bool = False) -> Parsed:
    """What ``value`` (a number, or text as above) says; ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"expected a time, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite time, got {value!r}")
        return Parsed("seconds", float(value))
    if not isinstance(value, str):
        raise ValueError(f"expected a time, got {value!r}")
    text = value.strip().lower()
    if _CLOCK.match(text):
        return Parsed("seconds", clock(text))
    m = _BEAT.match(text)
    if m:
        return Parsed("beat", float(m.group(1)))
    m = _BAR.match(text)
    if m:
        return Parsed("bar", float(int(m.group(1))), int(m.group(2)))
    if _SECONDS.match(text) and (text.endswith("s") or "." not in text):
        return Parsed("seconds", float(text.rstrip("s")))
    raise ValueError(f"cannot read {value!r} as a {'length' if length else 'time'}; {HINT}")


def written(text: str) -> Written:
    """A flag's text as a setting holds it: seconds as a float, musical text as written
    (``"90"`` -> 90.0, ``"1:30"`` -> 90.0, ``"9.1"`` -> ``"9.1"``); ValueError if unreadable."""
    p = read(text)
    return p.value if p.kind == "seconds" else text.strip()


def written_length(text: str) -> Written:
    """Like `written`, for a length."""
    p = read(text, length=True)
    return p.value if p.kind == "seconds" else text.strip()


def is_musical(value: Any) -> bool:
    """Whether ``value`` needs the beat grid to be placed."""
    try:
        return read(value).kind != "seconds"
    except ValueError:
        return False


def check(value: Any, label: str, *, length: bool = False) -> None:
    """`NetbendError` naming ``label`` if ``value`` is not a position (a length), or is negative."""
    try:
        p = read(value, length=length)
    except ValueError as e:
        raise NetbendError(f"{label}: {e}") from None
    if p.kind == "seconds" and p.value < 0:
        raise NetbendError(f"{label} must be a time >= 0 seconds, got {value}")
    if p.kind == "beat" and not length and p.value < 1:
        raise NetbendError(f"{label}: beats count from b1, got {value}")
    if p.kind == "bar" and not length and p.beat < 1:
        raise NetbendError(f"{label} {value}: beats in a bar count from 1 (bar 9, beat 1 is 9.1); {HINT}")
    if p.kind == "bar" and length and p.value < 0:
        raise NetbendError(f"{label}: a length in bars cannot be negative, got {value}")


def check_length(value: Any, label: str) -> None:
    """`check` for a length that must be above 0."""
    check(value, label, length=True)
    p = read(value, length=True)
    if p.value <= 0 and p.beat == 0:
        raise NetbendError(f"{label} must be a length above 0, got {value}")


def resolve(value: Written, grid: BeatGrid | None, label: str) -> float:
    """Seconds of a position; a musical one is placed on ``grid``."""
    p = read(value)
    if p.kind == "seconds":
        return p.value
    assert grid is not None, "a musical position needs the beat grid"
    return time_of_beat(grid, _beat_number(p, grid, label, value), f"{label} {value}")


def resolve_length(value: Written, start: float, grid: BeatGrid | None, label: str, *,
                   backwards: bool = False) -> float:
    """Seconds of a length that begins at ``start`` seconds (``backwards``: that ends there); a
    musical one is counted in beats on ``grid`` from where ``start`` falls between beats (a
    backward one no further back than the first beat)."""
    p = read(value, length=True)
    if p.kind == "seconds":
        return p.value
    assert grid is not None, "a musical length needs the beat grid"
    what = f"{label} {value}"
    beats = beats_in(p, grid.meter, what)
    if backwards:  # no further back than the first beat, and never negative
        return max(0.0, start - time_of_beat(grid, max(1.0, beat_at(grid, start, what) - beats), what))
    end = beat_at(grid, start, what) + beats
    return time_of_beat(grid, end, what) - start


def beats_in(p: Parsed, meter: int, what: str) -> float:
    """How many beats a musical length is: ``b8`` 8, ``2.2`` 2 bars and 2 beats."""
    if p.kind == "beat":
        return p.value
    if p.beat >= meter:
        raise NetbendError(f"{what}: a length of BARS.BEATS counts at most {meter - 1} beats beyond the bars "
                           f"(meter {meter}); {HINT}")
    return p.value * meter + p.beat


def _beat_number(p: Parsed, grid: BeatGrid, label: str, value: Any) -> float:
    if p.kind == "beat":
        return p.value
    if not 1 <= p.beat <= grid.meter:
        raise NetbendError(f"{label} {value}: bar {int(p.value)} has beats 1 to {grid.meter} (meter {grid.meter}); "
                           f"{HINT}")
    return grid.bar_offset + (p.value - 1) * grid.meter + p.beat


def time_of_beat(grid: BeatGrid, n: float, what: str) -> float:
    """Seconds of beat number ``n`` (1-based; fractions lie linearly between beats)."""
    times = grid.times
    if len(times) == 0:
        raise NetbendError(f"{what}: no beat was tracked in this song (silent, or no pulse); give seconds instead")
    if n < 1:
        raise NetbendError(f"{what} falls before the song's first tracked beat (b1, at {clock_text(times[0])}); "
                           "lower --bar-offset or give seconds")
    if n > len(times):
        i = len(times) - 1
        bar, beat = grid.bar_beat(i)
        raise NetbendError(f"{what} is past the song's last tracked beat, b{len(times)} (bar {bar}.{beat}, at "
                           f"{clock_text(times[i])})")
    k = int(math.floor(n)) - 1
    frac = n - 1 - k
    return float(times[k]) if frac == 0 else float(times[k] + frac * (times[k + 1] - times[k]))


def beat_at(grid: BeatGrid, seconds: float, what: str) -> float:
    """The (fractional) beat number at ``seconds``, linear between beats and, before the first
    beat or after the last, along the nearest interval between beats; errors name ``what``."""
    import numpy as np

    times = grid.times
    if len(times) < 2:
        raise NetbendError(f"{what}: a length in beats or bars needs at least two tracked beats, and this song has "
                           f"{len(times)}; give seconds instead")
    if seconds < times[0]:
        return 1.0 - (times[0] - seconds) / (times[1] - times[0])
    if seconds > times[-1]:
        return len(times) + (seconds - times[-1]) / (times[-1] - times[-2])
    return float(np.interp(seconds, times, np.arange(1, len(times) + 1)))


def clock_text(seconds: float) -> str:
    """Seconds as ``M:SS.ss``: 83.456 -> ``1:23.46`` (59.996 -> ``1:00.00``)."""
    minutes, rest = divmod(round(float(seconds), 2), 60)
    return f"{int(minutes)}:{rest:05.2f}"


def describe(value: Written, seconds: float) -> str:
    """``"9.1 = 0:16.02"`` for a note about where a musical position fell."""
    return f"{value} = {clock_text(seconds)}"
