from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.engines.precision import FORMATS, round_to_format, split_to_format
from qsim_topo.errors import EngineOptionError
from qsim_topo.xp import get_xp, to_numpy

REDUCED = ["tf32", "fp16", "bf16", "3xtf32", "bf16x3", "bf16x9"]


def _reference_round(x: np.ndarray, fraction_bits: int) -> np.ndarray:
    """Independent RNE to ``fraction_bits`` for normal float32 values, done in float64:
    scale by the value's binade so the kept bits are the integer part, np.rint (half to even)."""
    x64 = x.astype(np.float64)
    _, exp = np.frexp(x64)  # x = mant * 2^exp, 0.5 <= |mant| < 1
    ulp = np.ldexp(1.0, exp - 1 - fraction_bits)
    return (np.rint(x64 / ulp) * ulp).astype(np.float32)


def _wide_values(rng, size=20000) -> np.ndarray:
    return (rng.standard_normal(size) * np.exp(rng.uniform(-30, 30, size))).astype(np.float32)


@pytest.mark.parametrize("fmt", ["tf32", "bf16"])
def test_rounding_matches_independent_reference(rng, fmt):
    x = _wide_values(rng)
    got = round_to_format(x, fmt)
    np.testing.assert_array_equal(got, _reference_round(x, FORMATS[fmt].fraction_bits))


def test_fp16_rounding_is_numpy_half(rng):
    x = np.concatenate(
        [
            _wide_values(rng),
            np.array([65504, 65519, 65520, -65520, 1e6, 2.0**-24, 1.5 * 2.0**-24, 2.0**-26,
                      3 * 2.0**-25, 2.0**-14 * (1 - 2.0**-12)], dtype=np.float32),
        ]
    )
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(round_to_format(x, "fp16"), expected)


def test_ties_go_to_even():
    one = np.float32(1.0)
    x = np.array([one + 2.0**-8, one + 3 * 2.0**-8, -(one + 2.0**-8)], dtype=np.float32)
    np.testing.assert_array_equal(
        round_to_format(x, "bf16"), np.array([1.0, 1 + 2.0**-6, -1.0], dtype=np.float32)
    )


def test_special_values_and_overflow():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, np.finfo(np.float32).max],
                 dtype=np.float32)
    y = round_to_format(x, "bf16")
    assert y[0] == np.inf and y[1] == -np.inf and np.isnan(y[2])
    assert y[3] == 0 and np.signbit(y[4])
    assert y[5] == np.inf  # rounds past float32's largest value, as bf16 does
    assert round_to_format(np.array([7e4], dtype=np.float32), "fp16")[0] == np.inf


def test_rounding_needs_float32_and_leaves_input_alone(rng):
    x = _wide_values(rng, 100)
    x0 = x.copy()
    round_to_format(x, "bf16")
    assert np.array_equal(x, x0)
    with pytest.raises(TypeError):
        round_to_format(x.astype(np.float64), "bf16")


def test_splits_carry_more_bits(rng):
    x = (rng.standard_normal(5000)).astype(np.float32)
    hi, lo = split_to_format(x, "bf16", 2)
    rel2 = np.max(np.abs((hi.astype(np.float64) + lo) - x) / np.abs(x))
    assert 2.0**-19 < rel2 <= 2.0**-16
    three = split_to_format(x, "bf16", 3)
    assert np.array_equal(sum(p.astype(np.float64) for p in three), x)  # 24 bits: exact
    hi, lo = split_to_format(x, "tf32", 2)
    assert np.max(np.abs((hi.astype(np.float64) + lo) - x) / np.abs(x)) <= 2.0**-22
    for piece in three:
        assert np.array_equal(round_to_format(piece, "bf16"), piece)  # each piece is bf16


@pytest.mark.parametrize("name", ["tf32", "fp16", "bf16"])
def test_products_accumulate_in_float32_not_in_the_format(rng, name):
    """The result is the float64 product of the rounded operands up to float32 accumulation,
    i.e. the rounding applies to the inputs only (tensor-core numerics)."""
    a = rng.standard_normal((30, 200))
    b = rng.standard_normal((200, 20))
    fmt = FORMATS[name]
    ra = round_to_format(a.astype(np.float32), fmt).astype(np.float64)
    rb = round_to_format(b.astype(np.float32), fmt).astype(np.float64)
    out = get_engine(name).matmul(a, b)
    ref_rounded = ra @ rb
    assert np.linalg.norm(out - ref_rounded) / np.linalg.norm(ref_rounded) < 1e-6
    assert np.linalg.norm(out - a @ b) / np.linalg.norm(a @ b) > 1e-5


@pytest.mark.parametrize("name", REDUCED)
def test_3m_mode_is_close_to_4m(rng, name):
    a = rng.standard_normal((20, 30)) + 1j * rng.standard_normal((20, 30))
    b = rng.standard_normal((30, 10)) + 1j * rng.standard_normal((30, 10))
    ref = a @ b
    e4 = np.linalg.norm(get_engine(name).matmul(a, b) - ref)
    e3 = np.linalg.norm(get_engine(name, complex_mode="3m").matmul(a, b) - ref)
    assert e3 < 4 * e4 and e3 > 0


def test_fp32_on_single_precision_input_is_exact(rng):
    a = (rng.standard_normal((8, 9)) + 1j * rng.standard_normal((8, 9))).astype(np.complex64)
    b = (rng.standard_normal((9, 4)) + 1j * rng.standard_normal((9, 4))).astype(np.complex64)
    assert np.array_equal(get_engine("fp32").matmul(a, b), a @ b)


def test_complex_mode_option_is_validated():
    with pytest.raises(EngineOptionError, match="complex_mode"):
        get_engine("bf16", complex_mode="5m")
    with pytest.raises(EngineOptionError):
        get_engine("fp32", complex_mode="3m")  # native complex64: no such option


def test_flops_fractions_follow_the_documented_weights():
    n = 2048

    def frac(name, **o):
        return get_engine(name, **o).flops_fraction(n, n, n)

    assert frac("fp32") == pytest.approx(0.5, abs=1e-3)
    assert frac("tf32") == pytest.approx(19 / 64, abs=1e-2)
    assert frac("bf16") == pytest.approx(0.25, abs=1e-2)
    assert frac("fp16") == pytest.approx(0.25, abs=1e-2)
    assert frac("3xtf32") == pytest.approx(3 * 19 / 64, abs=1e-2)
    assert frac("bf16x3") == pytest.approx(0.75, abs=1e-2)
    assert frac("bf16x9") == pytest.approx(2.25, abs=2e-2)
    assert frac("bf16", complex_mode="3m") == pytest.approx(0.75 * 0.25, abs=1e-2)
    # Overheads make small products relatively dearer.
    assert get_engine("bf16").flops_fraction(4, 4, 4) > frac("bf16")


@pytest.mark.gpu
@pytest.mark.parametrize("name", REDUCED)
def test_tensor_cores_match_the_cpu_emulation(rng, name):
    xp = get_xp("gpu")
    a = rng.standard_normal((64, 256)) + 1j * rng.standard_normal((64, 256))
    b = rng.standard_normal((256, 48)) + 1j * rng.standard_normal((256, 48))
    cpu = get_engine(name).matmul(a, b)
    gpu = to_numpy(get_engine(name).matmul(xp.asarray(a), xp.asarray(b)))
    # Same rounded inputs; only the order of the float32 accumulation differs.
    assert np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu) < 2e-6
