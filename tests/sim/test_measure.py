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


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    """The compiled kernels (where numba loads) and the numpy code they replace."""
    if request.param == "numpy":
        monkeypatch.setattr(measure, "_numba", lambda: None)
    elif measure._numba() is None:
        pytest.skip("numba cannot load here")
    return request.param


def _state(rng, n):
    psi = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
    return psi / np.linalg.norm(psi)


def _reference_marginal(psi, qubits, n):
    p = (np.abs(psi) ** 2).reshape((2,) * n)
    drop = tuple(n - 1 - q for q in range(n) if q not in qubits)
    return np.sum(p, axis=drop).ravel() if drop else p.ravel()


def test_marginals_match_reference(rng, chunk, path):
    n = 7
    psi = _state(rng, n)
    for qubits in [[0], [6], [1, 4], [0, 2, 3, 6], list(range(7)), [5, 6]]:
        np.testing.assert_allclose(
            marginal_probabilities(psi, qubits, n), _reference_marginal(psi, qubits, n), atol=1e-14
        )


def test_qubit_weights_match_reference(rng, chunk, path):
    n = 6
    psi = _state(rng, n) * 1.5  # unnormalised: weights are raw squared norms
    for q in range(n):
        p = _reference_marginal(psi, [q], n)
        np.testing.assert_allclose(qubit_weights(psi, q, n), p, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("qubits", [list(range(6)), [1, 3, 4]])
def test_samples_follow_the_distribution(rng, chunk, qubits, dtype, path):
    n = 6
    psi = _state(rng, n).astype(dtype)
    p = _reference_marginal(psi, qubits, n)
    draws = sample_outcomes(psi, qubits, n, 200_000, np.random.default_rng(5))
    counts = np.bincount(draws, minlength=p.size)
    assert counts.size == p.size
    chi2 = stats.chisquare(counts, p * counts.sum())
    assert chi2.pvalue > 1e-4


def test_sampling_is_seeded(rng, chunk, path):
    psi = _state(rng, 5)
    a = sample_outcomes(psi, list(range(5)), 5, 100, np.random.default_rng(3))
    b = sample_outcomes(psi, list(range(5)), 5, 100, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_sampling_never_returns_zero_amplitudes(chunk, path):
    n = 5
    for index in (0, 7, 31):
        psi = np.zeros(2**n, dtype=complex)
        psi[index] = 1j
        draws = sample_outcomes(psi, list(range(n)), n, 1000, np.random.default_rng(0))
        assert set(draws.tolist()) == {index}


def test_zero_and_nan_states_refused(chunk, path):
    with pytest.raises(QsimTopoError, match="squared norm"):
        sample_outcomes(np.zeros(8, dtype=complex), [0, 1, 2], 3, 10, np.random.default_rng(0))
    bad = np.full(8, np.nan, dtype=complex)
    with pytest.raises(QsimTopoError, match="squared norm"):
        marginal_probabilities(bad, [0], 3)


def test_one_chunk_draws_are_the_inverse_cdf(rng, path):
    """A state within one chunk: each draw is the first index whose cumulative weight passes
    u * total (a zero-weight tail is never drawn), u being the generator's uniforms in order
    (numpy), or the ascending uniforms of sorted_uniforms handed to its shots (compiled)."""
    n = 6
    psi = _state(rng, n)
    psi[-5:] = 0
    weights = np.abs(psi) ** 2
    gen = np.random.default_rng(11)
    if path == "numpy":
        u, shots = gen.random(5000), np.arange(5000)
    else:
        u, shots = measure.sorted_uniforms(gen, 5000)
    inverse = np.minimum(
        np.searchsorted(np.cumsum(weights), u * weights.sum(), side="right"), 2**n - 6
    )
    want = np.empty_like(inverse)
    want[shots] = inverse
    got = sample_outcomes(psi, list(range(n)), n, 5000, np.random.default_rng(11))
    np.testing.assert_array_equal(got, want)


def test_sorted_uniforms_are_uniform_order_statistics():
    u, shots = measure.sorted_uniforms(np.random.default_rng(2), 100_000)
    assert np.all(np.diff(u) >= 0) and 0 <= u[0] and u[-1] < 1
    np.testing.assert_array_equal(np.sort(shots), np.arange(100_000))
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # Shot order is random: the uniforms the shots receive are uncorrelated with the shot index.
    per_shot = np.empty_like(u)
    per_shot[shots] = u
    assert abs(np.corrcoef(per_shot, np.arange(u.size))[0, 1]) < 0.02


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_many_shots_of_a_large_state_follow_the_distribution(dtype, path):
    """Many chunks (2^14 amplitudes, 64 chunks of the compiled walk) and 10^5 shots."""
    n = 14
    gen = np.random.default_rng(8)
    psi = _state(gen, n).astype(dtype)
    psi[: 2**n // 3] = 0  # a third of the chunks carry no weight
    p = np.abs(psi.astype(np.complex128)) ** 2
    p /= p.sum()
    draws = sample_outcomes(psi, list(range(n)), n, 100_000, np.random.default_rng(9))
    assert p[draws].min() > 0
    # Chi-square over 64 groups of consecutive outcomes (enough expected counts per cell).
    counts = np.bincount(draws >> 8, minlength=64)
    expected = p.reshape(64, -1).sum(axis=1) * draws.size
    keep = expected > 0
    assert counts[~keep].sum() == 0
    assert stats.chisquare(counts[keep], expected[keep]).pvalue > 1e-4


def test_subset_marginal_builds_no_state_sized_temporary(path):
    """Measuring 8 of 20 qubits: the extra memory is far below the 16 MiB state."""
    import tracemalloc

    n = 20
    psi = _state(np.random.default_rng(4), n)
    qubits = [0, 3, 5, 9, 12, 15, 17, 19]
    want = _reference_marginal(psi, qubits, n)
    tracemalloc.start()
    try:
        got = marginal_probabilities(psi, qubits, n)
        draws = sample_outcomes(psi, qubits, n, 1000, np.random.default_rng(0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(got, want, atol=1e-14)
    assert draws.min() >= 0 and draws.max() < 2**8
    # numpy: float64 chunk temporaries of 2^18 amplitudes (4 MiB); a full |psi|^2 is 8 MiB.
    budget = psi.nbytes // 2 if path == "numpy" else psi.nbytes // 32
    assert peak < budget, f"peak {peak} bytes for a {psi.nbytes}-byte state"
