"""The paper's coherent noise walk: each frame's initial noise lies on a circle between two Gaussians."""

from __future__ import annotations

import math

import torch


class NoiseWalk:
    """Initial noise of frame ``i``: ``cos(a_i) * n1 + sin(a_i) * n2``, ``a_i = pi * walk * i / (N - 1)``.

    ``walk = 2`` goes once round the full circle over the video; the paper's JAES runs
    used 0.2. ``n1`` and ``n2`` are drawn on the CPU in float32 from ``seed``, so a seed
    gives the same video on every device and at every batch size.

    Parameters
    ----------
    shape : tuple  latent shape of one frame, e.g. (4, 64, 64)
    n_frames : int  N, the number of frames of the video
    seed : int
    walk : float
    """

    def __init__(self, shape: tuple[int, ...], *, n_frames: int, seed: int, walk: float):
        g = torch.Generator().manual_seed(seed)
        self.n1 = torch.randn(shape, generator=g)
        self.n2 = torch.randn(shape, generator=g)
        self.step = math.pi * walk / max(n_frames - 1, 1)  # radians per frame

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """Noise for the frame indices ``frames`` (B,): float32 CPU tensor (B, *shape)."""
        a = (frames.to(torch.float64) * self.step).view(-1, *([1] * self.n1.ndim))
        return (torch.cos(a) * self.n1 + torch.sin(a) * self.n2).float()
