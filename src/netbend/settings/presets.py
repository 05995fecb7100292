"""Presets: named scene fragments for the paper's two pipelines and for SD-Turbo.

A preset fills settings; a scene's keys and the flags given then override it, in that order
(``netbend render song.wav -o out.mp4 --preset jaes --steps 8``: the JAES pipeline with 8
LCM steps). A scene may name one with the key ``preset``. ``--dump-scene`` writes the
settings a preset filled in, so a scene made from one no longer needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import NetbendError
from .declare import flat_fields, setting
from .generation import DEFAULT_MODEL

LCM_LORA = "latent-consistency/lcm-lora-sdv1-5"  # the LCM-LoRA of the paper's JAES pipeline
# one setting given two ways: a layer (preset < scene < flags; a panel over its video) that sets either replaces both
LINKED = (("steps", "timesteps"), ("prompts", "cycle"))


@dataclass(frozen=True)
class Preset:
    summary: str
    settings: dict[str, Any]  # flat scene keys


PRESETS = {
    "dafx": Preset(
        "the DAFx 2024 paper: SD 1.4, DDIM with 50 steps (eta 0), classifier-free guidance 7.5, the full VAE",
        {"model": DEFAULT_MODEL, "scheduler": "ddim", "steps": 50, "timesteps": None, "guidance": 7.5,
         "decoder": "vae", "loras": [], "renoise": "fresh", "fps": 20.0}),
    "jaes": Preset(
        "the JAES 2025 paper's StreamDiffusion pipeline: SD 1.4 with the LCM-LoRA fused, 4 LCM steps at the timesteps "
        "999, 679, 359, 99 (indices 0, 16, 32, 45 of 50), one UNet pass per step (no guidance), the same re-noise in "
        "every frame, the tiny decoder TAESD, a slow noise walk; bends default to the final (predicted clean) latent",
        {"model": DEFAULT_MODEL, "loras": [LCM_LORA], "scheduler": "lcm", "steps": 4, "timesteps": [999, 679, 359, 99],
         "guidance": 1.0, "decoder": "taesd", "renoise": "fixed", "walk": 0.2, "fps": 20.0}),
    "turbo": Preset(
        "SD-Turbo (an SD 2.1 distilled to one step): one step at timestep 999, no guidance, the tiny decoder TAESD",
        {"model": "stabilityai/sd-turbo", "loras": [], "scheduler": "euler", "steps": 1, "timesteps": [999],
         "guidance": 0.0, "decoder": "taesd", "renoise": "fixed"}),
}


@dataclass(frozen=True)
class PresetChoice:
    """The ``--preset`` of the commands that make frames (and a scene's ``preset`` key)."""

    preset: str | None = setting(None, choices=tuple(PRESETS), scene=False,
                                 help="fill settings from a preset, which the flags (and a scene's keys) then "
                                      "override: " + "; ".join(f"{n}: {p.summary.split(':')[0]}"
                                                                for n, p in PRESETS.items())
                                      + " (`netbend presets` lists their values)")


def layered(*layers: dict[str, Any]) -> dict[str, Any]:
    """Flat settings, each layer over the ones before; a layer that sets ``steps`` or ``timesteps``
    replaces both (a scene's ``steps: 8`` over a preset's four timesteps means 8 steps)."""
    out: dict[str, Any] = {}
    for layer in layers:
        for group in LINKED:
            if any(k in layer for k in group):
                for k in group:
                    out.pop(k, None)
        out.update(layer)
    return out


def expand(name: str | None, data: dict[str, Any], target: type, *, base: dict[str, Any] | None = None,
           skip: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[str]]:
    """``data`` over the preset ``name``'s settings (those that are keys of ``target``'s settings,
    less ``skip``) over ``base``; and a line for each thing the preset left out. With the tiny model a preset
    keeps its sampler and decoder (a tiny TAESD is built in code) but leaves out its LoRAs,
    which fit real UNets only."""
    base = base or {}
    if name is None:
        return layered(base, data), []
    if name not in PRESETS:
        raise NetbendError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    keys = {f.name for _, f in flat_fields(target)} - set(skip)
    values = {k: v for k, v in PRESETS[name].settings.items() if k in keys}
    notes = []
    model = {**base, **values, **data}.get("model")
    if model in ("tiny", "tiny-trained") and values.get("loras") and "loras" not in data:
        notes.append(f"preset {name} with the {model} model: left out the LoRA {', '.join(values['loras'])}, which "
                     "fits SD 1.x UNets only")
        values["loras"] = []
    if model == "tiny-trained" and values.get("decoder", "vae") != "vae" and "decoder" not in data:
        notes.append(f"preset {name} with the tiny-trained model: decoding with its own autoencoder, not "
                     f"{values['decoder']} (none was trained for its latents)")
        values["decoder"] = "vae"
    return layered(base, values, data), notes


def describe(name: str | None = None) -> str:
    """The presets (or one) with their values, as ``netbend presets`` prints them."""
    import yaml

    if name is not None and name not in PRESETS:
        raise NetbendError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    blocks = []
    for n, p in PRESETS.items():
        if name in (None, n):
            values = yaml.safe_dump(p.settings, sort_keys=False, default_flow_style=None).rstrip()
            blocks.append(f"{n}: {p.summary}\n" + "\n".join("  " + line for line in values.splitlines()))
    return "\n\n".join(blocks) + ("\n\nUse one with --preset NAME (or `preset: NAME` in a scene); flags and scene keys "
                                  "override its values. With --model tiny a preset leaves out its LoRAs.")
