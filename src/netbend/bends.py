"""Bending sites: where in the generation an operator acts."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .operators import Chain


@dataclass
class LatentBend:
    """The paper's bend: ``op`` acts on the latent that enters denoising step k, for k in ``steps``.

    Step 0 is the initial noise and step S the final latent before decoding.
    """

    op: Chain
    steps: range  # loop indices before which the latent is bent
    r: torch.Tensor | None  # (B, *param_shape): one parameter per frame of the batch; None if nothing is driven
    generator: list[torch.Generator] | None = None  # one per frame, for random operators
    active: torch.Tensor | None = None  # (B,) bool: frames inside the bend's time window; None = all

    def __call__(self, k: int, x: torch.Tensor) -> torch.Tensor:
        if k not in self.steps:
            return x
        if self.active is None:
            return self.op(x, self.r, generator=self.generator)
        if not self.active.any():
            return x
        y = self.op(x, self.r, generator=self.generator)
        return torch.where(self.active.to(x.device).view(-1, 1, 1, 1), y, x)


@dataclass
class Bends:
    """Several bends as one step callback of `netbend.sampling.sample`, applied in order."""

    sites: list[LatentBend]

    def __call__(self, k: int, x: torch.Tensor) -> torch.Tensor:
        for site in self.sites:
            x = site(k, x)
        return x
