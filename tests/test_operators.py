"""Properties of the operator library (hypothesis) and known answers."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from netbend import NetbendError, operators

# The list of registry names: the library must hold every one of them.
PAPER_NAMES = """add subtract multiply add_sparse add_noise threshold binary_threshold soft_threshold inversion
negate absolute log power clamp rescale add_gaussian add_slice add_random_rows add_random_columns rotate_r1
rotate_r2 rotate_r3 rotate_r4 rotate_plane rotate_six reflect hadamard hadamard_spatial matrix expm dilate
erode gradient sobel""".split()
ROTATIONS = ["rotate_r1", "rotate_r2", "rotate_r3", "rotate_r4"]
PLANES = {"rotate_r1": (1, 2), "rotate_r2": (0, 2), "rotate_r3": (0, 3), "rotate_r4": (0, 1)}  # the paper's
FAST = settings(max_examples=25, deadline=None)


def tensor(shape, seed, dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def valid_param(name, batch, seed):
    """A parameter inside the operator's domain, shape (batch, *param_shape)."""
    s = operators.spec(name)
    g = torch.Generator().manual_seed(seed)
    r = torch.rand((batch, *s.param_shape), generator=g)
    if name == "log":
        return 1.5 + 3 * r  # base > 0, != 1
    if name == "power":
        return 1.0 + r.round()  # integer powers: negative inputs stay finite
    return 0.1 + 2 * r  # non-zero (inversion)


def shape_for(name, batch, c, h, w):
    s = operators.spec(name)
    if s.family == "tensor" and name not in ("hadamard_spatial", "expm"):
        c = 4
    if name == "hadamard_spatial":
        w = 8
    if name == "expm":
        h = w
    return (batch, c, h, w)


shapes = st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(2, 9), st.integers(2, 9))
seeds = st.integers(0, 2**31 - 1)


def generators(batch, seed):
    return [torch.Generator().manual_seed(seed + i) for i in range(batch)]


@pytest.mark.parametrize("name", operators.names())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@FAST
@given(shape=shapes, seed=seeds)
def test_shape_dtype_kept_and_batched_r_equals_each_sample_alone(name, dtype, shape, seed):
    s = operators.spec(name)
    full = shape_for(name, *shape)
    x = tensor(full, seed, dtype)
    op = operators.get(name)
    r = valid_param(name, full[0], seed) if s.param_shape is not None else None
    y = op(x, r, generator=generators(full[0], seed))
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert torch.isfinite(y).all()
    for i in range(full[0]):  # sample i alone, with its own generator, gives the same
        alone = op(x[i], None if r is None else r[i], generator=torch.Generator().manual_seed(seed + i))
        torch.testing.assert_close(y[i], alone, atol=1e-3 if dtype == torch.float16 else 1e-5, rtol=1e-3)


@pytest.mark.parametrize("name", [n for n in operators.names() if operators.spec(n).random])
def test_random_operators_are_deterministic_given_generators(name):
    x = tensor((2, 4, 16, 16), 0)
    op = operators.get(name)
    a = op(x, 1.0, generator=generators(2, 5))
    assert torch.equal(a, op(x, 1.0, generator=generators(2, 5)))
    assert not torch.equal(a, op(x, 1.0, generator=generators(2, 6)))


@FAST
@given(shape=shapes, seed=seeds, angles=st.lists(st.floats(-7, 7), min_size=6, max_size=6))
def test_rotate_six_keeps_norm_and_is_periodic(shape, seed, angles):
    x = tensor(shape_for("rotate_six", *shape), seed)
    op = operators.get("rotate_six")
    a = torch.tensor(angles)
    torch.testing.assert_close(op(x, a).norm(dim=1), x.norm(dim=1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(op(x, a + 2 * math.pi), op(x, a), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ROTATIONS + ["rotate_plane"])
@FAST
@given(shape=shapes, seed=seeds, a=st.floats(-7, 7), b=st.floats(-7, 7))
def test_rotations_keep_norm_are_periodic_and_angles_add(name, shape, seed, a, b):
    x = tensor(shape_for(name, *shape), seed)
    op = operators.get(name)
    torch.testing.assert_close(op(x, a).norm(dim=1), x.norm(dim=1), atol=1e-4, rtol=1e-4)
    assert torch.equal(op(x, 0.0), x)
    torch.testing.assert_close(op(x, 2 * math.pi), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(op(op(x, a), b), op(x, a + b), atol=1e-4, rtol=1e-4)


@FAST
@given(shape=shapes, seed=seeds)
def test_involutions_and_identities(shape, seed):
    x = tensor(shape_for("reflect", *shape), seed)
    for channel in range(4):
        reflect = operators.get("reflect", channel=channel)
        assert torch.equal(reflect(reflect(x)), x)
        assert torch.equal(reflect(x)[:, channel], -x[:, channel])
    negate = operators.get("negate")
    assert torch.equal(negate(negate(x)), x)
    assert torch.equal(operators.get("matrix")(x, torch.eye(4)), x)
    assert torch.equal(operators.get("rotate_six")(x, torch.zeros(6)), x)
    threshold = operators.get("threshold")
    once = threshold(x, 0.7)
    assert torch.equal(threshold(once, 0.7), once)


@pytest.mark.parametrize("name", [n for n in operators.names() if operators.spec(n).identity is not None])
def test_identity_parameter_leaves_input_exactly_unchanged(name):
    x = tensor((2, 4, 8, 8), 1)
    op = operators.get(name)
    assert torch.equal(op(x, op.spec.identity, generator=generators(2, 0)), x)
    assert torch.equal(op(x, generator=generators(2, 0)), x)  # r omitted means the identity value


@pytest.mark.parametrize(("name", "to", "frm", "sign"), [
    # The paper: R1, R4 have -sin above the diagonal, R2, R3 +sin; at pi/2 that sends
    # y[j] = +x[i] for R1/R4 and y[i] = +x[j] for R2/R3.
    ("rotate_r1", 2, 1, 1), ("rotate_r4", 1, 0, 1), ("rotate_r2", 0, 2, 1), ("rotate_r3", 0, 3, 1),
    ("rotate_r1", 1, 2, -1), ("rotate_r4", 0, 1, -1), ("rotate_r2", 2, 0, -1), ("rotate_r3", 3, 0, -1),
])
def test_rotation_sign_convention_of_the_paper(name, to, frm, sign):
    x = tensor((3, 4, 5, 5), 2)
    y = operators.get(name)(x, math.pi / 2)
    torch.testing.assert_close(y[:, to], sign * x[:, frm], atol=1e-6, rtol=0)
    i, j = PLANES[name]
    others = [c for c in range(4) if c not in (i, j)]
    assert torch.equal(y[:, others], x[:, others])


def test_rotate_six_is_the_product_of_the_six_plane_rotations():
    x = tensor((1, 4, 3, 3), 3)
    angles = torch.tensor([0.3, -1.1, 0.7, 2.0, 0.1, -0.4])
    expected = x
    # M = R01 R02 R03 R12 R13 R23: the rightmost acts first
    for k, (i, j) in reversed(list(enumerate([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]))):
        expected = operators.get("rotate_plane", i=i, j=j)(expected, float(angles[k]))
    torch.testing.assert_close(operators.get("rotate_six")(x, angles), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(operators.get("rotate_six")(x, angles).norm(dim=1), x.norm(dim=1))


def test_point_wise_known_answers():
    x = torch.tensor([[[[-2.0, -0.5, 0.0, 0.5, 3.0]]]])  # (1, 1, 1, 5)
    get = operators.get
    assert get("subtract")(x, 1.0).tolist() == [[[[-3.0, -1.5, -1.0, -0.5, 2.0]]]]
    assert get("threshold")(x, 0.5).tolist() == [[[[-2.0, -0.5, 0.0, 0.5, 3.0]]]]
    assert get("threshold")(x, 1.0).tolist() == [[[[-2.0, 0.0, 0.0, 0.0, 3.0]]]]
    assert get("binary_threshold")(x, 0.5).tolist() == [[[[0.0, 0.0, 0.0, 1.0, 1.0]]]]
    assert get("soft_threshold")(x, 1.0).tolist() == [[[[-1.0, 0.0, 0.0, 0.0, 2.0]]]]
    assert get("inversion")(x, 0.5).tolist() == [[[[4.0, 2.5, 2.0, 1.5, -1.0]]]]
    assert get("absolute")(x).tolist() == [[[[2.0, 0.5, 0.0, 0.5, 3.0]]]]
    assert get("clamp", lo=-1, hi=1)(x).tolist() == [[[[-1.0, -0.5, 0.0, 0.5, 1.0]]]]
    assert get("rescale", lo=0, hi=10)(x).tolist() == [[[[0.0, 3.0, 4.0, 5.0, 10.0]]]]
    assert get("rescale")(torch.ones(1, 2, 2, 2)).eq(-1).all()  # constant -> lo
    torch.testing.assert_close(get("log")(torch.tensor([[[[8.0, -0.25]]]]), 2.0), torch.tensor([[[[3.0, -2.0]]]]))
    torch.testing.assert_close(get("power")(x, 2.0), x**2)


def test_non_finite_results_follow_one_rule():
    big = torch.finfo(torch.float32).max
    zero_and_neg = torch.tensor([[[[0.0, -4.0]]]])
    tiny = torch.finfo(torch.float32).tiny
    # log: |x| is taken no smaller than the smallest normal float, for any base
    assert get_values("log", zero_and_neg, 2.0) == pytest.approx([math.log2(tiny), 2.0])
    assert get_values("log", zero_and_neg, 0.5) == pytest.approx([-math.log2(tiny), -2.0])
    chained = operators.parse("log:r=2 | normalize_mean | multiply:r=2")(torch.zeros(1, 4, 4, 4))
    assert torch.isfinite(chained).all()  # nothing downstream overflows
    assert get_values("power", zero_and_neg, 0.5) == [0.0, 0.0]  # (-4) ** 0.5 is NaN -> 0
    assert get_values("power", zero_and_neg, -1.0) == [big, -0.25]  # 0 ** -1 is +Inf -> largest finite
    half = torch.ones(1, 1, 1, 1, dtype=torch.float16)
    assert operators.get("inversion")(half, 1e-6).item() == torch.finfo(torch.float16).max  # 1e6 > fp16 max
    # float16 latents: the base is not rounded to half precision before log (1.0004 -> 1)
    y = operators.get("log")(torch.full((1, 1, 1, 1), 2.0, dtype=torch.float16), 1.0004)
    assert y.item() == pytest.approx(math.log(2) / math.log(1.0004), rel=1e-3)
    assert torch.isfinite(operators.get("expm")(torch.full((2, 4, 8, 8), 3.0, dtype=torch.float16))).all()


def get_values(name, x, r):
    return operators.get(name)(x, r).flatten().tolist()


def test_targeted_operators_touch_only_their_targets():
    x = torch.zeros(1, 4, 64, 64)
    row = operators.get("add_slice", axis="row", index=32)(x, 2.0)  # the paper's add_dim1 figure: row 32 of 64
    assert row[:, :, 32].eq(2).all() and row.sum() == 2 * 4 * 64
    ch = operators.get("add_slice", axis="channel", index="1:3")(x, 1.0)
    assert ch[:, 1:3].eq(1).all() and ch[:, [0, 3]].eq(0).all()
    col = operators.get("add_slice", axis="column", index=5)(x, 1.0)
    assert col[..., 5].eq(1).all() and col.sum() == 4 * 64
    rows = operators.get("add_random_rows", fraction=0.25)(x, 1.0, generator=generators(1, 3))
    hit = rows[0, 0, :, 0].eq(1)
    assert rows[0].eq(hit.view(1, -1, 1).float()).all()  # whole rows, all channels, nothing else
    assert 4 <= hit.sum() <= 28
    cols = operators.get("add_random_columns", fraction=0.5)(x, 1.0, generator=generators(1, 4))
    assert cols[0].eq(cols[0, 0, 0].view(1, 1, -1)).all()
    sparse = operators.get("add_sparse")(x, 1.0, generator=generators(1, 0))
    assert 0.04 < sparse.mean().item() < 0.06  # 5 % of 16384 elements, by default


def test_any_point_wise_operator_can_be_restricted():
    x = tensor((2, 4, 16, 16), 5)
    y = operators.get("negate", region="column:3:6")(x)
    torch.testing.assert_close(y[..., 3:6], -x[..., 3:6])
    assert torch.equal(y[..., :3], x[..., :3]) and torch.equal(y[..., 6:], x[..., 6:])
    m = operators.get("multiply", fraction=0.3)(x, 10.0, generator=generators(2, 1))
    changed = (m != x).float().mean().item()
    assert 0.2 < changed < 0.4
    assert torch.equal(m[m != x], (x * 10)[m != x])


def test_add_gaussian_is_the_papers_normal_density():
    y = operators.get("add_gaussian")(torch.zeros(1, 2, 11, 11), 3.0)
    # the paper's bump is the 2-D normal density of sigma 1.5: 1 / (2 pi 1.5^2) = 0.0707 at the centre
    peak = 3.0 / (2 * math.pi * 2.25)
    torch.testing.assert_close(y[0, :, 5, 5], torch.tensor([peak, peak]))  # the centre of a -5..5 grid
    torch.testing.assert_close(y[0, 0, 5, 5 + 1], torch.tensor(peak * math.exp(-1 / (2 * 1.5**2))))
    assert torch.equal(y, y.flip(-1)) and torch.equal(y, y.flip(-2))
    wide = operators.get("add_gaussian")(torch.zeros(1, 1, 7, 11), 1.0)[0, 0]  # the same spacing on both axes
    torch.testing.assert_close(wide[3, 5 + 2], wide[3 + 2, 5])


def test_hadamard_matrices():
    x = tensor((2, 4, 8, 8), 6)
    paper = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=torch.float32)
    torch.testing.assert_close(operators.get("hadamard")(x), torch.einsum("ck,bkhw->bchw", paper, x))  # the default
    h = operators.get("hadamard", normalized=True)
    torch.testing.assert_close(h(h(x)), x, atol=1e-5, rtol=1e-5)  # normalised: orthogonal and symmetric
    torch.testing.assert_close(h(x).norm(dim=1), x.norm(dim=1))
    for axis in ("width", "height"):
        hs = operators.get("hadamard_spatial", axis=axis)
        torch.testing.assert_close(hs(hs(x)), x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(operators.get("hadamard_spatial", normalized=False)(x)[..., 0], x.sum(-1))


def test_expm_known_answers():
    x = torch.zeros(1, 2, 3, 3)
    assert torch.equal(operators.get("expm")(x)[0, 0], torch.eye(3))
    d = torch.diag(torch.tensor([0.0, 1.0, 2.0])).expand(1, 1, 3, 3)
    torch.testing.assert_close(operators.get("expm")(d)[0, 0], torch.diag(torch.tensor([1.0, math.e, math.e**2])))


# --- morphological, on hand-made tensors --------------------------------------------


def impulse():
    x = torch.zeros(1, 2, 5, 5)
    x[0, 0, 2, 2] = 1.0
    x[0, 1] = 0.5  # a constant channel is left alone by every operator below
    return x


def test_dilate_and_erode_known_answers():
    d = operators.get("dilate", k=3)(impulse())
    expected = torch.zeros(5, 5)
    expected[1:4, 1:4] = 1
    assert torch.equal(d[0, 0], expected)
    assert d[0, 1].eq(0.5).all()
    block = torch.zeros(1, 1, 5, 5)
    block[..., 1:4, 1:4] = 1
    e = operators.get("erode", k=3)(block)
    assert e[0, 0].sum() == 1 and e[0, 0, 2, 2] == 1
    g = operators.get("gradient", k=3)(block)[0, 0]
    ring = torch.zeros(5, 5)
    ring[:, :] = 1
    ring[2, 2] = 0  # dilation fills the whole 5x5, erosion keeps only the centre
    assert torch.equal(g, ring)


def test_even_kernel_anchors_like_the_papers_k4():
    # kornia anchors an even element off centre: an impulse at (2, 2) spreads 2 pixels
    # up and left and 1 down and right, as in the paper's k = 4 figures made with kornia
    d = operators.get("dilate", k=4)(impulse())[0, 0]
    expected = torch.zeros(5, 5)
    expected[0:4, 0:4] = 1
    assert torch.equal(d, expected)


def test_channels_last_and_non_contiguous_inputs():
    x = tensor((2, 4, 8, 8), 11)
    cl = x.to(memory_format=torch.channels_last)
    for name in ("expm", "rotate_r1", "dilate", "normalize_l2", "hadamard_spatial"):
        op = operators.get(name)
        r = 0.5 if operators.spec(name).takes_param else None
        torch.testing.assert_close(op(cl, r), op(x, r))
        torch.testing.assert_close(op(x.transpose(2, 3), r), op(x.transpose(2, 3).contiguous(), r))


def test_sobel_known_answer_on_a_step_edge():
    x = torch.zeros(1, 1, 6, 6)
    x[..., 3:] = 1.0  # a vertical edge between columns 2 and 3
    s = operators.get("sobel")(x)[0, 0]
    expected = torch.zeros(6, 6)
    expected[:, 2:4] = 0.5  # (1 + 2 + 1) / 8 on both sides of the edge; borders replicate
    torch.testing.assert_close(s, expected)


# --- normalisations -----------------------------------------------------------------


def test_normalisations():
    x = tensor((2, 4, 6, 6), 7) * 5
    assert operators.get("normalize_max")(x).abs().amax(dim=(1, 2, 3)).tolist() == pytest.approx([1.0, 1.0])
    torch.testing.assert_close(operators.get("normalize_l2")(x).norm(dim=1), torch.ones(2, 6, 6))
    assert operators.get("normalize_mean")(x).mean(dim=(1, 2, 3)).abs().max() < 1e-5
    for axis, dim in ((0, 1), (1, 2), (2, 3), ("row", 2)):
        y = operators.get("normalize_mean", axis=axis)(x)
        assert y.mean(dim=dim).abs().max() < 1e-5
    assert torch.equal(operators.get("normalize_max")(torch.zeros(1, 4, 2, 2)), torch.zeros(1, 4, 2, 2))


# --- chains and parsing ---------------------------------------------------------------


def test_chains_apply_in_order_and_parse_like_python():
    x = tensor((2, 4, 8, 8), 8)
    chain = operators.parse("rotate_r1 | normalize_mean:axis=0")
    expected = operators.get("normalize_mean", axis=0)(operators.get("rotate_r1")(x, 1.3), None)
    torch.testing.assert_close(chain(x, 1.3), expected)
    python = operators.get("rotate_r1") | operators.get("normalize_mean", axis=0)
    torch.testing.assert_close(python(x, 1.3), expected)
    assert str(operators.parse(str(chain))) == str(chain) == "rotate_r1 | normalize_mean:axis=0"
    assert chain.default_range == (0.0, 2 * math.pi) and chain.param_shape == ()
    fixed = operators.parse("add_slice:axis=row,index=2,r=5 | rotate_r4")
    torch.testing.assert_close(fixed(x, 0.4), operators.get("rotate_r4")(operators.get("add_slice", axis="row", index=2)(x, 5.0), 0.4))
    assert operators.parse("multiply:region=row:3:5")(x, 2.0)[:, :, 3:5].equal(x[:, :, 3:5] * 2)
    assert operators.parse("dilate:k=4 | normalize_mean:axis=1").param_shape is None


@pytest.mark.parametrize(("call", "message"), [
    (lambda: operators.get("spinn"), "unknown operator 'spinn'.*rotate_r1"),
    (lambda: operators.get("add", channel=1), "no option channel"),
    (lambda: operators.get("negate", r=1), "takes no parameter"),
    (lambda: operators.get("add")(torch.zeros(2, 4, 4, 4), torch.zeros(5)), r"'add' needs r of shape"),
    (lambda: operators.get("add")(torch.zeros(4, 4), 1.0), r"\(C, H, W\)"),
    (lambda: operators.get("rotate_r3")(torch.zeros(1, 3, 4, 4), 1.0), r"rotate_r3.*at least 4 channels"),
    (lambda: operators.get("inversion")(torch.zeros(1, 4, 2, 2), 0.0), "inversion.*r = 0"),
    (lambda: operators.get("inversion", r=0), "inversion.*r = 0"),
    (lambda: operators.get("log")(torch.zeros(1, 4, 2, 2), 1.0), "'log'.*base.*r = 1"),
    (lambda: operators.get("log")(torch.zeros(1, 4, 2, 2), -2.0), "'log'.*r = -2"),
    (lambda: operators.get("expm")(torch.zeros(1, 4, 2, 3)), "'expm'.*2x3"),
    (lambda: operators.get("add_slice", axis="depth")(torch.zeros(1, 4, 2, 2), 1.0), "'add_slice'.*axis.*'depth'"),
    (lambda: operators.get("add_slice", axis="row", index=64)(torch.zeros(1, 4, 64, 64), 1.0), "'add_slice'.*row index 64:65 is outside 0:64"),
    (lambda: operators.get("reflect", channel=4)(torch.zeros(1, 4, 2, 2)), "'reflect'.*channel"),
    (lambda: operators.get("add", region="diagonal:3"), "'add': region must be AXIS:INDEX.*'diagonal:3'"),
    (lambda: operators.get("multiply", region="row:70")(torch.zeros(1, 4, 64, 64), 2.0), "'multiply': row index 70:71 is outside 0:64"),
    (lambda: operators.get("add", fraction=1.5), "'add': fraction must be in \\[0, 1\\], got 1.5"),
    (lambda: operators.get("clamp", lo=1, hi=0)(torch.zeros(1, 1, 1, 1)), "'clamp' needs lo <= hi, got lo=1"),
    (lambda: operators.get("normalize_mean", axis=3)(torch.zeros(1, 1, 1, 1)), "'normalize_mean': axis must be .*got 3"),
    (lambda: operators.parse("add:r=1/2"), "'add': option r must be a finite number, got '1/2'"),
    (lambda: operators.parse("add:r=nan"), "'add': option r must be a finite number, got nan"),
    (lambda: operators.parse("reflect:channel=true"), "'reflect': option channel must be an integer, got True"),
    (lambda: operators.parse("rotate_plane:i=1.0"), "'rotate_plane': option i must be an integer, got 1.0"),
    (lambda: operators.parse("clamp:lo=nan"), "'clamp': option lo must be a finite number"),
    (lambda: operators.parse("dilate:k=true"), "'dilate': option k must be an integer"),
    (lambda: operators.parse("add:r=1,r=2"), "option r of operator 'add' is given twice"),
    (lambda: operators.get("add_gaussian", sigma=0.0)(torch.zeros(1, 1, 3, 3), 1.0), "'add_gaussian': sigma must be positive"),
    (lambda: operators.get("hadamard_spatial")(torch.zeros(1, 4, 4, 6)), "power-of-two size, got 6"),
    (lambda: operators.get("dilate", k=0), None),  # k is checked when applied
    (lambda: operators.parse("rotate_r1 |"), "empty operator"),
    (lambda: operators.parse("add:k"), "must look like key=value"),
    (lambda: operators.parse("rotate_six | add"), "different shapes"),
])
def test_errors_name_the_operator_parameter_and_value(call, message):
    if message is None:
        with pytest.raises(NetbendError, match="k must be a positive integer"):
            call()(torch.zeros(1, 1, 3, 3))
        return
    with pytest.raises(NetbendError, match=message):
        call()


def test_registry_covers_the_paper_with_its_ranges():
    assert set(PAPER_NAMES) <= set(operators.names())
    ranges = {"add": (0, 5), "subtract": (0, 5), "multiply": (0, 10), "add_noise": (0, 3), "threshold": (0, 4),
              "soft_threshold": (0, 2), "inversion": (0, 5), "log": (0, 10)}
    for name, span in ranges.items():
        entry = operators.spec(name)
        assert (entry.paper_range or entry.default_range) == span
    # where the paper's range reaches an undefined value, the default stops short of it
    assert operators.spec("inversion").default_range[0] > 0 and operators.spec("log").default_range[0] > 1
    for name in ROTATIONS:
        assert operators.spec(name).default_range == (0.0, 2 * math.pi)
    for name in operators.names():
        entry = operators.spec(name)
        assert entry.family in operators.FAMILIES and entry.description
    assert operators.spec("rotate_six").param_shape == (6,) and operators.spec("matrix").param_shape == (4, 4)


def test_operators_are_vectorised_over_a_large_latent():
    # a Python loop over 4 x 512 x 512 elements would take seconds; each operator takes milliseconds
    import time

    x = tensor((1, 4, 512, 512), 9)
    for name in operators.names():
        s = operators.spec(name)
        if name in ("expm", "hadamard_spatial"):
            continue  # O(n^3) matrix work by definition
        r = valid_param(name, 1, 0) if s.param_shape is not None else None
        t0 = time.perf_counter()
        operators.get(name)(x, r, generator=generators(1, 0))
        assert time.perf_counter() - t0 < 1.0, name
