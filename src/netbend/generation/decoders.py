"""The decoder that turns latents into pixels: the model's own VAE, TAESD, or another autoencoder.

The paper's JAES pipeline decodes with the tiny autoencoder TAESD (`madebyollin/taesd`, a
diffusers `AutoencoderTiny`): about 1 M weights against the SD VAE's 49 M in its decoder, and
the same latent space (it soft-clamps its input with tanh(x / 3) * 3). With ``--model tiny``
``taesd`` is a tiny `AutoencoderTiny` built in code (`netbend.generation.tiny.taesd`);
``--model tiny-trained`` has only its own decoder (none other was trained for its latents).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import NetbendError, first_words
from ..settings.generation import DECODERS

TAESD = "madebyollin/taesd"  # TAESD for SD 1.x and 2.x (one latent space)
KINDS = ("AutoencoderKL", "AutoencoderTiny")


def load_decoder(name: str, *, model: str, dtype: torch.dtype) -> Any | None:
    """The decoder ``name`` for the model ``model``: None for ``vae`` (the model's own), else an
    autoencoder; a `NetbendError` saying how to get it when it cannot be loaded."""
    if name == DECODERS[0]:
        return None
    if name == "taesd" and model == "tiny":
        from . import tiny

        return tiny.taesd()
    if model == "tiny-trained":
        raise NetbendError(f"--model tiny-trained decodes with its own autoencoder only (no {name} was trained for "
                           "its latents); leave out --decoder, or give --decoder vae")
    return _pretrained(TAESD if name == "taesd" else name, dtype)


def _pretrained(source: str, dtype: torch.dtype) -> Any:
    import diffusers

    from .models import looks_like_path

    path = Path(source).expanduser()
    if not path.exists() and looks_like_path(source):
        raise NetbendError(f"decoder path {source} does not exist; --decoder takes vae, taesd, a Hugging Face id or "
                           "a folder holding an autoencoder")
    where = str(path) if path.exists() else source
    hint = (f"download it where there is internet (`hf download {source} --local-dir DIR`) and pass --decoder DIR, "
            "or use --decoder vae (the model's own)")
    try:
        config = diffusers.AutoencoderKL.load_config(where)
    except Exception as e:  # hub, network and file errors all mean "not here"
        raise NetbendError(f"cannot load the decoder {source}: {first_words(e)} -- {hint}") from e
    kind = config.get("_class_name")
    if kind not in KINDS:
        raise NetbendError(f"decoder {source} is a {kind or 'model without a class name'}, not an autoencoder "
                           f"({' or '.join(KINDS)})")
    try:
        return getattr(diffusers, kind).from_pretrained(where, dtype=dtype)
    except Exception as e:
        raise NetbendError(f"cannot load the decoder {source}: {first_words(e)} -- {hint}") from e


def check_fits(decoder: Any, unet: Any, source: str) -> None:
    """A decoder whose latent channels are not the UNet's cannot decode its latents."""
    channels = decoder.config.latent_channels
    if channels != unet.config.out_channels:
        raise NetbendError(f"decoder {source} takes latents of {channels} channels, the model's UNet makes "
                           f"{unet.config.out_channels}")

