from __future__ import annotations

import pytest

from qsim_topo.errors import InsufficientMemoryError, QsimTopoError
from qsim_topo.experiments import chains
from qsim_topo.experiments.store import ResultStore
from qsim_topo.experiments.summary import summarize
from qsim_topo.experiments.sweep import SweepSpec, plan_chains, run_sweep
from tests.experiments.test_state_chain import BrickFamily

SPEC = SweepSpec(
    qubits=(4, 6),
    depths=(1, 2, 3),
    kinds=("brickwork",),
    engines=("exact", "bf16"),
    seeds=(0, 1),
    samples=200,
    mode="state",
)


@pytest.fixture
def brick_family(monkeypatch):
    """The families module's stand-in: the test-local brickwork family with a closing layer."""
    monkeypatch.setattr(
        chains, "make_state_family", lambda kind, n, seed, circuit: BrickFamily(n, seed, True)
    )


def test_state_sweep_writes_one_row_per_cell_and_resumes(tmp_path, brick_family):
    out = run_sweep(SPEC, tmp_path, executor="serial")
    assert out.written == SPEC.experiments() == 24 and out.failed == 0
    rows = ResultStore(tmp_path).rows()
    cells = {(r["qubits"], r["kind"], r["engine_spec"], r["seed"], r["depth"]) for r in rows}
    assert len(cells) == len({r["key"] for r in rows}) == 24
    assert all(r["mode"] == "state" and r["status"] == "ok" for r in rows)
    exact = [r for r in rows if r["engine"] == "exact"]
    assert all(abs(r["state_fidelity"] - 1) < 1e-10 for r in exact)
    assert all(r["state_fidelity"] < 1 - 1e-8 for r in rows if r["engine"] == "bf16")
    for field in (
        "norm",
        "xeb",
        "xeb_normalized",
        "log_xeb",
        "tvd",
        "flops_fraction",
        "wall_time_s",
        "exact_wall_time_s",
        "diagnostics",
        "column_block",
    ):
        assert all(field in r for r in rows), field
    again = run_sweep(SPEC, tmp_path, executor="serial")
    assert again.written == 0 and again.skipped == 24
    summary = summarize(rows)
    assert len(summary) == 12 and all(s["n_seeds"] == 2 for s in summary)
    assert all("state_fidelity_mean" in s for s in summary)


def test_resume_runs_only_the_missing_depths_with_the_same_values(tmp_path, brick_family):
    small = SweepSpec(
        **{**SPEC.to_json(), "qubits": (4,), "engines": ("cr-sampling",), "depths": (1, 3)}
    )
    run_sweep(small, tmp_path, executor="serial")
    first = {(r["seed"], r["depth"]): r["state_fidelity"] for r in ResultStore(tmp_path).rows()}
    store = ResultStore(tmp_path)
    # Lose the depth-3 rows (as a kill would), then resume.
    store.results_path.write_text(
        "".join(
            line + "\n"
            for line in store.results_path.read_text().splitlines()
            if '"depth": 3' not in line
        )
    )
    tasks, skipped = plan_chains(small, ResultStore(tmp_path).latest())
    assert skipped == 2 and [t.depths for t in tasks] == [(3,), (3,)]
    run_sweep(small, tmp_path, executor="serial")
    resumed = [r for r in ResultStore(tmp_path).rows() if r["depth"] == 3]
    assert len(resumed) == 2  # one new row per seed
    assert all(r["state_fidelity"] == first[(r["seed"], 3)] for r in resumed)


def test_other_modes_keep_their_keys():
    task = chains.ChainTask(4, "dense", "dense", "exact", 0, (1,), 10, 2, "cpu", "complex128")
    assert "column_block" not in task.config(1) and "circuit_sha256" not in task.config(1)


def test_state_mode_refusals(tmp_path):
    with pytest.raises(QsimTopoError, match="in mode state must be one of 'rcs'"):
        SweepSpec(mode="state", kinds=("dense",))
    with pytest.raises(QsimTopoError, match="circuit file"):
        SweepSpec(mode="state", kinds=("circuit",))
    with pytest.raises(QsimTopoError, match="in mode dense/gate must be one of 'dense'"):
        SweepSpec(kinds=("rcs",))
    with pytest.raises(
        InsufficientMemoryError, match=r"40-qubit state chains .* needs about .* but only"
    ):
        run_sweep(
            SweepSpec(mode="state", kinds=("rcs",), qubits=(40,)), tmp_path, executor="serial"
        )


def test_state_keys_do_not_depend_on_the_unused_haar_states():
    def keys(haar_states):
        spec = SweepSpec(mode="state", kinds=("rcs",), qubits=(4,), depths=(1, 2),
                         engines=("exact",), seeds=(0,), samples=20, haar_states=haar_states)
        tasks, _ = plan_chains(spec, {})
        return [chains.experiment_key(t.config(d)) for t in tasks for d in t.depths]

    assert keys(4) == keys(16)
    layer = SweepSpec(qubits=(3,), depths=(1,), engines=("exact",), seeds=(0,), haar_states=4)
    assert "haar_states" in plan_chains(layer, {})[0][0].config(1)
