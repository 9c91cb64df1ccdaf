"""The GPU block kernels without a GPU: their logic under numba's CUDA simulator, compared with
numpy, and their compilation to PTX for sm_80 and sm_90 (no driver needed)."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qsim_topo.errors import QsimTopoError
from qsim_topo.sim import gpu_kernels
from qsim_topo.sim.gpu_kernels import (
    CUSTATEVEC_MIN_QUBITS,
    CUSTATEVEC_MIN_QUBITS_ENV,
    KERNEL_DTYPES,
    MAX_KERNEL_QUBITS,
    apply_block_gpu,
    block_path,
    custatevec_min_qubits,
)

ROOT = Path(__file__).resolve().parents[2]
numba_cuda = pytest.importorskip("numba_cuda", reason="needs numba-cuda (the test extra)")


def test_kernels_match_numpy_under_the_cuda_simulator():
    # A subprocess: NUMBA_ENABLE_CUDASIM must be set before numba.cuda is first imported, and
    # this process compiles real PTX below.
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "sim" / "cudasim_blocks.py")],
        env=env, capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checked = int(re.search(r"checked (\d+), failed 0", proc.stdout).group(1))
    # 325 ordered target tuples on 5 qubits + 20 on 10 qubits + 3 with columns, 2 dtypes each.
    assert checked == 2 * (325 + 20 + 3)


@pytest.mark.parametrize("cc", [(8, 0), (9, 0)], ids=["sm_80", "sm_90"])
@pytest.mark.parametrize("dtype", KERNEL_DTYPES)
def test_every_kernel_compiles_to_ptx(cc, dtype):
    for k in range(1, MAX_KERNEL_QUBITS + 1):
        ptx = gpu_kernels.compile_block_ptx(k, dtype, cc)
        assert f".target sm_{cc[0]}{cc[1]}" in ptx
        entries = re.findall(r"\.visible \.entry (\S+)\(", ptx)
        assert len(entries) == 1 and f"apply_block_{k}_{dtype}" in entries[0]
        assert "ld.global" in ptx and "st.global" in ptx and "bar.sync" in ptx
        # The group of 2^k amplitudes stays in registers: a local-memory array would mean
        # every amplitude makes an extra round trip through (cached) device memory.
        assert ".local" not in ptx, f"k={k} {dtype} uses local memory"
        # The inner product over 2^k columns is unrolled: 4 real multiplies (some fused into
        # fma) per complex product of one row.
        muls = len(re.findall(r"\b(?:mul|fma)(?:\.rn)?\.f(?:32|64)\b", ptx))
        assert muls >= 4 * 2**k


def test_apply_block_gpu_refuses_wide_blocks_and_bad_input():
    state = np.zeros(2**7, dtype=np.complex64)
    with pytest.raises(QsimTopoError, match="at most 5 target qubits"):
        apply_block_gpu(None, state, np.eye(64, dtype=np.complex64), tuple(range(6)), 7, 1)
    with pytest.raises(QsimTopoError, match="distinct"):
        apply_block_gpu(None, state, np.eye(4, dtype=np.complex64), (1, 1), 7, 1)
    with pytest.raises(QsimTopoError, match="complex64/complex128"):
        gpu_kernels.launch_block(np.zeros(8, np.float32), np.eye(2, dtype=np.float32), (0,))
    with pytest.raises(QsimTopoError, match="matrix"):
        gpu_kernels.launch_block(state, np.eye(2, dtype=np.complex128), (0,))


def test_numpy_arrays_outside_the_simulator_are_refused():
    state = np.zeros(8, dtype=np.complex128)
    with pytest.raises(QsimTopoError, match="CUDA simulator"):
        gpu_kernels.launch_block(state, np.eye(2, dtype=np.complex128), (1,))


def test_custatevec_threshold_option(monkeypatch):
    monkeypatch.delenv(CUSTATEVEC_MIN_QUBITS_ENV, raising=False)
    assert custatevec_min_qubits() == CUSTATEVEC_MIN_QUBITS == 22
    monkeypatch.setenv(CUSTATEVEC_MIN_QUBITS_ENV, "18")
    assert custatevec_min_qubits() == 18
    monkeypatch.setenv(CUSTATEVEC_MIN_QUBITS_ENV, "off")
    assert custatevec_min_qubits() is None
    monkeypatch.setenv(CUSTATEVEC_MIN_QUBITS_ENV, "-3")
    with pytest.raises(QsimTopoError, match=CUSTATEVEC_MIN_QUBITS_ENV):
        custatevec_min_qubits()


def test_block_path_names_our_kernels_without_custatevec(monkeypatch):
    from qsim_topo.sim import custatevec

    monkeypatch.delenv(CUSTATEVEC_MIN_QUBITS_ENV, raising=False)
    if custatevec.custatevec_version() is not None:
        assert block_path(30) == "custatevec" and block_path(10) == "numba-cuda"
    else:
        assert block_path(30) == "numba-cuda"
    assert block_path(30, min_qubits=31) == "numba-cuda"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", KERNEL_DTYPES)
def test_kernels_on_the_device_match_numpy_through_apply_inplace(dtype, rng):
    import cupy as cp

    from qsim_topo.engines import get_engine
    from qsim_topo.engines.base import CheckedEngine
    from qsim_topo.layers import haar_unitary
    from qsim_topo.sim.kernels import apply_inplace
    from tests.conftest import embed

    n = 5
    tol = 2e-5 if dtype == "complex64" else 1e-12
    engine = CheckedEngine(get_engine("exact"))
    for k in range(1, MAX_KERNEL_QUBITS + 2):  # k = 6: the chunked cuBLAS path
        for qubits in itertools.permutations(range(n + 1 if k == 6 else n), k):
            n_q = max(n, k)
            u = haar_unitary(2**k, seed=rng)
            psi = rng.standard_normal(2**n_q) + 1j * rng.standard_normal(2**n_q)
            state = cp.asarray(psi.astype(dtype))
            apply_inplace(engine, state, cp.asarray(u.astype(dtype)), qubits, n_q)
            want = embed(u, qubits, n_q) @ psi
            got = cp.asnumpy(state).astype(np.complex128)
            assert np.max(np.abs(got - want)) <= tol * np.max(np.abs(want)), (k, qubits)
            if k == 6:
                break
