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


# --------------------------------------------------------------------------- plug-in faults
# The test-faulty plug-in (tests/faulty_engines.py) breaks the contract on one chosen call;
# every breach must come out as an EngineError naming the engine and the call.

MATMUL_MESSAGES = {
    "matmul": r"failed in matmul call 2 \(4, 4\) @ \(4, 4\): RuntimeError: boom at call 2",
    "list": r"returned a list from matmul call 2 .*expected an array",
    "shape": r"returned \(3, 4\) complex128 from matmul call 2 .*expected shape \(4, 4\)",
    "dtype": r"returned \(4, 4\) complex64 from matmul call 2 .*dtype complex128",
    "real": r"returned \(4, 4\) float64 from matmul call 2 .*dtype complex128",
    "nan": r"produced 1 NaN/Inf entries of 16 from finite inputs in matmul call 2",
    "mutate": r"modified its input operands in matmul call 2",
    "input": r"returned its input operand \(or a view of it\) from matmul call 2",
    "readonly": r"returned a read-only array from matmul call 2",
}


@pytest.mark.parametrize("fault", sorted(MATMUL_MESSAGES))
def test_each_matmul_fault_is_an_engine_error_naming_engine_and_call(faulty, rng, fault):
    checked = CheckedEngine(get_engine(faulty, fault=fault, at_call=2))
    a = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    b = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    np.testing.assert_allclose(checked.matmul(a, b), a @ b, rtol=1e-13)  # call 1 is fine
    with pytest.raises(EngineError, match=r"engine 'test-faulty' " + MATMUL_MESSAGES[fault]):
        checked.matmul(a, b)
    assert checked.calls == 1  # the failed product is not counted


def test_a_view_of_an_input_is_refused_like_the_input_itself(rng):
    class ViewEngine(EngineBase):
        name = "test-view"

        def matmul(self, a, b, /):
            return b[:, :]  # a new object, the caller's memory

    b = rng.standard_normal((3, 3)) + 0j
    with pytest.raises(EngineError, match="'test-view' returned its input operand"):
        CheckedEngine(ViewEngine()).matmul(np.eye(3, dtype=complex), b)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("flops", r"failed in flops_fraction\(4, 4, 4\): ZeroDivisionError: no fraction today"),
        ("flops-nan", r"returned nan from flops_fraction\(4, 4, 4\); expected a finite"),
        ("flops-inf", r"returned inf from flops_fraction\(4, 4, 4\); expected a finite"),
    ],
)
def test_flops_fraction_faults_name_engine_and_call(faulty, rng, fault, message):
    checked = CheckedEngine(get_engine(faulty, fault=fault))
    a = rng.standard_normal((4, 4)) + 0j
    with pytest.raises(EngineError, match=r"engine 'test-faulty' " + message):
        checked.matmul(a, a)
    with pytest.raises(EngineError, match=message):
        checked.flops_fraction(4, 4, 4)


def test_flops_fraction_that_is_no_number_is_refused():
    class Wordy(EngineBase):
        name = "test-wordy"

        def matmul(self, a, b, /):
            return a @ b

        def flops_fraction(self, m, k, n):
            return "half"

    with pytest.raises(EngineError, match="'test-wordy' returned str 'half' from flops_fraction"):
        CheckedEngine(Wordy()).flops_fraction(2, 2, 2)


def test_a_failing_constructor_is_an_engine_error_naming_it(faulty):
    with pytest.raises(EngineError, match="'test-faulty' failed in its constructor: RuntimeError"):
        get_engine(faulty, fault="init")


def test_a_result_of_another_array_library_is_refused(rng):
    class Foreign(EngineBase):
        name = "test-foreign"

        def matmul(self, a, b, /):
            return _Foreign(a @ b)

    a = rng.standard_normal((2, 2)) + 0j
    with pytest.raises(EngineError, match=r"'test-foreign' returned .* on another device"):
        CheckedEngine(Foreign()).matmul(a, a)


class _Foreign:
    """An array-like of no library qsim_topo knows: shape, dtype, ndim, sum, but no ndarray."""

    def __init__(self, data):
        self.data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim

    def sum(self):
        return self.data.sum()


def test_a_plugin_calling_sys_exit_is_an_engine_error(rng):
    class Quitter(EngineBase):
        name = "test-quitter"

        def matmul(self, a, b, /):
            raise SystemExit(3)

    a = rng.standard_normal((2, 2)) + 0j
    with pytest.raises(EngineError, match=r"'test-quitter' failed in matmul call 1.*SystemExit"):
        CheckedEngine(Quitter()).matmul(a, a)


class _PairsClaimed(EngineBase):
    """Claims ``batched_pairs`` and writes NaN into one product of the stack."""

    name = "test-pairs-nan"
    batched_pairs = True

    def matmul(self, a, b, /):
        out = a @ b
        out[..., 0, 0] = np.nan if out.ndim == 3 else out[..., 0, 0]
        return out


def _stacks(rng, batch=5, m=4, k=4, n=4):
    a = rng.normal(size=(batch, m, k)) + 1j * rng.normal(size=(batch, m, k))
    b = rng.normal(size=(batch, k, n)) + 1j * rng.normal(size=(batch, k, n))
    return a, b


def test_matmul_pairs_one_call_for_the_exact_engine(rng):
    a, b = _stacks(rng)
    checked = CheckedEngine(get_engine("exact"))
    out = checked.matmul_pairs(a, b)
    np.testing.assert_allclose(out, np.einsum("bij,bjk->bik", a, b), rtol=1e-13, atol=1e-13)
    assert checked.calls == 5  # counted as five (4, 4) @ (4, 4) products
    assert checked.exact_flops == 5 * 4 * 4 * 4


def test_matmul_pairs_loops_over_an_engine_without_the_claim(rng):
    a, b = _stacks(rng, batch=3, m=2, k=8, n=2)
    engine = get_engine("fp32")
    checked = CheckedEngine(engine)
    out = checked.matmul_pairs(a, b)
    for i in range(3):
        np.testing.assert_array_equal(out[i], engine.matmul(a[i], b[i]))
    assert checked.calls == 3


def test_matmul_pairs_checks_the_result_and_the_shapes(rng):
    a, b = _stacks(rng)
    with pytest.raises(NonFiniteResultError, match="test-pairs-nan"):
        CheckedEngine(_PairsClaimed()).matmul_pairs(a, b)
    with pytest.raises(EngineError, match="do not pair"):
        CheckedEngine(get_engine("exact")).matmul_pairs(a, b[:4])
