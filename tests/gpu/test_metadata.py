"""Every result records the execution path that ran (issue 21, honest metadata): the backend's
experiments, the layer stack (and so the sweeps that store its reports) and verify."""

from __future__ import annotations

import pytest

from qsim_topo import xp as xpmod
from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.layer_stack import run_layer_stack
from qsim_topo.sim.paths import execution_path

qiskit = pytest.importorskip("qiskit")


def test_layer_stack_report_records_the_path():
    report = run_layer_stack(3, 2, kind="brickwork", device="auto", samples=10, haar_states=2)
    assert report.execution_path == execution_path(report.device)
    assert report.to_dict()["execution_path"]["device"] == report.device


def test_backend_results_record_the_path():
    from qiskit import QuantumCircuit

    from qsim_topo.qiskit.backend import QsimTopoBackend

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    result = QsimTopoBackend(device="auto").run(qc, shots=10, seed_simulator=1).result()
    meta = result.results[0].metadata
    assert meta["execution_path"] == execution_path(meta["device"])
    assert meta["execution_path"]["device"] in ("cpu", "gpu")


def test_verify_report_records_the_path():
    from qiskit import QuantumCircuit

    from qsim_topo.qiskit.verify import verify_circuit

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    report = verify_circuit(qc, engine="bf16", shots=50, seed=1)
    assert report.execution_path == execution_path("cpu")


@pytest.mark.skipif(xpmod.gpu_available(), reason="a GPU is present")
def test_asking_for_a_gpu_without_one_is_an_error_not_a_cpu_run():
    from qsim_topo.qiskit.backend import QsimTopoBackend

    with pytest.raises(QsimTopoError, match="gpu"):
        run_layer_stack(3, 1, device="gpu")
    with pytest.raises(QsimTopoError, match="gpu"):
        QsimTopoBackend(device="gpu")
