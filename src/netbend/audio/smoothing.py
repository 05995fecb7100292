"""Smoothing a feature over time, per dimension: ``median:21,envelope:0.7,gate:0.05``.

Steps run in the order given, each on every dimension of ``(n_frames,)`` or
``(n_frames, d)`` values separately:

- ``median:K``      median over K frames (K odd); the ends repeat the edge value
- ``envelope:A``    the paper's follower: instant attack; when the new value is not larger
                    in magnitude than the last output, ``out = (1 - A) * new + A * last``
- ``envelope:AT:RT`` attack and release times in seconds (one-pole, ``exp(-1 / (T * fps))``)
- ``gate:G``        values below ``G * (max - min) + min`` become 0
- ``ema:A``         exponential moving average ``out = A * last + (1 - A) * new``
- ``gaussian:S``    Gaussian blur with sigma S frames

The paper's order is ``median:21,envelope:0.7,gate:0.05`` (kernels 21-41, A 0.3-0.9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NetbendError


@dataclass(frozen=True)
class Step:
    name: str
    args: tuple[float, ...]

    def __str__(self) -> str:
        return ":".join([self.name, *(f"{a:g}" for a in self.args)])


ARITY = {"median": (1,), "envelope": (1, 2), "gate": (1,), "ema": (1,), "gaussian": (1,)}


def parse(text: str | None) -> list[Step]:
    """``"median:21,envelope:0.7"`` -> steps; an empty text or None is no smoothing."""
    steps = []
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        name, *args = item.split(":")
        if name not in ARITY:
            raise NetbendError(f"unknown smoothing {name!r} in {text!r}; known: {', '.join(ARITY)}")
        if len(args) not in ARITY[name]:
            raise NetbendError(f"smoothing {item!r}: {name} takes {' or '.join(map(str, ARITY[name]))} number(s)")
        try:
            values = tuple(float(a) for a in args)
        except ValueError:
            raise NetbendError(f"smoothing {item!r}: arguments must be numbers") from None
        if not all(np.isfinite(values)):
            raise NetbendError(f"smoothing {item!r}: arguments must be finite numbers")
        _check(name, values, item)
        steps.append(Step(name, values))
    return steps


def _check(name: str, args: tuple[float, ...], item: str) -> None:
    if name == "median" and (args[0] < 1 or args[0] % 2 != 1):
        raise NetbendError(f"smoothing {item!r}: the median kernel must be an odd number of frames")
    if name in ("ema",) or (name == "envelope" and len(args) == 1):
        if not 0 <= args[0] < 1:
            raise NetbendError(f"smoothing {item!r}: the coefficient must be in [0, 1)")
    if name == "envelope" and len(args) == 2 and min(args) < 0:
        raise NetbendError(f"smoothing {item!r}: attack and release times must be >= 0 seconds")
    if name == "gate" and not 0 <= args[0] <= 1:
        raise NetbendError(f"smoothing {item!r}: the gate is a fraction of the range, in [0, 1]")
    if name == "gaussian" and not args[0] > 0:
        raise NetbendError(f"smoothing {item!r}: sigma must be positive frames")


# Each step takes x of shape (n_frames,) or (n_frames, d) and smooths every dimension along axis 0.


def median(x: np.ndarray, k: int) -> np.ndarray:
    """Median over ``k`` frames (odd) of x (n_frames,) or (n_frames, d); the ends repeat the edge value."""
    from scipy.ndimage import median_filter

    return median_filter(x, size=(int(k),) + (1,) * (x.ndim - 1), mode="nearest")


def envelope(x: np.ndarray, alpha: float) -> np.ndarray:
    """The paper's envelope follower along axis 0 of x (n_frames,) or (n_frames, d) (a loop over
    frames: it is a recurrence)."""
    out = np.empty_like(x)
    last = x[0]
    out[0] = last
    for t in range(1, len(x)):
        new = x[t]
        last = np.where(np.abs(new) > np.abs(last), new, (1 - alpha) * new + alpha * last)
        out[t] = last
    return out


def attack_release(x: np.ndarray, attack: float, release: float, fps: float) -> np.ndarray:
    """One-pole follower along axis 0 of x (n_frames,) or (n_frames, d), with attack and release
    times in seconds (0 = instant)."""
    a = np.exp(-1.0 / (attack * fps)) if attack > 0 else 0.0
    r = np.exp(-1.0 / (release * fps)) if release > 0 else 0.0
    out = np.empty_like(x)
    last = x[0]
    out[0] = last
    for t in range(1, len(x)):
        coef = np.where(x[t] > last, a, r)
        last = coef * last + (1 - coef) * x[t]
        out[t] = last
    return out


def gate(x: np.ndarray, g: float) -> np.ndarray:
    """Values of x (n_frames,) or (n_frames, d) below ``g`` of each dimension's range become 0."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    return np.where(x < g * (hi - lo) + lo, 0.0, x)


def ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average along axis 0 of x (n_frames,) or (n_frames, d), from its first value."""
    from scipy.signal import lfilter

    zi = (alpha * x[0])[None] if x.ndim > 1 else np.array([alpha * x[0]])  # start at the first value
    return lfilter([1 - alpha], [1, -alpha], x, axis=0, zi=zi)[0]


def gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` frames along axis 0 of x (n_frames,) or (n_frames, d)."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma, axis=0, mode="nearest")


def apply(values: np.ndarray, steps: list[Step], fps: float) -> np.ndarray:
    """Run ``steps`` over ``values`` (n_frames,) or (n_frames, d); float64 of the same shape."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return x
    for step in steps:
        a = step.args
        if step.name == "median":
            x = median(x, int(a[0]))
        elif step.name == "envelope":
            x = envelope(x, a[0]) if len(a) == 1 else attack_release(x, a[0], a[1], fps)
        elif step.name == "gate":
            x = gate(x, a[0])
        elif step.name == "ema":
            x = ema(x, a[0])
        else:
            x = gaussian(x, a[0])
    return x
