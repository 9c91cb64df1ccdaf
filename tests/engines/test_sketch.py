from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import hadamard

from qsim_topo.engines import get_engine
from qsim_topo.engines.sketch import fwht, sketch_size
from qsim_topo.errors import EngineOptionError
from qsim_topo.xp import get_xp, to_numpy
from tests.conftest import devices

SKETCHES = ["sketch-gaussian", "sketch-srht", "countsketch"]


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("length", [1, 2, 8, 64])
def test_fwht_is_the_hadamard_product(rng, device, length):
    xp = get_xp(device)
    h = hadamard(length)
    x = rng.standard_normal((5, length)) + 1j * rng.standard_normal((5, length))
    x0 = x.copy()
    np.testing.assert_allclose(to_numpy(fwht(xp.asarray(x), axis=1)), x @ h, atol=1e-12)
    np.testing.assert_allclose(to_numpy(fwht(xp.asarray(x.T), axis=0)), h @ x.T, atol=1e-12)
    assert np.array_equal(x, x0)


def test_fwht_refuses_other_lengths():
    with pytest.raises(ValueError, match="power-of-two"):
        fwht(np.ones((2, 6)), axis=1)


@pytest.mark.parametrize("name", SKETCHES)
def test_sketch_is_isotropic_on_average(name):
    """With A = B = I the engine returns S S^T; its mean over sketches is I (per-entry
    tolerance from the entries' own spread)."""
    k, draws = 12, 3000
    eye = np.eye(k)
    engine = get_engine(name, ratio=0.5, seed=0)
    samples = np.stack([engine.matmul(eye, eye) for _ in range(draws)])
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(draws)
    assert np.all(np.abs(mean - eye) <= 5 * se + 1e-12)
    assert not np.allclose(samples[0], eye)  # a single sketch is not the identity


@pytest.mark.parametrize("name", SKETCHES)
def test_fresh_randomness_and_reproducible_sequence(rng, name):
    a = rng.standard_normal((6, 20)) + 1j * rng.standard_normal((6, 20))
    b = rng.standard_normal((20, 4))
    e1, e2 = get_engine(name, seed=5), get_engine(name, seed=5)
    s1 = [e1.matmul(a, b) for _ in range(3)]
    s2 = [e2.matmul(a, b) for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(s1, s2, strict=True))
    assert not np.array_equal(s1[0], s1[1])


def test_srht_pads_non_power_of_two(rng):
    a = rng.standard_normal((5, 37)) + 1j * rng.standard_normal((5, 37))
    b = rng.standard_normal((37, 3)) + 1j * rng.standard_normal((37, 3))
    out = get_engine("sketch-srht", ratio=1.0, seed=1).matmul(a, b)
    # s = k = 37 of K = 64 coordinates: not exact, but far better than a small sketch.
    rel = np.linalg.norm(out - a @ b) / np.linalg.norm(a @ b)
    small = get_engine("sketch-srht", ratio=0.1, seed=1).matmul(a, b)
    assert rel < np.linalg.norm(small - a @ b) / np.linalg.norm(a @ b)


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@pytest.mark.parametrize("name", SKETCHES)
def test_single_precision_stays_single(rng, name, dtype):
    a = rng.standard_normal((6, 16)).astype(dtype)
    b = rng.standard_normal((16, 5)).astype(dtype)
    assert get_engine(name, seed=0).matmul(a, b).dtype == dtype


def test_sketch_size():
    assert sketch_size(0.25, 64) == 16
    assert sketch_size(0.001, 64) == 1


@pytest.mark.parametrize("name", SKETCHES)
def test_options_are_validated(name):
    with pytest.raises(EngineOptionError):
        get_engine(name, ratio=0)
    with pytest.raises(EngineOptionError):
        get_engine(name, sketch="dense")


def test_flops_fractions():
    n = 1024
    # Square products: forming A S and S^T B costs as much as the small product again.
    assert get_engine("sketch-gaussian", ratio=0.25).flops_fraction(n, n, n) == pytest.approx(
        0.5, abs=1e-3
    )
    srht = get_engine("sketch-srht", ratio=0.25).flops_fraction(n, n, n)
    count = get_engine("countsketch", ratio=0.25).flops_fraction(n, n, n)
    assert 0.25 < count < srht < 0.5  # O(k) and O(k log k) sketches are cheap
    for name in SKETCHES:
        lo = get_engine(name, ratio=0.1).flops_fraction(256, 256, 256)
        hi = get_engine(name, ratio=0.9).flops_fraction(256, 256, 256)
        assert lo < hi


@pytest.mark.gpu
@pytest.mark.parametrize("name", SKETCHES)
def test_gpu_uses_the_same_sketch(rng, name):
    xp = get_xp("gpu")
    a = rng.standard_normal((16, 50)) + 1j * rng.standard_normal((16, 50))
    b = rng.standard_normal((50, 12)) + 1j * rng.standard_normal((50, 12))
    cpu = get_engine(name, seed=2).matmul(a, b)
    gpu = get_engine(name, seed=2).matmul(xp.asarray(a), xp.asarray(b))
    np.testing.assert_allclose(to_numpy(gpu), cpu, rtol=1e-10, atol=1e-10)
