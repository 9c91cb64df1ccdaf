"""Gate fusion against the unfused reference: every fused circuit equals its gates applied one
by one (complex128 numpy, through apply_operator), and the plan keeps each qubit's order."""

from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.engines.base import CheckedEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.layers import haar_unitary
from qsim_topo.sim.apply import apply_operator
from qsim_topo.sim.fusion import fuse_gates
from qsim_topo.sim.planning import block_cost, plan_fusion, plan_tile_blocks, plan_tiles
from tests.conftest import embed

EXACT = get_engine("exact")


def _random_gates(rng, n, count, widest=3):
    gates = []
    for _ in range(count):
        k = int(rng.integers(1, min(n, widest) + 1))
        qubits = tuple(int(q) for q in rng.choice(n, k, replace=False))
        gates.append((haar_unitary(2**k, seed=int(rng.integers(2**31))), qubits))
    return gates


def _apply_all(state, gates, n):
    for matrix, qubits in gates:
        state = apply_operator(EXACT, state, matrix, qubits, n)
    return state


@pytest.mark.parametrize("plan", [plan_fusion, plan_tile_blocks])
@pytest.mark.parametrize("max_qubits", [1, 2, 3, 4, 5, 6])
def test_fused_circuit_equals_unfused(rng, max_qubits, plan):
    for _ in range(25):
        n = int(rng.integers(1, 8))
        gates = _random_gates(rng, n, int(rng.integers(1, 40)))
        psi = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
        want = _apply_all(psi, gates, n)
        blocks = fuse_gates(gates, EXACT, max_qubits=max_qubits, plan=plan)
        widest_gate = max(len(q) for _, q in gates)
        assert all(len(b.qubits) <= max(max_qubits, widest_gate) for b in blocks)
        assert sorted(i for b in blocks for i in b.sources) == list(range(len(gates)))
        got = _apply_all(psi, [(b.matrix, b.qubits) for b in blocks], n)
        np.testing.assert_allclose(got, want, atol=1e-12)


def _check_plan(sets, blocks, n):
    """Every gate exactly once, and on every qubit the gates keep their circuit order."""
    order = [i for block in blocks for i in block]
    assert sorted(order) == list(range(len(sets)))
    for q in range(n):
        on_q = [i for i in order if q in sets[i]]
        assert on_q == sorted(on_q), f"qubit {q}: gates reordered"


def test_plan_keeps_every_qubits_order(rng):
    for _ in range(50):
        n = int(rng.integers(2, 10))
        sets = [tuple(rng.choice(n, int(rng.integers(1, 3)), replace=False)) for _ in range(60)]
        _check_plan(sets, plan_fusion(sets, 4), n)


def test_brickwork_fuses_into_few_wide_blocks():
    n, depth = 20, 20
    sets = [(a, a + 1) for d in range(depth) for a in range(d % 2, n - 1, 2)]
    blocks = plan_fusion(sets, 5)
    assert len(sets) == 190
    assert len(blocks) <= 50  # measured 46: about four gates per 5-qubit block
    assert sum(block_cost(len({q for i in b for q in sets[i]})) for b in blocks) < sum(
        block_cost(2) for _ in sets
    )


def test_wider_gate_than_limit_is_a_block_alone():
    sets = [(0,), (0, 1, 2), (2,)]
    assert plan_fusion(sets, 2) == [[0], [1], [2]]


def test_cost_model_declines_unprofitable_blocks():
    # Two 4-qubit gates sharing two qubits: one 6-qubit pass costs more than two 4-qubit passes.
    assert block_cost(6) > 2 * block_cost(4)
    assert plan_fusion([(0, 1, 2, 3), (2, 3, 4, 5)], 6) == [[0], [1]]
    # ... while five 1-qubit gates are cheaper as one 5-qubit pass than as five passes.
    assert block_cost(5) < 5 * block_cost(1)
    assert plan_fusion([(q,) for q in range(5)], 5) == [[0, 1, 2, 3, 4]]


def test_bad_limit_refused():
    with pytest.raises(QsimTopoError, match="max_qubits"):
        plan_fusion([(0,)], 0)


def test_single_gate_block_keeps_matrix_with_sorted_qubits():
    cx = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]], dtype=complex)
    (block,) = fuse_gates([(cx, (3, 1))], EXACT, max_qubits=5)
    assert block.qubits == (1, 3)
    psi = np.random.default_rng(1).standard_normal(16).astype(complex)
    np.testing.assert_allclose(
        apply_operator(EXACT, psi, block.matrix, block.qubits, 4),
        apply_operator(EXACT, psi, cx, (3, 1), 4),
    )

    # Ascending qubits: the gate's own complex128 matrix, not a copy; a wrong shape is refused
    (same,) = fuse_gates([(cx, (1, 3))], EXACT, max_qubits=5)
    assert same.qubits == (1, 3) and same.matrix is cx
    with pytest.raises(ValueError, match="needs a"):
        fuse_gates([(np.eye(2, dtype=complex), (1, 3))], EXACT, max_qubits=5)


def _width(block, sets):
    return len({q for i in block for q in sets[i]})


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_tile_blocks_add_no_arithmetic(rng, limit):
    # Inside a tile a block costs 2^k multiply-adds per amplitude: a block is never wider than
    # its widest gate, and a 1-qubit gate is a block of its own only when no gate of 2..limit
    # qubits acts on its qubit between the gates wider than the limit around it.
    for _ in range(60):
        n = int(rng.integers(1, 9))
        widths = rng.integers(0, min(n, limit + 2) + 1, size=int(rng.integers(0, 60)))
        sets = [tuple(int(q) for q in rng.choice(n, int(k), replace=False)) for k in widths]
        blocks = plan_tile_blocks(sets, limit)
        _check_plan(sets, blocks, n)
        for block in blocks:
            widest = max(len(sets[i]) for i in block)
            assert _width(block, sets) == widest, f"{limit=} {block=}"
            if widest > limit or widest == 0:
                assert len(block) == 1  # a gate wider than the limit (or on no qubit) alone
            if widest != 1:
                continue
            (q,) = {q for i in block for q in sets[i]}
            segment = [j for j in range(len(sets)) if q in sets[j]]
            first = block[0]
            before = [j for j in segment if j < first and len(sets[j]) > limit]
            after = [j for j in segment if j > first and len(sets[j]) > limit]
            lo = before[-1] if before else -1
            hi = after[0] if after else len(sets)
            joinable = [j for j in segment if lo < j < hi and 2 <= len(sets[j]) <= limit]
            assert not joinable, f"{limit=}: 1-qubit block {block} could join gate {joinable}"


def test_tile_blocks_examples():
    # 1-qubit gates join the 2-qubit block on their qubit, before or after it; two lone
    # 1-qubit gates on different qubits stay apart (plan_fusion pairs them: one pass).
    sets = [(0,), (0, 1), (1,), (1, 0), (2,), (3,)]
    assert plan_tile_blocks(sets, 2) == [[0, 1, 2, 3], [4], [5]]
    assert plan_fusion(sets, 2) == [[0, 1, 2, 3], [4, 5]]
    # A gate wider than the limit is a block alone, after the run waiting on its qubits; a
    # 1-qubit gate after it waits for the next block on its qubit.
    assert plan_tile_blocks([(0,), (0, 1, 2), (0,), (0, 1)], 2) == [[0], [1], [2, 3]]
    # A 2-qubit gate joins a block only when that block is the last on both its qubits.
    assert plan_tile_blocks([(0, 1), (1, 2), (0, 1)], 2) == [[0], [1], [2]]
    assert plan_tile_blocks([(0, 1), (2, 3), (1, 0), (2,)], 2) == [[0, 2], [1, 3]]
    assert plan_tile_blocks([(0,), (), (0,)], 1) == [[1], [0, 2]]
    assert plan_tile_blocks([], 2) == []
    with pytest.raises(QsimTopoError, match="max_qubits"):
        plan_tile_blocks([(0,)], 0)


def _ready_after(sets, done):
    """Gates not in ``done`` whose every earlier gate on their qubits is in ``done``."""
    ready = []
    for i, qs in enumerate(sets):
        if i in done:
            continue
        if all(j in done for j in range(i) if set(sets[j]) & set(qs)):
            ready.append(i)
    return ready


@pytest.mark.parametrize("limit", [2, 3, 5, 10])
def test_pass_plan_keeps_order_width_and_is_maximal(rng, limit):
    for _ in range(30):
        n = int(rng.integers(2, 14))
        widths = rng.integers(1, min(n, 4) + 1, size=int(rng.integers(1, 80)))
        sets = [tuple(int(q) for q in rng.choice(n, int(k), replace=False)) for k in widths]
        passes = plan_tiles(sets, limit)
        _check_plan(sets, passes, n)
        done: set[int] = set()
        for tile in passes:
            done.update(tile)
            if _width(tile, sets) > limit:  # a gate wider than the limit is a pass alone
                assert len(tile) == 1, f"{limit=} {tile=}"
                continue
            # The pass stopped only when no ready gate fits: none lies inside its qubits, and
            # none could widen it within the limit.
            qubits = {q for i in tile for q in sets[i]}
            for i in _ready_after(sets, done):
                assert len(qubits | set(sets[i])) > limit, f"{limit=} {tile=} left {i}"


def test_pass_plan_edge_cases():
    assert plan_tiles([], 3) == []
    assert plan_tiles([(0, 1, 2)], 2) == [[0]]
    assert plan_tiles([(0,), (0, 1, 2), (2,)], 2) == [[0], [1], [2]]
    # A gate on no qubits is ready at once and lies in any tile.
    assert plan_tiles([(0,), (), (1,)], 2) == [[1, 0, 2]]
    assert plan_tiles([(0,), (), (1,)], 1) == [[1, 0], [2]]
    with pytest.raises(QsimTopoError, match="max_qubits"):
        plan_tiles([(0,)], 0)
    with pytest.raises(QsimTopoError, match="seeds must be >= 1, got 0"):
        plan_tiles([(0,)], 2, seeds=0)


def test_pass_plan_needs_fewer_passes_than_dense_blocks_and_one_seed():
    # A tile costs one pass whatever its width, so passes fill tiles where the dense cost
    # model stops (a 5-qubit dense block costs more than two narrower ones); trying several
    # seeds per pass finds larger passes than growing from the earliest ready gate alone.
    n, depth, limit = 20, 20, 10
    sets = [(a, a + 1) for d in range(depth) for a in range(d % 2, n - 1, 2)]
    passes = plan_tiles(sets, limit)
    one_seed = plan_tiles(sets, limit, seeds=1)
    dense = plan_fusion(sets, limit)
    for plan in (passes, one_seed, dense):
        _check_plan(sets, plan, n)
    assert all(_width(t, sets) <= limit for t in passes)
    assert len(passes) < len(one_seed) < len(dense) < len(sets)
    assert len(passes) <= 12  # measured 12 (the open-block planner before it: 17)


def test_stacked_composition_matches_one_product_per_gate(rng):
    """With a CheckedEngine (matmul_pairs: one stacked product per step over the blocks) the
    blocks are those of the raw engine (one matmul per gate), and as many products are
    counted; both against the embedded matrices multiplied in complex128."""
    n = 6
    gates = []
    for _ in range(60):
        if rng.random() < 0.5:
            gates.append((haar_unitary(2, seed=rng), (int(rng.integers(n)),)))
        else:
            q = rng.choice(n, size=2, replace=False)
            gates.append((haar_unitary(4, seed=rng), (int(q[0]), int(q[1]))))
    raw = fuse_gates(gates, get_engine("exact"), max_qubits=2, plan=plan_tile_blocks)
    checked = CheckedEngine(get_engine("exact"))
    stacked = fuse_gates(gates, checked, max_qubits=2, plan=plan_tile_blocks)
    assert [b.sources for b in stacked] == [b.sources for b in raw]
    assert checked.calls == sum(len(b.sources) - 1 for b in raw) > 20
    for a, b in zip(stacked, raw, strict=True):
        assert a.qubits == b.qubits
        np.testing.assert_allclose(a.matrix, b.matrix, atol=1e-13)
        expected = np.eye(2 ** len(a.qubits), dtype=complex)
        for i in a.sources:
            m, qs = gates[i]
            expected = embed(m, [a.qubits.index(q) for q in qs], len(a.qubits)) @ expected
        np.testing.assert_allclose(a.matrix, expected, atol=1e-12)


def test_cheap_blocks_stay_cheap_and_keep_the_order(rng):
    """With ``cheap`` (diagonal gates): a block opened by a cheap gate holds cheap gates only,
    a dense 1-qubit gate waiting on its qubit goes first, alone, and what follows on a qubit
    never overtakes a gate waiting there; cheap gates still join dense blocks."""
    h, cp, rz = False, True, True
    assert plan_tile_blocks([(0,), (0, 1)], 2) == [[0, 1]]  # without kinds: h into the CP
    assert plan_tile_blocks([(0,), (0, 1)], 2, cheap=[h, cp]) == [[0], [1]]
    assert plan_tile_blocks([(0,), (0, 1)], 2, cheap=[rz, cp]) == [[0, 1]]  # still diagonal
    assert plan_tile_blocks([(0, 1), (0,)], 2, cheap=[cp, rz]) == [[0, 1]]
    assert plan_tile_blocks([(0, 1), (0,)], 2, cheap=[cp, h]) == [[0], [1]]
    # rz after the waiting h must not join the CP block (it would run before the h).
    assert plan_tile_blocks([(0, 1), (0,), (0,)], 2, cheap=[cp, h, rz]) == [[0], [1, 2]]
    assert plan_tile_blocks([(0, 1), (0, 1)], 2, cheap=[False, cp]) == [[0, 1]]  # into dense
    for _ in range(200):
        n = int(rng.integers(1, 7))
        widths = rng.integers(1, min(n, 3) + 1, size=int(rng.integers(0, 40)))
        sets = [tuple(int(q) for q in rng.choice(n, int(k), replace=False)) for k in widths]
        cheap = rng.random(len(sets)) < 0.5
        blocks = plan_tile_blocks(sets, 2, cheap=cheap.tolist())
        _check_plan(sets, blocks, n)
        for block in blocks:
            opener = max(block, key=lambda i: (len(sets[i]), -i))  # widest, earliest
            if len(sets[opener]) == 2 and cheap[opener] and opener == min(
                i for i in block if len(sets[i]) == 2
            ):
                assert all(cheap[i] for i in block if i > opener), f"{block=} {cheap=}"
