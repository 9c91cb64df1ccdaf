from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from qsim_topo.errors import EngineOptionError, QsimTopoError, UnknownEngineError
from qsim_topo.experiments.store import ResultStore, SweepSpecMismatchError
from qsim_topo.experiments.sweep import (
    SweepSpec,
    canonical_engine_spec,
    plan_chains,
    run_sweep,
)
from tests.experiments.sweep_helpers import SMALL, same, stable


def test_spec_validation_and_canonical_engines():
    spec = SweepSpec(qubits=(4, 3, 4), engines=("topology:ratio=0.2,axis=1", "exact"))
    assert spec.qubits == (3, 4)
    assert spec.engines == ("topology:axis=1,ratio=0.2", "exact")
    assert canonical_engine_spec("exact") == "exact"
    assert SweepSpec.from_json(spec.to_json()) == spec
    with pytest.raises(QsimTopoError, match="kinds"):
        SweepSpec(kinds=("nope",))
    with pytest.raises(QsimTopoError, match="depths"):
        SweepSpec(depths=(0,))


def test_serial_sweep_writes_every_experiment_and_resumes(tmp_path):
    out = run_sweep(SMALL, tmp_path, executor="serial")
    assert out.written == SMALL.experiments() == 36 and out.failed == 0 and out.skipped == 0
    rows = ResultStore(tmp_path).rows()
    assert len({r["key"] for r in rows}) == 36
    exact = [r for r in rows if r["engine_spec"] == "exact"]
    assert all(abs(r["state_fidelity"] - 1) < 1e-12 for r in exact)
    # Prefix reuse: one chain per (qubits, engine, seed), calls grow with depth.
    chain = sorted((r for r in exact if r["qubits"] == 3 and r["seed"] == 0),
                   key=lambda r: r["depth"])
    assert [r["matmul_calls"] for r in chain] == [1, 2, 4]
    again = run_sweep(SMALL, tmp_path, executor="serial")
    assert again.written == 0 and again.skipped == 36
    assert len(ResultStore(tmp_path).rows()) == 36


def test_bad_engines_and_changed_configurations_are_refused_before_running(tmp_path):
    with pytest.raises(UnknownEngineError):
        run_sweep(SweepSpec(engines=("nope",)), tmp_path / "x")
    with pytest.raises(EngineOptionError):
        run_sweep(SweepSpec(engines=("exact:ratio=0.5",)), tmp_path / "y")
    assert not (tmp_path / "x" / "results.jsonl").exists()
    small = SweepSpec(qubits=(3,), depths=(1,), engines=("exact",), seeds=(0,), samples=10,
                      haar_states=2)
    run_sweep(small, tmp_path / "z", executor="serial")
    changed = SweepSpec(qubits=(3,), depths=(1, 2), engines=("exact",), seeds=(0,),
                        samples=10, haar_states=2)
    with pytest.raises(SweepSpecMismatchError, match="depths"):
        run_sweep(changed, tmp_path / "z", executor="serial")
    out = run_sweep(changed, tmp_path / "z", executor="serial", force=True)
    assert out.written == 1 and out.skipped == 1  # depth 1 kept, depth 2 added


def test_plan_skips_only_missing_depths(tmp_path):
    run_sweep(SweepSpec(qubits=(3,), depths=(1, 2), engines=("exact",), seeds=(0,),
                        samples=10, haar_states=2), tmp_path, executor="serial")
    spec = SweepSpec(qubits=(3,), depths=(1, 2, 4), engines=("exact",), seeds=(0,),
                     samples=10, haar_states=2)
    tasks, skipped = plan_chains(spec, ResultStore(tmp_path).latest())
    assert skipped == 2 and [t.depths for t in tasks] == [(4,)]


def _sweep_cmd(out):
    return [sys.executable, "-m", "qsim_topo", "sweep", "--out", str(out), "--qubits", "6,7",
            "--depth", "1,2,3,4,5,6", "--engine", "exact", "--engine", "fp32", "--seeds", "3",
            "--samples", "100", "--haar-states", "4", "--executor", "serial", "--no-plots"]


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_completes_with_one_row_each(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_sweep_cmd(out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if results.exists() and results.read_text().count("\n") >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = stable(ResultStore(out).rows())
    assert 10 <= len(before) < 72, "the sweep was not killed mid-run"
    subprocess.run(_sweep_cmd(out), check=True, capture_output=True)
    after_rows = ResultStore(out).rows()
    assert len(after_rows) == len({r["key"] for r in after_rows}) == 72
    after = stable(after_rows)
    same(before, {k: after[k] for k in before})
    clean = tmp_path / "clean"
    subprocess.run(_sweep_cmd(clean), check=True, capture_output=True)
    same(after, stable(ResultStore(clean).rows()))


def test_cli_sweep_and_report(tmp_path, capsys):
    from qsim_topo.cli.main import main

    out = tmp_path / "run"
    code = main(["sweep", "--out", str(out), "--qubits", "3", "--depth", "1,2", "--engine",
                 "exact", "--engine", "topology:ratio=0.5", "--seeds", "2", "--samples", "50",
                 "--haar-states", "2", "--executor", "serial"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "[8/8]" in captured.err  # plain progress lines when not a terminal
    assert "topology:ratio=0.5" in captured.out and "summary.csv" in captured.out
    for name in ("summary.csv", "fidelity_vs_depth.png", "frobenius_vs_depth.png",
                 "xeb_vs_depth.png"):
        assert (out / name).stat().st_size > 1000 or name == "summary.csv"
    assert main(["report", str(out), "--raw"]) == 0
    raw = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(raw) == 8 and {"state_fidelity", "seed", "engine_spec"} <= set(raw[0])
    assert main(["report", str(tmp_path / "none")]) == 2
    assert "holds no sweep results" in capsys.readouterr().err
    code = main(["sweep", "--out", str(out), "--qubits", "4", "--depth", "1", "--engine",
                 "exact", "--seeds", "1", "--executor", "serial"])
    assert code == 2 and "another configuration" in capsys.readouterr().err


def test_plots_are_valid_images(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    from qsim_topo.experiments.plots import write_plots
    from qsim_topo.experiments.summary import summarize

    run_sweep(SweepSpec(qubits=(3, 4), depths=(1, 2), engines=("exact", "fp32"), seeds=(0, 1),
                        samples=20, haar_states=2), tmp_path, executor="serial")
    paths = write_plots(summarize(ResultStore(tmp_path).rows()), tmp_path)
    assert len(paths) == 3
    for p in paths:
        img = plt.imread(p)
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 500
        assert img[..., :3].std() > 0.05  # not a blank canvas


def test_sweep_spec_refuses_bools_floats_and_strings_and_accepts_numpy_integers():
    from qsim_topo.errors import ArgumentTypeError, InvalidArgumentError

    spec = SweepSpec(qubits=(np.int64(3),), depths=[np.int32(2)], seeds=(np.uint8(1),),
                     samples=np.int64(5), engines=["exact"])
    assert spec.qubits == (3,) and spec.depths == (2,) and spec.seeds == (1,)
    assert all(type(v) is int for v in (*spec.qubits, *spec.depths, *spec.seeds, spec.samples))
    for fields, error, match in [
        ({"qubits": (True,)}, ArgumentTypeError, r"qubits\[0\] must be an integer"),
        ({"depths": (2.0,)}, ArgumentTypeError, r"depths\[0\] must be an integer"),
        ({"depths": "12"}, ArgumentTypeError, "depths must be a sequence of integers"),
        ({"kinds": "dense"}, ArgumentTypeError, "kinds must be a sequence of strings"),
        ({"engines": [3]}, ArgumentTypeError, r"engines\[0\] must be a string"),
        ({"seeds": [-1]}, InvalidArgumentError, r"seeds\[0\] must be an integer"),
        ({"samples": 2.5}, ArgumentTypeError, "samples must be an integer"),
        ({"precision": []}, InvalidArgumentError, "precision must be one of"),
        ({"qubits": [10**70]}, InvalidArgumentError, r"qubits\[0\] must be an integer"),
    ]:
        with pytest.raises(error, match=match):
            SweepSpec(**fields)
    with pytest.raises(InvalidArgumentError, match="unknown field"):
        SweepSpec.from_json({"qubit": [3]})
    with pytest.raises(ArgumentTypeError, match="sweep spec must be a mapping"):
        SweepSpec.from_json([3])
