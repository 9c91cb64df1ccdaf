"""Conversion of a Qiskit ``QuantumCircuit`` into the core's :class:`~qsim_topo.circuit.Program`.

The program's ops (:mod:`qsim_topo.circuit`) are written as follows:

* :class:`~qsim_topo.circuit.GateOp` — the matrix comes from ``gate.to_matrix()`` or
  ``Operator(gate).data`` and qubit indices from the top-level circuit's bit order
  (``circuit.find_bit``).
* :class:`~qsim_topo.circuit.PhaseOp` — a global phase (``circuit.global_phase``,
  ``GlobalPhaseGate``, the phase of a definition that was expanded).
* ``measure``, ``reset``, ``store`` and our save instructions become
  :class:`~qsim_topo.circuit.MeasureOp`, :class:`~qsim_topo.circuit.ResetOp`,
  :class:`~qsim_topo.circuit.StoreOp` and :class:`~qsim_topo.circuit.SaveOp`.
* ``IfElseOp``, ``WhileLoopOp``, ``SwitchCaseOp``, ``BreakLoopOp`` and ``ContinueLoopOp``
  become jumps (:class:`~qsim_topo.circuit.BranchOp`, :class:`~qsim_topo.circuit.JumpOp`,
  :class:`~qsim_topo.circuit.SwitchOp`) whose conditions are compiled by
  :mod:`qsim_topo.qiskit.classical`; ``ForLoopOp`` is unrolled (its loop parameter bound per
  iteration) and ``BoxOp`` inlined.

Measurements that can be deferred to the end of the circuit (no later operation touches their
qubit or clbit, and no control flow follows) are split off as ``terminal_measures``: the
executor samples them all from one final state instead of splitting shots one measurement at a
time. Barriers and delays are dropped. Everything is validated here, before any simulation:
unbound parameters, unsupported instructions, non-unitary matrices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit.circuit import (
    Clbit,
    ControlFlowOp,
    Gate,
    Instruction,
    QuantumCircuit,
    Qubit,
)
from qiskit.circuit.controlflow import CASE_DEFAULT

from qsim_topo.circuit import (
    METHODS,
    BranchOp,
    GateOp,
    JumpOp,
    MeasureOp,
    Op,
    PhaseOp,
    Program,
    ResetOp,
    SaveOp,
    StoreOp,
    SwitchOp,
)
from qsim_topo.qiskit.classical import (
    compile_condition,
    compile_store,
    compile_value,
)
from qsim_topo.qiskit.errors import QsimTopoCircuitError
from qsim_topo.qiskit.instructions import SaveStatevector, SaveUnitary
from qsim_topo.qiskit.matrices import INSTRUCTION_MATRIX as _INSTRUCTION_MATRIX
from qsim_topo.qiskit.matrices import MAX_DENSE_DEFINED_QUBITS, GateMatrices

__all__ = ["MAX_DENSE_DEFINED_QUBITS", "circuit_to_program"]

_IGNORED = frozenset({"barrier", "delay"})
_LOOP_JUMPS = frozenset({"break_loop", "continue_loop"})  # Instructions, not ControlFlowOps


@dataclass
class _Loop:
    breaks: list[JumpOp] = field(default_factory=list)
    continues: list[JumpOp] = field(default_factory=list)


class _Converter:
    def __init__(self, circuit: QuantumCircuit, method: str) -> None:
        if method not in METHODS:
            raise QsimTopoCircuitError(f"unknown method {method!r}; expected one of {METHODS}")
        self.circuit = circuit
        self.method = method
        self.ops: list[Op] = []
        self.loops: list[_Loop] = []
        # Qubits certainly still in |0> in every shot: nothing but resets has acted on them
        # in the straight-line prefix emitted so far. A reset of one is the identity and is
        # dropped, so that e.g. `initialize` (resets, then a state preparation) at the start
        # keeps the circuit unitary: measurements are sampled and the final state is kept.
        self._fresh: set[int] = set(range(circuit.num_qubits))
        self.matrices = GateMatrices(self._fail)

    # ------------------------------------------------------------------ helpers
    def _fail(self, message: str) -> QsimTopoCircuitError:
        return QsimTopoCircuitError(f"circuit {self.circuit.name!r}: {message}")

    def _emit(self, op: Op) -> None:
        if isinstance(op, GateOp):
            self._fresh.difference_update(op.qubits)
        elif isinstance(op, MeasureOp):
            self._fresh.discard(op.qubit)
        elif isinstance(op, (BranchOp, JumpOp, SwitchOp)):
            self._fresh.clear()  # past a jump, the ops are no longer a straight-line prefix
        self.ops.append(op)

    def _dynamic_not_in_unitary(self, name: str) -> None:
        if self.method == "unitary":
            raise self._fail(
                f"method='unitary' cannot simulate {name!r} (only unitary gates); "
                "use method='statevector'"
            )

    def _gate_matrix(self, op: Instruction) -> np.ndarray | None:
        """The matrix of a gate, or None when it should be expanded into its definition."""
        if op.is_parameterized():
            raise self._unbound(op.name, op.params)
        return self.matrices.of_operation(op)

    def _unbound(self, name: str, params: Any) -> QsimTopoCircuitError:
        return self._fail(
            f"gate {name!r} has unbound parameters {params}; bind them with "
            "assign_parameters before running"
        )

    # ------------------------------------------------------------------ blocks
    def convert(self) -> Program:
        circuit = self.circuit
        if circuit.num_qubits < 1:
            raise self._fail("the circuit has no qubits")
        unbound = sorted(str(p) for p in circuit.parameters)
        if unbound:
            raise self._fail(
                f"{len(unbound)} unbound parameter(s) {', '.join(unbound[:10])}"
                f"{'...' if len(unbound) > 10 else ''}; bind them with assign_parameters "
                "(or give parameter values to a primitive) before running"
            )
        if any(True for _ in circuit.iter_input_vars()):
            raise self._fail("input variables (add_input) are not supported")
        qmap = {q: circuit.find_bit(q).index for q in circuit.qubits}
        cmap = {c: circuit.find_bit(c).index for c in circuit.clbits}
        body, terminal = self._split_terminal_measures(circuit, qmap, cmap)
        if terminal:
            self._dynamic_not_in_unitary("measure")
        if circuit.global_phase:
            self._emit_phase(circuit.global_phase)
        for instr in body:
            self._instruction(instr, qmap, cmap)
        return Program(
            name=circuit.name,
            n_qubits=circuit.num_qubits,
            n_clbits=circuit.num_clbits,
            ops=self.ops,
            terminal_measures=terminal,
            method=self.method,
        )

    def _split_terminal_measures(
        self, circuit: QuantumCircuit, qmap: dict[Qubit, int], cmap: dict[Clbit, int]
    ) -> tuple[list[Any], list[tuple[int, int]]]:
        data = list(circuit.data)
        blocked_q: set[int] = set()
        blocked_c: set[int] = set()
        deferred: list[int] = []
        for pos in range(len(data) - 1, -1, -1):
            instr = data[pos]
            op = instr.operation
            name = op.name
            if name in _IGNORED:
                continue
            if isinstance(op, ControlFlowOp) or name == "store":
                break
            if op.num_clbits and name != "measure":
                break
            qs = {qmap[q] for q in instr.qubits}
            if name == "measure":
                q, c = qmap[instr.qubits[0]], cmap[instr.clbits[0]]
                if q not in blocked_q and c not in blocked_c:
                    deferred.append(pos)
                    continue
                blocked_c.add(c)
            elif isinstance(op, (SaveStatevector, SaveUnitary)):
                break
            blocked_q |= qs
            if len(blocked_q) == circuit.num_qubits:
                break  # every qubit has a gate after it: no earlier measurement is terminal
        keep = set(deferred)
        body = [instr for i, instr in enumerate(data) if i not in keep]
        terminal = [(qmap[data[i].qubits[0]], cmap[data[i].clbits[0]]) for i in sorted(deferred)]
        return body, terminal

    def _emit_phase(self, phase: Any) -> None:
        try:
            value = float(phase)
        except TypeError as exc:
            raise self._fail(f"the global phase {phase} has unbound parameters") from exc
        if value:
            self._emit(PhaseOp(value))

    def _block(
        self,
        body: QuantumCircuit,
        qubits: Sequence[Qubit],
        clbits: Sequence[Clbit],
        qmap: dict[Qubit, int],
        cmap: dict[Clbit, int],
    ) -> None:
        """Emit ``body`` whose i-th qubit/clbit stands for ``qubits[i]``/``clbits[i]``."""
        inner_q = {bq: qmap[oq] for bq, oq in zip(body.qubits, qubits, strict=True)}
        inner_c = dict(cmap)  # registers of the outer circuit stay visible inside blocks
        inner_c.update({bc: cmap[oc] for bc, oc in zip(body.clbits, clbits, strict=True)})
        if body.global_phase:
            self._emit_phase(body.global_phase)
        for instr in body.data:
            self._instruction(instr, inner_q, inner_c)

    def _bit_index(self, cmap: dict[Clbit, int]) -> Callable[[Clbit], int]:
        def index(bit: Clbit) -> int:
            try:
                return cmap[bit]
            except KeyError:
                raise self._fail(f"a condition reads the clbit {bit}, unknown here") from None

        return index

    # ------------------------------------------------------------------ instructions
    def _instruction(self, instr: Any, qmap: dict[Qubit, int], cmap: dict[Clbit, int]) -> None:
        if _INSTRUCTION_MATRIX:
            name = instr.name
            if (name == "unitary" or instr.is_standard_gate()) and name != "global_phase":
                matrix = self.matrices.of_instruction(instr, name)
                if matrix is not None:
                    self._emit(GateOp(matrix, tuple([qmap[q] for q in instr.qubits]), name))
                    return
        op = instr.operation
        name = op.name
        if name in _IGNORED:
            return
        if getattr(op, "_standard_gate", None) is not None and name != "global_phase":
            # A standard gate has its own matrix: skip the (ABC) isinstance checks below.
            matrix = self._gate_matrix(op)
            if matrix is not None:
                self._emit(GateOp(matrix, tuple(qmap[q] for q in instr.qubits), name))
                return
        if isinstance(op, ControlFlowOp) or name in _LOOP_JUMPS:
            self._dynamic_not_in_unitary(name)
            self._control_flow(instr, qmap, cmap)
            return
        if name == "measure":
            self._dynamic_not_in_unitary(name)
            self._emit(MeasureOp(qmap[instr.qubits[0]], cmap[instr.clbits[0]]))
            return
        if name == "reset":
            self._dynamic_not_in_unitary(name)
            qubit = qmap[instr.qubits[0]]
            if qubit not in self._fresh:
                self._emit(ResetOp(qubit))
            return
        if name == "store":
            self._dynamic_not_in_unitary(name)
            lvalue, rvalue = op.lvalue, op.rvalue
            self._emit(StoreOp(compile_store(lvalue, rvalue, self._bit_index(cmap))))
            return
        if isinstance(op, (SaveStatevector, SaveUnitary)):
            self._save(op, instr, qmap)
            return
        if name == "global_phase":
            self._emit_phase(op.params[0])
            return
        if isinstance(op, Gate):
            matrix = self._gate_matrix(op)
            if matrix is not None:
                self._emit(GateOp(matrix, tuple(qmap[q] for q in instr.qubits), name))
                return
        if op.definition is not None:
            self._block(op.definition, instr.qubits, instr.clbits, qmap, cmap)
            return
        raise self._fail(
            f"unsupported instruction {name!r} (no matrix and no definition); the backend runs "
            "unitary gates, measure, reset, barrier, delay, store and control flow"
        )

    def _save(self, op: Any, instr: Any, qmap: dict[Qubit, int]) -> None:
        kind = op.kind
        if kind != self.method:
            raise self._fail(f"{op.name!r} saves a {kind} but the method is {self.method!r}")
        if len({qmap[q] for q in instr.qubits}) != self.circuit.num_qubits:
            raise self._fail(f"{op.name!r} must act on all {self.circuit.num_qubits} qubits")
        self._emit(SaveOp(kind, str(op.label)))

    def _control_flow(self, instr: Any, qmap: dict[Qubit, int], cmap: dict[Clbit, int]) -> None:
        op = instr.operation
        name = op.name
        bit_index = self._bit_index(cmap)
        if name == "if_else":
            true_body, false_body = op.params
            branch = BranchOp(compile_condition(op.condition, bit_index))
            self._emit(branch)
            self._block(true_body, instr.qubits, instr.clbits, qmap, cmap)
            if false_body is not None:
                skip = JumpOp()
                self._emit(skip)
                branch.target = len(self.ops)
                self._block(false_body, instr.qubits, instr.clbits, qmap, cmap)
                skip.target = len(self.ops)
            else:
                branch.target = len(self.ops)
        elif name == "while_loop":
            start = len(self.ops)
            branch = BranchOp(compile_condition(op.condition, bit_index))
            self._emit(branch)
            loop = _Loop()
            self.loops.append(loop)
            self._block(op.params[0], instr.qubits, instr.clbits, qmap, cmap)
            self.loops.pop()
            self._emit(JumpOp(start))
            end = len(self.ops)
            branch.target = end
            for j in loop.breaks:
                j.target = end
            for j in loop.continues:
                j.target = start
        elif name == "for_loop":
            indexset, loop_param, body = op.params
            loop = _Loop()
            self.loops.append(loop)
            for value in indexset:
                bound = body
                if loop_param is not None and loop_param in body.parameters:
                    bound = body.assign_parameters({loop_param: value}, inplace=False)
                loop.continues = []
                self._block(bound, instr.qubits, instr.clbits, qmap, cmap)
                for j in loop.continues:
                    j.target = len(self.ops)
            self.loops.pop()
            for j in loop.breaks:
                j.target = len(self.ops)
        elif name == "switch_case":
            switch = SwitchOp(compile_value(op.target, bit_index))
            self._emit(switch)
            exits: list[JumpOp] = []
            for values, body in op.cases_specifier():
                start = len(self.ops)
                for v in values:
                    if v is CASE_DEFAULT:
                        switch.default = start
                    else:
                        switch.table.setdefault(int(v), start)
                self._block(body, instr.qubits, instr.clbits, qmap, cmap)
                jump = JumpOp()
                self._emit(jump)
                exits.append(jump)
            end = len(self.ops)
            for j in exits:
                j.target = end
            if switch.default < 0:
                switch.default = end
        elif name in ("break_loop", "continue_loop"):
            if not self.loops:
                raise self._fail(f"{name!r} outside a loop")
            jump = JumpOp()
            self._emit(jump)
            loop = self.loops[-1]
            (loop.breaks if name == "break_loop" else loop.continues).append(jump)
        elif name == "box":
            self._block(op.params[0], instr.qubits, instr.clbits, qmap, cmap)
        else:
            raise self._fail(f"unsupported control-flow operation {name!r}")


def circuit_to_program(circuit: QuantumCircuit, method: str = "statevector") -> Program:
    """Convert ``circuit`` into a :class:`Program` for ``method``, validating it.

    Args:
        circuit: a circuit with every parameter bound.
        method: ``"statevector"`` (measurements, resets, control flow allowed) or
            ``"unitary"`` (unitary gates only; barriers, delays and :class:`SaveUnitary`).

    Returns:
        The program; the circuit is not modified.

    Raises:
        QsimTopoCircuitError: unbound parameters, an unsupported instruction, a non-unitary
            matrix, an instruction the method cannot simulate, a circuit without qubits.
    """
    return _Converter(circuit, method).convert()
