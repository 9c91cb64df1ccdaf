"""Counts and memory of the Qiskit results against a plain Counter of hex strings."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from qsim_topo.qiskit.results import _counts_and_memory


@pytest.mark.parametrize("n_clbits", [3, 40, 62, 63, 90])
@pytest.mark.parametrize("memory", [False, True])
def test_counts_and_memory_match_a_counter_of_hex_strings(n_clbits, memory):
    gen = np.random.default_rng(n_clbits)
    # Few distinct values, repeated, in random order; the largest values of the width too.
    distinct = [0, 1, 5, 2 ** (n_clbits - 1), 2**n_clbits - 1]
    distinct += [int(v) for v in gen.integers(0, 2 ** min(n_clbits, 62), 20)]
    values = [distinct[i] for i in gen.integers(0, len(distinct), 2000)]
    got = _counts_and_memory(values, n_clbits, memory=memory)
    want = Counter(hex(v) for v in values)
    assert got["counts"] == dict(want)
    assert sum(got["counts"].values()) == len(values)
    if memory:
        assert got["memory"] == [hex(v) for v in values]
    else:
        assert "memory" not in got


def test_one_shot():
    assert _counts_and_memory([6], 3, memory=True) == {"counts": {"0x6": 1}, "memory": ["0x6"]}
