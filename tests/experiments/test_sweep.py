from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from qsim_topo.engines import EngineBase, register_engine
from qsim_topo.engines.base import unregister_engine
from qsim_topo.errors import EngineOptionError, QsimTopoError, UnknownEngineError
from qsim_topo.experiments.seeds import ENGINE, derive_seed
from qsim_topo.experiments.store import ResultStore, SweepSpecMismatchError
from qsim_topo.experiments.sweep import (
    SweepSpec,
    canonical_engine_spec,
    plan_chains,
    run_sweep,
)

# Timing fields differ between runs; everything else must be identical for the same seeds.
VOLATILE = {
    "wall_time_s", "exact_wall_time_s", "exact_layer_time_s", "time_ratio", "finished_at",
}

SMALL = SweepSpec(
    qubits=(3, 4), depths=(1, 2, 4), engines=("exact", "fp32", "cr-sampling:ratio=0.5"),
    seeds=(0, 1), samples=200, haar_states=4,
)


def _stable(rows):
    return {r["key"]: {k: v for k, v in r.items() if k not in VOLATILE} for r in rows}


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        for field, value in a[key].items():
            other = b[key][field]
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(other), (key, field)
            else:
                assert value == other, (key, field, value, other)


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


def test_random_engines_get_a_derived_seed_never_the_experiment_seed(tmp_path):
    spec = SweepSpec(qubits=(3,), depths=(2,), engines=("cr-sampling:ratio=0.5",),
                     seeds=(0, 1), samples=50, haar_states=2)
    run_sweep(spec, tmp_path / "a", executor="serial")
    run_sweep(spec, tmp_path / "b", executor="serial")
    a = _stable(ResultStore(tmp_path / "a").rows())
    _same(a, _stable(ResultStore(tmp_path / "b").rows()))
    seeds = {r["seed"]: r["engine_options_resolved"].get("seed") for r in a.values()}
    assert seeds == {s: derive_seed(s, ENGINE) for s in (0, 1)}
    assert not {0, 1} & set(seeds.values())
    fids = [r["frobenius_error"] for r in a.values()]
    assert fids[0] != fids[1]


def test_local_pool_gives_the_same_rows_as_serial(tmp_path):
    run_sweep(SMALL, tmp_path / "serial", executor="serial")
    out = run_sweep(SMALL, tmp_path / "pool", executor="local", workers=2)
    assert out.written == 36 and out.failed == 0
    _same(_stable(ResultStore(tmp_path / "serial").rows()),
          _stable(ResultStore(tmp_path / "pool").rows()))


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_rows(tmp_path):
    pytest.importorskip("dask.distributed")
    run_sweep(SMALL, tmp_path / "serial", executor="serial")
    out = run_sweep(SMALL, tmp_path / "dask", executor="dask", workers=2)
    assert out.written == 36 and out.failed == 0
    _same(_stable(ResultStore(tmp_path / "serial").rows()),
          _stable(ResultStore(tmp_path / "dask").rows()))


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


class _Flaky(EngineBase):
    """Fails on 4-qubit products while the environment variable is set."""

    name = "test-flaky"

    def __init__(self) -> None:
        super().__init__()

    def matmul(self, a, b, /):
        if a.shape[0] == 16 and os.environ.get("QSIM_TOPO_TEST_FAIL"):
            raise RuntimeError("planted failure")
        return a @ b


def test_failures_are_recorded_the_sweep_goes_on_and_retry_reruns(tmp_path, monkeypatch):
    register_engine("test-flaky", _Flaky)
    try:
        spec = SweepSpec(qubits=(3, 4), depths=(1, 2), engines=("test-flaky",), seeds=(0,),
                         samples=10, haar_states=2)
        monkeypatch.setenv("QSIM_TOPO_TEST_FAIL", "1")
        out = run_sweep(spec, tmp_path, executor="serial")
        assert out.written == 4 and out.failed == 2
        assert "planted failure" in out.errors[0]
        latest = ResultStore(tmp_path).latest()
        assert sorted(r["status"] for r in latest.values()) == ["failed", "failed", "ok", "ok"]
        monkeypatch.delenv("QSIM_TOPO_TEST_FAIL")
        assert run_sweep(spec, tmp_path, executor="serial").written == 0  # failed rows kept
        retried = run_sweep(spec, tmp_path, executor="serial", retry_failed=True)
        assert retried.written == 2 and retried.failed == 0
        assert all(r["status"] == "ok" for r in ResultStore(tmp_path).latest().values())
    finally:
        unregister_engine("test-flaky")


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
    before = _stable(ResultStore(out).rows())
    assert 10 <= len(before) < 72, "the sweep was not killed mid-run"
    subprocess.run(_sweep_cmd(out), check=True, capture_output=True)
    after_rows = ResultStore(out).rows()
    assert len(after_rows) == len({r["key"] for r in after_rows}) == 72
    after = _stable(after_rows)
    _same(before, {k: after[k] for k in before})
    clean = tmp_path / "clean"
    subprocess.run(_sweep_cmd(clean), check=True, capture_output=True)
    _same(after, _stable(ResultStore(clean).rows()))


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


_DYING_ENGINE = '''
import os, signal
from pathlib import Path


class DyingEngine:
    """Exact, but kills its own process on 4-qubit products while a marker file exists."""

    name = "test-dying"
    exact = True
    family = "test"

    def __init__(self, *, marker: str = "", once: bool = True):
        self.marker, self.once = Path(marker), once
        self.options = {"marker": marker, "once": once}

    def matmul(self, a, b, /):
        if a.shape[0] == 16 and self.marker.exists():
            if self.once:
                self.marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        return a @ b

    def flops_fraction(self, m, k, n):
        return 1.0
'''


@pytest.fixture
def dying_plugin(tmp_path, monkeypatch):
    """A third-party engine package on sys.path, visible to spawned workers too."""
    from qsim_topo.engines import base

    site = tmp_path / "site"
    site.mkdir()
    (site / "dying_engine.py").write_text(_DYING_ENGINE)
    dist = site / "dying_engine-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dying-engine\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[qsim_topo.engines]\ntest-dying = dying_engine:DyingEngine\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    base._load_entry_points(force=True)
    yield tmp_path / "marker"
    unregister_engine("test-dying")


@pytest.mark.parametrize("once", [True, False])
def test_a_dying_pool_worker_loses_nothing_that_did_not_run(tmp_path, dying_plugin, once):
    marker = dying_plugin
    marker.write_text("die")
    engine = f'test-dying:marker="{marker}",once={"true" if once else "false"}'
    spec = SweepSpec(qubits=(3, 4), depths=(1, 2), engines=(engine, "exact"), seeds=(0, 1, 2),
                     samples=10, haar_states=2)
    out = run_sweep(spec, tmp_path / "run", executor="local", workers=2)
    rows = ResultStore(tmp_path / "run").rows()
    assert len(rows) == len({r["key"] for r in rows}) == spec.experiments() == 24
    failed = [r for r in rows if r["status"] == "failed"]
    if once:  # the chain that died is rerun on a new pool; everything completes
        assert out.failed == 0 and not failed
    else:  # exactly the chains that kill their worker are failed, with the reason
        culprits = {(r["qubits"], r["engine"]) for r in failed}
        assert culprits == {(4, "test-dying")} and len(failed) == 6
        assert all("died" in r["error"] for r in failed)
