"""Chunked measurement statistics against whole-array numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qsim_topo.errors import QsimTopoError
from qsim_topo.sim import measure
from qsim_topo.sim.measure import marginal_probabilities, qubit_weights, sample_outcomes


@pytest.fixture(params=[4, 2**18])
def chunk(request, monkeypatch):
    """Tiny chunks exercise the chunk arithmetic; the default covers the one-chunk case."""
    monkeypatch.setattr(measure, "CHUNK_AMPLITUDES", request.param)
    return request.param


def _state(rng, n):
    psi = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
    return psi / np.linalg.norm(psi)


def _reference_marginal(psi, qubits, n):
    p = (np.abs(psi) ** 2).reshape((2,) * n)
    drop = tuple(n - 1 - q for q in range(n) if q not in qubits)
    return np.sum(p, axis=drop).ravel() if drop else p.ravel()


def test_marginals_match_reference(rng, chunk):
    n = 7
    psi = _state(rng, n)
    for qubits in [[0], [6], [1, 4], [0, 2, 3, 6], list(range(7)), [5, 6]]:
        np.testing.assert_allclose(
            marginal_probabilities(psi, qubits, n), _reference_marginal(psi, qubits, n), atol=1e-14
        )


def test_qubit_weights_match_reference(rng, chunk):
    n = 6
    psi = _state(rng, n) * 1.5  # unnormalised: weights are raw squared norms
    for q in range(n):
        p = _reference_marginal(psi, [q], n)
        np.testing.assert_allclose(qubit_weights(psi, q, n), p, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("qubits", [list(range(6)), [1, 3, 4]])
def test_samples_follow_the_distribution(rng, chunk, qubits, dtype):
    n = 6
    psi = _state(rng, n).astype(dtype)
    p = _reference_marginal(psi, qubits, n)
    draws = sample_outcomes(psi, qubits, n, 200_000, np.random.default_rng(5))
    counts = np.bincount(draws, minlength=p.size)
    assert counts.size == p.size
    chi2 = stats.chisquare(counts, p * counts.sum())
    assert chi2.pvalue > 1e-4


def test_sampling_is_seeded(rng, chunk):
    psi = _state(rng, 5)
    a = sample_outcomes(psi, list(range(5)), 5, 100, np.random.default_rng(3))
    b = sample_outcomes(psi, list(range(5)), 5, 100, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_sampling_never_returns_zero_amplitudes(chunk):
    n = 5
    for index in (0, 7, 31):
        psi = np.zeros(2**n, dtype=complex)
        psi[index] = 1j
        draws = sample_outcomes(psi, list(range(n)), n, 1000, np.random.default_rng(0))
        assert set(draws.tolist()) == {index}


def test_zero_and_nan_states_refused(chunk):
    with pytest.raises(QsimTopoError, match="squared norm"):
        sample_outcomes(np.zeros(8, dtype=complex), [0, 1, 2], 3, 10, np.random.default_rng(0))
    bad = np.full(8, np.nan, dtype=complex)
    with pytest.raises(QsimTopoError, match="squared norm"):
        marginal_probabilities(bad, [0], 3)


def test_one_chunk_draws_are_the_inverse_cdf(rng):
    """A state within one chunk: each draw is the first index whose cumulative weight passes
    u * total, u being the generator's uniforms in order (a zero-weight tail is never drawn)."""
    n = 6
    psi = _state(rng, n)
    psi[-5:] = 0
    weights = np.abs(psi) ** 2
    u = np.random.default_rng(11).random(5000)
    want = np.minimum(
        np.searchsorted(np.cumsum(weights), u * weights.sum(), side="right"), 2**n - 6
    )
    got = sample_outcomes(psi, list(range(n)), n, 5000, np.random.default_rng(11))
    np.testing.assert_array_equal(got, want)
