"""Checked gate matrices for :mod:`qsim_topo.qiskit.convert`, with their caches.

A gate's matrix comes from the instruction (``CircuitInstruction.matrix``, where Qiskit offers
it), from ``gate.to_matrix()``, or from ``Operator(gate).data``; it is checked (shape, unitary)
once and returned read-only (complex128, shape (2^k, 2^k)): the arrays are shared by every
program that uses them and must not be written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from qiskit.circuit import CircuitInstruction, Instruction
from qiskit.circuit.library import UnitaryGate
from qiskit.quantum_info import Operator

from qsim_topo.errors import NotUnitaryError
from qsim_topo.sim.apply import check_unitary_matrix

__all__ = [
    "INSTRUCTION_MATRIX",
    "MAX_DENSE_DEFINED_QUBITS",
    "MAX_UNITARY_ATOL",
    "UNITARY_ATOL",
    "GateMatrices",
    "unitary_atol",
]

# max |U^dagger U - I| allowed for a matrix of exact entries (a UnitaryGate, angles near 0).
UNITARY_ATOL = 1e-8
# The most a gate's angles may widen it: past this Qiskit's own matrix is too inaccurate to be
# a rotation by the given angles (reduce them modulo 4 pi), and the run is refused.
MAX_UNITARY_ATOL = 1e-5
_EPS = float(np.finfo(np.float64).eps)


def unitary_atol(params: Any) -> float:
    """The unitarity tolerance of a gate's matrix as Qiskit builds it from ``params``.

    Qiskit computes phases such as ``exp(1j * (phi + lam))`` from the float angles, whose
    rounding (about eps * |angle|) breaks unitarity by as much: ``u(1e9, 2e9, 3e9)`` is off by
    ~1e-7. The tolerance is ``UNITARY_ATOL`` widened to 8 eps times the sum of the absolute
    numeric parameters, at most ``MAX_UNITARY_ATOL``.
    """
    scale = 0.0
    for p in () if params is None else params:
        if isinstance(p, (int, float, np.integer, np.floating)) and not isinstance(p, bool):
            value = abs(float(p))
            if np.isfinite(value):
                scale += value
    return min(max(UNITARY_ATOL, 8 * _EPS * scale), MAX_UNITARY_ATOL)

# Gates without a matrix of their own (composite gates, MCX...) wider than this are expanded
# into their definition rather than turned into one dense 2^k x 2^k matrix.
MAX_DENSE_DEFINED_QUBITS = 5

# Checked matrices of standard gates and UnitaryGates by (width, shape, bytes of the matrix),
# shared across conversions so that repeated circuits do not re-check the same matrices (the key
# is the content, so gates of the same matrix share one). Read-only arrays.
_MATRIX_CACHE: dict[Any, np.ndarray] = {}
_MATRIX_CACHE_SIZE = 4096

INSTRUCTION_MATRIX = hasattr(CircuitInstruction, "matrix") and hasattr(
    CircuitInstruction, "is_standard_gate"
)
"""Whether ``CircuitInstruction.matrix`` and ``.is_standard_gate()`` exist: they give a standard
gate's or a UnitaryGate's matrix without building its Python object, which cost 2 of the ~6 us
per instruction."""


class _Identity:
    """Hashes and compares by the identity of the object it holds (and keeps it alive)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.obj is self.obj


class GateMatrices:
    """The matrices of one conversion's gates.

    Args:
        fail: builds the exception raised for a bad matrix from its message (the converter's
            error, which names the circuit).
    """

    def __init__(self, fail: Callable[[str], Exception]) -> None:
        self._fail = fail
        # Other gates, by object identity, for this conversion only; the op is kept alive in
        # the key so that its id cannot be reused by a temporary object.
        self._local_cache: dict[Any, np.ndarray] = {}

    def of_operation(self, op: Instruction) -> np.ndarray | None:
        """The matrix of a bound gate, or None when it should be expanded into its definition."""
        # Standard gates and UnitaryGate are fully described by their matrix: checked once per
        # matrix, across conversions. Any other gate (to_gate() circuits, controlled custom
        # gates, PauliEvolutionGate...) is cached by object only, within this conversion.
        if getattr(op, "_standard_gate", None) is not None or isinstance(op, UnitaryGate):
            return self.shared(op.to_matrix(), op.name, op.num_qubits, params=op.params)
        key = _Identity(op)
        cached = self._local_cache.get(key)
        if cached is not None:
            return cached
        matrix: np.ndarray | None
        try:
            matrix = np.asarray(op.to_matrix(), dtype=np.complex128)
        except Exception:  # no matrix of its own: Operator builds it from the definition
            if op.definition is not None and op.num_qubits > MAX_DENSE_DEFINED_QUBITS:
                return None
            try:
                matrix = np.asarray(Operator(op).data, dtype=np.complex128)
            except Exception as exc:
                if op.definition is not None:
                    return None
                raise self._fail(
                    f"gate {op.name!r} has neither a matrix nor a definition ({exc})"
                ) from exc
        self.check(matrix, op.name, op.num_qubits, unitary_atol(op.params))
        if len(self._local_cache) >= _MATRIX_CACHE_SIZE:
            self._local_cache.clear()
        matrix.setflags(write=False)
        self._local_cache[key] = matrix
        return matrix

    def of_instruction(self, instr: Any, name: str) -> np.ndarray | None:
        """A standard gate's or UnitaryGate's matrix from the instruction, or None (no matrix).

        See :data:`INSTRUCTION_MATRIX`.
        """
        # A ParameterExpression parameter, even one with nothing left to bind (``.bind()``
        # results), gives no matrix here: the operation path decides (the circuit's unbound
        # parameters were refused before conversion).
        if instr.is_parameterized():
            return None
        matrix = instr.matrix
        if matrix is None:
            return None
        # The tolerance only matters to a matrix not checked before: computed on a miss.
        return self.shared(matrix, name, len(instr.qubits), params=instr.params)

    def shared(
        self,
        matrix: Any,
        name: str,
        num_qubits: int,
        atol: float = UNITARY_ATOL,
        *,
        params: Any = None,
    ) -> np.ndarray:
        """``matrix`` checked, from the shared cache when the same matrix was checked before.

        ``atol``: the unitarity tolerance; with ``params`` (the gate's parameters), it is
        :func:`unitary_atol` of them instead, computed only when the matrix is not cached.
        """
        matrix = np.asarray(matrix, dtype=np.complex128)
        key = (num_qubits, matrix.shape, matrix.tobytes())
        cached = _MATRIX_CACHE.get(key)
        if cached is not None:
            return cached
        if params is not None:
            atol = unitary_atol(params)
        self.check(matrix, name, num_qubits, atol)
        if len(_MATRIX_CACHE) >= _MATRIX_CACHE_SIZE:
            _MATRIX_CACHE.clear()  # bounded; refilled by the circuits that follow
        matrix = matrix.copy()  # may be the gate's own array (UnitaryGate.to_matrix())
        matrix.setflags(write=False)  # shared by every program that uses this gate
        _MATRIX_CACHE[key] = matrix
        return matrix

    def check(
        self, matrix: np.ndarray, name: str, num_qubits: int, atol: float = UNITARY_ATOL
    ) -> None:
        """Raise ``fail``'s error unless ``matrix`` is a (2^num_qubits)-square unitary.

        Unitary within ``atol`` (max |U^dagger U - I|); see :func:`unitary_atol`.
        """
        if matrix.shape != (2**num_qubits, 2**num_qubits):
            raise self._fail(
                f"gate {name!r} on {num_qubits} qubits has a matrix of shape {matrix.shape}"
            )
        try:
            check_unitary_matrix(matrix, atol=atol, what=f"the matrix of {name!r}")
        except NotUnitaryError as exc:
            raise self._fail(str(exc)) from exc
