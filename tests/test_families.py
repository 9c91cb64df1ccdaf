from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from qsim_topo.circuit import GateOp
from qsim_topo.errors import CircuitError, FamilyError, QsimTopoError
from qsim_topo.families import (
    ALIGNED_PATTERNS,
    FAMILY_KINDS,
    RCS_SEQUENCE,
    STAGGERED_PATTERNS,
    circuit_family,
    grid_couplers,
    grid_shape,
    make_family,
    pattern_couplers,
)
from qsim_topo.gates import fsim, gate_matrix, sqrt_w, sqrt_y
from qsim_topo.openqasm import qasm_global_phase, read_qasm_ops, to_qasm
from tests.conftest import embed

CIRCUITS = Path(__file__).resolve().parents[1] / "circuits"


def apply_ops(ops, n: int, state: np.ndarray | None = None) -> np.ndarray:
    """Reference state: each op applied by tensordot on the (2,)*n state tensor."""
    psi = np.zeros(2**n, dtype=np.complex128) if state is None else state.astype(complex)
    if state is None:
        psi[0] = 1.0
    psi = psi.reshape([2] * n)
    for op in ops:
        k = len(op.qubits)
        axes = [n - 1 - q for q in reversed(op.qubits)]  # axis 0 is the top qubit
        psi = np.tensordot(
            np.asarray(op.matrix).reshape([2] * (2 * k)), psi, axes=(list(range(k, 2 * k)), axes)
        )
        psi = np.moveaxis(psi, list(range(k)), axes)
    return psi.reshape(-1)


def product(ops, n: int) -> np.ndarray:
    out = np.eye(2**n, dtype=np.complex128)
    for op in ops:
        out = embed(np.asarray(op.matrix), op.qubits, n) @ out
    return out


# --------------------------------------------------------------------------- grids, patterns
@pytest.mark.parametrize(
    ("n", "shape"),
    [
        (16, (4, 4)),
        (20, (4, 5)),
        (24, (4, 6)),
        (28, (4, 7)),
        (12, (3, 4)),
        (9, (3, 3)),
        (7, (1, 7)),
        (2, (1, 2)),
    ],
)
def test_grid_shape(n, shape):
    assert grid_shape(n) == shape


@pytest.mark.parametrize("shape", [(3, 3), (4, 5), (2, 6), (1, 5)])
def test_rcs_patterns_are_partial_matchings_covering_the_grid(shape):
    rows, cols = shape
    every = set(grid_couplers(rows, cols))
    covered = set()
    for pattern in STAGGERED_PATTERNS.values():
        couplers = pattern_couplers(shape, pattern)
        qubits = [q for pair in couplers for q in pair]
        assert len(qubits) == len(set(qubits))  # each qubit in at most one coupler
        for a, b in couplers:
            (ra, ca), (rb, cb) = divmod(a, cols), divmod(b, cols)
            assert abs(ra - rb) + abs(ca - cb) == 1  # grid neighbours
        covered |= set(couplers)
    assert covered == every


def test_rcs_patterns_match_cirq():
    cirq = pytest.importorskip("cirq")
    from cirq.experiments import GRID_ALIGNED_PATTERN, HALF_GRID_STAGGERED_PATTERN

    rows, cols = 4, 5
    grid = cirq.GridQubit.rect(rows, cols)
    index = {q: q.row * cols + q.col for q in grid}

    def theirs(layer):
        return sorted(
            tuple(sorted((index[a], index[b])))
            for a in grid
            for b in grid
            if a < b and a.is_adjacent(b) and (a, b) in layer
        )

    for label, layer in zip("ABCD", HALF_GRID_STAGGERED_PATTERN, strict=True):
        assert pattern_couplers((rows, cols), STAGGERED_PATTERNS[label]) == theirs(layer)
    for ours, layer in zip(ALIGNED_PATTERNS, GRID_ALIGNED_PATTERN, strict=True):
        assert pattern_couplers((rows, cols), ours) == theirs(layer)


def test_rcs_cycles_follow_the_recipe():
    fam = make_family("rcs", 12, seed=5)
    singles = {"sx": gate_matrix("sx"), "sy": sqrt_y(), "sw": sqrt_w()}
    previous = None
    for k in range(12):
        ops = fam.cycle(k)
        ones, twos = ops[:12], ops[12:]
        assert [op.qubits for op in ones] == [(q,) for q in range(12)]
        for op in ones:
            assert np.array_equal(op.matrix, singles[op.name])
        names = [op.name for op in ones]
        if previous is not None:
            assert all(a != b for a, b in zip(names, previous, strict=True))
        previous = names
        expected = pattern_couplers((3, 4), STAGGERED_PATTERNS[RCS_SEQUENCE[k % 8]])
        assert [op.qubits for op in twos] == expected
        for op in twos:
            assert op.name == "fsim"
            np.testing.assert_array_equal(op.matrix, fsim(math.pi / 2, math.pi / 6))
    closing = [op.name for op in fam.closing(12)]
    assert closing == [op.name for op in fam.cycle(12)[:12]]
    assert all(a != b for a, b in zip(closing, previous, strict=True))
    # All three gates occur, so the choice is not stuck on two of them.
    assert {op.name for k in range(12) for op in fam.cycle(k)} >= {"sx", "sy", "sw"}


def test_rcs_takes_other_fsim_angles_per_coupler():
    couplers = grid_couplers(2, 3)
    thetas = {c: 0.1 * i for i, c in enumerate(couplers)}
    fam = make_family("rcs", 6, 0, fsim_theta=thetas, fsim_phi=0.4)
    for k in range(4):
        for op in fam.cycle(k)[6:]:
            np.testing.assert_array_equal(op.matrix, fsim(thetas[op.qubits], 0.4))
    with pytest.raises(FamilyError, match="fsim_theta"):
        make_family("rcs", 6, 0, fsim_theta={(0, 1): 0.3})
    with pytest.raises(FamilyError, match="fsim_phi"):
        make_family("rcs", 6, 0, fsim_phi=float("nan"))
    with pytest.raises(FamilyError, match="'qv' has no fSim"):
        make_family("qv", 6, 0, fsim_theta=0.3)


# --------------------------------------------------------------------------- structure
def test_brickwork_layers():
    fam = make_family("brickwork", 7, seed=2)
    assert [op.qubits for op in fam.cycle(0)] == [(0, 1), (2, 3), (4, 5)]
    assert [op.qubits for op in fam.cycle(3)] == [(1, 2), (3, 4), (5, 6)]
    assert all(op.name == "haar" and op.matrix.shape == (4, 4) for op in fam.cycle(1))


def test_brickwork2d_covers_the_grid_every_four_cycles():
    fam = make_family("brickwork2d", 12, seed=2)
    seen = []
    for k in range(4):
        pairs = [op.qubits for op in fam.cycle(k)]
        flat = [q for p in pairs for q in p]
        assert len(flat) == len(set(flat))
        seen += pairs
    assert sorted(seen) == grid_couplers(3, 4)
    assert [op.qubits for op in fam.cycle(5)] == [op.qubits for op in fam.cycle(1)]


@pytest.mark.parametrize("n", [6, 7])
def test_qv_layers_pair_a_permutation(n):
    fam = make_family("qv", n, seed=9)
    layouts = set()
    for k in range(6):
        pairs = [op.qubits for op in fam.cycle(k)]
        assert pairs == fam.pairs(k)
        flat = [q for p in pairs for q in p]
        assert len(pairs) == n // 2 and len(set(flat)) == len(flat) == 2 * (n // 2)
        layouts.add(tuple(pairs))
    assert len(layouts) > 1  # the permutation changes from layer to layer


def test_qv_gates_are_haar():
    # E|U_00|^2 = 1/4 and E|U_00|^4 = 2/(4*5) = 0.1 for Haar U(4); 2000 gates, ~5 sigma.
    fam = make_family("qv", 8, seed=1)
    entries = np.array([abs(op.matrix[0, 0]) ** 2 for k in range(500) for op in fam.cycle(k)])
    assert entries.size == 2000
    assert abs(entries.mean() - 0.25) < 0.02
    assert abs((entries**2).mean() - 0.1) < 0.015


@pytest.mark.parametrize("kind", FAMILY_KINDS)
def test_prefix_determinism_and_counts(kind):
    fam = make_family(kind, 6, seed=4)
    long, short = fam.circuit(7), fam.circuit(3)
    cycles = [op for k in range(3) for op in fam.cycle(k)]
    assert len(short) == len(cycles) + len(fam.closing(3))
    for a, b in zip(cycles, long, strict=False):
        assert a.qubits == b.qubits and np.array_equal(a.matrix, b.matrix)
    again = make_family(kind, 6, seed=4)
    other = make_family(kind, 6, seed=5)
    mats = [op.matrix for op in again.circuit(7)]
    assert all(np.array_equal(a.matrix, m) for a, m in zip(long, mats, strict=True))
    assert any(
        a.qubits != b.qubits or not np.array_equal(a.matrix, b.matrix)
        for a, b in zip(long, other.circuit(7), strict=False)
    )
    counts = fam.gate_counts(7)
    assert counts["1q"] == sum(len(op.qubits) == 1 for op in long)
    assert counts["2q"] == sum(len(op.qubits) == 2 for op in long)
    assert sum(counts.values()) == len(long)
    # Cycles drawn out of order are the same as drawn in order.
    assert all(
        np.array_equal(a.matrix, b.matrix)
        for a, b in zip(make_family(kind, 6, seed=4).cycle(5), fam.cycle(5), strict=True)
    )


def test_bad_parameters_are_refused():
    with pytest.raises(FamilyError, match="rcs, brickwork, brickwork2d, qv"):
        make_family("sycamore", 6, 0)
    for n in (1, 0, 2.5, "6", True):
        with pytest.raises(FamilyError, match="n_qubits"):
            make_family("qv", n, 0)
    with pytest.raises(FamilyError, match="seed"):
        make_family("qv", 6, -1)
    fam = make_family("rcs", 6, 0)
    for call in (fam.cycle, fam.closing, fam.circuit, fam.gate_counts):
        with pytest.raises(FamilyError):
            call(-1)
    assert issubclass(FamilyError, QsimTopoError) and issubclass(FamilyError, ValueError)


# --------------------------------------------------------------------------- references
@pytest.mark.parametrize("kind", FAMILY_KINDS)
def test_product_of_ops_matches_kron_embedding(kind):
    fam = make_family(kind, 4, seed=3)
    ops = fam.circuit(5)
    psi = apply_ops(ops, 4)
    np.testing.assert_allclose(psi, product(ops, 4)[:, 0], atol=1e-12)
    for op in ops:
        m = np.asarray(op.matrix)
        assert np.allclose(m.conj().T @ m, np.eye(m.shape[0]), atol=1e-12)


@pytest.mark.parametrize(
    ("kind", "n", "depth"),
    [("rcs", 9, 8), ("rcs", 6, 5), ("brickwork", 8, 6), ("brickwork2d", 9, 4), ("qv", 7, 5)],
)
def test_family_state_matches_qiskit_through_qasm(kind, n, depth):
    qiskit = pytest.importorskip("qiskit")
    from qiskit.quantum_info import Statevector

    fam = make_family(kind, n, seed=11)
    text = fam.to_qasm(depth)
    ref = Statevector(qiskit.qasm2.loads(text)).data
    ours = apply_ops(fam.circuit(depth), n)
    assert abs(np.vdot(ref, ours)) ** 2 > 1 - 1e-10
    # The header's global phase makes it exact, not only up to a phase.
    np.testing.assert_allclose(np.exp(1j * qasm_global_phase(text)) * ref, ours, atol=1e-10)


# --------------------------------------------------------------------------- circuit files
def test_circuit_family_repeats_a_file():
    qiskit = pytest.importorskip("qiskit")
    from qiskit.quantum_info import Operator

    path = CIRCUITS / "qft.qasm"
    fam = circuit_family(path)
    assert (fam.kind, fam.n_qubits, fam.seed) == ("circuit", 4, 0)
    one = Operator(
        qiskit.qasm2.loads(
            path.read_text(), custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS
        )
    ).data
    for depth in (1, 3):
        np.testing.assert_allclose(
            product(fam.circuit(depth), 4), np.linalg.matrix_power(one, depth), atol=1e-12
        )
    assert fam.cycle(2) == fam.cycle(0) and fam.closing(3) == []
    assert fam.gate_counts(3)["2q"] == 3 * sum(len(op.qubits) == 2 for op in fam.cycle(0))


def test_circuit_family_from_ops_and_its_errors(tmp_path):
    ops = [GateOp(gate_matrix("h"), (0,), "h"), GateOp(gate_matrix("cx"), (0, 1), "cx")]
    fam = circuit_family(ops, 2)
    assert len(fam.circuit(4)) == 8
    with pytest.raises(FamilyError, match="n_qubits"):
        circuit_family(ops)
    with pytest.raises(FamilyError, match=r"qubits 0\.\.0"):
        circuit_family(ops, 1)
    bad = tmp_path / "measured.qasm"
    bad.write_text(
        'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'
        "h q[0];\nmeasure q[0] -> c[0];\n"
    )
    with pytest.raises(CircuitError, match=r"measured\.qasm: line 6: 'measure'"):
        circuit_family(bad)
    with pytest.raises(CircuitError, match="reset"):
        circuit_family(CIRCUITS / "reset.qasm")


def test_to_qasm_refuses_what_it_cannot_write():
    with pytest.raises(CircuitError, match="n_qubits"):
        to_qasm([], 0)
    with pytest.raises(CircuitError, match=r"0\.\.1"):
        to_qasm([GateOp(gate_matrix("x"), (2,), "x")], 2)
    with pytest.raises(CircuitError, match="3 qubits"):
        to_qasm([GateOp(np.eye(8), (0, 1, 2), "unitary")], 3)


@pytest.mark.parametrize(
    ("name", "kind", "n", "depth"),
    [
        ("rcs_3x3_d8", "rcs", 9, 8),
        ("brickwork2d_3x3_d4", "brickwork2d", 9, 4),
        ("brickwork_8_d6", "brickwork", 8, 6),
        ("qv_6_d6", "qv", 6, 6),
    ],
)
def test_exported_family_files_are_their_families(name, kind, n, depth):
    # circuits/make_families.py wrote these with seed 2026; a change of the recipe (or of the
    # random streams) shows here. The file's own header carries the recipe and the phase.
    path = CIRCUITS / f"{name}.qasm"
    text = path.read_text()
    assert text.startswith(f"// family {kind}, {n} qubits") and "seed 2026, " in text
    ops, width = read_qasm_ops(path)
    assert width == n
    want = apply_ops(make_family(kind, n, 2026).circuit(depth), n)
    np.testing.assert_allclose(
        np.exp(1j * qasm_global_phase(text)) * apply_ops(ops, n), want, atol=1e-10
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        # numpy arrays: `in` / `!=` were elementwise ("truth value of an empty array").
        ((np.array([]), 4, 0), {}, "unknown family kind"),
        ((["rcs"], 4, 0), {}, "unknown family kind"),
        (("rcs", 4, 0), {"fsim_theta": np.array([])}, "fsim_theta must be a finite real"),
        (("brickwork", 4, 0), {"fsim_phi": np.array([1.0])}, "fsim_phi must be a finite real"),
        (("rcs", 4, 0), {"fsim_theta": 1j}, "fsim_theta must be a finite real"),
        # mixed keys: sorting them for the message was a TypeError.
        (("rcs", 4, 0), {"fsim_theta": {"a": 1.0, (0, 1): 2.0}}, "exactly the grid's couplers"),
        # a 30-digit width never finished (grid_shape's divisor search).
        (("rcs", 10**30, 0), {}, r"n_qubits must be an integer in 2\.\.1024"),
    ],
)
def test_odd_family_arguments_are_family_errors(args, kwargs, match):
    with pytest.raises(FamilyError, match=match):
        make_family(*args, **kwargs)


def test_a_huge_depth_is_refused_before_building_gates():
    family = make_family("brickwork", 4, 0)
    with pytest.raises(FamilyError, match=r"depth must be an integer in 0\.\.1000000"):
        family.circuit(10**30)
