"""LoRAs fused into a model's UNet (and text encoder): the LCM-LoRA of the paper's JAES pipeline, or any other.

Each LoRA is loaded through diffusers and PEFT (a Hugging Face id, a folder holding
``pytorch_lora_weights.safetensors``, or one ``.safetensors`` file, in the diffusers, PEFT
or Kohya format that diffusers reads), weighted by its scale, fused into the weights and
its layers removed again: a fused model runs at the speed of the plain one. A file that is
not a LoRA, or one whose layers are not the model's, is an error before any frame.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import NetbendError, first_words
from ..settings.generation import parse_lora

WEIGHTS = "pytorch_lora_weights.safetensors"  # a LoRA folder's file, as diffusers saves it


def fuse(parts: dict, specs: list[str], *, model: str) -> list[dict]:
    """Load the LoRAs ``specs`` (``SOURCE[:SCALE]``) into ``parts``' UNet and text encoder and fuse
    them at their scales; what the sidecar records of each (source, scale, layers adapted)."""
    if not specs:
        return []
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline(  # the loader lives on the pipeline; these are the model's own modules
        vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"], unet=parts["unet"],
        scheduler=DDIMScheduler.from_config(parts["scheduler_config"]), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    records, names, scales = [], [], []
    for i, text in enumerate(specs):
        source, scale = parse_lora(text)
        name = f"lora{i}"
        with _diffusers_warnings() as warned, _peft_text_encoder(parts["text_encoder"]):
            try:
                pipe.load_lora_weights(**_location(source), adapter_name=name)
            except NetbendError:
                raise
            except Exception as e:  # format, shape and hub errors all mean "this LoRA cannot be used"
                raise NetbendError(f"cannot load the LoRA {source} into {model}: {first_words(e)}"
                                   + _hint(source)) from e
        unfit = [w for w in warned if "unexpected keys" in w]
        layers = sum(_adapted(m, name) for m in (parts["unet"], parts["text_encoder"]))
        if unfit or not layers:
            reason = first_words(unfit[0], 200) if unfit else "none of its layers is one of the model's"
            raise NetbendError(f"the LoRA {source} does not fit {model}: {reason}")
        records.append({"source": source, "scale": scale, "layers": layers})
        names.append(name)
        scales.append(scale)
    try:
        pipe.set_adapters(names, adapter_weights=scales)
        pipe.fuse_lora(adapter_names=names, lora_scale=1.0)
        pipe.unload_lora_weights()  # the fused weights stay; the LoRA layers go
    except Exception as e:
        raise NetbendError(f"cannot fuse the LoRAs {', '.join(specs)} into {model}: {first_words(e)}") from e
    return records


def _location(source: str) -> dict[str, Any]:
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix != ".safetensors":
            raise NetbendError(f"LoRA file {path} is not a .safetensors file")
        return {"pretrained_model_name_or_path_or_dict": str(path.parent), "weight_name": path.name}
    if path.is_dir():
        files = sorted(f.name for f in path.glob("*.safetensors"))
        if WEIGHTS not in files and len(files) != 1:
            raise NetbendError(f"LoRA folder {path} holds {'no' if not files else 'several'} .safetensors files "
                               f"and no {WEIGHTS}: pass the file itself")
        return {"pretrained_model_name_or_path_or_dict": str(path),
                "weight_name": WEIGHTS if WEIGHTS in files else files[0]}
    from .models import looks_like_path

    parts = source.split("/")
    if len(parts) > 2 and source.endswith(".safetensors") and not source.startswith((".", "/", "~")):
        # ORG/NAME/FILE.safetensors: one file of a hub repository
        return {"pretrained_model_name_or_path_or_dict": "/".join(parts[:2]), "weight_name": "/".join(parts[2:])}
    if looks_like_path(source):
        raise NetbendError(f"LoRA {source} does not exist; a LoRA is a Hugging Face id (ORG/NAME, or "
                           "ORG/NAME/FILE.safetensors), a folder or a .safetensors file")
    return {"pretrained_model_name_or_path_or_dict": source}


def _hint(source: str) -> str:
    if Path(source).expanduser().exists():
        return ""
    return (f" -- download it where there is internet (`hf download {source} --local-dir DIR`) and pass "
            "--lora DIR")


def _adapted(module: Any, name: str) -> int:
    """How many of ``module``'s layers carry the adapter ``name``."""
    return sum(1 for m in module.modules() if name in getattr(m, "lora_A", {}))


@contextmanager
def _peft_text_encoder(text_encoder: Any) -> Iterator[None]:
    """The text encoder's LoRA layers put in by PEFT itself while the block runs, where the
    installed transformers wants a newer PEFT for its own ``load_adapter`` than the registry has
    (transformers 5.24 asks for PEFT 0.22; 0.21.2 is the newest published). Diffusers converts
    the file's keys and makes the LoRA config either way; only the injection differs."""
    from transformers.integrations import peft as transformers_peft
    from transformers.utils.peft_utils import check_peft_version

    try:
        check_peft_version(min_version=getattr(transformers_peft, "MIN_PEFT_VERSION", "0"))
        own_path_works = True
    except ValueError:
        own_path_works = False
    if own_path_works:
        yield
        return

    def load_adapter(*, adapter_name: str, adapter_state_dict: dict, peft_config: Any, **_: Any) -> None:
        from peft import inject_adapter_in_model, set_peft_model_state_dict

        inject_adapter_in_model(peft_config, text_encoder, adapter_name=adapter_name)
        result = set_peft_model_state_dict(text_encoder, adapter_state_dict, adapter_name=adapter_name)
        unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
        if unexpected:  # reported as diffusers reports the UNet's
            logging.getLogger("diffusers").warning("Loading adapter weights from state_dict led to unexpected keys "
                                                   "found in the model: " + ", ".join(unexpected))

    text_encoder.load_adapter = load_adapter
    try:
        yield
    finally:
        del text_encoder.load_adapter


@contextmanager
def _diffusers_warnings() -> Iterator[list[str]]:
    """The warnings diffusers logs in the block, collected instead of printed (diffusers reports
    a LoRA's layers that name no module of the model as a warning only)."""
    logger = logging.getLogger("diffusers")
    caught: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record.getMessage())

    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers, logger.propagate = [Collect(logging.WARNING)], False
    logger.setLevel(logging.WARNING)
    try:
        yield caught
    finally:
        logger.handlers, _, logger.propagate = saved
        logger.setLevel(saved[1])
