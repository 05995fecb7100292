"""Parsing numbers as users write them on the command line (no heavy imports here)."""

from __future__ import annotations

import math
import re
from typing import Any

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
    divisor = float(m.group(2)) if m.group(2) else 1.0
    if divisor == 0:
        raise ValueError(f"cannot read {text!r} as a number: division by zero")
    return coef * math.pi / divisor


def parse_value(text: str) -> Any:
    """An option value from the command line: int, float (with ``pi``), bool, None, or the text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    try:
        return int(low)
    except ValueError:
        pass
    try:
        return parse_number(low)
    except ValueError:
        return text.strip()


def format_number(v: float) -> str:
    """A number as people write it: quarter multiples of pi as decimals (``0.25π``, ``π``,
    ``1.5π``, as the paper's figures), other multiples of pi/12 as fractions (``π/3``,
    ``5π/6``), anything else plainly."""
    from fractions import Fraction

    q = v / math.pi
    twelfths = round(q * 12)
    if not v or abs(q * 12 - twelfths) > 1e-9:
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    if twelfths % 3 == 0:  # a quarter multiple
        text = f"{twelfths / 12:g}"
        return {"1": "π", "-1": "-π"}.get(text, f"{text}π")
    f = Fraction(twelfths, 12)
    head = {1: "", -1: "-"}.get(f.numerator, str(f.numerator))
    return f"{head}π/{f.denominator}"
