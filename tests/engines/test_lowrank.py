from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.engines.lowrank import LowRankEngine, lowrank_rank
from qsim_topo.errors import EngineOptionError
from qsim_topo.layers import haar_unitary
from qsim_topo.xp import get_xp, to_numpy


def _low_rank_matrix(rng, m, k, rank):
    left = rng.standard_normal((m, rank)) + 1j * rng.standard_normal((m, rank))
    right = rng.standard_normal((rank, k)) + 1j * rng.standard_normal((rank, k))
    return left @ right


def test_rank():
    assert lowrank_rank(0.25, 64, 32) == 8
    assert lowrank_rank(1e-6, 64, 32) == 1
    assert lowrank_rank(1.0, 5, 9) == 5


@pytest.mark.parametrize("oversampling", [0, 5])
def test_exact_on_matrices_of_lower_rank(rng, oversampling):
    a = _low_rank_matrix(rng, 40, 32, 6)
    b = rng.standard_normal((32, 10)) + 1j * rng.standard_normal((32, 10))
    out = get_engine("lowrank", ratio=0.25, oversampling=oversampling, seed=0).matmul(a, b)
    assert np.linalg.norm(out - a @ b) / np.linalg.norm(a @ b) < 1e-10


def test_factors_have_exactly_the_target_rank(rng):
    a = rng.standard_normal((30, 24)) + 1j * rng.standard_normal((30, 24))
    left, right = LowRankEngine(ratio=0.25, oversampling=4, seed=1).factors(a)
    assert left.shape == (30, 6) and right.shape == (6, 24)
    assert np.linalg.matrix_rank(left @ right) == 6


def test_full_ratio_is_exact(rng):
    a = rng.standard_normal((20, 20)) + 1j * rng.standard_normal((20, 20))
    b = rng.standard_normal((20, 7))
    out = get_engine("lowrank", ratio=1.0, seed=0).matmul(a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-10, atol=1e-10)


def test_cannot_beat_eckart_young_on_a_haar_unitary():
    """All singular values of a unitary are 1: any rank-r approximation has relative
    Frobenius error >= sqrt(1 - r/k). A result below that would mean cheating."""
    u = haar_unitary(64, seed=3)
    v = haar_unitary(64, seed=4)
    for ratio in (0.25, 0.5):
        out = get_engine("lowrank", ratio=ratio, seed=0).matmul(u, v)
        rel = np.linalg.norm(out - u @ v) / np.linalg.norm(u @ v)
        assert rel >= np.sqrt(1 - ratio) - 1e-9
        assert rel < np.sqrt(1 - ratio) + 0.2  # and the range finder is not far off


def test_power_iterations_help_when_the_spectrum_decays_slowly(rng):
    m = 80
    u, _ = np.linalg.qr(rng.standard_normal((m, m)))
    v, _ = np.linalg.qr(rng.standard_normal((m, m)))
    a = u @ np.diag(1.0 / np.sqrt(np.arange(1, m + 1))) @ v.T
    b = np.eye(m)

    def err(q):
        e = get_engine("lowrank", ratio=0.1, power_iterations=q, oversampling=2, seed=5)
        return np.mean([np.linalg.norm(e.matmul(a, b) - a) for _ in range(10)])

    assert err(2) < err(0)


def test_fresh_randomness_and_reproducible_sequence(rng):
    a = rng.standard_normal((20, 16)) + 1j * rng.standard_normal((20, 16))
    b = rng.standard_normal((16, 5)) + 1j * rng.standard_normal((16, 5))
    e1, e2 = get_engine("lowrank", seed=7), get_engine("lowrank", seed=7)
    s1 = [e1.matmul(a, b) for _ in range(2)]
    s2 = [e2.matmul(a, b) for _ in range(2)]
    assert all(np.array_equal(x, y) for x, y in zip(s1, s2, strict=True))
    assert not np.array_equal(s1[0], s1[1])


@pytest.mark.parametrize(
    "options", [{"ratio": 1.5}, {"power_iterations": -1}, {"oversampling": 0.5}]
)
def test_options_are_validated(options):
    with pytest.raises(EngineOptionError):
        get_engine("lowrank", **options)


def test_flops_fraction_is_honest():
    # Rank r = k/4 costs the two thin products 2 r / k = 1/2 of exact, plus range finding.
    frac = get_engine("lowrank", ratio=0.25).flops_fraction(1024, 1024, 1024)
    assert frac > 0.5
    more = get_engine("lowrank", ratio=0.25, power_iterations=3).flops_fraction(1024, 1024, 1024)
    assert more > frac


@pytest.mark.gpu
def test_gpu_matches_cpu(rng):
    xp = get_xp("gpu")
    a = _low_rank_matrix(rng, 40, 32, 16) + 0.01 * rng.standard_normal((40, 32))
    b = rng.standard_normal((32, 10)) + 1j * rng.standard_normal((32, 10))
    cpu = get_engine("lowrank", ratio=0.5, seed=1).matmul(a, b)
    gpu = get_engine("lowrank", ratio=0.5, seed=1).matmul(xp.asarray(a), xp.asarray(b))
    np.testing.assert_allclose(to_numpy(gpu), cpu, rtol=1e-8, atol=1e-8)
