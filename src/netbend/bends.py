"""Bending sites: where in the generation an operator acts."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .operators import Chain


@dataclass
class LatentBend:
    """The paper's bend: ``op`` acts on the latent that enters denoising step ``layer``.

    Layer 0 is the initial noise and layer S the final latent before decoding. Used as
    the step callback of `netbend.sampling.sample`.
    """

    op: Chain
    layer: int
    r: torch.Tensor | None  # (B, *param_shape): one parameter per frame of the batch; None if nothing is driven
    generator: list[torch.Generator] | None = None  # one per frame, for random operators

    def __call__(self, k: int, x: torch.Tensor) -> torch.Tensor:
        return self.op(x, self.r, generator=self.generator) if k == self.layer else x
