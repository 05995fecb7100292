"""The denoising loop, with one explicit place where a bend acts on the latent."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_in, t) -> model output
StepCallback = Callable[[int, torch.Tensor], torch.Tensor]  # (step k, latent) -> latent


def guided_denoiser(unet: torch.nn.Module, cond: torch.Tensor, uncond: torch.Tensor | None,
                    guidance: float) -> Denoiser:
    """The UNet with classifier-free guidance: ``e_u + guidance * (e_c - e_u)``, or a single
    pass on ``cond`` alone when ``uncond`` is None.

    cond, uncond : (B, 77, D) text embeddings
    """

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # x: (B, 4, h, w)
        if uncond is None:
            return unet(x, t, encoder_hidden_states=cond).sample
        e_u, e_c = unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample.chunk(2)
        return e_u + guidance * (e_c - e_u)

    return denoise


@torch.no_grad()
def sample(
    denoise: Denoiser,
    scheduler: Any,
    x: torch.Tensor,
    *,
    callback: StepCallback | None = None,
    generator: list[torch.Generator] | None = None,
    start: int = 0,
    stop: int | None = None,
) -> torch.Tensor:
    """Run ``scheduler``'s loop (after its ``set_timesteps``) from the latent ``x``.

    ``callback(k, x)`` may replace the latent entering step ``k`` for ``k = 0 .. S-1``,
    and is called once more with ``k = S`` on the final latent, before decoding; it
    returns ``x`` itself where it bends nothing. Nothing
    here knows a scheduler's internals: any diffusers scheduler of the SD family works.

    The callback sees the latent at the scale the model sees it (after the scheduler's
    ``scale_model_input``), so that a bend acts on a unit-variance latent with every
    sampler, as with the paper's DDIM; where that scale is 1 (DDIM, DPM++, UniPC, ...)
    the latent is passed as it is. Multistep samplers (dpmpp, unipc) keep earlier model
    outputs: a bend between steps then also meets that history, and acts somewhat
    differently than with DDIM.

    x : (B, 4, h, w), already scaled by ``scheduler.init_noise_sigma``
    generator : one per sample, for stochastic schedulers
    start, stop : run steps ``start .. stop-1`` only. ``stop < S`` returns the latent
        entering step ``stop`` (without calling the callback there), so that a run can be
        continued from it with ``start=stop`` and the scheduler (or a deep copy of it)
        left in the state the first run left it in.
    """
    takes_generator = "generator" in inspect.signature(scheduler.step).parameters
    extra = {"generator": generator} if takes_generator and generator is not None else {}
    n_steps = len(scheduler.timesteps)
    stop = n_steps if stop is None else stop
    if not 0 <= start <= stop <= n_steps:
        raise ValueError(f"steps {start}:{stop} are not within the scheduler's {n_steps}")
    for k in range(start, stop):
        t = scheduler.timesteps[k]
        if callback is not None:
            # the input scale, read on the CPU (diffusers keeps sigmas there): no device sync per step
            c = float(scheduler.scale_model_input(torch.ones(1), t))
            if c == 1.0:
                x = callback(k, x)
            else:
                scaled = x * c
                bent = callback(k, scaled)
                x = x if bent is scaled else bent / c  # a callback that returns its input bent nothing
        x_in = scheduler.scale_model_input(x, t)
        x = scheduler.step(denoise(x_in, t), t, x, **extra).prev_sample
    if callback is not None and stop == n_steps:
        x = callback(n_steps, x)
    return x
