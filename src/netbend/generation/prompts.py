"""Prompt schedules: keyframed prompts whose text embeddings are interpolated frame by frame.

A schedule is lines of ``TIME : prompt``, TIME as ``M:SS``, ``H:MM:SS`` or plain seconds,
each with an optional fraction (``1:02.5``). Prompts may contain colons; blank lines and
lines starting with ``#`` are skipped; times must increase. Before the first keyframe its
prompt holds, after the last one the last prompt holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import NetbendError

if TYPE_CHECKING:  # torch is imported where embeddings are made: the settings read MODES and parse
    import torch

_LINE = re.compile(r"^\s*(\d+(?::\d{1,2}){0,2}(?:\.\d+)?)\s*:\s+(\S.*?)\s*$")  # "TIME : prompt", a space after ':' 
MODES = ("lerp", "slerp")


@dataclass(frozen=True)
class Keyframe:
    time: float  # seconds
    prompt: str


def parse_time(text: str) -> float:
    """``"1:02.5"`` -> 62.5, ``"1:00:00"`` -> 3600.0, ``"12"`` -> 12.0."""
    parts = text.split(":")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + float(p)
    if any(float(p) >= 60 for p in parts[1:]):
        raise ValueError(f"minutes and seconds must be below 60 in {text!r}")
    return seconds


def parse(text: str, *, source: str = "prompt schedule") -> list[Keyframe]:
    """Parse schedule text; errors name the ``source`` and the line number."""
    frames: list[Keyframe] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise NetbendError(f"{source} line {number}: expected 'M:SS : prompt', got {line.strip()!r}")
        try:
            t = parse_time(m.group(1))
        except ValueError as e:
            raise NetbendError(f"{source} line {number}: {e}") from None
        if frames and t <= frames[-1].time:
            raise NetbendError(f"{source} line {number}: time {m.group(1)} is not after the previous keyframe "
                               f"({frames[-1].time:g} s); times must increase")
        frames.append(Keyframe(t, m.group(2)))
    if not frames:
        raise NetbendError(f"{source} has no prompts")
    return frames


def segments(keyframes: list[Keyframe], times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each time: the keyframes it lies between (a, b) and how far from a to b (0..1)."""
    kt = np.array([k.time for k in keyframes])
    b = np.searchsorted(kt, times, side="right")  # first keyframe after t
    a = np.clip(b - 1, 0, len(kt) - 1)
    b = np.clip(b, 0, len(kt) - 1)
    span = kt[b] - kt[a]
    w = np.where(span > 0, (times - kt[a]) / np.where(span > 0, span, 1), 0.0)
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
