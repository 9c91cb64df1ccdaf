from __future__ import annotations

import json
import math

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
