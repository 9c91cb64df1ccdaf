"""`qsim-topo verify` in-process, and the verify library behind it."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from qsim_topo.cli.main import main
from qsim_topo.qiskit import QasmLoadError
from qsim_topo.qiskit.verify import load_qasm, qasm_version, verify_circuit

GHZ_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[4];
creg c[4];
h q[0];
cx q[0],q[1];
cx q[1],q[2];
u3(0.3,0.2,0.1) q[3];
cu1(0.7) q[2],q[3];
measure q -> c;
"""

DYNAMIC_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[1];
creg d[1];
h q[0];
measure q[0] -> c[0];
if (c == 1) x q[1];
reset q[0];
measure q[1] -> d[0];
"""

MALFORMED_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
h q[0];
cx q[0] q[1];
"""

BELL_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_verify_text_report(tmp_path, capsys):
    path = _write(tmp_path, "ghz.qasm", GHZ_QASM2)
    assert main(["verify", path, "--shots", "500", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "OpenQASM 2, 4 qubits" in out
    assert "engine exact against exact, 500 shots, seed 3" in out
    assert "state fidelity (final measurements removed)  1.000000" in out
    assert "total variation distance (exact)" in out and "linear XEB (500 samples)" in out


def test_verify_json_with_engine_options(tmp_path, capsys):
    from qsim_topo.engines.base import available_engines

    if "bf16" not in available_engines():
        pytest.skip("the bf16 engine is not registered in this checkout")
    path = _write(tmp_path, "ghz.qasm", GHZ_QASM2)
    code = main(["verify", path, "--engine", "bf16", "--engine-option", "complex_mode=3m",
                 "--shots", "200", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == "bf16" and report["engine_options"] == {"complex_mode": "3m"}
    assert report["num_qubits"] == 4 and report["qasm_version"] == 2
    assert 0.99 < report["state_fidelity"] < 1.0  # bf16 rounding is visible, and small
    assert 0.0 < report["tvd"] < 0.05 and report["tvd_kind"] == "exact"
    assert report["flops_fraction"] > 0 and report["matmul_calls"] > 0


def test_verify_exact_matches_itself_and_the_ideal_band(tmp_path):
    circuit, _ = load_qasm(_write(tmp_path, "ghz.qasm", GHZ_QASM2))
    report = verify_circuit(circuit, shots=4000, seed=1)
    assert report.state_fidelity == pytest.approx(1.0, abs=1e-12)
    assert report.tvd == pytest.approx(0.0, abs=1e-12)
    assert report.measured_qubits == [0, 1, 2, 3]
    assert abs(report.xeb - report.xeb_ideal_mean) < 5 * report.xeb_ideal_std


def test_verify_dynamic_circuit_compares_samples(tmp_path, capsys):
    path = _write(tmp_path, "dyn.qasm", DYNAMIC_QASM2)
    assert main(["verify", path, "--shots", "300", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dynamic"] is True and report["tvd_kind"] == "sampled"
    assert report["state_fidelity"] is None and report["xeb"] is None
    assert report["tvd"] == 0.0  # same engine, same seed: the same shots
    assert report["notes"]


def test_verify_malformed_file_exits_2_with_line(tmp_path, capsys):
    path = _write(tmp_path, "bad.qasm", MALFORMED_QASM2)
    assert main(["verify", path]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qsim-topo: error: ")
    assert "line 5, column" in err and err.count("\n") == 0


def test_verify_missing_file_and_bad_engine_exit_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "nope.qasm")]) == 2
    assert "cannot read" in capsys.readouterr().err
    path = _write(tmp_path, "ghz.qasm", GHZ_QASM2)
    assert main(["verify", path, "--engine", "no-such-engine"]) == 2
    assert "unknown engine 'no-such-engine'" in capsys.readouterr().err


def test_qasm3_loads_or_says_what_to_install(tmp_path):
    path = _write(tmp_path, "bell3.qasm", BELL_QASM3)
    if importlib.util.find_spec("qiskit_qasm3_import") is None:
        with pytest.raises(QasmLoadError, match="pip install qiskit_qasm3_import"):
            load_qasm(path)
        return
    circuit, version = load_qasm(path)
    assert version == 3 and circuit.num_qubits == 2
    report = verify_circuit(circuit, shots=100)
    assert report.tvd == pytest.approx(0.0, abs=1e-12)
    bad = _write(tmp_path, "bad3.qasm", BELL_QASM3.replace("cx q[0], q[1];", "cx q[0] q[1];"))
    with pytest.raises(QasmLoadError, match=r"line 6, column \d+"):
        load_qasm(bad)


def test_qasm_version_detection():
    assert qasm_version("OPENQASM 2.0;\nqreg q[1];") == 2
    assert qasm_version("// OPENQASM 3.0;\nOPENQASM 2.0;") == 2
    assert qasm_version('include "qelib1.inc";\nqreg q[2];') == 2  # real files omit the line
    assert qasm_version("qubit q;\nh q;") == 3
    with pytest.raises(QasmLoadError, match="unsupported OpenQASM version 4"):
        qasm_version("OPENQASM 4.0;")


def test_verify_without_qiskit_says_what_to_install(tmp_path, capsys, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "qiskit" else real_find_spec(name, *a),
    )
    path = _write(tmp_path, "ghz.qasm", GHZ_QASM2)
    assert main(["verify", path]) == 2
    assert "pip install 'qsim_topo[qiskit]'" in capsys.readouterr().err


def test_layers_command_still_parses_with_verify_registered():
    from qsim_topo.cli.main import build_parser

    args = build_parser().parse_args(["verify", "x.qasm", "--engine-option", "ratio=0.5"])
    assert args.command == "verify" and args.engine_option == [("ratio", 0.5)]
    assert np.isclose(args.engine_option[0][1], 0.5)


class _Vanishing:
    """An approximate engine whose every product is zero (``nan=True``: NaN)."""

    exact = False

    def __init__(self, nan: bool = False) -> None:
        self.name = "test-vanishing"
        self.nan = nan

    def matmul(self, a, b):
        out = np.zeros((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
        if self.nan:
            out[...] = np.nan
        return out

    def flops_fraction(self, m, k, n):
        return 1.0


@pytest.fixture
def vanishing():
    from qsim_topo.engines.base import register_engine, unregister_engine

    register_engine("test-vanishing", _Vanishing)
    yield "test-vanishing"
    unregister_engine("test-vanishing")


def test_verify_reports_an_engine_whose_state_vanishes(tmp_path, capsys, vanishing):
    """A state of zero norm where it must be measured is a measurement of the engine (TVD 1),
    not an error of the run: the exact results are reported beside it, exit 0. NaN breaks
    the engine contract: an error naming the engine, exit 1 (an engine's fault)."""
    for text, dynamic in ((DYNAMIC_QASM2, True), (GHZ_QASM2, False)):
        path = _write(tmp_path, f"c{dynamic}.qasm", text)
        assert main(["verify", path, "--engine", vanishing, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["dynamic"] is dynamic and report["tvd"] == 1.0
        assert report["exact_time_s"] > 0
        if dynamic:
            assert report["flops_fraction"] is None and report["matmul_calls"] is None
            assert any("run stopped" in n and "squared norm 0.0" in n for n in report["notes"])
        else:
            assert report["state_fidelity"] == 0.0 and report["xeb"] is None
            assert report["xeb_ideal_mean"] is not None  # the exact side's band is kept
            assert any("no distribution" in n for n in report["notes"])
        nan = ["--engine-option", "nan=true"]
        assert main(["verify", path, "--engine", vanishing, *nan, "--json"]) == 1
        err = capsys.readouterr().err
        assert "'test-vanishing'" in err and "NaN/Inf" in err
