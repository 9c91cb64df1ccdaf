"""Every registered kernel against apply_operator (the reference), as PennyLane Lightning's
Test_GateImplementations_CompareKernels does: every block kernel on every qubit permutation of
1- to 5-qubit blocks, every tile kernel on tiles, complex64 and complex128, states and columns."""

from __future__ import annotations

from itertools import combinations, permutations

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.engines.base import CheckedEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.layers import haar_unitary
from qsim_topo.sim.apply import apply_operator
from qsim_topo.sim.kernels import (
    KERNELS,
    BlockKernel,
    KernelPolicy,
    TileKernel,
    apply_inplace,
    get_kernel,
    register_kernel,
)
from qsim_topo.xp import gpu_available, to_numpy

EXACT = get_engine("exact")
DTYPES = [(np.complex128, 1e-12), (np.complex64, 2e-5)]
N = 6  # 2^6 amplitudes


def _qubit_orders(k):
    """Every order of k scattered qubits, and every set of k qubits of N in ascending order."""
    spread = (5, 0, 3, 1, 4)[:k]
    return list(permutations(spread)) + list(combinations(range(N), k))


def _param(kernel):
    marks = []
    if kernel.family == "cuda":
        marks.append(pytest.mark.gpu)
        marks.append(pytest.mark.skipif(not gpu_available(), reason="needs a CUDA device"))
    elif not kernel.available():
        marks.append(pytest.mark.skip(reason=f"{kernel.family} cannot load here"))
    return pytest.param(kernel.name, marks=marks, id=kernel.name)


BLOCK = [_param(k) for k in KERNELS.values() if isinstance(k, BlockKernel)]
TILE = [_param(k) for k in KERNELS.values() if isinstance(k, TileKernel)]


def _xp(kernel):
    if kernel.device == "gpu":
        import cupy

        return cupy
    return np


def test_registry_holds_every_family():
    assert {k.family for k in KERNELS.values()} == {"numpy", "numba", "cuda"}
    assert {"gather", "chunks", "numba-block", "cuda-block", "numba-tile"} <= set(KERNELS)


@pytest.mark.parametrize("name", BLOCK)
@pytest.mark.parametrize("dtype,atol", DTYPES)
@pytest.mark.parametrize("k,cols", [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (2, 4), (5, 4)])
def test_block_kernel_on_every_qubit_permutation(name, dtype, atol, k, cols, rng):
    kernel = get_kernel(name)
    xp = _xp(kernel)
    shape = (2**N,) if cols == 1 else (2**N, cols)
    psi = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    matrix = haar_unitary(2**k, seed=k)
    engine = CheckedEngine(EXACT, check_inputs=False, check_finite=False)
    for qubits in _qubit_orders(k):
        want = apply_operator(EXACT, psi.astype(np.complex128), matrix, qubits, N)
        state = xp.asarray(psi.copy())
        kernel.apply(engine, state, xp.asarray(matrix, dtype=dtype), qubits, N, 64 * cols)
        np.testing.assert_allclose(
            to_numpy(state), want, rtol=0, atol=atol * 10, err_msg=f"{name} {qubits=}"
        )


def _random_tile_gates(rng, tile, count):
    gates = []
    for i in range(count):
        k = int(rng.integers(1, min(3, len(tile)) + 1))
        qs = tuple(sorted(int(q) for q in rng.choice(tile, k, replace=False)))
        gates.append((haar_unitary(2**k, seed=i), qs))
    return gates


@pytest.mark.parametrize("name", TILE)
@pytest.mark.parametrize("dtype,atol", DTYPES)
@pytest.mark.parametrize(
    "n,tile,cols",
    [
        (6, (0, 1, 2), 1),
        (6, (1, 3, 5), 1),
        (8, (0, 2, 5, 7), 1),
        (9, (3, 4, 6, 8), 2),
        (6, (0, 1, 2, 3, 4, 5), 1),
    ],
    ids=str,
)
def test_tile_kernel_against_the_gates_one_by_one(name, dtype, atol, n, tile, cols, rng):
    kernel = get_kernel(name)
    xp = _xp(kernel)
    shape = (2**n,) if cols == 1 else (2**n, cols)
    psi = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    gates = _random_tile_gates(rng, tile, 12)
    want = psi.astype(np.complex128)
    for matrix, qs in gates:
        want = apply_operator(EXACT, want, matrix, qs, n)
    state = xp.asarray(psi.copy())
    cast = [(xp.asarray(m, dtype=dtype), qs) for m, qs in gates]
    kernel.apply(EXACT, state, cast, tuple(sorted(tile)), cols, 0)
    np.testing.assert_allclose(to_numpy(state), want, rtol=0, atol=atol * 20)


@pytest.mark.parametrize("name", BLOCK)
def test_policy_forcing_a_kernel_runs_it(name, rng):
    kernel = get_kernel(name)
    xp = _xp(kernel)
    psi = rng.standard_normal(2**N) + 1j * rng.standard_normal(2**N)
    state = xp.asarray(psi.copy())
    used: dict[str, int] = {}
    apply_inplace(EXACT, state, haar_unitary(4, seed=3), (4, 1), N,
                  kernels=KernelPolicy(block=name), used=used)
    assert used == {name: 1}
    want = apply_operator(EXACT, psi, haar_unitary(4, seed=3), (4, 1), N)
    np.testing.assert_allclose(to_numpy(state), want, atol=1e-12)


def test_default_policy_choices():
    small = np.zeros(2**6, dtype=np.complex128)
    large = np.zeros(2**14, dtype=np.complex128)
    policy = KernelPolicy()
    assert policy.block_kernel(small, (0, 3), 6).name == "gather"
    assert policy.block_kernel(large, (0, 1), 14).name == "chunks"  # one run of targets
    scattered = policy.block_kernel(large, (0, 7), 14).name
    assert scattered == ("numba-block" if policy.uses_numba() else "chunks")
    numpy_only = KernelPolicy(numba=False)
    assert numpy_only.block_kernel(large, (0, 7), 14).name == "chunks"
    assert numpy_only.family("cpu") == "numpy" and not numpy_only.tiles_available("cpu")
    assert KernelPolicy().family("gpu") == "cuda"
    assert KernelPolicy(tile="per-gate").tile_kernel(large, 4) is None


def test_registry_refuses_duplicates_and_unknown_names():
    with pytest.raises(QsimTopoError, match="already registered"):
        register_kernel(KERNELS["chunks"])
    with pytest.raises(QsimTopoError, match="unknown kernel 'nope'; registered: chunks"):
        get_kernel("nope")
    with pytest.raises(QsimTopoError, match="not a block kernel"):
        KernelPolicy(block="numba-tile").block_kernel(np.zeros(4, complex), (0,), 2)
