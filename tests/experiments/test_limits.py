"""qsim_topo/experiments/limits.py: the optimistic time estimate."""

from __future__ import annotations

import math

import pytest

from qsim_topo.experiments.limits import layer_stack_seconds


@pytest.mark.parametrize(("kind", "mode"), [("dense", "dense"), ("brickwork", "gate")])
def test_the_estimate_saturates_at_inf_for_sizes_past_the_float_range(kind, mode):
    # Was a hang (2**qubits of a 20-digit int) or an OverflowError (int to float).
    assert layer_stack_seconds(10**20, 1, kind, mode) == math.inf
    assert layer_stack_seconds(2000, 1, kind, mode) == math.inf
    assert layer_stack_seconds(2, 10**400, kind, mode) == math.inf


def test_the_estimate_grows_with_qubits_and_depth():
    small = layer_stack_seconds(4, 2, "dense", "dense")
    assert 0 < small < layer_stack_seconds(5, 2, "dense", "dense")
    assert layer_stack_seconds(4, 4, "dense", "dense") == pytest.approx(2 * small)
