"""What a run of :func:`qsim_topo.sim.executor.execute` returns: :class:`ExecutionResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ExecutionResult"]


@dataclass
class ExecutionResult:
    """What :func:`execute` returns.

    Attributes:
        memory: per-shot classical memory in shot order (Python ints, bit i = clbit i);
            all zeros for a circuit without clbits.
        final: the final state (2^n,) or unitary (2^n, 2^n) as a numpy array (the run's own
            array with ``final_on_device``), only when the
            circuit neither measures nor resets (resets of qubits nothing acted on are dropped by
            the conversion): its end state is the same for every shot;
            in the run's dtype, or complex128 when :func:`execute` was asked to widen it.
        saved: snapshots of :class:`~qsim_topo.circuit.SaveOp` by label, numpy arrays.
        branches: how many branches ended (1 for a circuit without mid-circuit randomness).
        matmul_calls, flops_fraction: the engine's products and work fraction.
        wall_time_s: seconds of simulation (device synchronised).
        engine, engine_options: the engine's name and the options it was built with.
        fusion: what the passes did (:meth:`~qsim_topo.sim.passes.FusionReport.as_dict`, or
            ``enabled`` False and the ``reason``).
        kernel_family: ``"numba"``, ``"numpy"`` (the fallback: numba not asked for or not
            loadable), ``"cuda"``, or ``"reference"`` (an approximate engine: every gate one
            :func:`~qsim_topo.sim.apply.apply_operator` product).
        kernels: how many times each kernel of :data:`~qsim_topo.sim.kernels.KERNELS` ran
            (``"apply_operator"`` for the reference path).
    """

    memory: list[int]
    final: Any
    saved: dict[str, np.ndarray] = field(default_factory=dict)
    branches: int = 1
    matmul_calls: int = 0
    flops_fraction: float = 1.0
    wall_time_s: float = 0.0
    engine: str = ""
    engine_options: dict[str, Any] = field(default_factory=dict)
    fusion: dict[str, Any] = field(default_factory=dict)
    kernel_family: str = ""
    kernels: dict[str, int] = field(default_factory=dict)
