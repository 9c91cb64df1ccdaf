"""Gate fusion and the in-place path seen from the backend: results, metadata, options, memory."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Operator, Statevector

from qsim_topo.engines import get_engine
from qsim_topo.qiskit import QsimTopoBackend
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.qiskit.errors import QsimTopoCircuitError, QsimTopoOptionError
from qsim_topo.qiskit.execute import check_program_memory
from qsim_topo.sim import branches as branches_module
from qsim_topo.sim import executor as executor_module
from qsim_topo.sim.kernels import DEFAULT_KERNELS, NUMPY_KERNELS
from qsim_topo.sim.numba_kernels import numba_available
from qsim_topo.sim.passes import default_tile_qubits

FUSED = {"fusion_enable": True, "fusion_threshold": 1}  # fuse even these small circuits


@pytest.mark.parametrize("seed", range(12))
def test_fused_and_unfused_states_match_statevector(seed):
    qc = random_circuit(7, 12, max_operands=3, seed=seed)
    want = Statevector(qc).data
    for options in (
        {"fusion_enable": False},
        {"fusion_enable": True, "fusion_max_qubit": 2, "fusion_threshold": 1},
        {"fusion_enable": True, "fusion_max_qubit": 5, "fusion_threshold": 1},
    ):
        for precision, atol in (("double", 1e-10), ("single", 2e-5)):
            got = (
                QsimTopoBackend(device="cpu", precision=precision, **options)
                .run(qc)
                .result()
                .get_statevector()
                .data
            )
            np.testing.assert_allclose(got, want, atol=atol, err_msg=f"{options} {precision}")


def test_fused_unitary_matches_operator():
    qc = random_circuit(5, 10, max_operands=2, seed=4)
    result = QsimTopoBackend(method="unitary", device="cpu", **FUSED).run(qc).result()
    np.testing.assert_allclose(result.get_unitary().data, Operator(qc).data, atol=1e-10)
    assert result.results[0].metadata["fusion"]["enabled"] is True


def _dynamic_circuit() -> QuantumCircuit:
    qc = QuantumCircuit(4, 4)
    qc.h(0)
    qc.rx(0.7, 1)
    qc.cx(0, 2)
    qc.ry(1.1, 3)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
        qc.cz(1, 3)
    with qc.for_loop(range(2)):
        qc.h(2)
        qc.cx(2, 3)
        qc.rz(0.3, 1)
    qc.reset(2)
    qc.h(2)
    qc.cx(1, 2)
    qc.measure([1, 2, 3], [1, 2, 3])
    return qc


def test_dynamic_circuit_memory_identical_with_and_without_fusion():
    # Fusion changes the state only by rounding, and the draws come in the same order, so a
    # seeded run gives the same memory shot for shot.
    qc = _dynamic_circuit()
    runs = [
        QsimTopoBackend(device="cpu", fusion_enable=f, fusion_threshold=1)
        .run(qc, shots=400, seed_simulator=11, memory=True)
        .result()
        for f in (True, False)
    ]
    assert runs[0].get_memory() == runs[1].get_memory()
    assert runs[0].results[0].metadata["fusion"]["blocks"] >= 1


def test_metadata_reports_fusion():
    qc = QuantumCircuit(6)
    for layer in range(6):
        for q in range(layer % 2, 5, 2):
            qc.cx(q, q + 1)
        qc.rx(0.1 * layer, range(6))
    dense = QsimTopoBackend(device="cpu", blocking_enable=False, **FUSED)
    fusion = dense.run(qc).result().results[0].metadata["fusion"]
    assert fusion["enabled"] is True and fusion["gates"] == len(qc.data)
    assert fusion["blocks"] < fusion["gates"] and fusion["max_block_qubits"] <= 5
    if BLOCKING:  # a state of at most 2^10 amplitudes: one tile of the gates as they are
        tiled = QsimTopoBackend(device="cpu", **FUSED).run(qc).result()
        fusion = tiled.results[0].metadata["fusion"]
        assert fusion["blocks"] == fusion["gates"] == len(qc.data) and fusion["passes"] == 1
        np.testing.assert_allclose(
            tiled.get_statevector().data, Statevector(qc).data, rtol=0, atol=1e-12
        )
    off = QsimTopoBackend(device="cpu", fusion_enable=False).run(qc).result()
    assert off.results[0].metadata["fusion"] == {"enabled": False}


def test_small_circuits_are_not_fused_below_the_threshold():
    from qsim_topo.sim.executor import FUSION_THRESHOLD

    qc = random_circuit(5, 6, max_operands=2, seed=2)
    backend = QsimTopoBackend(device="cpu", fusion_enable=True, fusion_threshold=14)
    fusion = backend.run(qc).result().results[0].metadata["fusion"]
    assert fusion == {"enabled": False, "reason": "5 qubits < fusion_threshold 14"}
    assert QsimTopoBackend._default_options().fusion_threshold == FUSION_THRESHOLD


def test_approximate_engine_sees_the_circuits_own_gates():
    qc = random_circuit(4, 6, max_operands=2, seed=1)
    result = QsimTopoBackend(engine="fp32", device="cpu", **FUSED).run(qc).result()
    fusion = result.results[0].metadata["fusion"]
    assert fusion["enabled"] is False and "approximate" in fusion["reason"]
    assert result.results[0].metadata["matmul_calls"] == sum(
        1 for inst in qc.data if inst.operation.name not in ("barrier",)
    )


@pytest.mark.parametrize(
    "options, match",
    [
        ({"fusion_enable": "yes"}, "fusion_enable"),
        ({"fusion_max_qubit": 0}, "fusion_max_qubit"),
        ({"fusion_max_qubit": 11}, "fusion_max_qubit"),
        ({"fusion_max_qubit": 2.5}, "fusion_max_qubit"),
        ({"fusion_threshold": 0}, "fusion_threshold"),
        ({"fusion_threshold": True}, "fusion_threshold"),
    ],
)
def test_bad_fusion_options_refused(options, match):
    with pytest.raises(QsimTopoOptionError, match=match):
        QsimTopoBackend(device="cpu").run(QuantumCircuit(1), **options)


def test_memory_check_uses_the_in_place_footprint(monkeypatch):
    # 24 qubits complex128: a 256 MiB state. With 500 MiB free the in-place path (one state
    # plus a 128 MiB workspace) fits; the reference path of approximate engines (4 states)
    # does not, nor does a dynamic circuit (a measurement split copies the state).
    from qsim_topo import xp

    monkeypatch.setattr(xp, "available_memory", lambda device: 500 * 2**20)
    program = circuit_to_program(QuantumCircuit(24))
    check_program_memory(program, "cpu", np.complex128, inplace=True)
    with pytest.raises(QsimTopoCircuitError, match="memory"):
        check_program_memory(program, "cpu", np.complex128, inplace=False)
    with pytest.raises(QsimTopoCircuitError, match="memory"):
        QsimTopoBackend(device="cpu", engine="fp32").run(QuantumCircuit(24))
    dynamic = QuantumCircuit(24, 1)
    dynamic.h(0)
    dynamic.measure(0, 0)
    dynamic.h(0)  # acts after the measurement: a mid-circuit one
    with pytest.raises(QsimTopoCircuitError, match="memory"):
        check_program_memory(circuit_to_program(dynamic), "cpu", np.complex128, inplace=True)


def test_memory_check_counts_the_widened_single_precision_state(monkeypatch):
    # 25 qubits: a complex64 state of 256 MiB becomes a 512 MiB complex128 Statevector. In
    # place (exact engine, CPU) that is the whole footprint (plus the 128 MiB workspace): 640
    # MiB, within 90% of 800 MiB. An approximate engine keeps its complex64 states, then copies.
    from qsim_topo import xp

    monkeypatch.setattr(xp, "available_memory", lambda device: 800 * 2**20)
    program = circuit_to_program(QuantumCircuit(25))
    check_program_memory(program, "cpu", np.complex64, inplace=True, widen_final=True)
    monkeypatch.setattr(xp, "available_memory", lambda device: 600 * 2**20)
    with pytest.raises(QsimTopoCircuitError, match="memory"):
        check_program_memory(program, "cpu", np.complex64, inplace=True, widen_final=True)
    check_program_memory(program, "cpu", np.complex64, inplace=True)  # 256 + 128 MiB
    monkeypatch.setattr(xp, "available_memory", lambda device: 1500 * 2**20)
    with pytest.raises(QsimTopoCircuitError, match="memory"):  # 4 x 256 + 512 MiB
        check_program_memory(program, "cpu", np.complex64, inplace=False, widen_final=True)
    check_program_memory(program, "cpu", np.complex64, inplace=False)


def _oracle(marked: int):
    o = QuantumCircuit(2, name="oracle")
    for i in range(2):
        if not (marked >> i) & 1:
            o.x(i)
    o.cz(0, 1)
    for i in range(2):
        if not (marked >> i) & 1:
            o.x(i)
    return o.to_gate()


def test_same_named_custom_gates_are_not_mixed_up_across_runs():
    # Regression: a matrix cache keyed by (type, name, params) gave the first oracle's matrix
    # to the second; custom gates are cached per object, per conversion only.
    from qiskit.circuit.library import PauliEvolutionGate
    from qiskit.quantum_info import SparsePauliOp

    backend = QsimTopoBackend(device="cpu")
    for marked in (3, 0, 1):
        qc = QuantumCircuit(2)
        qc.h([0, 1])
        qc.append(_oracle(marked), [0, 1])
        qc.append(_oracle((marked + 1) % 4), [0, 1])
        got = backend.run(qc).result().get_statevector().data
        np.testing.assert_allclose(got, Statevector(qc).data, atol=1e-12)
    for pauli in ("X", "Z", "Y"):
        qc = QuantumCircuit(1)
        qc.h(0)
        qc.append(PauliEvolutionGate(SparsePauliOp(pauli), 0.3), [0])
        got = backend.run(qc).result().get_statevector().data
        np.testing.assert_allclose(got, Statevector(qc).data, atol=1e-12)


# Cache blocking (tiles of fused 1-/2-qubit blocks, one numba pass each): it is only in effect on
# the CPU with numba installed; without numba the same options must give the dense fusion.
BLOCKING = numba_available()


def _fusion_meta(result):
    return result.results[0].metadata["fusion"]


@pytest.mark.parametrize("n, seed", [(14, 3), (16, 5)])
def test_blocking_on_and_off_match_statevector(n, seed):
    qc = random_circuit(n, 8, max_operands=3, seed=seed)
    qc.global_phase = 0.7  # folded into the first gate of a tile
    want = Statevector(qc).data
    for precision, atol in (("double", 1e-12), ("single", 2e-6)):
        states = {}
        for blocking in (True, False):
            result = (
                QsimTopoBackend(
                    device="cpu", precision=precision, blocking_enable=blocking, **FUSED
                )
                .run(qc)
                .result()
            )
            states[blocking] = result.get_statevector().data
            np.testing.assert_allclose(
                states[blocking], want, rtol=0, atol=atol, err_msg=f"{precision} {blocking=}"
            )
            fusion = _fusion_meta(result)
            assert fusion["enabled"] is True and fusion["gates"] == len(qc.data)
            assert fusion["blocking"] is (blocking and BLOCKING)
            if blocking and BLOCKING:
                assert fusion["blocking_qubits"] == min(default_tile_qubits(n), n)
                assert fusion["max_qubits"] == 2  # blocks of at most TILE_BLOCK_QUBITS
                assert 1 <= fusion["passes"] < fusion["blocks"] <= fusion["gates"]
            else:
                assert "passes" not in fusion and "blocking_qubits" not in fusion
        np.testing.assert_allclose(states[True], states[False], rtol=0, atol=atol)


def test_blocking_metadata_follows_the_options(monkeypatch):
    qc = random_circuit(8, 8, max_operands=2, seed=7)
    backend = QsimTopoBackend(device="cpu", **FUSED)
    off = _fusion_meta(backend.run(qc, blocking_enable=False).result())
    assert off["blocking"] is False and "passes" not in off and off["max_qubits"] == 5
    if BLOCKING:
        wide = _fusion_meta(backend.run(qc).result())
        narrow = _fusion_meta(backend.run(qc, blocking_qubits=2).result())
        assert wide["blocking_qubits"] == 8  # the default (12 here), capped at the width
        assert narrow["blocking_qubits"] == 2
        assert wide["passes"] < narrow["passes"] <= narrow["blocks"]
    # The numpy kernels (numba off, or not loadable): no tile kernel, dense fusion.
    dense = executor_module.execute(
        circuit_to_program(qc), get_engine("exact"), fusion=True, fusion_threshold=1,
        kernels=NUMPY_KERNELS,
    )
    assert dense.fusion["blocking"] is False and dense.fusion["max_qubits"] == 5
    assert dense.kernel_family == "numpy" and "numba-block" not in dense.kernels
    np.testing.assert_allclose(dense.final, Statevector(qc).data, atol=1e-12)


def test_blocked_unitary_matches_operator():
    qc = random_circuit(5, 10, max_operands=3, seed=4)
    result = (
        QsimTopoBackend(method="unitary", device="cpu", blocking_qubits=3, **FUSED).run(qc).result()
    )
    np.testing.assert_allclose(result.get_unitary().data, Operator(qc).data, atol=1e-12)
    assert _fusion_meta(result)["blocking"] is BLOCKING


def test_dynamic_circuit_memory_identical_with_and_without_blocking():
    qc = _dynamic_circuit()
    runs = [
        QsimTopoBackend(device="cpu", fusion_threshold=1, **options)
        .run(qc, shots=400, seed_simulator=11, memory=True)
        .result()
        for options in (
            {"fusion_enable": True, "blocking_enable": True, "blocking_qubits": 2},
            {"fusion_enable": True, "blocking_enable": True},
            {"fusion_enable": True, "blocking_enable": False},
            {"fusion_enable": False},
        )
    ]
    memory = runs[0].get_memory()
    assert len(set(memory)) > 2  # a random outcome, not a constant
    for run in runs[1:]:
        assert run.get_memory() == memory
    for run in runs[:2]:
        assert _fusion_meta(run)["blocking"] is BLOCKING
        if BLOCKING:
            assert _fusion_meta(run)["passes"] >= 1


@pytest.mark.parametrize(
    "options, match",
    [
        ({"blocking_qubits": 1}, "blocking_qubits"),
        ({"blocking_qubits": 15}, "blocking_qubits"),
        ({"blocking_qubits": 2.5}, "blocking_qubits"),
        ({"blocking_qubits": True}, "blocking_qubits"),
        ({"blocking_qubits": "4"}, "blocking_qubits"),
        ({"blocking_enable": "yes"}, "blocking_enable"),
        ({"blocking_enable": 1}, "blocking_enable"),
    ],
)
def test_bad_blocking_options_refused(options, match):
    with pytest.raises(QsimTopoOptionError, match=match):
        QsimTopoBackend(device="cpu").run(QuantumCircuit(1), **options)
    with pytest.raises(QsimTopoOptionError, match=match):
        QsimTopoBackend(device="cpu", **options)


def test_numpy_blocking_options_accepted():
    qc = random_circuit(4, 4, max_operands=2, seed=9)
    for options in (
        {"blocking_qubits": np.int64(2)},
        {"blocking_qubits": 14},
        {"blocking_enable": np.bool_(False)},
    ):
        got = QsimTopoBackend(device="cpu", **FUSED, **options).run(qc).result()
        np.testing.assert_allclose(got.get_statevector().data, Statevector(qc).data, atol=1e-12)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4"])
def test_execute_refuses_a_bad_tile_width(bad):
    from qsim_topo.qiskit.execute import execute

    qc = QuantumCircuit(2)
    qc.h(0)
    program = circuit_to_program(qc)
    with pytest.raises(QsimTopoCircuitError, match="tile_qubits"):
        execute(program, get_engine("exact"), shots=1, tile_qubits=bad)


def _mask_spy(monkeypatch):
    """Wrap the branch executor's apply_tile: check its zero_mask against the state on every call.

    Returns the list of ``(tile qubits, zero_mask)`` per call; a masked row that is not
    exactly zero fails the test at once.
    """
    calls = []
    original = branches_module.apply_tile

    def spy(engine, tensor, gates, qubits, n, *, zero_mask=0, **options):
        rows = np.asarray(tensor).reshape(2**n, -1)
        index = np.arange(2**n)
        for q in range(n):
            if zero_mask >> q & 1:
                assert not rows[(index >> q) & 1 == 1].any(), f"qubit {q} is masked, not |0>"
        calls.append((tuple(qubits), zero_mask))
        return original(engine, tensor, gates, qubits, n, zero_mask=zero_mask, **options)

    monkeypatch.setattr(branches_module, "apply_tile", spy)
    return calls


def _dynamic_untouched(n: int, seed: int) -> QuantumCircuit:
    """Control flow, measurements and resets around qubits that nothing has touched yet."""
    from qsim_topo.layers import haar_unitary

    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n, 6)
    qc.global_phase = 0.3
    touched = list(range(int(rng.integers(2, n // 2))))
    for _ in range(4):
        a, b = rng.choice(touched, 2, replace=False)
        qc.unitary(haar_unitary(4, seed=rng), [int(a), int(b)])
    qc.measure(touched[0], 0)  # splits the shots
    qc.measure(n - 1, 1)  # untouched: a certain 0
    qc.reset(n - 2)  # untouched: dropped by the conversion
    with qc.if_test((qc.clbits[0], 1)) as orelse:
        qc.x(n - 3)
        qc.ccx(touched[1], n - 3, n - 4)  # wider than a 2-qubit tile: applied on its own
    with orelse:
        qc.h(n - 5)
    qc.h(n - 1)
    with qc.while_loop((qc.clbits[2], 0)):
        qc.h(n - 6)
        qc.measure(n - 6, 2)
    with qc.for_loop(range(2)):
        qc.cx(n - 6, n - 7)
    qc.reset(n - 3)  # touched in one branch: |0> again in both
    with qc.switch(qc.clbits[1]) as case:
        with case(0):
            qc.rx(0.4, n - 8)
        with case(case.DEFAULT):
            qc.ry(0.4, n - 9)
    for _ in range(3):
        a, b = rng.choice(n, 2, replace=False)
        qc.unitary(haar_unitary(4, seed=rng), [int(a), int(b)])
    qc.measure(range(4), range(2, 6))
    return qc


@pytest.mark.skipif(
    not DEFAULT_KERNELS.tiles_available("cpu"), reason="the tile pass needs numba"
)
@pytest.mark.parametrize("blocking_qubits", [2, 4, 10])
@pytest.mark.parametrize("precision", ["double", "single"])
def test_zero_mask_holds_on_every_tile_of_dynamic_circuits(monkeypatch, blocking_qubits, precision):
    # The executor's record of the qubits still |0> (the tile pass skips what they keep zero)
    # is checked against the state before every tile, through splits, loops, a switch, gates
    # wider than a tile and resets, and the memory matches the run without tiles.
    calls = _mask_spy(monkeypatch)
    for seed in range(3):
        qc = _dynamic_untouched(13 + seed % 2, seed)
        options = {"precision": precision, "blocking_qubits": blocking_qubits}
        runs = [
            QsimTopoBackend(device="cpu", **FUSED, **options, blocking_enable=blocking)
            .run(qc, shots=64, seed_simulator=seed, memory=True)
            .result()
            for blocking in (True, False)
        ]
        assert runs[0].get_memory() == runs[1].get_memory()
    # The mask was used: bits set outside the tile (tiles that could be skipped).
    assert sum(bin(mask & ~sum(1 << q for q in qubits)).count("1") for qubits, mask in calls) > 0


@pytest.mark.skipif(
    not DEFAULT_KERNELS.tiles_available("cpu"), reason="the tile pass needs numba"
)
def test_reset_and_measured_zero_put_a_qubit_back_in_the_mask(monkeypatch):
    calls = _mask_spy(monkeypatch)
    n = 14
    qc = QuantumCircuit(n, 1)
    for q in range(0, 8, 2):
        qc.h(q)
        qc.cx(q, q + 1)
    qc.x(12)
    qc.reset(12)  # a certain outcome: the projection alone, no split
    qc.h(13)
    qc.measure(13, 0)  # splits: the branch that read 0 has qubit 13 back in |0>
    with qc.if_test((qc.clbits[0], 1)):  # (and keeps the measurement mid-circuit)
        qc.x(11)
    for q in range(1, 9, 2):
        qc.cx(q, q + 1)
        qc.h(q)
    qc.measure_all(add_bits=True)
    QsimTopoBackend(device="cpu", **FUSED, blocking_qubits=4).run(
        qc, shots=32, seed_simulator=2
    ).result()
    after = calls[[i for i, (qubits, _) in enumerate(calls) if 13 in qubits][-1] + 1 :]
    assert after and all(mask >> 12 & 1 for _, mask in after)
    assert any(mask >> 13 & 1 for _, mask in after) and not all(mask >> 13 & 1 for _, mask in after)


def test_max_parallel_threads_option():
    """Aer's max_parallel_threads: validated, and the same results for 1 and 2 threads."""
    qc = QuantumCircuit(15)
    rng = np.random.default_rng(5)
    for q in range(15):
        qc.rx(float(rng.uniform(0, 6)), q)
    for q in range(14):
        qc.cx(q, q + 1)
    backend = QsimTopoBackend(device="cpu")
    states = [backend.run(qc, max_parallel_threads=t).result().get_statevector() for t in (1, 2)]
    np.testing.assert_array_equal(states[0].data, states[1].data)
    np.testing.assert_allclose(states[0].data, Statevector(qc).data, atol=1e-12)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(QsimTopoOptionError, match="max_parallel_threads"):
            backend.run(qc, max_parallel_threads=bad)
