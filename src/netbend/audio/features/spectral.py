"""The paper's hand-crafted features, computed for all frames at once.

Each frame's slice (``sr / fps`` samples, `netbend.audio.frame_slices`) is zero-padded to
the next power of two; ``a = |rfft|`` with bin frequencies ``f``:

- rms = sqrt(mean(x**2));  centroid c = sum(f a) / sum(a)
- spread s = sqrt(sum(a (f - c)**2) / sum(a));  skewness = sum(a (f - c)**3) / (s**3 sum(a))
- kurtosis = sum(a (f - c)**4) / (s**4 sum(a));  flux = sum(|a_t - a_{t-1}|), 0 for frame 0; a change into a silent frame counts (the paper's)

A silent frame gives 0 everywhere, never NaN. Frames are processed in blocks so that
memory beyond the song itself stays bounded.

The paper takes the spectrum of the bare slice; its leakage pulls a pure tone's centroid
hundreds of Hz above the tone. ``window=hann`` (e.g. ``centroid:window=hann``) tapers each
slice first, which brings a sine's centroid to within a fraction of a bin of its frequency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..io import frame_count, frame_slices
from . import register

if TYPE_CHECKING:
    from . import Analysis

PAPER = ("rms", "centroid", "spread", "skewness", "kurtosis", "flux")
BLOCK = 256  # frames per FFT block: bounds the memory beyond the song itself


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


WINDOWS = ("none", "hann")


def paper_features(y: np.ndarray, sr: int, fps: float, window: str = "none") -> dict[str, np.ndarray]:
    """All six paper features of mono ``y`` (n,) at ``fps``: name -> (n_frames,) float64.

    window : "none" (the paper's bare slices) or "hann"
    """
    from ...errors import NetbendError

    if window not in WINDOWS:
        raise NetbendError(f"spectral features: window must be one of {', '.join(WINDOWS)}, got {window!r}")
    n = frame_count(len(y), sr, fps)
    length = frame_slices(y, sr, fps, 0, 1).shape[1]  # samples per slice
    taper = np.hanning(length).astype(y.dtype) if window == "hann" else None
    nfft = 1 << max(length - 1, 1).bit_length()  # next power of two >= L
    f = np.fft.rfftfreq(nfft, 1.0 / sr)  # (K,) Hz
    out = {name: np.zeros(n) for name in PAPER}
    previous = None
    for start in range(0, n, BLOCK):
        raw = frame_slices(y, sr, fps, start, start + BLOCK)  # (b, L)
        out["rms"][start:start + len(raw)] = np.sqrt(np.mean(np.square(raw, dtype=np.float64), axis=1))
        block_slices = raw if taper is None else raw * taper
        a = np.abs(np.fft.rfft(block_slices, n=nfft, axis=1))  # (b, K)
        total = a.sum(axis=1)  # (b,)
        c = _safe_div(a @ f, total)
        d = f[None, :] - c[:, None]  # (b, K) distance of each bin from the centroid
        ad2 = a * d * d
        var = _safe_div(ad2.sum(axis=1), total)
        s = np.sqrt(var)
        block = slice(start, start + len(a))
        out["centroid"][block] = c
        out["spread"][block] = s
        out["skewness"][block] = _safe_div((ad2 * d).sum(axis=1), s**3 * total)
        out["kurtosis"][block] = _safe_div((ad2 * d * d).sum(axis=1), s**4 * total)
        diff = np.abs(np.diff(a, axis=0, prepend=a[:1] if previous is None else previous[None])).sum(axis=1)
        out["flux"][block] = diff
        previous = a[-1]
    return out


def _paper(analysis: Analysis, name: str, window: str = "none") -> np.ndarray:
    key = ("paper", window)
    if name == "rms":  # of the bare slices, whatever the window: any pass already made has it
        key = next((k for k in analysis.cache if isinstance(k, tuple) and k[0] == "paper"), key)
    if key not in analysis.cache:
        analysis.cache[key] = paper_features(analysis.audio.mono, analysis.audio.sr, analysis.fps, window)
    return analysis.cache[key][name]


@register("rms", "root mean square of the frame's samples (the paper's loudness)")
def rms(analysis: Analysis) -> np.ndarray:
    return _paper(analysis, "rms")


def _spectral(name: str, description: str, change: bool = False) -> None:
    register(name, description, change=change, window="none")(lambda analysis, window: _paper(analysis, name, window))


_spectral("centroid", "spectral centroid in Hz (window=hann for an unbiased estimate)")
_spectral("spread", "spectral spread (standard deviation around the centroid) in Hz")
_spectral("skewness", "spectral skewness")
_spectral("kurtosis", "spectral kurtosis")
_spectral("flux", "spectral flux: summed magnitude change from the previous frame (into silence too)", change=True)


@register("bands", "energy in frequency bands; edges in Hz separated by '/'", edges="0/250/2000/20000")
def bands(analysis: Analysis, edges: str) -> np.ndarray:
    from ...errors import NetbendError

    try:
        cuts = [float(e) for e in str(edges).split("/")]
    except ValueError:
        raise NetbendError(f"bands: edges must be numbers in Hz separated by '/', got {edges!r}") from None
    if len(cuts) < 2 or any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise NetbendError(f"bands: edges must be at least two increasing frequencies, got {edges!r}")
    y, sr, fps = analysis.audio.mono, analysis.audio.sr, analysis.fps
    n = analysis.n_frames
    nfft = 1 << max(frame_slices(y, sr, fps, 0, 1).shape[1] - 1, 1).bit_length()
    f = np.fft.rfftfreq(nfft, 1.0 / sr)
    which = np.digitize(f, cuts) - 1  # band index of each bin; -1 or len-1 outside
    onehot = (which[:, None] == np.arange(len(cuts) - 1)[None, :]).astype(np.float64)  # (K, bands)
    empty = [f"{a:g}-{b:g}" for i, (a, b) in enumerate(zip(cuts, cuts[1:])) if not onehot[:, i].any()]
    if empty:
        raise NetbendError(f"bands: no frequencies in band(s) {', '.join(empty)} Hz at {sr} Hz sampling "
                           f"(bins every {f[1]:.1f} Hz up to {f[-1]:g} Hz)")
    out = np.empty((n, len(cuts) - 1))
    for start in range(0, n, BLOCK):
        power = np.abs(np.fft.rfft(frame_slices(y, sr, fps, start, start + BLOCK), n=nfft, axis=1)) ** 2 / nfft
        out[start:start + len(power)] = power @ onehot
    return out
