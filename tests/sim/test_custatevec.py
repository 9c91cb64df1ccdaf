"""cuStateVec (optional): checked against numpy on a device; no mocks. Without a GPU only the
refusal of a missing library is tested here."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qsim_topo.cli.doctor import _reference
from qsim_topo.engines import get_engine
from qsim_topo.errors import QsimTopoError
from qsim_topo.layers import haar_unitary
from qsim_topo.sim import custatevec
from qsim_topo.sim.gpu_kernels import apply_block_gpu, block_path

TOL = {"complex64": 2e-5, "complex128": 1e-12}
needs_custatevec = pytest.mark.skipif(custatevec.custatevec_version() is None,
                                      reason="cuStateVec is not installed")


@pytest.mark.skipif(custatevec.custatevec_version() is not None, reason="cuStateVec is here")
def test_missing_library_is_a_clear_error():
    state = np.zeros(4, dtype=np.complex64)
    with pytest.raises(QsimTopoError, match=r"qsim_topo\[custatevec\]"):
        custatevec.apply_matrix(state, np.eye(2, dtype=np.complex64), (0,))
    assert custatevec.custatevec_info() is None


@pytest.mark.gpu
@needs_custatevec
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_apply_matrix_matches_numpy_on_every_permutation(dtype, rng):
    import cupy as cp

    n = 6
    for k in range(1, 5):
        for qubits in itertools.permutations(range(n), k):
            u = haar_unitary(2**k, seed=rng).astype(dtype)
            psi = (rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)).astype(dtype)
            state = cp.asarray(psi)
            custatevec.apply_matrix(state, cp.asarray(u), qubits)
            got = cp.asnumpy(state).astype(np.complex128)
            want = _reference(psi, u, qubits)
            assert np.max(np.abs(got - want)) <= TOL[dtype] * np.max(np.abs(want)), qubits


@pytest.mark.gpu
@needs_custatevec
def test_exact_blocks_go_to_custatevec_above_the_threshold(rng):
    import cupy as cp

    info = custatevec.custatevec_info()
    assert info["math_mode"] in ("DISALLOW_FP32_EMULATED_BF16X9",) or "no math modes" in \
        info["math_mode"]
    assert block_path(10, min_qubits=10) == "custatevec"
    n, qubits = 10, (7, 2, 4)
    u = haar_unitary(8, seed=rng)
    psi = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
    state = cp.asarray(psi)
    apply_block_gpu(get_engine("exact"), state, cp.asarray(u), qubits, n, 1, custatevec_min=10)
    np.testing.assert_allclose(cp.asnumpy(state), _reference(psi, u, qubits), atol=1e-12)
