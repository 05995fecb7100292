"""Full-size Stable Diffusion 1.x architectures with random weights, for speed measurements only.

Same layer shapes as SD v1.4/1.5 (UNet 860 M parameters, VAE 84 M, CLIP ViT-L/14 text
encoder 123 M), built in code because weights cannot be downloaded where benchmarks run.
Never used by netbend itself: a render with random weights is not a render.
"""

from __future__ import annotations

import torch

from netbend.generation import tiny
from netbend.generation.models import StableDiffusion


def build(device: str, dtype: torch.dtype) -> StableDiffusion:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tok = tiny.tokenizer()  # tokenisation cost is negligible; ids fit any vocabulary size
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)  # SD 1.x defaults
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=512,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
    ))
    parts = {k: m.eval().to(device, dtype) for k, m in (("unet", unet), ("vae", vae), ("text_encoder", text_encoder))}
    return StableDiffusion(**parts, tokenizer=tok, scheduler_config=dict(tiny.SCHEDULER_CONFIG), source="random-sd1")
