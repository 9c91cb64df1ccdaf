"""The :class:`qiskit.transpiler.Target` of the backend: everything it simulates, on any qubits.

Every instruction is global (properties ``None``: ideal, on any qubits) and there is no coupling
map, so ``transpile(circuit, backend)`` and the preset pass managers keep a circuit's gates,
width and qubit order (apart from what optimisation itself changes). The width is the number of
qubits whose state vector fits in the memory of the machine the backend runs on (at least
:data:`MIN_TARGET_QUBITS`), like Aer's, rather than a small fixed number.
"""

from __future__ import annotations

from qiskit.circuit import (
    Barrier,
    BreakLoopOp,
    ContinueLoopOp,
    ForLoopOp,
    IfElseOp,
    Store,
    SwitchCaseOp,
    WhileLoopOp,
)
from qiskit.circuit.library import UnitaryGate, get_standard_gate_name_mapping
from qiskit.transpiler import Target

from qsim_topo.qiskit.instructions import SAVE_INSTRUCTION_NAMES
from qsim_topo.sim.memory import simulation_bytes
from qsim_topo.xp import available_memory

__all__ = ["CONTROL_FLOW", "MIN_TARGET_QUBITS", "build_target", "max_qubits"]

MIN_TARGET_QUBITS = 30

CONTROL_FLOW: dict[str, type] = {
    "if_else": IfElseOp,
    "while_loop": WhileLoopOp,
    "for_loop": ForLoopOp,
    "switch_case": SwitchCaseOp,
    "break_loop": BreakLoopOp,
    "continue_loop": ContinueLoopOp,
}
try:  # BoxOp arrived in Qiskit 2.0
    from qiskit.circuit import BoxOp

    CONTROL_FLOW["box"] = BoxOp
except ImportError:  # pragma: no cover - older Qiskit
    pass


def max_qubits(device: str = "cpu", itemsize_dtype: str = "complex128") -> int:
    """The widest state vector whose simulation fits in ``device``'s free memory now."""
    try:
        free = available_memory(device)
    except Exception:  # an unusable device: report the CPU's width
        free = available_memory("cpu")
    n = 1
    while n < 62 and simulation_bytes(n + 1, itemsize_dtype, unitary=False) <= free:
        n += 1
    return n


def build_target(num_qubits: int | None = None, description: str = "qsim_topo simulator") -> Target:
    """A Target of every instruction the backend runs, all global (any qubits) and ideal.

    Every standard gate, ``unitary``, measure, reset, delay, barrier, store, the control-flow
    operations and our save instructions.

    Args:
        num_qubits: the width reported; default ``max(MIN_TARGET_QUBITS, max_qubits())``.
        description: the Target's description.
    """
    width = num_qubits if num_qubits is not None else max(MIN_TARGET_QUBITS, max_qubits())
    target = Target(description=description, num_qubits=width)
    for name, op in get_standard_gate_name_mapping().items():
        target.add_instruction(op, properties=None, name=name)
    if "barrier" not in target.operation_names:
        target.add_instruction(Barrier, name="barrier")
    target.add_instruction(UnitaryGate, name="unitary")
    target.add_instruction(Store, name="store")
    for name, cls in CONTROL_FLOW.items():
        target.add_instruction(cls, name=name)
    for name, save_cls in SAVE_INSTRUCTION_NAMES.items():
        target.add_instruction(save_cls, name=name)
    return target
