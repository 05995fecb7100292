"""The paper's six features: netbend's block-vectorised computation against the way the
original research code computed them (frame by frame, one FFT per slice, Python-level
reductions, spread/skewness/kurtosis each recomputing the spectrum and the centroid).

    python benchmarks/features_speed.py              # a 5-minute song at 20 fps, 44.1 kHz

Prints both times and their ratio from one run, and checks the two agree.
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc

import numpy as np

from netbend.audio.features.spectral import PAPER, paper_features


def _spectrum(frame, sr):
    n = 1 << (len(frame) - 1).bit_length()
    a = np.abs(np.fft.rfft(frame, n=n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    return list(a), list(f)


def _centroid(frame, sr):
    a, f = _spectrum(frame, sr)
    total = sum(a)
    return sum(fi * ai for fi, ai in zip(f, a)) / total if total > 0 else 0.0


def _spread(frame, sr):
    a, f = _spectrum(frame, sr)
    c, total = _centroid(frame, sr), sum(a)
    return math.sqrt(sum(ai * (fi - c) ** 2 for fi, ai in zip(f, a)) / total) if total > 0 else 0.0


def _moment(frame, sr, p):
    a, f = _spectrum(frame, sr)
    c, s, total = _centroid(frame, sr), _spread(frame, sr), sum(a)
    return sum(ai * (fi - c) ** p for fi, ai in zip(f, a)) / (s**p * total) if total > 0 and s > 0 else 0.0


def baseline(y, sr, fps):
    """One slice at a time, as the research code did."""
    hop = math.floor(sr / fps)
    out = {k: [] for k in PAPER}
    previous = None
    for i in range(math.floor(len(y) * fps / sr)):
        start = math.floor(i * sr / fps)
        frame = y[start:start + hop]
        out["rms"].append(math.sqrt(sum(float(v) * float(v) for v in frame) / len(frame)))
        out["centroid"].append(_centroid(frame, sr))
        out["spread"].append(_spread(frame, sr))
        out["skewness"].append(_moment(frame, sr, 3))
        out["kurtosis"].append(_moment(frame, sr, 4))
        a, _ = _spectrum(frame, sr)
        out["flux"].append(0.0 if previous is None else sum(abs(x - p) for x, p in zip(a, previous)))
        previous = a
    return {k: np.array(v) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--sr", type=int, default=44100)
    p.add_argument("--fps", type=float, default=20.0)
    p.add_argument("--baseline-seconds", type=float, default=None,
                   help="time the baseline on only this much audio and scale to the song (it is linear in "
                        "length); default: the whole song")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    t = np.arange(int(args.seconds * args.sr)) / args.sr
    y = (0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.1 * np.sin(t))) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)

    tracemalloc.start()
    t0 = time.perf_counter()
    ours = paper_features(y, args.sr, args.fps)
    t_ours = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    part = y if args.baseline_seconds is None else y[: int(args.baseline_seconds * args.sr)]
    t0 = time.perf_counter()
    base = baseline(part, args.sr, args.fps)
    t_base = (time.perf_counter() - t0) * len(y) / len(part)
    n = len(base["rms"])
    for k in PAPER:
        np.testing.assert_allclose(ours[k][:n], base[k], rtol=1e-4, atol=1e-5 * max(1.0, np.abs(base[k]).max()))

    print(f"six paper features, {args.seconds:g} s at {args.sr} Hz, {args.fps:g} fps ({len(ours['rms'])} frames)")
    how = "whole song" if part is y else f"timed on {args.baseline_seconds:g} s, scaled"
    print(f"  baseline (frame by frame; {how}): {t_base:8.2f} s")
    print(f"  netbend (vectorised blocks):                               {t_ours:8.3f} s")
    print(f"  speed-up: {t_base / t_ours:.0f}x; results agree; netbend's peak extra memory "
          f"{peak / 2**20:.0f} MiB for a {y.nbytes / 2**20:.0f} MiB song")


if __name__ == "__main__":
    main()
