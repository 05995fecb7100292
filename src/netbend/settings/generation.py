"""What a frame is made from: the model, the prompts, the sampler, the size, the seed and the walk."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import NetbendError
from ..generation.prompts import MODES, parse as parse_schedule
from ..generation.schedulers import SCHEDULERS
from .declare import Names, at_least, check_fields, finite, seed_range, setting

DEFAULT_MODEL = "CompVis/stable-diffusion-v1-4"  # the paper's checkpoint (DAFx 2024 and JAES 2025 build on SD v1.4)


def parse_size(text: str) -> tuple[int, int]:
    """``512x512`` (or ``512``) -> (width, height)."""
    w, _, h = text.lower().partition("x")
    try:
        return int(w), int(h or w)
    except ValueError:
        raise ValueError(f"expected WxH such as 512x512, got {text!r}") from None


def read_schedule(path: str) -> str:
    """The flag ``--prompts FILE`` holds a file; the setting holds its text."""
    from pathlib import Path

    try:
        return Path(path).read_text()
    except OSError as e:
        raise NetbendError(f"cannot read --prompts {path}: {e.strerror}") from None


def check_size(size: tuple[int, int], label: str = "--size") -> None:
    w, h = size
    if w <= 0 or h <= 0 or w % 8 or h % 8:
        raise NetbendError(f"{label} must be positive multiples of 8, got {w}x{h}")


def check_guidance(value: float, label: str) -> None:
    finite(value, label)
    if value < 0:
        raise NetbendError(f"{label} must be a non-negative number, got {value}")


def _check_schedule(text: str, label: str) -> None:
    parse_schedule(text)  # its errors name the line


def _device_kind(name: str) -> str:
    from ..generation.models import pick_device

    return pick_device(name).type  # cpu float32 and cuda float16 give different pixels


def _check_device(name: str, label: str) -> None:
    # the name only: a scene for a GPU may be written on a laptop; whether the device is there
    # is known where the model loads (`netbend.generation.models.pick_device`)
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        raise NetbendError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")


@dataclass(frozen=True)
class Generation:
    """How every frame is generated. Two renders with equal generations (and bends) give equal frames."""

    prompt: str = setting("a floating orb", panel=True, help="text prompt")  # the paper's figure prompt
    prompts: str | None = setting(
        None, panel=True, metavar="FILE", parse=read_schedule, check=_check_schedule,
        help="prompt schedule: lines 'M:SS : prompt', embeddings interpolated between them (replaces --prompt); "
             "in a scene, the schedule's text")
    interpolation: str = setting("lerp", choices=MODES, panel=True,
                                 help="between scheduled prompts (lerp: linear, as the paper; slerp: spherical)")
    negative_prompt: str = setting("", panel=True, help="negative prompt for classifier-free guidance")
    model: str = setting(DEFAULT_MODEL, panel=True, path="exists",
                         help="Hugging Face id, local diffusers folder, .safetensors/.ckpt file, or 'tiny' "
                              "(built-in offline test model)")
    scheduler: str = setting("ddim", choices=tuple(SCHEDULERS), panel=True,
                             help="sampler (ddim, eta = 0, is the paper's); dpmpp is DPM++ 2M")
    steps: int = setting(50, check=at_least(1), panel=True, help="denoising steps")  # the paper: DDIM, 50 steps
    guidance: float = setting(7.5, check=check_guidance, panel=True,
                              help="classifier-free guidance scale; <= 1 turns it off (one UNet pass per step)")
    size: tuple[int, int] = setting((512, 512), parse=parse_size, metavar="WxH", check=check_size,
                                    help="image size in pixels (width x height), multiples of 8")
    seed: int = setting(42, check=seed_range, panel=True, help="seed of the initial noise")
    walk: float = setting(0.2, check=finite, panel=True,  # the paper's JAES runs: 0.2
                          help="noise-walk extent over the video, 2 = full circle")
    device: str = setting("auto", frames=_device_kind, check=_check_device,
                          help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")

    def check(self, names: Names = Names()) -> None:
        """Every field's declared check; messages name them by ``names``."""
        check_fields(self, names)

    @property
    def first_prompt(self) -> str:
        """The prompt at time 0 (the schedule's first, or the prompt)."""
        return parse_schedule(self.prompts)[0].prompt if self.prompts is not None else self.prompt
