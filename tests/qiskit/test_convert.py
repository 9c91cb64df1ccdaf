"""qiskit/convert.py: QuantumCircuit -> Program, against qiskit.quantum_info."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter
from qiskit.circuit.library import UnitaryGate
from qiskit.quantum_info import Operator, Statevector, random_unitary

from qsim_topo.circuit import MeasureOp, check_program
from qsim_topo.qiskit import QsimTopoBackend, QsimTopoCircuitError
from qsim_topo.qiskit import convert as convert_module
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.qiskit.matrices import GateMatrices


class _NamedUnitary(Gate):
    """A Python gate that only borrows the name of UnitaryGate: defined by a circuit."""

    def __init__(self):
        super().__init__("unitary", 1, [])

    def _define(self):
        qc = QuantumCircuit(1)
        qc.h(0)
        qc.t(0)
        self.definition = qc


class _BadNamedUnitary(Gate):
    def __init__(self):
        super().__init__("unitary", 1, [])

    def __array__(self, dtype=None, copy=None):
        return np.array([[1, 0], [0, 2]], dtype=complex)


@pytest.mark.parametrize("from_instruction", [True, False])
def test_both_matrix_paths_convert_alike(monkeypatch, from_instruction):
    # Standard gates and UnitaryGates take their matrices from the instruction (no Python
    # gate object) where Qiskit offers it; the path through the operation must agree.
    monkeypatch.setattr(convert_module, "_INSTRUCTION_MATRIX", from_instruction)
    taken = []
    original = GateMatrices.of_instruction

    def spy(self, instr, name):
        matrix = original(self, instr, name)
        taken.append(matrix is not None)
        return matrix

    monkeypatch.setattr(GateMatrices, "of_instruction", spy)
    u = random_unitary(4, seed=3)
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.rz(0.5, 1)
    qc.cx(0, 2)
    qc.append(UnitaryGate(u), [2, 1])
    qc.append(UnitaryGate(u), [0, 1])  # the same matrix again: one checked array
    qc.append(_NamedUnitary(), [1])  # no matrix of its own: Operator of its definition
    qc.rz(0.5, 2)
    a = Parameter("a")
    qc.rz((a + 1).bind({a: -0.5}), 0)  # an expression with nothing left to bind
    owned = u.data.copy()
    qc.append(UnitaryGate(owned), [1, 2])
    program = circuit_to_program(qc)
    names = ["h", "rz", "cx"] + ["unitary"] * 3 + ["rz", "rz", "unitary"]
    assert [op.name for op in program.ops] == names
    assert [op.qubits for op in program.ops] == [
        (0,), (1,), (0, 2), (2, 1), (0, 1), (1,), (2,), (0,), (1, 2)
    ]
    assert program.ops[3].matrix is program.ops[4].matrix is program.ops[8].matrix
    assert program.ops[1].matrix is program.ops[6].matrix is program.ops[7].matrix
    assert owned.flags.writeable  # the user's array is not the cached, read-only one
    # The instruction path took the standard gates and UnitaryGates (not the bound
    # expression, nor the Python gate named 'unitary', which has no matrix of its own).
    expected = [True] * 5 + [False, True, False, True]
    assert taken == (expected if from_instruction else [])
    assert not program.ops[3].matrix.flags.writeable
    np.testing.assert_allclose(program.ops[3].matrix, u.data)
    np.testing.assert_allclose(program.ops[5].matrix, Operator(_NamedUnitary().definition).data)
    got = QsimTopoBackend().run(qc).result().get_statevector()
    assert got.equiv(Statevector(qc))
    bad = QuantumCircuit(1)
    bad.append(_BadNamedUnitary(), [0])
    with pytest.raises(QsimTopoCircuitError, match="not unitary"):
        circuit_to_program(bad)
    theta = Parameter("t")
    unbound = QuantumCircuit(1)
    unbound.rx(theta, 0)
    with pytest.raises(QsimTopoCircuitError, match="'rx' has unbound parameters"):
        convert_module._Converter(unbound, "statevector")._instruction(unbound.data[0], {}, {})


def test_converted_programs_pass_the_core_checks():
    qc = QuantumCircuit(3, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(2)
    qc.measure(2, 1)
    program = circuit_to_program(qc)
    check_program(program)  # the translator emits only valid core ops
    assert program.terminal_measures == [(2, 1)]
    assert any(isinstance(op, MeasureOp) for op in program.ops)


@pytest.mark.parametrize("scale", [1e8, 1e9, 3e9])
def test_huge_angles_as_qiskit_builds_them_run_and_match_statevector(scale):
    rng = np.random.default_rng(int(scale) % 1000)
    backend = QsimTopoBackend(device="cpu")
    qc = QuantumCircuit(2)
    qc.u(1e8, 2e8, 3e8, 0)
    for _ in range(5):
        qc.u(*rng.uniform(-scale, scale, 3), 1)
        qc.cu(*rng.uniform(-scale, scale, 4), 0, 1)
    got = backend.run(qc).result().get_statevector()
    np.testing.assert_allclose(np.asarray(got), Statevector(qc).data, atol=1e-12)


def test_unitarity_tolerance_scales_with_the_angles_but_not_without_bound():
    from qiskit.circuit.library import UGate

    from qsim_topo.qiskit.matrices import MAX_UNITARY_ATOL, UNITARY_ATOL, unitary_atol

    assert unitary_atol([]) == UNITARY_ATOL == unitary_atol([0.1, 0.2])
    assert unitary_atol([1e9, 2e9, 3e9]) > 1e-7  # ~ the rounding of phi + lam
    assert unitary_atol([1e40]) == MAX_UNITARY_ATOL
    # Qiskit's own Python matrix of a huge-angle U gate: off by up to eps * |angles|
    rng = np.random.default_rng(5)
    matrices = GateMatrices(QsimTopoCircuitError)
    for _ in range(200):
        params = rng.uniform(-3e9, 3e9, 3)
        m = UGate(*params).to_matrix()
        matrices.check(m, "u", 1, unitary_atol(params))  # accepted
    # a matrix off by more than that is still refused, angles or not
    off = UGate(1e9, 2e9, 3e9).to_matrix() * (1 + 1e-4)
    with pytest.raises(QsimTopoCircuitError, match="not unitary"):
        matrices.check(off, "u", 1, unitary_atol([1e9, 2e9, 3e9]))


class _NotUnitary(Gate):
    def __init__(self):
        super().__init__("not_unitary", 1, [])

    def __array__(self, dtype=None, copy=None):
        return np.array([[1, 0], [0, 1.01]], dtype=dtype or complex)


def test_a_truly_non_unitary_gate_is_refused():
    qc = QuantumCircuit(1)
    qc.append(_NotUnitary(), [0])
    with pytest.raises(QsimTopoCircuitError, match="not unitary"):
        QsimTopoBackend(device="cpu").run(qc)
