"""Stable Diffusion models: where they come from, which device they run on, text in and pixels out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import NetbendError, first_words
from ..settings.generation import DEFAULT_MODEL, Generation

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")


@dataclass
class StableDiffusion:
    """The parts of a Stable Diffusion 1.x/2.x model that netbend drives."""

    unet: Any  # diffusers UNet2DConditionModel
    vae: Any  # the decoder in use: the model's AutoencoderKL, or an AutoencoderTiny (TAESD)
    text_encoder: Any  # transformers CLIPTextModel
    tokenizer: Any  # transformers CLIPTokenizer
    scheduler_config: dict  # the model's noise schedule; samplers are built from it
    source: str  # what the user asked for: "tiny", "tiny-trained", a hub id or a path
    decoder: str = "vae"  # which decoder: vae (the model's own), taesd, a hub id or a path
    loras: list[dict] = field(default_factory=list)  # the LoRAs fused into it: source, scale, layers

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def latent_shape(self, width: int, height: int) -> tuple[int, int, int]:
        """(C, H/8, W/8) for an image of ``width`` x ``height`` pixels."""
        f = self.vae_scale_factor
        return (self.unet.config.in_channels, height // f, width // f)

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """CLIP text embeddings, shape (len(prompts), 77, D), in the model's dtype."""
        ids = self.tokenizer(
            prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
            truncation=True, return_tensors="pt",
        ).input_ids
        return self.text_encoder(ids.to(self.device))[0].to(self.dtype)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents (B, 4, h, w) to RGB images, uint8 array (B, 8h, 8w, 3)."""
        images = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample
        images = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return images.permute(0, 2, 3, 1).cpu().numpy()

    def describe(self) -> dict:
        """What the sidecar records about the model."""
        return {
            "source": self.source,
            "unet_parameters": sum(p.numel() for p in self.unet.parameters()),
            "decoder": {"source": self.decoder, "class": type(self.vae).__name__,
                        "parameters": sum(p.numel() for p in self.vae.decoder.parameters())},
            "loras": self.loras,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "scheduler_config": {k: v for k, v in self.scheduler_config.items() if not k.startswith("_")},
        }


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if name != "auto":
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise NetbendError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
        if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
            raise NetbendError(f"device {name} is not available here ({torch.cuda.device_count()} CUDA devices); try --device auto")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise NetbendError(f"device {name} is not available here; try --device auto")
        if dev.type not in ("cpu", "cuda", "mps"):
            raise NetbendError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def key(generation: Generation) -> tuple:
    """What of a generation decides the model it needs: renders whose keys are equal share one."""
    g = generation
    return g.model, g.device, g.decoder, tuple(g.loras)


def load_for(generation: Generation) -> StableDiffusion:
    """The model ``generation`` names, with its decoder and LoRAs, on its device."""
    g = generation
    return load(g.model, device=g.device, decoder=g.decoder, loras=g.loras)


def load(source: str = DEFAULT_MODEL, *, device: str = "auto", decoder: str = "vae",
         loras: list[str] | tuple[str, ...] = ()) -> StableDiffusion:
    """Load a model: ``"tiny-trained"``, ``"tiny"``, a Hugging Face id, a local diffusers folder, or one
    .safetensors/.ckpt file;
    with the ``decoder`` (`netbend.generation.decoders`) and the ``loras`` fused (`netbend.generation.loras`).

    Runs in float16 on CUDA and float32 elsewhere. Never falls back to other weights: a
    model that cannot be found raises `NetbendError` saying what was tried.
    """
    from . import decoders, loras as lora_io

    dev = pick_device(device)
    dtype = torch.float16 if dev.type == "cuda" else torch.float32
    own = decoders.load_decoder(decoder, model=source, dtype=dtype)  # first: a missing one fails fast
    if source == "tiny":
        from . import tiny

        parts = tiny.build()
    elif source == "tiny-trained":
        from . import trained

        parts = trained.build()
    else:
        parts = _load_pipeline_parts(source, dtype, vae=own)
    if own is not None:
        decoders.check_fits(own, parts["unet"], decoder)
        parts["vae"] = own
    for key in ("unet", "vae", "text_encoder"):
        module = parts[key].to(dev)
        parts[key] = module if module.dtype == dtype else module.to(dtype)
    records = lora_io.fuse(parts, list(loras), model=source)
    return StableDiffusion(**parts, source=source, decoder=decoder, loras=records)


def looks_like_path(source: str) -> bool:
    """Whether ``source`` is meant as a local path (not a Hugging Face id)."""
    return (
        source.startswith((".", "/", "~")) or source.endswith(SINGLE_FILE_SUFFIXES)
        or source.count("/") > 1 or "\\" in source
    )


def _load_pipeline_parts(source: str, dtype: torch.dtype, vae: Any = None) -> dict:
    """The parts of the pipeline at ``source``; ``vae``: a decoder to use instead of its own (not loaded then)."""
    from diffusers import StableDiffusionPipeline

    path = Path(source).expanduser()
    how = ("--model takes a Hugging Face id, a local diffusers folder or a .safetensors/.ckpt file; --model tiny-trained "
           "(or tiny) runs offline")
    if path.is_file():
        if path.suffix not in SINGLE_FILE_SUFFIXES:
            raise NetbendError(f"model file {path} is not a .safetensors or .ckpt file; {how}")
        load, what = StableDiffusionPipeline.from_single_file, f"single-file checkpoint {path}"
    elif path.is_dir():
        load, what = StableDiffusionPipeline.from_pretrained, f"diffusers folder {path}"
    elif looks_like_path(source):
        raise NetbendError(f"model path {source} does not exist; {how}")
    else:
        load, what = StableDiffusionPipeline.from_pretrained, f"Hugging Face model {source!r} (hub or local cache)"
    try:
        own = {} if vae is None else {"vae": vae}
        pipe = load(str(path) if path.exists() else source, dtype=dtype, safety_checker=None,
                    requires_safety_checker=False, **own)
    except Exception as e:  # hub, file-format and config errors all mean "this model cannot be used"
        reason = first_words(e)
        hint = ("download it where there is internet (`hf download ID --local-dir DIR`) and pass the folder,"
                " or use --model tiny-trained to try netbend offline")
        raise NetbendError(f"cannot load {what}: {reason} -- {hint}") from e
    return {
        "unet": pipe.unet, "vae": pipe.vae, "text_encoder": pipe.text_encoder, "tokenizer": pipe.tokenizer,
        "scheduler_config": dict(pipe.scheduler.config),
    }
