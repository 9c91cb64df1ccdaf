"""Sweeps against failing engines and unbounded work (issue 19, items 3 and 4).

A failing engine's chain is recorded, every unfinished depth as a ``failed`` row whose error
names the engine and the call, the other chains complete, and ``retry_failed`` reruns it. A
chain that passes the time limit has its worker killed and its depths stored as
``timed_out``. The engine is tests/faulty_engines.py's ``test-faulty`` plug-in.
"""

from __future__ import annotations

import json

import pytest

from qsim_topo.cli.main import main
from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.executors import BLAS_THREADS, TIMED_OUT
from qsim_topo.experiments.store import ResultStore
from qsim_topo.experiments.summary import format_summary, summarize
from qsim_topo.experiments.sweep import SweepSpec, experiment_key, plan_chains, run_sweep

DEPTHS = (1, 2, 3, 4)


def _spec(*engines, depths=DEPTHS, seeds=(0,)):
    return SweepSpec(qubits=(3,), depths=depths, engines=engines, seeds=seeds, samples=20,
                     haar_states=2)


def _by_engine(rows):
    out: dict[str, dict[int, dict]] = {}
    for row in rows:
        out.setdefault(row["engine_spec"], {})[row["depth"]] = row
    return out


LATE = 'test-faulty:at_call=3,fault="matmul"'
INIT = 'test-faulty:fault="init"'
FLOPS = 'test-faulty:fault="flops-nan"'


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_failing_chains_are_recorded_whole_and_the_others_complete(faulty, tmp_path, executor):
    spec = _spec("exact", LATE, INIT, FLOPS)
    out = run_sweep(spec, tmp_path / "run", executor=executor, workers=2)
    rows = _by_engine(ResultStore(tmp_path / "run").rows())
    assert all(rows["exact"][d]["status"] == "ok" for d in DEPTHS)
    # The late failure: depths 1 and 2 (two products) are measured, 3 and 4 are failed rows.
    assert [rows[LATE][d]["status"] for d in DEPTHS] == ["ok", "ok", "failed", "failed"]
    for d in (3, 4):
        assert rows[LATE][d]["error"] == (
            "EngineError: engine 'test-faulty' failed in matmul call 3 (8, 8) @ (8, 8): "
            "RuntimeError: boom at call 3"
        )
    for spec_, words in ((INIT, "failed in its constructor"), (FLOPS, "returned nan from flops")):
        for d in DEPTHS:
            assert rows[spec_][d]["status"] == "failed"
            assert "engine 'test-faulty'" in rows[spec_][d]["error"]
            assert words in rows[spec_][d]["error"]
    assert out.failed == 2 + 4 + 4 and out.written == 16


def test_a_chain_error_that_escapes_run_chain_is_recorded_by_the_pool(faulty, tmp_path):
    """A BaseException in a worker (not KeyboardInterrupt: that is the user's Ctrl-C) fails
    its chain's missing depths; the other chains complete and the sweep does not stop."""
    odd = 'test-faulty:at_call=2,fault="escape"'
    out = run_sweep(_spec("exact", odd, depths=(1, 2, 3)), tmp_path, executor="local",
                    workers=2)
    rows = _by_engine(ResultStore(tmp_path).rows())
    assert all(rows["exact"][d]["status"] == "ok" for d in (1, 2, 3))
    assert [rows[odd][d]["status"] for d in (1, 2, 3)] == ["ok", "failed", "failed"]
    assert rows[odd][2]["error"] == "Escape: escaped at call 2"
    assert out.failed == 2


def test_retry_failed_reruns_exactly_the_failed_rows(faulty, tmp_path):
    spec = _spec("exact", LATE)
    first = run_sweep(spec, tmp_path, executor="serial")
    assert first.failed == 2
    assert run_sweep(spec, tmp_path, executor="serial").written == 0  # failed rows are kept
    again = run_sweep(spec, tmp_path, executor="serial", retry_failed=True)
    # The chain reruns from scratch for depths 3 and 4 and fails on its third product again.
    assert again.written == 2 and again.failed == 2 and again.skipped == 6
    rows = ResultStore(tmp_path).rows()
    assert len(rows) == 10


def test_sweep_cli_ends_without_a_traceback_and_lists_the_failures(faulty, tmp_path, capsys):
    code = main(["sweep", "--out", str(tmp_path / "cli"), "--qubits", "3", "--depth", "1,2,3",
                 "--seeds", "1", "--samples", "20", "--haar-states", "2", "--engine", "exact",
                 "--engine", "test-faulty:fault=matmul,at_call=2", "--engine",
                 "test-faulty:fault=init", "--executor", "serial", "--no-plots"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 2 + 3
    assert all("engine 'test-faulty'" in line for line in failed)
    assert main(["report", str(tmp_path / "cli"), "--no-plots"]) == 0


def test_a_hanging_engine_is_stopped_and_stored_as_timed_out(faulty, tmp_path):
    spec = _spec('test-faulty:fault="hang"', depths=(1, 2))
    out = run_sweep(spec, tmp_path, executor="local", workers=1, time_limit=1.5)
    rows = ResultStore(tmp_path).rows()
    assert [r["status"] for r in rows] == [TIMED_OUT, TIMED_OUT]
    assert all("timed out after 1.5 s" in r["error"] for r in rows)
    assert out.failed == out.timed_out == 2
    summary = summarize(rows)
    assert [(e["n_seeds"], e["n_failed"], e["n_timed_out"]) for e in summary] == [(0, 1, 1)] * 2
    assert "(1 failed, 1 timed out)" in format_summary(summary)
    assert run_sweep(spec, tmp_path, executor="local", workers=1, time_limit=1.5).written == 0
    again = run_sweep(spec, tmp_path, executor="local", workers=1, time_limit=1.5,
                      retry_failed=True)
    assert again.written == again.timed_out == 2


def test_a_timed_out_chain_does_not_stop_the_others(faulty, tmp_path):
    spec = _spec("exact", 'test-faulty:at_call=2,fault="hang"', depths=(1, 2))
    out = run_sweep(spec, tmp_path, executor="local", workers=2, time_limit=4)
    rows = _by_engine(ResultStore(tmp_path).rows())
    assert rows["exact"][1]["status"] == rows["exact"][2]["status"] == "ok"
    hang = rows['test-faulty:at_call=2,fault="hang"']
    assert hang[1]["status"] == "ok" and hang[2]["status"] == TIMED_OUT
    assert out.timed_out == 1


def test_timed_out_rows_are_retried_only_on_request():
    spec = _spec("exact", depths=(1, 2))
    tasks, _ = plan_chains(spec, {})
    key = experiment_key(tasks[0].config(2))
    stored = {key: {"key": key, "status": TIMED_OUT}}
    assert plan_chains(spec, stored)[0][0].depths == (1,)
    assert plan_chains(spec, stored, retry_failed=True)[0][0].depths == (1, 2)


def test_hopeless_depths_are_refused_before_anything_runs(tmp_path):
    # 10**6 is the largest depth the sweep's argument check accepts (depth 10**9 is refused
    # there); its 2 * 10**6 products alone are estimated at 4 s.
    spec = _spec("exact", depths=(1, 10**6))
    with pytest.raises(QsimTopoError, match=r"estimated .* s > time limit 2 s"):
        run_sweep(spec, tmp_path / "x", executor="serial", time_limit=2)
    assert not (tmp_path / "x" / "results.jsonl").exists()
    with pytest.raises(QsimTopoError, match="time_limit must be a positive number"):
        run_sweep(_spec("exact"), tmp_path / "y", time_limit=0)


def test_workers_run_blas_single_threaded(tmp_path):
    """Rows do not depend on the worker count: every worker gets BLAS_THREADS threads."""
    assert BLAS_THREADS == 1
    spec = _spec("exact", "lowrank:ratio=0.5", depths=(1, 2), seeds=(0, 1))
    run_sweep(spec, tmp_path / "one", executor="local", workers=1)
    run_sweep(spec, tmp_path / "two", executor="local", workers=2)
    volatile = {"wall_time_s", "exact_wall_time_s", "time_ratio", "exact_layer_time_s",
                "finished_at"}

    def stable(path):
        return {r["key"]: json.dumps({k: v for k, v in r.items() if k not in volatile},
                                     sort_keys=True, default=str)
                for r in ResultStore(path).rows()}

    assert stable(tmp_path / "one") == stable(tmp_path / "two")
