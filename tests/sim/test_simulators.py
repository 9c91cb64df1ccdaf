from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.errors import InsufficientMemoryError, NotUnitaryError, QsimTopoError
from qsim_topo.layers import brickwork_layer, haar_unitary
from qsim_topo.sim import StatevectorSimulator, UnitarySimulator, simulation_bytes
from qsim_topo.xp import to_numpy
from tests.conftest import devices, embed


def _random_ops(rng, n, count):
    ops = []
    for _ in range(count):
        k = int(rng.integers(1, min(3, n) + 1))
        qubits = tuple(int(q) for q in rng.choice(n, size=k, replace=False))
        ops.append((haar_unitary(2**k, seed=rng), qubits))
    return ops


@pytest.mark.parametrize("device", devices())
def test_statevector_and_unitary_agree_with_references(rng, device):
    n = 5
    ops = _random_ops(rng, n, 15)
    ref_u = np.eye(2**n, dtype=complex)
    for m, q in ops:
        ref_u = embed(m, q, n) @ ref_u
    sv = StatevectorSimulator(device=device).run(ops, n)
    un = UnitarySimulator(device=device).run(ops, n)
    assert np.max(np.abs(to_numpy(sv.data) - ref_u[:, 0])) < 1e-12
    assert np.max(np.abs(to_numpy(un.data) - ref_u)) < 1e-12
    assert sv.matmul_calls == un.matmul_calls == 15
    assert sv.flops_fraction == 1.0 and sv.engine == "exact"


def test_statevector_matches_qiskit_statevector(rng):
    qi = pytest.importorskip("qiskit.quantum_info")
    n = 6
    ops = _random_ops(rng, n, 20)
    psi0 = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
    psi0 /= np.linalg.norm(psi0)
    ref = qi.Statevector(psi0)
    for m, q in ops:
        ref = ref.evolve(qi.Operator(m), qargs=list(q))
    out = StatevectorSimulator().run(ops, n, initial=psi0)
    assert np.max(np.abs(out.data - ref.data)) < 1e-12


def test_brickwork_circuit_in_complex64(rng):
    n = 6
    ops = brickwork_layer(n, 0, seed=1) + brickwork_layer(n, 1, seed=2)
    ref = StatevectorSimulator().run(ops, n).data
    single = StatevectorSimulator(dtype=np.complex64).run(ops, n).data
    assert single.dtype == np.complex64
    assert np.linalg.norm(single - ref) < 1e-6


def test_initial_state_is_copied_not_written(rng):
    psi0 = np.zeros(4, dtype=complex)
    psi0[3] = 1
    keep = psi0.copy()
    StatevectorSimulator().run([(haar_unitary(2, seed=1), (0,))], 2, initial=psi0)
    assert np.array_equal(psi0, keep)
    with pytest.raises(QsimTopoError, match="shape"):
        StatevectorSimulator().run([], 2, initial=np.ones(3))


def test_non_unitary_operator_is_refused():
    with pytest.raises(NotUnitaryError, match="qubits \\(0,\\)"):
        StatevectorSimulator().run([(np.array([[1, 1], [0, 1]]), (0,))], 2)
    # A caller that vouches for its matrices may switch the check off.
    out = StatevectorSimulator(check_unitary=False).run([(np.array([[1, 1], [0, 1]]), (0,))], 1)
    assert np.allclose(out.data, [1, 0])


def test_too_large_is_refused_before_allocating():
    with pytest.raises(InsufficientMemoryError, match="40-qubit state-vector"):
        StatevectorSimulator().run([], 40)
    with pytest.raises(InsufficientMemoryError, match="20-qubit unitary"):
        UnitarySimulator().run([], 20)
    assert simulation_bytes(10, np.complex64, unitary=False) == 4 * 1024 * 8


def test_bad_dtype_and_engine():
    with pytest.raises(QsimTopoError, match="complex64 or complex128"):
        StatevectorSimulator(dtype=np.float64)
    with pytest.raises(KeyError):
        StatevectorSimulator(engine="nope")
