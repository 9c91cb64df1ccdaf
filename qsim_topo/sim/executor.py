"""Run a :class:`~qsim_topo.circuit.Program` through a matmul engine: Program in, result out.

Shots are simulated in groups: a *branch* is one state (or unitary) with the set of shot
indices that share it and their classical memory. Gates apply once per branch; a mid-circuit
measurement or reset draws one outcome per shot of the branch and splits it into at most two
branches (the state collapsed by a projector, normalised, applied through the engine). Branches
are run depth first, so at most one state per pending split is alive. Terminal measurements
are sampled for all of a branch's shots from its final state.

Every operator application — gates, projectors of measurements and resets — goes through
:func:`apply_matrix`. With an exact engine it is :func:`qsim_topo.sim.kernels.apply_inplace`
(the state is updated in place, by the kernel the :class:`~qsim_topo.sim.kernels.KernelPolicy`
picks, so a run needs one state plus a small workspace) and the program first goes through the
passes of :mod:`qsim_topo.sim.passes`: runs of gates are fused into blocks of up to
``fusion_max_qubits`` qubits; where the policy has the tile kernel (the CPU with numba), the
blocks are instead at most :data:`~qsim_topo.sim.passes.TILE_BLOCK_QUBITS` wide and grouped
into tiles of up to ``tile_qubits`` qubits, each applied in one cache-blocked pass
(:func:`qsim_topo.sim.kernels.apply_tile`). With an approximate engine each gate is one
:func:`qsim_topo.sim.apply.apply_operator` product, as written in the circuit, so the engine
sees the circuit's own gates whatever the chunk size. A global phase is folded into the next
operator's matrix, or, when none follows, multiplied into the state as a scalar (not a matrix
product, so it costs the engine neither work nor error). Probabilities are chunked reductions
of ``|amplitude|^2`` (:mod:`qsim_topo.sim.measure`), never a full-size array.

Errors are the core's (:class:`~qsim_topo.errors.CircuitError`,
:class:`~qsim_topo.errors.StateVanishedError`, :class:`~qsim_topo.errors.EngineError`); front
ends translate them (:mod:`qsim_topo.qiskit.execute`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qsim_topo.circuit import Program, check_program
from qsim_topo.engines.base import MatmulEngine
from qsim_topo.errors import CircuitError
from qsim_topo.sim.branches import (
    MAX_BACKWARD_JUMPS,
    BranchExecutor,
    apply_matrix,
    marginal_probabilities,
)
from qsim_topo.sim.fusion import DEFAULT_FUSION_MAX_QUBITS
from qsim_topo.sim.kernels import DEFAULT_KERNELS, KernelPolicy
from qsim_topo.sim.memory import check_dtype, check_program_memory, widens_in_place
from qsim_topo.sim.numba_kernels import thread_limit
from qsim_topo.sim.passes import TILE_QUBITS, default_tile_qubits
from qsim_topo.sim.results import ExecutionResult

# ExecutionResult, apply_matrix, marginal_probabilities and MAX_BACKWARD_JUMPS live in
# sim.results and sim.branches; re-exported here, where callers have always found them.
__all__ = [
    "FUSION_DEFAULT",
    "FUSION_THRESHOLD",
    "MAX_BACKWARD_JUMPS",
    "TILE_QUBITS",
    "ExecutionResult",
    "apply_matrix",
    "check_program_memory",
    "default_tile_qubits",
    "execute",
    "marginal_probabilities",
    "widens_in_place",
]

FUSION_DEFAULT = True
"""Whether :func:`execute` fuses when its caller does not say (the backend always says)."""

FUSION_THRESHOLD = 10
"""Fuse only circuits of at least this many qubits (Aer's ``fusion_threshold``; Aer's default
is 14): below it a state is so small that planning and composing the blocks costs about what
applying the gates one by one does. With the tile pass, 10 to 13 qubits run in a pass or two
where gate by gate cost a kernel call per gate: 12-qubit brickwork, depth 20, 3.9 ms against
6.9 ms, 13-qubit QFT 2.4 against 8.9 (2 loaded cores, benchmarks/RESULTS.md, issue 23)."""



def execute(
    program: Program,
    engine: MatmulEngine,
    *,
    shots: int = 1,
    seed: int | None = None,
    device: str = "cpu",
    dtype: Any = np.complex128,
    fusion: bool | None = None,
    fusion_max_qubits: int = DEFAULT_FUSION_MAX_QUBITS,
    fusion_threshold: int | None = None,
    tiles: bool = True,
    tile_qubits: int | None = None,
    widen_final: bool = False,
    kernels: KernelPolicy = DEFAULT_KERNELS,
    initial: Any = None,
    final_on_device: bool = False,
    max_threads: int | None = None,
) -> ExecutionResult:
    """Simulate ``program`` for ``shots`` shots with ``engine``.

    Args:
        program: a :class:`~qsim_topo.circuit.Program` (built by hand and checked with
            :func:`~qsim_topo.circuit.check_program`, or converted by a front end such as
            :func:`~qsim_topo.qiskit.convert.circuit_to_program`). Not modified.
        engine: the engine every operator application goes through (wrapped in a
            :class:`~qsim_topo.engines.base.CheckedEngine` that counts and guards).
        shots: number of shots (>= 1).
        seed: seed of the measurement draws; the same seed gives the same memory.
        device: ``"cpu"``, ``"gpu"`` or ``"auto"``.
        dtype: complex64 or complex128.
        fusion: fuse runs of gates into blocks (exact engines only; with an approximate
            engine the gates are applied as written and the result's ``fusion`` says why);
            None: :data:`FUSION_DEFAULT`.
        fusion_max_qubits: the widest fused block.
        fusion_threshold: fuse only circuits of at least this many qubits; None:
            :data:`FUSION_THRESHOLD`.
        tiles: when fusing and ``kernels`` has the tile kernel here (the CPU with numba),
            group the blocks (of at most :data:`~qsim_topo.sim.passes.TILE_BLOCK_QUBITS`
            qubits) into tiles of
            ``tile_qubits`` qubits, each applied in one cache-blocked pass
            (:func:`qsim_topo.sim.kernels.apply_tile`). Aer calls this cache blocking.
        tile_qubits: the widest tile (>= 1; tiles too wide for the per-thread scratch bound,
            :func:`qsim_topo.sim.numba_kernels.tile_fits`, run gate by gate); None:
            :func:`~qsim_topo.sim.passes.default_tile_qubits` of the program's width (12 up to
            16 qubits, :data:`TILE_QUBITS` above).
        widen_final: return the final state or unitary as complex128 (what Qiskit's
            ``Statevector`` and ``Operator`` hold) whatever ``dtype`` the run used. Where
            :func:`widens_in_place` holds, the complex64 run takes place in the first half of
            the complex128 result, widened in place at the end: one allocation of 16 bytes
            per amplitude in all, instead of 8 for the run and 16 for the copy.
        kernels: the kernel policy of the in-place path
            (:class:`~qsim_topo.sim.kernels.KernelPolicy`); the result reports the family
            and the kernels that ran.
        initial: the start state (2^n,) or, for ``method="unitary"``, the start (2^n, 2^n)
            matrix; copied (never written). None: |0...0> or the identity.
        final_on_device: return the final state as the run's own array, on its device and in
            its dtype (without ``widen_final``), instead of a numpy copy.
        max_threads: at most this many threads for the compiled CPU kernels of the run (the
            gates and the measurement statistics); None or 0: every core (Aer's
            ``max_parallel_threads``). The result is the same for any value.

    Returns:
        An :class:`ExecutionResult`.

    Raises:
        CircuitError: a bad program (check_program), bad shots, tile width or thread limit, an
            initial value of the wrong shape, a snapshot after split shots, a loop that never
            ends.
        StateVanishedError: a state of zero or non-finite norm where it is measured.
        InsufficientMemoryError: not enough memory (checked before allocating).
        EngineError: the engine broke its contract.
    """
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise CircuitError(f"shots must be an integer >= 1, got {shots!r}")
    if tile_qubits is not None and (
        isinstance(tile_qubits, bool)
        or not isinstance(tile_qubits, (int, np.integer))
        or tile_qubits < 1
    ):
        raise CircuitError(
            f"tile_qubits must be None or a positive integer, got {tile_qubits!r}"
        )
    if max_threads is not None and (
        isinstance(max_threads, bool)
        or not isinstance(max_threads, (int, np.integer))
        or max_threads < 0
    ):
        raise CircuitError(
            f"max_threads must be None or an integer >= 0 (0: every core), got {max_threads!r}"
        )
    dtype = check_dtype(dtype)
    # Every program, also one built by hand and never checked: a gate repeating a qubit or a
    # matrix of the wrong shape would otherwise reach the compiled kernels (cheap: ~0.2 us a
    # plain gate).
    check_program(program, check_unitary=False)
    if initial is not None:
        dim = 2**program.n_qubits
        shape = (dim, dim) if program.method == "unitary" else (dim,)
        if tuple(initial.shape) != shape:
            raise CircuitError(
                f"program {program.name!r}: the initial value has shape "
                f"{tuple(initial.shape)}, expected {shape}"
            )
    check_program_memory(program, device, dtype, inplace=engine.exact, widen_final=widen_final)
    if fusion is None:
        fusion = FUSION_DEFAULT
    if fusion_threshold is None:
        fusion_threshold = FUSION_THRESHOLD
    with thread_limit(max_threads):
        return BranchExecutor(
            program,
            engine,
            shots,
            seed,
            device,
            dtype,
            fusion,
            fusion_max_qubits,
            fusion_threshold,
            tiles,
            tile_qubits,
            widen_final,
            kernels,
            initial,
            final_on_device,
        ).run()
