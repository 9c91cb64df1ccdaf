"""qsim_topo: quantum circuit simulation through pluggable exact and approximate matmul engines.

Every matrix product goes through an engine (``get_engine``), so the effect of an approximate
matrix multiplication on a quantum computation can be measured with honest metrics
(``qsim_topo.metrics``). Importing this package loads numpy (and scipy lazily), never cupy,
qiskit or matplotlib.
"""

from __future__ import annotations

from qsim_topo import metrics as metrics
from qsim_topo._version import __version__ as __version__
from qsim_topo.engines import available_engines as available_engines
from qsim_topo.engines import get_engine as get_engine
from qsim_topo.engines import register_engine as register_engine
from qsim_topo.errors import QsimTopoError as QsimTopoError
from qsim_topo.experiments import LayerStackReport as LayerStackReport
from qsim_topo.experiments import run_layer_stack as run_layer_stack
from qsim_topo.layers import haar_unitary as haar_unitary
from qsim_topo.sim import StatevectorSimulator as StatevectorSimulator
from qsim_topo.sim import UnitarySimulator as UnitarySimulator
