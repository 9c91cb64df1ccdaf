"""Helpers of the Qiskit-layer tests: references, tolerances, where the corpus lives."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit

# The peer corpus lives beside the checkout (../shared/qasmbench), never inside it.
QASMBENCH = Path(__file__).resolve().parents[2] / ".." / "shared" / "qasmbench"


def permute_state_to_virtual(data: np.ndarray, final_index_layout: list[int]) -> np.ndarray:
    """Reorder a state whose virtual qubit i sits on physical qubit final_index_layout[i]
    into virtual order (qubit i = bit i)."""
    n = len(final_index_layout)
    tensor = np.asarray(data).reshape((2,) * n)  # axis a <-> qubit n-1-a
    # new axis for virtual qubit i (axis n-1-i) takes the old axis of physical p = layout[i]
    axes = [n - 1 - final_index_layout[n - 1 - a] for a in range(n)]
    return np.transpose(tensor, axes).reshape(-1)


def two_sample_chi2_pvalue(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """p-value of the two-sample chi-square test that counts `a` and `b` come from the same
    distribution (unequal totals allowed); bins with fewer than 5 expected counts are pooled."""
    from scipy.stats import chi2

    keys = sorted(set(a) | set(b))
    na, nb = sum(a.values()), sum(b.values())
    ka, kb = math.sqrt(nb / na), math.sqrt(na / nb)
    stat, dof = 0.0, -1
    pooled_a = pooled_b = 0
    for k in keys:
        x, y = a.get(k, 0), b.get(k, 0)
        if x + y < 10:
            pooled_a += x
            pooled_b += y
            continue
        stat += (ka * x - kb * y) ** 2 / (x + y)
        dof += 1
    if pooled_a + pooled_b:
        stat += (ka * pooled_a - kb * pooled_b) ** 2 / (pooled_a + pooled_b)
        dof += 1
    if dof <= 0:
        return 1.0
    return float(chi2.sf(stat, dof))


def counts_tvd(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Total variation distance of two empirical distributions."""
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


def mixing_circuit() -> QuantumCircuit:
    """A 3-qubit circuit whose every gate moves amplitude (random engines differ on it)."""
    qc = QuantumCircuit(3)
    qc.h([0, 1, 2])
    qc.cx(0, 1)
    qc.ry(0.3, 2)
    qc.cx(1, 2)
    qc.rz(0.5, 0)
    qc.h(1)
    return qc
