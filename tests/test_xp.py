from __future__ import annotations

import numpy as np
import pytest

from qsim_topo import xp as xpmod
from qsim_topo.errors import InsufficientMemoryError, QsimTopoError


def test_cpu_namespace_is_numpy():
    assert xpmod.get_xp("cpu") is np
    assert xpmod.array_namespace(np.zeros(3)) is np
    assert xpmod.device_of(np.zeros(3)) == "cpu"


def test_auto_falls_back_to_cpu_without_gpu():
    expected = "gpu" if xpmod.gpu_available() else "cpu"
    assert xpmod.resolve_device("auto") == expected


def test_unknown_device_is_refused():
    with pytest.raises(QsimTopoError, match="unknown device 'tpu'"):
        xpmod.resolve_device("tpu")


@pytest.mark.skipif(xpmod.gpu_available(), reason="a GPU is present")
def test_gpu_without_device_names_the_problem():
    with pytest.raises(QsimTopoError, match="cupy"):
        xpmod.resolve_device("gpu")


def test_to_numpy_and_to_device_round_trip():
    a = np.arange(6, dtype=np.complex128).reshape(2, 3)
    assert np.array_equal(xpmod.to_numpy(a), a)
    b = xpmod.to_device(a, "cpu", dtype=np.complex64)
    assert b.dtype == np.complex64 and np.array_equal(b, a)


def test_seeded_generators_repeat():
    a = xpmod.random_normal(np, xpmod.as_generator(5), (4,))
    b = xpmod.random_normal(np, xpmod.as_generator(5), (4,))
    assert np.array_equal(a, b)
    g = np.random.default_rng(1)
    assert xpmod.as_generator(g) is g


def test_available_memory_is_positive_and_bounded():
    avail = xpmod.available_memory("cpu")
    assert 0 < avail < 2**50


def test_check_memory_refuses_before_allocating():
    with pytest.raises(InsufficientMemoryError) as info:
        xpmod.check_memory(2**60, "cpu", "a huge thing")
    msg = str(info.value)
    assert "a huge thing" in msg and "needs about" in msg and "available" in msg
    assert info.value.required == 2**60
    xpmod.check_memory(1024, "cpu", "a small thing")  # fits: no error


@pytest.mark.gpu
def test_gpu_namespace_round_trip():
    cp = xpmod.get_xp("gpu")
    a = cp.arange(4, dtype=cp.complex128)
    assert xpmod.array_namespace(a) is cp and xpmod.device_of(a) == "gpu"
    assert np.array_equal(xpmod.to_numpy(a), np.arange(4))


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 7, 64, 1000, 2**16])
def test_widen_complex64_inplace_is_astype(size):
    rng = np.random.default_rng(size)
    values = (rng.standard_normal(size) + 1j * rng.standard_normal(size)).astype(np.complex64)
    buffer = np.full(size, np.nan + 1j * np.nan)  # the back half must not leak through
    buffer.view(np.complex64)[:size] = values
    out = xpmod.widen_complex64_inplace(buffer)
    assert out is buffer and out.dtype == np.complex128
    np.testing.assert_array_equal(out, values.astype(np.complex128))


def test_widen_complex64_inplace_allocates_no_second_state():
    import tracemalloc

    size = 2**20  # 16 MiB of complex128
    buffer = np.zeros(size, dtype=np.complex128)
    buffer.view(np.complex64)[:size] = np.arange(size, dtype=np.float32)
    tracemalloc.start()
    try:
        xpmod.widen_complex64_inplace(buffer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size  # bytes: under 1/16 of the buffer (astype would need all 16 MiB)
    np.testing.assert_array_equal(buffer, np.arange(size, dtype=np.complex128))


def test_widen_complex64_inplace_refuses_other_buffers():
    for bad in (np.zeros(4, np.complex64), np.zeros((2, 2), complex), np.zeros(8, complex)[::2]):
        with pytest.raises(QsimTopoError, match="C-contiguous 1-D complex128 buffer"):
            xpmod.widen_complex64_inplace(bad)


def test_as_generator_refuses_bools_floats_lists_and_negatives():
    from qsim_topo.errors import ArgumentTypeError, InvalidArgumentError
    from qsim_topo.xp import as_generator

    assert as_generator(np.int64(3)).integers(100) == np.random.default_rng(3).integers(100)
    for bad in (True, 2.5, "1", [1, 2]):
        with pytest.raises(ArgumentTypeError, match="seed must be"):
            as_generator(bad)
    with pytest.raises(InvalidArgumentError, match="seed must be"):
        as_generator(-1)
