"""The figure a user looks at before spending GPU hours: features over time, raw and smoothed."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_features(path: str | Path, panels: list[tuple[str, np.ndarray, np.ndarray | None]], *, fps: float,
                  title: str, beats: np.ndarray | None = None, downbeats: np.ndarray | None = None) -> Path:
    """Write a PNG with one panel per feature.

    panels : (label, raw, smoothed) with raw/smoothed of shape (n_frames,) or (n_frames, d);
        a multi-dimensional feature is drawn as an image (dimension x time).
    beats, downbeats : np.ndarray [shape=(n,)], seconds
        Marked on every panel by thin (beats) and thicker (downbeats) vertical lines.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 1.9 * len(panels) + 0.6), sharex=True, squeeze=False)
    for ax, (label, raw, smooth) in zip(axes[:, 0], panels):
        t = np.arange(len(raw)) / fps
        if raw.ndim == 1:
            ax.plot(t, raw, color="0.65", lw=0.8, label="raw")
            if smooth is not None:
                ax.plot(t, smooth, color="tab:blue", lw=1.3, label="smoothed")
                ax.legend(loc="upper right", fontsize=7, frameon=False)
        else:
            shown = raw if smooth is None else smooth
            ax.imshow(shown.T, aspect="auto", origin="lower", interpolation="nearest", cmap="magma",
                      extent=(0, len(raw) / fps, -0.5, shown.shape[1] - 0.5))
            ax.set_ylabel("dim")
        for times, width in ((beats, 0.5), (downbeats, 1.5)):
            if times is not None:
                times = times[times < len(raw) / fps]  # lines past the last frame would widen the axis
                ax.vlines(times, 0, 1, transform=ax.get_xaxis_transform(), colors="tab:green", lw=width, alpha=0.7)
        ax.set_title(label, loc="left", fontsize=9)
        ax.margins(x=0)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
