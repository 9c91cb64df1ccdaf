"""Qiskit integration: provider, BackendV2, jobs, Sampler/Estimator V2, OpenQASM verification.

This subpackage is the only place that imports Qiskit, and ``import qsim_topo`` does not load
it: import it explicitly (``from qsim_topo.qiskit import QsimTopoBackend``). It needs the
``qiskit`` extra (``pip install 'qsim_topo[qiskit]'``).
"""

from __future__ import annotations

from qsim_topo.circuit import Program as Program
from qsim_topo.qiskit.backend import QsimTopoBackend as QsimTopoBackend
from qsim_topo.qiskit.backend import QsimTopoProvider as QsimTopoProvider
from qsim_topo.qiskit.convert import circuit_to_program as circuit_to_program
from qsim_topo.qiskit.errors import QasmLoadError as QasmLoadError
from qsim_topo.qiskit.errors import QsimTopoBackendError as QsimTopoBackendError
from qsim_topo.qiskit.errors import QsimTopoCircuitError as QsimTopoCircuitError
from qsim_topo.qiskit.errors import QsimTopoJobError as QsimTopoJobError
from qsim_topo.qiskit.errors import QsimTopoOptionError as QsimTopoOptionError
from qsim_topo.qiskit.errors import QsimTopoStateVanishedError as QsimTopoStateVanishedError
from qsim_topo.qiskit.instructions import SaveStatevector as SaveStatevector
from qsim_topo.qiskit.instructions import SaveUnitary as SaveUnitary
from qsim_topo.qiskit.instructions import save_statevector as save_statevector
from qsim_topo.qiskit.instructions import save_unitary as save_unitary
from qsim_topo.qiskit.job import QsimTopoJob as QsimTopoJob
from qsim_topo.qiskit.primitives import EstimatorV2 as EstimatorV2
from qsim_topo.qiskit.primitives import SamplerV2 as SamplerV2
