from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qsim_topo.experiments.summary import format_summary, mean_ci, summarize


def test_mean_ci_matches_the_t_interval():
    values = [0.9, 0.95, 0.97, 0.99]
    mean, half = mean_ci(values)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert half == pytest.approx((hi - lo) / 2)
    m1, h1 = mean_ci([0.5])
    assert m1 == 0.5 and math.isnan(h1)
    assert all(math.isnan(x) for x in mean_ci([]))


def _row(key, seed, depth, f, status="ok"):
    base = {"key": key, "status": status, "qubits": 4, "kind": "dense", "mode": "dense",
            "engine_spec": "e", "dtype": "complex128", "device": "cpu", "samples": 10,
            "haar_states": 4, "depth": depth, "seed": seed}
    if status == "ok":
        base.update({m: f for m in ("state_fidelity", "haar_input_fidelity", "process_fidelity")})
        base.update({"frobenius_error": 1 - f, "aligned_frobenius_error": 1 - f, "norm": 1.0,
                     "xeb": f, "xeb_infinite": f, "xeb_ideal_mean": 1.0, "xeb_ideal_std": 0.1,
                     "tvd": 0.0, "flops_fraction": 1.0, "wall_time_s": 0.1,
                     "exact_wall_time_s": 0.1})
    return base


def test_summarize_groups_over_seeds_and_takes_latest_rows():
    rows = [
        _row("a", 0, 4, 0.81), _row("b", 1, 4, 0.64),
        _row("c", 2, 4, 0.0, status="failed"),
        _row("d", 0, 1, 0.9),
        _row("c", 2, 4, 0.729),  # the retried experiment replaces the failed row
    ]
    out = summarize(rows)
    assert [e["depth"] for e in out] == [1, 4]
    deep = out[1]
    assert deep["n_seeds"] == 3 and deep["n_failed"] == 0
    assert deep["state_fidelity_mean"] == pytest.approx((0.81 + 0.64 + 0.729) / 3)
    assert deep["haar_input_fidelity_error_per_layer"] == pytest.approx(
        1 - deep["haar_input_fidelity_mean"] ** 0.25
    )
    table = format_summary(out).splitlines()
    assert len(table) == 2 + 2 + 2  # header, rule, two configurations, blank, legend
    assert table[3].split()[:4] == ["e", "4", "dense", "4"] and "0.726333" in table[3]
    assert format_summary([]) == "no results stored"


def test_failed_rows_are_counted():
    out = summarize([_row("a", 0, 2, 0.5), _row("b", 1, 2, 0, status="failed")])
    assert out[0]["n_seeds"] == 1 and out[0]["n_failed"] == 1
    assert "(1 failed)" in format_summary(out)


def test_a_vanished_or_exploded_state_is_not_averaged_away():
    """Norms 2 and 0 must not read as a cell of norm 1: counts and the range are shown."""
    rows = [_row("a", 0, 3, 0.5), _row("b", 1, 3, 0.5), _row("c", 2, 3, 0.5)]
    rows[0]["norm"], rows[1]["norm"], rows[2]["norm"] = 2.0, 0.0, 1.0
    e = summarize(rows)[0]
    assert e["norm_mean"] == pytest.approx(1.0)
    assert e["n_zero_state"] == 1 and e["n_nonfinite_state"] == 0
    assert (e["norm_min"], e["norm_max"]) == (0.0, 2.0)
    line = format_summary([e]).splitlines()[2]
    assert "1 [0, 2] (1 zero)" in line
    rows[2]["norm"] = float("inf")
    e = summarize(rows)[0]
    assert e["n_nonfinite_state"] == 1 and "1 non-finite" in format_summary([e])
    clean = summarize([_row("a", 0, 3, 0.5)])[0]
    assert clean["n_zero_state"] == clean["n_nonfinite_state"] == 0
    assert "zero" not in format_summary([clean]).splitlines()[2]


def test_summary_shows_process_fidelity_and_the_time_ratio():
    rows = [_row("a", 0, 2, 0.5)]
    rows[0].update(process_fidelity=0.25, time_ratio=3.5, flops_fraction=0.1)
    line = format_summary(summarize(rows)).splitlines()[2]
    assert " 0.25 " in line and " 3.5 " in line and " 0.1" in line


def test_plots_mark_cells_with_a_zero_state(tmp_path):
    pytest.importorskip("matplotlib")
    from qsim_topo.experiments import plots

    rows = [_row("a", 0, 1, 0.5), _row("b", 0, 2, 0.5), _row("c", 1, 2, 0.5)]
    rows[2]["norm"] = 0.0
    summary = summarize(rows)
    marked = []
    real = plots._mark_flagged

    def spy(ax, summary, qubits, kind, y_of):
        drawn = real(ax, summary, qubits, kind, y_of)
        marked.append(drawn)
        return drawn

    plots._mark_flagged = spy
    try:
        paths = plots.write_plots(summary, tmp_path)
    finally:
        plots._mark_flagged = real
    assert len(paths) == 3 and marked == [True, True, True]
    assert list(plots._flagged(summary, 4, "dense", "e")) == [2.0]


@pytest.fixture(scope="module")
def state_rows(tmp_path_factory):
    """Rows of a tiny real state-mode sweep (RCS on 4 qubits, exact and bf16)."""
    from qsim_topo.experiments.store import ResultStore
    from qsim_topo.experiments.sweep import SweepSpec, run_sweep

    spec = SweepSpec(mode="state", kinds=("rcs",), qubits=(4,), depths=(1, 2),
                     engines=("exact", "bf16"), seeds=(0,), samples=50)
    out_dir = tmp_path_factory.mktemp("state")
    run_sweep(spec, out_dir, executor="serial")
    rows = ResultStore(out_dir).rows()
    assert len(rows) == 4 and all(r["mode"] == "state" and r["status"] == "ok" for r in rows)
    return rows


def _columns(header):
    """Column titles of a table header (titles are separated by two or more spaces)."""
    return [t.strip() for t in header.strip().split("  ") if t.strip()]


def test_state_rows_get_the_state_table(state_rows):
    summary = summarize(state_rows)
    text = format_summary(summary)
    lines = text.splitlines()
    titles = _columns(lines[0])
    for title in ("F", "XEB/ideal", "log-XEB", "TVD", "norm mean [min, max]", "flops"):
        assert title in titles
    assert not any("Haar" in t or "Frob" in t or "process" in t for t in titles)
    body = lines[2:6]
    assert len(body) == 4 and lines[6] == ""
    assert not any("nan" in line for line in body)
    legend = lines[7]
    assert "cycles" in legend and "XEB/ideal" in legend and "Haar" not in legend
    # The printed XEB/ideal and TVD are the rows' own (one seed: the mean is the value).
    bf16_d2 = next(r for r in state_rows if r["engine_spec"] == "bf16" and r["depth"] == 2)
    line = next(x for x in body if x.split()[:4] == ["bf16", "4", "rcs", "2"])
    assert f"{bf16_d2['xeb_normalized']:.4f}" in line
    assert f"{bf16_d2['tvd']:.3e}" in line
    assert f"{bf16_d2['state_fidelity']:.6f}" in line
    # The CSV summary keeps the state-mode metrics.
    e = next(x for x in summary if x["engine_spec"] == "bf16" and x["depth"] == 2)
    assert e["xeb_normalized_mean"] == pytest.approx(bf16_d2["xeb_normalized"])
    assert e["log_xeb_mean"] == pytest.approx(bf16_d2["log_xeb"])
    assert e["tvd_mean"] == pytest.approx(bf16_d2["tvd"])


def test_state_csv_has_the_state_columns(state_rows, tmp_path):
    import csv

    from qsim_topo.experiments.summary import write_csv

    write_csv(summarize(state_rows), tmp_path / "s.csv")
    with open(tmp_path / "s.csv", newline="", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert len(got) == 4 and all(g["mode"] == "state" for g in got)
    for g in got:
        for col in ("state_fidelity_mean", "xeb_normalized_mean", "log_xeb_mean", "tvd_mean"):
            assert math.isfinite(float(g[col]))


def test_a_mixed_sweep_prints_both_tables(state_rows):
    rows = [*state_rows, _row("a", 0, 2, 0.5), _row("b", 1, 2, 0.6)]
    lines = format_summary(summarize(rows)).splitlines()
    headers = [i for i, x in enumerate(lines) if x.startswith("engine ")]
    assert len(headers) == 2
    layer, state = _columns(lines[headers[0]]), _columns(lines[headers[1]])
    assert "F Haar-in" in layer and "XEB/ideal" not in layer
    assert "XEB/ideal" in state and "F Haar-in" not in state
    assert lines[headers[0] + 2].split()[:4] == ["e", "4", "dense", "2"]
    assert sum("cycles" in x for x in lines) == 1
    assert sum("Haar-random P_0" in x for x in lines) == 1


def test_a_column_nan_on_every_line_is_left_out():
    rows = [_row("a", 0, 2, 0.5)]
    del rows[0]["process_fidelity"]
    lines = format_summary(summarize(rows)).splitlines()
    assert "F process" not in lines[0] and "t/t_exact" not in lines[0]
    assert "F Haar-in" in lines[0] and "nan" not in lines[2]
