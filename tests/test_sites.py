import dataclasses
import re

import numpy as np
import pytest
import torch

from conftest import DEVICE, STEPS, render_frames, settings
from netbend import operators
from netbend.cli import main
from netbend.errors import NetbendError
from netbend.generation import channels as chans, sites
from netbend.generation.bending import BatchBend as Bending, Clock, PlacedBend as LayerBend
from netbend.settings import Bend

MID = "unet.mid_block"  # tiny model: 64 channels, 4x4 at 64x64 pixels


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A clip of two frames at 10 fps."""
    import soundfile

    from conftest import tone

    path = tmp_path_factory.mktemp("sites") / "clip.wav"
    soundfile.write(path, tone(0.2, 16000), 16000)
    return path


@pytest.fixture(scope="module")
def unbent(clip, tiny_model, tmp_path_factory):
    return render_frames(settings(tmp_path_factory.mktemp("u"), clip), tiny_model)


def frames_with(tmp_path, clip, model, *bends, **kw):
    return render_frames(settings(tmp_path, clip, bends=list(bends), **kw), model)


def no_hooks_left(model) -> bool:
    return all(not m._forward_hooks for part in (model.unet, model.vae) for m in part.modules())


def test_every_listed_site_takes_an_identity_bend_and_a_real_one(tmp_path, clip, tiny_model, unbent):
    listed = list(sites.probe(tiny_model, (64, 64)))
    assert len(listed) > 30 and MID in listed and "vae.decoder.up_blocks.2" in listed
    # identity everywhere at once: frames unchanged
    identity = [Bend(op="multiply", constant=1.0, site=name) for name in listed] + [Bend(op="multiply", constant=1.0)]
    assert np.array_equal(frames_with(tmp_path, clip, tiny_model, *identity), unbent)
    # ... while a real bend at any one of them changes them: every hook is reached
    unchanged = [name for name in listed
                 if np.array_equal(frames_with(tmp_path, clip, tiny_model, Bend(op="multiply", constant=0.0, site=name)),
                                   unbent)]
    assert unchanged == []
    assert no_hooks_left(tiny_model)


def test_a_unet_site_bends_only_while_its_steps_run(tmp_path, clip, tiny_model, unbent, monkeypatch):
    bent = []  # (step, batch) of every bent module output
    original = sites._hook

    def spying(b, clock):
        hook = original(b, clock)

        def spy(mod, args, out):
            result = hook(mod, args, out)
            if result is not None:
                bent.append((clock.step, out.shape[0]))
            return result

        return spy

    monkeypatch.setattr(sites, "_hook", spying)

    def run(window):
        bent.clear()
        return frames_with(tmp_path, clip, tiny_model, Bend(op="negate", site=MID, steps_active=window))

    assert np.array_equal(run((STEPS, STEPS)), unbent) and bent == []  # an empty window bends nothing
    assert np.array_equal(run((1, 1)), unbent) and bent == []
    middle = run((1, 2))
    # step 1 of each of the two frames (batch 1), both halves of the guided batch at once
    assert bent == [(1, 2), (1, 2)]
    assert not np.array_equal(middle, unbent)
    everywhere = run(None)
    assert bent == [(k, 2) for k in range(STEPS)] * 2
    assert not np.array_equal(everywhere, middle)


def test_a_vae_site_changes_the_image_not_the_latent(tmp_path, clip, tiny_model, unbent):
    seen = []
    handle = tiny_model.vae.post_quant_conv.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    try:
        plain = frames_with(tmp_path, clip, tiny_model)
        bent = frames_with(tmp_path, clip, tiny_model, Bend(op="multiply", constant=0.5, site="vae.decoder.up_blocks.1"))
    finally:
        handle.remove()
    assert np.array_equal(plain, unbent) and not np.array_equal(bent, unbent)
    # the latents the decoder got are the same (the bent run also probes the site's shape once, in between)
    assert all(torch.equal(a, b) for a, b in zip(seen[:2], seen[-2:]))


def hooked_activation(model, bend: LayerBend):
    """The site's output without and with ``bend``, from one UNet call (no guidance)."""
    site = sites.module(model, bend.site)
    before, after = [], []
    h1 = site.register_forward_hook(lambda mod, a, out: before.append(out.clone()))  # runs before the bend's hook
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)).to(model.device, model.dtype)
    try:
        with torch.no_grad(), sites.hooked(model, [bend], Clock()):
            h2 = site.register_forward_hook(lambda mod, a, out: after.append(out.clone()))  # ... and this one after
            model.unet(x, torch.tensor(500), encoder_hidden_states=model.encode_text(["orb"]))
            h2.remove()
    finally:
        h1.remove()
    return before[0], after[0]


@pytest.mark.parametrize("channels", ["3,17,40", "0:8", 0.25, "cluster:1/3"])
def test_channel_selection_bends_only_the_selected_channels(tiny_model, channels):
    chosen = chans.parse_channels(channels)
    shapes, (idx,) = chans.pick_channels(tiny_model, [(MID, chosen)], size=(64, 64), seed=5, prompt="orb")
    assert shapes[MID][0] == 64
    expected = {"3,17,40": [3, 17, 40], "0:8": list(range(8)), 0.25: None, "cluster:1/3": None}[channels]
    if expected is not None:
        assert idx == expected
    elif chosen.kind == "fraction":
        assert len(idx) == 16 and len(set(idx)) == 16  # a quarter of 64
        assert idx == chosen.select(64, seed=5, site=MID) and idx != chosen.select(64, seed=6, site=MID)  # seeded
        assert idx != chosen.select(64, seed=5, site=MID, index=1)  # a second bend at the site draws its own
        assert idx != chosen.select(64, seed=5, site="unet.conv_in")  # ... and so does one at another site
    else:
        cl = chans.calibrate(tiny_model, [MID], 3, prompt="orb", size=(64, 64), seed=5)[MID]
        assert sum(cl.sizes) == 64 and cl.sizes == sorted(cl.sizes, reverse=True)
        assert idx == np.flatnonzero(cl.labels == 1).tolist() and len(idx) == cl.sizes[1]
    bend = LayerBend(Bending(operators.parse("multiply"), torch.zeros(1), 1, channels=torch.as_tensor(idx)), MID)
    before, after = hooked_activation(tiny_model, bend)
    others = [c for c in range(64) if c not in idx]
    assert torch.all(after[:, idx] == 0) and torch.any(before[:, idx] != 0)
    assert torch.equal(after[:, others], before[:, others])
    assert no_hooks_left(tiny_model)


def test_hooks_are_gone_after_an_error_inside_the_operator(tmp_path, clip, tiny_model, unbent, monkeypatch):
    def broken(self, x):
        raise RuntimeError("operator failed")

    with monkeypatch.context() as m:
        m.setattr(Bending, "_bend", broken)
        with pytest.raises(RuntimeError, match="operator failed"):
            frames_with(tmp_path, clip, tiny_model, Bend(op="negate", site=MID), Bend(op="negate", site="vae.decoder.up_blocks.0"))
    assert no_hooks_left(tiny_model)
    assert np.array_equal(frames_with(tmp_path, clip, tiny_model), unbent)  # the next render is not bent


def test_hooks_are_gone_between_batches_even_if_the_caller_stops(tmp_path, clip, tiny_model):
    from netbend import audio
    from netbend.jobs.render import all_drives, panel_frames

    s = settings(tmp_path, clip, bends=[Bend(op="negate", site=MID)])
    song = audio.load(s.audio)
    n = audio.frames_of(song, s.fps)
    it = panel_frames(s.as_panels()[0], tiny_model, all_drives(s, song, n)[0], n_frames=n, fps=s.fps)
    next(it)  # the first frame is out; the generator is suspended
    assert no_hooks_left(tiny_model)
    it.close()


def test_unknown_sites_suggest_the_nearest_names(tmp_path, wav, capsys, tiny_model):
    with pytest.raises(NetbendError, match=r"unknown site 'unet.mid_blok'.*did you mean unet.mid_block"):
        sites.module(tiny_model, "unet.mid_blok")
    with pytest.raises(NetbendError, match="down_blocks.1.resnets.0"):
        sites.module(tiny_model, "unet.down_blocks.1.resnet.0")
    clip = wav(0.2)
    code = main(["render", str(clip), "-o", str(tmp_path / "o.mp4"), "--model", "tiny", "--steps", "2", "--size",
                 "64x64", "--device", DEVICE, "--op", "negate", "--site", "vae.decoder.upblocks.1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "did you mean vae.decoder.up_blocks.1" in err, err
    assert main(["render", str(clip), "-o", str(tmp_path / "o.mp4"), "--op", "negate", "--site", "mid_block"]) == 2
    assert "--site: a site must be 'latent' or a module" in capsys.readouterr().err  # before any model loads


def test_four_channel_operators_act_on_a_chosen_group_of_four_or_refuse(tmp_path, clip, tiny_model, unbent):
    with pytest.raises(NetbendError, match=r"rotate_r1 is defined on 4 channels.*has 64.*--channels I,J,K,L"):
        frames_with(tmp_path, clip, tiny_model, Bend(op="rotate_r1", constant=1.0, site=MID))
    group = frames_with(tmp_path, clip, tiny_model, Bend(op="rotate_r1", constant=1.0, site=MID, channels=[4, 9, 20, 33]))
    assert not np.array_equal(group, unbent)
    # rotating channels 4, 9, 20, 33 in the plane of the group's 2nd and 3rd: only 9 and 20 change
    bend = LayerBend(Bending(operators.parse("rotate_r1"), torch.ones(1), 1, channels=torch.tensor([4, 9, 20, 33])), MID)
    before, after = hooked_activation(tiny_model, bend)
    changed = [c for c in range(64) if not torch.equal(after[:, c], before[:, c])]
    assert changed == [9, 20]
    with pytest.raises(NetbendError, match="hadamard is defined on 4 channels"):  # on the latent, before the model loads
        frames_with(tmp_path, clip, None, Bend(op="hadamard", channels=[0, 1]))
    # channel-agnostic operators act on any layer
    assert not np.array_equal(frames_with(tmp_path, clip, tiny_model, Bend(op="dilate:k=3", site=MID)), unbent)


@pytest.mark.parametrize("bend, needle", [
    (Bend(op="negate", site=MID, layer=2), "places a bend on the latent"),
    (Bend(op="negate", steps_active=(0, 2)), "steps_active is for a UNet site"),
    (Bend(op="negate", site="vae.decoder.up_blocks.0", steps_active=(0, 2)), "VAE decoder"),
    (Bend(op="negate", site=MID, steps_active=(2, STEPS + 1)), f"STOP <= {STEPS}"),
    (Bend(op="negate", site=MID, steps_active=(2, 1)), "START <= STOP"),
    (Bend(op="negate", site=MID, channels="0.5.1"), "bends[0].channels must be all, a list"),
    (Bend(op="negate", site=MID, channels="cluster:3/3"), "bends[0].channels: cluster:C/K"),
    (Bend(op="negate", channels="cluster:0/2"), "the latent has 4"),
    (Bend(op="negate", site="text_encoder.x"), "bends[0].site: a site must be"),
])
def test_bad_site_settings_name_the_key(tmp_path, clip, bend, needle):
    with pytest.raises(NetbendError, match=re.escape(needle)):
        settings(tmp_path, clip, bends=[bend]).check()


def test_a_channel_past_the_site_is_an_error_before_any_frame(tmp_path, clip, tiny_model):
    with pytest.raises(NetbendError, match="channel 70 does not exist: the site has 64"):
        frames_with(tmp_path, clip, tiny_model, Bend(op="negate", site=MID, channels=[1, 70]))


def test_scene_bends_at_several_sites_combine(tmp_path, clip, tiny_model, unbent):
    from netbend.settings import scene

    (tmp_path / "s.yaml").write_text(f"""
audio: {clip}
output: out.mp4
model: tiny
steps: {STEPS}
size: [64, 64]
fps: 10
device: {DEVICE}
bends:
  - op: multiply
    site: {MID}
    steps_active: [0, 2]
    channels: "0:32"
    constant: 0.0
  - op: dilate:k=3
    site: vae.decoder.up_blocks.0
    channels: 0.5
""")
    s = scene.load(tmp_path / "s.yaml")
    assert s.bends[0].steps_active == (0, 2) and s.bends[1].channels == 0.5
    both = render_frames(s, tiny_model)
    first = render_frames(dataclasses.replace(s, bends=s.bends[:1]), tiny_model)
    second = render_frames(dataclasses.replace(s, bends=s.bends[1:]), tiny_model)
    for x in (first, second):
        assert not np.array_equal(x, unbent) and not np.array_equal(both, x)
    # the dump round trip keeps the keys
    path = scene.dump(s, tmp_path / "again.yaml")
    assert scene.load(path).bends == s.bends


def test_render_flags_put_the_bend_at_a_site(tmp_path, wav, capsys):
    import json

    clip = wav(0.2)
    out = tmp_path / "o.mp4"
    assert main(["render", str(clip), "-o", str(out), "--model", "tiny", "--steps", "3", "--size", "64x64", "--fps", "10",
                 "--device", DEVICE, "--op", "dilate:k=3", "--site", "unet.up_blocks.1", "--steps-active", "1:3",
                 "--channels", "0.25", "--feature", "rms", "--quiet"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())["bends"][0]
    assert record["site"] == "unet.up_blocks.1" and record["channels"] == "0.25"
    assert record["steps_active"] == [1, 3] and record["steps_bent"] == [1, 2]  # as given; the steps it ran in
    assert main(["render", str(clip), "-o", str(out), "--steps-active", "1:3"]) == 2
    assert "give --op" in capsys.readouterr().err


def test_sites_command_lists_shapes_and_clusters(tmp_path, capsys):
    assert main(["sites", "--model", "tiny", "--size", "64x64", "--device", DEVICE]) == 0
    table = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:]}
    # from the tiny model's configuration: 4 latent channels at 1/8 of 64 px; the middle block 64 channels at 1/16
    assert rows["latent"] == ["4", "x", "8", "x", "8", "4"]
    assert rows[MID] == ["64", "x", "4", "x", "4", "64"]
    assert rows["vae.decoder.conv_out"][0] == "3"  # RGB
    assert main(["sites", "--model", "tiny", "--size", "64x64", "--device", DEVICE, "--site", f"{MID},unet.conv_in",
                 "--clusters", "3", "--preview", str(tmp_path / "prev")]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith(MID + " "))
    sizes = [int(v) for v in line.split()[-3:]]
    assert sum(sizes) == 64 and sizes == sorted(sizes, reverse=True)
    assert sorted(p.name for p in (tmp_path / "prev").iterdir()) == ["unet.conv_in.png", f"{MID}.png"]
    assert main(["sites", "--model", "tiny", "--site", "unet.mid_blok", "--size", "64x64"]) == 2
    assert "did you mean unet.mid_block" in capsys.readouterr().err


def test_grid_at_a_unet_site(tmp_path, wav, tiny_model):
    from PIL import Image

    from netbend.jobs.grid import generate
    from netbend.jobs.render import render
    from netbend.settings import Generation, GridJob

    s = GridJob(op="multiply", output=str(tmp_path / "g.png"), site=MID, layers=[0, 2], values=[0.0, 1.0],
                generation=Generation(steps=STEPS, size=(64, 64), model="tiny", device=DEVICE), batch=1)
    s.check()
    g = generate(s, tiny_model)
    one = wav(0.1, name="one.wav")
    alone = settings(tmp_path, one, output=str(tmp_path / "a.mp4"), frames_dir=str(tmp_path / "a"),
                     bends=[Bend(op="multiply", constant=0.0, site=MID, steps_active=(2, 3))])
    render(alone, model=tiny_model)
    assert np.array_equal(g.cells[1, 0], np.asarray(Image.open(tmp_path / "a" / "00000.png").convert("RGB")))
    plain = settings(tmp_path, one, output=str(tmp_path / "p.mp4"), frames_dir=str(tmp_path / "p"))
    render(plain, model=tiny_model)
    for j in range(2):  # multiplying by 1 is no bend
        assert np.array_equal(g.cells[j, 1], np.asarray(Image.open(tmp_path / "p" / "00000.png").convert("RGB")))
    with pytest.raises(NetbendError, match=f"outside 0..{STEPS - 1}"):
        dataclasses.replace(s, layers=[STEPS]).check()  # no UNet call at the final latent
    vae = dataclasses.replace(s, site="vae.decoder.up_blocks.1", layers=None)
    vae.check()
    assert vae.columns() == [STEPS]  # one column: decode
    with pytest.raises(NetbendError, match="one column"):
        dataclasses.replace(vae, layers=[0]).check()


def test_random_operators_bend_both_halves_of_a_guided_batch_alike(tiny_model):
    gen = [torch.Generator().manual_seed(3)]
    bend = LayerBend(Bending(operators.parse("add_noise"), torch.ones(1), 1, generator=gen), MID)
    site = sites.module(tiny_model, MID)
    before, after = [], []
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)).to(tiny_model.device, tiny_model.dtype)
    text = torch.cat([tiny_model.encode_text([""]), tiny_model.encode_text(["orb"])])
    h1 = site.register_forward_hook(lambda mod, a, out: before.append(out.clone()))
    try:
        with torch.no_grad(), sites.hooked(tiny_model, [bend], Clock()):
            h2 = site.register_forward_hook(lambda mod, a, out: after.append(out.clone()))
            tiny_model.unet(torch.cat([x, x]), torch.tensor(500), encoder_hidden_states=text)  # as with guidance
            h2.remove()
    finally:
        h1.remove()
    noise = after[0] - before[0]
    assert noise.abs().mean() > 0.5  # standard normal noise was added ...
    # ... the same to the unconditional and the conditional half (in float16, up to the rounding of out + noise)
    torch.testing.assert_close(noise[0], noise[1], **(dict(atol=4e-3, rtol=0) if x.dtype == torch.float16 else {}))


def test_k_means_groups_channels_whose_maps_look_alike():
    rng = np.random.default_rng(0)
    bases = rng.normal(size=(3, 2, 6, 6))  # three patterns over two samples
    groups = [0] * 10 + [1] * 6 + [2] * 4
    order = rng.permutation(20)
    channels = np.array(groups)[order]
    scale = rng.uniform(0.5, 5, size=20)[:, None, None, None]  # channels differ in scale, not in shape
    maps = (bases[channels] * scale + 0.05 * rng.normal(size=(20, 2, 6, 6))).transpose(1, 0, 2, 3)
    cl = chans.cluster_maps(maps.astype(np.float32), 3, seed=2**40)  # any seed netbend takes
    assert cl.sizes == [10, 6, 4]  # cluster 0 is the largest
    assert np.array_equal(cl.labels, channels)
    with pytest.raises(NetbendError, match="too few|cannot make"):
        chans.cluster_maps(maps[:, :2], 3, seed=0)


def test_sites_clusters_every_site_that_has_enough_channels(tmp_path, capsys):
    assert main(["sites", "--model", "tiny", "--size", "64x64", "--device", DEVICE, "--clusters", "4",
                 "--preview", str(tmp_path / "prev")]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:] if line.strip()}
    assert rows["vae.decoder.conv_out"][-1] == "-"  # 3 channels: too few for 4 clusters, listed without
    assert rows["latent"][-1] == "-"  # the latent is never clustered
    assert sum(int(v) for v in rows[MID][-4:]) == 64
    assert not (tmp_path / "prev" / "vae.decoder.conv_out.png").exists()
    assert main(["sites", "--model", "tiny", "--size", "64x64", "--clusters", "4", "--site", "vae.decoder.conv_out"]) == 2
    assert "too few for 4 clusters" in capsys.readouterr().err


def test_scene_keys_of_sites_survive_yaml_and_the_dump(tmp_path, wav, capsys):
    from netbend.settings import scene

    clip = wav(0.2)
    (tmp_path / "s.yaml").write_text(f"""
audio: {clip}
output: out.mp4
bends:
  - op: negate
    site: {MID}
    channels: 1:30
""")
    assert scene.load(tmp_path / "s.yaml").bends[0].channels == "1:30"  # not 90 (YAML 1.1's base 60)
    for channels in ["0.25", "0:8", "3,5", "cluster:1/4"]:
        path = tmp_path / f"d{channels.replace(':', '_').replace('/', '_')}.yaml"
        assert main(["render", str(clip), "-o", str(tmp_path / "o.mp4"), "--op", "negate", "--site", MID,
                     "--steps-active", "1:2", "--channels", channels, "--dump-scene", str(path)]) == 0
        bend = scene.load(path).bends[0]
        assert (bend.site, bend.steps_active) == (MID, (1, 2))
        assert str(chans.parse_channels(bend.channels)) == str(chans.parse_channels(channels))
