from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.engines.topology import anchor_count, even_anchors, fill_plan
from qsim_topo.errors import EngineOptionError
from qsim_topo.layers import haar_unitary
from qsim_topo.xp import get_xp, to_numpy
from tests.conftest import devices


def _pair(rng, m=16, k=12, n=10):
    a = rng.standard_normal((m, k)) + 1j * rng.standard_normal((m, k))
    b = rng.standard_normal((k, n)) + 1j * rng.standard_normal((k, n))
    return a, b


def test_even_anchors_start_at_zero_and_end_at_the_last_line():
    assert even_anchors(1, 10).tolist() == [0]
    assert even_anchors(4, 10).tolist() == [0, 3, 6, 9]
    assert even_anchors(10, 10).tolist() == list(range(10))
    assert anchor_count(0.25, 16) == 4 and anchor_count(1e-9, 16) == 1


def test_fill_plan_interpolates_between_neighbours():
    left, right, t = fill_plan(np.array([2, 6]), 9, "interp")
    anchors = np.array([2, 6])
    # lines 0,1 copy anchor 2; 3..5 interpolate; 7,8 copy anchor 6
    assert np.allclose(t, [0, 0, 0, 0.25, 0.5, 0.75, 0, 0, 0])
    assert anchors[left].tolist() == [2, 2, 2, 2, 2, 2, 6, 6, 6]
    assert anchors[right].tolist() == [2, 2, 2, 6, 6, 6, 6, 6, 6]
    left, _, t = fill_plan(anchors, 9, "nearest")
    assert anchors[left].tolist() == [2, 2, 2, 2, 2, 6, 6, 6, 6]  # tie at 4 goes down
    assert not t.any()


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("fill", ["interp", "nearest", "zero"])
def test_anchor_lines_are_exact(rng, device, axis, fill):
    xp = get_xp(device)
    a, b = _pair(rng)
    engine = get_engine("topology", axis=axis, fill=fill)
    out = to_numpy(engine.matmul(xp.asarray(a), xp.asarray(b)))
    ref = a @ b
    size = ref.shape[axis]
    anchors = even_anchors(anchor_count(0.25, size), size)
    np.testing.assert_allclose(np.take(out, anchors, axis=axis), np.take(ref, anchors, axis=axis),
                               rtol=1e-13, atol=1e-13)
    others = np.setdiff1d(np.arange(size), anchors)
    assert not np.allclose(np.take(out, others, axis=axis), np.take(ref, others, axis=axis))
    if fill == "zero":
        assert not np.take(out, others, axis=axis).any()


def test_interpolation_is_exact_when_rows_vary_linearly(rng):
    """If the rows of A are affine in the row index, so are the rows of A B: interp is exact."""
    base, slope = rng.standard_normal(12), rng.standard_normal(12)
    a = np.array([base + i * slope for i in range(16)])
    b = rng.standard_normal((12, 6))
    # anchors 0, 5, 10, 15 cover both ends: everything in between is interpolation
    out = get_engine("topology", ratio=0.25, fill="interp").matmul(a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)
    assert not np.allclose(get_engine("topology", ratio=0.25, fill="nearest").matmul(a, b), a @ b)


def test_first_column_exact_with_even_anchors_on_columns():
    """The documented property: column 0 (the image of |0...0>) is always an anchor."""
    u, v = haar_unitary(32, seed=1), haar_unitary(32, seed=2)
    out = get_engine("topology", ratio=0.125, axis=1).matmul(u, v)
    np.testing.assert_allclose(out[:, 0], (u @ v)[:, 0], rtol=1e-13, atol=1e-13)
    # ... while the whole product is a poor approximation of a Haar-random unitary.
    assert np.linalg.norm(out - u @ v) / np.linalg.norm(u @ v) > 0.5


def test_full_ratio_is_exact(rng):
    a, b = _pair(rng)
    for axis in (0, 1):
        out = get_engine("topology", ratio=1.0, axis=axis).matmul(a, b)
        np.testing.assert_allclose(out, a @ b, rtol=1e-13, atol=1e-13)


def test_random_anchors_are_fresh_and_reproducible(rng):
    a, b = _pair(rng, m=40)
    e1 = get_engine("topology", anchors="random", seed=3)
    e2 = get_engine("topology", anchors="random", seed=3)
    s1 = [e1.matmul(a, b) for _ in range(3)]
    s2 = [e2.matmul(a, b) for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(s1, s2, strict=True))
    assert not np.array_equal(s1[0], s1[1])


@pytest.mark.parametrize(
    "options", [{"axis": 2}, {"anchors": "smart"}, {"fill": "cubic"}, {"ratio": 0}]
)
def test_options_are_validated(options):
    with pytest.raises(EngineOptionError):
        get_engine("topology", **options)


def test_flops_fraction():
    frac = get_engine("topology", ratio=0.25).flops_fraction(1024, 1024, 1024)
    assert 0.25 < frac < 0.26
    zero = get_engine("topology", ratio=0.25, fill="zero").flops_fraction(1024, 1024, 1024)
    assert zero == pytest.approx(0.25)
    # axis=1 counts columns: c = round(2.5) = 2 anchor columns of 10, each 8 k m flops, and
    # 6 flops per interpolated entry plus 3 per column for the plan.
    assert anchor_count(0.25, 10) == 2
    assert get_engine("topology", ratio=0.25, axis=1).flops_fraction(4, 8, 10) == pytest.approx(
        (8 * 2 * 8 * 4 + 6 * 8 * 4 + 30) / (8 * 4 * 8 * 10)
    )
