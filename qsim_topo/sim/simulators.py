"""State-vector and unitary simulators: a sequence of k-qubit ops applied through an engine."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qsim_topo.engines.base import CheckedEngine, MatmulEngine, options_for_report, resolve_engine
from qsim_topo.errors import QsimTopoError
from qsim_topo.sim.apply import apply_operator, check_unitary_matrix
from qsim_topo.sim.numba_kernels import MAX_TILE_BYTES
from qsim_topo.xp import check_memory, get_xp, resolve_device, synchronize

__all__ = [
    "SUPPORTED_DTYPES",
    "SimulationResult",
    "StatevectorSimulator",
    "UnitarySimulator",
    "simulation_bytes",
]

SUPPORTED_DTYPES = (np.dtype(np.complex64), np.dtype(np.complex128))
# Peak number of full tensors alive while one op is applied: the tensor itself, its permuted
# copy, the engine's output and the re-permuted result.
_PEAK_TENSORS = 4


def _check_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in SUPPORTED_DTYPES:
        raise QsimTopoError(f"dtype must be complex64 or complex128, got {dt}")
    return dt


# The in-place path (exact engines): the tensor, chunk temporaries, and reductions of one chunk,
# or, in the tile pass, one tile and the rows of its widest gate per thread.
_INPLACE_WORKSPACE_BYTES = max(128 * 2**20, 2 * MAX_TILE_BYTES * (os.cpu_count() or 1))


def simulation_bytes(n_qubits: int, dtype: Any, *, unitary: bool, inplace: bool = False) -> int:
    """Peak bytes a run needs: a few (2^n,) states, or (2^n, 2^n) matrices when ``unitary``.

    With ``inplace`` (the chunked path of :func:`qsim_topo.sim.kernels.apply_inplace`, used
    with exact engines) one tensor plus a fixed workspace: 128 MiB, or two tiles per CPU core
    (:data:`~qsim_topo.sim.numba_kernels.MAX_TILE_BYTES` each) where that is more.
    """
    itemsize = _check_dtype(dtype).itemsize
    elements = 4**n_qubits if unitary else 2**n_qubits
    if inplace:
        return elements * itemsize + _INPLACE_WORKSPACE_BYTES
    return _PEAK_TENSORS * elements * itemsize


@dataclass
class SimulationResult:
    """What a simulator run returns.

    Attributes:
        data: the final state (2^n,) or unitary (2^n, 2^n), on the simulator's device, in its
            dtype; owned by the caller.
        n_qubits: n.
        matmul_calls: engine products performed.
        flops_fraction: the engine's work over the run as a fraction of exact products'.
        wall_time_s: seconds spent applying ops (device synchronised at the end).
        engine: the engine's name; engine_options: the options it was built with.

    """

    data: Any
    n_qubits: int
    matmul_calls: int
    flops_fraction: float
    wall_time_s: float
    engine: str
    engine_options: dict[str, Any] = field(default_factory=dict)


class _Simulator:
    _unitary = False

    def __init__(
        self,
        engine: str | MatmulEngine = "exact",
        *,
        device: str = "cpu",
        dtype: Any = np.complex128,
        check_unitary: bool = True,
        **engine_options: Any,
    ) -> None:
        self.engine = resolve_engine(engine, **engine_options)
        self.device = resolve_device(device)
        self.dtype = _check_dtype(dtype)
        self.check_unitary = check_unitary

    def _initial(self, n_qubits: int, initial: Any) -> Any:
        xp = get_xp(self.device)
        dim = 2**n_qubits
        shape = (dim, dim) if self._unitary else (dim,)
        if initial is None:
            if self._unitary:
                return xp.eye(dim, dtype=self.dtype)
            out = xp.zeros(dim, dtype=self.dtype)
            out[0] = 1
            return out
        arr = xp.array(initial, dtype=self.dtype)  # a copy: the caller's array is never written
        if arr.shape != shape:
            raise QsimTopoError(f"initial value has shape {arr.shape}, expected {shape}")
        return arr

    def run(
        self, ops: Iterable[Sequence[Any]], n_qubits: int, *, initial: Any = None
    ) -> SimulationResult:
        """Apply ``ops`` (``(matrix, qubits)`` pairs, first op first) and return the result.

        ``initial`` defaults to |0...0> (state) or the identity (unitary). Memory is checked
        before anything is allocated; unitarity (when ``check_unitary``) is checked for every
        op before the first is applied, outside the timed region; qubits and shapes as each op
        is applied. ``wall_time_s`` covers the op applications only.

        Raises:
            InsufficientMemoryError, QsimTopoError, NotUnitaryError, EngineError.

        """
        if int(n_qubits) != n_qubits or n_qubits < 1:
            raise QsimTopoError(f"n_qubits must be a positive integer, got {n_qubits!r}")
        what = f"a {n_qubits}-qubit {'unitary' if self._unitary else 'state-vector'} simulation"
        op_list = [(matrix, tuple(qubits)) for matrix, qubits in ops]
        if self.check_unitary and op_list:
            # The check works on host complex128 copies: U, U^dagger U and the difference.
            biggest = max(int(np.prod(np.shape(m))) for m, _ in op_list)
            check_memory(3 * 16 * biggest, "cpu", f"the unitarity check of {what}")
        check_memory(
            simulation_bytes(n_qubits, self.dtype, unitary=self._unitary), self.device, what
        )
        if self.check_unitary:  # validated before the clock starts: timing covers products only
            for matrix, qubits in op_list:
                check_unitary_matrix(matrix, what=f"the operator on qubits {qubits}")
        counted = CheckedEngine(self.engine)
        xp = get_xp(self.device)
        tensor = self._initial(n_qubits, initial)
        synchronize(xp)
        start = time.perf_counter()
        for matrix, qubits in op_list:
            tensor = apply_operator(counted, tensor, matrix, qubits, n_qubits)
        synchronize(xp)
        return SimulationResult(
            data=tensor,
            n_qubits=n_qubits,
            matmul_calls=counted.calls,
            flops_fraction=counted.total_flops_fraction,
            wall_time_s=time.perf_counter() - start,
            engine=self.engine.name,
            engine_options=dict(options_for_report(self.engine)),
        )


class StatevectorSimulator(_Simulator):
    """Evolves a (2^n,) state vector; each op is one engine product of shape (2^k, 2^(n-k))."""

    _unitary = False


class UnitarySimulator(_Simulator):
    """Accumulates the (2^n, 2^n) unitary of the ops; each op is one (2^k,2^k)@(2^k,2^(2n-k))."""

    _unitary = True
