from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines.complex_adapter import (
    adapter_fraction,
    check_bool,
    check_choice,
    check_int,
    check_ratio,
    complex_matmul,
    exact_complex_flops,
    matmul_real_left,
    matmul_real_right,
    real_dtype_of,
)
from qsim_topo.errors import EngineOptionError
from qsim_topo.xp import get_xp, to_numpy
from tests.conftest import devices


class _CountingKernel:
    """Exact real kernel that records what it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, a, b):
        assert a.dtype.kind == "f" and b.dtype.kind == "f", "a real kernel got complex input"
        self.calls.append((a.shape, b.shape))
        return a @ b


def _complex(rng, shape, dtype=np.complex128):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize(("mode", "calls"), [("4m", 4), ("3m", 3)])
def test_complex_product_from_real_kernel(rng, device, mode, calls):
    xp = get_xp(device)
    a_h, b_h = _complex(rng, (7, 11)), _complex(rng, (11, 5))
    kernel = _CountingKernel()
    out = complex_matmul(kernel, xp.asarray(a_h), xp.asarray(b_h), mode=mode)
    assert len(kernel.calls) == calls
    assert out.dtype == np.complex128
    np.testing.assert_allclose(to_numpy(out), a_h @ b_h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("complex_a", "complex_b", "calls"), [(False, False, 1), (True, False, 2), (False, True, 2)]
)
def test_real_operands_need_fewer_products(rng, complex_a, complex_b, calls):
    a = _complex(rng, (6, 4)) if complex_a else rng.standard_normal((6, 4))
    b = _complex(rng, (4, 3)) if complex_b else rng.standard_normal((4, 3))
    kernel = _CountingKernel()
    out = complex_matmul(kernel, a, b)
    assert len(kernel.calls) == calls
    assert out.dtype == np.result_type(a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)


def test_mixed_precision_result_dtype(rng):
    a = _complex(rng, (3, 4), np.complex64)
    b = rng.standard_normal((4, 2))
    assert complex_matmul(_CountingKernel(), a, b).dtype == np.complex128


def test_kernel_cannot_modify_the_operands(rng):
    a, b = _complex(rng, (5, 6)), _complex(rng, (6, 4))
    a0, b0 = a.copy(), b.copy()

    def vandal(x, y):
        out = x @ y
        x[...] = 0  # the adapter hands over copies of the parts
        y[...] = 0
        return out

    complex_matmul(vandal, a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


def test_3m_amplifies_kernel_error_on_imaginary_part(rng):
    """Gauss's trick forms Im as T3 - T1 - T2: a noisy kernel's error there is larger."""
    a, b = _complex(rng, (40, 40)), _complex(rng, (40, 40))
    noise = np.random.default_rng(1)

    def noisy(x, y):
        out = x @ y
        return out + 1e-3 * np.linalg.norm(out) / 40 * noise.standard_normal(out.shape)

    ref = a @ b

    def im_err(mode):
        return np.mean(
            [np.linalg.norm(complex_matmul(noisy, a, b, mode=mode).imag - ref.imag)
             for _ in range(10)]
        )

    assert im_err("3m") > 1.2 * im_err("4m")


def test_bad_mode_is_refused(rng):
    with pytest.raises(EngineOptionError, match="complex_mode"):
        complex_matmul(_CountingKernel(), np.eye(2), np.eye(2), mode="2m")


@pytest.mark.parametrize("device", devices())
def test_real_sketch_products(rng, device):
    xp = get_xp(device)
    a, r, b = _complex(rng, (6, 9)), rng.standard_normal((9, 4)), _complex(rng, (9, 5))
    right = matmul_real_right(xp.asarray(a), xp.asarray(r))
    left = matmul_real_left(xp.asarray(r.T), xp.asarray(b))
    np.testing.assert_allclose(to_numpy(right), a @ r, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(left), r.T @ b, rtol=1e-12)
    assert matmul_real_right(a.real, r).dtype == np.float64


def test_costs():
    assert exact_complex_flops(2, 3, 4) == 192
    m = k = n = 100
    # An exact real kernel (2 m k n flops) through 4m is the exact work plus the 2mn combination.
    assert adapter_fraction(2.0 * m * k * n, m, k, n, "4m") == pytest.approx(1 + 2 / (8 * k))
    assert adapter_fraction(2.0 * m * k * n, m, k, n, "3m") == pytest.approx(
        0.75 + (m * k + k * n + 3 * m * n) / (8 * m * k * n)
    )


def test_real_dtype_of():
    assert real_dtype_of(np.complex64) == np.float32
    assert real_dtype_of(np.complex128) == np.float64
    assert real_dtype_of(np.float32) == np.float32
    assert real_dtype_of(np.int64) == np.float64


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, float("nan"), "0.5", True, None])
def test_check_ratio_refuses(bad):
    with pytest.raises(EngineOptionError, match="ratio"):
        check_ratio(bad)


@pytest.mark.parametrize("good", [1, 1.0, 0.5, 1e-9])
def test_check_ratio_accepts(good):
    assert check_ratio(good) == float(good)


def test_other_checks():
    assert check_int("n", 3, 1) == 3 and check_int("n", 4.0, 1) == 4
    for bad in (0, 2.5, "3", True):
        with pytest.raises(EngineOptionError, match="n must be"):
            check_int("n", bad, 1)
    assert check_choice("fill", "zero", ("zero", "interp")) == "zero"
    with pytest.raises(EngineOptionError, match="'zero', 'interp'"):
        check_choice("fill", "cubic", ("zero", "interp"))
    with pytest.raises(EngineOptionError):
        check_choice("axis", True, (0, 1))  # True == 1, but it is not an axis
    assert check_bool("replace", False) is False
    with pytest.raises(EngineOptionError):
        check_bool("replace", 1)


def test_integer_options_take_numpy_integers_and_are_capped():
    from qsim_topo.engines.base import get_engine
    from qsim_topo.errors import EngineOptionError

    engine = get_engine("lowrank", ratio=0.5, power_iterations=np.int64(2), seed=np.int64(1))
    assert engine.power_iterations == 2
    for options in ({"power_iterations": 10**30}, {"oversampling": 2**40},
                    {"power_iterations": True}, {"seed": True}, {"seed": []}):
        with pytest.raises(EngineOptionError):
            get_engine("lowrank", ratio=0.5, **options)
    with pytest.raises(EngineOptionError, match=r"iterations must be an integer in 0\.\.10000"):
        get_engine("pq", iterations=10**6)
