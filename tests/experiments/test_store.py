from __future__ import annotations

import errno
import json
import math
import os

import pytest

from qsim_topo.experiments.store import ResultStore, SweepSpecMismatchError


def test_append_and_read_back(tmp_path):
    with ResultStore(tmp_path) as store:
        store.append({"key": "a", "x": 1.5, "bad": float("nan"), "inf": float("-inf")})
        store.append({"key": "b", "x": 2})
    rows = ResultStore(tmp_path).rows()
    assert [r["key"] for r in rows] == ["a", "b"]
    assert math.isnan(rows[0]["bad"]) and rows[0]["inf"] == float("-inf")
    text = (tmp_path / "results.jsonl").read_text()
    assert "NaN" not in text and text.count("\n") == 2  # strict JSON, one line per row
    for line in text.splitlines():
        json.loads(line)


def test_partial_last_line_from_a_crash_is_ignored_and_repaired(tmp_path):
    with ResultStore(tmp_path) as store:
        store.append({"key": "a", "x": 1})
    with open(tmp_path / "results.jsonl", "a") as fh:
        fh.write('{"key": "b", "x": ')  # killed mid-write
    store = ResultStore(tmp_path)
    assert [r["key"] for r in store.rows()] == ["a"]
    store.append({"key": "c", "x": 3})
    store.close()
    assert [r["key"] for r in ResultStore(tmp_path).rows()] == ["a", "c"]


def test_complete_row_without_newline_is_kept(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"key": "a"}\n{"key": "b"}')
    store = ResultStore(tmp_path)
    assert [r["key"] for r in store.rows()] == ["a", "b"]
    store.append({"key": "c"})
    store.close()
    assert [r["key"] for r in ResultStore(tmp_path).rows()] == ["a", "b", "c"]


def test_unusable_directories_and_specs_are_named(tmp_path):
    from qsim_topo.errors import QsimTopoError

    (tmp_path / "file").write_text("x")
    with pytest.raises(QsimTopoError, match="cannot use"):
        ResultStore(tmp_path / "file")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "sweep.json").write_text("[1, 2]")
    with pytest.raises(QsimTopoError, match="not a sweep spec"):
        ResultStore(tmp_path / "d").read_spec()


def test_malformed_middle_line_warns_with_its_number(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.warns(UserWarning, match=r"results.jsonl:2: malformed"):
        rows = ResultStore(tmp_path).rows()
    assert [r["key"] for r in rows] == ["a", "b"]


def test_latest_row_wins(tmp_path):
    with ResultStore(tmp_path) as store:
        store.append({"key": "a", "status": "failed"})
        store.append({"key": "a", "status": "ok"})
    assert ResultStore(tmp_path).latest()["a"]["status"] == "ok"


def test_spec_binding_refuses_a_changed_configuration(tmp_path):
    store = ResultStore(tmp_path)
    store.bind_spec({"qubits": [4], "seeds": [0, 1]})
    store.bind_spec({"qubits": [4], "seeds": [0, 1]})  # the same: fine
    with pytest.raises(SweepSpecMismatchError, match="differs in: qubits"):
        store.bind_spec({"qubits": [5], "seeds": [0, 1]})
    store.bind_spec({"qubits": [5], "seeds": [0, 1]}, force=True)
    assert store.read_spec() == {"qubits": [5], "seeds": [0, 1]}


def test_rows_need_keys(tmp_path):
    with pytest.raises(ValueError, match="key"):
        ResultStore(tmp_path).append({"x": 1})


# --------------------------------------------------------------------------- damage and disks


def _sweep_row(name, **changes):
    row = {"key": name, "status": "ok", "qubits": 3, "depth": 1, "kind": "dense",
           "mode": "dense", "engine": "exact", "engine_spec": "exact", "dtype": "complex128",
           "device": "cpu", "samples": 10, "haar_states": 2, "seed": 0,
           "state_fidelity": 0.9, "haar_input_fidelity": 0.9, "process_fidelity": 0.9,
           "frobenius_error": 0.1, "aligned_frobenius_error": 0.1, "norm": 1.0, "xeb": 1.0,
           "xeb_infinite": 1.0, "xeb_ideal_mean": 1.0, "xeb_ideal_std": 0.1, "tvd": 0.0,
           "flops_fraction": 1.0, "wall_time_s": 0.1, "exact_wall_time_s": 0.1}
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


DAMAGED = [
    (_sweep_row("m", **{m: ... for m in ("state_fidelity", "haar_input_fidelity", "norm")}),
     "an ok row without metrics"),
    (_sweep_row("l", engine_spec=["exact"]), "field 'engine_spec' is list"),
    (_sweep_row("q", qubits="3"), "field 'qubits' is str"),
    (_sweep_row("f", state_fidelity="high"), "metric 'state_fidelity' is str"),
    (_sweep_row("s", status="done"), "status 'done' is none of"),
    (_sweep_row("k", key=7), "no string 'key'"),
    (_sweep_row("d", depth=...), "no depth (not a sweep row)"),
    ([1, 2, 3], "a JSON list, not an object"),
]


def _write_damaged(path):
    lines = [json.dumps(_sweep_row("good"))]
    lines += [json.dumps(row) for row, _ in DAMAGED]
    lines.append(json.dumps(_sweep_row("good2", seed=1)))
    (path / "results.jsonl").write_text("\n".join(lines) + "\n")


def test_damaged_or_foreign_rows_are_skipped_naming_file_and_line(tmp_path):
    _write_damaged(tmp_path)
    store = ResultStore(tmp_path)
    with pytest.warns(UserWarning) as caught:
        rows = store.rows(complete=True)
    assert [r["key"] for r in rows] == ["good", "good2"]
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(DAMAGED) == len(store.skipped)
    for line, ((_, reason), message) in enumerate(zip(DAMAGED, messages, strict=True), 2):
        assert message.startswith(f"{tmp_path / 'results.jsonl'}:{line}: ")
        assert reason in message
    assert [line for line, _ in store.skipped] == list(range(2, 2 + len(DAMAGED)))


def test_report_on_damaged_rows_warns_counts_and_summarises(tmp_path, capsys):
    from qsim_topo.cli.main import main

    _write_damaged(tmp_path)
    assert main(["report", str(tmp_path), "--no-plots"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    warnings_ = [x for x in captured.err.splitlines() if x.startswith("qsim-topo: warning: ")]
    assert len(warnings_) == len(DAMAGED)
    assert f"{len(DAMAGED)} damaged or foreign rows of" in captured.out
    assert "exact" in captured.out  # the two good rows are summarised


@pytest.mark.parametrize("where", ["results.jsonl", "summary.csv"])
def test_a_folder_in_place_of_a_file_is_one_line(tmp_path, capsys, where):
    from qsim_topo.cli.main import main

    if where == "summary.csv":
        (tmp_path / "results.jsonl").write_text(json.dumps(_sweep_row("good")) + "\n")
    (tmp_path / where).mkdir()
    code = main(["report", str(tmp_path), "--no-plots"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and where in err and "Traceback" not in err


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_on_fsync_is_one_error_and_keeps_committed_rows(tmp_path, monkeypatch):
    from qsim_topo.errors import QsimTopoError

    store = ResultStore(tmp_path)
    store.append({"key": "a", "x": 1})
    store.append({"key": "b", "x": 2})
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(QsimTopoError, match="No space left on device; the rows stored before"):
        store.append({"key": "c", "x": 3})
    store.close()
    monkeypatch.undo()
    assert [r["key"] for r in ResultStore(tmp_path).rows()] == ["a", "b"]
    assert (tmp_path / "results.jsonl").read_text().count("\n") == 2  # no partial row left
    store = ResultStore(tmp_path)  # once there is room, appending goes on
    store.append({"key": "c", "x": 3})
    store.close()
    assert [r["key"] for r in ResultStore(tmp_path).rows()] == ["a", "b", "c"]


def test_a_full_disk_mid_write_cuts_the_partial_row(tmp_path):
    from qsim_topo.errors import QsimTopoError

    store = ResultStore(tmp_path)
    store.append({"key": "a", "x": 1})

    class HalfWriter:
        def __init__(self, fh):
            self.fh = fh

        def write(self, text):
            self.fh.write(text[: len(text) // 2])
            self.fh.flush()  # the half row reaches the file, as a real short write would
            _enospc()

        def __getattr__(self, name):
            return getattr(self.fh, name)

    store._fh = HalfWriter(store._fh)
    with pytest.raises(QsimTopoError, match=r"cannot write a row to .*results.jsonl"):
        store.append({"key": "b", "x": 2, "pad": "y" * 100})
    assert (tmp_path / "results.jsonl").read_text() == '{"key": "a", "x": 1}\n'


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_sweep_on_a_full_disk_is_one_line_and_keeps_its_rows(
    tmp_path, monkeypatch, capsys, executor
):
    from qsim_topo.cli.main import main

    real_fsync = os.fsync
    rows_synced = []

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("results.jsonl"):
            rows_synced.append(fd)
            if len(rows_synced) > 2:
                _enospc()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    code = main(["sweep", "--out", str(tmp_path), "--qubits", "3", "--depth", "1,2,3",
                 "--seeds", "2", "--samples", "10", "--haar-states", "2", "--engine", "exact",
                 "--executor", executor, "--workers", "2", "--no-plots"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err
    assert last.startswith("qsim-topo: error: cannot write a row to") and "intact" in last
    monkeypatch.undo()
    rows = ResultStore(tmp_path).rows(complete=True)
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)


def test_json_output_is_strict_with_non_finite_values_as_strings():
    import numpy as np

    from qsim_topo.experiments.store import dumps_json

    text = dumps_json({"a": float("nan"), "b": np.float32("inf"), "c": [np.float64("-inf")],
                       "d": np.arange(2), "e": np.int64(3), "f": np.bool_(True)})

    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    assert json.loads(text, parse_constant=refuse) == {
        "a": "nan", "b": "inf", "c": ["-inf"], "d": [0, 1], "e": 3, "f": True,
    }


def test_layers_json_holds_no_bare_nan(faulty, capsys):
    """An engine that loses the state: several metrics are NaN, written as "nan"."""
    from qsim_topo.cli.main import main

    assert main(["layers", "--qubits", "2", "--depth", "2", "--samples", "10",
                 "--engine", f"{faulty}:fault=zero", "--json"]) == 0
    out = capsys.readouterr().out

    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    report = json.loads(out, parse_constant=refuse)
    assert report["xeb"] == "nan"


def test_every_summarised_metric_is_checked_as_a_number():
    """The row check and the summary read one list: a state row whose XEB/ideal is text is a
    damaged row, not a value the summary would try to average."""
    from qsim_topo.experiments.store import SUMMARY_METRICS, row_problem

    row = {"key": "k", "qubits": 4, "depth": 2, "kind": "rcs", "mode": "state",
           "engine_spec": "exact", "dtype": "complex64", "device": "cpu", "seed": 0}
    assert row_problem(row) is None
    for metric in SUMMARY_METRICS:
        problem = row_problem({**row, metric: "high"})
        assert problem is not None and metric in problem
