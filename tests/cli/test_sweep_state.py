from __future__ import annotations

from qsim_topo.cli.main import main
from qsim_topo.experiments.store import ResultStore


def test_the_issue_command_at_small_sizes(tmp_path, capsys):
    argv = [
        "sweep", "--mode", "state", "--kind", "rcs", "--qubits", "6,8", "--depth", "2,4",
        "--engine", "exact", "--engine", "bf16", "--seeds", "2", "--out", str(tmp_path),
        "--executor", "serial", "--samples", "300", "--no-plots",
    ]  # fmt: skip
    assert main(argv) == 0
    rows = ResultStore(tmp_path).rows()
    assert len(rows) == 2 * 2 * 2 * 2
    assert {(r["qubits"], r["kind"], r["engine"], r["seed"], r["depth"]) for r in rows} == {
        (q, "rcs", e, s, d) for q in (6, 8) for e in ("exact", "bf16") for s in (0, 1)
        for d in (2, 4)
    }  # fmt: skip
    assert all(abs(r["state_fidelity"] - 1) < 1e-10 for r in rows if r["engine"] == "exact")
    out = capsys.readouterr()
    assert "state_fidelity" in out.out or "fidelity" in out.out
    # Resume: the same command runs nothing.
    assert main(argv) == 0
    assert "0 experiments run" in capsys.readouterr().err
    assert len(ResultStore(tmp_path).rows()) == 16


def test_circuit_file_sets_the_width_and_kind(tmp_path):
    argv = [
        "sweep", "--mode", "state", "--circuit", "circuits/qft.qasm", "--depth", "1,2",
        "--engine", "exact", "--seeds", "1", "--out", str(tmp_path), "--executor", "serial",
        "--no-plots",
    ]  # fmt: skip
    assert main(argv) == 0
    rows = ResultStore(tmp_path).rows()
    assert [(r["kind"], r["qubits"], r["depth"]) for r in rows] == [
        ("circuit", 4, 1),
        ("circuit", 4, 2),
    ]
    assert all(len(r["circuit_sha256"]) == 64 for r in rows)
    assert all(abs(r["state_fidelity"] - 1) < 1e-10 for r in rows)


def test_bad_state_arguments_are_named(tmp_path, capsys):
    argv = ["sweep", "--circuit", "circuits/qft.qasm", "--qubits", "5", "--out",
            str(tmp_path / "a"), "--executor", "serial"]  # fmt: skip
    assert main(argv) != 0
    assert "has 4 qubits; qubits must be [4], got [5]" in capsys.readouterr().err
    assert main(["sweep", "--mode", "state", "--kind", "dense", "--out", str(tmp_path / "b")])
    assert "in mode state must be one of 'rcs'" in capsys.readouterr().err
    assert main(["sweep", "--mode", "gate", "--circuit", "circuits/qft.qasm", "--out",
                 str(tmp_path / "c")])  # fmt: skip
    assert "needs mode state" in capsys.readouterr().err
