"""``--model tiny-trained``: it draws what the prompt says, and the paper's observations hold on it
(a rotation by 2 pi returns the picture; an early bend moves the composition, a late one the
colours), measured with image statistics computed here."""

import numpy as np
import pytest
import soundfile
from scipy import ndimage

from netbend import NetbendError
from netbend.generation import models, trained

from conftest import DEVICE, render_frames, settings

STEPS = 20  # DDIM steps of these renders: layer 0 bends the initial noise, layer 20 the final latent


@pytest.fixture(scope="module")
def model():
    return models.load("tiny-trained", device=DEVICE)


@pytest.fixture(scope="module")
def picture(model, tmp_path_factory):
    """picture(prompt, seed, **bend) -> uint8 (64, 64, 3), one frame of a silent tenth of a second."""
    tmp = tmp_path_factory.mktemp("trained")
    soundfile.write(tmp / "silence.wav", np.zeros((1600, 2), np.float32), 16000)

    def make(prompt, seed, **bend):
        s = settings(tmp, tmp / "silence.wav", model="tiny-trained", size=(64, 64), steps=STEPS, prompt=prompt,
                     seed=seed, **bend)
        return render_frames(s, model)[0]

    return make


def hsv(image):
    """Hue (degrees), saturation and value (0..1) of each pixel."""
    x = image.astype(float) / 255
    top, low = x.max(-1), x.min(-1)
    span = np.where(top > low, top - low, 1.0)
    r, g, b = np.moveaxis(x, -1, 0)
    hue = np.select([top == low, top == r, top == g], [0.0, ((g - b) / span) % 6, (b - r) / span + 2],
                    (r - g) / span + 4) * 60
    return hue, np.where(top > 0, (top - low) / np.where(top > 0, top, 1), 0.0), top


def red_share(image):
    h, s, v = hsv(image)
    return (((h < 25) | (h > 335)) & (s > 0.45) & (v > 0.25)).mean()


def blue_share(image):
    h, s, v = hsv(image)
    return ((h > 200) & (h < 260) & (s > 0.45) & (v > 0.25)).mean()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_it_draws_what_the_prompt_says(picture, seed):
    orb, cube = picture("a red orb in the sky", seed), picture("a blue cube on the sea", seed)
    assert red_share(orb) > 0.03 and red_share(cube) < 0.005  # a red object in one, none in the other
    assert blue_share(cube) > blue_share(orb)  # the cube and the sea are blue
    bottom = [hsv(p)[2][48:].mean() for p in (orb, cube)]  # the lowest quarter: pale sky, or deep sea
    assert bottom[0] > 0.8 and bottom[1] < 0.6


@pytest.mark.parametrize("layer", [0, 10, STEPS])
def test_a_rotation_by_two_pi_returns_the_unbent_picture(picture, layer):
    plain = picture("a yellow ring in the sky", 0)
    turned = picture("a yellow ring in the sky", 0, op="rotate_r1", layer=layer, range=(2 * np.pi, 2 * np.pi))
    assert np.abs(plain.astype(int) - turned).max() <= 2  # float rounding through the steps and the decoder


def layout(image):
    """Where the picture departs from its own typical colour, blurred and standardised: the
    composition, whatever the colours."""
    x = image.astype(float)
    d = ndimage.gaussian_filter(np.linalg.norm(x - np.median(x.reshape(-1, 3), 0), axis=-1), 2)
    return (d - d.mean()) / (d.std() + 1e-9)


def layout_change(a, b):
    return 1 - float((layout(a) * layout(b)).mean())  # 1 - correlation


def hue_change(a, b):
    """L1 distance of the saturation-weighted 12-bin hue histograms (0..2)."""
    def histogram(image):
        h, s, v = hsv(image)
        counts, _ = np.histogram(h, bins=12, range=(0, 360), weights=s * v)
        return counts / max(counts.sum(), 1e-9)

    return np.abs(histogram(a) - histogram(b)).sum()


def test_early_bends_move_the_composition_late_ones_the_colours(picture):
    """The paper's main observation, rotate_r1 by pi/4 at layer 0 (the initial noise) and at the
    last layer (the final latent), over prompts and seeds. Measured on seeds 0-3: the layout
    changed 5.3x more early than late; colour was 0.28 of the layout's change early, 3.05 late.
    (The colour change alone is not a sturdy sign: on seeds 2-5 it was only 1.13x larger late,
    since a new composition also brings new colours; its share of the change is.)"""
    changes = {0: [], STEPS: []}
    for prompt in ("a red orb in the sky", "a blue cube on the sea", "a white crane at night", "a purple mountain"):
        for seed in (0, 1, 2, 3):
            plain = picture(prompt, seed)
            for layer in changes:
                bent = picture(prompt, seed, op="rotate_r1", layer=layer, range=(np.pi / 4, np.pi / 4))
                changes[layer].append((layout_change(plain, bent), hue_change(plain, bent)))
    early, late = (np.mean(changes[k], axis=0) for k in (0, STEPS))
    assert early[0] > 2.5 * late[0]  # the composition moves much more when the noise is bent
    assert late[1] / late[0] > 3 * early[1] / early[0]  # when the final latent is, the change is mostly colour


def test_missing_or_damaged_weights_fail_in_one_line(monkeypatch, tmp_path, capsys):
    from netbend.cli import main

    args = ["render", str(tmp_path / "a.wav"), "-o", str(tmp_path / "v.mp4"), "--model", "tiny-trained", "--size",
            "64x64", "--quiet"]
    soundfile.write(tmp_path / "a.wav", np.zeros((1600, 2), np.float32), 16000)
    monkeypatch.setattr(trained, "WEIGHTS", tmp_path / "none.safetensors")
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the weights of --model tiny-trained are missing" in err[0] and "reinstall" in err[0]
    (tmp_path / "none.safetensors").write_text("version https://git-lfs.github.com/spec/v1\n")  # an LFS pointer
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "are damaged or from another version" in err[0]


def test_the_shipped_weights_are_small_and_say_how_they_were_made():
    assert trained.WEIGHTS.stat().st_size < 5 * 2**20
    made = trained.info()
    assert made["hardware"] and made["unet"]["steps"] > 1000 and made["ae"]["steps"] > 1000


def test_it_has_no_taesd_and_the_presets_say_so():
    with pytest.raises(NetbendError, match="tiny-trained decodes with its own autoencoder only"):
        models.load("tiny-trained", decoder="taesd")
    from netbend.settings import RenderJob
    from netbend.settings.presets import expand

    data, notes = expand("jaes", {"model": "tiny-trained"}, RenderJob)
    assert data["decoder"] == "vae" and not data["loras"]  # its own decoder; the LoRA fits SD 1.x only
    assert any("decoding with its own autoencoder, not taesd" in n for n in notes)
