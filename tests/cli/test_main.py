from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qsim_topo.cli.main import main


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_layers_exact_acceptance_case(capsys):
    """The core issue's check: 10 qubits, depth 8, dense, exact."""
    code, out, err = _run(
        capsys, ["layers", "--qubits", "10", "--depth", "8", "--kind", "dense",
                 "--engine", "exact", "--json"]
    )
    assert code == 0, err
    r = json.loads(out)
    assert abs(r["state_fidelity"] - 1) < 1e-9
    assert abs(r["haar_input_fidelity"] - 1) < 1e-9
    assert r["frobenius_error"] < 1e-10
    assert abs(r["xeb"] - r["xeb_ideal_mean"]) <= 3 * r["xeb_ideal_std"]
    assert r["matmul_calls"] == 8 and r["qubits"] == 10 and r["depth"] == 8


def test_layers_readable_table(capsys):
    code, out, _ = _run(capsys, ["layers", "--qubits", "4", "--depth", "2", "--kind",
                                 "brickwork", "--samples", "100"])
    assert code == 0
    assert "state fidelity on |0...0>" in out and "ideal sampler: mean" in out
    assert "no measurement artifact detected" in out


def test_engine_spec_and_options_reach_the_engine(capsys):
    code, _, err = _run(capsys, ["layers", "--qubits", "3", "--depth", "1",
                                 "--engine", "exact:ratio=0.2"])
    assert code == 2 and "no option 'ratio'" in err and err.count("\n") == 1
    code, _, err = _run(capsys, ["layers", "--qubits", "3", "--depth", "1",
                                 "--engine-option", "ratio=0.2"])
    assert code == 2 and "no option 'ratio'" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["layers", "--qubits", "3", "--depth", "1", "--engine", "nope"], "unknown engine 'nope'"),
        (["layers", "--qubits", "15", "--depth", "1"], "needs about"),
        (["layers", "--qubits", "3", "--depth", "1", "--device", "gpu"], "device='gpu'"),
        (["layers", "--qubits", "3", "--depth", "1", "--seed", "-1"], "non-negative"),
        (["sweep", "--out", "/dev/null", "--engine", "exact"], "cannot use"),
        (["sweep", "--out", "/dev/null/x", "--engine", "nope"], "unknown engine 'nope'"),
        # The range is checked before the time estimate: 2**qubits of a 20-digit --qubits
        # never finished, and a 2000-qubit or a 10**23-layer estimate was an OverflowError.
        (["layers", "--qubits", "9" * 20, "--depth", "1"], "qubits must be an integer in 1..30"),
        (["layers", "--qubits", "2000", "--depth", "1"], "qubits must be an integer in 1..30"),
        (["layers", "--qubits", "2", "--depth", "1" + "0" * 23], "estimated"),
    ],
)
def test_errors_are_one_line_and_exit_2(capsys, monkeypatch, argv, message):
    from qsim_topo.xp import gpu_available

    monkeypatch.setattr("qsim_topo.xp.available_memory", lambda device: 8 * 2**30)
    if "gpu" in argv and gpu_available():
        pytest.skip("a GPU is present")
    code, out, err = _run(capsys, argv)
    assert code == 2 and out == ""
    assert err.startswith("qsim-topo: error:") and message in err and err.count("\n") == 1


def test_an_empty_sweep_out_is_refused_not_the_current_directory(capsys, tmp_path, monkeypatch):
    # Path("") is ".": --out '' wrote results.jsonl into the working directory.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["sweep", "--out", "", "--qubits", "2", "--depth", "1"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "is not a path" in err
    assert list(tmp_path.iterdir()) == []


def test_argument_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["layers", "--qubits", "0", "--depth", "1"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["layers", "--qubits", "3", "--depth", "1", "--engine-option", "novalue"])


def test_engines_listing(capsys):
    code, out, _ = _run(capsys, ["engines"])
    assert (code == 0 and out.startswith("exact")) or "\nexact" in out
    code, out, _ = _run(capsys, ["engines", "--json"])
    names = {e["name"] for e in json.loads(out)}
    assert "exact" in names


def test_console_script_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "qsim_topo", "layers", "--qubits", "2", "--depth", "1", "--json"],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(out.stdout)["qubits"] == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["layers", "--qubits", "abc", "--depth", "1"],
        ["layers", "--qubits", "2", "--depth", "0"],
        ["layers", "--qubits", "40", "--depth", "1"],
        ["layers", "--qubits", "2", "--depth", "1", "--engine", "cr-sampling",
         "--engine-option", "ratio=abc"],
        ["verify", "missing.qasm"],
        ["verify", "BAD_QASM"],
        ["fit", "/nonexistent/sweep"],
        ["no-such-command"],
    ],
)
def test_user_errors_in_a_subprocess_are_one_line_exit_2_no_traceback(argv, tmp_path):
    argv = [str(tmp_path / "bad.qasm") if a == "BAD_QASM" else a for a in argv]
    (tmp_path / "bad.qasm").write_text("OPENQASM 2.0;\nqreg q[1];\nnot_a_gate q[0];\n")
    out = subprocess.run(
        [sys.executable, "-m", "qsim_topo", *argv],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("qsim-topo: error: "), out.stderr


def test_an_internal_error_is_one_line_exit_1_and_traceback_reraises(capsys, monkeypatch):
    import qsim_topo.cli.main as cli_main

    def broken(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(cli_main, "_cmd_engines", broken)
    code, out, err = _run(capsys, ["engines"])
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "RuntimeError: kaput" in err and "--traceback" in err
    with pytest.raises(RuntimeError, match="kaput"):
        main(["--traceback", "engines"])


def test_oserror_on_an_input_file_is_a_user_error(capsys, tmp_path):
    code, out, err = _run(capsys, ["verify", str(tmp_path)])  # a directory, not a file
    assert code == 2 and out == ""
    assert err.startswith("qsim-topo: error:") and err.count("\n") == 1
