"""What a frame is made from: the model, the prompts, the sampler, the size, the seed and the walk."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import positions
from ..errors import NetbendError
from ..generation.prompts import MODES, Keyframe, parse as parse_schedule
from ..positions import Written
from ..generation.schedulers import SCHEDULERS, TAKE_TIMESTEPS
from .declare import Names, at_least, check_fields, finite, resolve_path, seed_range, setting

DEFAULT_MODEL = "CompVis/stable-diffusion-v1-4"  # the paper's checkpoint (DAFx 2024 and JAES 2025 build on SD v1.4)
DEFAULT_STEPS = 50  # the paper's DDIM steps
TRAIN_TIMESTEPS = 1000  # the training schedule's length in the SD 1.x/2.x family
DECODERS = ("vae", "taesd")  # the model's own VAE; the tiny autoencoder (madebyollin/taesd), the paper's JAES decoder
RENOISE = ("fresh", "fixed")


def parse_size(text: str) -> tuple[int, int]:
    """``512x512`` (or ``512``) -> (width, height)."""
    w, _, h = text.lower().partition("x")
    try:
        return int(w), int(h or w)
    except ValueError:
        raise ValueError(f"expected WxH such as 512x512, got {text!r}") from None


class ScheduleText(str):
    """A prompt schedule's text that remembers the file it was read from (an input no output may replace)."""

    path: str

    def __new__(cls, text: str, path: str) -> ScheduleText:
        obj = super().__new__(cls, text)
        obj.path = path
        return obj


def read_schedule(path: str) -> str:
    """The flag ``--prompts FILE`` holds a file; the setting holds its text."""
    try:
        return ScheduleText(Path(path).read_text(), path)
    except OSError as e:
        raise NetbendError(f"cannot read --prompts {path}: {e.strerror}") from None


def model_inputs(model: str, decoder: str, loras: list[str]) -> list[tuple[str, str]]:
    """The model's files and folders on this machine, as (role, path) (see `netbend.paths`)."""
    from ..paths import local_inputs

    out = local_inputs("the model", model) + local_inputs("the decoder", "" if decoder in DECODERS else decoder)
    for text in loras:
        out += local_inputs("a LoRA", parse_lora(text)[0])
    return out


def parse_timesteps(text: str) -> list[int]:
    """``999,679,359,99`` (timesteps) or ``0,16,32,45 of 50`` (indices into the LCM's grid of 50
    steps, whose step i is timestep (50 - i) * 1000 / 50 - 1: the paper's 999, 679, 359, 99)."""
    values, _, grid = text.partition(" of ")
    try:
        numbers = [int(v) for v in values.split(",") if v.strip()]
        n = int(grid) if grid else None
    except ValueError:
        raise ValueError(f"expected timesteps T1,T2,... such as 999,679,359,99, or indices 'I1,I2,... of N' such as "
                         f"'0,16,32,45 of 50', got {text!r}") from None
    if n is None:
        return numbers
    if not 0 < n <= TRAIN_TIMESTEPS or any(not 0 <= i < n for i in numbers):
        raise ValueError(f"indices of a grid of N steps must be within 0..N-1, N at most {TRAIN_TIMESTEPS}, got {text!r}")
    return [(n - i) * (TRAIN_TIMESTEPS // n) - 1 for i in numbers]


def check_timesteps(values: list[int], label: str) -> None:
    if not values:
        raise NetbendError(f"{label} holds no timestep")
    if any(not 0 <= t < TRAIN_TIMESTEPS for t in values) or any(b >= a for a, b in zip(values, values[1:])):
        raise NetbendError(f"{label} must be decreasing timesteps within 0..{TRAIN_TIMESTEPS - 1} (the training "
                           f"schedule's), such as 999,679,359,99, got {','.join(map(str, values))}")


def parse_lora(text: str) -> tuple[str, float]:
    """``SOURCE[:SCALE]`` -> (source, scale); a source without a number after its last colon has scale 1."""
    source, sep, scale = text.rpartition(":")
    if sep:
        try:
            return source, float(scale)
        except ValueError:
            pass
    return text, 1.0


def check_loras(values: list[str], label: str) -> None:
    for text in values:
        source, scale = parse_lora(text)
        if not source:
            raise NetbendError(f"{label} must be ID|FOLDER|FILE[:SCALE], got {text!r}")
        finite(scale, f"{label} {source}: the scale")


def lora_paths(values: list[str], base: Path | None) -> list[str]:
    """Each LoRA's source made absolute from ``base`` where it is a file or folder there (a hub id stays)."""
    out = []
    for text in values:
        source = parse_lora(text)[0]
        path = (base if base is not None else Path.cwd()) / Path(source).expanduser()
        out.append(str(path) + text[len(source):] if path.exists() else text)
    return out


def _derived_steps(timesteps: list[int] | None) -> int:
    return len(timesteps) if timesteps else DEFAULT_STEPS


def _decoder_path(value: str, base: Path | None) -> str:
    """A decoder's folder made absolute from ``base`` where it exists there; vae and taesd are names."""
    return value if value in DECODERS else resolve_path(value, "exists", base)


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


def _parse_cycle(text: str) -> list[str]:
    return [p.strip() for p in text.split("|")]


def _check_cycle(value: list[str], label: str) -> None:
    if not value or any(not isinstance(p, str) or not p.strip() for p in value):
        raise NetbendError(f"{label} must be prompts separated by '|' (a list in a scene), none empty; got {value!r}")


def _check_position(value: Written, label: str) -> None:
    positions.check(value, label)


def _check_length(value: Written, label: str) -> None:
    positions.check(value, label, length=True)


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
    # the cycle reaches the frames as the schedule it is placed into (netbend.jobs.timeline): not in the frames' key
    cycle: list[str] | None = setting(
        None, panel=True, frames=False, parse=_parse_cycle, check=_check_cycle, metavar="'P1 | P2 | ...'",
        help="prompts that take turns on the beat grid, one every --cycle-every from --cycle-from (replaces "
             "--prompt and --prompts)")
    cycle_every: Written = setting("1.0", panel=True, frames=False, parse=positions.written_length, check=positions.check_length,
                                   metavar="LENGTH", help="how long each prompt of --cycle lasts: b2 (two beats), "
                                                          "1.0 (a bar), 2.2 (two bars and two beats) or seconds")
    cycle_from: Written = setting("1.1", panel=True, frames=False, parse=positions.written, check=_check_position,
                                  metavar="POSITION", help="where --cycle begins: 1.1 (bar 1, beat 1), b9, or a time")
    cycle_morph: Written = setting(0.0, panel=True, frames=False, parse=positions.written_length, check=_check_length,
                                   metavar="LENGTH", help="--cycle: interpolate into each prompt over this length, "
                                                          "ending on its beat (0: switch exactly on the beat)")
    interpolation: str = setting("lerp", choices=MODES, panel=True,
                                 help="between scheduled prompts (lerp: linear, as the paper; slerp: spherical)")
    negative_prompt: str = setting("", panel=True, help="negative prompt for classifier-free guidance")
    model: str = setting(DEFAULT_MODEL, panel=True, path="exists",
                         help="Hugging Face id, local diffusers folder, .safetensors/.ckpt file, or a built-in "
                              "offline model: tiny-trained (64x64 scenes it was trained on: orbs, cubes, rings, "
                              "trees, waves, mountains, cranes in the sky, on the sea, at night, in the forest) or "
                              "tiny (random weights, for tests)")
    scheduler: str = setting("ddim", choices=tuple(SCHEDULERS), panel=True,
                             help="sampler (ddim, eta = 0, is the paper's); dpmpp is DPM++ 2M")
    steps: int = setting(None, check=at_least(1), panel=True, derived=lambda g: _derived_steps(g.timesteps),
                         help=f"denoising steps (default: {DEFAULT_STEPS}, or the number of --timesteps)")
    timesteps: list[int] | None = setting(
        None, parse=parse_timesteps, check=check_timesteps, metavar="T1,T2,...", panel=True,
        help="the sampler's timesteps, decreasing, e.g. 999,679,359,99 (the paper's LCM steps), or indices into "
             "the LCM's 50-step grid: '0,16,32,45 of 50'; for the samplers that take them: " + ", ".join(TAKE_TIMESTEPS))
    guidance: float = setting(7.5, check=check_guidance, panel=True,
                              help="classifier-free guidance scale; <= 1 turns it off (one UNet pass per step)")
    size: tuple[int, int] = setting((512, 512), parse=parse_size, metavar="WxH", check=check_size,
                                    help="image size in pixels (width x height), multiples of 8")
    decoder: str = setting(
        "vae", panel=True, path=_decoder_path,
        help="latents to pixels: vae (the model's own), taesd (the tiny autoencoder madebyollin/taesd of the paper's "
             "JAES pipeline; with --model tiny, a tiny one built in code), or a Hugging Face id or local folder of an "
             "AutoencoderTiny or AutoencoderKL")
    loras: list[str] = setting(
        flag="--lora", default_factory=list, check=check_loras, path=lora_paths, panel=True, metavar="ID|FOLDER|FILE[:SCALE]",
        help="a LoRA fused into the UNet (and text encoder, where it has weights for it) at SCALE (default 1), e.g. "
             "latent-consistency/lcm-lora-sdv1-5 (the paper's JAES pipeline)")
    renoise: str = setting(
        "fresh", choices=RENOISE, panel=True,
        help="random draws of stochastic samplers (lcm, euler_a, ddpm) and random operators: fresh for every frame, "
             "or fixed: the same in every frame (the paper's JAES pipeline; steadier video). DDIM draws nothing")
    seed: int = setting(42, check=seed_range, panel=True, help="seed of the initial noise")
    walk: float = setting(0.2, check=finite, panel=True,  # the paper's JAES runs: 0.2
                          help="noise-walk extent over the video, 2 = full circle")
    device: str = setting("auto", frames=_device_kind, check=_check_device,
                          help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")

    def inputs(self) -> list[tuple[str, str]]:
        """The files these settings read, as (role, path): model, decoder, LoRAs, the schedule's file."""
        out = model_inputs(self.model, self.decoder, self.loras)
        if isinstance(self.prompts, ScheduleText):
            out.append(("the prompt schedule", self.prompts.path))
        return out

    def __post_init__(self) -> None:
        if self.steps is None:  # steps and timesteps are one setting given two ways
            object.__setattr__(self, "steps", _derived_steps(self.timesteps))

    def check(self, names: Names = Names()) -> None:
        """Every field's declared check; messages name them by ``names``."""
        check_fields(self, names)
        if self.cycle and self.prompts is not None:
            raise NetbendError(f"{names.key('cycle')} and {names.key('prompts')} both give the prompts over time: "
                               "choose one")
        if self.timesteps is not None:
            if len(self.timesteps) != self.steps:
                raise NetbendError(f"{names.key('steps')} {self.steps} but {names.key('timesteps')} gives "
                                   f"{len(self.timesteps)} timesteps: give one of them")
            if self.scheduler not in TAKE_TIMESTEPS:
                raise NetbendError(f"{names.key('timesteps')}: the {self.scheduler} sampler cannot take chosen "
                                   f"timesteps; use {', '.join(TAKE_TIMESTEPS)}, or leave {names.key('timesteps')} "
                                   "out (null in a scene; it may come from a preset)")

    @property
    def first_prompt(self) -> str:
        """The prompt at time 0 (the schedule's or the cycle's first, or the prompt)."""
        return self.keyframes()[0].prompt

    def keyframes(self) -> list[Keyframe]:
        """The prompts over time as written: the schedule, the cycle's first prompt (its turns are
        placed on the beat grid, `netbend.jobs.timeline`), or the prompt from 0."""
        if self.prompts is not None:
            return parse_schedule(self.prompts)
        return [Keyframe(0.0, self.cycle[0] if self.cycle else self.prompt)]

    @property
    def musical(self) -> bool:
        """Whether its prompts need the song's beat grid."""
        from ..generation.prompts import musical

        return bool(self.cycle) or musical(self.keyframes())
