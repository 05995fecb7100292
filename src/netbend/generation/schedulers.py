"""The samplers netbend offers, by name (no heavy import: the settings read this table)."""

from __future__ import annotations

from typing import Any

from ..errors import NetbendError

# Samplers of the SD family whose loop makes one model evaluation per step, so that the
# paper's "layer k" (the latent entering step k) means the same for all of them.
SCHEDULERS = {
    "ddim": "DDIMScheduler",  # the paper's, eta = 0
    "ddpm": "DDPMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpmpp": "DPMSolverMultistepScheduler",  # DPM++ 2M
    "unipc": "UniPCMultistepScheduler",
    "lcm": "LCMScheduler",
}


def make_scheduler(name: str, config: dict, steps: int, device: Any = None) -> Any:
    """A diffusers scheduler ``name`` (a key of `SCHEDULERS`) on the model's noise schedule,
    its timesteps set for ``steps`` steps (on ``device``); a `NetbendError` saying why if it
    cannot make them."""
    import diffusers

    if name not in SCHEDULERS:
        raise NetbendError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)}")
    scheduler = getattr(diffusers, SCHEDULERS[name]).from_config(config)
    try:
        scheduler.set_timesteps(steps, device=device)
    except ValueError as e:
        raise NetbendError(f"scheduler {name} cannot make {steps} steps: {' '.join(str(e).split())}") from None
    return scheduler
