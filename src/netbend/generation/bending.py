"""What a bend does to a batch of frames, and where: the runtime side of `netbend.settings.Bend`.

A `BatchBend` is an operator chain with its parameters for one batch of frames. A
`PlacedBend` puts it at a site: on the latent before chosen denoising steps (the paper's),
or on a UNet / VAE-decoder module's output while chosen steps run (installed as a forward
hook by `netbend.generation.sites.hooked`). `LatentBends` is the sampling loop's one
bending callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..operators import Chain
from ..settings.bend import LATENT


@dataclass
class BatchBend:
    """An operator acting on a batch of B frames: one chain for all (``op``) or one per frame.

    The tensor it bends may hold m copies of the batch (the UNet sees unconditional and
    conditional halves with classifier-free guidance): each copy is bent alike, random
    operators drawing the same numbers for every copy.
    """

    op: Chain | list[Chain]  # a chain for every frame, or one per frame (the rows of a figure grid)
    r: torch.Tensor | None  # (B, *param_shape): one parameter per frame; None if nothing is driven
    batch: int  # B
    generator: list[torch.Generator] | None = None  # one per frame, for random operators
    active: torch.Tensor | None = None  # (B,) bool: frames inside the bend's time window; None = all
    channels: torch.Tensor | None = None  # indices of the channels bent; None = all

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x : (m * B, C, H, W) -> the same shape, with the chosen channels of active frames bent."""
        if self.active is not None and not self.active.any():
            return x
        if x.shape[0] % self.batch:
            raise ValueError(f"a bend of {self.batch} frames met a batch of {x.shape[0]}")
        sel = x if self.channels is None else x[:, self.channels.to(x.device)]
        copies = sel.split(self.batch)
        if len(copies) == 1:
            y = self._bend(sel)
        else:
            states = None if self.generator is None else [g.get_state() for g in self.generator]
            bent = []
            for c in copies:
                if states is not None:  # each copy draws what the first drew
                    for g, st in zip(self.generator, states):
                        g.set_state(st)
                bent.append(self._bend(c))
            y = torch.cat(bent)
        if self.active is not None:
            keep = self.active.to(x.device).repeat(x.shape[0] // self.batch).view(-1, 1, 1, 1)
            y = torch.where(keep, y, sel)
        if self.channels is None:
            return y
        out = x.clone()
        out[:, self.channels.to(x.device)] = y
        return out

    def _bend(self, x: torch.Tensor) -> torch.Tensor:  # one copy of the batch: (B, c, H, W)
        # r was checked against the operators' domains before the first frame (render, grid)
        if not isinstance(self.op, list):
            return self.op(x, self.r, generator=self.generator, checked=True)
        gens = self.generator or [None] * self.batch
        return torch.cat([op(x[i:i + 1], None if self.r is None else self.r[i:i + 1],
                             generator=None if gens[i] is None else [gens[i]], checked=True)
                          for i, op in enumerate(self.op)])


@dataclass
class PlacedBend:
    """A batch bend at a site.

    ``site`` is ``latent`` (bent before each denoising step k in ``steps``; k = S is the
    final latent before decoding) or a module (``unet.mid_block``, ``vae.decoder.up_blocks.2``):
    its output is bent while the steps in ``steps`` run, or whenever it runs when ``steps``
    is None (VAE modules, which run at decode time).
    """

    bend: BatchBend
    site: str = LATENT
    steps: range | None = None


@dataclass
class Clock:
    """The denoising step now running, for module bends that act in some steps only."""

    step: int | None = None


@dataclass
class LatentBends:
    """The latent bends as the step callback of `netbend.generation.sampling.sample`, applied
    in order; it also tells ``clock`` (shared with the module bends' hooks) which step runs next."""

    bends: list[PlacedBend] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)

    def __call__(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """k : the step the latent x (B, 4, h, w) enters; returns x itself where nothing bends."""
        self.clock.step = k
        for placed in self.bends:
            if k in placed.steps:
                x = placed.bend(x)
        return x
