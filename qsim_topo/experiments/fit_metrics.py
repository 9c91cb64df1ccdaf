"""What a noise-equivalence fit reads from a sweep's rows: metrics, floors, configurations.

The metrics that carry a fidelity decay, the value a completely depolarized output gives for
each (the floor), how a row's value of each is read (rows of any sweep mode: absent columns are
absent metrics), the fields that make a configuration, the Student-t interval over seeds, and
the two-qubit gates per layer of a layer kind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qsim_topo.experiments.summary import GROUP_FIELDS

__all__ = [
    "CONFIG_FIELDS",
    "FIT_METRICS",
    "gates_per_layer",
    "metric_floor",
    "metric_value",
    "t_interval",
]

#: Fields that identify a configuration (those present in the rows are used): the summary's
#: grouping fields, less the depth that a fit runs over.
CONFIG_FIELDS = tuple(f for f in GROUP_FIELDS if f != "depth")
#: Metrics fitted, in order of preference for the headline figure.
FIT_METRICS = ("state_fidelity", "haar_input_fidelity", "process_fidelity", "xeb_normalised")


def metric_floor(metric: str, dim: int) -> float:
    """The value of ``metric`` for a completely depolarized output of dimension ``dim``."""
    if metric in ("state_fidelity", "haar_input_fidelity"):
        return 1.0 / dim
    if metric == "process_fidelity":
        return 1.0 / dim**2
    if metric == "xeb_normalised":
        return 0.0
    raise ValueError(f"unknown fit metric {metric!r}; expected one of {', '.join(FIT_METRICS)}")


def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float | np.floating | np.integer):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def metric_value(row: Mapping[str, Any], metric: str) -> float | None:
    """The value of ``metric`` in ``row``, or None when the row does not carry it.

    ``xeb_normalised`` is taken from the row when present, else computed as the
    infinite-sample XEB over the ideal sampler's mean (``xeb_infinite / xeb_ideal_mean``: for
    depolarizing noise exactly alpha^D), else from the sampled ``xeb``.
    """
    if metric != "xeb_normalised":
        return _finite(row.get(metric))
    direct = _finite(row.get("xeb_normalised"))
    if direct is not None:
        return direct
    ideal = _finite(row.get("xeb_ideal_mean"))
    measured = _finite(row.get("xeb_infinite"))
    if measured is None:
        measured = _finite(row.get("xeb"))
    if ideal is None or measured is None or ideal <= 0:
        return None
    return measured / ideal


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval (lo, hi) of ``values``; (mean, nan, nan) for one value."""
    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    from scipy import stats

    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1)) * float(v.std(ddof=1))
    half /= math.sqrt(v.size)
    return mean, mean - half, mean + half


def gates_per_layer(qubits: int, kind: str, depth: int, mode: str | None = None) -> float | None:
    """Mean number of two-qubit gates per layer (per cycle in state mode) over ``depth``, or None.

    None for dense layers (one 2^n unitary: no gate decomposition to count) and for kinds the
    layer generator (the circuit families, in mode ``"state"``) does not know, such as a
    QASM circuit's. Counted on generated layers (the family's own gate counts), so it follows
    the generator.
    """
    if mode == "state":
        from qsim_topo.errors import FamilyError
        from qsim_topo.families import make_family

        cycles = max(depth, 1)
        try:
            two = make_family(kind, qubits, 0).gate_counts(cycles)["2q"]
        except FamilyError:
            return None
        return two / cycles if two > 0 else None
    if kind == "dense":
        return 1.0 if qubits == 2 else None  # one 4x4 unitary is one two-qubit gate
    from qsim_topo.layers import layer_stack

    try:
        counts = [
            sum(1 for op in layer.ops if len(op.qubits) == 2)
            for layer in layer_stack(qubits, max(depth, 2), kind, seed=0)
        ]
    except ValueError:
        return None
    g = float(np.mean(counts))
    return g if g > 0 else None
