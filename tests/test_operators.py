import math

import pytest
import torch

from netbend import NetbendError, operators

ROTATIONS = ["rotate_r1", "rotate_r2", "rotate_r3", "rotate_r4"]
# The paper's planes (channel pairs) of R1..R4
PLANES = {"rotate_r1": (1, 2), "rotate_r2": (0, 2), "rotate_r3": (0, 3), "rotate_r4": (0, 1)}


@pytest.fixture
def x():
    return torch.randn(3, 4, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", operators.names())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_shape_and_dtype_kept_batched_and_unbatched(name, dtype, x):
    op = operators.get(name)
    xb = x.to(dtype)
    assert op(xb, 0.7).shape == xb.shape and op(xb, 0.7).dtype == dtype
    assert op(xb[0], 0.7).shape == xb[0].shape and op(xb[0], 0.7).dtype == dtype
    r = torch.tensor([0.1, 0.5, 2.0])
    y = op(xb, r)
    # a (B,) parameter acts per sample: sample i equals the unbatched call with r[i]
    for i in range(3):
        torch.testing.assert_close(y[i], op(xb[i], float(r[i])))


@pytest.mark.parametrize("name", operators.names())
def test_identity_parameter_leaves_input_exactly_unchanged(name, x):
    op = operators.get(name)
    assert torch.equal(op(x, op.spec.identity), x)
    assert torch.equal(op(x), x)  # r omitted means the identity value


def test_add_and_multiply_values(x):
    torch.testing.assert_close(operators.get("add")(x, 2.5), x + 2.5)
    torch.testing.assert_close(operators.get("multiply")(x, -3.0), x * -3.0)


@pytest.mark.parametrize("name", ROTATIONS)
def test_rotation_acts_only_in_its_plane_and_keeps_norm(name, x):
    i, j = PLANES[name]
    y = operators.get(name)(x, 1.1)
    others = [c for c in range(4) if c not in (i, j)]
    assert torch.equal(y[:, others], x[:, others])
    assert not torch.allclose(y[:, [i, j]], x[:, [i, j]])
    torch.testing.assert_close(y.norm(dim=1), x.norm(dim=1))  # orthogonal on the channel vector


@pytest.mark.parametrize("name", ROTATIONS)
def test_rotation_by_two_pi_is_identity_and_angles_add(name, x):
    op = operators.get(name)
    torch.testing.assert_close(op(x, 2 * math.pi), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(op(op(x, 0.4), 0.9), op(x, 1.3), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("name", "to", "frm", "sign"), [
    # The paper: R1, R4 have -sin above the diagonal, R2, R3 +sin; at pi/2 that sends
    # y[j] = +x[i] for R1/R4 and y[i] = +x[j] for R2/R3.
    ("rotate_r1", 2, 1, 1), ("rotate_r4", 1, 0, 1), ("rotate_r2", 0, 2, 1), ("rotate_r3", 0, 3, 1),
    ("rotate_r1", 1, 2, -1), ("rotate_r4", 0, 1, -1), ("rotate_r2", 2, 0, -1), ("rotate_r3", 3, 0, -1),
])
def test_rotation_sign_convention_of_the_paper(name, to, frm, sign, x):
    y = operators.get(name)(x, math.pi / 2)
    torch.testing.assert_close(y[:, to], sign * x[:, frm], atol=1e-6, rtol=0)


def test_registry_entries_carry_the_papers_ranges():
    assert operators.spec("add").default_range == (0.0, 5.0)
    assert operators.spec("multiply").default_range == (0.0, 10.0)
    for name in ROTATIONS:
        entry = operators.spec(name)
        assert entry.default_range == (0.0, 2 * math.pi) and entry.family == "tensor" and entry.description


def test_errors_name_the_bad_value(x):
    with pytest.raises(NetbendError, match="unknown operator 'spin'.*rotate_r1"):
        operators.get("spin")
    with pytest.raises(NetbendError, match="no option channel"):
        operators.get("add", channel=1)
    with pytest.raises(NetbendError, match=r"r of shape"):
        operators.get("add")(x, torch.zeros(5))
    with pytest.raises(NetbendError, match=r"\(C, H, W\)"):
        operators.get("add")(torch.zeros(4, 4), 1.0)
    with pytest.raises(NetbendError, match="at least 4 channels"):
        operators.get("rotate_r3")(torch.zeros(1, 3, 4, 4), 1.0)
