"""Branch execution: the run behind :func:`qsim_topo.sim.executor.execute`.

A *branch* is one state (or unitary) with the set of shot indices that share it and their
classical memory; :class:`BranchExecutor` applies the program's ops to it, splits it at
mid-circuit measurements and resets, and runs the branches depth first (the executor's module
docstring tells the whole story). :func:`apply_matrix` is the single operator application
point; :func:`marginal_probabilities` the chunked reduction a branch is sampled from.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from qsim_topo.circuit import (
    BranchOp,
    ClassicalMemory,
    GateOp,
    JumpOp,
    MeasureOp,
    PhaseOp,
    Program,
    ResetOp,
    SaveOp,
    StoreOp,
    SwitchOp,
    TileOp,
)
from qsim_topo.engines.base import (
    CheckedEngine,
    MatmulEngine,
    is_builtin_exact,
    options_for_report,
)
from qsim_topo.errors import CircuitError, QsimTopoError, StateVanishedError
from qsim_topo.sim.apply import apply_operator
from qsim_topo.sim.kernels import DEFAULT_KERNELS, KernelPolicy, apply_inplace, apply_tile
from qsim_topo.sim.measure import marginal_probabilities as _marginal
from qsim_topo.sim.measure import memory_words, qubit_weights, sample_outcomes
from qsim_topo.sim.memory import widens_in_place
from qsim_topo.sim.passes import prepare_program
from qsim_topo.sim.results import ExecutionResult
from qsim_topo.xp import (
    array_namespace,
    get_xp,
    resolve_device,
    synchronize,
    to_numpy,
    widen_complex64_inplace,
)

__all__ = ["MAX_BACKWARD_JUMPS", "BranchExecutor", "apply_matrix", "marginal_probabilities"]

MAX_BACKWARD_JUMPS = 1_000_000
"""Loop iterations (over all branches) after which a run is taken to never terminate."""


def apply_matrix(
    engine: MatmulEngine,
    tensor: Any,
    matrix: Any,
    qubits: tuple[int, ...],
    n: int,
    *,
    kernels: KernelPolicy = DEFAULT_KERNELS,
    used: dict[str, int] | None = None,
) -> Any:
    """Apply one operator through the engine (the single application point of this module).

    In place for an exact engine, by the kernel ``kernels`` picks (returns ``tensor``,
    overwritten); else one :func:`~qsim_topo.sim.apply.apply_operator` product (a new array).
    ``used`` counts the kernels, as in :func:`~qsim_topo.sim.kernels.apply_inplace`.
    """
    if engine.exact:
        return apply_inplace(engine, tensor, matrix, qubits, n, kernels=kernels, used=used)
    if used is not None:
        used["apply_operator"] = used.get("apply_operator", 0) + 1
    return apply_operator(engine, tensor, matrix, qubits, n)


def marginal_probabilities(tensor: Any, qubits: list[int], n: int) -> np.ndarray:
    """Probabilities of measuring ``qubits`` (ascending) on ``tensor``.

    See :func:`qsim_topo.sim.measure.marginal_probabilities`.

    Raises:
        StateVanishedError: the state is zero or not finite.
    """
    try:
        return _marginal(tensor, qubits, n)
    except QsimTopoError as exc:
        raise StateVanishedError(f"the final state cannot be sampled: {exc}") from exc


def _with_phase(matrix: Any, phase: complex) -> Any:
    """``matrix * phase``, in complex128 at least.

    A complex64 matrix times a Python complex stays complex64 under numpy's promotion: the
    phase would be rounded to single precision even for a complex128 state.
    """
    xp = array_namespace(matrix)
    return xp.asarray(matrix, dtype=xp.result_type(matrix.dtype, xp.complex128)) * phase


@dataclass
class _Branch:
    pc: int
    tensor: Any
    memory: ClassicalMemory
    shots: np.ndarray  # int64 shot indices
    phase: complex = 1.0 + 0.0j
    splits: int = 0
    # Bit q set: every amplitude of `tensor` whose index has bit q set is exactly zero (qubit
    # q is |0>: no gate has acted on it since |0...0>, or a projection put it there), so the
    # tile pass may skip the rows it keeps zero.
    zero_mask: int = 0


class BranchExecutor:
    """One run of a program, built from :func:`~qsim_topo.sim.executor.execute`'s arguments.

    The arguments are those of ``execute``, already checked there; :meth:`run` runs once.
    """

    def __init__(
        self,
        program: Program,
        engine: MatmulEngine,
        shots: int,
        seed: int | None,
        device: str,
        dtype: Any,
        fusion: bool,
        fusion_max_qubits: int,
        fusion_threshold: int,
        tiles: bool,
        tile_qubits: int | None,
        widen_final: bool,
        kernels: KernelPolicy,
        initial: Any,
        final_on_device: bool,
    ) -> None:
        # The input-mutation guard costs two fingerprints per operand and product, and the
        # finiteness check one more read of every product; both are kept for every engine but
        # qsim_topo's own exact ones (plain xp.matmul), whose final state is checked: a
        # plug-in declaring itself exact is still watched.
        trusted = is_builtin_exact(engine)
        self.engine = CheckedEngine(engine, check_inputs=not trusted, check_finite=not trusted)
        self.base_engine = engine
        self.kernels = kernels
        device = resolve_device(device)
        self.kernel_family = kernels.family(device) if engine.exact else "reference"
        self.used: dict[str, int] = {}
        given_tiles = {id(op) for op in program.ops if isinstance(op, TileOp)}
        program, self.fusion = prepare_program(
            program,
            self.engine,
            fusion=fusion,
            fusion_max_qubits=fusion_max_qubits,
            fusion_threshold=fusion_threshold,
            tiles=tiles and kernels.tiles_available(device),
            tile_qubits=tile_qubits,
        )
        self.program = program
        # The tiles made by the passes above (not any a caller wrote): their gates are
        # complex128 numpy blocks on ascending qubits inside the tile, by construction.
        self._own_tiles = {
            id(op) for op in program.ops if isinstance(op, TileOp) and id(op) not in given_tiles
        }
        self.shots = int(shots)
        self.seed = seed
        self.xp = get_xp(device)
        self.dtype = np.dtype(dtype)
        self.n = program.n_qubits
        self.initial = initial
        self.final_on_device = final_on_device
        # int64 words while every clbit fits one (vectorised writes); Python ints beyond.
        self.memory = np.zeros(self.shots, dtype=np.int64 if program.n_clbits <= 62 else object)
        self.saved: dict[str, np.ndarray] = {}
        self.final: Any = None
        self.widen_final = widen_final
        # With widen_in_place: the complex128 buffer and the complex64 state inside it.
        self.widen_in_place = widen_final and widens_in_place(
            program, device, self.dtype, inplace=engine.exact
        )
        self._wide: np.ndarray | None = None
        self._narrow: np.ndarray | None = None
        self.branches = 0
        self.backward_jumps = 0

    @cached_property
    def rng(self) -> np.random.Generator:
        """The run's generator of measurement draws, made at the first draw (~15 us)."""
        return np.random.default_rng(self.seed)

    def _initial(self) -> Any:
        dim = 2**self.n
        unitary = self.program.method == "unitary"
        if self.widen_in_place:
            elements = dim * dim if unitary else dim
            self._wide = np.zeros(elements, dtype=np.complex128)
            flat = self._wide.view(np.complex64)[:elements]
            if self.initial is not None:
                flat[:] = to_numpy(self.initial).reshape(-1)
            elif unitary:
                flat[:: dim + 1] = 1  # the identity's diagonal
            else:
                flat[0] = 1
            self._narrow = flat.reshape(dim, dim) if unitary else flat
            return self._narrow
        if self.initial is not None:
            # A copy in the run's dtype and device: the caller's array is never written.
            return self.xp.array(self.initial, dtype=self.dtype)
        if unitary:
            return self.xp.eye(dim, dtype=self.dtype)
        out = self.xp.zeros(dim, dtype=self.dtype)
        out[0] = 1
        return out

    def _final_array(self, tensor: Any) -> np.ndarray:
        """The final state as a numpy array (complex128 with ``widen_final``).

        ``tensor`` is the run's own, not used afterwards.
        """
        if self.final_on_device and not self.widen_final:
            return tensor
        shape = tensor.shape
        if self._wide is not None and tensor is self._narrow:
            return widen_complex64_inplace(self._wide).reshape(shape)
        final = to_numpy(tensor)
        return final.astype(np.complex128, copy=False) if self.widen_final else final

    def _apply(self, br: _Branch, matrix: np.ndarray, qubits: tuple[int, ...]) -> None:
        if br.phase != 1.0:
            matrix = _with_phase(matrix, br.phase)
            br.phase = 1.0 + 0.0j
        br.tensor = apply_matrix(
            self.engine, br.tensor, matrix, qubits, self.n, kernels=self.kernels, used=self.used
        )
        for q in qubits:
            br.zero_mask &= ~(1 << int(q))  # a numpy int8 qubit would overflow

    def _apply_tile(self, br: _Branch, op: TileOp) -> None:
        gates = [(g.matrix, g.qubits) for g in op.gates]
        if br.phase != 1.0:
            gates[0] = (_with_phase(gates[0][0], br.phase), gates[0][1])
            br.phase = 1.0 + 0.0j
        br.tensor = apply_tile(
            self.engine,
            br.tensor,
            gates,
            op.qubits,
            self.n,
            zero_mask=br.zero_mask,
            kernels=self.kernels,
            used=self.used,
            gates_checked=id(op) in self._own_tiles,
        )
        for q in op.qubits:
            br.zero_mask &= ~(1 << int(q))  # a numpy int8 qubit would overflow

    def _flush_phase(self, br: _Branch) -> None:
        """Multiply a pending global phase into the state: a scalar, not a matrix product."""
        if br.phase != 1.0:
            br.tensor *= br.tensor.dtype.type(br.phase)  # branches never share a tensor
            br.phase = 1.0 + 0.0j

    def run(self) -> ExecutionResult:
        """Run every branch to its end and gather the :class:`ExecutionResult`."""
        start = time.perf_counter()
        root = _Branch(0, self._initial(), ClassicalMemory(), np.arange(self.shots, dtype=np.int64))
        if self.program.method != "unitary" and self.initial is None:
            root.zero_mask = (1 << self.n) - 1  # |0...0>
        stack = [root]
        while stack:
            br = stack.pop()
            self._run_branch(br, stack)
        synchronize(self.xp)
        return ExecutionResult(
            memory=self.memory.tolist(),  # Python ints either way
            final=self.final,
            saved=self.saved,
            branches=self.branches,
            matmul_calls=self.engine.calls,
            flops_fraction=self.engine.total_flops_fraction,
            wall_time_s=time.perf_counter() - start,
            engine=self.base_engine.name,
            engine_options=dict(options_for_report(self.base_engine)),
            fusion=self.fusion,
            kernel_family=self.kernel_family,
            kernels=dict(self.used),
        )

    def _run_branch(self, br: _Branch, stack: list[_Branch]) -> None:
        ops = self.program.ops
        while br.pc < len(ops):
            op = ops[br.pc]
            br.pc += 1
            if isinstance(op, GateOp):
                self._apply(br, op.matrix, op.qubits)
            elif isinstance(op, TileOp):
                self._apply_tile(br, op)
            elif isinstance(op, PhaseOp):
                br.phase *= complex(math.cos(op.phase), math.sin(op.phase))
            elif isinstance(op, MeasureOp):
                self._measure(br, stack, op.qubit, op.clbit)
            elif isinstance(op, ResetOp):
                self._measure(br, stack, op.qubit, None)
            elif isinstance(op, BranchOp):
                if not op.condition(br.memory):
                    self._jump(br, op.target)
            elif isinstance(op, JumpOp):
                self._jump(br, op.target)
            elif isinstance(op, SwitchOp):
                self._jump(br, op.table.get(op.value(br.memory), op.default))
            elif isinstance(op, StoreOp):
                op.apply(br.memory)
            elif isinstance(op, SaveOp):
                self._save(br, op)
            else:  # pragma: no cover - the converter emits nothing else
                raise AssertionError(f"unknown op {op!r}")
        self._finish(br)

    def _jump(self, br: _Branch, target: int) -> None:
        if target < br.pc:
            self.backward_jumps += 1
            if self.backward_jumps > MAX_BACKWARD_JUMPS:
                raise CircuitError(
                    f"circuit {self.program.name!r}: loops ran more than {MAX_BACKWARD_JUMPS} "
                    "iterations; a while loop does not terminate"
                )
        br.pc = target

    def _measure(self, br: _Branch, stack: list[_Branch], qubit: int, clbit: int | None) -> None:
        """Measure (clbit given) or reset (clbit None) ``qubit`` for every shot of ``br``."""
        w0, w1 = qubit_weights(br.tensor, qubit, self.n)
        total = w0 + w1
        if not math.isfinite(total) or total <= 0.0:
            raise StateVanishedError(
                f"circuit {self.program.name!r}: the state has squared norm {total} at a "
                f"{'measurement' if clbit is not None else 'reset'} (engine "
                f"{self.base_engine.name!r})"
            )
        p1 = w1 / total
        if (p1 == 0.0 or p1 == 1.0) and abs(total - 1.0) < 1e-12:
            # Certain outcome on a normalised state: no draw, no projection needed (a reset
            # of a qubit in |0>, a re-measurement); only the classical bit is written.
            if p1 == 1.0 and clbit is None:
                self._apply(br, np.array([[0, 1], [0, 0]], dtype=np.complex128), (qubit,))
                self._projected_to_zero(br, qubit)
            elif clbit is not None:
                br.memory.set_bit(clbit, int(p1))
            return
        ones = self.rng.random(br.shots.size) < p1
        n_ones = int(ones.sum())
        outcomes = []
        if n_ones < br.shots.size:
            outcomes.append((0, br.shots[~ones], w0))
        if n_ones:
            outcomes.append((1, br.shots[ones], w1))
        # Projections of an exact engine run in place: the second child gets its own copy,
        # taken before the first child's projection overwrites the shared state.
        tensors = [br.tensor] * len(outcomes)
        if len(outcomes) > 1 and self.engine.exact:
            tensors[1] = br.tensor.copy()
        children = []
        for (outcome, shots, weight), tensor in zip(outcomes, tensors, strict=True):
            scale = 1.0 / math.sqrt(weight)
            proj = np.zeros((2, 2), dtype=np.complex128)
            if clbit is None and outcome == 1:
                proj[0, 1] = scale  # |0><1|: project on 1, then flip to 0
            else:
                proj[outcome, outcome] = scale
            child = _Branch(br.pc, tensor, br.memory, shots, br.phase, br.splits + 1, br.zero_mask)
            if len(outcomes) > 1:
                child.memory = br.memory.copy()
            self._apply(child, proj, (qubit,))
            if clbit is None or outcome == 0:
                self._projected_to_zero(child, qubit)
            if clbit is not None:
                child.memory.set_bit(clbit, outcome)
            children.append(child)
        # Continue with the first child in place; the other waits on the stack.
        first = children[0]
        br.tensor, br.memory = first.tensor, first.memory
        br.shots, br.phase = first.shots, first.phase
        br.zero_mask = first.zero_mask
        if len(children) > 1:
            br.splits += 1
            stack.append(children[1])

    def _projected_to_zero(self, br: _Branch, qubit: int) -> None:
        """``qubit`` was just projected on |0> (a reset, or a measurement of 0) by `_apply`.

        The projection's row for bit 1 is zero, so an exact product wrote exact zeros there
        (from a finite state, which `_measure` checked): the qubit is |0> again in the mask.
        An approximate engine's product promises no such zeros.
        """
        if self.engine.exact:
            br.zero_mask |= 1 << qubit

    def _save(self, br: _Branch, op: SaveOp) -> None:
        name = self.program.name
        if br.shots.size != self.shots:
            raise CircuitError(
                f"circuit {name!r}: {op.kind} snapshot {op.label!r} is reached after a "
                "measurement split the shots into different states; save before measuring"
            )
        if op.label in self.saved:
            raise CircuitError(f"circuit {name!r}: snapshot label {op.label!r} is saved twice")
        # The product is a new array: the snapshot never aliases the running state.
        self.saved[op.label] = to_numpy(br.tensor * br.tensor.dtype.type(br.phase))

    def _finish(self, br: _Branch) -> None:
        self.branches += 1
        program = self.program
        if not program.has_measurements:
            self._flush_phase(br)
            self._check_finite(br.tensor)
            # The branch's tensor is the run's own (never shared, never saved uncopied).
            self.final = self._final_array(br.tensor)
        terminal = program.terminal_measures
        if not terminal:
            self.memory[br.shots] = br.memory.bits
            return
        qubits = sorted({q for q, _ in terminal})
        try:
            draws = sample_outcomes(br.tensor, qubits, self.n, br.shots.size, self.rng)
        except QsimTopoError as exc:
            raise StateVanishedError(
                f"circuit {program.name!r}: the final state cannot be sampled ({exc}); "
                f"engine {self.base_engine.name!r}"
            ) from exc
        self.memory[br.shots] = memory_words(
            br.memory.bits, draws, terminal, qubits, wide=program.n_clbits > 62
        )

    def _check_finite(self, tensor: Any) -> None:
        flat = tensor.reshape(-1)
        # A plain sum propagates NaN and Inf (Inf - Inf is NaN) in one pass on one thread;
        # vdot is BLAS, whose threads cost milliseconds per call on a loaded machine
        # (benchmarks/RESULTS.md, issue 23). A finite state of enormous amplitudes could
        # overflow the sum: the element-wise test decides then.
        total = complex(to_numpy(self.xp.sum(flat)))
        if not (math.isfinite(total.real) and math.isfinite(total.imag)) and not bool(
            to_numpy(self.xp.isfinite(flat).all())
        ):
            raise StateVanishedError(
                f"circuit {self.program.name!r}: engine {self.base_engine.name!r} left NaN or "
                "Inf in the final state"
            )
