"""`qsim-topo doctor`, in-process; its GPU checks run under the CUDA simulator in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qsim_topo import xp as xpmod
from qsim_topo.cli import doctor
from qsim_topo.cli.main import main
from qsim_topo.layers import haar_unitary
from tests.conftest import embed

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(xpmod.gpu_available(), reason="a GPU is present")
def test_without_a_gpu_one_line_and_exit_0(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("no GPU: ")


def test_the_doctors_reference_is_the_embedded_matrix(rng):
    for qubits in [(0,), (7,), (3, 1), (6, 0, 2), (1, 4, 7, 2, 5), (2, 5, 0, 7, 3, 6)]:
        u = haar_unitary(2 ** len(qubits), seed=rng)
        psi = rng.standard_normal(2**8) + 1j * rng.standard_normal(2**8)
        np.testing.assert_allclose(doctor._reference(psi, u, qubits),
                                   embed(u, qubits, 8) @ psi, atol=1e-12)


def test_a_wrong_path_fails_its_check(rng):
    def identity(state, mat, qubits):
        return state

    ok, detail = doctor._compare(np, identity, [(0, 3)], rng)
    assert ok is False and "2 qubits complex64" in detail and "complex128" in detail


def test_the_chunked_path_check_passes_on_a_correct_path(rng):
    # The same check the doctor runs on cupy, here on numpy (apply_inplace's CPU path).
    check = doctor._check_chunked(np, rng)
    assert check.ok is True, check.detail


def test_block_kernel_check_passes_under_the_cuda_simulator():
    pytest.importorskip("numba_cuda", reason="needs numba-cuda (the test extra)")
    code = ("import numpy as np; from qsim_topo.cli.doctor import check_block_kernels; "
            "c = check_block_kernels(np); print(c); raise SystemExit(0 if c.ok else 1)")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "10 blocks" in proc.stdout


@pytest.mark.gpu
def test_on_a_gpu_every_available_path_passes(capsys):
    status = main(["doctor"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "compute capability" in out and "driver" in out
    for path in ("products", "block kernels", "chunked products"):
        assert any(line.strip().startswith("ok") and path in line for line in out.splitlines())
