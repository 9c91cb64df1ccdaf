"""Final states and unitaries against qiskit.quantum_info (independent reference)."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Gate
from qiskit.circuit.library import (
    GlobalPhaseGate,
    MCXGate,
    QFTGate,
    StatePreparation,
    UnitaryGate,
)
from qiskit.circuit.random import random_circuit
from qiskit.converters import circuit_to_dag
from qiskit.quantum_info import Operator, Statevector, random_statevector, random_unitary

from qsim_topo.qiskit import QsimTopoBackend
from tests.qiskit.qiskit_helpers import permute_state_to_virtual

ATOL = 1e-10

RANDOM_CASES = [(n, depth, seed) for seed in range(4) for n, depth in
                [(1, 6), (2, 6), (3, 8), (4, 8), (5, 6), (6, 6), (8, 5), (10, 4), (12, 3)]]


def _states(backend, circuits):
    result = backend.run(circuits, shots=1).result()
    return [result.get_statevector(i).data for i in range(len(circuits))]


def test_random_circuits_match_statevector(backend):
    circuits = [random_circuit(n, d, max_operands=4, seed=100 * n + s) for n, d, s in RANDOM_CASES]
    for i, c in enumerate(circuits):
        c.name = f"random_{i}"
    states = _states(backend, circuits)
    for circuit, state in zip(circuits, states, strict=True):
        np.testing.assert_allclose(state, Statevector(circuit).data, atol=ATOL, rtol=0)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_transpiled_random_circuits_match_after_layout(backend, level):
    originals = [random_circuit(n, 5, max_operands=3, seed=7 * n + level) for n in (3, 5, 7, 9)]
    transpiled = [
        transpile(c, backend, optimization_level=level, seed_transpiler=1) for c in originals
    ]
    states = _states(backend, transpiled)
    for orig, tqc, state in zip(originals, transpiled, states, strict=True):
        assert tqc.num_qubits == orig.num_qubits  # no coupling map: no ancillas, no widening
        layout = tqc.layout.final_index_layout() if tqc.layout else list(range(orig.num_qubits))
        virtual = permute_state_to_virtual(state, layout)
        np.testing.assert_allclose(virtual, Statevector(orig).data, atol=ATOL, rtol=0)


def test_transpile_keeps_standard_gates(backend):
    circuit = random_circuit(6, 6, max_operands=4, seed=11)
    out = transpile(circuit, backend, optimization_level=0)
    assert dict(out.count_ops()) == dict(circuit.count_ops())
    assert circuit_to_dag(out) == circuit_to_dag(circuit)


def test_unitary_method_matches_operator():
    backend = QsimTopoBackend(method="unitary", device="cpu")
    circuits = [random_circuit(n, 6, max_operands=3, seed=n) for n in range(1, 7)]
    result = backend.run(circuits).result()
    for i, circuit in enumerate(circuits):
        np.testing.assert_allclose(
            result.get_unitary(i).data, Operator(circuit).data, atol=ATOL, rtol=0
        )


def test_global_phases_are_kept(backend):
    qc = QuantumCircuit(2, global_phase=0.3)
    qc.h(0)
    qc.append(GlobalPhaseGate(1.1), [])
    qc.cx(0, 1)
    sub = QuantumCircuit(2, global_phase=-0.4)
    sub.rz(0.2, 1)
    qc.append(sub.to_gate(), [1, 0])
    state = _states(backend, [qc])[0]
    np.testing.assert_allclose(state, Statevector(qc).data, atol=ATOL, rtol=0)


def test_gates_without_matrix_and_wide_composites(backend):
    qc = QuantumCircuit(9)
    qc.h(range(9))
    qc.append(MCXGate(7), list(range(8)))  # no to_matrix: expanded through its definition
    inner = random_circuit(7, 4, max_operands=2, seed=3)
    qc.append(inner.to_gate(label="wide"), [8, 0, 1, 2, 3, 4, 5])  # 7 qubits: expanded
    qc.append(random_circuit(3, 4, seed=5).to_gate(), [2, 7, 4])  # narrow: one dense matrix
    qc.append(UnitaryGate(random_unitary(8, seed=1)), [6, 1, 3])
    qc.append(QFTGate(4), [0, 2, 4, 6])
    state = _states(backend, [qc])[0]
    np.testing.assert_allclose(state, Statevector(qc).data, atol=ATOL, rtol=0)


def test_state_preparation_and_initialize(backend):
    target = random_statevector(8, seed=4)
    qc = QuantumCircuit(3)
    qc.append(StatePreparation(target.data), [0, 1, 2])
    state = _states(backend, [qc])[0]
    np.testing.assert_allclose(state, target.data, atol=ATOL, rtol=0)
    init = QuantumCircuit(3)
    init.initialize(target.data, [0, 1, 2])  # resets of fresh qubits (no-ops) + preparation
    result = backend.run(init, shots=5).result()
    np.testing.assert_allclose(result.get_statevector().data, target.data, atol=ATOL, rtol=0)
    # after a gate the resets act: shots may differ, so there is no single final state
    late = QuantumCircuit(3)
    late.h(0)
    late.initialize(target.data, [0, 1, 2])
    assert "statevector" not in backend.run(late, shots=5).result().data(0)


def test_single_precision_is_close(backend):
    circuit = random_circuit(8, 6, seed=9)
    single = QsimTopoBackend(precision="single", device="cpu")
    result = single.run(circuit).result()
    assert result.results[0].metadata["precision"] == "single"
    state = result.get_statevector().data
    error = np.max(np.abs(state - Statevector(circuit).data))
    assert 1e-12 < error < 1e-5  # float32 rounding shows, and stays at float32's level


def test_custom_gate_subclass_with_definition(backend):
    class Swapish(Gate):
        def __init__(self):
            super().__init__("swapish", 2, [])

        def _define(self):
            qc = QuantumCircuit(2)
            qc.cx(0, 1)
            qc.cx(1, 0)
            qc.cx(0, 1)
            qc.s(0)
            self.definition = qc

    qc = QuantumCircuit(3)
    qc.h(0)
    qc.t(0)
    qc.append(Swapish(), [0, 2])
    state = _states(backend, [qc])[0]
    np.testing.assert_allclose(state, Statevector(qc).data, atol=ATOL, rtol=0)


@pytest.mark.parametrize("level", [2, 3])
def test_elided_swaps_leave_a_final_layout(backend, level):
    qc = random_circuit(5, 3, max_operands=2, seed=21)
    qc.swap(0, 3)
    qc.swap(1, 4)
    qc.h(0)
    tqc = transpile(qc, backend, optimization_level=level, seed_transpiler=2)
    layout = tqc.layout.final_index_layout()
    assert layout != list(range(5))  # the swaps became a relabelling, not gates
    state = _states(backend, [tqc])[0]
    np.testing.assert_allclose(
        permute_state_to_virtual(state, layout), Statevector(qc).data, atol=ATOL, rtol=0
    )
