from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.engines.sampling import (
    CRSamplingEngine,
    inclusion_probabilities,
    sample_count,
    systematic_sample,
)
from qsim_topo.errors import EngineOptionError
from qsim_topo.xp import get_xp, to_numpy


def _pair(rng, m=10, k=30, n=8):
    a = rng.standard_normal((m, k)) + 1j * rng.standard_normal((m, k))
    b = rng.standard_normal((k, n)) + 1j * rng.standard_normal((k, n))
    return a, b


def test_sample_count():
    assert sample_count(0.25, 100) == 25
    assert sample_count(1e-6, 100) == 1
    assert sample_count(1.0, 7) == 7


def test_importance_probabilities(rng):
    a, b = _pair(rng)
    p = CRSamplingEngine().probabilities(a, b)
    w = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(p, w / w.sum(), rtol=1e-12)
    assert np.allclose(CRSamplingEngine(importance=False).probabilities(a, b), 1 / 30)


def test_inclusion_probabilities_cap_and_sum():
    p = np.array([0.5, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0])
    pi = inclusion_probabilities(p, 3)
    assert pi.sum() == pytest.approx(3)
    assert pi[0] == 1.0 and pi[-1] == 0.0  # capped, and never-sampled zero weight
    rest = pi[1:6] / p[1:6]
    assert np.allclose(rest, rest[0])  # proportional below the cap
    assert np.array_equal(inclusion_probabilities(p, 10), (p > 0).astype(float))


def test_systematic_sample_hits_inclusion_probabilities():
    """Each index appears with frequency pi_i (binomial standard error), never twice."""
    p = np.array([0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.02])
    pi = inclusion_probabilities(p, 3)
    rng = np.random.default_rng(0)
    trials = 4000
    counts = np.zeros(p.size)
    for _ in range(trials):
        idx = systematic_sample(rng, pi)
        assert idx.size == 3 and np.unique(idx).size == 3
        counts[idx] += 1
    freq = counts / trials
    se = np.sqrt(pi * (1 - pi) / trials) + 1e-12
    assert np.all(np.abs(freq - pi) <= 4 * se + 1e-9), (freq, pi)


def test_without_replacement_at_full_ratio_is_exact(rng):
    a, b = _pair(rng)
    out = get_engine("cr-sampling", ratio=1.0, replace=False, seed=0).matmul(a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)


def test_with_replacement_at_full_ratio_is_still_random(rng):
    a, b = _pair(rng)
    out = get_engine("cr-sampling", ratio=1.0, seed=0).matmul(a, b)
    assert np.linalg.norm(out - a @ b) > 1e-3 * np.linalg.norm(a @ b)


def test_zero_product_is_zero(rng):
    a, b = _pair(rng)
    a[:, :] = 0
    out = get_engine("cr-sampling", seed=0).matmul(a, b)
    assert out.shape == (10, 8) and not out.any()


def test_structured_zeros_are_never_sampled(rng):
    """Outer products that vanish get p = 0: with two live ones and c >= 2, the result is exact
    without replacement."""
    a, b = _pair(rng)
    a[:, 2:] = 0
    out = get_engine("cr-sampling", ratio=0.1, replace=False, seed=1).matmul(a, b)
    assert sample_count(0.1, 30) == 3
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)


def test_fresh_randomness_and_reproducible_sequence(rng):
    a, b = _pair(rng)
    e1, e2 = get_engine("cr-sampling", seed=3), get_engine("cr-sampling", seed=3)
    s1 = [e1.matmul(a, b) for _ in range(3)]
    s2 = [e2.matmul(a, b) for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(s1, s2, strict=True))
    assert not np.array_equal(s1[0], s1[1])  # successive calls draw fresh indices
    other = get_engine("cr-sampling", seed=4).matmul(a, b)
    assert not np.array_equal(other, s1[0])


def test_importance_beats_uniform_on_skewed_columns(rng):
    a, b = _pair(rng, k=60)
    a[:, :5] *= 30  # a few dominant outer products
    truth = a @ b

    def mse(**o):
        e = get_engine("cr-sampling", ratio=0.2, seed=2, **o)
        return np.mean([np.linalg.norm(e.matmul(a, b) - truth) ** 2 for _ in range(200)])

    assert mse(importance=True) < 0.5 * mse(importance=False)


@pytest.mark.parametrize(
    "options",
    [{"ratio": 0}, {"ratio": 2}, {"ratio": "half"}, {"replace": "no"}, {"importance": 1}],
)
def test_options_are_validated(options):
    with pytest.raises(EngineOptionError):
        get_engine("cr-sampling", **options)


def test_flops_fraction():
    e = get_engine("cr-sampling", ratio=0.25)
    frac = e.flops_fraction(1024, 1024, 1024)
    assert 0.25 < frac < 0.26  # the sampled product plus small overheads
    assert get_engine("cr-sampling", ratio=0.5).flops_fraction(64, 64, 64) > frac
    uniform = get_engine("cr-sampling", ratio=0.25, importance=False)
    assert uniform.flops_fraction(64, 64, 64) < e.flops_fraction(64, 64, 64)


@pytest.mark.gpu
@pytest.mark.parametrize("replace", [True, False])
def test_gpu_samples_the_same_indices(rng, replace):
    xp = get_xp("gpu")
    a, b = _pair(rng, m=16, k=64, n=12)
    cpu = get_engine("cr-sampling", seed=9, replace=replace).matmul(a, b)
    gpu = get_engine("cr-sampling", seed=9, replace=replace).matmul(xp.asarray(a), xp.asarray(b))
    np.testing.assert_allclose(to_numpy(gpu), cpu, rtol=1e-10, atol=1e-10)
