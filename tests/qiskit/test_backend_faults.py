"""A failing plug-in engine in the backend and in verify: an error naming engine and call.

The engine under test is tests/faulty_engines.py's ``test-faulty``, which breaks the matmul
contract on its second product (or in flops_fraction, or in its constructor).
"""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

from qsim_topo.errors import EngineError
from qsim_topo.qiskit.backend import QsimTopoBackend
from qsim_topo.qiskit.errors import QsimTopoJobError, QsimTopoOptionError
from qsim_topo.qiskit.verify import verify_circuit
from tests.faulty_engines import FLOPS_FAULTS, MATMUL_FAULTS


def _ghz() -> QuantumCircuit:
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure_all()
    return qc


@pytest.mark.parametrize("fault", MATMUL_FAULTS + FLOPS_FAULTS)
def test_a_backend_job_error_names_the_engine_and_the_call(faulty, fault):
    backend = QsimTopoBackend(faulty, fault=fault, at_call=2)
    with pytest.raises(QsimTopoJobError, match="engine 'test-faulty'") as info:
        backend.run(_ghz(), shots=10, seed_simulator=1).result()
    cause = info.value.__cause__
    assert isinstance(cause, EngineError)
    assert ("matmul call 2" if fault in MATMUL_FAULTS else "flops_fraction(") in str(cause)


def test_an_input_mutation_is_caught_even_when_the_plugin_claims_to_be_exact(faulty):
    """qsim_topo's own exact engine is spared the guard; a plug-in saying exact is not.

    Without tiles, so that the run calls the engine (fusion composes through it; with tiles a
    3-qubit state is one pass of the tile kernel, which calls no engine product at all).
    """
    backend = QsimTopoBackend(faulty, fault="mutate", at_call=1, exact=True)
    with pytest.raises(QsimTopoJobError, match="'test-faulty' modified its input operands"):
        backend.run(_ghz(), shots=10, seed_simulator=1, blocking_enable=False).result()


def test_a_failing_constructor_names_the_engine(faulty):
    with pytest.raises(QsimTopoOptionError, match="'test-faulty' failed in its constructor"):
        QsimTopoBackend(faulty, fault="init")


@pytest.mark.parametrize("fault", ["matmul", "mutate", "list", "flops-inf"])
def test_verify_raises_the_engine_error(faulty, fault):
    qc = _ghz()
    with pytest.raises(EngineError, match="engine 'test-faulty'"):
        verify_circuit(qc, engine=faulty, engine_options={"fault": fault, "at_call": 2}, shots=10)


def test_a_plugin_claiming_to_be_exact_never_runs_in_the_callers_thread(faulty, monkeypatch):
    """A small job of qsim_topo's exact engine runs inside ``run()``; the same job of a plug-in
    that declares itself exact goes to a job thread (its speed is unknown: a slow plug-in must
    not hold up ``run()``), and its counts are still right."""
    import threading

    from qsim_topo.qiskit import backend as backend_module

    threads = []
    real_execute = backend_module.execute

    def recording_execute(*args, **kwargs):
        threads.append(threading.current_thread())
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(backend_module, "execute", recording_execute)
    QsimTopoBackend(device="cpu").run(_ghz(), shots=10).result()
    assert threads == [threading.current_thread()]
    plugin = QsimTopoBackend(faulty, fault="none", exact=True, device="cpu")
    assert not backend_module.runs_inline([], plugin.run_config(shots=10))
    counts = plugin.run(_ghz(), shots=200, seed_simulator=3).result().get_counts()
    assert len(threads) == 2 and threads[1] is not threading.current_thread()
    assert set(counts) == {"000", "111"} and sum(counts.values()) == 200


def test_a_wrapped_plugin_is_not_taken_for_a_builtin(faulty):
    from qsim_topo.engines.base import CheckedEngine, get_engine, is_builtin_exact

    plugin = get_engine(faulty, fault="none", exact=True)
    assert not is_builtin_exact(plugin)
    assert not is_builtin_exact(CheckedEngine(CheckedEngine(plugin)))
    assert is_builtin_exact(CheckedEngine(get_engine("exact")))
    assert not is_builtin_exact(get_engine("bf16"))
