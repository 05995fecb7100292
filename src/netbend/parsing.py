"""Parsing numbers as users write them on the command line (no heavy imports here)."""

from __future__ import annotations

import math
import re

_PI = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)?)\*?pi(?:/(\d+\.?\d*|\.\d+))?$")


def parse_number(text: str) -> float:
    """A float, where ``pi`` may appear with a factor and a divisor: ``2pi``, ``pi/2``, ``-1.5*pi``, ``3pi/4``.

    Raises ValueError for anything else.
    """
    t = text.strip().lower().replace(" ", "")
    if "pi" not in t:
        return float(t)
    m = _PI.match(t)
    if not m:
        raise ValueError(f"cannot read {text!r} as a number")
    coef = m.group(1)
    coef = -1.0 if coef == "-" else 1.0 if coef in ("", "+") else float(coef)
    return coef * math.pi / (float(m.group(2)) if m.group(2) else 1.0)
