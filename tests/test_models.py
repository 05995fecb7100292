import numpy as np
import torch

from netbend.generation import models, tiny


def test_tiny_model_is_identical_on_every_build_and_does_not_touch_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = tiny.build()
    after = torch.rand(1)
    assert torch.equal(before, after)  # building used its own seed, not the caller's random state
    b = tiny.build()
    for key in ("unet", "vae", "text_encoder"):
        for (na, pa), (nb, pb) in zip(a[key].state_dict().items(), b[key].state_dict().items()):
            assert na == nb and torch.equal(pa, pb)


def test_tiny_model_has_the_stable_diffusion_layout(tiny_model):
    assert tiny_model.vae_scale_factor == 8
    assert tiny_model.latent_shape(512, 384) == (4, 48, 64)
    emb = tiny_model.encode_text(["a floating orb", "crane"])
    assert emb.shape == (2, 77, tiny_model.unet.config.cross_attention_dim)
    assert not torch.equal(emb[0], emb[1])  # the tokenizer tells prompts apart
    img = tiny_model.decode(torch.randn(2, 4, 8, 6, device=tiny_model.device))
    assert img.shape == (2, 64, 48, 3) and img.dtype == np.uint8


def test_local_diffusers_folder_loads_the_same_weights(tmp_path, tiny_model):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    StableDiffusionPipeline(
        vae=tiny_model.vae, text_encoder=tiny_model.text_encoder, tokenizer=tiny_model.tokenizer,
        unet=tiny_model.unet, scheduler=DDIMScheduler.from_config(tiny_model.scheduler_config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(tmp_path / "sd")
    loaded = models.load(str(tmp_path / "sd"), device=str(tiny_model.device))
    assert loaded.source == str(tmp_path / "sd")
    x = torch.randn(1, 4, 8, 8).to(tiny_model.device, tiny_model.dtype)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.unet(x, 10, encoder_hidden_states=loaded.encode_text(["orb"])).sample,
            tiny_model.unet(x, 10, encoder_hidden_states=tiny_model.encode_text(["orb"])).sample,
        )
    np.testing.assert_array_equal(loaded.decode(x), tiny_model.decode(x))
