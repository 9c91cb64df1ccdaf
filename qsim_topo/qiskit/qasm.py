"""Load OpenQASM 2 and 3 files, refusing what would crash, hang or exhaust the machine.

:func:`load_qasm` reads OpenQASM 2 (``qiskit.qasm2`` with the legacy custom instructions, so
real-world files that use ``u1``/``cu1``/... and ``include "qelib1.inc"`` load, the file's
folder on the include path) or OpenQASM 3 (``qiskit.qasm3``, which needs the
``qiskit_qasm3_import`` package). Its error contract: it returns a circuit or raises
:class:`~qsim_topo.qiskit.errors.QasmLoadError` (a ``QsimTopoError`` and a ``QiskitError``)
whose message names the file and, when known, the line. No other exception leaves it.

Before the parser sees a file, :func:`~qsim_topo.qiskit.qasm_scan.scan_qasm` checks its size
against :class:`~qsim_topo.qiskit.qasm_scan.QasmLimits` (the limits and why each is needed are
in :mod:`qsim_topo.qiskit.qasm_scan`; its public names are re-exported here).

After parsing, every custom gate definition is built once per distinct (name, parameters)
(memoised: cheap even for a bomb within the limits), so an error in a gate body surfaces here,
with the gate's name, instead of later inside the simulator.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Gate

from qsim_topo.qiskit.errors import QasmLoadError
from qsim_topo.qiskit.qasm_scan import (
    DEFAULT_LIMITS,
    QasmLimits,
    QasmStats,
    _strip_comments,
    qasm_version,
    read_qasm_text,
    scan_qasm,
)

__all__ = [
    "DEFAULT_LIMITS",
    "QasmLimits",
    "QasmStats",
    "load_qasm",
    "qasm_version",
    "scan_qasm",
]


def _is_fatal(exc: BaseException) -> bool:
    """Exceptions never turned into a QasmLoadError (the user or the interpreter stops us)."""
    return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


def _describe(exc: BaseException) -> str:
    kind = type(exc).__name__
    detail = str(exc).strip().strip("'\"").strip()
    if kind == "PanicException":
        return f"the OpenQASM parser panicked ({detail})"
    if isinstance(exc, RecursionError):
        return "definitions nest too deeply for the importer (RecursionError)"
    if isinstance(exc, MemoryError):
        return "out of memory while building the circuit"
    return f"{kind}: {detail}" if detail else kind


def _qasm3_position(exc: BaseException) -> str:
    """'line L, column C: near TOKEN' from an ANTLR error somewhere in the exception chain."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        token = getattr(e, "offendingToken", None)
        if token is not None and getattr(token, "line", None) is not None:
            return f"line {token.line}, column {token.column}: syntax error near {token.text!r}"
        stack.extend([e.__cause__, e.__context__])
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
    return ""


_DENSE_QUBITS = 5  # widest gate whose matrix is built from its definition (32 x 32)


def _compact_gates(circuit: QuantumCircuit, where: str, limits: QasmLimits) -> QuantumCircuit:
    """``circuit`` with each OpenQASM-defined gate replaced by a memoised :class:`_QasmGate`.

    Same name, parameters and definition, built once per distinct (name, parameters) and
    shared, with a memoised matrix.

    Qiskit's importer builds each instance's definition lazily and ``Operator``/``to_matrix``
    expand it again at every level, deep-copying the sub-tree each time: a 12-level, 4,096-gate
    definition took 41 s and 0.5 GiB through ``qsim-topo verify`` (2 cores), 16 levels over
    five minutes and 5 GiB. Here the work is one definition and one matrix per distinct gate.
    Building a definition is where errors in a gate body (a parameter missing from ``rx``)
    surface: they become a :class:`QasmLoadError` naming the gate.
    """
    from qiskit.circuit import ControlFlowOp

    memo: dict[tuple[str, tuple[str, ...]], Gate] = {}

    def rewrite(body: QuantumCircuit, depth: int) -> QuantumCircuit:
        if depth > limits.max_nesting + 1:  # the scan bounds it; never recurse unboundedly
            raise QasmLoadError(f"{where}: gate definitions nest over {limits.max_nesting} deep")
        out = body.copy_empty_like()
        for instr in body.data:
            op = instr.operation
            if isinstance(op, ControlFlowOp):
                op = op.replace_blocks([rewrite(b, depth) for b in op.blocks])
            elif type(op).__module__ == "qiskit.qasm2.parse" and isinstance(op, Gate):
                key = (op.name, tuple(map(repr, op.params)))
                gate = memo.get(key)
                if gate is None:
                    if len(memo) >= limits.max_operations:
                        raise QasmLoadError(
                            f"{where}: over {limits.max_operations} distinct gate instances "
                            "(max_operations)"
                        )
                    try:
                        definition = op.definition
                    except Exception as exc:
                        raise QasmLoadError(
                            f"{where}: the definition of gate {op.name!r} cannot be built: "
                            f"{_describe(exc)}"
                        ) from exc
                    inner = None if definition is None else rewrite(definition, depth + 1)
                    gate = _QasmGate(op.name, op.num_qubits, op.params, inner)
                    memo[key] = gate
                op = gate
            out._append(instr.replace(operation=op))
        return out

    return rewrite(circuit, 0)


class _QasmGate(Gate):
    """A gate an OpenQASM ``gate`` statement defined, its definition built once.

    Its matrix (up to five qubits) is computed once from the definition, with the matrices
    of the gates inside (each memoised in turn) composed by :class:`Operator`; wider gates have
    no matrix of their own (``to_matrix`` raises), so simulators expand their definition.
    """

    def __init__(
        self, name: str, num_qubits: int, params: list[Any], definition: QuantumCircuit | None
    ) -> None:
        super().__init__(name, num_qubits, list(params))
        self._qasm_definition = definition
        self._matrix: np.ndarray | None = None

    def _define(self) -> None:
        self._definition = self._qasm_definition

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy is False:
            raise ValueError("unable to avoid copy while creating an array as requested")
        if self._matrix is None:
            self._matrix = self._build_matrix()
        return np.array(self._matrix, dtype=dtype)

    def _build_matrix(self) -> np.ndarray:
        from qiskit.quantum_info import Operator

        body = self._qasm_definition
        if body is None or self.num_qubits > _DENSE_QUBITS:
            raise TypeError(f"gate {self.name!r} has no matrix of its own; expand its definition")
        index = {q: i for i, q in enumerate(body.qubits)}
        result = Operator(np.eye(2**self.num_qubits, dtype=complex))
        for instr in body.data:
            if instr.operation.name == "barrier":
                continue
            child = np.asarray(instr.operation.to_matrix(), dtype=complex)
            result = result.compose(Operator(child), qargs=[index[q] for q in instr.qubits])
        return np.asarray(result.data) * np.exp(1j * float(body.global_phase))


def load_qasm(
    path: str | Path, *, limits: QasmLimits = DEFAULT_LIMITS
) -> tuple[QuantumCircuit, int]:
    """Load an OpenQASM 2 or 3 file, within ``limits``.

    Returns:
        (circuit, major version). The circuit's name is the file's stem.

    Raises:
        QasmLoadError: the file cannot be read, exceeds a limit (named in the message, with
            the line), does not parse (the parser's message, with the line), names a gate with
            the wrong arity, has a gate definition that cannot be built, makes the parser
            panic, or is OpenQASM 3 without ``qiskit_qasm3_import`` installed. Nothing else.
    """
    from qiskit import qasm2, qasm3

    if not isinstance(path, (str, os.PathLike)):  # Path() raised a bare TypeError
        raise QasmLoadError(f"path must be a file path (str or os.PathLike), got {path!r:.60}")
    p = Path(path)
    if not isinstance(limits, QasmLimits):
        raise QasmLoadError(f"limits must be a QasmLimits, got {type(limits).__name__}")
    text = read_qasm_text(p, limits)
    if not _strip_comments(text).strip():
        # The OpenQASM 3 importer fails on an empty program with an AttributeError.
        raise QasmLoadError(f"{p}: the file holds no OpenQASM statement (empty program)")
    version = qasm_version(text)
    scan_qasm(text, path=p, limits=limits)
    try:
        if version == 2:
            try:
                circuit = qasm2.loads(
                    text,
                    include_path=(str(p.parent.resolve()), *map(str, qasm2.LEGACY_INCLUDE_PATH)),
                    custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
                )
            except qasm2.QASM2Error as exc:
                message = str(exc).strip("'\"")
                message = re.sub(r"<input>:(\d+),(\d+):", r"line \1, column \2:", message, count=1)
                raise QasmLoadError(f"{p}: {message}") from exc
        else:
            if importlib.util.find_spec("qiskit_qasm3_import") is None:
                raise QasmLoadError(
                    f"{p} is OpenQASM 3, which needs the qiskit_qasm3_import package "
                    "(pip install qiskit_qasm3_import)"
                )
            # ANTLR's console listener prints each syntax error on sys.stderr: keep them
            # for the message instead (the CLI prints one line).
            chatter = io.StringIO()
            try:
                with contextlib.redirect_stderr(chatter):
                    circuit = qasm3.loads(text)
            except Exception as exc:  # the importer raises several types, parse errors bare
                where = _qasm3_position(exc) or chatter.getvalue().strip().split("\n")[0]
                detail = str(exc).strip()
                message = "; ".join(m for m in (where, detail) if m) or type(exc).__name__
                raise QasmLoadError(f"{p}: {message}") from exc
        circuit = _compact_gates(circuit, str(p), limits)
    except QasmLoadError:
        raise
    except BaseException as exc:  # PanicException derives from BaseException
        if _is_fatal(exc):
            raise
        raise QasmLoadError(f"{p}: {_describe(exc)}") from exc
    circuit.name = p.stem
    return circuit, version
