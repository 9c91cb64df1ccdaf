"""Simulation: apply k-qubit operators through a matmul engine."""

from __future__ import annotations

from qsim_topo.sim.apply import apply_operator as apply_operator
from qsim_topo.sim.simulators import SimulationResult as SimulationResult
from qsim_topo.sim.simulators import StatevectorSimulator as StatevectorSimulator
from qsim_topo.sim.simulators import UnitarySimulator as UnitarySimulator
from qsim_topo.sim.simulators import simulation_bytes as simulation_bytes
