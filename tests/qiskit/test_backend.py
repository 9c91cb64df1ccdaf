"""Provider, BackendV2, Target, options, jobs, result format and input validation."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Instruction, Parameter
from qiskit.circuit.library import GlobalPhaseGate, UnitaryGate, get_standard_gate_name_mapping
from qiskit.exceptions import QiskitError
from qiskit.providers import BackendV2, JobStatus, JobV1
from qiskit.providers.exceptions import QiskitBackendNotFoundError
from qiskit.quantum_info import Operator, Statevector, random_unitary
from qiskit.transpiler import generate_preset_pass_manager

from qsim_topo.engines.exact import ExactEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.qiskit import (
    QsimTopoBackend,
    QsimTopoCircuitError,
    QsimTopoJobError,
    QsimTopoOptionError,
    QsimTopoProvider,
    save_statevector,
    save_unitary,
)
from qsim_topo.qiskit.backend import runs_inline
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.sim.executor import ExecutionResult
from tests.qiskit.qiskit_helpers import mixing_circuit


def _bell(measure: bool = True) -> QuantumCircuit:
    qc = QuantumCircuit(2, 2 if measure else 0, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    if measure:
        qc.measure([0, 1], [0, 1])
    return qc


def test_import_qsim_topo_does_not_import_qiskit():
    code = "import sys, qsim_topo, qsim_topo.cli.main; print('qiskit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_provider_hands_out_backends():
    provider = QsimTopoProvider()
    names = [b.name for b in provider.backends()]
    assert names == ["qsim_topo", "qsim_topo_unitary"]
    default = provider.get_backend()
    assert isinstance(default, BackendV2) and default.name == "qsim_topo"
    assert default.options.method == "statevector"
    assert provider.get_backend("qsim_topo_unitary").options.method == "unitary"
    assert provider.backends(name="qsim_topo")[0].name == "qsim_topo"
    with pytest.raises(QiskitBackendNotFoundError, match="no qsim_topo backend named 'nope'"):
        provider.get_backend("nope")


def test_target_has_every_standard_gate_and_control_flow(backend):
    target = backend.target
    names = set(target.operation_names)
    assert set(get_standard_gate_name_mapping()) <= names
    assert {"unitary", "measure", "reset", "delay", "barrier", "store", "if_else", "for_loop",
            "while_loop", "switch_case", "break_loop", "continue_loop"} <= names
    assert target.num_qubits is None or target.num_qubits >= 30
    assert target.build_coupling_map() is None
    assert backend.max_circuits is None


def test_preset_pass_manager_keeps_dynamic_circuit(backend):
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.append(UnitaryGate(Operator.from_label("XY")), [1, 2])
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)) as else_:
        qc.x(1)
    with else_:
        qc.rz(0.1, 2)
    with qc.while_loop((qc.clbits[1], 0)):
        qc.h(1)
        qc.measure(1, 1)
    with qc.for_loop(range(2)):
        qc.reset(2)
    qc.delay(100, 0)
    qc.barrier()
    qc.measure([1, 2], [1, 2])
    out = generate_preset_pass_manager(1, backend=backend).run(qc)
    assert out.num_qubits == 3
    assert {"if_else", "while_loop", "for_loop", "measure", "unitary"} <= set(out.count_ops())
    loop = next(i.operation for i in out.data if i.operation.name == "for_loop")
    assert "reset" in loop.blocks[0].count_ops()


def test_counts_memory_and_header_follow_aer(backend):
    qr = QuantumRegister(3, "q")
    a, b = ClassicalRegister(1, "a"), ClassicalRegister(2, "b")
    qc = QuantumCircuit(qr, a, b, name="regs")
    qc.x(0)
    qc.x(2)
    qc.measure(0, a[0])
    qc.measure(1, b[0])
    qc.measure(2, b[1])
    result = backend.run(qc, shots=7, memory=True, seed_simulator=1).result()
    assert result.success and result.backend_name == "qsim_topo"
    exp = result.results[0]
    assert exp.data.counts == {"0x5": 7}
    assert exp.data.memory == ["0x5"] * 7
    assert exp.header["creg_sizes"] == [["a", 1], ["b", 2]]
    assert exp.header["memory_slots"] == 3 and exp.header["name"] == "regs"
    assert result.get_counts(qc) == {"10 1": 7}
    assert result.get_memory(qc) == ["10 1"] * 7
    assert exp.shots == 7 and exp.seed_simulator == 1


def test_metadata_reports_engine_and_flops(backend):
    engine_backend = QsimTopoBackend(engine="exact", device="cpu")
    result = engine_backend.run(_bell(), shots=10).result()
    meta = result.results[0].metadata
    assert meta["engine"] == "exact" and meta["engine_options"] == {}
    assert meta["flops_fraction"] == 1.0 and meta["matmul_calls"] == 2
    assert meta["method"] == "statevector" and meta["precision"] == "double"


def test_approximate_engine_and_engine_options():
    from qsim_topo.engines.base import available_engines

    if "cr-sampling" not in available_engines():
        pytest.skip("the cr-sampling engine is not registered in this checkout")
    backend = QsimTopoBackend(engine="cr-sampling", device="cpu", ratio=0.5, seed=3)
    qc = QuantumCircuit(6)
    qc.h(range(6))
    qc.cx(0, 5)
    qc.append(UnitaryGate(Operator(np.kron(np.eye(4), [[0, 1], [1, 0]]))), [1, 2, 3])
    meta = backend.run(qc).result().results[0].metadata
    assert meta["engine"] == "cr-sampling"
    assert meta["engine_options"]["ratio"] == 0.5
    # an engine option can be given per run by its name, and joins engine_options
    meta2 = backend.run(qc, ratio=0.75).result().results[0].metadata
    assert meta2["engine_options"]["ratio"] == 0.75
    with pytest.raises(QsimTopoOptionError, match="no option"):
        QsimTopoBackend(engine="exact", ratio=0.5)


def test_seed_simulator_reproducibility(backend):
    qc = QuantumCircuit(4, 4)
    qc.h(range(4))
    qc.measure(range(4), range(4))
    run = lambda **kw: backend.run(qc, shots=64, memory=True, **kw).result()  # noqa: E731
    first, second = run(seed_simulator=11), run(seed_simulator=11)
    assert first.get_memory() == second.get_memory()
    assert run(seed_simulator=12).get_memory() != first.get_memory()
    # None means unset: a fresh seed each run, reported in the result
    a, b = run(seed_simulator=None), run()
    assert a.results[0].seed_simulator != b.results[0].seed_simulator
    replay = run(seed_simulator=a.results[0].seed_simulator)
    assert replay.get_memory() == a.get_memory()
    # a default seed set on the backend is used when a run does not override it
    seeded = QsimTopoBackend(device="cpu")
    seeded.set_options(seed_simulator=5)
    m1 = seeded.run(qc, shots=32, memory=True).result().get_memory()
    m2 = seeded.run(qc, shots=32, memory=True, seed_simulator=None).result().get_memory()
    assert m1 == m2


def test_unknown_options_warn_and_invalid_values_raise(backend):
    with pytest.warns(UserWarning, match="Option foo is not used by this backend"):
        backend.run(_bell(), foo=1).result()
    for bad, match in [
        ({"shots": 0}, r"shots must be an integer in 1\.\."),
        ({"shots": 1.5}, "shots must be an integer"),
        ({"memory": "yes"}, "memory must be True or False"),
        ({"seed_simulator": -1}, "seed_simulator must be"),
        ({"method": "density_matrix"}, "method must be one of"),
        ({"device": "tpu"}, "device must be one of"),
        ({"precision": "half"}, "precision must be"),
        ({"engine": "no-such-engine"}, "unknown engine 'no-such-engine'"),
    ]:
        with pytest.raises(QsimTopoOptionError, match=match):
            backend.run(_bell(), **bad)
    with pytest.raises(QiskitError):
        backend.set_options(shots=-3)


def _ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, n, name=f"ghz{n}")
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.measure(range(n), range(n))
    return qc


def test_job_runs_asynchronously(backend, monkeypatch):
    gate = threading.Event()
    import qsim_topo.qiskit.backend as backend_module

    real_execute = backend_module.execute

    def slow_execute(*args, **kwargs) -> ExecutionResult:
        assert gate.wait(10)
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(backend_module, "execute", slow_execute)
    # one qubit more than a job run in the caller's thread may have
    qc = _ghz(backend_module.INLINE_MAX_QUBITS + 1)
    start = time.perf_counter()
    job = backend.run(qc, shots=10)
    assert time.perf_counter() - start < 5  # returned while the simulation waits
    assert isinstance(job, JobV1) and job.job_id()
    assert job.status() in (JobStatus.QUEUED, JobStatus.RUNNING)
    assert not job.done()
    gate.set()
    result = job.result(timeout=30)
    assert job.status() is JobStatus.DONE and job.done()
    assert result.job_id == job.job_id()
    assert set(result.get_counts()) <= {"0" * qc.num_qubits, "1" * qc.num_qubits}
    assert sum(result.get_counts().values()) == 10


def test_small_job_runs_in_the_callers_thread(backend, monkeypatch):
    import qsim_topo.qiskit.backend as backend_module

    threads = []
    real_execute = backend_module.execute

    def recording_execute(*args, **kwargs) -> ExecutionResult:
        threads.append(threading.current_thread())
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(backend_module, "execute", recording_execute)
    job = backend.run(_bell(), shots=10)
    assert threads == [threading.current_thread()]
    assert job.status() is JobStatus.DONE and job.done()
    assert sum(job.result().get_counts().values()) == 10
    with pytest.raises(QsimTopoJobError, match="already submitted"):
        job.submit()
    # each bound: one past it, and the job goes to the worker thread
    config = backend.run_config(shots=10)
    small = [circuit_to_program(_ghz(3), "statevector")]
    assert runs_inline(small, config)
    assert not runs_inline(small, backend.run_config(shots=backend_module.INLINE_MAX_SHOTS + 1))
    assert not runs_inline(small, backend.run_config(shots=10, engine="bf16"))
    assert not runs_inline(small * (backend_module.INLINE_MAX_OPS // len(small[0].ops) + 1), config)
    wide = [circuit_to_program(_ghz(backend_module.INLINE_MAX_QUBITS + 1), "statevector")]
    assert not runs_inline(wide, config)
    unitary = QsimTopoBackend(method="unitary", device="cpu")
    half = QuantumCircuit(backend_module.INLINE_MAX_QUBITS // 2 + 1)
    half.h(0)
    assert not runs_inline([circuit_to_program(half, "unitary")], unitary.run_config())
    mid = QuantumCircuit(1, 1)
    mid.measure(0, 0)
    mid.x(0)
    assert not runs_inline([circuit_to_program(mid, "statevector")], config)
    loop = QuantumCircuit(1, 1)
    with loop.while_loop((loop.clbits[0], 1)):
        loop.x(0)
    assert not runs_inline([circuit_to_program(loop, "statevector")], config)
    # few ops, but wide ones: 20 UnitaryGates on 10 of 12 qubits are 20 * 2^12 * 2^10 > 2^26
    heavy = QuantumCircuit(12)
    wide_gate = UnitaryGate(random_unitary(2**10, seed=1))
    for _ in range(20):
        heavy.append(wide_gate, range(10))
    assert len(heavy.data) <= backend_module.INLINE_MAX_OPS
    assert not runs_inline([circuit_to_program(heavy, "statevector")], config)



def test_tiled_circuits_run_inline_up_to_their_own_work_bound(monkeypatch, fusion_mode):
    """Through the tile kernel a job runs inline up to INLINE_MAX_TILED_WORK multiply-adds;
    gate by gate (blocking or fusion off, or no numba) the bound stays INLINE_MAX_WORK."""
    import qsim_topo.qiskit.backend as backend_module
    from qsim_topo.sim.kernels import DEFAULT_KERNELS

    n = backend_module.INLINE_MAX_QUBITS
    qc = QuantumCircuit(n)
    rng = np.random.default_rng(5)
    for layer in range(12):  # 12 layers of 2-qubit unitaries: 2^n * 4 * 66 multiply-adds
        for a in range(layer % 2, n - 1, 2):
            qc.append(UnitaryGate(random_unitary(4, seed=int(rng.integers(2**31)))), [a, a + 1])
    program = circuit_to_program(qc, "statevector")
    work = backend_module._work(program, unitary=False)
    assert backend_module.INLINE_MAX_WORK < work <= backend_module.INLINE_MAX_TILED_WORK
    backend = QsimTopoBackend(device="cpu")
    tiled = fusion_mode and DEFAULT_KERNELS.tiles_available("cpu")
    assert runs_inline([program], backend.run_config()) is tiled
    assert not runs_inline([program], backend.run_config(blocking_enable=False))
    assert not runs_inline([program], backend.run_config(fusion_enable=False))
    assert not runs_inline([program], backend.run_config(fusion_threshold=n + 1))
    threads = []
    real_execute = backend_module.execute

    def recording_execute(*args, **kwargs) -> ExecutionResult:
        threads.append(threading.current_thread())
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(backend_module, "execute", recording_execute)
    state = backend.run(qc).result().get_statevector()
    assert (threads == [threading.current_thread()]) is tiled
    np.testing.assert_allclose(state.data, Statevector(qc).data, atol=1e-12)


def test_jobs_of_one_engine_instance_run_in_order_and_queued_ones_cancel(monkeypatch):
    """Jobs sharing an engine instance never run at once and keep submission order; a small
    job of that engine is queued behind the others (not run inline); a queued job cancels."""
    import qsim_topo.qiskit.backend as backend_module

    gate = threading.Event()
    order: list[str] = []
    real_execute = backend_module.execute

    def gated_execute(program, *args, **kwargs) -> ExecutionResult:
        if program.name == "big":
            assert gate.wait(10)
        order.append(program.name)
        return real_execute(program, *args, **kwargs)

    monkeypatch.setattr(backend_module, "execute", gated_execute)
    backend = QsimTopoBackend(engine=ExactEngine(), device="cpu")
    big = _ghz(backend_module.INLINE_MAX_QUBITS + 1)
    big.name = "big"
    small = _bell()
    small.name = "small"
    first = backend.run(big, shots=10)
    cancelled = backend.run(big, shots=10)
    assert cancelled.status() is JobStatus.QUEUED  # behind the first, on the same engine
    assert cancelled.cancel() and cancelled.status() is JobStatus.CANCELLED
    assert not cancelled.cancel()  # already final
    second = backend.run(small, shots=10)
    assert second.status() is JobStatus.QUEUED  # not run inline: its engine is busy
    gate.set()
    assert sum(second.result(timeout=30).get_counts().values()) == 10
    assert first.done() and order == ["big", "small"]
    with pytest.raises(QsimTopoJobError, match="cancelled"):
        cancelled.result()
    third = backend.run(small, shots=10)  # the engine is idle again: inline
    assert third.status() is JobStatus.DONE and order == ["big", "small", "small"]


class BlockingEngine(ExactEngine):
    """The exact engine whose matmul waits for an event: a job stuck inside an engine call."""

    name = "test-blocking"
    exact = False  # so that jobs go to a thread and the executor calls matmul

    def __init__(self, gate: threading.Event, entered: threading.Event) -> None:
        super().__init__()
        self.gate = gate
        self.entered = entered

    def matmul(self, a, b, /):
        self.entered.set()
        assert self.gate.wait(30)
        return super().matmul(a, b)


def test_a_stuck_job_does_not_block_the_next_and_cancels_cooperatively():
    gate, entered = threading.Event(), threading.Event()
    stuck_backend = QsimTopoBackend(engine=BlockingEngine(gate, entered), device="cpu")
    circuits = [_ghz(3), _ghz(3)]
    stuck = stuck_backend.run(circuits, shots=10)
    try:
        assert entered.wait(30)  # inside an engine call of the first circuit
        assert stuck.status() is JobStatus.RUNNING
        other = QsimTopoBackend(device="cpu").run(_ghz(backend_module_inline() + 1), shots=10)
        counts = other.result(timeout=30).get_counts()  # completes while the first is stuck
        assert sum(counts.values()) == 10
        assert stuck.status() is JobStatus.RUNNING
        assert stuck.cancel()  # cooperative: reported at once, stops before circuit 2
        assert stuck.status() is JobStatus.CANCELLED
        with pytest.raises(QsimTopoJobError, match="cancelled"):
            stuck.result(timeout=1)
    finally:
        gate.set()
    # the stuck thread finishes its engine call and stops; a later job of the engine runs
    later = stuck_backend.run(_ghz(3), shots=5)
    assert sum(later.result(timeout=30).get_counts().values()) == 5


def backend_module_inline() -> int:
    import qsim_topo.qiskit.backend as backend_module

    return backend_module.INLINE_MAX_QUBITS


def test_failed_job_raises_with_cause(backend, monkeypatch):
    import qsim_topo.qiskit.backend as backend_module

    def broken(*args, **kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(backend_module, "execute", broken)
    job = backend.run(_bell())
    with pytest.raises(QsimTopoJobError, match="kaput"):
        job.result()
    assert job.status() is JobStatus.ERROR


def test_final_statevector_and_unitary(backend):
    qc = _bell(measure=False)
    result = backend.run(qc).result()
    assert result.get_statevector(qc).equiv(Statevector(qc))
    assert "counts" not in result.data(qc)  # no clbits, no counts (as Aer)
    unitary = QsimTopoBackend(method="unitary", device="cpu").run(qc).result().get_unitary(qc)
    np.testing.assert_allclose(unitary.data, Operator(qc).data, atol=1e-12)
    with pytest.raises(QsimTopoCircuitError, match="method='unitary' cannot simulate 'measure'"):
        QsimTopoBackend(method="unitary").run(_bell())


def test_save_instructions_take_snapshots(backend):
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    save_statevector(qc, "after_h")
    qc.cx(0, 1)
    save_statevector(qc)
    qc.measure([0, 1], [0, 1])
    tqc = transpile(qc, backend, optimization_level=1)
    result = backend.run(tqc, shots=100, seed_simulator=1).result()
    h = QuantumCircuit(2)
    h.h(0)
    assert result.data(0)["after_h"].equiv(Statevector(h))
    assert result.get_statevector(0).equiv(Statevector(_bell(measure=False)))
    assert set(result.get_counts()) == {"00", "11"}
    uqc = QuantumCircuit(2)
    uqc.h(0)
    save_unitary(uqc, "h")
    uqc.cx(0, 1)
    uresult = QsimTopoBackend(method="unitary", device="cpu").run(uqc).result()
    np.testing.assert_allclose(uresult.data(0)["h"].data, Operator(h).data, atol=1e-12)
    # after a measurement that splits the shots the snapshot is ambiguous: refused
    split = QuantumCircuit(1, 1)
    split.h(0)
    split.measure(0, 0)
    save_statevector(split)
    with pytest.raises(QsimTopoJobError, match="save before measuring"):
        backend.run(split, shots=100, seed_simulator=0).result()


def test_unbound_parameters_are_refused(backend):
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    with pytest.raises(QsimTopoCircuitError, match=r"unbound parameter\(s\) theta"):
        backend.run(qc)
    result = backend.run(qc.assign_parameters({theta: 0.5})).result()
    expected = QuantumCircuit(1)
    expected.rx(0.5, 0)
    assert result.get_statevector().equiv(Statevector(expected))


def test_too_wide_circuit_is_refused_before_allocating(backend):
    qc = QuantumCircuit(50, 50)
    qc.h(0)
    qc.measure(0, 0)
    with pytest.raises(QsimTopoCircuitError, match="50-qubit state-vector simulation needs about"):
        backend.run(qc)
    with pytest.raises(QiskitError, match="memory"):  # a QiskitError, not a MemoryError
        backend.run(qc)
    with pytest.raises(QsimTopoError, match="unitary simulation"):
        QsimTopoBackend(method="unitary").run(QuantumCircuit(30))


def test_non_unitary_unitary_is_refused(backend):
    gate = UnitaryGate(np.eye(2), check_input=False)
    gate.params[0] = np.array([[1, 0], [0, 2]], dtype=complex)  # corrupted after construction
    qc = QuantumCircuit(1)
    qc.append(gate, [0])
    with pytest.raises(QsimTopoCircuitError, match="not unitary"):
        backend.run(qc)


def test_unsupported_instruction_is_refused(backend):
    opaque = Instruction("mystery_box", 1, 0, [])
    qc = QuantumCircuit(1)
    qc.append(opaque, [0])
    with pytest.raises(QsimTopoCircuitError, match="unsupported instruction 'mystery_box'"):
        backend.run(qc)


def test_zero_qubit_and_non_circuit_inputs_are_refused(backend):
    with pytest.raises(QsimTopoCircuitError, match="no qubits"):
        backend.run(QuantumCircuit(0, 1))
    with pytest.raises(QsimTopoCircuitError, match="runs QuantumCircuits"):
        backend.run(["not a circuit"])
    # A single non-circuit: list() of it was a raw "object is not iterable" TypeError.
    for odd in (np.complex64(1), 3, None, "qc"):
        with pytest.raises(QsimTopoCircuitError, match="run_input must be a QuantumCircuit"):
            backend.run(odd)


def test_single_precision_final_state_is_widened_in_place():
    """A complex64 run's Statevector holds complex128 (as Aer's): the run takes place in the
    first half of that array, so its peak is one complex128 state, not that plus a complex64
    one (traced numpy allocations; numba's tile scratch is not traced, numpy's chunks are)."""
    import tracemalloc

    from qiskit.circuit.random import random_circuit

    n = 20
    qc = random_circuit(n, 3, max_operands=2, seed=5)
    backend = QsimTopoBackend(precision="single", device="cpu")
    backend.run(qc).result()  # compile and cache outside the trace
    state_bytes = 16 * 2**n
    tracemalloc.start()
    try:
        result = backend.run(qc).result()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    sv = result.get_statevector()
    assert sv.data.dtype == np.complex128
    assert peak < 1.25 * state_bytes  # a complex64 run plus a widened copy would be 1.5x
    assert abs(np.vdot(Statevector(qc).data, sv.data)) ** 2 > 1 - 1e-5
    # the unitary method and the approximate engines' path (a widened copy) agree
    small = random_circuit(5, 4, max_operands=3, seed=6)
    unitary = QsimTopoBackend(method="unitary", precision="single", device="cpu")
    op = unitary.run(small).result().get_unitary()
    assert op.data.dtype == np.complex128
    np.testing.assert_allclose(op.data, Operator(small).data, atol=1e-5)
    approx = backend.run(small, engine="fp32").result().get_statevector()
    assert approx.data.dtype == np.complex128
    assert abs(np.vdot(Statevector(small).data, approx.data)) ** 2 > 1 - 1e-5


# ------------------------------------------------------------------ review findings
# (moved from test_qiskit_review_fixes.py) Seeds make random engines reproducible; a trailing
# global phase is a scalar, not an engine product.
def test_seed_simulator_makes_a_random_engine_reproducible():
    qc = mixing_circuit().measure_all(inplace=False)
    backend = QsimTopoBackend("cr-sampling", device="cpu", ratio=0.5)
    runs = [backend.run([qc, qc], shots=200, seed_simulator=7).result() for _ in range(2)]
    assert runs[0].get_counts(0) == runs[1].get_counts(0)
    assert runs[0].get_counts(1) == runs[1].get_counts(1)
    assert [r.metadata["engine_seed"] for r in runs[0].results] == [7, 8]
    # An explicit engine seed wins over the derived one.
    fixed = QsimTopoBackend("cr-sampling", device="cpu", ratio=0.5, seed=3)
    meta = fixed.run(qc, shots=10, seed_simulator=7).result().results[0].metadata
    assert meta["engine_seed"] == 3 and meta["engine_options"]["seed"] == 3


def test_trailing_global_phase_is_a_scalar_not_an_engine_product():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.append(GlobalPhaseGate(0.7), [])
    ref = Statevector(qc).data
    exact = QsimTopoBackend(device="cpu").run(qc, shots=1).result()
    np.testing.assert_allclose(exact.get_statevector(0).data, ref, atol=1e-12)
    assert exact.results[0].metadata["matmul_calls"] == 2  # h and cx; none for the phase
    # With an approximate engine the phase adds no error: phase * (the state without it).
    bare = qc.copy()
    bare.data.pop()
    approx = QsimTopoBackend("bf16", device="cpu")
    with_phase = approx.run(qc, shots=1).result().get_statevector(0).data
    without = approx.run(bare, shots=1).result().get_statevector(0).data
    np.testing.assert_allclose(with_phase, np.exp(0.7j) * without, atol=1e-14)


def test_engine_options_by_name_at_construction_and_unhashable_values():
    from qsim_topo.qiskit.errors import QsimTopoOptionTypeError

    backend = QsimTopoBackend(engine="cr-sampling", engine_options={"ratio": 0.3}, seed=2)
    assert backend.options.engine_options == {"ratio": 0.3, "seed": 2}
    with pytest.raises(QsimTopoOptionTypeError, match=r"engine_options must be a mapping.*got 0"):
        QsimTopoBackend(engine_options=0)
    with pytest.raises(QsimTopoOptionError, match=r"precision must be one of .*got \[\]"):
        QsimTopoBackend(device="cpu").run(_bell(), precision=[])
    for bad, match in [
        ({"engine": []}, "engine must be an engine name"),
        ({"shots": "3"}, "shots must be an integer"),
        ({"shots": True}, "shots must be an integer"),
        ({"device": {}}, "device must be one of"),
        ({"fusion_max_qubit": 1.5}, "fusion_max_qubit must be an integer"),
        ({"memory": 1}, "memory must be True or False"),
    ]:
        with pytest.raises(QsimTopoOptionError, match=match) as info:
            QsimTopoBackend(device="cpu").run(_bell(), **bad)
        assert isinstance(info.value, (QiskitError, QsimTopoError, TypeError, ValueError))


def test_too_many_shots_are_refused_before_the_job_with_the_bytes(monkeypatch):
    monkeypatch.setattr("qsim_topo.xp.available_memory", lambda device: 8 * 2**30)
    backend = QsimTopoBackend(device="cpu")
    with pytest.raises(QsimTopoCircuitError, match=r"1000000000 shots needs about .* GiB"):
        backend.run(_bell(), shots=10**9)
    with pytest.raises(QsimTopoCircuitError, match="per-shot memory"):
        backend.run([_bell()] * 4, shots=10**8, memory=True)
    with pytest.raises(QsimTopoOptionError, match=r"shots must be an integer in 1\.\."):
        backend.run(_bell(), shots=10**9 + 1)  # the absolute cap, whatever the memory
