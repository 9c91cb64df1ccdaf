"""Mid-circuit measurement, reset and classical control flow, shot by shot."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, qasm2, transpile
from qiskit.circuit.classical import expr, types
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Statevector
from scipy.stats import chisquare

from tests.qiskit.qiskit_helpers import counts_tvd, two_sample_chi2_pvalue

SHOTS = 4000
P_MIN = 1e-4  # seeded runs: a fixed outcome; a real disagreement drives the p-value to ~0


DYNAMIC_CASES = [(n, seed) for n in (2, 3, 4, 5, 6) for seed in range(5)]


def _dynamic_random(n: int, seed: int) -> QuantumCircuit:
    return random_circuit(
        n, 8, max_operands=3, measure=True, conditional=True, reset=True, seed=1000 * n + seed
    )


def _aer_counts(aer, circuit, shots, seed):
    # Aer lacks some standard gates (iswap, ...): translate them, keeping the circuit's meaning
    return aer.run(transpile(circuit, aer, optimization_level=0), shots=shots,
                   seed_simulator=seed).result().get_counts()


@pytest.mark.parametrize(("n", "seed"), DYNAMIC_CASES)
def test_random_dynamic_circuits_agree_with_aer(backend, aer, n, seed):
    circuit = _dynamic_random(n, seed)
    ours = backend.run(circuit, shots=SHOTS, seed_simulator=seed).result().get_counts()
    ref = _aer_counts(aer, circuit, SHOTS, seed + 17)
    p = two_sample_chi2_pvalue(ours, ref)
    assert p > P_MIN, f"chi2 p={p:.2e}, TVD={counts_tvd(ours, ref):.3f}\n{ours}\n{ref}"


def test_random_dynamic_cases_exercise_control_flow_and_reset(backend):
    names = [set(_dynamic_random(n, s).count_ops()) for n, s in DYNAMIC_CASES]
    assert sum("if_else" in s for s in names) >= len(names) // 2
    assert sum("reset" in s for s in names) >= 3
    n, seed = next((n, s) for (n, s), ops in zip(DYNAMIC_CASES, names, strict=True)
                   if "if_else" in ops)
    meta = backend.run(_dynamic_random(n, seed), shots=500, seed_simulator=1).result()
    assert meta.results[0].metadata["branches"] > 1
    assert not meta.results[0].metadata["measure_sampling"]


def test_shots_are_grouped_per_branch(backend):
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.h(2)
    qc.measure([1, 2], [1, 2])
    result = backend.run(qc, shots=20_000, seed_simulator=3).result()
    meta = result.results[0].metadata
    assert meta["branches"] == 2  # two outcomes of one measurement, not 20000 shots
    assert meta["matmul_calls"] <= 8
    counts = result.get_counts()
    assert set(counts) == {"000", "100", "011", "111"}
    assert all(abs(v - 5000) < 5 * math.sqrt(5000) for v in counts.values())


def _teleport(state_prep_angle: float) -> QuantumCircuit:
    q = QuantumRegister(3, "q")
    m0, m1 = ClassicalRegister(1, "m0"), ClassicalRegister(1, "m1")
    out = ClassicalRegister(1, "out")
    qc = QuantumCircuit(q, m0, m1, out)
    qc.ry(state_prep_angle, 0)
    qc.h(1)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.h(0)
    qc.measure(0, m0[0])
    qc.measure(1, m1[0])
    with qc.if_test((m1, 1)):
        qc.x(2)
    with qc.if_test((m0, 1)):
        qc.z(2)
    qc.ry(-state_prep_angle, 2)  # undo the preparation: the teleported qubit must read 0
    qc.measure(2, out[0])
    return qc


def test_teleportation_is_exact(backend):
    result = backend.run(_teleport(1.234), shots=2000, seed_simulator=5).result()
    counts = result.get_counts()
    assert all(key.split()[0] == "0" for key in counts)  # register "out" is printed first
    assert len(counts) == 4  # the two Bell-measurement bits are uniform


def test_reset_returns_to_zero(backend):
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.reset(0)
    qc.measure([0, 1], [0, 1])
    counts = backend.run(qc, shots=3000, seed_simulator=2).result().get_counts()
    assert set(counts) == {"00", "10"}
    assert abs(counts["10"] - 1500) < 5 * math.sqrt(750)


def test_while_loop_repeats_until_success(backend):
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    with qc.while_loop((qc.clbits[0], 0)):
        qc.reset(0)
        qc.h(0)
        qc.measure(0, 0)
    counts = backend.run(qc, shots=1000, seed_simulator=4).result().get_counts()
    assert counts == {"1": 1000}


def test_for_loop_binds_its_parameter(backend):
    qc = QuantumCircuit(2)
    with qc.for_loop(range(4)) as i:
        qc.rx(i * 0.3, 0)
        qc.cry(0.5, 0, 1)
    unrolled = QuantumCircuit(2)
    for i in range(4):
        unrolled.rx(i * 0.3, 0)
        unrolled.cry(0.5, 0, 1)
    state = backend.run(qc).result().get_statevector().data
    np.testing.assert_allclose(state, Statevector(unrolled).data, atol=1e-12, rtol=0)


def test_break_and_continue(backend):
    qc = QuantumCircuit(2, 2)
    with qc.for_loop(range(5)):
        qc.x(0)
        qc.measure(0, 0)
        with qc.if_test((qc.clbits[0], 0)):
            qc.continue_loop()  # x undone to 0: skip the rest of this iteration
        qc.x(1)
        qc.measure(1, 1)
        with qc.if_test((qc.clbits[1], 1)):
            qc.break_loop()
    # iteration 0: q0 -> 1, q1 -> 1, break. Without break q1 would flip again at iteration 2.
    counts = backend.run(qc, shots=50, seed_simulator=1).result().get_counts()
    assert counts == {"11": 50}


def test_switch_case_on_a_register(backend):
    qc = QuantumCircuit(3)
    creg = ClassicalRegister(2, "c")
    out = ClassicalRegister(1, "out")
    qc.add_register(creg)
    qc.add_register(out)
    qc.h([0, 1])
    qc.measure([0, 1], creg)
    with qc.switch(creg) as case:
        with case(0, 3):
            qc.x(2)
        with case(1):
            pass
        with case(case.DEFAULT):
            qc.h(2)
    qc.measure(2, out[0])
    counts = backend.run(qc, shots=8000, seed_simulator=9).result().get_counts()
    # c=0 and c=3: out=1; c=1: out=0; c=2: out uniform
    for key in counts:
        o, c = key.split()
        if c in ("00", "11"):
            assert o == "1"
        elif c == "01":
            assert o == "0"
    assert abs(counts.get("1 10", 0) - 1000) < 5 * math.sqrt(1000)
    assert abs(counts.get("0 10", 0) - 1000) < 5 * math.sqrt(1000)


def test_expr_conditions_and_stores(backend):
    qc = QuantumCircuit(3)
    a = ClassicalRegister(2, "a")
    b = ClassicalRegister(3, "b")
    qc.add_register(a)
    qc.add_register(b)
    flag = qc.add_var("flag", expr.lift(False))
    qc.h([0, 1])
    qc.measure([0, 1], a)
    qc.store(flag, expr.logic_and(expr.equal(a, 3), expr.lift(True)))
    with qc.if_test(expr.logic_or(flag, expr.equal(expr.bit_and(a, 1), 0))) as else_:
        qc.x(2)
    with else_:
        qc.h(2)
    qc.store(b, expr.bit_xor(expr.cast(a, types.Uint(3)), 4))
    qc.measure(2, b[2])
    ours = backend.run(qc, shots=SHOTS, seed_simulator=1).result().get_counts()
    # a is uniform; a in {0, 2, 3} sets q2 = 1 (x), a = 1 leaves it uniform (h); b = a ^ 4 with
    # bit 2 then overwritten by q2 (Aer cannot run Bool variables: the reference is analytic).
    expected = {"100 00": 0.25, "110 10": 0.25, "111 11": 0.25, "001 01": 0.125,
                "101 01": 0.125}
    assert set(ours) == set(expected)
    keys = sorted(expected)
    _, p = chisquare([ours[k] for k in keys], [SHOTS * expected[k] for k in keys])
    assert p > P_MIN


def test_qasm2_if_register_equals(backend, aer):
    text = """
    OPENQASM 2.0;
    include "qelib1.inc";
    qreg q[3];
    creg c[2];
    creg d[1];
    h q[0];
    h q[1];
    measure q[0] -> c[0];
    measure q[1] -> c[1];
    if (c == 2) x q[2];
    if (c == 1) h q[2];
    measure q[2] -> d[0];
    """
    circuit = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    assert any(inst.operation.name == "if_else" for inst in circuit.data)
    ours = backend.run(circuit, shots=SHOTS, seed_simulator=3).result().get_counts()
    ref = _aer_counts(aer, circuit, SHOTS, 4)
    assert set(ours) == {"0 00", "1 10", "0 01", "1 01", "0 11"}
    assert two_sample_chi2_pvalue(ours, ref) > P_MIN


def test_registers_wider_than_64_bits(backend):
    qc = QuantumCircuit(QuantumRegister(2, "q"), ClassicalRegister(100, "wide"),
                        ClassicalRegister(3, "small"))
    qc.x(0)
    qc.measure(0, 99)
    qc.measure(0, 70)
    qc.measure(1, 0)
    qc.measure(0, 101)
    with qc.if_test((qc.cregs[0], (1 << 99) | (1 << 70))):
        qc.x(1)
    qc.measure(1, 102)
    result = backend.run(qc, shots=10, memory=True, seed_simulator=0).result()
    value = (1 << 99) | (1 << 70) | (1 << 101) | (1 << 102)
    assert result.results[0].data.memory == [hex(value)] * 10
    wide = format((1 << 99) | (1 << 70), "0100b")
    assert result.get_counts() == {f"110 {wide}": 10}


def test_terminal_measurements_are_sampled_once(backend):
    qc = QuantumCircuit(4, 4)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure(0, 0)
    qc.ry(0.7, 2)  # after a measurement, on another qubit: the measurement is still terminal
    qc.measure([1, 2], [1, 2])
    qc.measure(3, 3)
    meta = backend.run(qc, shots=1000, seed_simulator=1).result().results[0].metadata
    assert meta["measure_sampling"] and meta["branches"] == 1


def test_measurement_before_gates_on_every_other_qubit_is_terminal(backend):
    # The backward scan for terminal measurements stops once every qubit has a later gate;
    # here the last qubit to get one is the measured qubit's neighbour, right after it.
    qc = QuantumCircuit(3, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.h(1)
    qc.h(2)
    result = backend.run(qc, shots=1000, seed_simulator=3).result()
    meta = result.results[0].metadata
    assert meta["measure_sampling"] and meta["branches"] == 1
    assert set(result.get_counts()) == {"0", "1"}


def test_resets_of_untouched_qubits_keep_the_circuit_unitary(backend, aer):
    """`initialize` at the start (resets, then a state preparation) and resets of qubits
    nothing has acted on yet are the identity: the final state is kept and the measurements
    are sampled once. Resets after a gate, after a jump or in a later loop iteration act."""
    rng = np.random.default_rng(8)
    v = rng.standard_normal(8) + 1j * rng.standard_normal(8)
    v /= np.linalg.norm(v)
    qc = QuantumCircuit(3)
    qc.reset(2)
    qc.initialize(v, [0, 1, 2])
    qc.h(1)
    result = backend.run(qc).result()
    assert result.get_statevector().equiv(Statevector(_without_resets(qc)))
    measured = qc.copy()
    measured.measure_all()
    meta = backend.run(measured, shots=100, seed_simulator=1).result().results[0].metadata
    assert meta["measure_sampling"] and meta["branches"] == 1
    # a reset after a gate on its qubit acts (|1> -> |0>); the others' stay dropped
    acted = QuantumCircuit(2, 2)
    acted.reset(1)
    acted.x(0)
    acted.reset(0)
    acted.x(1)
    acted.measure([0, 1], [0, 1])
    assert backend.run(acted, shots=50).result().get_counts() == {"10": 50}
    # unrolled loop: the second iteration's reset follows the first's X
    loop = QuantumCircuit(1, 1)
    with loop.for_loop(range(2)):
        loop.reset(0)
        loop.x(0)
    loop.measure(0, 0)
    assert backend.run(loop, shots=50).result().get_counts() == {"1": 50}
    # past a conditional, a reset acts: here the X ran in every shot
    branch = QuantumCircuit(2, 2)
    branch.measure(1, 1)  # 0 in every shot
    with branch.if_test((branch.clbits[1], 0)):
        branch.x(0)
    branch.reset(0)
    branch.measure(0, 0)
    assert backend.run(branch, shots=50).result().get_counts() == {"00": 50}
    noisy = QuantumCircuit(3, 3)
    noisy.h(0)
    noisy.cx(0, 1)
    noisy.reset(1)
    noisy.reset(2)
    noisy.measure([0, 1, 2], [0, 1, 2])
    ours = backend.run(noisy, shots=4000, seed_simulator=3).result().get_counts()
    theirs = aer.run(noisy, shots=4000, seed_simulator=3).result().get_counts()
    assert set(ours) == set(theirs) == {"000", "001"}
    assert two_sample_chi2_pvalue(ours, theirs) > 1e-4


def _without_resets(qc: QuantumCircuit) -> QuantumCircuit:
    """The circuit with its resets removed (valid here: each acts on a qubit in |0>), which
    Statevector can evolve."""
    out = qc.copy_empty_like()
    for instr in qc.decompose(["initialize"]).data:
        if instr.operation.name != "reset":
            out.append(instr)
    return out


def test_counts_match_aer_on_transpiled_dynamic_circuit(backend, aer):
    circuit = random_circuit(4, 6, max_operands=2, measure=True, conditional=True, reset=True,
                             seed=77)
    tqc = transpile(circuit, backend, optimization_level=2, seed_transpiler=3)
    ours = backend.run(tqc, shots=SHOTS, seed_simulator=8).result().get_counts()
    ref = _aer_counts(aer, circuit, SHOTS, 9)
    assert two_sample_chi2_pvalue(ours, ref) > P_MIN
