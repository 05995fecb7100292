"""Bending sites: where in the generation an operator acts, and what it does to a batch there.

A bend acts on the latent before chosen denoising steps (`LatentBend`, the paper's), or on
the output of a UNet or VAE-decoder module while chosen steps run (`LayerBend`, installed
as a forward hook by `netbend.sites.hooked`). Both apply a `Bending` to a batch of frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .operators import Chain


@dataclass
class Bending:
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
class LatentBend:
    """The paper's bend: acts on the latent that enters denoising step k, for k in ``steps``.

    Step 0 is the initial noise and step S the final latent before decoding.
    """

    bending: Bending
    steps: range  # loop indices before which the latent is bent

    def __call__(self, k: int, x: torch.Tensor) -> torch.Tensor:
        return self.bending(x) if k in self.steps else x


@dataclass
class LayerBend:
    """A bend of a module's output: ``site`` names the module (``unet.mid_block``,
    ``vae.decoder.up_blocks.2``, ...); it acts while the steps in ``steps`` run (None:
    whenever the module runs, as for VAE sites, which run at decode time)."""

    bending: Bending
    site: str
    steps: range | None = None


@dataclass
class Clock:
    """The denoising step now running, for layer bends that act in some steps only."""

    step: int | None = None


@dataclass
class Bends:
    """Latent bends as one step callback of `netbend.sampling.sample`, applied in order;
    it also tells ``clock`` (shared with the layer bends' hooks) which step runs next."""

    sites: list[LatentBend]
    clock: Clock | None = None

    def __call__(self, k: int, x: torch.Tensor) -> torch.Tensor:
        if self.clock is not None:
            self.clock.step = k
        for site in self.sites:
            x = site(k, x)
        return x
