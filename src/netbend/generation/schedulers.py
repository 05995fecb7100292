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


# those whose ``set_timesteps`` takes chosen timesteps (a test checks this against diffusers)
TAKE_TIMESTEPS = ("lcm", "ddpm", "euler", "dpmpp")


def make_scheduler(name: str, config: dict, steps: int, device: Any = None, timesteps: list[int] | None = None) -> Any:
    """A diffusers scheduler ``name`` (a key of `SCHEDULERS`) on the model's noise schedule,
    its timesteps set for ``steps`` steps, or to ``timesteps`` (on ``device``); a `NetbendError`
    saying why if it cannot make them."""
    import diffusers

    if name not in SCHEDULERS:
        raise NetbendError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)}")
    if timesteps is not None and name not in TAKE_TIMESTEPS:
        raise NetbendError(f"the {name} sampler cannot take chosen timesteps; use {', '.join(TAKE_TIMESTEPS)}")
    scheduler = getattr(diffusers, SCHEDULERS[name]).from_config(config)
    last = scheduler.config.num_train_timesteps - 1
    if timesteps is not None and any(not 0 <= t <= last for t in timesteps):
        raise NetbendError(f"timesteps must be within 0..{last}, this model's training schedule, got {timesteps}")
    try:
        if timesteps is None:
            scheduler.set_timesteps(steps, device=device)
        else:
            scheduler.set_timesteps(timesteps=list(timesteps), device=device)
    except ValueError as e:
        asked = f"{steps} steps" if timesteps is None else f"the timesteps {','.join(map(str, timesteps))}"
        raise NetbendError(f"scheduler {name} cannot make {asked}: {' '.join(str(e).split())}") from None
    return scheduler
