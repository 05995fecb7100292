import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import DEVICE, STEPS, settings
from netbend.cli import main
from netbend.errors import NetbendError
from netbend.jobs.grid import generate, render_grid
from netbend.jobs.render import render
from netbend.settings import Bend, Generation, GridJob
from netbend.settings.grid import parse_layers, parse_option, parse_values


def grid_settings(tmp_path: Path, **kw) -> GridJob:
    base = dict(op="rotate_r1", output=str(tmp_path / "grid.png"), steps=STEPS, size=(64, 64), model="tiny",
                device=DEVICE)
    kw = {**base, **kw}
    gen = {k: kw.pop(k) for k in list(kw) if k in Generation.__dataclass_fields__}
    return GridJob(generation=Generation(**gen), **kw)


def make(s: GridJob, model):
    s.check()
    return generate(s, model)


def load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def one_frame_render(tmp_path: Path, wav, model, name: str, **kw) -> np.ndarray:
    """The single frame `render` makes of a clip one frame long (kept on disk as a PNG)."""
    clip = wav(0.1, name=f"{name}.wav")  # 10 fps: one frame
    s = settings(tmp_path, clip, output=str(tmp_path / f"{name}.mp4"), frames_dir=str(tmp_path / name), **kw)
    assert render(s, model=model)[0].n_frames == 1
    return load(tmp_path / name / "00000.png")


# -- specifications


def test_layer_lists_and_ranges():
    assert parse_layers("0,10,20,30,40,49") == [0, 10, 20, 30, 40, 49]
    assert parse_layers("0:50:5") == list(range(0, 51, 5))  # the paper's 0..50 in steps of 5, both ends shown
    assert parse_layers("0:10:3") == [0, 3, 6, 9]  # 10 is not on the steps
    assert parse_layers("2:4") == [2, 3, 4]
    assert parse_layers("5,0,5") == [5, 0]  # each once, in the order given
    for bad in ["a,b", "0:10:0", "1:2:3:4", ""]:
        with pytest.raises(NetbendError, match="layers"):
            parse_layers(bad)


def test_value_lists_and_ranges_understand_pi():
    np.testing.assert_allclose(parse_values("0:2pi:9"), np.arange(9) * math.pi / 4)  # the paper's rotation rows
    np.testing.assert_allclose(parse_values("0,pi/2,pi,3pi/2"), [0, math.pi / 2, math.pi, 3 * math.pi / 2])
    np.testing.assert_allclose(parse_values("-1:1:5"), [-1, -0.5, 0, 0.5, 1])
    assert parse_values("3:3:1") == [3.0]
    for bad, needle in [("", "empty"), (" , ", "empty"), ("0:1:0", "COUNT"), ("0:1", "START:STOP:COUNT"),
                        ("x", "list"), ("nan", "finite"), ("0:inf:3", "finite"), ("nan:1:2", "finite"),
                        ("pi/0", "list"), ("0:pi/0:3", "list")]:
        with pytest.raises(NetbendError, match=needle):
            parse_values(bad)


def test_option_rows():
    assert parse_option("channel=0,1,2,3") == ("channel", [0, 1, 2, 3])
    assert parse_option("normalize_mean.axis=0, 1,2") == ("normalize_mean.axis", [0, 1, 2])
    for bad in ["channel", "=1,2", "channel="]:
        with pytest.raises(NetbendError, match="option"):
            parse_option(bad)


def test_rows_vary_the_value_or_an_option(tmp_path):
    from netbend.settings.grid import grid_rows

    rows = grid_rows(grid_settings(tmp_path, values=[0, math.pi / 4, math.pi, 2 * math.pi]))
    assert [r.label for r in rows] == ["0", "0.25π", "π", "2π"]
    assert [float(r.r) for r in rows] == pytest.approx([0, math.pi / 4, math.pi, 2 * math.pi])
    rows = grid_rows(grid_settings(tmp_path, op="multiply", values=None))
    assert [float(r.r) for r in rows] == pytest.approx(np.linspace(0, 10, 9))  # multiply's default range 0..10
    rows = grid_rows(grid_settings(tmp_path, op="dilate:k=4 | normalize_mean", option=("axis", [0, 1, 2])))
    assert [str(r.chain) for r in rows] == [f"dilate:k=4 | normalize_mean:axis={a}" for a in range(3)]
    rows = grid_rows(grid_settings(tmp_path, op="rotate_six", values=[0.5]))
    assert rows[0].r.tolist() == [0.5] * 6  # one number per row turns all six planes
    with pytest.raises(NetbendError, match="several operators .* name one, e.g. multiply.fraction"):
        grid_rows(grid_settings(tmp_path, op="multiply | add", option=("fraction", [0.5, 1.0]), values=[2.0]))
    rows = grid_rows(grid_settings(tmp_path, op="multiply | add", option=("add.fraction", [0.5, 1.0]), values=[2.0]))
    assert [str(r.chain) for r in rows] == ["multiply | add:fraction=0.5", "multiply | add:fraction=1.0"]
    assert [float(r.r) for r in rows] == [2.0, 2.0]  # --values' one value is every row's r
    rows = grid_rows(grid_settings(tmp_path, op="multiply:r=3 | add:r=1", option=("add.fraction", [0.5])))
    assert rows[0].r is None  # r fixed in the chain: nothing to drive
    rows = grid_rows(grid_settings(tmp_path, values=[-1.0, 0.0, 1.0, math.pi / 2]))
    assert [r.label for r in rows] == ["-1", "0", "1", "0.5π"]  # plain radians stay plain


@pytest.mark.parametrize("kw, needles", [
    (dict(layers=[0, 4]), ["layer 4", "0..3"]),
    (dict(layers=[-1]), ["layer -1"]),
    (dict(values=[]), ["empty"]),
    (dict(option=("colour", [1, 2])), ["no operator of rotate_r1 has an option 'colour'"]),
    (dict(op="reflect", values=[1.0, 2.0]), ["takes no parameter", "--option"]),
    (dict(op="matrix", values=[1.0]), ["4x4"]),
    (dict(option=("rotate_r1.colour", [1])), ["colour"]),
    (dict(values=[1.0, 2.0], op="reflect", option=("channel", [0, 1])), ["takes no parameter"]),
    (dict(op="multiply", option=("fraction", [0.25, 0.5])), ["give --values one value", "r="]),  # else rows = unbent
    (dict(op="multiply", values=[1.0, 2.0], option=("fraction", [0.25, 0.5])), ["--values and --option"]),
    (dict(option=("r", [0.0, 1.0])), ["--values"]),
    (dict(scheduler="heun"), ["unknown scheduler"]),
    (dict(op="reflect", option=("channel", [0, 7])), ["channel"]),  # outside the latent's 4 channels
    (dict(op="log", values=[0.0]), ["log"]),  # outside the operator's domain
    (dict(output="grid.jpg"), [".png"]),
])
def test_bad_specifications_fail_before_anything_runs(tmp_path, kw, needles):
    if "output" in kw:
        kw["output"] = str(tmp_path / kw["output"])
    with pytest.raises(NetbendError) as e:
        grid_settings(tmp_path, **kw).check()
    for needle in needles:
        assert needle in str(e.value)


@pytest.mark.parametrize("argv, needle", [
    (["--layers", "0,5"], "layer 5 is outside 0..3"),
    (["--values", ""], "--values is empty"),
    (["--values", "0:1:0"], "COUNT"),
    (["--option", "colour=1,2"], "no operator of rotate_r1 has an option 'colour'"),
])
def test_bad_specifications_are_one_line_errors_before_the_model_loads(tmp_path, capsys, argv, needle):
    # the model does not exist: the specification is checked first
    code = main(["grid", "--op", "rotate_r1", "--model", str(tmp_path / "no-model"), "--steps", "3",
                 "-o", str(tmp_path / "g.png"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("netbend: error:") and needle in err, err


# -- cells


@pytest.mark.parametrize("layers, values", [([0, 3], [0.0, 1.0, 2.0]), ([1], [0.5]), ([3, 0, 2, 1], [0.0, 2.0])])
def test_cell_count_layout_and_files(tmp_path, tiny_model, layers, values):
    s = grid_settings(tmp_path, layers=layers, values=values, batch=2)
    g = render_grid(s, model=tiny_model)
    assert g.cells.shape == (len(layers), len(values), 64, 64, 3)
    names = sorted(p.name for p in (tmp_path / "grid").iterdir())
    assert names == sorted(f"layer{k}_{i}.png" for k in layers for i in range(len(values)))
    for j, k in enumerate(layers):  # cell files hold the cells of their column and row
        for i in range(len(values)):
            assert np.array_equal(load(tmp_path / "grid" / f"layer{k}_{i}.png"), g.cells[j, i])
    record = json.loads((tmp_path / "grid.json").read_text())
    assert record["layers"] == layers and [r["value"] for r in record["rows"]] == values
    # the unbent trajectory to the last layer once, then each cell's remaining steps
    assert g.unet_evaluations == max(layers) + sum(len(values) * (STEPS - k) for k in layers)
    assert record["unet_evaluations"] == g.unet_evaluations
    assert g.naive_evaluations == len(layers) * len(values) * STEPS
    if layers != sorted(layers):  # columns in the order given, each with its own layer's cells
        in_order = make(grid_settings(tmp_path, output=str(tmp_path / "sorted.png"), layers=sorted(layers), values=values,
                                      batch=2), tiny_model)
        for j, k in enumerate(layers):
            assert np.array_equal(g.cells[j], in_order.cells[sorted(layers).index(k)])
    # the figure grows with the columns and the rows
    w, h = Image.open(tmp_path / "grid.png").size
    if len(layers) > 1 and len(values) > 1:
        small = render_grid(grid_settings(tmp_path, output=str(tmp_path / "small.png"), layers=layers[:1],
                                          values=values[:1]), model=tiny_model)
        w1, h1 = Image.open(small.files["grid"]).size
        assert w > w1 * 1.3 and h > h1 * 1.3


def test_value_zero_row_of_a_rotation_grid_is_the_unbent_image(tmp_path, wav, tiny_model):
    unbent = one_frame_render(tmp_path, wav, tiny_model, "unbent")
    s = grid_settings(tmp_path, layers=[0, 1, 2, 3], values=[0.0, math.pi, 2 * math.pi], batch=1)
    g = make(s, tiny_model)
    for j in range(4):
        assert np.array_equal(g.cells[j, 0], unbent), f"layer {j}"
        assert not np.array_equal(g.cells[j, 1], unbent)  # pi does bend
        assert np.abs(g.cells[j, 2].astype(int) - unbent).max() <= 2  # 2pi comes back (float sin(2pi) is not 0)
    batched = make(grid_settings(tmp_path, layers=[0, 1, 2, 3], values=[0.0, math.pi, 2 * math.pi], batch=3),
                   tiny_model)
    assert np.abs(batched.cells.astype(int) - g.cells).max() <= 2  # batching changes only float rounding


@pytest.mark.parametrize("scheduler, op, value, layer", [
    ("ddim", "rotate_r1", math.pi / 2, 1),
    ("euler_a", "add_sparse", 2.0, 1),  # a random operator and a random sampler: both streams as in render
    ("dpmpp", "multiply", 2.0, 2),  # a multistep sampler's history, carried over from the shared trajectory
    ("unipc", "rotate_r2", 1.0, STEPS),  # the final latent
])
def test_a_grid_cell_equals_the_same_bend_rendered_alone(tmp_path, wav, tiny_model, scheduler, op, value, layer):
    s = grid_settings(tmp_path, op=op, scheduler=scheduler, layers=[0, layer], values=[0.5, value], batch=1, seed=7)
    g = make(s, tiny_model)
    alone = one_frame_render(tmp_path, wav, tiny_model, "alone", scheduler=scheduler, seed=7,
                             bends=[Bend(op=op, constant=value, layer=layer)])
    assert np.array_equal(g.cells[1, 1], alone)
    assert not np.array_equal(g.cells[1, 0], alone)  # another value, another image


def test_each_cell_of_a_batch_draws_its_own_random_numbers(tmp_path, tiny_model):
    """A random operator in a batch of cells draws as each cell alone: no generator is shared."""
    kw = dict(op="add_sparse", layers=[1], values=[1.0, 2.0, 3.0])
    alone = make(grid_settings(tmp_path, **kw, batch=1), tiny_model)
    batched = make(grid_settings(tmp_path, **kw, batch=3), tiny_model)
    assert np.abs(batched.cells.astype(int) - alone.cells).max() <= 2


def test_option_rows_equal_each_fixed_option_rendered_alone(tmp_path, wav, tiny_model):
    s = grid_settings(tmp_path, op="reflect", option=("channel", [0, 1, 2, 3]), layers=[1], batch=4)
    g = make(s, tiny_model)
    assert [r.label for r in g.rows] == ["0", "1", "2", "3"]
    alone = one_frame_render(tmp_path, wav, tiny_model, "alone", bends=[Bend(op="reflect:channel=2", constant=0.0, layer=1)])
    assert np.abs(g.cells[0, 2].astype(int) - alone).max() <= 2  # batch 4 against batch 1: float rounding only
    assert len({g.cells[0, i].tobytes() for i in range(4)}) == 4


def test_grid_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "figs" / "rot.png"
    argv = ["grid", "--op", "rotate_r1", "--model", "tiny", "--steps", "3", "--size", "64x64", "--layers", "0:3:1",
            "--values", "0:2pi:3", "--device", DEVICE, "--quiet", "-o", str(out)]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "4 columns x 3 rows" in said and f"{3 + 3 * (3 + 2 + 1 + 0)} on the shared trajectory" in said
    assert sorted(p.name for p in (tmp_path / "figs" / "rot").iterdir()) == sorted(
        f"layer{k}_{i}.png" for k in range(4) for i in range(3))
    record = json.loads(out.with_suffix(".json").read_text())
    assert [r["label"] for r in record["rows"]] == ["0", "π", "2π"]
    assert main(argv) == 2 and "exists" in capsys.readouterr().err
    # --overwrite replaces the grid and leaves no cell of the earlier one behind
    assert main([*argv[:-2], "--layers", "1", "--overwrite", "-o", str(out)]) == 0
    assert sorted(p.name for p in (tmp_path / "figs" / "rot").iterdir()) == [f"layer1_{i}.png" for i in range(3)]
