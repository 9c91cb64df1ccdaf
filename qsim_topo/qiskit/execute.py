"""The core executor (:mod:`qsim_topo.sim.executor`) with Qiskit's errors.

The same functions, whose core errors (:class:`~qsim_topo.errors.CircuitError`,
:class:`~qsim_topo.errors.StateVanishedError`, :class:`~qsim_topo.errors.InsufficientMemoryError`)
come out as :class:`~qsim_topo.qiskit.errors.QsimTopoCircuitError` and
:class:`~qsim_topo.qiskit.errors.QsimTopoStateVanishedError`, both ``QiskitError``: what the
backend, the primitives and ``verify`` call. Nothing else lives here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qsim_topo.circuit import Program
from qsim_topo.engines.base import MatmulEngine
from qsim_topo.qiskit.errors import qiskit_errors
from qsim_topo.sim import executor as _core
from qsim_topo.sim import memory as _memory
from qsim_topo.sim.executor import ExecutionResult

__all__ = ["ExecutionResult", "check_program_memory", "execute", "marginal_probabilities"]


def execute(program: Program, engine: MatmulEngine, **options: Any) -> ExecutionResult:
    """:func:`qsim_topo.sim.executor.execute` with Qiskit's errors (same arguments)."""
    with qiskit_errors():
        return _core.execute(program, engine, **options)


def check_program_memory(program: Program, device: str, dtype: Any, **options: Any) -> None:
    """:func:`qsim_topo.sim.memory.check_program_memory` with Qiskit's errors."""
    with qiskit_errors():
        _memory.check_program_memory(program, device, dtype, **options)


def marginal_probabilities(tensor: Any, qubits: list[int], n: int) -> np.ndarray:
    """:func:`qsim_topo.sim.executor.marginal_probabilities` with Qiskit's errors."""
    with qiskit_errors():
        return _core.marginal_probabilities(tensor, qubits, n)
