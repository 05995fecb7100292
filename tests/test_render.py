import dataclasses
import json
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from netbend import NetbendError, audio
from netbend.audio import mapping, smoothing
from netbend.audio.drives import Drive
from netbend.generation import sampling, schedulers
from netbend.jobs.render import all_drives, panel_frames, render

from conftest import STEPS, render_frames, settings


def test_render_writes_mp4_with_all_frames_audio_and_sidecar(tmp_path, wav, tiny_model):
    clip = wav(2.55, sr=22050)
    s = settings(tmp_path, clip, op="rotate_r1", layer=STEPS, size=(64, 48))
    [result] = render(s, model=tiny_model)
    assert result.n_frames == 25  # floor(2.55 s * 10 fps)
    with av.open(str(result.video)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.average_rate == 10 and (v.width, v.height) == (64, 48)
        decoded = [f for f in c.decode(video=0)]
        assert len(decoded) == 25
        audio_s = float(a.duration * a.time_base)
        assert abs(audio_s - 2.55) < 0.05 and a.sample_rate == 22050 and a.channels == 2
        assert {(b.pts - a.pts) * v.time_base for a, b in zip(decoded, decoded[1:])} == {Fraction(1, 10)}
        video_s = float(v.duration * v.time_base)  # the stream's own timing
        assert video_s == pytest.approx(2.5)
        assert abs(video_s - audio_s) <= 0.1  # within one frame
    side = json.loads(result.sidecar.read_text())
    bend = side["bends"][0]
    assert side["settings"]["bends"][0]["op"] == "rotate_r1" and bend["steps_bent"] == [STEPS]
    assert side["model"]["source"] == "tiny" and side["netbend"]
    assert len(bend["frames"]["feature"]) == len(bend["frames"]["r"]) == len(side["time_s"]) == 25
    assert bend["feature"] == "rms"
    r = np.array(bend["frames"]["r"])
    assert r.min() == 0 and r.max() == pytest.approx(2 * np.pi)  # min-max onto the rotation range
    assert not list(tmp_path.glob(".*partial*"))  # the temporary file was renamed into place
    from PIL import Image

    assert Image.open(result.plot).format == "PNG" and result.plot.name == "out.drivers.png"


@pytest.mark.parametrize(("op", "identity"), [("rotate_r1", 0.0), ("add", 0.0), ("multiply", 1.0)])
@pytest.mark.parametrize("layer", [0, 1, STEPS])
def test_identity_bend_equals_no_bend_and_real_bend_differs(tmp_path, wav, tiny_model, op, identity, layer):
    clip = wav(0.3)
    plain = render_frames(settings(tmp_path, clip), tiny_model)
    same = render_frames(settings(tmp_path, clip, op=op, layer=layer, range=(identity, identity)), tiny_model)
    assert np.array_equal(plain, same)
    bent = render_frames(settings(tmp_path, clip, op=op, layer=layer, range=(identity + 1.5, identity + 1.5)), tiny_model)
    assert (bent != plain).mean() > 0.05  # a visible share of the pixel values changed


def test_layer_steps_bends_the_final_latent_just_before_decoding(tmp_path, wav, tiny_model):
    clip = wav(0.1)  # one frame
    s = settings(tmp_path, clip, op="add", layer=STEPS, range=(0.7, 0.7), guidance=1.0)
    bent = render_frames(s, tiny_model)[0]
    # independently: run the plain loop, add 0.7 to its final latent, decode
    sched = schedulers.make_scheduler("ddim", tiny_model.scheduler_config, STEPS)
    sched.set_timesteps(STEPS, device=tiny_model.device)
    from netbend.generation.noise import NoiseWalk

    x = NoiseWalk(tiny_model.latent_shape(64, 64), n_frames=1, seed=s.generation.seed, walk=s.generation.walk)(torch.tensor([0]))
    x = x.to(tiny_model.device, tiny_model.dtype)
    denoise = sampling.guided_denoiser(tiny_model.unet, tiny_model.encode_text([s.generation.prompt]), None, 1.0)
    final = sampling.sample(denoise, sched, x)
    # float16 (CUDA) rounds the bend's 0.7 and this sum differently: one grey level apart at most
    np.testing.assert_allclose(bent.astype(int), tiny_model.decode(final + 0.7)[0].astype(int),
                               atol=0 if tiny_model.dtype == torch.float32 else 1)


def test_same_settings_give_identical_frames_and_seed_matters(tmp_path, wav, tiny_model):
    clip = wav(0.5)
    s = settings(tmp_path, clip, op="rotate_r4", layer=1)
    a, b = render_frames(s, tiny_model), render_frames(s, tiny_model)
    assert np.array_equal(a, b)
    c = render_frames(settings(tmp_path, clip, op="rotate_r4", layer=1, seed=7), tiny_model)
    assert not np.array_equal(a, c)


def test_batch_gives_the_same_frames(tmp_path, wav, tiny_model):
    clip = wav(0.5)
    one = render_frames(settings(tmp_path, clip, op="rotate_r1", layer=1), tiny_model)
    three = render_frames(settings(tmp_path, clip, op="rotate_r1", layer=1, batch=3), tiny_model)
    # batched float32 convolutions may round differently in the last bit: allow 1 grey level
    assert np.abs(one.astype(int) - three).max() <= 1


@pytest.mark.parametrize("scheduler", ["euler", "euler_a", "dpmpp", "unipc", "ddpm", "lcm"])
def test_other_schedulers_render_reproducibly_and_bend(tmp_path, wav, tiny_model, scheduler):
    clip = wav(0.2)
    s = settings(tmp_path, clip, scheduler=scheduler)
    plain = render_frames(s, tiny_model)
    assert np.array_equal(plain, render_frames(s, tiny_model))  # stochastic samplers are seeded too
    same = render_frames(settings(tmp_path, clip, scheduler=scheduler, op="rotate_r1", layer=1, range=(0, 0)), tiny_model)
    # Euler-type samplers rescale the latent around the bend: equal up to float rounding
    assert np.abs(plain.astype(int) - same).max() <= 1
    bent = render_frames(settings(tmp_path, clip, scheduler=scheduler, op="rotate_r1", layer=1, range=(2, 2)), tiny_model)
    assert (bent != plain).mean() > 0.05


def test_frames_show_the_drive(tmp_path, wav, tiny_model):
    # frames with equal parameters equal each other when the noise does not move
    clip = wav(0.3)
    s = settings(tmp_path, clip, op="rotate_r1", layer=STEPS, walk=0.0)
    drive = Drive(np.zeros(3), np.array([0.5, 2.0, 0.5]))
    out = np.stack([f for _, f in panel_frames(s.as_panels()[0], tiny_model, [drive], n_frames=3, fps=s.fps)])
    assert np.array_equal(out[0], out[2]) and not np.array_equal(out[0], out[1])


@pytest.mark.parametrize(("kw", "message"), [
    ({"op": "add", "layer": STEPS + 1}, r"--layer must be in \[0, 3\]"),
    ({"op": "add", "layer": -1}, r"--layer must be in"),
    ({"seed": -1}, r"--seed must be in \[0, 2\*\*63\)"),
    ({"fps": float("inf")}, "--fps must be a finite number"),
    ({"walk": float("nan")}, "--walk must be a finite number"),
    ({"guidance": float("nan")}, "--guidance must be a finite number"),
    ({"op": "add", "range": (0.0, float("nan"))}, "--range must be two finite numbers"),
    ({"output": "."}, "is a folder"),
    ({"size": (60, 64)}, "multiples of 8"),
    ({"steps": 0}, "--steps"),
    ({"op": "wobble"}, "unknown operator 'wobble'"),
    ({"op": "add", "feature": "loudness"}, "unknown feature 'loudness'"),
    ({"scheduler": "heun"}, "unknown scheduler 'heun'"),
    ({"output": "out.gif"}, "output must end in"),
])
def test_check_inputs_rejects_bad_settings(tmp_path, wav, kw, message):
    with pytest.raises(NetbendError, match=message):
        settings(tmp_path, wav(0.2), **kw).check()


def test_existing_output_needs_overwrite(tmp_path, wav, tiny_model):
    s = settings(tmp_path, wav(0.2))
    (tmp_path / "out.mp4").write_bytes(b"old")
    with pytest.raises(NetbendError, match="--overwrite"):
        render(s, model=tiny_model)
    render(dataclasses.replace(s, overwrite=True), model=tiny_model)
    assert (tmp_path / "out.mp4").stat().st_size > 100


def test_audio_shorter_than_a_frame_is_rejected(tmp_path, wav, tiny_model):
    with pytest.raises(NetbendError, match="shorter than one frame"):
        render(settings(tmp_path, wav(0.05)), model=tiny_model)


def test_audio_at_a_rate_aac_cannot_hold_is_resampled(tmp_path, wav, tiny_model):
    clip = wav(0.4, sr=192000)
    [result] = render(settings(tmp_path, clip), model=tiny_model)
    assert result.n_frames == 4
    with av.open(str(result.video)) as c:
        a = c.streams.audio[0]
        assert a.sample_rate == 48000
        assert abs(float(a.duration * a.time_base) - 0.4) < 0.05


def test_random_operators_reproduce_at_any_batch_size(tmp_path, wav, tiny_model):
    clip = wav(0.5)
    s = settings(tmp_path, clip, op="add_sparse:fraction=0.2", layer=1, range=(2, 2))
    one = render_frames(s, tiny_model)
    assert np.array_equal(one, render_frames(s, tiny_model))
    three = render_frames(settings(tmp_path, clip, op="add_sparse:fraction=0.2", layer=1, range=(2, 2), batch=3), tiny_model)
    assert np.abs(one.astype(int) - three).max() <= 1
    # each frame draws its own mask: consecutive frames with equal r still differ in where they are bent
    plain = render_frames(settings(tmp_path, clip), tiny_model)
    assert not np.array_equal(one[0] != plain[0], one[1] != plain[1])


def test_a_chain_without_parameter_bends_every_frame(tmp_path, wav, tiny_model):
    clip = wav(0.3)
    plain = render_frames(settings(tmp_path, clip), tiny_model)
    s = settings(tmp_path, clip, op="dilate:k=2 | normalize_mean:axis=0", layer=STEPS)
    bent = render_frames(s, tiny_model)
    assert (bent != plain).mean() > 0.05
    assert s.bends[0].param_range() is None


@pytest.mark.parametrize(("kw", "message"), [
    ({"op": "inversion", "range": (0, 5)}, r"'inversion' is undefined at r = 0.*--range 0.1:5"),
    ({"op": "log", "range": (0, 10)}, r"'log' needs a base r > 0 and r != 1, got r = 0"),
    ({"op": "expm", "size": (64, 48)}, r"'expm' needs square channels \(H = W\), got 6x8"),
    ({"op": "add_slice:axis=row,index=8"}, r"row index 8:9 is outside 0:8"),
])
def test_operator_domain_errors_come_before_the_model_loads(tmp_path, wav, kw, message):
    s = settings(tmp_path, wav(0.3), model="./no/such/model", **kw)
    with pytest.raises(NetbendError, match=message):
        render(s)


@pytest.mark.parametrize(("kw", "message"), [
    ({"op": "negate", "range": (0, 1)}, "--range has nothing to set"),
    ({"op": "rotate_r1 |"}, "empty operator"),
])
def test_check_inputs_rejects_bad_chains(tmp_path, wav, kw, message):
    with pytest.raises(NetbendError, match=message):
        settings(tmp_path, wav(0.2), **kw).check()


def test_smoothing_stem_and_curve_drive_the_render(tmp_path, wav, tiny_model):
    song = wav(1.0, name="song.wav")
    stem = tmp_path / "drums.wav"
    import soundfile

    t = np.arange(16000) / 16000
    soundfile.write(stem, (np.sin(2 * np.pi * 200 * t) * (t > 0.5)).astype(np.float32), 16000)  # silent, then loud
    s = settings(tmp_path, song, op="rotate_r1", layer=STEPS, stem=str(stem), smooth="median:3", curve="exp")
    [result] = render(s, model=tiny_model)
    side = json.loads(result.sidecar.read_text())
    bend = side["bends"][0]
    feature, smoothed, r = (np.array(bend["frames"][k]) for k in ("feature", "smoothed", "r"))
    assert np.all(feature[:5] == 0) and np.all(feature[6:] > 0.5)  # from the stem, not the song
    np.testing.assert_allclose(smoothed, smoothing.median(feature, 3))
    np.testing.assert_allclose(r, mapping.to_range(smoothed, 0, 2 * np.pi, curve="exp"))
    assert bend["stem"] == str(stem) and bend["smooth"] == "median:3"


@pytest.mark.parametrize(("op", "feature"), [("rotate_six", "encodec:d=6:reduce=pca:model=tiny"),
                                             ("matrix", "mfcc:n=16")])
def test_multi_dimensional_features_drive_six_angles_and_matrices(tmp_path, wav, tiny_model, op, feature):
    clip = wav(1.0, sr=24000)
    s = settings(tmp_path, clip, op=op, feature=feature, layer=STEPS)
    song = audio.load(clip)
    [[drive]] = all_drives(s, song, audio.frames_of(song, s.fps))
    shape = (6,) if op == "rotate_six" else (4, 4)
    assert drive.r.shape == (10, *shape)
    plain = render_frames(settings(tmp_path, clip), tiny_model)
    bent = render_frames(s, tiny_model)
    assert (bent != plain).mean() > 0.05


def test_feature_dimension_must_fit_the_operator(tmp_path, wav):
    s = settings(tmp_path, wav(0.5), op="rotate_six", feature="chroma", model="./no/such/model")
    with pytest.raises(NetbendError, match=r"takes 6 number\(s\) per frame but --feature chroma gives 12; use encodec:d=6"):
        render(s)
