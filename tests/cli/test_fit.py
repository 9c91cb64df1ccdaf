from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qsim_topo.cli.main import main


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit_cli")
    code = main(
        [
            "sweep",
            "--out",
            str(out),
            "--qubits",
            "4",
            "--depth",
            "1,2,4",
            "--engine",
            "exact",
            "--engine",
            "bf16",
            "--kind",
            "brickwork",
            "--seeds",
            "3",
            "--samples",
            "100",
            "--executor",
            "serial",
            "--no-plots",
        ]
    )
    assert code == 0
    return out


def test_fit_prints_the_table_and_a_verdict_per_configuration(sweep_dir, capsys):
    capsys.readouterr()
    assert main(["fit", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert "p per layer [95% CI]" in out and "err/2q gate" in out
    assert "exact q=4 brickwork: no measurable error" in out
    assert "bf16 q=4 brickwork: " in out


def test_fit_json_has_gate_errors_for_brickwork(sweep_dir, capsys):
    capsys.readouterr()
    assert main(["fit", str(sweep_dir), "--json", "--metric", "haar_input_fidelity"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_engine = {d["config"]["engine_spec"]: d for d in data}
    bf16 = by_engine["bf16"]
    assert set(bf16["metrics"]) == {"haar_input_fidelity"}
    m = bf16["metrics"]["haar_input_fidelity"]
    assert m["status"] == "fitted" and 0 < m["p"] < 1e-2
    assert bf16["gates_per_layer"] == pytest.approx(1.5)  # 2 and 1 gates alternating
    assert (1 - m["gate_error"]) ** 1.5 == pytest.approx(1 - m["p"], rel=1e-9)
    assert bf16["validation"]["simulated"]


def test_fit_plot(sweep_dir, capsys):
    pytest.importorskip("matplotlib")
    assert main(["fit", str(sweep_dir), "--no-validate", "--plot"]) == 0
    assert (sweep_dir / "noise_fit.png").stat().st_size > 1000
    assert "noise equivalence" in capsys.readouterr().out


def test_report_prints_the_fit_table(sweep_dir, capsys):
    capsys.readouterr()
    assert main(["report", str(sweep_dir), "--no-plots"]) == 0
    assert "noise equivalence" in capsys.readouterr().out


def test_fit_refuses_a_directory_without_results(tmp_path, capsys):
    assert main(["fit", str(tmp_path)]) == 2
    assert "holds no sweep results" in capsys.readouterr().err


def test_fit_refuses_bad_max_qubits(sweep_dir, capsys):
    assert main(["fit", str(sweep_dir), "--max-qubits", "11"]) == 2
    assert "--max-qubits" in capsys.readouterr().err


def test_fit_works_without_qiskit(sweep_dir):
    code = (
        "import sys; sys.modules['qiskit'] = None; sys.modules['qiskit_aer'] = None\n"
        "from qsim_topo.cli.main import main\n"
        f"sys.exit(main(['fit', {str(sweep_dir)!r}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "exact q=4 brickwork: no measurable error" in out.stdout
