"""apply_tile (a sequence of gates inside one tile of qubits) against the reference: each gate
applied in turn by apply_operator in complex128 (or the embed() matrix), on both CPU paths."""

from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.engines.base import CheckedEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.layers import haar_unitary
from qsim_topo.sim.apply import apply_operator, sort_gate_qubits
from qsim_topo.sim.kernels import KernelPolicy, apply_tile
from qsim_topo.sim.numba_kernels import LANE_BYTES, _pack_gates, lane_bits
from qsim_topo.sim.planning import plan_tiles
from tests.conftest import embed

EXACT = get_engine("exact")
DTYPES = [(np.complex128, 1e-12), (np.complex64, 1e-5)]


class _Path:
    """One CPU path of apply_tile: its kernel policy, and a check of the kernels that ran."""

    def __init__(self, name, policy, strict):
        self.name = name
        self.policy = policy
        self.strict = strict  # valid inputs only: the other path must not run

    def apply(self, *args, **kwargs):
        used = {}
        out = apply_tile(*args, kernels=self.policy, used=used, **kwargs)
        if self.strict and used:
            tiled = set(used) == {"numba-tile"}
            assert tiled is (self.name == "numba"), f"apply_tile took the other path: {used}"
        return out


NUMBA_TILES = KernelPolicy(numba_min_amplitudes=0, tile="numba-tile")
PER_GATE = KernelPolicy(numba=False, tile="per-gate")


@pytest.fixture(params=["numpy", "numba"])
def use_numba(request):
    """Both CPU paths of apply_tile: one apply_inplace per gate, or the numba tile kernel (the
    test states are small: by default those take the per-gate path)."""
    if request.param == "numba":
        pytest.importorskip("numba")
        assert NUMBA_TILES.tiles_available("cpu")
        return _Path("numba", NUMBA_TILES, strict=False)
    assert not PER_GATE.tiles_available("cpu")
    return _Path("numpy", PER_GATE, strict=False)


@pytest.fixture
def path(use_numba):
    """As ``use_numba``, and the other path must not run (valid inputs only)."""
    return _Path(use_numba.name, use_numba.policy, strict=True)


# (n, tile, columns); a tile may be given in any order. The numba pass copies a tile with its
# "lanes" (the lowest index bits outside the tile) in one of two ways: consecutive lanes when
# the lanes are the lowest bits, else in runs of consecutive amplitudes (the index bits
# 0..m-1, all in the tile or the lanes), each amplitude to its (row, lane) slot, the tile's
# bits above m selecting the run (test_cases_cover_every_lane_layout checks that each way and
# both kinds of run are reached).
CASES = {
    "qubit0-in-tile": (8, (0, 3, 5), 1),
    "unsorted-tile": (8, (5, 0, 3), 1),
    "many-tiles-qubit0": (12, (0, 3, 7, 9), 1),
    "high-tile": (12, (8, 10, 11), 1),
    "low-tile-not-0": (8, (1, 4, 6), 1),
    "long-runs": (14, (0, 8, 9, 12), 1),  # runs of 2^10 (complex64) above a tile bit
    "few-free-bits-qubit0": (6, (0, 1, 2, 3, 4), 1),  # 1 free bit (qubit 5) < lane width
    "few-free-bits-low": (6, (1, 2, 3, 4, 5), 1),  # 1 free bit (qubit 0)
    "whole-register": (6, (0, 1, 2, 3, 4, 5), 1),  # no lane bits at all
    "wide-tile": (19, tuple(range(18, 4, -1)), 1),  # 14 qubits: lanes capped by tile size
    "columns-qubit0": (9, (0, 4, 8), 4),
    "columns-high": (9, (5, 6, 7), 4),
    "columns-whole-register": (5, (4, 3, 2, 1, 0), 4),  # the 2 column bits are the lanes
    # 10 tile bits below the 4th lane: the run is copied in blocks of 8 amplitudes x 16 lanes.
    "low-rows-blocked": (18, tuple(range(10)), 1),
    # Bits 0-2 are lanes 0-2 below tile bits: runs of 8 slots in order (a plain inner copy).
    "lane-runs-below-tile": (13, (3, 4, 9, 10), 1),
}


def _layout(n, tile, cols, itemsize):
    """How the numba pass copies this tile: ``(kind, lanes, m, tile bits above m)``."""
    shift = cols.bit_length() - 1
    inside = {q + shift for q in tile}
    free = [p for p in range(n + shift) if p not in inside]
    lanes = free[: lane_bits(itemsize, len(free), len(tile))]
    if lanes == list(range(len(lanes))):  # no lanes at all counts as consecutive
        return "consecutive", lanes, None, None
    fixed = inside | set(lanes)
    m = 0
    while m in fixed:
        m += 1
    return "runs", lanes, m, sorted(p for p in inside if p >= m)


def test_cases_cover_every_lane_layout():
    for dtype, _ in DTYPES:
        itemsize = np.dtype(dtype).itemsize
        layouts = {name: _layout(n, t, c, itemsize) for name, (n, t, c) in CASES.items()}
        assert {kind for kind, *_ in layouts.values()} == {"runs", "consecutive"}
        assert layouts["few-free-bits-qubit0"][:3] == ("runs", [5], 6)
        assert layouts["few-free-bits-low"][:2] == ("consecutive", [0])
        assert layouts["whole-register"] == ("consecutive", [], None, None)
        assert layouts["low-tile-not-0"][0] == layouts["columns-qubit0"][0] == "runs"
        # Runs shorter than the tile (tile bits above them) and runs longer than 2^8.
        assert any(layout[0] == "runs" and layout[3] for layout in layouts.values())
        assert any(layout[0] == "runs" and layout[2] > 8 for layout in layouts.values())
        # A full lane row is LANE_BYTES; a 14-qubit tile gets fewer lanes than its 5 free bits.
        assert 2 ** len(layouts["high-tile"][1]) * itemsize == LANE_BYTES
        assert layouts["wide-tile"][0] == "consecutive" and len(layouts["wide-tile"][1]) < 5
        # The two ways of copying a run in blocks (copy_blocks): over 7 tile bits below the
        # 4th lane, and the lowest 3 bits all lanes.
        kind, lanes, _, _ = layouts["low-rows-blocked"]
        assert kind == "runs" and lanes[0] == 10 and len(lanes) >= 4
        kind, lanes, _, _ = layouts["lane-runs-below-tile"]
        assert kind == "runs" and lanes[:3] == [0, 1, 2]


def _copy_tables(n, tile, itemsize):
    """``copy_blocks``'s tables for a run layout, and the run's amplitude -> slot map."""
    from qsim_topo.sim._numba_sequence import copy_blocks

    kind, lanes, m, _ = _layout(n, tile, 1, itemsize)
    assert kind == "runs"
    pos = sorted(tile)
    slot_of_bit = np.zeros(m, dtype=np.int64)
    for p in range(m):
        slot_of_bit[p] = (1 << pos.index(p)) << len(lanes) if p in pos else 1 << lanes.index(p)
    tables = copy_blocks(m, slot_of_bit, 1 << len(lanes))
    want = np.array([sum(int(slot_of_bit[p]) for p in range(m) if a >> p & 1) for a in range(2**m)])
    return tables, want


@pytest.mark.parametrize("dtype,atol", DTYPES, ids=["c128", "c64"])
@pytest.mark.parametrize(
    "name,inner,middle,run",
    # 10 tile bits below the 4th lane: blocks of 8 amplitudes x 16 lanes, no plain run;
    # lanes 0-2 below the tile bits: the lowest 8 bits inner, runs of 8 slots in order.
    [("low-rows-blocked", 8, 16, 1), ("lane-runs-below-tile", 32, 1, 8)],
)
def test_copy_blocks_tables_cover_the_run_once(name, inner, middle, run, dtype, atol):
    pytest.importorskip("numba")
    n, tile, _ = CASES[name]
    (o_amp, o_slot, l_amp, l_slot, a_slot, got_run), want = _copy_tables(
        n, tile, np.dtype(dtype).itemsize
    )
    assert (a_slot.size, l_amp.size, got_run) == (inner, middle, run)
    # The copy visits amplitude o + l + i * run + x and slot o + l + a_slot[i] + x.
    amps, slots = [], []
    for o in range(o_amp.size):
        for li in range(l_amp.size):
            for i in range(a_slot.size):
                for x in range(got_run):
                    amps.append(o_amp[o] + l_amp[li] + i * got_run + x)
                    slots.append(o_slot[o] + l_slot[li] + a_slot[i] + x)
    amps, slots = np.array(amps), np.array(slots)
    assert np.array_equal(np.sort(amps), np.arange(want.size))  # every amplitude once
    assert np.array_equal(slots, want[amps])  # each to its slot


def _tile_gates(rng, tile, count):
    """A random sequence of 1- to 5-qubit Haar gates inside ``tile`` (gates of 3 and more
    qubits sum their inputs in blocks of 8: 5 qubits take four), with a 2- and a 3-qubit gate
    whose qubits are given in descending order."""
    tile = sorted(tile)
    gates = [(haar_unitary(4, seed=int(rng.integers(2**31))), (tile[-1], tile[0]))]
    if len(tile) >= 3:
        gates.append((haar_unitary(8, seed=int(rng.integers(2**31))), tuple(tile[2::-1])))
    for _ in range(count):
        k = int(rng.integers(1, min(len(tile), 5) + 1))
        qs = tuple(int(q) for q in rng.choice(tile, k, replace=False))  # any order
        gates.append((haar_unitary(2**k, seed=int(rng.integers(2**31))), qs))
    rng.shuffle(gates)
    return gates


def _monomial_gate(rng, k, diagonal):
    """A random k-qubit gate with one unit-modulus entry per row and column (diagonal: on the
    diagonal): the tile pass's monomial kernel takes it."""
    dim = 2**k
    phases = np.exp(2j * np.pi * rng.random(dim))
    cols = np.arange(dim) if diagonal else rng.permutation(dim)
    matrix = np.zeros((dim, dim), dtype=complex)
    matrix[np.arange(dim), cols] = phases
    return matrix


def _structured_gates(rng, tile):
    """Diagonal and permutation-with-phases gates of 1-3 qubits (one of each kind and width),
    and a nearly diagonal one whose 1e-9 off-diagonal entries must still be multiplied."""
    tile = sorted(tile)
    gates = []
    for k in range(1, min(len(tile), 3) + 1):
        for diagonal in (True, False):
            qs = tuple(int(q) for q in rng.choice(tile, k, replace=False))
            gates.append((_monomial_gate(rng, k, diagonal), qs))
    nearly = _monomial_gate(rng, 1, True)
    nearly[0, 1] = 1e-9
    gates.append((nearly, (tile[0],)))
    return gates


def test_packed_gates_layout_and_kinds():
    rng = np.random.default_rng(3)
    perm3 = _monomial_gate(rng, 3, False)
    nearly = np.eye(2, dtype=complex)
    nearly[1, 0] = 1e-300
    tile = (2, 5, 7, 9)
    gates = [
        (_monomial_gate(rng, 2, True), (5, 9)),  # diagonal: 2
        (perm3, (2, 7, 9)),  # a permutation with phases: 1
        (np.array([[0, 1], [1, 0]], dtype=complex), (7,)),  # a 1-qubit permutation: dense
        (_monomial_gate(rng, 1, True), (2,)),  # 1-qubit diagonal: 2
        (haar_unitary(4, seed=1), (2, 5)),  # dense: 0
        (nearly, (9,)),  # a 1e-300 entry is multiplied in complex128...
    ]
    gk, gbits, goff, mats, gkind, gsrc, soff = _pack_gates(gates, tile, np.complex128)
    assert gk.tolist() == [2, 3, 1, 1, 2, 1]
    assert gkind.tolist() == [2, 1, 0, 2, 0, 0]
    local = {q: i for i, q in enumerate(tile)}
    for g, (matrix, qs) in enumerate(gates):
        assert gbits[g, : gk[g]].tolist() == [local[q] for q in qs]
        dim = 2 ** gk[g]
        np.testing.assert_array_equal(mats[goff[g] : goff[g] + dim * dim], matrix.reshape(-1))
        if gkind[g]:
            src = gsrc[soff[g] : soff[g] + dim]
            assert sorted(src.tolist()) == list(range(dim))
            assert (matrix[np.arange(dim), src] != 0).all()
    assert gsrc[soff[1] : soff[1] + 8].tolist() != list(range(8))  # not the identity's
    # ... and is zero once cast to complex64, where the matrix is then diagonal.
    single = _pack_gates(gates, tile, np.complex64)
    assert single[3].dtype == np.complex64 and single[4].tolist() == [2, 1, 0, 2, 0, 2]
    # Gates all of one width take a shorter path.
    same = [gates[0], gates[4], (_monomial_gate(rng, 2, False), (7, 9))]
    gk, gbits, goff, mats, gkind, gsrc, soff = _pack_gates(same, tile, np.complex128)
    assert gkind.tolist() == [2, 0, 1] and gbits.tolist() == [[1, 3], [0, 1], [2, 3]]
    assert goff.tolist() == [0, 16, 32] and soff.tolist() == [0, 4, 8]
    np.testing.assert_array_equal(mats, np.concatenate([m.reshape(-1) for m, _ in same]))
    assert (same[2][0][np.arange(4), gsrc[8:12]] != 0).all()
    assert gsrc[:8].tolist() == [0, 1, 2, 3, 0, 0, 0, 0]  # the diagonal's, then unused zeros


def test_packed_gates_sort_each_gates_qubits_exactly():
    """Gates on unsorted qubits are packed as sort_gate_qubits would give them (the same
    entries, bit for bit), whatever their width, dtype and mix; bad sizes are refused."""
    rng = np.random.default_rng(5)
    tile = (0, 1, 3, 4, 6, 8)
    gates = [
        (haar_unitary(4, seed=rng), (6, 1)),
        (haar_unitary(8, seed=rng), (8, 0, 4)),
        (haar_unitary(8, seed=rng), (3, 8, 1)),
        (haar_unitary(2, seed=rng).astype(np.complex64), (4,)),
        (np.diag(np.exp(1j * rng.uniform(size=4))), (3, 0)),  # diagonal either way
        (_monomial_gate(rng, 2, False), (8, 6)),  # a permutation with phases
        (np.eye(4)[[0, 1, 3, 2]], (1, 0)),  # CNOT, real, control on the higher bit
        (haar_unitary(16, seed=rng), (8, 6, 4, 3)),
        (np.asfortranarray(haar_unitary(4, seed=rng)), (4, 3)),  # column-major
        (haar_unitary(4, seed=rng)[::2, ::2], (8,)),  # a strided view
        (haar_unitary(2, seed=rng).astype(">c16"), (6,)),  # big-endian
    ]
    for dtype in (np.complex128, np.complex64):
        gk, gbits, goff, mats, gkind, gsrc, soff = _pack_gates(gates, tile, dtype)
        assert mats.dtype == dtype
        local = {q: i for i, q in enumerate(tile)}
        for g, (matrix, qs) in enumerate(gates):
            want, sorted_qs = sort_gate_qubits(np.asarray(matrix, dtype=np.complex128), qs)
            assert gbits[g, : gk[g]].tolist() == [local[q] for q in sorted_qs]
            dim = 2 ** gk[g]
            np.testing.assert_array_equal(
                mats[goff[g] : goff[g] + dim * dim], want.astype(dtype).reshape(-1)
            )
            diagonal = np.count_nonzero(want - np.diag(np.diag(want))) == 0
            monomial = ((want != 0).sum(axis=0) == 1).all() and ((want != 0).sum(axis=1) == 1).all()
            kind = 2 if diagonal else 1 if monomial and gk[g] > 1 else 0
            assert gkind[g] == kind
            if monomial:
                src = gsrc[soff[g] : soff[g] + dim]
                assert (want[np.arange(dim), src] != 0).all()
    with pytest.raises(QsimTopoError, match=r"tile gate 0 .* need \(2, 2\)"):
        _pack_gates([(np.eye(4), (0,))], tile, np.complex128)
    with pytest.raises(QsimTopoError, match="outside"):
        _pack_gates([(np.eye(2), (9,))], tile, np.complex128)


def _reference(psi, gates, n):
    want = psi.astype(np.complex128)
    for matrix, qubits in gates:
        want = apply_operator(EXACT, want, matrix, qubits, n)
    return want


def _random_tensor(rng, n, cols, dtype):
    shape = (2**n,) if cols == 1 else (2**n, cols)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype,atol", DTYPES, ids=["c128", "c64"])
def test_tile_matches_reference(rng, path, case, dtype, atol):
    n, tile, cols = CASES[case]
    gates = _tile_gates(rng, tile, 10) + _structured_gates(rng, tile)
    rng.shuffle(gates)
    assert any(len(qs) == 3 for _, qs in gates) and any(len(qs) == 1 for _, qs in gates)
    psi = _random_tensor(rng, n, cols, dtype)
    want = _reference(psi, gates, n)
    state = psi.copy()
    engine = CheckedEngine(EXACT)
    out = path.apply(engine, state, gates, tile, n)
    assert out is state and state.dtype == dtype and state.shape == psi.shape
    np.testing.assert_allclose(state, want, rtol=0, atol=atol, err_msg=f"{case} {path}")
    # The tile pass counts one product per gate, with the work of (2^k, 2^k) @ (2^k, rest);
    # apply_inplace counts one per chunk (several on the 8 MiB wide-tile state), same work.
    if path == "numba":
        assert engine.calls == len(gates)
    else:
        assert engine.calls >= len(gates)
    assert engine.exact_flops == sum(4 ** len(qs) * (psi.size >> len(qs)) for _, qs in gates)


@pytest.mark.parametrize("dtype,atol", DTYPES, ids=["c128", "c64"])
def test_single_gate_tiles_against_full_matrix(rng, path, dtype, atol):
    n = 7
    for gate_qubits, tile in [
        ((3,), (3,)),  # a 1-qubit tile
        ((0,), (0,)),
        ((2,), (6, 2, 0)),  # a gate on part of its tile
        ((6, 1), (1, 6)),  # descending gate qubits, the whole tile
        ((5, 0, 3), (0, 3, 4, 5)),
    ]:
        matrix = haar_unitary(2 ** len(gate_qubits), seed=len(tile))
        psi = _random_tensor(rng, n, 1, dtype)
        state = psi.copy()
        engine = CheckedEngine(EXACT)
        path.apply(engine, state, [(matrix, gate_qubits)], tile, n)
        want = embed(matrix, gate_qubits, n) @ psi.astype(np.complex128)
        np.testing.assert_allclose(state, want, rtol=0, atol=atol, err_msg=f"{tile}")
        assert engine.calls == 1
    one = _random_tensor(rng, 1, 1, dtype)  # a 1-qubit register: the tile is all of it
    state = one.copy()
    path.apply(EXACT, state, [(haar_unitary(2, seed=5), (0,))], (0,), 1)
    np.testing.assert_allclose(state, haar_unitary(2, seed=5) @ one, rtol=0, atol=atol)


def test_planned_tiles_reproduce_the_circuit(rng, path):
    # The fusion planner's tiles, each applied by apply_tile in the planned order, are the
    # circuit: the plan and the pass together, as the Qiskit executor uses them.
    n = 10
    gates = []
    for _ in range(80):
        k = int(rng.integers(1, 3))
        qs = tuple(int(q) for q in rng.choice(n, k, replace=False))
        gates.append((haar_unitary(2**k, seed=int(rng.integers(2**31))), qs))
    psi = _random_tensor(rng, n, 1, np.complex128)
    want = _reference(psi, gates, n)
    tiles = plan_tiles([qs for _, qs in gates], 5)
    assert len(tiles) < len(gates)
    state = psi.copy()
    for tile in tiles:
        qubits = sorted({q for i in tile for q in gates[i][1]})
        assert len(qubits) <= 5
        path.apply(EXACT, state, [gates[i] for i in tile], qubits, n)
    np.testing.assert_allclose(state, want, rtol=0, atol=1e-12)


def test_gate_outside_tile_and_bad_matrix_refused(path):
    state = np.zeros(2**4, dtype=np.complex128)
    state[0] = 1
    with pytest.raises(QsimTopoError, match=r"gate on qubits \(1, 3\) is not inside the tile"):
        path.apply(EXACT, state, [(np.eye(2), (0,)), (np.eye(4), (1, 3))], (0, 1, 2), 4)
    with pytest.raises(QsimTopoError, match=r"2-qubit gate needs a \(4, 4\) matrix, got \(2, 2\)"):
        path.apply(EXACT, state, [(np.eye(2), (0, 1))], (0, 1), 4)
    with pytest.raises(QsimTopoError, match="repeat"):
        path.apply(EXACT, state, [(np.eye(2), (0,))], (0, 0), 4)
    with pytest.raises(QsimTopoError, match="outside the register"):
        path.apply(EXACT, state, [(np.eye(2), (4,))], (0, 4), 4)
    # A validation failure leaves the state alone, even when the bad gate is not the first.
    expected = np.zeros_like(state)
    expected[0] = 1
    np.testing.assert_array_equal(state, expected)


def test_bad_tensors_refused(use_numba):
    with pytest.raises(QsimTopoError, match=r"column count, got 3|got shape \(8, 3\)"):
        use_numba.apply(EXACT, np.zeros((8, 3), dtype=complex), [(np.eye(2), (0,))], (0, 1), 3)
    with pytest.raises(QsimTopoError, match=r"\(16,\)"):  # 2^4 amplitudes for 3 qubits
        use_numba.apply(EXACT, np.zeros(16, dtype=complex), [(np.eye(2), (0,))], (0, 1), 3)


def test_approximate_engine_refused(use_numba):
    state = np.zeros(8, dtype=np.complex64)
    state[0] = 1
    with pytest.raises(QsimTopoError, match="approximate"):
        use_numba.apply(get_engine("fp16"), state, [(haar_unitary(2, seed=1), (1,))], (0, 1), 3)
    assert state[0] == 1 and not state[1:].any()


def test_empty_sequence_is_the_identity_without_numba():
    state = np.arange(8, dtype=np.complex128)
    assert apply_tile(EXACT, state, [], (0, 1), 3, kernels=PER_GATE) is state
    np.testing.assert_array_equal(state, np.arange(8))


def test_empty_sequence_is_the_identity_with_numba():
    pytest.importorskip("numba")
    state = np.arange(8, dtype=np.complex128)
    assert apply_tile(EXACT, state, [], (0, 1), 3, kernels=NUMBA_TILES) is state
    np.testing.assert_array_equal(state, np.arange(8))
    from qsim_topo.sim.numba_kernels import apply_sequence_numba

    apply_sequence_numba(EXACT, state, [], (0, 1), 1)  # the public pass itself: a no-op
    np.testing.assert_array_equal(state, np.arange(8))


def test_tile_too_wide_for_the_scratch_bound_runs_gate_by_gate(rng):
    """A complex128 tile of 18 qubits (4 MiB of rows) exceeds MAX_TILE_BYTES: the numba pass
    is not called, the gates still apply."""
    pytest.importorskip("numba")
    from qsim_topo.sim.numba_kernels import MAX_TILE_BYTES, tile_fits

    n = 18
    assert not tile_fits(16, n) and tile_fits(16, 16) and (16 << 17) == MAX_TILE_BYTES
    psi = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
    gates = [(haar_unitary(4, seed=1), (0, 17)), (haar_unitary(2, seed=2), (9,))]
    used = {}
    got = apply_tile(EXACT, psi.copy(), gates, tuple(range(n)), n, kernels=NUMBA_TILES, used=used)
    assert "numba-tile" not in used and sum(used.values()) == 2
    np.testing.assert_allclose(got, _reference(psi, gates, n), atol=1e-12)


def test_nested_list_matrix_accepted(path):
    state = np.zeros(4, dtype=np.complex128)
    state[0] = 1
    x = [[0, 1], [1, 0]]
    path.apply(EXACT, state, [(x, (1,))], (0, 1), 2)
    np.testing.assert_allclose(state, [0, 0, 1, 0])


@pytest.mark.parametrize("cols", [1, 2, 4])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64], ids=["c128", "c64"])
def test_zero_mask_skips_only_rows_that_stay_zero(rng, use_numba, dtype, cols):
    # Qubits 9-11 still |0> (all the state's weight on rows with those bits clear): with them
    # in zero_mask the pass may skip the tiles that hold only such rows, and the state has the
    # same values as without the mask (a skipped zero may keep its sign where a product would
    # have written -0.0). With several columns, row bit q is bit q + log2(cols) of the index.
    n, tile = 12, (0, 3, 5)
    gates = _tile_gates(rng, tile, 8)
    psi = np.zeros((2**n, cols), dtype=dtype)
    psi[: 2**9] = _random_tensor(rng, 9, cols, dtype).reshape(2**9, cols)
    psi = psi.reshape(-1) if cols == 1 else psi
    plain = psi.copy()
    use_numba.apply(EXACT, plain, gates, tile, n)
    masked = psi.copy()
    use_numba.apply(EXACT, masked, gates, tile, n, zero_mask=0b111 << 9)
    np.testing.assert_array_equal(masked, plain)
    np.testing.assert_allclose(plain, _reference(psi, gates, n), rtol=0, atol=1e-5)
    # The mask is what the caller asserts: rows it calls zero but are not are left as they
    # were by the compiled pass (which skips them) and computed by the per-gate path.
    full = _random_tensor(rng, n, cols, dtype)
    want = _reference(full, gates, n)
    out = full.copy()
    use_numba.apply(EXACT, out, gates, tile, n, zero_mask=1 << 11)
    high = np.arange(2**n) >= 2**11
    np.testing.assert_allclose(out[~high], want[~high], rtol=0, atol=1e-5)
    if use_numba.name == "numba":
        np.testing.assert_array_equal(out[high], full[high])
    else:
        np.testing.assert_allclose(out[high], want[high], rtol=0, atol=1e-5)
    # Mask bits on the tile's own qubits or on its lanes (qubit 1 is the lowest lane) select
    # no tile: nothing is skipped, even where those rows are not zero.
    out = full.copy()
    use_numba.apply(EXACT, out, gates, tile, n, zero_mask=(1 << 3) | (1 << 1))
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mask", [-1, 1 << 12, 2.0, True, None])
def test_zero_mask_must_be_a_mask_of_the_qubits(mask):
    state = np.zeros(2**12, dtype=np.complex128)
    state[0] = 1
    with pytest.raises(QsimTopoError, match="zero_mask must be an integer bit mask of the 12"):
        apply_tile(EXACT, state, [(np.eye(2), (0,))], (0,), 12, zero_mask=mask)
    assert state[0] == 1 and not state[1:].any()


@pytest.mark.parametrize("given", [None, "active"])
def test_numba_threads_sleep_when_idle_unless_told(given):
    """numba_available() sets OMP_WAIT_POLICY=passive before numba loads, unless it is set."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    code = (
        "import os\n"
        "from qsim_topo.sim.numba_kernels import numba_available\n"
        "numba_available()\n"
        "print(os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == (given or "passive")


def test_only_the_executors_own_tiles_skip_the_gate_checks(rng):
    """A TileOp written by a caller (gates on descending qubits, a float64 matrix) is checked
    and sorted as apply_tile always does; the tiles of the executor's own pass skip that.
    Both against the product of the embedded matrices in complex128."""
    from qsim_topo.circuit import GateOp, Program, TileOp
    from qsim_topo.sim.executor import execute

    n = 11
    u = haar_unitary(4, seed=rng)
    h = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)
    tile = TileOp((GateOp(u, (3, 1)), GateOp(h, (2,))), (1, 2, 3))
    tail = [GateOp(haar_unitary(4, seed=rng), (q, q + 1)) for q in range(0, n - 1, 2)]
    program = Program("hand", n, 0, [GateOp(haar_unitary(2, seed=rng), (1,)), tile, *tail])
    expected = np.zeros(2**n, dtype=np.complex128)
    expected[0] = 1
    for op in [program.ops[0], *tile.gates, *tail]:
        expected = embed(np.asarray(op.matrix, dtype=np.complex128), op.qubits, n) @ expected
    run = execute(program, get_engine("exact"), tile_qubits=4)
    assert run.fusion["passes"] >= 2  # the pass made tiles of its own around the given one
    np.testing.assert_allclose(run.final, expected, atol=1e-12)
