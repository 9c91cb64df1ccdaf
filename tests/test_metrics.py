from __future__ import annotations

import numpy as np
import pytest

from qsim_topo import metrics
from qsim_topo.layers import haar_unitary
from qsim_topo.xp import get_xp
from tests.conftest import devices


def _haar_state(rng, dim):
    v = rng.standard_normal(dim) + 1j * rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def test_global_scale_error_gives_the_published_pair(rng):
    """approx = 2.0982 * ref: Frobenius error 1.0982, aligned 0, fidelity 1."""
    u = haar_unitary(64, seed=1)
    approx = 2.0982 * u
    assert metrics.frobenius_error(u, approx) == pytest.approx(1.0982, abs=1e-12)
    assert metrics.aligned_frobenius_error(u, approx) < 1e-14
    assert metrics.process_fidelity(u, approx) == pytest.approx(1.0, abs=1e-14)
    assert metrics.state_fidelity(u[:, 0], approx[:, 0]) == pytest.approx(1.0, abs=1e-14)
    assert metrics.norm(approx[:, 0]) == pytest.approx(2.0982, abs=1e-12)
    assert metrics.overlap(u[:, 0], approx[:, 0]) == pytest.approx(2.0982**2, abs=1e-12)


def test_global_phase_is_aligned_away(rng):
    u = haar_unitary(16, seed=2)
    approx = np.exp(0.7j) * u
    assert metrics.frobenius_error(u, approx) == pytest.approx(abs(np.exp(0.7j) - 1), abs=1e-12)
    assert metrics.aligned_frobenius_error(u, approx) < 1e-14


def test_aligned_error_keeps_small_errors_digits(rng):
    u = haar_unitary(32, seed=3)
    noise = 1e-9 * (rng.standard_normal(u.shape) + 1j * rng.standard_normal(u.shape))
    exact_err = np.linalg.norm(noise) / np.linalg.norm(u)
    aligned = metrics.aligned_frobenius_error(u, u + noise)
    # Aligning can only reduce the error, and for random noise only slightly.
    assert 0.9 * exact_err < aligned <= exact_err * (1 + 1e-9)


def test_column_zero_exact_operator_is_exposed(rng):
    """Exact on column 0 only: fidelity 1 on |0...0>, low on Haar-random inputs."""
    dim = 64
    u = haar_unitary(dim, seed=4)
    approx = haar_unitary(dim, seed=5)
    approx[:, 0] = u[:, 0]
    assert metrics.state_fidelity(u[:, 0], approx[:, 0]) == pytest.approx(1.0, abs=1e-14)
    hif = metrics.haar_input_fidelity(u, approx, n_states=32, seed=0)
    assert hif < 0.2
    assert metrics.haar_input_fidelity(u, u, n_states=8, seed=0) == pytest.approx(1.0, abs=1e-12)


def test_haar_input_fidelity_of_a_depolarised_unitary_matches_closed_form(rng):
    """approx = U + eps*V (V independent Haar): E[F] over Haar inputs ~ 1/(1+eps^2)."""
    dim, eps = 256, 0.5
    u = haar_unitary(dim, seed=6)
    v = haar_unitary(dim, seed=7)
    got = metrics.haar_input_fidelity(u, u + eps * v, n_states=64, seed=1)
    assert got == pytest.approx(1 / (1 + eps**2), abs=0.03)


def test_fidelity_edge_cases():
    a = np.array([1, 0], dtype=complex)
    assert metrics.state_fidelity(a, np.zeros(2, dtype=complex)) == 0.0
    assert metrics.state_fidelity(a, np.array([0, 1j])) == 0.0
    assert metrics.state_fidelity(a, np.array([1, 1]) / np.sqrt(2)) == pytest.approx(0.5)
    assert metrics.aligned_frobenius_error(np.eye(2), np.zeros((2, 2))) == 1.0


def test_exact_sampler_xeb_falls_inside_ideal_band_and_uniform_near_zero(rng):
    dim, shots = 2**10, 2000
    psi = _haar_state(rng, dim)
    p = metrics.probabilities(psi)
    mean, std = metrics.ideal_xeb_band(p, shots)
    assert mean == pytest.approx(dim * np.sum(p**2) - 1)
    xebs = np.array([
        metrics.linear_xeb(metrics.sample_bitstrings(psi, shots, seed=s), p) for s in range(200)
    ])
    # The band is the exact sampler's distribution: check its mean and spread empirically.
    assert abs(xebs.mean() - mean) < 4 * std / np.sqrt(len(xebs))
    assert xebs.std(ddof=1) == pytest.approx(std, rel=0.15)
    uniform = rng.integers(dim, size=shots)
    # A uniform sampler's XEB has mean 0 and standard deviation sqrt(D sum p^2 - 1) / sqrt(M).
    assert abs(metrics.linear_xeb(uniform, p)) < 5 * np.sqrt(mean / shots)
    assert abs(metrics.linear_xeb(uniform, p) - mean) > 5 * std
    # Porter-Thomas: the ideal mean is close to 1 for a Haar state.
    assert mean == pytest.approx(1.0, abs=0.15)


def test_infinite_sample_xeb_and_log_xeb(rng):
    dim = 2**12
    psi = _haar_state(rng, dim)
    p = metrics.probabilities(psi)
    assert metrics.linear_xeb_from_probs(p, p) == pytest.approx(dim * np.sum(p**2) - 1)
    assert metrics.linear_xeb_from_probs(np.full(dim, 1 / dim), p) == pytest.approx(0.0, abs=1e-12)
    ideal = metrics.log_xeb(metrics.sample_bitstrings(psi, 20000, seed=1), p)
    uniform = metrics.log_xeb(rng.integers(dim, size=20000), p)
    assert ideal == pytest.approx(1.0, abs=0.05)
    assert uniform == pytest.approx(0.0, abs=0.05)
    p0 = p.copy()
    p0[0] = 0.0
    assert metrics.log_xeb(np.array([0]), p0) == float("-inf")


def test_tvd_and_probabilities():
    assert metrics.total_variation_distance([1, 0], [0, 1]) == 1.0
    assert metrics.total_variation_distance([0.5, 0.5], [0.5, 0.5]) == 0.0
    with pytest.raises(ValueError):
        metrics.total_variation_distance([1, 0], [1, 0, 0])
    assert np.allclose(metrics.probabilities(np.array([3, 4j])), [0.36, 0.64])
    with pytest.raises(ValueError, match="squared norm"):
        metrics.probabilities(np.zeros(4))


def test_sampling_is_seeded_and_follows_the_distribution(rng):
    psi = np.sqrt(np.array([0.7, 0.2, 0.1, 0.0], dtype=complex))
    a = metrics.sample_bitstrings(psi, 10000, seed=3)
    b = metrics.sample_bitstrings(psi, 10000, seed=3)
    assert np.array_equal(a, b) and a.dtype == np.int64
    freq = np.bincount(a, minlength=4) / a.size
    assert np.allclose(freq, [0.7, 0.2, 0.1, 0.0], atol=0.02)
    assert freq[3] == 0.0


@pytest.mark.parametrize("device", devices())
def test_metrics_run_on_the_arrays_device(device):
    xp = get_xp(device)
    u = xp.asarray(haar_unitary(16, seed=9))
    assert isinstance(metrics.frobenius_error(u, 2 * u), float)
    assert metrics.aligned_frobenius_error(u, 2 * u) < 1e-14
    assert metrics.haar_input_fidelity(u, u, n_states=4, seed=0) == pytest.approx(1.0)


def test_bad_inputs_raise_instead_of_returning_numbers():
    u = haar_unitary(4, seed=1)
    with pytest.raises(ValueError, match="shapes"):
        metrics.state_fidelity(np.ones(4), np.ones((2, 2)))
    with pytest.raises(ValueError, match="reference is zero"):
        metrics.frobenius_error(np.zeros((2, 2)), np.eye(2))
    with pytest.raises(ValueError, match="basis indices"):
        metrics.linear_xeb([-1], np.full(4, 0.25))
    with pytest.raises(ValueError, match="at least one sample"):
        metrics.log_xeb([], np.full(4, 0.25))
    bad = u.copy()
    bad[1, 1] = np.nan
    assert np.isnan(metrics.haar_input_fidelity(u, bad, n_states=4, seed=0))
    real = np.eye(4)
    assert metrics.haar_input_fidelity(real, real, n_states=4, seed=0) == pytest.approx(1.0)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_compare_states_matches_numpy_closed_forms(rng, chunk, dtype):
    ref = _haar_state(rng, 64)
    approx = (1.7 * ref + 0.3 * _haar_state(rng, 64)).astype(dtype)
    c = metrics.compare_states(ref, approx, chunk=chunk)
    a = approx.astype(np.complex128)
    p = np.abs(ref) ** 2
    q = np.abs(a) ** 2 / np.sum(np.abs(a) ** 2)
    assert c.inner == pytest.approx(np.vdot(ref, a), rel=1e-12)
    assert c.approx_norm2 == pytest.approx(np.sum(np.abs(a) ** 2), rel=1e-12)
    assert c.tvd == pytest.approx(0.5 * np.abs(p - q).sum(), rel=1e-12)
    assert c.collision == pytest.approx(np.sum(p * p), rel=1e-12)
    assert c.cube == pytest.approx(np.sum(p**3), rel=1e-12)
    assert c.cross == pytest.approx(np.dot(p, q), rel=1e-12)
    assert c.fidelity == pytest.approx(metrics.state_fidelity(ref, a), rel=1e-12)
    zero = metrics.compare_states(ref, np.zeros(64, dtype=dtype), chunk=chunk)
    assert zero.fidelity == 0.0 and zero.tvd == 1.0
    with pytest.raises(ValueError, match="reference"):
        metrics.compare_states(np.zeros(4), np.ones(4))


def test_xeb_of_sample_probabilities_matches_the_full_distribution_forms(rng):
    p = np.abs(_haar_state(rng, 32)) ** 2
    drawn = rng.choice(32, size=500, p=p)
    assert metrics.linear_xeb_of_probs(p[drawn], 32) == pytest.approx(
        metrics.linear_xeb(drawn, p), rel=1e-12
    )
    assert metrics.log_xeb_of_probs(p[drawn], 32) == pytest.approx(
        metrics.log_xeb(drawn, p), rel=1e-12
    )
    assert metrics.log_xeb_of_probs(np.array([0.0, 0.1]), 32) == float("-inf")
