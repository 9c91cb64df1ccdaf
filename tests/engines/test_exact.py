from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.xp import get_xp, to_numpy
from tests.conftest import devices


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64, np.float64])
def test_exact_matches_numpy(rng, device, dtype):
    xp = get_xp(device)
    imag = 1j if np.issubdtype(dtype, np.complexfloating) else 0
    a_h = (rng.standard_normal((17, 9)) + imag * rng.standard_normal((17, 9))).astype(dtype)
    b_h = (rng.standard_normal((9, 5)) + imag * rng.standard_normal((9, 5))).astype(dtype)
    a, b = xp.asarray(a_h), xp.asarray(b_h)
    a_copy, b_copy = a.copy(), b.copy()
    out = get_engine("exact").matmul(a, b)
    assert out.dtype == np.dtype(dtype) and out.shape == (17, 5)
    ref = a_h.astype(np.complex128) @ b_h.astype(np.complex128)
    tol = 1e-5 if dtype == np.complex64 else 1e-13
    assert np.linalg.norm(to_numpy(out) - ref) / np.linalg.norm(ref) < tol
    assert np.array_equal(to_numpy(a), to_numpy(a_copy))  # inputs untouched
    assert np.array_equal(to_numpy(b), to_numpy(b_copy))


def test_exact_flops_fraction():
    assert get_engine("exact").flops_fraction(10, 20, 30) == 1.0
