"""Derived seeds (qsim_topo/experiments/seeds.py)."""

from __future__ import annotations

import numpy as np

from qsim_topo.experiments import seeds


def test_derived_seeds_are_one_way_and_committed():
    s = seeds.derive_seed(7, seeds.ENGINE)
    assert s != 7 and s == seeds.derive_seed(7, seeds.ENGINE)
    assert len({seeds.derive_seed(7, p) for p in ("engine", "probes", "sampling", "shots")}) == 4
    a = np.zeros((4, 4), complex)
    b = a.copy()
    b[3, 3] = 1e-300
    assert seeds.array_digest(a) != seeds.array_digest(b)
    assert seeds.derive_seed(7, seeds.PROBES, seeds.array_digest(a)) != seeds.derive_seed(
        7, seeds.PROBES, seeds.array_digest(b)
    )


def test_none_draws_fresh_entropy():
    assert seeds.derive_seed(None, seeds.ENGINE) != seeds.derive_seed(None, seeds.ENGINE)
    assert 0 <= seeds.derive_seed(3, seeds.ENGINE) < 2**63
