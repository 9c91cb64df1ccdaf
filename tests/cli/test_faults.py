"""The CLI against a failing engine and unbounded work: one line on stderr, never a traceback.

Exit codes: 1 for an engine's fault (EngineError) or a run stopped at its time limit, 2 for
the user's errors (a refused estimate among them). The engine is tests/faulty_engines.py's
``test-faulty``; the time-limit tests run it in a child process, where it never returns.
"""

from __future__ import annotations

import json
import time

import pytest

from qsim_topo.cli.main import main
from tests.faulty_engines import FLOPS_FAULTS, MATMUL_FAULTS

FAULTS = MATMUL_FAULTS + FLOPS_FAULTS + ("init",)


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_engine_error(code, out, err, fault):
    assert code == 1, err
    assert out == ""
    assert err.startswith("qsim-topo: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "engine 'test-faulty'" in err
    if fault in MATMUL_FAULTS:
        assert "matmul call 2" in err
    elif fault == "init":
        assert "constructor" in err
    else:
        assert "flops_fraction(" in err


@pytest.mark.parametrize("fault", FAULTS)
def test_layers_reports_an_engine_fault_in_one_line(faulty, capsys, fault):
    code, out, err = _run(
        capsys,
        ["layers", "--qubits", "3", "--depth", "3", "--samples", "20", "--haar-states", "2",
         "--engine", f"{faulty}:fault={fault},at_call=2", "--json"],
    )
    _one_line_engine_error(code, out, err, fault)


@pytest.mark.parametrize("fault", FAULTS)
def test_verify_reports_an_engine_fault_in_one_line(faulty, capsys, fault):
    pytest.importorskip("qiskit")
    code, out, err = _run(
        capsys,
        ["verify", "circuits/ghz.qasm", "--shots", "10",
         "--engine", f"{faulty}:fault={fault},at_call=2", "--json"],
    )
    _one_line_engine_error(code, out, err, fault)


def test_layers_refuses_hopeless_depths_at_once_with_the_estimate(capsys):
    start = time.perf_counter()
    code, out, err = _run(capsys, ["layers", "--qubits", "3", "--depth", "1000000000"])
    assert time.perf_counter() - start < 5  # refused, not attempted
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "estimated" in err and "> time limit 3600 s" in err and "--time-limit" in err
    code, _, err = _run(
        capsys, ["layers", "--qubits", "3", "--depth", "1000000000", "--time-limit", "60"]
    )
    assert code == 2 and "> time limit 60 s" in err


def test_layers_time_limit_stops_an_engine_that_never_returns(faulty, capsys):
    code, out, err = _run(
        capsys,
        ["layers", "--qubits", "3", "--depth", "3", "--samples", "20", "--haar-states", "2",
         "--engine", f"{faulty}:fault=hang,at_call=2", "--time-limit", "1.5"],
    )
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "timed out after 1.5 s" in err


def test_layers_under_a_time_limit_gives_the_same_report(capsys):
    argv = ["layers", "--qubits", "3", "--depth", "2", "--samples", "20", "--haar-states", "2",
            "--json"]
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    code, limited, err = _run(capsys, [*argv, "--time-limit", "120"])
    assert code == 0, err
    volatile = {"wall_time_s", "exact_wall_time_s", "time_ratio", "exact_layer_time_s"}

    def strip(text):
        return {k: v for k, v in json.loads(text).items() if k not in volatile}

    assert strip(limited) == strip(out)


def test_layers_errors_in_the_child_keep_their_exit_code(faulty, capsys):
    code, _, err = _run(
        capsys,
        ["layers", "--qubits", "3", "--depth", "2", "--engine", "nope", "--time-limit", "60"],
    )
    assert code == 2 and "unknown engine 'nope'" in err and err.count("\n") == 1
    code, _, err = _run(
        capsys,
        ["layers", "--qubits", "3", "--depth", "2", "--engine", f"{faulty}:fault=matmul",
         "--time-limit", "60"],
    )
    assert code == 1 and "'test-faulty' failed in matmul call 1" in err
    # InsufficientMemoryError does not survive pickling: rebuilt from its message, still 2.
    code, _, err = _run(
        capsys, ["layers", "--qubits", "20", "--depth", "1", "--time-limit", "1e7"]
    )
    assert code == 2 and "needs about" in err and err.count("\n") == 1


def test_verify_time_limit_stops_an_engine_that_never_returns(faulty, capsys):
    pytest.importorskip("qiskit")
    code, out, err = _run(
        capsys,
        ["verify", "circuits/ghz.qasm", "--shots", "10",
         "--engine", f"{faulty}:fault=hang,at_call=2", "--time-limit", "2"],
    )
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "timed out after 2 s" in err


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_bad_time_limit_is_refused(capsys, value):
    code, _, err = _run(capsys, ["layers", "--qubits", "2", "--depth", "1", "--time-limit", value])
    assert code == 2 and "--time-limit must be a positive number of seconds" in err
