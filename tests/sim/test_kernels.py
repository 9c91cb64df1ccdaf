"""apply_inplace against apply_operator (the reference contraction) and the embed() matrix."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.engines.base import CheckedEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.layers import haar_unitary
from qsim_topo.sim.apply import apply_operator, sort_gate_qubits
from qsim_topo.sim.chunks import inplace_workspace_bytes
from qsim_topo.sim.kernels import KernelPolicy, apply_inplace
from qsim_topo.sim.numba_kernels import apply_block_numba, numba_available
from qsim_topo.xp import get_xp, to_numpy
from tests.conftest import devices, embed

EXACT = get_engine("exact")


class _UnbatchedExact:
    """An exact engine without ``batched``: CheckedEngine.matmul_stack loops over the stack."""

    name = "exact-unbatched"
    exact = True

    def matmul(self, a, b):
        assert a.ndim == 2 and b.ndim == 2
        return a @ b

    def flops_fraction(self, m, k, n):
        return 1.0


ENGINES = {
    "plain": EXACT,
    "checked": CheckedEngine(EXACT, check_inputs=False, check_finite=False),
    "checked-unbatched": CheckedEngine(_UnbatchedExact()),
}


NUMBA = pytest.mark.skipif(not numba_available(), reason="numba is not installed")
CHUNKS = KernelPolicy(block="chunks")


POLICIES = {
    # The gather of small tensors (their default), numpy's chunks (gathering blocks on
    # scattered qubits), or the numba block kernel (which by default only larger states take).
    "small": (KernelPolicy(block="gather"), {"gather"}),
    "numpy": (KernelPolicy(numba=False, small_amplitudes=0), {"chunks"}),
    "numba": (KernelPolicy(small_amplitudes=0, numba_min_amplitudes=0), {"numba-block"}),
}


@pytest.fixture(params=["small", "numpy", pytest.param("numba", marks=NUMBA)], ids=str)
def policy(request):
    """Every CPU path of apply_inplace on these small states; checks the kernels that ran."""
    chosen, expected = POLICIES[request.param]
    used = {}
    yield chosen, used
    if request.param == "numba":
        assert "numba-block" in used, "the numba kernel was not taken"
    else:
        assert set(used) <= expected, f"{request.param}: other kernels ran: {used}"


@pytest.mark.parametrize("engine", ENGINES, ids=str)
@pytest.mark.parametrize("dtype,atol", [(np.complex128, 1e-12), (np.complex64, 2e-5)])
def test_inplace_matches_reference(rng, dtype, atol, engine, policy):
    chosen, used = policy
    for trial in range(150):
        n = int(rng.integers(1, 10))
        k = int(rng.integers(1, min(n, 6) + 1))
        qubits = tuple(int(q) for q in rng.choice(n, k, replace=False))
        matrix = haar_unitary(2**k, seed=trial)
        cols = 1 if rng.random() < 0.7 else 2 ** int(rng.integers(1, 3))
        shape = (2**n,) if cols == 1 else (2**n, cols)
        psi = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
        want = apply_operator(EXACT, psi.astype(np.complex128), matrix, qubits, n)
        chunk = int(rng.choice([16, 48, 128, 1024, 3000, 2**20]))  # not only powers of two
        state = psi.copy()
        kernels = replace(chosen, chunk_bytes=chunk)
        out = apply_inplace(ENGINES[engine], state, matrix, qubits, n, kernels=kernels, used=used)
        assert out is state and state.dtype == dtype
        np.testing.assert_allclose(state, want, atol=atol * 10, err_msg=f"{n=} {qubits=} {chunk=}")


@NUMBA
@pytest.mark.parametrize("dtype,atol", [(np.complex128, 1e-12), (np.complex64, 2e-5)])
def test_numba_pass_against_full_matrix(rng, dtype, atol):
    n = 7
    for k in range(1, 7):
        qubits = tuple(sorted(int(q) for q in rng.choice(n, k, replace=False)))
        matrix = haar_unitary(2**k, seed=k)
        psi = (rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)).astype(dtype)
        state = psi.copy()
        engine = CheckedEngine(EXACT, check_inputs=False)
        apply_block_numba(engine, state, matrix.astype(dtype), qubits, 1)
        want = embed(matrix, qubits, n) @ psi.astype(np.complex128)
        np.testing.assert_allclose(state, want, atol=atol * 10, err_msg=f"{qubits=}")
        assert engine.calls == 1 and engine.exact_flops == 4**k * 2 ** (n - k)
    unitary = np.eye(2**5, dtype=dtype)  # columns: the column bits are the low bits
    apply_block_numba(EXACT, unitary, haar_unitary(4, seed=2).astype(dtype), (0, 4), 2**5)
    np.testing.assert_allclose(unitary, embed(haar_unitary(4, seed=2), (0, 4), 5), atol=atol * 10)


def test_middle_block_is_one_stacked_product(monkeypatch):
    engine = CheckedEngine(EXACT, check_inputs=False)
    stacked = []
    real = engine.matmul_stack
    monkeypatch.setattr(engine, "matmul_stack", lambda a, b: stacked.append(1) or real(a, b))
    state = np.zeros(2**8, dtype=complex)
    state[0] = 1
    apply_inplace(engine, state, haar_unitary(8, seed=1), (3, 4, 5), 8, kernels=CHUNKS)
    assert stacked == [1] and engine.calls == 1 and engine.exact_flops == 8 * 8 * 2**5


def test_inplace_against_full_matrix(rng):
    kernels = replace(CHUNKS, chunk_bytes=64)  # chunks of 4 amplitudes, not a gather
    n = 5
    for qubits in [(0,), (4,), (2, 0), (1, 3, 4), (4, 0, 2, 1)]:
        matrix = haar_unitary(2 ** len(qubits), seed=len(qubits))
        psi = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
        state = psi.copy()
        apply_inplace(EXACT, state, matrix, qubits, n, kernels=kernels)
        np.testing.assert_allclose(state, embed(matrix, qubits, n) @ psi, atol=1e-12)


def test_sort_gate_qubits_is_the_same_operator(rng):
    matrix = haar_unitary(8, seed=3)
    sorted_matrix, qs = sort_gate_qubits(matrix, (4, 0, 2))
    assert qs == (0, 2, 4)
    np.testing.assert_allclose(embed(sorted_matrix, qs, 5), embed(matrix, (4, 0, 2), 5))


@pytest.mark.parametrize("qubits", [(3, 1), (1, 3), (0, 4)])
def test_sort_gate_qubits_two_qubits_is_an_exact_permutation(qubits):
    matrix = haar_unitary(4, seed=5)
    sorted_matrix, qs = sort_gate_qubits(matrix, qubits)
    assert qs == tuple(sorted(qubits))
    assert sorted_matrix.shape == (4, 4) and sorted_matrix.flags.c_contiguous
    np.testing.assert_array_equal(embed(sorted_matrix, qs, 5), embed(matrix, qubits, 5))
    if list(qubits) == sorted(qubits):
        assert sorted_matrix is matrix  # nothing to reorder: no copy


def test_sort_gate_qubits_refuses_a_matrix_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"2-qubit gate needs a \(4, 4\) matrix"):
        sort_gate_qubits(haar_unitary(8, seed=1), (3, 1))


def test_refuses_approximate_engine_and_bad_tensors():
    state = np.zeros(8, dtype=complex)
    with pytest.raises(QsimTopoError, match="approximate"):
        apply_inplace(get_engine("fp16"), state, np.eye(2), (0,), 3)
    with pytest.raises(QsimTopoError, match="C-contiguous"):
        apply_inplace(EXACT, np.zeros((8, 2), dtype=complex)[:, 0], np.eye(2), (0,), 3)
    with pytest.raises(QsimTopoError, match="C-contiguous"):
        apply_inplace(EXACT, np.zeros((8, 3), dtype=complex), np.eye(2), (0,), 3)
    with pytest.raises(QsimTopoError, match=r"\(4, 4\) matrix"):
        apply_inplace(EXACT, state, np.eye(2), (0, 1), 3)


def test_workspace_bound_is_small():
    assert inplace_workspace_bytes(16, 5) < 2 * 2**20


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("dtype,atol", [(np.complex128, 1e-12), (np.complex64, 2e-5)])
def test_device_kernel_matches_numpy(device, dtype, atol, rng):
    xp = get_xp(device)
    for k in range(1, 8):  # 1..5: one kernel pass; 6, 7: the chunked cuBLAS fallback
        n = 12
        qubits = tuple(int(q) for q in rng.choice(n, k, replace=False))
        matrix = haar_unitary(2**k, seed=k)
        psi = (rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)).astype(dtype)
        want = apply_operator(EXACT, psi.astype(np.complex128), matrix, qubits, n)
        state = xp.asarray(psi)
        apply_inplace(EXACT, state, matrix, qubits, n)
        np.testing.assert_allclose(to_numpy(state), want, atol=atol * 10, err_msg=f"{k=}")
    unitary = xp.eye(2**6, dtype=dtype)
    apply_inplace(EXACT, unitary, haar_unitary(4, seed=9), (5, 0), 6)
    np.testing.assert_allclose(
        to_numpy(unitary), embed(haar_unitary(4, seed=9), (5, 0), 6), atol=atol * 10
    )
