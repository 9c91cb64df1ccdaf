from __future__ import annotations

import math

import pytest

from qsim_topo.experiments.fit_metrics import (
    FIT_METRICS,
    gates_per_layer,
    metric_floor,
    metric_value,
    t_interval,
)


def test_floors_are_what_a_fully_depolarized_output_scores():
    assert metric_floor("state_fidelity", 8) == 1 / 8
    assert metric_floor("haar_input_fidelity", 8) == 1 / 8
    assert metric_floor("process_fidelity", 8) == 1 / 64
    assert metric_floor("xeb_normalised", 8) == 0
    with pytest.raises(ValueError, match="unknown fit metric"):
        metric_floor("nope", 8)


def test_metric_values_from_rows_of_any_shape():
    assert metric_value({"xeb_normalised": 0.7, "xeb_infinite": 0.1}, "xeb_normalised") == 0.7
    assert metric_value({"xeb_infinite": 0.5, "xeb_ideal_mean": 1.0}, "xeb_normalised") == 0.5
    assert metric_value({"xeb": 0.4, "xeb_ideal_mean": 0.8}, "xeb_normalised") == 0.5
    assert metric_value({"xeb": 0.4, "xeb_ideal_mean": 0.0}, "xeb_normalised") is None
    assert metric_value({"state_fidelity": float("nan")}, "state_fidelity") is None
    assert metric_value({"state_fidelity": True}, "state_fidelity") is None
    assert metric_value({}, "process_fidelity") is None
    assert FIT_METRICS[0] == "state_fidelity"


def test_t_interval_against_the_closed_form():
    mean, lo, hi = t_interval([1.0, 2.0, 3.0])
    # t_{0.975, 2} = 4.302652729911275; std = 1; sqrt(3)
    assert mean == 2.0
    assert hi - mean == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert mean - lo == pytest.approx(hi - mean)
    m1, lo1, hi1 = t_interval([0.5])
    assert m1 == 0.5 and math.isnan(lo1) and math.isnan(hi1)


def test_gates_per_layer():
    assert gates_per_layer(6, "brickwork", 8) == pytest.approx(2.5)  # 3 and 2 alternating
    assert gates_per_layer(5, "brickwork", 8) == pytest.approx(2.0)
    assert gates_per_layer(6, "dense", 8) is None
    assert gates_per_layer(2, "dense", 8) == 1.0
    assert gates_per_layer(6, "no-such-kind", 8) is None


def test_gates_per_cycle_of_a_state_mode_family():
    """State mode counts the family's two-qubit gates per cycle, checked on its drawn circuit."""
    from qsim_topo.families import make_family

    for n, depth in ((4, 8), (6, 3), (9, 5)):
        ops = make_family("rcs", n, 0).circuit(depth)
        two = sum(1 for op in ops if len(op.qubits) == 2)
        assert two > 0
        assert gates_per_layer(n, "rcs", depth, mode="state") == pytest.approx(two / depth)
    assert gates_per_layer(6, "brickwork", 8, mode="state") == pytest.approx(2.5)
    assert gates_per_layer(6, "rcs", 8) is None  # not a layer-stack kind
    assert gates_per_layer(4, "circuit", 8, mode="state") is None  # a QASM file: unknown
