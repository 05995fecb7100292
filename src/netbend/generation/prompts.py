"""Prompt schedules: keyframed prompts whose text embeddings are interpolated frame by frame.

A schedule is lines of ``TIME [TRANSITION] : prompt``. TIME is a position (`netbend.positions`):
``M:SS`` or ``H:MM:SS`` (with a fraction, ``1:02.5``), seconds (``12``, ``12.5s``), or musical:
``9.1`` (bar 9, beat 1) or ``b32`` (beat 32), placed on the song's tracked beats. By default
the embedding moves linearly from the previous keyframe's prompt to this one's over the whole
gap (the paper); a TRANSITION changes how this prompt arrives: ``hold`` keeps the previous
prompt until TIME and switches there exactly, ``~LENGTH`` (``~b2``, ``~1.0``, ``~0.5s``) holds
it and then interpolates over that length, ending at TIME. Prompts may contain colons; blank
lines and lines starting with ``#`` are skipped; times must increase. Before the first keyframe
its prompt holds, after the last one the last prompt holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from .. import positions
from ..errors import NetbendError
from ..positions import Written

if TYPE_CHECKING:  # torch is imported where embeddings are made: the settings read MODES and parse
    import torch

# "TIME [hold | ~LENGTH] : prompt", a space after ':' (M:SS holds colons with none after them)
_LINE = re.compile(r"^\s*(\S+?)(?:\s+(hold|~\S+))?\s*:\s+(\S.*?)\s*$")
MODES = ("lerp", "slerp")


@dataclass(frozen=True)
class Keyframe:
    time: Written  # seconds, or a musical position until placed on the beat grid (`place`)
    prompt: str
    morph: Written | None = None  # how it arrives: None over the whole gap, 0 held then cut, else a length


def _read_line(m: re.Match, source: str, number: int) -> Keyframe:
    when, transition, prompt = m.groups()
    try:
        time = positions.written(when)
        if transition is None:
            morph = None
        elif transition == "hold":
            morph = 0.0
        else:
            morph = positions.written_length(transition[1:])
    except ValueError as e:
        raise NetbendError(f"{source} line {number}: {e}") from None
    return Keyframe(time, prompt, morph)


def parse(text: str, *, source: str = "prompt schedule") -> list[Keyframe]:
    """Parse schedule text; errors name the ``source`` and the line number. Musical times are
    kept as written (see `place`)."""
    frames: list[Keyframe] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise NetbendError(f"{source} line {number}: expected 'M:SS : prompt', got {line.strip()!r} (a time may "
                               "also be 9.1 for bar 9 beat 1, or b32 for beat 32)")
        key = _read_line(m, source, number)
        last = frames[-1].time if frames else None
        if isinstance(key.time, float) and isinstance(last, float) and key.time <= last:
            raise NetbendError(f"{source} line {number}: time {m.group(1)} is not after the previous keyframe "
                               f"({last:g} s); times must increase")
        frames.append(key)
    if not frames:
        raise NetbendError(f"{source} has no prompts")
    return frames


def musical(keyframes: list[Keyframe]) -> bool:
    """Whether placing ``keyframes`` needs the beat grid."""
    return any(positions.is_musical(k.time) or (k.morph is not None and positions.is_musical(k.morph))
               for k in keyframes)


def place(keyframes: list[Keyframe], grid, *, source: str = "prompt schedule") -> list[Keyframe]:
    """The keyframes in seconds: musical times and transitions placed on ``grid`` (a `BeatGrid`)."""
    out: list[Keyframe] = []
    for i, k in enumerate(keyframes, start=1):
        t = positions.resolve(k.time, grid, f"{source}: keyframe {i}, time")
        morph = None if k.morph is None else positions.resolve_length(
            k.morph, t, grid, f"{source}: keyframe {i}, transition", backwards=True)  # the move ends at t
        if out and t <= out[-1].time:
            raise NetbendError(f"{source}: keyframe {i}, {k.time} ({t:.3f} s on this song's beats), is not after the "
                               f"keyframe before it ({out[-1].time:.3f} s); times must increase")
        out.append(Keyframe(t, k.prompt, morph))
    return out


def text(keyframes: list[Keyframe]) -> str:
    """Schedule text of placed keyframes, in seconds that read back exactly."""
    def seconds(t: float) -> str:  # nine decimals read back as the same float for times of a song
        return f"{float(t):.9f}".rstrip("0").rstrip(".") + "s"

    def line(k: Keyframe) -> str:
        arrive = "" if k.morph is None else " hold" if k.morph == 0 else f" ~{seconds(k.morph)}"
        return f"{seconds(k.time)}{arrive} : {k.prompt}"

    return "\n".join(line(k) for k in keyframes) + "\n"


def segments(keyframes: list[Keyframe], times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each time: the keyframes it lies between (a, b) and how far from a to b (0..1), the
    move into b starting ``b.morph`` seconds before it (at a where that is None or longer)."""
    kt = np.array([float(k.time) for k in keyframes])
    morph = np.array([np.inf if k.morph is None else float(k.morph) for k in keyframes])
    b = np.searchsorted(kt, times, side="right")  # first keyframe after t
    a = np.clip(b - 1, 0, len(kt) - 1)
    b = np.clip(b, 0, len(kt) - 1)
    begin = np.maximum(kt[a], kt[b] - morph[b])  # where the move into b begins
    span = kt[b] - begin
    w = np.where(span > 0, (times - begin) / np.where(span > 0, span, 1), 0.0)
    return a, b, np.clip(w, 0.0, 1.0)


def slerp(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of each (77, D) embedding pair as one vector; lerp where nearly parallel.

    a, b : (B, 77, D); w : (B,)
    """
    import torch

    fa, fb = a.flatten(1).float(), b.flatten(1).float()
    cos = (fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1)).clamp_min(1e-12)
    theta = torch.arccos(cos.clamp(-1, 1))
    w = w.float()
    sin = torch.sin(theta)
    near = sin.abs() < 1e-4
    ca = torch.where(near, 1 - w, torch.sin((1 - w) * theta) / torch.where(near, 1, sin))
    cb = torch.where(near, w, torch.sin(w * theta) / torch.where(near, 1, sin))
    return (ca[:, None] * fa + cb[:, None] * fb).view_as(a).to(a.dtype)


class PromptSchedule:
    """Keyframes with each distinct prompt encoded once; `embeddings` gives any frames' embeddings."""

    def __init__(self, keyframes: list[Keyframe], encode: Callable[[list[str]], torch.Tensor], mode: str = "lerp"):
        if mode not in MODES:
            raise NetbendError(f"prompt interpolation must be one of {', '.join(MODES)}, got {mode!r}")
        if musical(keyframes):
            raise NetbendError("a prompt schedule with musical times must be placed on the song's beats first "
                               "(netbend.generation.prompts.place)")
        self.keyframes = keyframes
        self.mode = mode
        distinct = list(dict.fromkeys(k.prompt for k in keyframes))
        self.table = encode(distinct)  # (P, 77, D), once per render
        index = {p: i for i, p in enumerate(distinct)}
        self.rows = np.array([index[k.prompt] for k in keyframes])

    def embeddings(self, times: np.ndarray) -> torch.Tensor:
        """Embeddings at ``times`` (seconds, (B,)): (B, 77, D)."""
        import torch

        a, b, w = segments(self.keyframes, np.asarray(times, dtype=np.float64))
        ea, eb = self.table[self.rows[a]], self.table[self.rows[b]]
        wt = torch.as_tensor(w, device=ea.device)
        if self.mode == "slerp":
            return slerp(ea, eb, wt)
        wt = wt.to(ea.dtype).view(-1, 1, 1)
        return torch.where(wt == 0, ea, ea + wt * (eb - ea))  # exactly the keyframe at its own time
