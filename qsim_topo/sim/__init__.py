"""Simulation: kernels, passes, the executor and the simulators over it.

Import order inside this package (checked by tests/test_imports.py): ``apply`` (the reference
``apply_operator``), ``measure``, ``numba_kernels`` and ``_numba_sequence``, ``chunks``,
``gpu_kernels``, ``kernels`` (the registry and policy), ``planning``, ``fusion``, ``passes``
(Program -> Program), ``memory``, ``executor`` (Program -> result), ``simulators``.
"""

from __future__ import annotations

from qsim_topo.sim.apply import apply_operator as apply_operator
from qsim_topo.sim.executor import ExecutionResult as ExecutionResult
from qsim_topo.sim.executor import execute as execute
from qsim_topo.sim.kernels import DEFAULT_KERNELS as DEFAULT_KERNELS
from qsim_topo.sim.kernels import NUMPY_KERNELS as NUMPY_KERNELS
from qsim_topo.sim.kernels import KernelPolicy as KernelPolicy
from qsim_topo.sim.memory import simulation_bytes as simulation_bytes
from qsim_topo.sim.simulators import SimulationResult as SimulationResult
from qsim_topo.sim.simulators import StatevectorSimulator as StatevectorSimulator
from qsim_topo.sim.simulators import UnitarySimulator as UnitarySimulator
