"""qsim_topo/qiskit/qasm.py: limits checked before expanding, and the error contract.

Regression tests for the classes issue 19 found by fuzzing ``qsim-topo verify``: gate bombs
(segmentation faults and hangs), Rust parser panics (ParseIntError), raw constructor errors
(``RXGate.__init__() missing ... 'theta'``) and register sizes that overflow.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qiskit import qasm2
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import Operator, Statevector

from qsim_topo.cli.main import main
from qsim_topo.errors import QsimTopoError
from qsim_topo.qiskit import QsimTopoBackend
from qsim_topo.qiskit.errors import QasmLoadError
from qsim_topo.qiskit.qasm import QasmLimits, load_qasm, scan_qasm
from tests.qiskit.qiskit_helpers import QASMBENCH

HEAD = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'


def bomb(levels: int, calls: int = 2, width: int = 1) -> str:
    """g_i calls g_{i-1} ``calls`` times: calls**levels operations in levels + 1 lines."""
    qa = ",".join(f"a{j}" for j in range(width))
    lines = [f"gate g0 {qa} {{ x a0; }}"]
    for i in range(1, levels + 1):
        lines.append(f"gate g{i} {qa} {{ " + " ".join([f"g{i - 1} {qa};"] * calls) + " }")
    lines += [f"qreg q[{width}];", f"g{levels} " + ",".join(f"q[{j}]" for j in range(width)) + ";"]
    return HEAD + "\n".join(lines) + "\n"


def _write(tmp_path: Path, text: str, name: str = "f.qasm") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_qasm_load_error_is_both_error_types():
    assert issubclass(QasmLoadError, QsimTopoError) and issubclass(QasmLoadError, QiskitError)


def test_verify_still_exports_load_qasm():
    from qsim_topo.qiskit import verify

    assert verify.load_qasm is load_qasm


@pytest.mark.parametrize(
    ("text", "limit", "line"),
    [
        (bomb(60), "max_nesting", 27),  # the former segfault: 2**60 operations
        (bomb(20), "max_operations", 25),  # the former hang: 2**20 operations, 20 levels
        (bomb(5000, calls=1), "max_nesting", 27),  # RecursionError inside Qiskit before
        (bomb(12, calls=4, width=3), "max_operations", 17),
    ],
    ids=["exponential-60", "exponential-20", "linear-5000", "wide"],
)
def test_gate_bombs_are_refused_before_expanding(tmp_path, text, limit, line):
    path = _write(tmp_path, text)
    with pytest.raises(QasmLoadError, match=rf"f\.qasm:{line}: .*\({limit}\)"):
        load_qasm(path)


def test_a_bomb_within_the_limits_loads_and_simulates_in_a_moment(tmp_path):
    # 2**16 X gates on qubit 0 nested 16 deep: the identity. Qiskit's own expansion of this
    # took over five minutes and 5 GiB; each distinct gate is built once here.
    circuit, _ = load_qasm(_write(tmp_path, bomb(16)))
    # One shared gate object per level: 17 gates built, not 2**17 - 1 (the memoisation).
    seen, op = [], circuit.data[0].operation
    while op.name != "x":
        seen.append(op)
        calls = [i.operation for i in op.definition.data]
        assert len(calls) == (2 if op.name != "g0" else 1) and all(c is calls[0] for c in calls)
        op = calls[0]
    assert [g.name for g in seen] == [f"g{i}" for i in range(16, -1, -1)]
    state = QsimTopoBackend().run(circuit, shots=1).result().get_statevector(0)
    np.testing.assert_allclose(np.asarray(state), [1, 0], atol=1e-12)
    odd, _ = load_qasm(_write(tmp_path, bomb(11, calls=3), "odd.qasm"))  # 3**11 X: one X
    np.testing.assert_allclose(Operator(odd).data, [[0, 1], [1, 0]], atol=1e-12)


def test_limits_are_options(tmp_path):
    path = _write(tmp_path, bomb(6))
    with pytest.raises(QasmLoadError, match=r"more than 10 operations \(max_operations\)"):
        load_qasm(path, limits=QasmLimits(max_operations=10))
    with pytest.raises(QasmLoadError, match=r"max_nesting"):
        load_qasm(path, limits=QasmLimits(max_nesting=3))
    with pytest.raises(QasmLoadError, match="max_nesting must be a positive int"):
        QasmLimits(max_nesting=0)
    stats = scan_qasm(bomb(6))  # g0 (built-ins only) is level 1, g6 level 7
    assert (stats.operations, stats.nesting, stats.qubits) == (64, 7, 1)


def test_scan_counts_register_broadcasts():
    stats = scan_qasm(HEAD + "qreg q[5];\ncreg c[5];\nh q;\nbarrier q;\nmeasure q -> c;\n")
    assert (stats.operations, stats.qubits, stats.clbits) == (15, 5, 5)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        # Qiskit's lexer panics (ParseIntError { kind: PosOverflow }) on these.
        ("qreg q[99999999999999999999999];\n", r"f\.qasm:3: register size or index"),
        ("qreg q[2];\nh q[99999999999999999999999];\n", r"f\.qasm:4: register size or index"),
        # Qiskit allocates before refusing these ("Register size too large").
        ("qreg q[99999999999];\n", r"f\.qasm:3: register size or index 99999999999"),
        ("qreg q[600];\nqreg r[600];\n", r"f\.qasm:4: 1200 qubits declared.*\(max_qubits\)"),
    ],
    ids=["parseint-panic-size", "parseint-panic-index", "huge-register", "too-many-qubits"],
)
def test_register_sizes_and_indices_are_bounded(tmp_path, body, match):
    with pytest.raises(QasmLoadError, match=match):
        load_qasm(_write(tmp_path, HEAD + body))


def test_openqasm3_register_size_overflow_is_refused(tmp_path):
    # qiskit_qasm3_import raised a raw OverflowError ("int too large to convert to C long")
    # while processing the register's size.
    text = "OPENQASM 3.0;\nqubit[99999999999999999999] q;\n"
    with pytest.raises(QasmLoadError, match=r"f\.qasm:2: register size or index"):
        load_qasm(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("qreg q[1];\nrx q[0];\n", r"f\.qasm:4: gate 'rx' takes 1 parameter\(s\)"),
        ("qreg q[2];\ncu1 q[0],q[1];\n", r"f\.qasm:4: gate 'cu1' takes 1 parameter\(s\)"),
        ("gate foo a { rx a; }\nqreg q[1];\nfoo q[0];\n", r"f\.qasm:3: gate 'rx' takes"),
        ("qreg q[2];\nh q[0],q[1];\n", r"gate 'h' takes 0 parameter\(s\) and 1 qubit"),
    ],
    ids=["rx-top-level", "cu1", "rx-in-a-gate-body", "too-many-qubits"],
)
def test_missing_parameters_are_a_load_error_with_the_line(tmp_path, body, match):
    # Qiskit raised TypeError: RXGate.__init__() missing 1 required positional argument.
    with pytest.raises(QasmLoadError, match=match):
        load_qasm(_write(tmp_path, HEAD + body))


def test_a_parser_panic_becomes_a_load_error(tmp_path, monkeypatch):
    # The null-pointer panic seen by the fuzz campaign: any pyo3 PanicException (a
    # BaseException) from the importer becomes a QasmLoadError naming the file.
    class PanicException(BaseException):
        pass

    def panics(*args, **kwargs):
        raise PanicException("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(qasm2, "loads", panics)
    with pytest.raises(QasmLoadError, match=r"f\.qasm: the OpenQASM parser panicked"):
        load_qasm(_write(tmp_path, HEAD + "qreg q[1];\n"))


def test_an_error_building_a_definition_names_the_gate(tmp_path, monkeypatch):
    from qiskit.qasm2 import parse

    def broken(self):
        raise TypeError("RXGate.__init__() missing 1 required positional argument: 'theta'")

    monkeypatch.setattr(parse._DefinedGate, "_define", broken)
    path = _write(tmp_path, HEAD + "gate foo a { x a; }\nqreg q[1];\nfoo q[0];\n")
    with pytest.raises(QasmLoadError, match=r"definition of gate 'foo' cannot be built: TypeE"):
        load_qasm(path)


def test_interrupts_are_not_swallowed(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(qasm2, "loads", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_qasm(_write(tmp_path, HEAD + "qreg q[1];\n"))


@pytest.mark.skipif(not QASMBENCH.is_dir(), reason="no QASMBench corpus")
@pytest.mark.parametrize(
    "name", ["small/adder_n10/adder_n10.qasm", "small/pea_n5/pea_n5.qasm",
             "medium/bigadder_n18/bigadder_n18.qasm"]
)
def test_files_with_gate_definitions_give_qiskits_circuit(name):
    # The memoised gates must not change a single amplitude against Qiskit's own loader.
    ours, _ = load_qasm(QASMBENCH / name)
    ref = qasm2.load(
        QASMBENCH / name,
        custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
        include_path=qasm2.LEGACY_INCLUDE_PATH,
    )
    assert [i.operation.name for i in ours.data] == [i.operation.name for i in ref.data]
    if ours.num_qubits <= 12:
        a = Statevector(ours.remove_final_measurements(inplace=False))
        b = Statevector(ref.remove_final_measurements(inplace=False))
        np.testing.assert_allclose(a.data, b.data, atol=1e-12)


def test_cli_verify_prints_one_line_and_exits_2_on_a_bomb(tmp_path, capsys):
    path = _write(tmp_path, bomb(60))
    assert main(["verify", str(path), "--engine", "exact"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "max_nesting" in err[0] and err[0].startswith("qsim-topo: error:")


@pytest.mark.parametrize(
    "body", ["qreg q[99999999999999999999999];\n", "qreg q[1];\nrx q[0];\n"], ids=["panic", "rx"]
)
def test_cli_verify_prints_one_line_and_exits_2_on_bad_files(tmp_path, capsys, body):
    assert main(["verify", str(_write(tmp_path, HEAD + body))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qsim-topo: error:")


def _small_stack() -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_STACK)
    limit = 1 << 20 if hard == resource.RLIM_INFINITY else min(1 << 20, hard)
    resource.setrlimit(resource.RLIMIT_STACK, (limit, hard))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_STACK is POSIX")
@pytest.mark.parametrize(
    "text", [bomb(400, calls=1), bomb(60, width=6)], ids=["linear-400", "exponential-60"]
)
def test_cli_verify_on_the_former_segfault_cases_in_a_subprocess(tmp_path, text):
    # Before the limits, 400 nested definitions made Qiskit's deepcopy recursion
    # (copy.deepcopy -> QuantumCircuit.__deepcopy__ -> Rust CircuitData.copy -> ...) run out
    # of C stack below Python's recursion limit: exit -11 with a 1 MiB stack (RecursionError
    # traceback with 8 MiB). The 1 MiB stack makes a regression show as the crash it was.
    path = _write(tmp_path, text)
    run = subprocess.run(
        [sys.executable, "-m", "qsim_topo", "verify", str(path), "--engine", "exact"],
        capture_output=True, text=True, timeout=120, preexec_fn=_small_stack,
    )
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_nesting" in lines[0]


@pytest.mark.skipif(
    importlib.util.find_spec("qiskit_qasm3_import") is None,
    reason="needs qiskit_qasm3_import",
)
def test_cli_verify_prints_one_line_on_an_openqasm3_syntax_error(tmp_path, capsys):
    # ANTLR's console listener used to print its own line on stderr before ours.
    text = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0] -;\n'
    assert main(["verify", str(_write(tmp_path, text))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    where = tmp_path / "f.qasm"
    assert err == [f"qsim-topo: error: {where}: line 4, column 7: syntax error near '-'"]


def test_a_file_without_end_is_read_only_up_to_max_bytes():
    # /dev/zero reports size 0 and never ends: reading it whole hung `verify /dev/zero`.
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(QasmLoadError, match=r"/dev/zero: more than 1000 bytes.*max_bytes"):
        load_qasm("/dev/zero", limits=QasmLimits(max_bytes=1000))


def test_a_file_past_max_bytes_is_refused_with_its_size(tmp_path):
    path = tmp_path / "big.qasm"
    path.write_text(HEAD + "qreg q[1];\n" + "x q[0];\n" * 200)
    with pytest.raises(QasmLoadError, match=r"big.qasm: \d+ bytes, over the limit of 100"):
        load_qasm(path, limits=QasmLimits(max_bytes=100))


def test_crlf_files_load_like_lf_files(tmp_path):
    path = tmp_path / "crlf.qasm"
    path.write_bytes((HEAD + "qreg q[2];\nh q[0];\ncx q[0],q[1];\n").replace("\n", "\r\n").encode())
    circuit, version = load_qasm(path)
    assert version == 2 and [i.operation.name for i in circuit.data] == ["h", "cx"]


@pytest.mark.parametrize("body", ["", "   \n\n", "// only a comment\n", "/* block */\n"])
def test_an_empty_program_is_refused_with_a_clear_message(tmp_path, body):
    # Was "'NoneType' object has no attribute 'line'" from the OpenQASM 3 importer.
    path = tmp_path / "empty.qasm"
    path.write_text(body)
    with pytest.raises(QasmLoadError, match=r"empty\.qasm: the file holds no OpenQASM statement"):
        load_qasm(path)


@pytest.mark.parametrize("path", [1.5, None, b"x.qasm", ["a.qasm"]])
def test_a_path_that_is_not_a_path_is_a_qasm_load_error(path):
    with pytest.raises(QasmLoadError, match="path must be a file path"):
        load_qasm(path)


def test_a_max_bytes_past_the_c_size_range_still_reads_the_file(tmp_path):
    # f.read(max_bytes + 1) raised OverflowError for max_bytes >= 2**63 - 1.
    path = tmp_path / "bell.qasm"
    path.write_text(HEAD + "qreg q[2];\nh q[0];\ncx q[0],q[1];\n")
    circuit, _ = load_qasm(path, limits=QasmLimits(max_bytes=2**64))
    assert circuit.num_qubits == 2
