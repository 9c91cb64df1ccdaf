"""experiments/chains.py through run_sweep: derived engine seeds, failures recorded per row."""

from __future__ import annotations

import os

from qsim_topo.engines import EngineBase, register_engine
from qsim_topo.engines.base import unregister_engine
from qsim_topo.experiments.seeds import ENGINE, derive_seed
from qsim_topo.experiments.store import ResultStore
from qsim_topo.experiments.sweep import SweepSpec, run_sweep
from tests.experiments.sweep_helpers import same, stable


def test_random_engines_get_a_derived_seed_never_the_experiment_seed(tmp_path):
    spec = SweepSpec(qubits=(3,), depths=(2,), engines=("cr-sampling:ratio=0.5",),
                     seeds=(0, 1), samples=50, haar_states=2)
    run_sweep(spec, tmp_path / "a", executor="serial")
    run_sweep(spec, tmp_path / "b", executor="serial")
    a = stable(ResultStore(tmp_path / "a").rows())
    same(a, stable(ResultStore(tmp_path / "b").rows()))
    seeds = {r["seed"]: r["engine_options_resolved"].get("seed") for r in a.values()}
    assert seeds == {s: derive_seed(s, ENGINE) for s in (0, 1)}
    assert not {0, 1} & set(seeds.values())
    fids = [r["frobenius_error"] for r in a.values()]
    assert fids[0] != fids[1]


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
