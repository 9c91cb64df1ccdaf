"""sim/passes.py: fusion and tiles as Program -> Program passes, against the unfused program."""

from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.circuit import (
    BitCondition,
    BranchOp,
    GateOp,
    JumpOp,
    MeasureOp,
    PhaseOp,
    Program,
    TileOp,
    check_program,
    gate,
)
from qsim_topo.engines import get_engine
from qsim_topo.layers import haar_unitary
from qsim_topo.sim.apply import apply_operator
from qsim_topo.sim.executor import execute
from qsim_topo.sim.passes import fuse_program, prepare_program, tile_program
from qsim_topo.sim.planning import plan_tile_blocks

EXACT = get_engine("exact")


@pytest.mark.parametrize("cheap", [False, True])
@pytest.mark.parametrize("tile_qubits", [2, 3, 6])
def test_fuse_program_tiles_replayed_by_reference(tile_qubits, cheap):
    pytest.importorskip("qiskit")
    from qiskit.circuit.random import random_circuit
    from qiskit.quantum_info import Statevector

    from qsim_topo.qiskit.convert import circuit_to_program

    # The fused program replayed gate by gate with apply_operator (no tile pass, no numba):
    # the tiles hold the circuit's gates in a valid order, with the stated qubits.
    qc = random_circuit(7, 12, max_operands=3, seed=8)  # with 3-qubit gates (ccx, cswap, ...)
    qc.global_phase = 0.4
    engine = get_engine("exact")
    program, report = fuse_program(
        circuit_to_program(qc), engine, 2, plan=plan_tile_blocks, cheap=cheap
    )
    program, passes = tile_program(program, tile_qubits)
    state = np.zeros(2**7, dtype=np.complex128)
    state[0] = 1
    lone = tiled = 0
    for op in program.ops:
        if isinstance(op, TileOp):
            assert list(op.qubits) == sorted(set(op.qubits)) and len(op.qubits) <= tile_qubits
            for gate in op.gates:
                assert list(gate.qubits) == sorted(gate.qubits)
                assert set(gate.qubits) <= set(op.qubits)
                state = apply_operator(engine, state, gate.matrix, gate.qubits, 7)
            tiled += len(op.gates)
        elif isinstance(op, GateOp):
            assert len(op.qubits) > tile_qubits  # only a gate wider than a tile stays alone
            state = apply_operator(engine, state, op.matrix, op.qubits, 7)
            lone += 1
        else:
            assert isinstance(op, PhaseOp)
            state = state * np.exp(1j * op.phase)
    np.testing.assert_allclose(state, Statevector(qc).data, atol=1e-12)
    assert report.tile_qubits is None and report.max_qubits == 2
    assert report.blocks == tiled + lone and passes == report.blocks - tiled + sum(
        isinstance(op, TileOp) for op in program.ops
    )
    # 2-qubit tiles hold one block each: the blocks of a pair are already one block.
    assert passes <= report.blocks < report.gates
    assert tile_qubits == 2 or passes < report.blocks




def _dynamic_program(n, rng):
    """Gate runs cut by a measurement, a branch and a loop-like backward-free jump."""
    def run(count):
        ops = []
        for _ in range(count):
            a, b = (int(x) for x in rng.choice(n, 2, replace=False))
            ops.append(GateOp(haar_unitary(4, seed=rng), (a, b)))
            ops.append(gate("rz", int(rng.integers(n)), float(rng.uniform(0, 6))))
        return ops

    ops = [*run(6), PhaseOp(0.3), *run(4), MeasureOp(0, 0)]
    branch = BranchOp(BitCondition(0), -1)
    ops.append(branch)
    ops += run(3)  # the if-body
    skip = JumpOp(-1)
    ops.append(skip)
    branch.target = len(ops)
    ops += run(3)  # the else-body
    skip.target = len(ops)
    ops += [*run(5), MeasureOp(1, 1)]
    return Program("dyn", n, 2, ops)


@pytest.mark.parametrize("tiles", [False, True])
def test_passes_keep_control_flow_and_the_memory(rng, tiles):
    n = 8
    program = _dynamic_program(n, rng)
    check_program(program)
    if tiles:
        fused, report = fuse_program(program, EXACT, 2, plan=plan_tile_blocks)
        fused, passes = tile_program(fused, 4)
        assert any(isinstance(op, TileOp) for op in fused.ops) and passes < report.blocks
    else:
        fused, report = fuse_program(program, EXACT, 4)
        assert report.blocks < report.gates
    check_program(fused)  # jump targets renumbered into the new program
    a = execute(program, EXACT, shots=300, seed=5, fusion=False)
    b = execute(fused, EXACT, shots=300, seed=5, fusion=False)
    assert a.memory == b.memory  # same outcome probabilities to rounding, same draws


def test_prepare_program_reports_why_it_did_nothing():
    program = Program("p", 3, 0, [gate("h", 0), gate("cx", (0, 1))])
    same, report = prepare_program(
        program, EXACT, fusion=True, fusion_max_qubits=5, fusion_threshold=4, tiles=True,
        tile_qubits=10,
    )
    assert same is program
    assert report == {"enabled": False, "reason": "3 qubits < fusion_threshold 4"}
    _, report = prepare_program(
        program, get_engine("bf16"), fusion=True, fusion_max_qubits=5, fusion_threshold=1,
        tiles=True, tile_qubits=10,
    )
    assert "approximate" in report["reason"]
    _, report = prepare_program(
        program, EXACT, fusion=True, fusion_max_qubits=5, fusion_threshold=1, tiles=True,
        tile_qubits=10,
    )
    assert report["blocking"] is True and report["blocking_qubits"] == 3


@pytest.mark.parametrize("tiles", [False, True])
def test_straight_line_program_rewritten_as_with_a_trailing_op(rng, tiles):
    """A program of gates and phases only (one run, rewritten without the per-op scan) gives
    the ops that the same program followed by a measurement gives before it; a gate fused
    with nothing is kept as the same op, a gate on descending qubits gets its sorted copy."""
    ops = [
        GateOp(haar_unitary(4, seed=rng), (0, 1), "a"),
        PhaseOp(0.25),
        GateOp(haar_unitary(4, seed=rng), (3, 2), "b"),
        PhaseOp(-1.0),
        GateOp(haar_unitary(4, seed=rng), (1, 2), "c"),
        gate("h", 2),  # joins "c"
    ]
    straight = Program("s", 4, 1, list(ops))
    measured = Program("m", 4, 1, [*ops, MeasureOp(0, 0)])

    def run(program):
        fused, report = fuse_program(program, EXACT, 2, plan=plan_tile_blocks)
        if tiles:
            fused, _ = tile_program(fused, 3)
        return fused, report

    (fast, fast_report), (slow, slow_report) = run(straight), run(measured)
    assert fast_report == slow_report
    assert len(fast.ops) + 1 == len(slow.ops) and isinstance(slow.ops[-1], MeasureOp)
    assert (fast.name, fast.n_qubits, fast.n_clbits) == ("s", 4, 1)
    for a, b in zip(fast.ops, slow.ops[:-1], strict=False):
        assert type(a) is type(b)
        if isinstance(a, TileOp):
            assert a.qubits == b.qubits
            assert [g.qubits for g in a.gates] == [g.qubits for g in b.gates]
            for x, y in zip(a.gates, b.gates, strict=True):
                np.testing.assert_array_equal(x.matrix, y.matrix)  # bit for bit
        elif isinstance(a, GateOp):
            assert a.qubits == b.qubits
            np.testing.assert_array_equal(a.matrix, b.matrix)
        else:
            assert a == b
    if not tiles:
        assert fast.ops[1] is ops[0]  # after the summed phase: "a", fused with nothing
        by_name = {op.name: op for op in fast.ops if isinstance(op, GateOp)}
        assert by_name["b"].qubits == (2, 3) and by_name["b"] is not ops[2]
    want = execute(straight, EXACT, fusion=False).final
    got = execute(straight, EXACT, fusion=True, fusion_threshold=1, tiles=tiles).final
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("tile_qubits", [None, 3])
@pytest.mark.parametrize("dtype, atol", [(np.complex128, 1e-12), (np.complex64, 2e-6)])
def test_small_state_runs_its_gates_as_written(rng, dtype, atol, tile_qubits):
    """Up to UNFUSED_TILE_QUBITS qubits the tiles hold the gates themselves (no fusion, no
    copies): one tile per run when the state fits a tile, else the planned tiles. Gates on
    descending qubits, of other dtypes and 3 qubits wide, split by a measurement, give the
    reference state and memory (apply_operator, complex128)."""
    n = 6
    ops = [
        GateOp(haar_unitary(4, seed=rng), (5, 1), "a"),
        GateOp(haar_unitary(8, seed=rng).astype(np.complex64), (4, 0, 2), "b"),
        PhaseOp(0.5),
        GateOp(np.eye(4)[[0, 1, 3, 2]], (3, 0), "cx"),  # real, control on qubit 3
        GateOp(np.array([[0, 1], [1, 0]], dtype=np.int64), (5,), "x"),
        GateOp(haar_unitary(4, seed=rng), (2, 3), "c"),
    ]
    tail = [GateOp(haar_unitary(4, seed=rng), (4, 1), "d"), gate("h", 2)]
    program = Program("small", n, 1, [*ops, MeasureOp(1, 0), *tail])
    check_program(program, check_unitary=False)  # "b" is unitary to complex64's precision
    prepared, report = prepare_program(
        program, EXACT, fusion=True, fusion_max_qubits=5, fusion_threshold=1, tiles=True,
        tile_qubits=tile_qubits,
    )
    tiles = [op for op in prepared.ops if isinstance(op, TileOp)]
    assert report["gates"] == report["blocks"] == 7 and report["max_block_qubits"] == 3
    assert report["passes"] == len(tiles)
    in_tiles = [g for t in tiles for g in t.gates]
    written = [o for o in [*ops, *tail] if isinstance(o, GateOp)]
    assert sorted(map(id, in_tiles)) == sorted(map(id, written))  # the ops themselves
    if tile_qubits is None:
        assert len(tiles) == 2 and tiles[0].gates == tuple(written[:5])
        assert tiles[0].qubits == tuple(range(n)) and tiles[1].qubits == (1, 2, 4)
    else:
        assert len(tiles) > 2 and all(len(t.qubits) <= tile_qubits for t in tiles)
    # No measurement: the final state against the reference.
    straight = Program("straight", n, 0, [*ops, *tail])
    got = execute(straight, EXACT, dtype=dtype, fusion_threshold=1, tile_qubits=tile_qubits)
    assert got.fusion["blocking"] and got.kernels.get("numba-tile") >= 1
    want = np.zeros(2**n, dtype=complex)
    want[0] = 1
    for op in [*ops, *tail]:
        if isinstance(op, PhaseOp):
            want = want * np.exp(1j * op.phase)
        else:
            want = apply_operator(EXACT, want, np.asarray(op.matrix, complex), op.qubits, n)
    np.testing.assert_allclose(got.final, want, atol=atol)
    # With the measurement: the same draws as gate by gate, unfused.
    a = execute(
        program, EXACT, shots=200, seed=3, dtype=dtype, fusion_threshold=1,
        tile_qubits=tile_qubits,
    )
    b = execute(program, EXACT, shots=200, seed=3, dtype=dtype, fusion=False)
    if tile_qubits is None:
        assert a.kernels.get("numba-tile") == 1 + a.branches  # the tail once per branch
    assert a.memory == b.memory


@pytest.mark.parametrize("compiled", [True, False])
def test_diagonal_gates_by_exact_zeros(compiled, monkeypatch):
    """Which gates the tile planner keeps apart (diagonal: CP, RZ, CCZ), the same with numba
    and with numpy; a near-zero entry, a permutation and a zero on the diagonal are not."""
    from qsim_topo.sim.passes import diagonal_gates

    if not compiled:
        monkeypatch.setattr("qsim_topo.sim.numba_kernels.numba_available", lambda: False)
    nearly = np.diag([1.0, 1j]).astype(complex)
    nearly[0, 1] = 1e-300
    ops = [
        gate("h", 0), gate("cp", (0, 1), 0.3), gate("rz", 2, 0.1), gate("cx", (0, 1)),
        gate("swap", (1, 2)), GateOp(np.diag(np.exp(1j * np.arange(8))), (0, 1, 2)),
        GateOp(nearly, (1,)), GateOp(np.diag([1.0, 0.0]), (0,)), GateOp(np.eye(2, dtype=int), (2,)),
    ]
    assert diagonal_gates(ops) == [False, True, True, False, False, True, False, False, True]
    assert diagonal_gates([]) == []


@pytest.mark.parametrize("fusion", [True, False])
def test_a_phase_folded_into_a_narrow_gate_keeps_double_precision(fusion):
    """A global phase is folded into the next gate's matrix in complex128 even when that
    matrix is complex64 or float16 (numpy would keep their precision); numpy uint8 qubits on
    10 qubits (their bit masks would overflow uint8)."""
    n = 10
    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    for matrix in (h.astype(np.complex64), np.eye(2, dtype=np.float16)):
        qubit = (np.uint8(9),)
        program = Program("p", n, 0, [PhaseOp(0.3), GateOp(matrix, qubit), gate("h", 0)])
        got = execute(program, EXACT, fusion=fusion).final
        want = np.zeros(2**n, dtype=complex)
        want[0] = np.exp(0.3j)
        want = apply_operator(EXACT, want, np.asarray(matrix, complex), (9,), n)
        want = apply_operator(EXACT, want, h, (0,), n)
        np.testing.assert_allclose(got, want, atol=1e-15, rtol=0)
