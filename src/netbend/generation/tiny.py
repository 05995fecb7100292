"""A tiny Stable-Diffusion-architecture model, built in code and offline.

Same classes as SD 1.x (UNet2DConditionModel, AutoencoderKL with a factor-8 latent of 4
channels, CLIP text encoder and tokenizer, the SD noise schedule), a few hundred
thousand weights drawn from a fixed seed on the CPU, so it is identical on every machine.
Its weights are random: images are abstract textures, not pictures of the prompt. It
exists to run and test the whole pipeline where real weights cannot be downloaded.
`taesd` is the tiny counterpart of the tiny autoencoder (TAESD) of the paper's JAES pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from diffusers import AutoencoderTiny
    from transformers import CLIPTokenizer

SEED = 0  # the tiny model's weights come from this seed and nothing else


def _byte_chars() -> list[str]:
    """The 256 printable characters that CLIP's byte-level BPE uses for the bytes 0..255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return [chr(c) for c in printable] + [chr(256 + n) for n in range(len(others))]


def tokenizer() -> "CLIPTokenizer":
    """A CLIP tokenizer with a character-level vocabulary (every byte, alone or word-final; no merges)."""
    from transformers import CLIPTokenizer

    chars = _byte_chars()
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=77)


SCHEDULER_CONFIG = {  # Stable Diffusion 1.x's training noise schedule
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "prediction_type": "epsilon",
}


def _zero_residual_branches(decoder, last: tuple[str, ...] = ("conv2", "to_out.0")) -> None:
    """Zero the last layer of every residual branch (resnet conv2, attention output; ``last``).

    The blocks then start as identities, the usual "zero-init residual" scheme; the
    random decoder shows the latent's structure as coloured blobs instead of per-pixel
    noise, so a bend is something one can see in the demo.
    """
    with torch.no_grad():
        for name, module in decoder.named_modules():
            if name.endswith(last):
                module.weight.zero_()
                module.bias.zero_()


def build() -> dict:
    """The tiny model's components: unet, vae, text_encoder, tokenizer, scheduler_config."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tok = tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=77,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        ))
        unet = UNet2DConditionModel(
            sample_size=64, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
            # attention only at the lower resolution keeps a 64x64 latent fast on a CPU
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8,
        )
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
            block_out_channels=(8, 16, 32, 32),  # four blocks: the SD factor-8 latent
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            sample_size=512,
        )
        _zero_residual_branches(vae.decoder)
    return {
        "unet": unet.eval(), "vae": vae.eval(), "text_encoder": text_encoder.eval(),
        "tokenizer": tok, "scheduler_config": dict(SCHEDULER_CONFIG),
    }


def taesd() -> "AutoencoderTiny":
    """A tiny `AutoencoderTiny` (TAESD's architecture: a factor-8 latent of 4 channels, plain
    convolution blocks, the tanh soft clamp of its input), seeded like the rest of the tiny model."""
    from diffusers import AutoencoderTiny

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED + 1)
        decoder = AutoencoderTiny(encoder_block_out_channels=(16,) * 4, decoder_block_out_channels=(16,) * 4,
                                  num_encoder_blocks=(1,) * 4, num_decoder_blocks=(1,) * 4, latent_channels=4)
        _zero_residual_branches(decoder.decoder, last=("conv.4",))  # each block's last convolution
        _keep_contrast(decoder.decoder.layers, torch.randn(1, 4, 32, 32))
    return decoder.eval()


@torch.no_grad()
def _keep_contrast(layers: torch.nn.Sequential, latent: torch.Tensor) -> None:
    """Scale each convolution so that a unit-variance latent keeps unit variance through the
    layers (random ones shrink it about tenfold), and the last so that the image is mid-grey
    with a standard deviation of a quarter of its range, as a decoder's image is."""
    x = torch.tanh(latent / 3) * 3  # what the decoder does first
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, torch.nn.Conv2d)]
    for i, layer in enumerate(layers):
        y = layer(x)
        if i in convs:
            gain = (0.25 if i == convs[-1] else 1.0) / y.std()
            layer.weight.mul_(gain)
            if layer.bias is not None:
                layer.bias.mul_(gain).add_(0.5 - y.mean() * gain if i == convs[-1] else 0.0)
            y = layer(x)
        x = y


def save_lora(folder: str | Path, *, seed: int = 1, rank: int = 4, text_encoder: bool = True) -> Path:
    """Save a random LoRA for the tiny model's UNet (attention projections) and, with
    ``text_encoder``, its text encoder, in the diffusers format (``pytorch_lora_weights.safetensors``
    in ``folder``, as diffusers' training scripts save one); for trying ``--lora`` offline."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    parts = build()
    layers = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # init_lora_weights=False: both factors random (the usual init zeroes one, a LoRA that changes nothing)
        parts["unet"].add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                             target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
        layers["unet_lora_layers"] = convert_state_dict_to_diffusers(get_peft_model_state_dict(parts["unet"]))
        if text_encoder:
            from peft import inject_adapter_in_model

            te = inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                                    target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]),
                                         parts["text_encoder"])
            layers["text_encoder_lora_layers"] = convert_state_dict_to_diffusers(get_peft_model_state_dict(te))
    StableDiffusionPipeline.save_lora_weights(str(folder), **layers)
    return Path(folder) / "pytorch_lora_weights.safetensors"
