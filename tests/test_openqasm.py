from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import unitary_group

from qsim_topo.circuit import GateOp
from qsim_topo.errors import CircuitError
from qsim_topo.gates import fsim, gate_matrix, sqrt_w
from qsim_topo.openqasm import qasm_global_phase, read_qasm_ops, to_qasm
from tests.conftest import embed

CIRCUITS = Path(__file__).resolve().parents[1] / "circuits"
UNITARY_FILES = ["bell", "ghz", "qft", "brickwork"]


def product(ops, n: int) -> np.ndarray:
    out = np.eye(2**n, dtype=np.complex128)
    for op in ops:
        out = embed(np.asarray(op.matrix), op.qubits, n) @ out
    return out


def _write(tmp_path, body: str, name: str = "c.qasm") -> Path:
    path = tmp_path / name
    path.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\n' + body)
    return path


def _qiskit_operator(text: str) -> np.ndarray:
    qiskit = pytest.importorskip("qiskit")
    from qiskit.quantum_info import Operator

    circuit = qiskit.qasm2.loads(
        text,
        include_path=qiskit.qasm2.LEGACY_INCLUDE_PATH,
        custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
    )
    circuit.remove_final_measurements()
    return Operator(circuit).data


@pytest.mark.parametrize("name", UNITARY_FILES)
def test_reader_matches_qiskit_on_the_reference_circuits(name):
    path = CIRCUITS / f"{name}.qasm"
    ops, n = read_qasm_ops(path)
    np.testing.assert_allclose(product(ops, n), _qiskit_operator(path.read_text()), atol=1e-12)


def test_reader_expressions_definitions_and_broadcasting(tmp_path):
    body = (
        "qreg a[2];\nqreg b[2];\ncreg c[2];\n"
        "gate foo(t, u) x, y { rx(t/2) x; cu1(-u*2 + pi) x, y; barrier x; U(t, u, 0.5) y; }\n"
        "h a;\n"  # broadcast over a register
        "cx a, b;\n"  # register pairs
        "foo(sin(pi/6)^2, ln(2)) b[1], a[0];\n"
        "crz(-sqrt(2)*exp(0.1)/cos(0.3)) a[1], b[0];\nbarrier a, b;\nu0(2) b[0];\n"
        "sx b[0]; swap a[0], b[1]; cry(0.7) b[1], a[1]; rzz(1e-1) a[0], a[1];\n"
        "// a comment; with a semicolon\n"
    )
    path = _write(tmp_path, body)
    ops, n = read_qasm_ops(path)
    assert n == 4
    assert [op.name for op in ops[:4]] == ["h", "h", "cx", "cx"]
    assert [op.qubits for op in ops[2:4]] == [(0, 2), (1, 3)]
    np.testing.assert_allclose(product(ops, 4), _qiskit_operator(path.read_text()), atol=1e-12)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("qreg q[1];\nmeasure q[0] -> c[0];\n", r"line 4: 'measure' is not a unitary gate"),
        ("qreg q[1];\nreset q[0];\n", "'reset'"),
        ("qreg q[1];\ncreg c[1];\nif(c==1) x q[0];\n", "'if'"),
        ("opaque magic q;\nqreg q[1];\n", "'opaque'"),
        ("qreg q[1];\nfoo q[0];\n", "unknown gate 'foo'"),
        ("qreg q[1];\nrccx q[0];\n", "unknown gate 'rccx'"),
        ("qreg q[2];\ncx q[0], q[0];\n", "repeats a qubit"),
        ("qreg q[2];\nx q[2];\n", r"outside q\[2\]"),
        ("qreg q[2];\nqreg r[3];\ncx q, r;\n", "different sizes"),
        ("qreg q[1];\nrx(1/0) q[0];\n", "division by zero"),
        ("qreg q[1];\nrx(theta) q[0];\n", "unknown name 'theta'"),
        ("qreg q[1];\nrx(__import__('os')) q[0];\n", "cannot read the expression"),
        ("qreg q[1];\nrx(0.1, 0.2) q[0];\n", "takes 1 parameter"),
        ("qreg q[1];\ncx q[0];\n", "acts on 2 qubit"),
        ("qreg q[1];\nx q[0]\n", "without its ';'"),
        ("qreg q[1];\nqreg q[2];\n", "declared twice"),
        ("creg c[1];\nx c[0];\n", "classical register"),
        ("gate g a { x b; }\nqreg q[1];\ng q[0];\n", "'b' is not an argument"),
        ("", "no qreg"),
        ("gate g a { g a; }\nqreg q[1];\ng q[0];\n", "'g' uses 'g', which is not defined"),
        ("gate g a { x a; }\ngate g a { y a; }\n", "defined twice"),
    ],
)
def test_reader_refuses_with_file_and_line(tmp_path, body, match):
    path = _write(tmp_path, body, "bad.qasm")
    with pytest.raises(CircuitError, match=match) as info:
        read_qasm_ops(path)
    assert "bad.qasm" in str(info.value)


def test_reader_refuses_other_versions_and_includes(tmp_path):
    three = tmp_path / "three.qasm"
    three.write_text('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\n')
    with pytest.raises(CircuitError, match=r"only OpenQASM 2\.0"):
        read_qasm_ops(three)
    other = tmp_path / "other.qasm"
    other.write_text('OPENQASM 2.0;\ninclude "mine.inc";\nqreg q[1];\n')
    with pytest.raises(CircuitError, match=r"only qelib1\.inc"):
        read_qasm_ops(other)
    with pytest.raises(CircuitError, match="cannot read the file"):
        read_qasm_ops(tmp_path / "missing.qasm")


def test_writer_round_trips_exactly_with_the_recorded_phase(tmp_path):
    rng = np.random.default_rng(5)
    ops = [
        GateOp(unitary_group.rvs(4, random_state=rng), (2, 0), "haar"),
        GateOp(unitary_group.rvs(2, random_state=rng), (1,), "u"),
        GateOp(fsim(math.pi / 2, math.pi / 6), (1, 2), "fsim"),
        GateOp(sqrt_w(), (0,), "sw"),
        GateOp(gate_matrix("x") * 1j, (1,), "x"),  # named x but not x: written as u3
        GateOp(gate_matrix("cz"), (2, 1), "cz"),
        GateOp(gate_matrix("rx", 1e-9), (1,), "rx"),  # cos ~ 1, sin tiny
        GateOp(gate_matrix("ry", math.pi - 1e-9) @ gate_matrix("rz", 0.3), (0,), "u"),
        GateOp(np.diag([1, 1, 1, 1j]), (0, 1), "unitary"),  # cossin with degenerate angles
        GateOp(gate_matrix("swap"), (0, 2), "swap"),  # not in the original qelib1.inc
    ]
    text = to_qasm(ops, 3, comment="two\nlines")
    assert text.startswith("// two\n// lines\n// global phase: ")
    assert "cz q[2],q[1];" in text
    want = product(ops, 3)
    got = _qiskit_operator(text)
    np.testing.assert_allclose(np.exp(1j * qasm_global_phase(text)) * got, want, atol=1e-12)
    path = tmp_path / "out.qasm"
    path.write_text(text)
    back, n = read_qasm_ops(path)
    assert n == 3
    np.testing.assert_allclose(product(back, 3), got, atol=1e-12)


def test_reader_stops_gate_bombs_and_deep_nesting(tmp_path, monkeypatch):
    from qsim_topo import openqasm

    # Each level doubles the gate count: 2^20 x gates from a few lines.
    defs = "gate g0 a { x a; }\n" + "".join(
        f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, 21)
    )
    path = _write(tmp_path, defs + "qreg q[1];\ng20 q[0];\n", "bomb.qasm")
    monkeypatch.setattr(openqasm, "MAX_OPS", 1000)
    with pytest.raises(CircuitError, match="more than 1000 gates"):
        read_qasm_ops(path)
    deep = "gate g0 a { x a; }\n" + "".join(
        f"gate g{i} a {{ g{i - 1} a; }}\n" for i in range(1, 3000)
    )
    path = _write(tmp_path, deep + "qreg q[1];\ng2999 q[0];\n", "deep.qasm")
    with pytest.raises(CircuitError, match="nest too deeply"):
        read_qasm_ops(path)
