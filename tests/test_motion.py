"""Motion operators (zoom, pan_x, pan_y, spin, affine): exact cases, known answers, borders."""

import math

import pytest
import torch

from netbend import NetbendError, operators

MOTION = ["zoom", "pan_x", "pan_y", "spin", "affine"]
MODES = ["wrap", "reflect", "border", "zeros"]
SOME_R = {"zoom": 1.3, "pan_x": 2.5, "pan_y": -1.5, "spin": 33.0, "affine": 0.6}
AFFINE = {"zoom": 1.5, "pan_x": 3.0, "pan_y": -2.0, "spin": 40.0}  # options that make affine move


def tensor(shape, seed, dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def spiky(shape, seed, dtype=torch.float32):
    """Random values with exact zeros and large values side by side: a weight of 1e-16 on
    a neighbour would show as a non-zero where a zero belongs."""
    x = tensor(shape, seed) * 100
    x[..., ::3] = 0.0
    return x.to(dtype)


def smooth(n):
    """(1, 2, n, n), amplitude 1, wavelengths 32 to 48 pixels: |f_xx| + |f_yy| <= (2 pi / 32)^2
    + (2 pi / 40)^2 = 0.063, so one bilinear interpolation is off by at most 0.063 / 8 = 0.0079."""
    i = torch.arange(n, dtype=torch.float32)
    yy, xx = torch.meshgrid(i, i, indexing="ij")
    return torch.stack([torch.sin(2 * math.pi * xx / 32) * torch.cos(2 * math.pi * yy / 40),
                        torch.cos(2 * math.pi * (xx + yy) / 48)])[None]


ONE_INTERPOLATION = 0.0079  # see `smooth`


def op(name, **options):
    if name == "affine":
        options = {**AFFINE, **options}
    return operators.get(name, **options)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", MOTION)
def test_neutral_r_leaves_the_input_exactly_unchanged(name, mode):
    x = spiky((3, 5, 7, 6), 0)
    o = op(name, mode=mode)
    identity = operators.spec(name).identity
    assert torch.equal(o(x, identity), x)
    assert torch.equal(o(x), x)  # r omitted: the identity
    mixed = torch.tensor([identity, SOME_R[name], identity])
    y = o(x, mixed)
    assert torch.equal(y[0], x[0]) and torch.equal(y[2], x[2])
    assert not torch.equal(y[1], x[1])  # the moved sample did move


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("shift", [1, 3, -2, -7, 12])
def test_pan_by_whole_pixels_with_wrap_is_roll(shift, dtype):
    x = spiky((2, 3, 5, 9), 1, dtype)
    assert torch.equal(operators.get("pan_x")(x, float(shift)), torch.roll(x, shift, dims=-1))
    assert torch.equal(operators.get("pan_y")(x, float(shift)), torch.roll(x, shift, dims=-2))
    both = operators.parse(f"pan_x:r={shift} | pan_y:r={-shift}")(x)
    assert torch.equal(both, torch.roll(x, (shift, -shift), dims=(-1, -2)))


@pytest.mark.parametrize("name", MOTION)
def test_each_sample_of_a_batch_moves_by_its_own_r(name):
    x = tensor((4, 5, 8, 7), 2)
    r = {"zoom": [0.6, 1.0, 1.7, 2.5], "pan_x": [-3.5, 0.0, 1.25, 9.0], "pan_y": [-3.5, 0.0, 1.25, 9.0],
         "spin": [-45.0, 0.0, 90.0, 200.0], "affine": [-0.5, 0.0, 0.3, 1.0]}[name]
    o = op(name)
    y = o(x, torch.tensor(r))
    for i in range(4):
        assert torch.equal(y[i], o(x[i], r[i]))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [6, 7])
def test_spin_by_right_angles_is_rot90_counter_clockwise(n, mode):
    # torch.rot90(k=1, dims=(-2, -1)) turns the picture counter-clockwise as seen with row 0
    # at the top: the top-right element goes to the top-left corner
    x = spiky((2, 3, n, n), 3)
    spin = operators.get("spin", mode=mode)
    for degrees, k in ((90, 1), (180, 2), (270, 3), (-90, -1), (450, 1)):
        assert torch.equal(spin(x, float(degrees)), torch.rot90(x, k, dims=(-2, -1))), degrees
    assert torch.equal(spin(x, 360.0), x)
    assert torch.equal(spin(x, -720.0), x)
    corner = torch.zeros(1, 1, n, n)
    corner[..., 0, n - 1] = 1.0  # top right
    assert spin(corner, 90.0)[0, 0, 0, 0] == 1.0  # -> top left


def test_spin_angles_add_on_the_interior():
    # Two resamplings against one: on `smooth` each bilinear interpolation is off by at most
    # ONE_INTERPOLATION, so the two sides differ by at most three of them. Inside the disc
    # every sample of both spins lies in the picture, so the mode plays no part.
    x = smooth(64)
    spin = operators.get("spin")
    c = 31.5
    i = torch.arange(64.0)
    disc = (i.view(-1, 1) - c) ** 2 + (i.view(1, -1) - c) ** 2 <= (c - 1) ** 2
    for a, b in ((30.0, 45.0), (30.0, -45.0), (100.0, 17.0)):
        diff = (spin(spin(x, a), b) - spin(x, a + b))[..., disc].abs().max()
        assert diff <= 3 * ONE_INTERPOLATION, (a, b, diff)
        assert (spin(spin(x, a), b) - spin(x, a - b))[..., disc].abs().max() > 0.5  # the test can tell


def test_zoom_magnifies_about_the_centre():
    x = torch.arange(9.0).view(1, 1, 1, 9).expand(1, 2, 9, 9)  # column index; centre column 4
    y = operators.get("zoom")(x, 2.0)
    assert y[0, 0, 4].tolist() == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0]  # c + (p - c) / 2
    y = operators.get("zoom", mode="zeros")(x, 0.5)  # shrinks: c + 2 (p - c); outside is 0
    assert y[0, 0, 4].tolist() == [0.0, 0.0, 0.0, 2.0, 4.0, 6.0, 8.0, 0.0, 0.0]
    assert y[0, 0, :2].eq(0).all() and y[0, 0, 7:].eq(0).all()


def test_zoom_in_then_out_gives_back_the_inner_half():
    zoom = operators.get("zoom")
    # odd size: the centre is a pixel, zoom 0.5 reads whole pixels of the zoomed picture,
    # which show the input at whole pixels: exact
    x = spiky((1, 3, 65, 65), 4)
    assert torch.equal(zoom(zoom(x, 2.0), 0.5)[..., 16:49, 16:49], x[..., 16:49, 16:49])
    # even size: samples fall at quarter and half pixels, two interpolations on the way back
    x = smooth(64)
    diff = (zoom(zoom(x, 2.0), 0.5) - x)[..., 16:48, 16:48].abs().max()
    assert diff <= 2 * ONE_INTERPOLATION


def test_zoom_values_multiply_when_accumulated():
    assert operators.spec("zoom").accumulate == "multiply"
    assert all(operators.spec(n).accumulate == "add" for n in ("pan_x", "pan_y", "spin", "affine", "add", "rotate_r1"))
    x = spiky((1, 2, 65, 65), 5)
    zoom = operators.get("zoom")
    # zoom 2 of zoom 2 reads the first at half pixels, where it is linear between its whole
    # pixels, so the composition equals zoom 4 up to rounding (1 float32 ulp, rtol 1e-6)
    torch.testing.assert_close(zoom(zoom(x, 2.0), 2.0)[..., 24:41, 24:41], zoom(x, 4.0)[..., 24:41, 24:41],
                               rtol=1e-6, atol=1e-9)
    assert (zoom(zoom(x, 2.0), 2.0) - zoom(x, 2.0))[..., 24:41, 24:41].abs().max() > 1  # the test can tell


def test_affine_is_the_composition_of_the_operators_it_names():
    # amount 0.5 of (zoom 4, spin 180, pan 6, -4) = zoom 2, then spin 90, then pan (3, -2). After
    # the zoom the steps move whole pixels, so inside (away from the pan's uncovered edge,
    # where the composition reflects an intermediate picture) both sides sample the input at
    # the same points; they differ only by float64 rounding of those points (atol 1e-6).
    x = tensor((2, 3, 32, 32), 6)
    y = operators.get("affine", zoom=4.0, spin=180.0, pan_x=6.0, pan_y=-4.0)(x, 0.5)
    z = operators.get("zoom")(x, 2.0)
    z = operators.get("spin")(z, 90.0)
    z = operators.get("pan_x", mode="reflect")(z, 3.0)
    z = operators.get("pan_y", mode="reflect")(z, -2.0)
    torch.testing.assert_close(y[..., :-2, 3:], z[..., :-2, 3:], atol=1e-6, rtol=0)
    assert (y - operators.get("affine", zoom=4.0, spin=180.0, pan_x=6.0, pan_y=-4.0)(x, 1.0)).abs().max() > 0.5


def test_zeros_fills_what_a_pan_uncovers():
    x = tensor((2, 3, 6, 8), 7)
    y = operators.get("pan_x", mode="zeros")(x, 3.0)
    assert y[..., :3].eq(0).all() and torch.equal(y[..., 3:], x[..., :-3])
    y = operators.get("pan_y", mode="zeros")(x, -2.0)
    assert y[..., -2:, :].eq(0).all() and torch.equal(y[..., :-2, :], x[..., 2:, :])
    y = operators.get("pan_x", mode="zeros")(x, 0.5)  # the first column is half the edge pixel, half zero
    torch.testing.assert_close(y[..., 0], 0.5 * x[..., 0])


def test_wrap_interpolates_across_the_seam():
    x = tensor((1, 2, 4, 6), 8)
    y = operators.get("pan_x")(x, 0.5)
    torch.testing.assert_close(y[..., 0], 0.5 * (x[..., -1] + x[..., 0]))
    torch.testing.assert_close(y[..., 3], 0.5 * (x[..., 2] + x[..., 3]))
    torch.testing.assert_close(operators.get("pan_y")(x, -0.25)[..., -1, :], 0.75 * x[..., -1, :] + 0.25 * x[..., 0, :])


def test_reflect_mirrors_about_the_edge_pixels_and_border_repeats_them():
    x = torch.arange(6.0).view(1, 1, 1, 6).expand(1, 1, 3, 6)
    assert operators.get("pan_x", mode="reflect")(x, 2.0)[0, 0, 0].tolist() == [2.0, 1.0, 0.0, 1.0, 2.0, 3.0]
    assert operators.get("pan_x", mode="reflect")(x, -7.0)[0, 0, 0].tolist() == [3.0, 2.0, 1.0, 0.0, 1.0, 2.0]
    assert operators.get("pan_x", mode="border")(x, 2.0)[0, 0, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
    assert operators.get("pan_x", mode="border")(x, -2.5)[0, 0, 0].tolist() == [2.5, 3.5, 4.5, 5.0, 5.0, 5.0]


def test_default_modes_and_the_registry_entries():
    defaults = {"zoom": "reflect", "pan_x": "wrap", "pan_y": "wrap", "spin": "reflect", "affine": "reflect"}
    for name, mode in defaults.items():
        entry = operators.spec(name)
        assert entry.family == "motion" and entry.options["mode"] == mode and entry.channels is None
        assert entry.param_shape == () and entry.default_range[0] == entry.identity
    assert operators.spec("affine").options == {"zoom": 1.0, "pan_x": 0.0, "pan_y": 0.0, "spin": 0.0, "mode": "reflect"}
    assert operators.spec("zoom").default_range == (1.0, 1.5) and operators.spec("spin").default_range == (0.0, 360.0)
    families = operators.FAMILIES
    assert families.index("motion") == families.index("morphological") + 1
    listing = operators.describe()
    assert all(name in listing for name in MOTION)
    chain = operators.parse("zoom:mode=zeros | spin:r=90")
    x = spiky((1, 2, 7, 7), 9)
    assert torch.equal(chain(x, 1.0), torch.rot90(x, 1, dims=(-2, -1)))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: operators.get("zoom")(torch.zeros(1, 4, 4, 4), 0.0), r"'zoom' needs a scale r > 0, got r = 0"),
    (lambda: operators.get("zoom")(torch.zeros(2, 4, 4, 4), torch.tensor([1.0, -2.0])), r"'zoom'.*got r = -2"),
    (lambda: operators.get("zoom", r=0), r"'zoom' needs a scale r > 0"),
    (lambda: operators.get("affine", zoom=0.0)(torch.zeros(1, 4, 4, 4), 0.5), r"'affine': zoom must be positive, got 0"),
    (lambda: operators.parse("spin:mode=mirror")(torch.zeros(1, 4, 4, 4), 5.0),
     r"^operator 'spin': mode must be one of wrap, reflect, border, zeros, got 'mirror'$"),
])
def test_errors_name_the_operator_and_value(call, message):
    with pytest.raises(NetbendError, match=message):
        call()


@pytest.mark.parametrize("name", MOTION)
def test_unknown_mode_is_an_error_for_every_operator(name):
    with pytest.raises(NetbendError, match=f"'{name}': mode must be one of .*got 'circular'"):
        op(name, mode="circular")(torch.zeros(1, 1, 4, 4), SOME_R[name])
