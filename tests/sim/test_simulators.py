from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.errors import InsufficientMemoryError, NotUnitaryError, QsimTopoError
from qsim_topo.layers import brickwork_layer, haar_unitary
from qsim_topo.sim import StatevectorSimulator, UnitarySimulator, simulation_bytes
from qsim_topo.xp import to_numpy
from tests.conftest import devices, embed


def _random_ops(rng, n, count):
    ops = []
    for _ in range(count):
        k = int(rng.integers(1, min(3, n) + 1))
        qubits = tuple(int(q) for q in rng.choice(n, size=k, replace=False))
        ops.append((haar_unitary(2**k, seed=rng), qubits))
    return ops


@pytest.mark.parametrize("device", devices())
def test_statevector_and_unitary_agree_with_references(rng, device):
    n = 5
    ops = _random_ops(rng, n, 15)
    ref_u = np.eye(2**n, dtype=complex)
    for m, q in ops:
        ref_u = embed(m, q, n) @ ref_u
    sv = StatevectorSimulator(device=device).run(ops, n)
    un = UnitarySimulator(device=device).run(ops, n)
    assert np.max(np.abs(to_numpy(sv.data) - ref_u[:, 0])) < 1e-12
    assert np.max(np.abs(to_numpy(un.data) - ref_u)) < 1e-12
    assert sv.matmul_calls == un.matmul_calls == 15
    assert sv.flops_fraction == 1.0 and sv.engine == "exact"


def test_statevector_matches_qiskit_statevector(rng):
    qi = pytest.importorskip("qiskit.quantum_info")
    n = 6
    ops = _random_ops(rng, n, 20)
    psi0 = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
    psi0 /= np.linalg.norm(psi0)
    ref = qi.Statevector(psi0)
    for m, q in ops:
        ref = ref.evolve(qi.Operator(m), qargs=list(q))
    out = StatevectorSimulator().run(ops, n, initial=psi0)
    assert np.max(np.abs(out.data - ref.data)) < 1e-12


def test_brickwork_circuit_in_complex64(rng):
    n = 6
    ops = brickwork_layer(n, 0, seed=1) + brickwork_layer(n, 1, seed=2)
    ref = StatevectorSimulator().run(ops, n).data
    single = StatevectorSimulator(dtype=np.complex64).run(ops, n).data
    assert single.dtype == np.complex64
    assert np.linalg.norm(single - ref) < 1e-6


def test_initial_state_is_copied_not_written(rng):
    psi0 = np.zeros(4, dtype=complex)
    psi0[3] = 1
    keep = psi0.copy()
    StatevectorSimulator().run([(haar_unitary(2, seed=1), (0,))], 2, initial=psi0)
    assert np.array_equal(psi0, keep)
    with pytest.raises(QsimTopoError, match="shape"):
        StatevectorSimulator().run([], 2, initial=np.ones(3))


def test_non_unitary_operator_is_refused():
    with pytest.raises(NotUnitaryError, match="qubits \\(0,\\)"):
        StatevectorSimulator().run([(np.array([[1, 1], [0, 1]]), (0,))], 2)
    # A caller that vouches for its matrices may switch the check off.
    out = StatevectorSimulator(check_unitary=False).run([(np.array([[1, 1], [0, 1]]), (0,))], 1)
    assert np.allclose(out.data, [1, 0])


def test_too_large_is_refused_before_allocating():
    with pytest.raises(InsufficientMemoryError, match="40-qubit state-vector"):
        StatevectorSimulator().run([], 40)
    with pytest.raises(InsufficientMemoryError, match="20-qubit unitary"):
        UnitarySimulator().run([], 20)
    assert simulation_bytes(10, np.complex64, unitary=False) == 4 * 1024 * 8


def test_bad_dtype_and_engine():
    with pytest.raises(QsimTopoError, match="complex64 or complex128"):
        StatevectorSimulator(dtype=np.float64)
    with pytest.raises(KeyError):
        StatevectorSimulator(engine="nope")


# ------------------------------------------------------------------ programs, the fast path
from qsim_topo.circuit import (  # noqa: E402
    BitCondition,
    BranchOp,
    MeasureOp,
    Program,
    ResetOp,
    defer_terminal_measures,
    gate,
)
from qsim_topo.sim.kernels import NUMPY_KERNELS  # noqa: E402


def test_bell_measurements_through_the_python_api():
    ops = [gate("h", 0), gate("cx", (0, 1)), MeasureOp(0, 0), MeasureOp(1, 1)]
    out = StatevectorSimulator().run(ops, 2, shots=2000, seed=3)
    assert out.data is None  # the final state differs between shots
    assert set(out.counts) == {0b00, 0b11} and abs(out.counts[0] - 1000) < 150
    # Deferred to the end, the same measurements are sampled from one state: no split.
    program = defer_terminal_measures(Program("bell", 2, 2, ops))
    sampled = StatevectorSimulator().run(program, shots=2000, seed=3)
    assert sampled.branches == 1 and set(sampled.counts) == {0b00, 0b11}


def test_reset_and_classical_control_through_the_python_api():
    # q0 = |1>, measured into c0; if c0 == 1, flip q1; reset q0; measure both.
    ops = [
        gate("x", 0),
        MeasureOp(0, 0),
        BranchOp(BitCondition(0, 1), 4),
        gate("x", 1),
        ResetOp(0),
        MeasureOp(0, 1),
        MeasureOp(1, 2),
    ]
    out = StatevectorSimulator().run(Program("ff", 2, 3, ops), shots=50, seed=1)
    assert out.counts == {0b101: 50}
    # A random outcome splits the shots; each branch follows its own path.
    ops[0] = gate("h", 0)
    split = StatevectorSimulator().run(Program("ff", 2, 3, ops), shots=400, seed=2)
    assert set(split.counts) == {0b000, 0b101} and split.branches == 2


def test_unitary_simulator_refuses_measurements():
    with pytest.raises(QsimTopoError, match="runs method='unitary' programs, got 'statevector'"):
        UnitarySimulator().run(Program("p", 1, 1, [MeasureOp(0, 0)]))
    with pytest.raises(QsimTopoError, match="cannot measure"):
        UnitarySimulator().run(Program("p", 1, 1, [MeasureOp(0, 0)], method="unitary"))


def test_the_api_reports_its_kernels_and_fuses_like_the_backend(rng):
    n = 14
    ops = _random_ops(rng, n, 40)
    out = StatevectorSimulator().run(ops, n)
    assert out.fusion["enabled"] is True and out.fusion["gates"] == 40
    assert out.kernel_family in ("numba", "numpy") and sum(out.kernels.values()) >= 1
    fallback = StatevectorSimulator(kernels=NUMPY_KERNELS).run(ops, n)
    assert fallback.kernel_family == "numpy" and "numba-block" not in fallback.kernels
    assert np.max(np.abs(out.data - fallback.data)) < 1e-12
    approx = StatevectorSimulator(engine="fp32").run(ops, n)
    assert approx.kernel_family == "reference" and approx.kernels == {"apply_operator": 40}
    assert approx.matmul_calls == 40 and approx.fusion["enabled"] is False


H_GATE = np.array([[1, 1], [1, -1]]) / np.sqrt(2)


@pytest.mark.parametrize(
    ("ops", "n_qubits", "kwargs", "match"),
    [
        ([(np.array([["a", "b"], ["c", "d"]]), (0,))], 1, {}, r"ops\[0\] matrix must be"),
        ([([["1", "0"], ["0", "1"]], (0,))], 1, {}, r"ops\[0\] matrix must be"),
        ([(H_GATE, ("0",))], 1, {}, r"ops\[0\] qubits\[0\] must be an integer"),
        ([(H_GATE, (0.5,))], 1, {}, r"ops\[0\] qubits\[0\] must be an integer"),
        ([(H_GATE,)], 1, {}, r"ops\[0\] must be a \(matrix, qubits\) pair"),
        ([(H_GATE, (0,))], "1", {}, "n_qubits must be an integer"),
        ([(H_GATE, (0,))], 1.0, {}, "n_qubits must be an integer"),
        ([(H_GATE, (0,))], 10**6, {}, "n_qubits must be an integer"),
        ([(H_GATE, (0,))], 1, {"shots": 2.5}, "shots must be an integer"),
        ([(H_GATE, (0,))], 1, {"shots": 10**10}, "shots must be an integer"),
        ([(H_GATE, (0,))], 1, {"seed": "x"}, "seed must be"),
        ([(H_GATE, (0,))], 1, {"initial": "abc"}, "initial must be a numeric array"),
        ("abc", 1, {}, "ops must be an iterable"),
    ],
)
def test_run_refuses_bad_arguments_clearly(ops, n_qubits, kwargs, match):
    from qsim_topo.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=match):
        StatevectorSimulator().run(ops, n_qubits, **kwargs)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"device": []}, "device must be one of"),
        ({"dtype": "x"}, "dtype must be complex64 or complex128"),
        ({"fusion": 1}, "fusion must be True or False"),
        ({"fusion_max_qubits": 2.5}, "fusion_max_qubits must be an integer"),
        ({"tile_qubits": 100}, "tile_qubits must be an integer"),
        ({"engine": 5}, "engine must be an engine name or a MatmulEngine"),
        ({"check_unitary": "no"}, "check_unitary must be True or False"),
    ],
)
@pytest.mark.parametrize("cls", [StatevectorSimulator, UnitarySimulator])
def test_simulator_options_are_checked_at_construction(cls, options, match):
    from qsim_topo.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=match):
        cls(**options)


def test_many_shots_are_refused_up_front_with_the_bytes(monkeypatch):
    from qsim_topo.circuit import MeasureOp
    from qsim_topo.errors import InsufficientMemoryError

    monkeypatch.setattr("qsim_topo.xp.available_memory", lambda device: 2**30)
    with pytest.raises(InsufficientMemoryError, match=r"100000000 shots needs about .* GiB"):
        StatevectorSimulator().run([(H_GATE, (0,)), MeasureOp(0, 0)], 1, shots=10**8)
    res = StatevectorSimulator().run([(H_GATE, (0,)), MeasureOp(0, 0)], 1, shots=np.int64(100))
    assert sum(res.counts.values()) == 100
