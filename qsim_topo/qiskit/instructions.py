"""Instructions of our own: snapshots of the simulator's state at a point of a circuit.

``save_statevector(circuit)`` (method ``"statevector"``) and ``save_unitary(circuit)`` (method
``"unitary"``) append an instruction on every qubit; the result then holds the state (a
``qiskit.quantum_info.Statevector``) or the unitary so far (an ``Operator``) under the
instruction's label, read with ``result.data(circuit)[label]`` (or ``get_statevector`` /
``get_unitary`` for the default labels ``"statevector"`` / ``"unitary"``). A snapshot is
well defined only when every shot reaches it in the same state: after a measurement that split
the shots the run fails with a clear error instead of picking one shot's state.
"""

from __future__ import annotations

from qiskit.circuit import Instruction, QuantumCircuit

__all__ = [
    "SAVE_INSTRUCTION_NAMES",
    "SaveStatevector",
    "SaveUnitary",
    "save_statevector",
    "save_unitary",
]


class _SaveInstruction(Instruction):
    """Base class: a no-op on the state that records it under ``label``."""

    _directive = True
    kind = ""

    def __init__(self, name: str, num_qubits: int, label: str) -> None:
        super().__init__(name, num_qubits, 0, [], label=label)


class SaveStatevector(_SaveInstruction):
    """Save the state vector (all qubits of the circuit) under ``label``."""

    kind = "statevector"

    def __init__(self, num_qubits: int, label: str = "statevector") -> None:
        super().__init__("qsim_save_statevector", num_qubits, label)


class SaveUnitary(_SaveInstruction):
    """Save the unitary accumulated so far (all qubits of the circuit) under ``label``."""

    kind = "unitary"

    def __init__(self, num_qubits: int, label: str = "unitary") -> None:
        super().__init__("qsim_save_unitary", num_qubits, label)


SAVE_INSTRUCTION_NAMES: dict[str, type[_SaveInstruction]] = {
    "qsim_save_statevector": SaveStatevector,
    "qsim_save_unitary": SaveUnitary,
}


def save_statevector(circuit: QuantumCircuit, label: str = "statevector") -> QuantumCircuit:
    """Append a :class:`SaveStatevector` on all of ``circuit``'s qubits (in place); returns it."""
    circuit.append(SaveStatevector(circuit.num_qubits, label), circuit.qubits)
    return circuit


def save_unitary(circuit: QuantumCircuit, label: str = "unitary") -> QuantumCircuit:
    """Append a :class:`SaveUnitary` on all of ``circuit``'s qubits (in place); returns it."""
    circuit.append(SaveUnitary(circuit.num_qubits, label), circuit.qubits)
    return circuit
