"""The contract guard (qsim_topo/engines/checked.py), also re-exported by engines.base."""

from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import base
from qsim_topo.engines.base import EngineBase, get_engine
from qsim_topo.engines.checked import CheckedEngine
from qsim_topo.errors import EngineError, NonFiniteResultError


def test_base_still_exports_the_guard():
    assert base.CheckedEngine is CheckedEngine


class _Broken(EngineBase):
    name = "test-broken"

    def __init__(self, *, mode: str = "nan") -> None:
        super().__init__(mode=mode)
        self.mode = mode

    def matmul(self, a, b, /):
        out = a @ b
        if self.mode == "nan":
            out[0, 0] = np.nan
        elif self.mode == "inf":
            out[-1, -1] = np.inf
        elif self.mode == "shape":
            out = out[:-1]
        elif self.mode == "dtype":
            out = out.astype(np.complex64)
        return out


@pytest.mark.parametrize("mode", ["nan", "inf"])
def test_non_finite_results_raise_naming_the_engine(rng, mode):
    checked = CheckedEngine(_Broken(mode=mode))
    a = rng.standard_normal((3, 3)) + 0j
    with pytest.raises(NonFiniteResultError, match=r"test-broken.*1 NaN/Inf.*from finite inputs"):
        checked.matmul(a, a)


def test_non_finite_inputs_are_named_as_such(rng):
    a = rng.standard_normal((3, 3)) + 0j
    a[1, 1] = np.nan
    with pytest.raises(NonFiniteResultError, match="inputs already held NaN"):
        CheckedEngine(get_engine("exact")).matmul(a, a)


@pytest.mark.parametrize("mode", ["shape", "dtype"])
def test_contract_breaches_raise(rng, mode):
    a = rng.standard_normal((3, 3)) + 0j
    with pytest.raises(EngineError, match="expected shape"):
        CheckedEngine(_Broken(mode=mode)).matmul(a, a)


def test_operands_that_do_not_chain(rng):
    with pytest.raises(EngineError, match="do not chain"):
        CheckedEngine(get_engine("exact")).matmul(np.ones((2, 3)), np.ones((2, 3)))


@pytest.mark.parametrize("shape", [(0, 3, 2), (3, 0, 2), (3, 2, 0)])
def test_empty_products_pass_through_every_engine(shape):
    from qsim_topo import available_engines

    m, k, n = shape
    for name in available_engines():
        checked = CheckedEngine(get_engine(name))
        out = checked.matmul(np.ones((m, k), dtype=complex), np.ones((k, n), dtype=complex))
        assert out.shape == (m, n), name
        assert np.all(out == 0), name  # an empty inner dimension sums to zero
        assert checked.calls == 1 and checked.total_flops_fraction == 1.0
