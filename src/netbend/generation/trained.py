"""``--model tiny-trained``: a small text-to-image latent diffusion model trained by netbend itself.

The Stable Diffusion family's classes at a small size -- a UNet2DConditionModel, an
AutoencoderKL with SD's factor-8 latent of 4 channels, a CLIP text encoder over a word-level
vocabulary -- trained from scratch on 64x64 pictures of simple scenes captioned from the
parameters that drew them (an orb, a cube, a ring, a tree, a wave, a mountain or a crane, of
one of eight colours, in the sky, on the sea, at night or in the forest: `training/scenes.py`).
Unlike ``tiny`` (random weights, for the fastest tests) it draws what the prompt says, and a
bend changes a picture one can name. `training/train_tiny.py` made the weights shipped in
``weights/tiny-trained.safetensors`` (float16); `training/README.md` says how, on what
machine, in how long.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import NetbendError
from .tiny import SCHEDULER_CONFIG  # Stable Diffusion 1.x's training noise schedule, as tiny's

NAME = "tiny-trained"
WEIGHTS = Path(__file__).with_name("weights") / f"{NAME}.safetensors"
SIZE = 64  # the pictures it was trained on, pixels
SPECIALS = ("<pad>", "<unk>", "<start>", "<end>")

# Each part's constructor arguments: the architecture lives here, the trained numbers in WEIGHTS.
# Sized so the shipped file stays under 5 MiB: UNet 1.5 M weights, decoder 0.7 M, text encoder 0.2 M.
UNET = dict(sample_size=SIZE // 8, in_channels=4, out_channels=4, block_out_channels=(32, 64, 64),
            layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=96,
            attention_head_dim=16, norm_num_groups=8)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
           block_out_channels=(32, 48, 64, 64), down_block_types=("DownEncoderBlock2D",) * 4,
           up_block_types=("UpDecoderBlock2D",) * 4, sample_size=SIZE)
TEXT = dict(hidden_size=96, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=77)
SHIPPED_VAE = ("decoder.", "post_quant_conv.")  # netbend only decodes: the encoder stays with the training run


def size_note(model: str, size: tuple[int, int]) -> str | None:
    """A line for a render of this model at another size than it knows, else None."""
    if model != NAME or tuple(size) == (SIZE, SIZE):
        return None
    return (f"--model {NAME} was trained on {SIZE}x{SIZE} pictures: at {size[0]}x{size[1]} it repeats its scene "
            f"across the frame, and a CPU takes far longer; give --size {SIZE}x{SIZE}")


def tokenizer(words: list[str]):
    """A CLIP-style tokenizer over ``words`` (one token each, lower-cased, split on spaces and
    punctuation; an unknown word is ``<unk>``): a start token, the words, an end token, padded
    with end tokens to 77, as CLIP's."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate([*SPECIALS, *sorted(set(words))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    # lower case, punctuation as spaces: "A red orb, in the sky." is the words the model knows
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(Regex(r"[^a-z0-9\s]"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<start> $A <end>", special_tokens=[("<start>", vocab["<start>"]), ("<end>", vocab["<end>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<start>", eos_token="<end>", pad_token="<end>",
                                   unk_token="<unk>", model_max_length=77)


def architecture(words: list[str], *, seed: int = 0) -> dict[str, Any]:
    """The parts with fresh weights drawn from ``seed``: what training starts from."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tok = tokenizer(words)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                                                    eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                                    **TEXT))
        unet = UNet2DConditionModel(**UNET)
        vae = AutoencoderKL(**VAE)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tok,
            "scheduler_config": dict(SCHEDULER_CONFIG)}


def save(parts: dict[str, Any], path: str | Path, *, words: list[str], info: dict) -> Path:
    """The parts' weights in one safetensors file (float16), with the vocabulary, the latent
    scale and ``info`` (how they were trained) in its metadata."""
    from safetensors.torch import save_file

    tensors = {f"{name}.{k}": v.detach().to(torch.float16).cpu().contiguous()
               for name in ("unet", "vae", "text_encoder") for k, v in parts[name].state_dict().items()
               if name != "vae" or k.startswith(SHIPPED_VAE)}
    meta = {"words": json.dumps(sorted(set(words))), "scaling_factor": str(parts["vae"].config.scaling_factor),
            "info": json.dumps(info)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    return Path(path)


def build(path: str | Path | None = None) -> dict[str, Any]:
    """The trained parts (float32, on the CPU) from ``path`` (default: the shipped `WEIGHTS`)."""
    path = Path(WEIGHTS if path is None else path)
    if not path.is_file():
        raise NetbendError(f"the weights of --model {NAME} are missing ({path}); reinstall netbend, or make them "
                           "with python training/train_tiny.py")
    try:
        return _read(path)
    except NetbendError:
        raise
    except Exception as e:  # a truncated file, a Git LFS pointer, weights of another architecture
        raise NetbendError(f"the weights of --model {NAME} ({path}) are damaged or from another version "
                           f"({type(e).__name__}); reinstall netbend") from e


def _read(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    parts = architecture(json.loads(meta["words"]))
    for name in ("unet", "vae", "text_encoder"):
        own = {k[len(name) + 1:]: v.float() for k, v in tensors.items() if k.startswith(name + ".")}
        missing, unexpected = parts[name].load_state_dict(own, strict=False)
        if unexpected or any(name != "vae" or k.startswith(SHIPPED_VAE) for k in missing):
            raise NetbendError(f"the weights of --model {NAME} ({path}) do not fit its {name}: missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]}; reinstall netbend")
        parts[name].eval()
    parts["vae"].register_to_config(scaling_factor=float(meta["scaling_factor"]))
    return parts


def info(path: str | Path | None = None) -> dict:
    """How the shipped weights were trained (their metadata)."""
    from safetensors import safe_open

    with safe_open(str(WEIGHTS if path is None else path), framework="pt") as f:
        return json.loads(f.metadata()["info"])
