"""Experiments built on the simulators and metrics: the layer stack (sweeps come later)."""

from __future__ import annotations

from qsim_topo.experiments.diagnostics import diagnose as diagnose
from qsim_topo.experiments.layer_stack import LayerStackReport as LayerStackReport
from qsim_topo.experiments.layer_stack import run_layer_stack as run_layer_stack
