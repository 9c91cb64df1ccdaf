"""Shared by the sweep, chain and executor tests: a small sweep and row comparison."""

from __future__ import annotations

import numpy as np

from qsim_topo.experiments.sweep import SweepSpec

# Timing fields differ between runs; everything else must be identical for the same seeds.
VOLATILE = {
    "wall_time_s", "exact_wall_time_s", "exact_layer_time_s", "time_ratio", "finished_at",
}

SMALL = SweepSpec(
    qubits=(3, 4), depths=(1, 2, 4), engines=("exact", "fp32", "cr-sampling:ratio=0.5"),
    seeds=(0, 1), samples=200, haar_states=4,
)


def _stable_value(field, value):
    # The "compute claim" diagnostic is derived from measured wall times (time_ratio), so
    # like them it may differ between a run and its rerun on a loaded machine.
    if field == "diagnostics" and isinstance(value, list):
        return [d for d in value if not str(d).startswith("compute claim")]
    return value


def stable(rows):
    return {
        r["key"]: {k: _stable_value(k, v) for k, v in r.items() if k not in VOLATILE}
        for r in rows
    }


def same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        for field, value in a[key].items():
            other = b[key][field]
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(other), (key, field)
            else:
                assert value == other, (key, field, value, other)
