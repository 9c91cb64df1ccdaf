"""State-vector and unitary simulators: thin fronts over the executor (:mod:`.executor`).

``StatevectorSimulator().run(ops, n)`` takes ``(matrix, qubits)`` pairs (or
:class:`~qsim_topo.circuit.GateOp` s, or any op of :mod:`qsim_topo.circuit`), or a whole
:class:`~qsim_topo.circuit.Program` with measurements, resets and classical control, and runs
it through :func:`~qsim_topo.sim.executor.execute`: the same fusion, tile pass and kernels as
the Qiskit backend, so the Python API and the backend take the same time for the same circuit
(``benchmarks/api_vs_backend.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qsim_topo.circuit import GateOp, MeasureOp, Op, Program
from qsim_topo.engines.base import MatmulEngine, resolve_engine
from qsim_topo.errors import ArgumentTypeError, InvalidArgumentError
from qsim_topo.sim.apply import check_unitary_matrices
from qsim_topo.sim.executor import FUSION_THRESHOLD, execute
from qsim_topo.sim.fusion import DEFAULT_FUSION_MAX_QUBITS
from qsim_topo.sim.kernels import DEFAULT_KERNELS, KernelPolicy
from qsim_topo.sim.memory import (
    SUPPORTED_DTYPES,
    check_dtype,
    check_shots_memory,
    simulation_bytes,
)
from qsim_topo.validation import (
    check_bool,
    check_choice,
    check_int,
    check_int_sequence,
    check_seed,
    describe,
)
from qsim_topo.xp import resolve_device

__all__ = [
    "DEVICES",
    "MAX_FUSION_QUBITS",
    "MAX_QUBITS",
    "SUPPORTED_DTYPES",
    "SimulationResult",
    "StatevectorSimulator",
    "UnitarySimulator",
    "simulation_bytes",
]

DEVICES = ("cpu", "gpu", "auto")
MAX_FUSION_QUBITS = 10  # as the backend's fusion_max_qubit
# Beyond any memory (2^60 amplitudes); refused with this bound before any size arithmetic.
MAX_QUBITS = 60


@dataclass
class SimulationResult:
    """What a simulator run returns.

    Attributes:
        data: the final state (2^n,) or unitary (2^n, 2^n), on the simulator's device, in its
            dtype, owned by the caller; None when the program measures or resets (its final
            state differs between shots).
        n_qubits: n.
        matmul_calls: engine products performed (a block or tile kernel counts its gates).
        flops_fraction: the engine's work over the run as a fraction of exact products'.
        wall_time_s: seconds of the run (passes and simulation; device synchronised).
        engine: the engine's name; engine_options: the options it was built with.
        memory: per-shot classical memory (Python ints, bit i = clbit i), in shot order.
        fusion: what fusion and the tile pass did (see the executor's result).
        kernel_family: ``"numba"``, ``"numpy"`` (numba off or not loadable), ``"cuda"`` or
            ``"reference"`` (an approximate engine); kernels: how often each kernel ran.
        branches: how many branches of shots the run ended with.
    """

    data: Any
    n_qubits: int
    matmul_calls: int
    flops_fraction: float
    wall_time_s: float
    engine: str
    engine_options: dict[str, Any] = field(default_factory=dict)
    memory: list[int] = field(default_factory=list)
    fusion: dict[str, Any] = field(default_factory=dict)
    kernel_family: str = ""
    kernels: dict[str, int] = field(default_factory=dict)
    branches: int = 1

    @property
    def counts(self) -> dict[int, int]:
        """How many shots ended with each classical memory value (ints, first-seen order)."""
        out: dict[int, int] = {}
        for value in self.memory:
            out[value] = out.get(value, 0) + 1
        return out


def _as_op(item: Any, index: int) -> Op:
    if isinstance(item, GateOp) or not isinstance(item, (tuple, list)):
        return item  # an op of qsim_topo.circuit (check_program names anything else)
    if len(item) != 2:
        raise ArgumentTypeError(
            f"ops[{index}] must be a (matrix, qubits) pair or an op of qsim_topo.circuit, got "
            f"{describe(item)}"
        )
    matrix, qubits = item
    if isinstance(qubits, (int, np.integer)) and not isinstance(qubits, (bool, np.bool_)):
        qubits = (qubits,)
    qs = tuple(check_int_sequence(f"ops[{index}] qubits", qubits, min=0))
    arr = matrix
    if not (hasattr(matrix, "shape") and hasattr(matrix, "dtype")):  # numpy or cupy: kept
        try:
            arr = np.asarray(matrix)
        except Exception:  # ragged nesting and the like
            arr = np.asarray(None)
    kind = getattr(arr.dtype, "kind", "")
    if kind not in tuple("biufc") or len(arr.shape) != 2 or arr.shape[0] != arr.shape[1]:
        raise ArgumentTypeError(
            f"ops[{index}] matrix must be a square numeric array, got {describe(matrix)}"
        )
    matrix = arr
    return GateOp(matrix, qs)


class _Simulator:
    _method = "statevector"

    def __init__(
        self,
        engine: str | MatmulEngine = "exact",
        *,
        device: str = "cpu",
        dtype: Any = np.complex128,
        check_unitary: bool = True,
        fusion: bool = True,
        fusion_max_qubits: int = DEFAULT_FUSION_MAX_QUBITS,
        fusion_threshold: int = FUSION_THRESHOLD,
        tiles: bool = True,
        tile_qubits: int | None = None,
        kernels: KernelPolicy = DEFAULT_KERNELS,
        **engine_options: Any,
    ) -> None:
        if not isinstance(engine, (str, MatmulEngine)):
            raise ArgumentTypeError(
                f"engine must be an engine name or a MatmulEngine, got {describe(engine)}"
            )
        self.device = resolve_device(check_choice("device", device, DEVICES))
        self.dtype = check_dtype(dtype)
        self.check_unitary = check_bool("check_unitary", check_unitary)
        if not isinstance(kernels, KernelPolicy):
            raise ArgumentTypeError(f"kernels must be a KernelPolicy, got {describe(kernels)}")
        self.options: dict[str, Any] = {
            "fusion": check_bool("fusion", fusion),
            "fusion_max_qubits": check_int(
                "fusion_max_qubits", fusion_max_qubits, min=1, max=MAX_FUSION_QUBITS
            ),
            "fusion_threshold": check_int("fusion_threshold", fusion_threshold, min=1),
            "tiles": check_bool("tiles", tiles),
            "tile_qubits": None
            if tile_qubits is None
            else check_int("tile_qubits", tile_qubits, min=1, max=MAX_QUBITS),
            "kernels": kernels,
        }
        self.engine = resolve_engine(engine, **engine_options)

    def program(self, ops: Iterable[Any], n_qubits: int, *, name: str = "circuit") -> Program:
        """The :class:`~qsim_topo.circuit.Program` of ``ops`` on ``n_qubits`` (not checked).

        ``ops``: ``(matrix, qubits)`` pairs or ops of :mod:`qsim_topo.circuit`; the program
        has as many clbits as its measurements need.
        """
        if isinstance(ops, (str, bytes)) or not isinstance(ops, Iterable):
            raise ArgumentTypeError(
                f"ops must be an iterable of (matrix, qubits) pairs or ops, got {describe(ops)}"
            )
        op_list = [_as_op(item, i) for i, item in enumerate(ops)]
        clbits = [op.clbit for op in op_list if isinstance(op, MeasureOp)]
        n_clbits = max((int(c) + 1 for c in clbits if isinstance(c, (int, np.integer))), default=0)
        return Program(name, n_qubits, n_clbits, op_list, method=self._method)

    def run(
        self,
        circuit: Program | Iterable[Any],
        n_qubits: int | None = None,
        *,
        initial: Any = None,
        shots: int = 1,
        seed: int | None = None,
    ) -> SimulationResult:
        """Simulate ``circuit`` and return the result.

        Args:
            circuit: a :class:`~qsim_topo.circuit.Program` (measurements, resets, classical
                control), or ops: ``(matrix, qubits)`` pairs or :mod:`qsim_topo.circuit` ops
                (first op first), with ``n_qubits``.
            n_qubits: the register width, for ops (a program carries its own).
            initial: the start state (2^n,) or unitary (2^n, 2^n), copied; None: |0...0> or
                the identity.
            shots: shots to sample (measurements and resets split them).
            seed: seed of the measurement draws.

        Memory is checked before anything is allocated and every op (unitarity too, when
        ``check_unitary``) before the first is applied.

        Raises:
            InsufficientMemoryError, CircuitError, NotUnitaryError, QsimTopoError, EngineError.
        """
        seed = check_seed("seed", seed)
        if isinstance(circuit, Program):
            program = circuit
            if n_qubits is not None and n_qubits != program.n_qubits:
                raise InvalidArgumentError(
                    f"n_qubits {n_qubits} differs from the program's {program.n_qubits}"
                )
            if program.method != self._method:
                raise InvalidArgumentError(
                    f"{type(self).__name__} runs method={self._method!r} programs, got "
                    f"{program.method!r}"
                )
        else:
            if n_qubits is None:
                raise InvalidArgumentError(
                    "n_qubits is required when ops (not a Program) are given"
                )
            program = self.program(circuit, check_int("n_qubits", n_qubits, min=1, max=MAX_QUBITS))
        shots = check_shots_memory(
            shots, program.n_clbits, what=f"circuit {program.name!r}"
        )
        initial_kind = getattr(getattr(initial, "dtype", None), "kind", "")
        if initial is not None and initial_kind not in tuple("biufc"):
            raise ArgumentTypeError(
                f"initial must be a numeric array (numpy or cupy) or None, got {describe(initial)}"
            )
        if self.check_unitary:  # before the clock starts: timing covers the run only
            gates = [op for op in program.ops if isinstance(op, GateOp)]
            check_unitary_matrices(
                [op.matrix for op in gates], lambda i: f"the operator on qubits {gates[i].qubits}"
            )
        run = execute(  # which checks the program first (check_program)
            program,
            self.engine,
            shots=shots,
            seed=seed,
            device=self.device,
            dtype=self.dtype,
            initial=initial,
            final_on_device=True,
            **self.options,
        )
        return SimulationResult(
            data=run.final,
            n_qubits=program.n_qubits,
            matmul_calls=run.matmul_calls,
            flops_fraction=run.flops_fraction,
            wall_time_s=run.wall_time_s,
            engine=run.engine,
            engine_options=run.engine_options,
            memory=run.memory,
            fusion=run.fusion,
            kernel_family=run.kernel_family,
            kernels=run.kernels,
            branches=run.branches,
        )


class StatevectorSimulator(_Simulator):
    """Evolves a (2^n,) state vector: gates, measurements, resets and classical control."""

    _method = "statevector"


class UnitarySimulator(_Simulator):
    """Accumulates the (2^n, 2^n) unitary of unitary ops (no measurement or reset)."""

    _method = "unitary"
