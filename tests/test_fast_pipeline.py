"""The paper's JAES pipeline: LoRAs, the tiny decoder, chosen timesteps, one UNet pass without
guidance, the same re-noise in every frame, and the presets."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
import yaml

from conftest import DEVICE, render_frames, settings
from netbend.cli import main
from netbend.errors import NetbendError
from netbend.generation import models, schedulers, tiny
from netbend.generation.pipeline import Pipeline
from netbend.settings import Generation
from netbend.settings.generation import parse_timesteps
from test_cli import assert_one_line_error, run

PAPER_TIMESTEPS = [999, 679, 359, 99]  # the paper's code: indices 0, 16, 32, 45 of LCM's 50-step schedule


@pytest.fixture(scope="module")
def lora(tmp_path_factory):
    """A random LoRA for the tiny UNet and text encoder, saved as diffusers' training scripts save one."""
    return tiny.save_lora(tmp_path_factory.mktemp("lora"))


@pytest.fixture(scope="module")
def taesd_model():
    return models.load("tiny", device=DEVICE, decoder="taesd")


# -- chosen timesteps -------------------------------------------------------------------------

def test_the_papers_timesteps_by_value_and_by_index():
    assert parse_timesteps("999,679,359,99") == PAPER_TIMESTEPS
    assert parse_timesteps("0,16,32,45 of 50") == PAPER_TIMESTEPS
    with pytest.raises(ValueError, match="within 0..N-1"):
        parse_timesteps("0,50 of 50")


def test_a_pipeline_runs_the_chosen_timesteps_and_plain_steps_differ(tiny_model):
    g = Generation(model="tiny", scheduler="lcm", timesteps=PAPER_TIMESTEPS, size=(64, 64), device=DEVICE)
    assert g.steps == 4  # the number of timesteps
    assert Pipeline(tiny_model, g).scheduler.timesteps.tolist() == PAPER_TIMESTEPS
    plain = Generation(model="tiny", scheduler="lcm", steps=4, size=(64, 64), device=DEVICE)
    assert Pipeline(tiny_model, plain).scheduler.timesteps.tolist() == [999, 759, 499, 259]  # as the issue says


def test_the_samplers_said_to_take_timesteps_are_those_whose_set_timesteps_does():
    import diffusers

    takes = {name for name, cls in schedulers.SCHEDULERS.items()
             if "timesteps" in inspect.signature(getattr(diffusers, cls).set_timesteps).parameters}
    assert takes == set(schedulers.TAKE_TIMESTEPS)


@pytest.mark.parametrize("kw, needle", [
    (dict(scheduler="ddim", timesteps=[999, 500]), "the ddim sampler cannot take chosen timesteps; use lcm"),
    (dict(scheduler="lcm", steps=8, timesteps=[999, 500]), "--steps 8 but --timesteps gives 2 timesteps"),
    (dict(scheduler="lcm", timesteps=[99, 999]), "decreasing timesteps"),
    (dict(scheduler="lcm", timesteps=[1000]), "within 0..999"),
])
def test_timesteps_that_cannot_run_are_refused(kw, needle):
    with pytest.raises(NetbendError, match=needle):
        Generation(**kw).check()


@pytest.mark.parametrize("flags, needle", [
    (["--scheduler", "ddim", "--timesteps", "999,500"], "--timesteps: the ddim sampler cannot take chosen timesteps"),
    (["--scheduler", "lcm", "--steps", "8", "--timesteps", "999,500"], "--steps 8 but --timesteps gives 2 timesteps"),
])
def test_a_render_checks_steps_against_timesteps_before_the_model_loads(tmp_path, wav, capsys, flags, needle):
    code, _, err = run(capsys, "render", str(wav(0.3)), "-o", str(tmp_path / "o.mp4"), "--model", "tiny", *flags)
    assert_one_line_error(code, err, needle)
    assert "loading model" not in err


# -- one UNet pass without guidance -----------------------------------------------------------

@pytest.mark.parametrize("guidance, batch", [(1.0, 2), (0.0, 2), (7.5, 4)])
def test_guidance_of_one_or_less_is_one_unet_pass_per_step(tiny_model, guidance, batch):
    calls = []
    hook = tiny_model.unet.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        g = Generation(model="tiny", scheduler="lcm", timesteps=PAPER_TIMESTEPS, guidance=guidance, size=(64, 64),
                       device=DEVICE)
        Pipeline(tiny_model, g, n_frames=2).frames(torch.arange(2))
    finally:
        hook.remove()
    assert calls == [batch] * 4  # 4 steps of 2 frames: (uncond, cond) halves only with guidance > 1


# -- the same re-noise in every frame ---------------------------------------------------------

@pytest.mark.parametrize("renoise", ["fixed", "fresh"])
def test_fixed_renoise_makes_equal_frames_of_equal_inputs(tmp_path, wav, tiny_model, renoise):
    # a zero walk and a constant driver: the frames differ only by the sampler's and the operator's draws
    s = settings(tmp_path, wav(0.4), steps=None, scheduler="lcm", timesteps=PAPER_TIMESTEPS, guidance=1.0, walk=0.0,
                 renoise=renoise, op="add_random_rows:fraction=0.3", constant=2.0, layer=2)
    frames = render_frames(s, tiny_model)
    same = [np.array_equal(frames[0], f) for f in frames[1:]]
    assert all(same) if renoise == "fixed" else not any(same)


def test_ddim_draws_nothing_so_only_random_operators_see_renoise(tmp_path, wav, tiny_model):
    # fixed gives every frame frame 0's generator: if DDIM drew from it, frames 1.. would change
    clip = wav(0.3)
    a = render_frames(settings(tmp_path, clip, renoise="fixed", op="rotate_r1", feature="rms"), tiny_model)
    b = render_frames(settings(tmp_path, clip, renoise="fresh", op="rotate_r1", feature="rms"), tiny_model)
    assert np.array_equal(a, b)
    # a random operator's masks do follow it: why fresh stays the default (renders made before keep their pixels)
    masks = dict(op="add_random_rows:fraction=0.3", constant=2.0, layer=2)
    a = render_frames(settings(tmp_path, clip, renoise="fixed", **masks), tiny_model)
    b = render_frames(settings(tmp_path, clip, renoise="fresh", **masks), tiny_model)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[1:], b[1:])


# -- LoRAs ------------------------------------------------------------------------------------

def test_a_lora_changes_the_frames_and_scale_zero_is_none(tmp_path, wav, tiny_model, lora):
    s = settings(tmp_path, wav(0.3))
    plain = render_frames(s, tiny_model)
    fused = render_frames(s, models.load("tiny", device=DEVICE, loras=[str(lora)]))
    zero = render_frames(s, models.load("tiny", device=DEVICE, loras=[f"{lora}:0"]))
    assert not np.array_equal(plain, fused)
    assert np.array_equal(plain, zero)


def test_a_lora_reaches_the_text_encoder_and_its_layers_are_fused_away(tiny_model, lora):
    m = models.load("tiny", device=DEVICE, loras=[f"{lora.parent}:0.5"])  # a folder, at half strength
    # the tiny UNet's 4 transformer blocks (1 down, 1 mid, 2 up), attn1 and attn2, q k v out each;
    # the tiny text encoder's 2 layers, q k v out each
    unet_layers, text_layers = 4 * 2 * 4, 2 * 4
    assert m.loras == [{"source": str(lora.parent), "scale": 0.5, "layers": unet_layers + text_layers}]
    assert not torch.equal(m.encode_text(["a floating orb"]), tiny_model.encode_text(["a floating orb"]))
    assert not any("lora" in name for name, _ in [*m.unet.named_modules(), *m.text_encoder.named_modules()])


def test_loras_that_do_not_fit_fail_in_one_line_before_any_frame(tmp_path, wav, capsys, lora):
    from safetensors.torch import load_file, save_file

    weights = load_file(str(lora))
    save_file({k.replace("down_blocks.1", "down_blocks.7"): v for k, v in weights.items()}, tmp_path / "moved.safetensors")
    save_file({"conv.weight": torch.zeros(2, 2)}, tmp_path / "plain.safetensors")
    clip = wav(0.3)
    for name, needle in (("moved", "does not fit tiny: Loading adapter weights"), ("plain", "cannot load the LoRA"),
                         ("absent", "does not exist")):
        code, _, err = run(capsys, "render", str(clip), "-o", str(tmp_path / f"{name}.mp4"), "--model", "tiny",
                           "--size", "64x64", "--steps", "2", "--lora", str(tmp_path / f"{name}.safetensors"),
                           "--quiet")
        assert_one_line_error(code, err, needle)
        assert not (tmp_path / f".{name}.frames").exists()  # failed before a frame was made


# -- the tiny decoder -------------------------------------------------------------------------

def test_taesd_decodes_and_its_layers_are_the_vae_sites(capsys, tiny_model, taesd_model):
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)).to(DEVICE)
    image = taesd_model.decode(x)
    assert image.shape == (1, 64, 64, 3) and 40 < image.mean() < 215 and image.std() > 10  # neither blank nor flat
    assert not np.array_equal(image, tiny_model.decode(x))
    code, out, _ = run(capsys, "sites", "--model", "tiny", "--decoder", "taesd", "--size", "64x64", "--device", DEVICE)
    assert code == 0 and "vae.decoder.layers.4" in out and "vae.decoder.up_blocks" not in out


def test_a_decoder_from_a_folder_and_a_folder_that_holds_no_decoder(tmp_path, taesd_model):
    tiny.taesd().save_pretrained(tmp_path / "taesd")
    from_folder = models.load("tiny", device=DEVICE, decoder=str(tmp_path / "taesd"))
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)).to(DEVICE)
    assert np.array_equal(from_folder.decode(x), taesd_model.decode(x))
    tiny.build()["unet"].save_pretrained(tmp_path / "unet")
    with pytest.raises(NetbendError, match="is a UNet2DConditionModel, not an autoencoder"):
        models.load("tiny", decoder=str(tmp_path / "unet"))
    with pytest.raises(NetbendError, match="decoder path ./nowhere does not exist"):  # not looked up on the hub
        models.load("tiny", decoder="./nowhere")


def test_a_bend_at_a_taesd_layer_changes_the_decoded_frame(tmp_path, wav, taesd_model):
    clip = wav(0.3)
    plain = render_frames(settings(tmp_path, clip, decoder="taesd"), taesd_model)
    bent = render_frames(settings(tmp_path, clip, decoder="taesd", op="rotate_r1", site="vae.decoder.layers.4",
                                  channels="0:4", constant=1.0), taesd_model)
    assert not np.array_equal(plain, bent)


# -- presets ----------------------------------------------------------------------------------

def test_presets_list_their_values(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0
    for line in ("jaes:", "timesteps: [999, 679, 359, 99]", "latent-consistency/lcm-lora-sdv1-5", "dafx:",
                 "guidance: 7.5", "turbo:", "stabilityai/sd-turbo"):
        assert line in out


def test_a_preset_is_a_scene_fragment_that_flags_override(tmp_path, wav, capsys):
    clip = wav(0.3)
    code, out, err = run(capsys, "render", str(clip), "-o", str(tmp_path / "a.mp4"), "--preset", "jaes", "--model",
                         "tiny", "--guidance", "1.5", "--dump-scene", str(tmp_path / "a.yaml"))
    assert code == 0 and "left out the LoRA latent-consistency/lcm-lora-sdv1-5" in out + err
    data = yaml.safe_load((tmp_path / "a.yaml").read_text())
    assert data["scheduler"] == "lcm" and data["timesteps"] == PAPER_TIMESTEPS and data["decoder"] == "taesd"
    assert data["renoise"] == "fixed" and data["guidance"] == 1.5 and "loras" not in data and "preset" not in data
    # --steps over the preset's timesteps: eight plain LCM steps
    code, _, _ = run(capsys, "render", str(tmp_path / "a.yaml"), "--steps", "8", "--dump-scene", str(tmp_path / "b.yaml"))
    data = yaml.safe_load((tmp_path / "b.yaml").read_text())
    assert code == 0 and data["steps"] == 8 and "timesteps" not in data


def test_a_dumped_scene_does_not_pin_steps_against_a_preset(tmp_path, wav, capsys):
    clip = wav(0.3)
    assert run(capsys, "render", str(clip), "-o", str(tmp_path / "p.mp4"), "--model", "tiny",
               "--dump-scene", str(tmp_path / "plain.yaml"))[0] == 0
    assert "steps" not in yaml.safe_load((tmp_path / "plain.yaml").read_text())  # 50, the default
    assert run(capsys, "render", str(tmp_path / "plain.yaml"), "--preset", "jaes", "--dump-scene",
               str(tmp_path / "j.yaml"))[0] == 0
    data = yaml.safe_load((tmp_path / "j.yaml").read_text())
    assert data["timesteps"] == PAPER_TIMESTEPS and "steps" not in data  # 4, the timesteps' number


def test_the_flags_preset_wins_over_the_scenes_and_decoder_names_are_not_paths(tmp_path, wav):
    from netbend.cli import build_parser
    from netbend.settings.flags import render_job

    (tmp_path / "taesd").mkdir()  # a folder named like the decoder: the name still means TAESD
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"audio": str(wav(0.3)), "output": "s.mp4", "preset": "turbo",
                                                     "model": "tiny", "decoder": "taesd"}))
    job, _ = render_job(build_parser().parse_args(["render", str(tmp_path / "s.yaml"), "--preset", "jaes"]))
    assert job.generation.scheduler == "lcm" and job.generation.timesteps == PAPER_TIMESTEPS
    assert job.generation.decoder == "taesd"


def test_a_scene_names_a_preset_and_its_own_keys_win(tmp_path, wav):
    from netbend.settings import scene

    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"audio": str(wav(0.3)), "output": "s.mp4", "preset": "turbo",
                                                     "model": "tiny", "decoder": "vae"}))
    job, notes = scene.read(tmp_path / "s.yaml")
    g = job.generation
    assert (g.scheduler, g.timesteps, g.steps, g.guidance, g.decoder) == ("euler", [999], 1, 0.0, "vae")
    assert notes == []  # turbo has no LoRA to leave out
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({"audio": "x.wav", "output": "t.mp4", "preset": "nope"}))
    with pytest.raises(NetbendError, match="unknown preset 'nope'; known presets: dafx, jaes, turbo"):
        scene.read(tmp_path / "t.yaml")


@pytest.mark.parametrize("preset", ["jaes", "turbo"])
def test_the_fast_presets_render_offline_and_the_sidecar_says_how(tmp_path, capsys, wav, preset):
    clip = wav(1.0)  # 20 frames: t-SNE (perplexity 15) needs more than 15
    out = tmp_path / f"{preset}.mp4"
    code, _, err = run(capsys, "render", str(clip), "-o", str(out), "--preset", preset, "--op", "matrix", "--feature",
                       "encodec:d=16:model=tiny", "--model", "tiny", "--size", "64x64", "--device", DEVICE, "--quiet")
    assert code == 0, err
    record = json.loads(out.with_suffix(".json").read_text())
    s, sampler = record["settings"], record["model"]["sampler"]
    expected = PAPER_TIMESTEPS if preset == "jaes" else [999]
    assert s["timesteps"] == expected and sampler["timesteps"] == expected and s["renoise"] == "fixed"
    assert sampler["unet_passes_per_step"] == 1 and s["loras"] == [] and record["model"]["loras"] == []
    assert s["decoder"] == "taesd" and record["model"]["decoder"]["class"] == "AutoencoderTiny"


def test_the_sidecar_records_the_loras_fused(tmp_path, capsys, wav, lora):
    out = tmp_path / "l.mp4"
    code, _, err = run(capsys, "render", str(wav(0.3)), "-o", str(out), "--model", "tiny", "--size", "64x64",
                       "--steps", "2", "--lora", f"{lora}:0.7", "--device", DEVICE, "--quiet")
    assert code == 0, err
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["settings"]["loras"] == [f"{lora}:0.7"]
    assert record["model"]["loras"] == [{"source": str(lora), "scale": 0.7, "layers": 40}]
