"""experiments/executors.py through run_sweep: the local pool and dask give the serial rows;
a dying pool worker loses nothing."""

from __future__ import annotations

import pytest

from qsim_topo.engines.base import unregister_engine
from qsim_topo.experiments.store import ResultStore
from qsim_topo.experiments.sweep import SweepSpec, run_sweep
from tests.experiments.sweep_helpers import SMALL, same, stable


def test_local_pool_gives_the_same_rows_as_serial(tmp_path):
    run_sweep(SMALL, tmp_path / "serial", executor="serial")
    out = run_sweep(SMALL, tmp_path / "pool", executor="local", workers=2)
    assert out.written == 36 and out.failed == 0
    same(stable(ResultStore(tmp_path / "serial").rows()),
          stable(ResultStore(tmp_path / "pool").rows()))


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_rows(tmp_path):
    pytest.importorskip("dask.distributed")
    run_sweep(SMALL, tmp_path / "serial", executor="serial")
    out = run_sweep(SMALL, tmp_path / "dask", executor="dask", workers=2)
    assert out.written == 36 and out.failed == 0
    same(stable(ResultStore(tmp_path / "serial").rows()),
          stable(ResultStore(tmp_path / "dask").rows()))


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
