"""The one object that makes frames.

`Pipeline` holds what a model and a `netbend.settings.Generation` make of each frame: the
sampler, the prompt embeddings, the coherent noise walk, the per-frame random streams, the
denoiser (guided, or a single pass when guidance <= 1) and the decoder. Rendering a video,
a figure grid and the channel calibration all make their frames here::

    pipe = Pipeline(model, generation, n_frames=n, fps=20)
    images = pipe.frames(torch.arange(8), bends)       # uint8 (8, H, W, 3)

A frame depends on its index alone: any subset of frames, in any batches, comes out the
same (up to float rounding between batch sizes). Partial runs give a `Trajectory`, a batch
part-way through sampling, which can be continued, or branched into copies that continue
differently (the figure grid's cells share the unbent steps before their layer).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import torch

from . import sites
from .bending import LATENT, Clock, LatentBends, PlacedBend
from .noise import NoiseWalk
from ..errors import NetbendError
from .prompts import PromptSchedule
from .sampling import Denoiser, guided_denoiser, sample
from .schedulers import make_scheduler

if TYPE_CHECKING:
    from ..settings import Generation
    from .models import StableDiffusion

SAMPLER_STREAM = 0  # random stream of the sampler; stream 1 + i is bend i's


def frame_generators(seed: int, frames: torch.Tensor, stream: int) -> list[torch.Generator]:
    """One CPU generator per frame of ``frames`` (B,) for one use (``stream``), so that random
    draws give the same frame at any batch size and one use's draws do not shift another's."""
    states = [np.random.SeedSequence([seed, int(i), stream]).generate_state(1)[0] for i in frames]
    return [torch.Generator().manual_seed(int(st)) for st in states]


def sampler_record(model: StableDiffusion, generation: Generation) -> dict:
    """What the sidecar records of the sampler a generation runs: its name, timesteps and re-noise."""
    g = generation
    scheduler = make_scheduler(g.scheduler, model.scheduler_config, g.steps, timesteps=g.timesteps)
    return {"scheduler": g.scheduler, "class": type(scheduler).__name__,
            "timesteps": [int(t) for t in scheduler.timesteps.tolist()], "renoise": g.renoise,
            "unet_passes_per_step": 1 if g.guidance <= 1 else 2}


@dataclass
class Trajectory:
    """A batch of frames part-way through sampling."""

    frames: torch.Tensor  # (B,) frame indices
    x: torch.Tensor  # (B, 4, h, w) the latent entering step ``step``, at the sampler's scale
    step: int  # the next step to run; S (the number of steps) when all have run
    scheduler: Any  # this batch's own sampler, in the state its steps so far left it
    generators: list[torch.Generator]  # the sampler's random stream of each frame

    def branch(self, n: int) -> Trajectory:
        """``n`` copies of this one-frame trajectory that continue independently: the latent,
        the sampler's state (a multistep sampler's history) and the random state are copied."""
        if len(self.frames) != 1:
            raise ValueError(f"only a one-frame trajectory branches, this one has {len(self.frames)}")
        state = self.generators[0].get_state()
        generators = [torch.Generator() for _ in range(n)]
        for g in generators:
            g.set_state(state)
        return Trajectory(self.frames.expand(n).clone(), self.x.expand(n, -1, -1, -1).clone(), self.step,
                          copy.deepcopy(self.scheduler), generators)


class Pipeline:
    """Frames of one `Generation` with one model; see the module's docstring.

    n_frames : the video's length N, over which the noise walk spreads
    fps : frames per second, to place each frame in the prompt schedule
    on_evaluation : called with the batch size of every UNet evaluation (progress, counts)
    """

    def __init__(self, model: StableDiffusion, generation: Generation, *, n_frames: int = 1, fps: float = 1.0,
                 on_evaluation: Callable[[int], None] | None = None):
        g = generation
        self.model, self.generation, self.fps = model, g, fps
        # the one place the sampler is made and its steps set; each batch starts from a copy of it
        self.scheduler = make_scheduler(g.scheduler, model.scheduler_config, g.steps, device=model.device,
                                        timesteps=g.timesteps)
        if g.cycle:
            raise NetbendError("a --cycle of prompts must be placed on the song's beats first (netbend.jobs.timeline)")
        keyframes = g.keyframes()
        self.prompts = PromptSchedule(keyframes, model.encode_text, g.interpolation)  # each prompt encoded once
        self.uncond = model.encode_text([g.negative_prompt]) if g.guidance > 1 else None  # (1, 77, D)
        self.walk = NoiseWalk(model.latent_shape(*g.size), n_frames=n_frames, seed=g.seed, walk=g.walk)
        self.on_evaluation = on_evaluation
        self.evaluations = 0  # latents through the UNet so far (a guided pass counts once)

    def streams(self, frames: torch.Tensor, stream: int) -> list[torch.Generator]:
        """The random stream ``stream`` of each frame of ``frames`` (B,) (`frame_generators`); with
        ``renoise="fixed"`` every frame gets frame 0's: the same draws in every frame."""
        if self.generation.renoise == "fixed":
            frames = torch.zeros_like(frames)
        return frame_generators(self.generation.seed, frames, stream)

    def start(self, frames: torch.Tensor, noise: torch.Tensor | None = None) -> Trajectory:
        """Frames (B,) at step 0: their noise-walk noise (or ``noise``, (B, 4, h, w)), a fresh sampler."""
        scheduler = copy.deepcopy(self.scheduler)  # never stepped: no multistep history yet
        x = self.walk(frames) if noise is None else noise
        x = x.to(self.model.device, self.model.dtype) * scheduler.init_noise_sigma  # (B, 4, h, w)
        return Trajectory(frames, x, 0, scheduler, self.streams(frames, SAMPLER_STREAM))

    def denoise(self, traj: Trajectory, bends: Sequence[PlacedBend] = (), *, stop: int | None = None) -> Trajectory:
        """Run ``traj``'s steps up to ``stop`` (default: all, then the final latent's bends), in place."""
        with self._bent(bends) as callback:
            return self._run(traj, callback, stop)

    def decode(self, latents: torch.Tensor, bends: Sequence[PlacedBend] = ()) -> np.ndarray:
        """Final latents (B, 4, h, w) to uint8 images (B, H, W, 3), decoder bends in place."""
        with self._bent(bends):
            return self.model.decode(latents)

    def finish(self, traj: Trajectory, bends: Sequence[PlacedBend] = ()) -> np.ndarray:
        """The images of ``traj``: its remaining steps and the decoder, every bend in place."""
        with self._bent(bends) as callback:
            return self.model.decode(self._run(traj, callback, None).x)

    def frames(self, indices: torch.Tensor, bends: Sequence[PlacedBend] = ()) -> np.ndarray:
        """The images of the frames ``indices`` (B,), uint8 (B, H, W, 3), with ``bends`` placed for this batch."""
        return self.finish(self.start(indices), bends)

    @contextmanager
    def _bent(self, bends: Sequence[PlacedBend]) -> Iterator[LatentBends | None]:
        """Module bends hooked in for the block; the latent bends as the step callback (None: no bend)."""
        clock = Clock()
        with sites.hooked(self.model, [b for b in bends if b.site != LATENT], clock):
            yield LatentBends([b for b in bends if b.site == LATENT], clock) if bends else None

    def _run(self, traj: Trajectory, callback: LatentBends | None, stop: int | None) -> Trajectory:
        stop = len(traj.scheduler.timesteps) if stop is None else stop
        traj.x = sample(self._denoiser(traj.frames), traj.scheduler, traj.x, callback=callback,
                        generator=traj.generators, start=traj.step, stop=stop)
        traj.step = stop
        return traj

    def _denoiser(self, frames: torch.Tensor) -> Denoiser:
        cond = self.prompts.embeddings(frames.numpy() / self.fps)  # (B, 77, D)
        uncond = None if self.uncond is None else self.uncond.expand(len(frames), -1, -1)
        guided = guided_denoiser(self.model.unet, cond, uncond, self.generation.guidance)

        def counted(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # x: (B, 4, h, w)
            self.evaluations += x.shape[0]
            if self.on_evaluation is not None:
                self.on_evaluation(x.shape[0])
            return guided(x, t)

        return counted
