from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qsim_topo.layers import (
    GateOp,
    brickwork_layer,
    brickwork_matrix,
    haar_from_ginibre,
    haar_unitary,
    layer_stack,
)
from tests.conftest import devices, embed


def _unitarity_error(u) -> float:
    u = np.asarray(u)
    return float(np.max(np.abs(u.conj().T @ u - np.eye(u.shape[0]))))


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("dim", [1, 2, 4, 16, 64])
def test_haar_unitary_is_unitary_and_seeded(dim, device):
    from qsim_topo.xp import to_numpy

    u = to_numpy(haar_unitary(dim, seed=3, device=device))
    assert u.shape == (dim, dim) and u.dtype == np.complex128
    assert _unitarity_error(u) < 1e-12
    assert np.array_equal(u, to_numpy(haar_unitary(dim, seed=3, device=device)))
    if dim > 1:
        assert not np.allclose(u, to_numpy(haar_unitary(dim, seed=4, device=device)))


def test_haar_unitary_dtype_and_bad_dim():
    assert haar_unitary(8, seed=0, dtype=np.complex64).dtype == np.complex64
    with pytest.raises(ValueError, match="positive integer"):
        haar_unitary(0)


def _entry_stats(sampler, n_dim: int, n_samples: int):
    """|U_00|^2 and |U_01|^2 ... from independent draws."""
    first = np.empty(n_samples)
    fourth = np.empty(n_samples)
    for i in range(n_samples):
        u = sampler(i)
        first[i] = abs(u[0, 0]) ** 2
        fourth[i] = abs(u[1 % n_dim, n_dim - 1]) ** 4
    return first, fourth


@pytest.mark.parametrize("which", ["scipy", "ginibre-qr"])
def test_haar_moments_and_beta_distribution(which):
    """|U_ij|^2 ~ Beta(1, N-1); E|U_ij|^4 = 2 / (N (N + 1)). Both samplers of the package."""
    n_dim, n_samples = 6, 4000
    rng = np.random.default_rng(11)

    def sampler(i):
        if which == "scipy":
            return haar_unitary(n_dim, seed=rng)
        z = (rng.standard_normal((n_dim, n_dim)) + 1j * rng.standard_normal((n_dim, n_dim)))
        return haar_from_ginibre(z / np.sqrt(2))

    sq, quartic = _entry_stats(sampler, n_dim, n_samples)
    ks = stats.kstest(sq, stats.beta(1, n_dim - 1).cdf)
    assert ks.pvalue > 1e-3, ks
    expected = 2.0 / (n_dim * (n_dim + 1))
    stderr = quartic.std(ddof=1) / np.sqrt(n_samples)
    assert abs(quartic.mean() - expected) < 5 * stderr


def test_qr_without_phase_correction_is_caught_by_the_same_test():
    """The statistics test has teeth: plain QR (no Mezzadri correction) is not Haar."""
    n_dim, n_samples = 2, 4000
    rng = np.random.default_rng(12)
    vals = np.empty(n_samples)
    for i in range(n_samples):
        z = rng.standard_normal((n_dim, n_dim)) + 1j * rng.standard_normal((n_dim, n_dim))
        q, _ = np.linalg.qr(z)
        vals[i] = q[0, 0].real  # LAPACK makes r_00 real positive: q_00 is biased to Re > 0
    assert stats.ttest_1samp(vals, 0.0).pvalue < 1e-6
    fixed = np.array([haar_unitary(2, seed=rng)[0, 0].real for _ in range(n_samples)])
    assert stats.ttest_1samp(fixed, 0.0).pvalue > 1e-4


def test_brickwork_layer_pairs_and_parity():
    even = brickwork_layer(5, 0, seed=1)
    odd = brickwork_layer(5, 1, seed=1)
    assert [op.qubits for op in even] == [(0, 1), (2, 3)]
    assert [op.qubits for op in odd] == [(1, 2), (3, 4)]
    for op in even + odd:
        assert op.matrix.shape == (4, 4) and _unitarity_error(op.matrix) < 1e-12
    with pytest.raises(ValueError):
        brickwork_layer(1, 0)
    with pytest.raises(ValueError):
        brickwork_layer(4, 2)


def _kron_reference(ops, n):
    total = np.eye(2**n, dtype=complex)
    for op in ops:
        total = embed(op.matrix, op.qubits, n) @ total
    return total


@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("parity", [0, 1])
def test_brickwork_matrix_matches_index_reference(n, parity):
    ops = brickwork_layer(n, parity, seed=n * 10 + parity)
    if not ops:
        return
    assert np.allclose(brickwork_matrix(ops, n), _kron_reference(ops, n), atol=1e-13)


def test_brickwork_matrix_rejects_overlaps():
    g = np.eye(4, dtype=complex)
    with pytest.raises(ValueError, match="overlaps"):
        brickwork_matrix([GateOp(g, (0, 1)), GateOp(g, (1, 2))], 3)
    with pytest.raises(ValueError, match="adjacent"):
        brickwork_matrix([GateOp(g, (0, 2))], 3)


def test_layer_stack_is_prefix_stable_and_seeded():
    short = list(layer_stack(3, 2, "dense", seed=9))
    long = list(layer_stack(3, 5, "dense", seed=9))
    assert len(long) == 5
    for a, b in zip(short, long[:2], strict=True):
        assert np.array_equal(a.matrix(), b.matrix())
    other = list(layer_stack(3, 2, "dense", seed=10))
    assert not np.allclose(short[0].matrix(), other[0].matrix())
    bw = list(layer_stack(4, 3, "brickwork", seed=1))
    assert [[op.qubits for op in layer.ops] for layer in bw] == [
        [(0, 1), (2, 3)], [(1, 2)], [(0, 1), (2, 3)]
    ]
    assert _unitarity_error(bw[1].matrix()) < 1e-12
    two = list(layer_stack(2, 2, "brickwork", seed=1))
    assert np.array_equal(two[1].matrix(), np.eye(4))  # the idle odd layer of 2 qubits


def test_layer_stack_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown layer kind"):
        list(layer_stack(3, 2, "sycamore"))
    with pytest.raises(ValueError):
        list(layer_stack(3, 0, "dense"))
    with pytest.raises(ValueError):
        list(layer_stack(1, 2, "brickwork"))
