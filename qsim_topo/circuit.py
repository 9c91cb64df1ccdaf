"""The package's own circuit representation: a :class:`Program` of simple ops with jumps.

A program is a list of ops, like byte code, run by :func:`qsim_topo.sim.executor.execute`:

* :class:`GateOp` — a ``(matrix, qubits)`` pair, ``qubits[0]`` the least significant bit of
  the matrix index (Qiskit's convention, the one of :func:`qsim_topo.sim.apply.apply_operator`);
* :class:`TileOp` — gates grouped by the tile pass (:mod:`qsim_topo.sim.passes`), never
  written by hand;
* :class:`PhaseOp` — a global phase;
* :class:`MeasureOp`, :class:`ResetOp`, :class:`StoreOp`, :class:`SaveOp`;
* :class:`BranchOp` (jump when a condition is false), :class:`JumpOp`, :class:`SwitchOp`:
  if/else, loops and switches become jumps.

Conditions, switch values and stores are callables on a branch's :class:`ClassicalMemory`
(clbits as one Python int, plus named variables): :class:`BitCondition` and
:class:`RegisterCondition` are the usual ones; front ends compile richer expressions into
closures (:mod:`qsim_topo.qiskit.classical`).

Measurements in ``terminal_measures`` are sampled from each branch's final state instead of
splitting shots one at a time; :func:`defer_terminal_measures` moves a program's trailing
measurements there. :func:`check_program` validates a program built by hand, with errors that
name the op. Nothing here imports a front end. The classical memory and its conditions live in
:mod:`qsim_topo.classical` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, cast

import numpy as np

from qsim_topo.classical import BitCondition, ClassicalMemory, RegisterCondition
from qsim_topo.errors import CircuitError
from qsim_topo.gates import gate_matrix

__all__ = [
    "METHODS",
    "BitCondition",
    "BranchOp",
    "ClassicalMemory",
    "GateOp",
    "JumpOp",
    "MeasureOp",
    "Op",
    "PhaseOp",
    "Program",
    "RegisterCondition",
    "ResetOp",
    "SaveOp",
    "StoreOp",
    "SwitchOp",
    "TileOp",
    "check_program",
    "defer_terminal_measures",
    "gate",
]

METHODS = ("statevector", "unitary")


@dataclass(frozen=True)
class GateOp:
    """Apply ``matrix`` ((2^k, 2^k), unitary) to ``qubits`` (k distinct indices).

    ``qubits[0]`` is the least significant bit of the matrix index. The matrix is shared, not
    copied: programs never write it. ``name`` is for reports only.
    """

    matrix: Any
    qubits: tuple[int, ...]
    name: str = "unitary"


def gate(name: str, qubits: int | Sequence[int], *params: float) -> GateOp:
    """The :class:`GateOp` of the standard gate ``name`` (:mod:`qsim_topo.gates`) on ``qubits``.

    ``gate("cx", (0, 1))`` is a CX with control 0; ``gate("rz", 2, 0.5)`` an RZ on qubit 2.

    Raises:
        UnknownGateError: an unknown name.
        CircuitError: the wrong number of qubits or parameters.
    """
    qs = (int(qubits),) if isinstance(qubits, (int, np.integer)) else tuple(int(q) for q in qubits)
    matrix = gate_matrix(name, *params)
    if matrix.shape[0] != 2 ** len(qs):
        raise CircuitError(
            f"gate {name!r} acts on {matrix.shape[0].bit_length() - 1} qubit(s), got {qs}"
        )
    matrix.setflags(write=False)
    return GateOp(matrix, qs, name)


@dataclass(frozen=True)
class TileOp:
    """Apply ``gates`` in order, all inside the tile ``qubits`` (ascending), in one pass.

    Written by the tile passes (:mod:`qsim_topo.sim.passes`) for the cache-blocked CPU
    kernel; each gate's qubits are a subset of ``qubits``, in any order (the kernel sorts
    them; the fused blocks of :func:`~qsim_topo.sim.passes.tile_program` are ascending).
    """

    gates: tuple[GateOp, ...]
    qubits: tuple[int, ...]


@dataclass(frozen=True)
class PhaseOp:
    """Multiply the state by ``exp(1j * phase)``."""

    phase: float


@dataclass(frozen=True)
class MeasureOp:
    """Measure ``qubit`` in the computational basis into ``clbit``."""

    qubit: int
    clbit: int


@dataclass(frozen=True)
class ResetOp:
    """Reset ``qubit`` to |0>."""

    qubit: int


@dataclass(frozen=True)
class StoreOp:
    """Write classical memory: ``apply(memory)`` mutates a :class:`ClassicalMemory`."""

    apply: Callable[[ClassicalMemory], None]


@dataclass(frozen=True)
class SaveOp:
    """Record the current state (``kind="statevector"``) or unitary under ``label``."""

    kind: str
    label: str


@dataclass
class JumpOp:
    """Continue at op index ``target``."""

    target: int = -1


@dataclass
class BranchOp:
    """Continue at the next op when ``condition(memory)`` holds, else at ``target``."""

    condition: Callable[[ClassicalMemory], bool]
    target: int = -1


@dataclass
class SwitchOp:
    """Continue at ``table[value(memory)]``, or at ``default`` for a value not in the table."""

    value: Callable[[ClassicalMemory], int]
    table: dict[int, int] = field(default_factory=dict)
    default: int = -1


Op = (
    GateOp
    | TileOp
    | PhaseOp
    | MeasureOp
    | ResetOp
    | StoreOp
    | SaveOp
    | JumpOp
    | BranchOp
    | SwitchOp
)


@dataclass
class Program:
    """A circuit to simulate.

    Attributes:
        name: the circuit's name (for messages and reports).
        n_qubits, n_clbits: widths of the registers.
        ops: the program; execution starts at index 0 and ends past the last op.
        terminal_measures: ``(qubit, clbit)`` pairs, in order, sampled from the final state
            of each branch after ``ops``.
        method: ``"statevector"`` or ``"unitary"`` (unitary gates, phases and saves only).
    """

    name: str
    n_qubits: int
    n_clbits: int
    ops: list[Op]
    terminal_measures: list[tuple[int, int]] = field(default_factory=list)
    method: str = "statevector"

    @property
    def has_measurements(self) -> bool:
        """True when the program measures or resets anything (its final state is random)."""
        return bool(self.terminal_measures) or self.is_dynamic

    @property
    def is_dynamic(self) -> bool:
        """True when shots may split before the end (mid-circuit measurement or reset)."""
        # By the ops' distinct types (a C-level pass; ~4x faster than isinstance per op).
        return any(issubclass(t, (MeasureOp, ResetOp)) for t in set(map(type, self.ops)))


def _check_qubits(qubits: Sequence[int], n: int, where: str) -> None:
    qs = list(qubits)
    if not qs:
        raise CircuitError(f"{where} acts on no qubit")
    if len(set(qs)) != len(qs):
        raise CircuitError(f"{where} repeats a qubit: {tuple(qs)}")
    bad = [q for q in qs if not isinstance(q, (int, np.integer)) or not 0 <= q < n]
    if bad:
        raise CircuitError(f"{where}: qubits {bad} are outside the register of {n} qubits")


def _check_clbit(clbit: int, n_clbits: int, where: str) -> None:
    if not isinstance(clbit, (int, np.integer)) or not 0 <= clbit < n_clbits:
        raise CircuitError(f"{where}: clbit {clbit!r} is outside the {n_clbits} clbits")


def _check_gate(op: GateOp, n: int, where: str, check_unitary: bool) -> None:
    _check_qubits(op.qubits, n, where)
    dim = 2 ** len(op.qubits)
    shape = tuple(getattr(op.matrix, "shape", ()))
    if shape != (dim, dim):
        raise CircuitError(
            f"{where} on {len(op.qubits)} qubit(s) needs a ({dim}, {dim}) matrix, got {shape}"
        )
    kind = getattr(getattr(op.matrix, "dtype", None), "kind", "")
    if kind not in _NUMERIC_KINDS:
        raise CircuitError(
            f"{where}: the matrix must hold numbers (bool, int, float or complex), got dtype "
            f"{getattr(op.matrix, 'dtype', None)}"
        )
    if check_unitary:
        m = np.asarray(
            op.matrix.get() if hasattr(op.matrix, "get") else op.matrix, dtype=np.complex128
        )
        if not np.isfinite(m).all():
            raise CircuitError(f"{where}: the matrix holds NaN or Inf entries")
        dev = float(np.max(np.abs(m.conj().T @ m - np.eye(dim))))
        if dev > 1e-8:
            raise CircuitError(
                f"{where}: the matrix is not unitary (max |U^dagger U - I| = {dev:.3g})"
            )


_NUMERIC_KINDS = frozenset("biufc")


def _gate_ok(op: GateOp, n: int) -> bool:
    """True when :func:`_check_gate` (without unitarity) has nothing to say about ``op``.

    A conservative screen: False only sends the op through the full check, which decides.
    """
    qs = op.qubits
    if type(qs) is not tuple:
        return False
    k = len(qs)
    if k == 1:
        q = qs[0]
        if type(q) is not int or not 0 <= q < n:
            return False
    elif k == 2:
        q, r = qs
        if type(q) is not int or type(r) is not int or q == r or not (0 <= q < n and 0 <= r < n):
            return False
    else:
        return False
    shape = getattr(op.matrix, "shape", None)
    if type(shape) is not tuple or shape != (1 << k, 1 << k):
        return False
    return getattr(getattr(op.matrix, "dtype", None), "kind", "") in _NUMERIC_KINDS


def _plain_gates_ok(ops: list[Op], n: int) -> bool:
    """True when every op is a :class:`GateOp` that :func:`_gate_ok` passes, screened at once.

    A conservative screen (False sends the ops one by one through the checks): gates on a
    tuple of distinct Python ints in 0..n-1, each with a numeric matrix of shape (2^k, 2^k).
    Whole-list operations instead of a call per op (~0.5 us an op); gates of 3 or more
    qubits (few) are tested for repeats one by one.
    """
    if not ops or set(map(type, ops)) != {GateOp}:
        return False
    gates = cast(list[GateOp], ops)
    qubit_sets = [op.qubits for op in gates]
    if set(map(type, qubit_sets)) != {tuple}:
        return False
    ks = list(map(len, qubit_sets))
    if 0 in ks or any(len(set(qs)) != len(qs) for qs in qubit_sets if len(qs) > 2):
        return False
    flat = list(chain.from_iterable(qubit_sets))
    if set(map(type, flat)) != {int}:
        return False
    try:
        qs = np.array(flat, dtype=np.int64)
    except OverflowError:  # a qubit beyond int64: the full check names it
        return False
    if qs.min() < 0 or qs.max() >= n:
        return False
    widths = np.array(ks, dtype=np.int64)
    ends = np.cumsum(widths)
    pairs = ends[widths == 2]  # one past each 2-qubit gate's qubits
    if (qs[pairs - 1] == qs[pairs - 2]).any():
        return False
    matrices = [op.matrix for op in gates]
    shapes = [getattr(m, "shape", None) for m in matrices]
    if shapes != [(1 << k, 1 << k) for k in ks]:
        return False
    kinds = {getattr(getattr(m, "dtype", None), "kind", "") for m in matrices}
    return kinds <= _NUMERIC_KINDS


def check_program(program: Program, *, check_unitary: bool = True) -> None:
    """Validate ``program`` before it runs; raise a :class:`CircuitError` naming the bad op.

    Checks the registers' widths and the method, every op's qubits (distinct, in range),
    clbits, matrix shapes and (with ``check_unitary``) unitarity, tiles, jump targets (in
    0..len(ops)), and that a ``"unitary"`` program neither measures nor resets.
    """
    name = program.name
    n = program.n_qubits
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise CircuitError(f"program {name!r}: n_qubits must be a positive integer, got {n!r}")
    nc = program.n_clbits
    if isinstance(nc, bool) or not isinstance(nc, (int, np.integer)) or nc < 0:
        raise CircuitError(f"program {name!r}: n_clbits must be an integer >= 0, got {nc!r}")
    if program.method not in METHODS:
        raise CircuitError(
            f"program {name!r}: unknown method {program.method!r}; expected one of {METHODS}"
        )
    end = len(program.ops)
    unitary = program.method == "unitary"
    if not check_unitary and _plain_gates_ok(program.ops, n):
        return _check_terminal_measures(program)
    for i, op in enumerate(program.ops):
        if not check_unitary and type(op) is GateOp and _gate_ok(op, n):
            continue  # the common case, without the message built for an error (~1 us an op)
        where = f"program {name!r}, op {i} ({type(op).__name__})"
        if isinstance(op, GateOp):
            _check_gate(op, n, where, check_unitary)
        elif isinstance(op, TileOp):
            _check_qubits(op.qubits, n, where)
            for g in op.gates:
                _check_gate(g, n, where, check_unitary)
                if not set(g.qubits) <= set(op.qubits):
                    raise CircuitError(f"{where}: gate on {g.qubits} is outside the tile")
        elif isinstance(op, (MeasureOp, ResetOp)):
            if unitary:
                raise CircuitError(f"{where}: method='unitary' cannot measure or reset")
            _check_qubits((op.qubit,), n, where)
            if isinstance(op, MeasureOp):
                _check_clbit(op.clbit, nc, where)
        elif isinstance(op, (JumpOp, BranchOp)):
            if not 0 <= op.target <= end:
                raise CircuitError(f"{where}: jump target {op.target} is outside 0..{end}")
        elif isinstance(op, SwitchOp):
            for t in [*op.table.values(), op.default]:
                if not 0 <= t <= end:
                    raise CircuitError(f"{where}: jump target {t} is outside 0..{end}")
        elif isinstance(op, SaveOp):
            if op.kind != program.method:
                raise CircuitError(
                    f"{where}: saves a {op.kind} but the method is {program.method!r}"
                )
        elif not isinstance(op, (PhaseOp, StoreOp)):
            raise CircuitError(f"{where}: not an op of qsim_topo.circuit")
    _check_terminal_measures(program)


def _check_terminal_measures(program: Program) -> None:
    name = program.name
    n = program.n_qubits
    nc = program.n_clbits
    if program.method == "unitary" and program.terminal_measures:
        raise CircuitError(f"program {name!r}: method='unitary' cannot measure")
    for q, c in program.terminal_measures:
        _check_qubits((q,), n, f"program {name!r}, terminal measure")
        _check_clbit(c, nc, f"program {name!r}, terminal measure")


def defer_terminal_measures(program: Program) -> Program:
    """The same program with its trailing measurements moved into ``terminal_measures``.

    A measurement is deferred when nothing after it acts on its qubit or clbit and no control
    flow, store or save follows it; the executor then samples all of them from one final
    state instead of splitting the shots at each. Returns a new program (``program`` is not
    modified); the ops before the first kept op are shared.
    """
    ops = program.ops
    blocked_q: set[int] = set()
    blocked_c: set[int] = set()
    deferred: list[int] = []
    for pos in range(len(ops) - 1, -1, -1):
        op = ops[pos]
        if isinstance(op, PhaseOp):
            continue
        if isinstance(op, MeasureOp):
            if op.qubit not in blocked_q and op.clbit not in blocked_c:
                deferred.append(pos)
                continue
            blocked_q.add(op.qubit)
            blocked_c.add(op.clbit)
        elif isinstance(op, GateOp):
            blocked_q.update(op.qubits)
        elif isinstance(op, TileOp):
            blocked_q.update(op.qubits)
        elif isinstance(op, ResetOp):
            blocked_q.add(op.qubit)
        else:
            break  # jumps, stores, saves: what follows may depend on the measurement
        if len(blocked_q) == program.n_qubits:
            break
    # A jump past a measurement skips it on that path: only those after every target go.
    targets = [t for op in ops if isinstance(op, (JumpOp, BranchOp)) for t in (op.target,)]
    for op in ops:
        if isinstance(op, SwitchOp):
            targets.extend([*op.table.values(), op.default])
    last_target = max(targets, default=-1)
    deferred = [d for d in deferred if d >= last_target]
    if not deferred:
        return program
    # Ops after a deferred measure are shifted by one per deferred op before them; jumps can
    # only target the end of this straight-line tail, which stays the end.
    keep = set(deferred)
    end = len(ops)
    shift = [0] * (end + 1)
    removed = 0
    for i in range(end + 1):
        shift[i] = i - removed
        if i in keep:
            removed += 1
    new_ops: list[Op] = []
    for i, op in enumerate(ops):
        if i in keep:
            continue
        if isinstance(op, JumpOp):
            op = JumpOp(shift[op.target])
        elif isinstance(op, BranchOp):
            op = BranchOp(op.condition, shift[op.target])
        elif isinstance(op, SwitchOp):
            op = SwitchOp(
                op.value, {k: shift[t] for k, t in op.table.items()}, shift[op.default]
            )
        new_ops.append(op)
    terminal = list(program.terminal_measures)
    front = [(ops[i].qubit, ops[i].clbit) for i in sorted(deferred)]  # type: ignore[union-attr]
    return Program(
        name=program.name,
        n_qubits=program.n_qubits,
        n_clbits=program.n_clbits,
        ops=new_ops,
        terminal_measures=front + terminal,
        method=program.method,
    )
