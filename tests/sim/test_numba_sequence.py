"""The tile kernel's short-run paths (gates on the lowest slot bits of a tile with few or no
lanes: gate2's short path, the diagonal and monomial kernels, 3-qubit gates, the one-tile
state) against numpy complex128 references: every qubit and pair, triples on low, mixed and
high bits, dense, diagonal and monomial gates, both dtypes, 1 and 2 threads."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.layers import haar_unitary
from qsim_topo.sim.kernels import KernelPolicy, apply_tile
from qsim_topo.sim.numba_kernels import thread_limit

pytest.importorskip("numba")

EXACT = get_engine("exact")
NUMBA_TILES = KernelPolicy(numba_min_amplitudes=0, tile="numba-tile")
DTYPES = [(np.complex128, 1e-12), (np.complex64, 2e-5)]


def _monomial(rng, dim, diagonal):
    phases = np.exp(2j * np.pi * rng.random(dim))
    perm = np.arange(dim) if diagonal else rng.permutation(dim)
    mat = np.zeros((dim, dim), complex)
    mat[np.arange(dim), perm] = phases
    return mat


def _pair_gates(rng, tile):
    """A dense gate on every pair of the tile (both orders of the qubits), then a diagonal
    and a monomial one on a few pairs, and 1-qubit gates on every qubit."""
    gates = []
    for a, b in itertools.combinations(tile, 2):
        gates.append((haar_unitary(4, seed=int(rng.integers(2**31))), (a, b)))
        gates.append((haar_unitary(4, seed=int(rng.integers(2**31))), (b, a)))
    for a, b in list(itertools.combinations(tile, 2))[::3]:
        gates.append((_monomial(rng, 4, diagonal=True), (a, b)))
        gates.append((_monomial(rng, 4, diagonal=False), (a, b)))
    gates += [(haar_unitary(2, seed=int(rng.integers(2**31))), (q,)) for q in tile]
    return gates


def _reference(psi, gates, n):
    """numpy complex128, one gate at a time on the (2,)*n + (cols,) tensor (tensordot): the
    row qubit q is axis n-1-q."""
    cols = psi.size >> n
    t = psi.astype(np.complex128).reshape((2,) * n + (cols,))
    for mat, qubits in gates:
        k = len(qubits)
        axes = [n - 1 - q for q in qubits[::-1]]
        g = np.asarray(mat, complex).reshape((2,) * (2 * k))
        t = np.moveaxis(np.tensordot(g, t, axes=(list(range(k, 2 * k)), axes)),
                        list(range(k)), axes)
    return t.reshape(psi.shape)


def _run_tile(rng, layout, gates, dtype, threads, normalise=False):
    """The tile kernel on a random state of ``layout`` (n, tile, cols): (result, reference)."""
    n, tile, cols = layout
    shape = (2**n,) if cols == 1 else (2**n, cols)
    psi = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if normalise:
        psi /= np.linalg.norm(psi)
    state = psi.copy()
    used: dict = {}
    with thread_limit(threads):
        apply_tile(EXACT, state, gates, tile, n, kernels=NUMBA_TILES, used=used)
    assert set(used) == {"numba-tile"}
    return state, _reference(psi, [(m.astype(dtype), q) for m, q in gates], n)


# (n, tile, cols): lanes = the index bits outside the tile, 1 (no lanes), 2 or 4 of them:
# gate2's groups on the tile's low bits are runs of 1-4 slots (its short path), on the others
# the lane loop.
LAYOUTS = {
    "no-lanes": (5, (0, 1, 2, 3, 4), 1),
    "two-lanes-below": (6, (1, 2, 3, 4, 5), 1),
    "two-lanes-between": (6, (0, 2, 3, 4, 5), 1),
    "four-column-lanes": (4, (0, 1, 2, 3), 4),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype,atol", DTYPES, ids=["c128", "c64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_pair_on_few_lanes_matches_numpy(rng, layout, dtype, atol, threads):
    gates = _pair_gates(rng, LAYOUTS[layout][1])
    state, want = _run_tile(rng, LAYOUTS[layout], gates, dtype, threads)
    np.testing.assert_allclose(state, want, rtol=0, atol=atol, err_msg=layout)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_short_runs_give_the_same_bits_on_1_and_2_threads(dtype):
    # 2^13 amplitudes and up run on the pool; a 12-qubit tile of 14 qubits has 4 lanes, so
    # every gate on the tile's 3 lowest qubits takes the short path, in 1 or 4 tiles.
    rng = np.random.default_rng(7)
    n = 14
    for tile in [tuple(range(12)), tuple(range(1, 13))]:
        gates = _pair_gates(rng, tile[:3] + tile[-2:])
        psi = (rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)).astype(dtype)
        results = []
        for threads in (1, 2):
            state = psi.copy()
            with thread_limit(threads):
                apply_tile(EXACT, state, gates, tile, n, kernels=NUMBA_TILES)
            results.append(state)
        assert np.array_equal(results[0], results[1])
        want = psi.astype(np.complex128)
        for mat, qubits in gates:  # the gates on a (2,)*n tensor, by einsum
            k = len(qubits)
            t = want.reshape((2,) * n)
            axes = [n - 1 - q for q in qubits[::-1]]  # qubit q is axis n-1-q; bit 0 = last
            g = np.asarray(mat, complex).reshape((2,) * (2 * k))
            t = np.moveaxis(
                np.tensordot(g, t, axes=(list(range(k, 2 * k)), axes)), list(range(k)), axes
            )
            want = t.reshape(-1)
        atol = 1e-11 if dtype == np.complex128 else 5e-4
        np.testing.assert_allclose(results[0], want, rtol=0, atol=atol)


def _every_kind_gates(rng, tile):
    """Diagonal 1-qubit gates on every qubit; dense, diagonal and monomial 2-qubit gates on
    every pair; dense, diagonal and monomial 3-qubit gates on low, mixed and high triples."""
    gates = [(_monomial(rng, 2, diagonal=True), (q,)) for q in tile]
    gates += [(haar_unitary(2, seed=int(rng.integers(2**31))), (q,)) for q in tile]
    for a, b in itertools.combinations(tile, 2):
        gates.append((haar_unitary(4, seed=int(rng.integers(2**31))), (a, b)))
        gates.append((_monomial(rng, 4, diagonal=True), (a, b)))
        gates.append((_monomial(rng, 4, diagonal=False), (a, b)))
    n = len(tile)
    triples = {(0, 1, 2), (0, 2, 3), (1, 3, n - 1), (2, n // 2, n - 1), (3, 4, 5),
               (n - 3, n - 2, n - 1), (0, 1, n - 1)}
    for t in sorted(triples):
        qs = tuple(tile[i] for i in t)
        gates.append((haar_unitary(8, seed=int(rng.integers(2**31))), qs))
        gates.append((_monomial(rng, 8, diagonal=True), qs))
        gates.append((_monomial(rng, 8, diagonal=False), qs))
    return gates


# (n, tile, cols): 10 and 12 qubits without lanes (the small-state case: every path of
# gate_diag, gate_monomial_short, gatek_short and the widened-lane reshape), and tiles with
# 2 and 8 lanes (the reshape capped at 64 lanes; the segments of a diagonal on lanes).
WIDE_LAYOUTS = {
    "10-no-lanes": (10, tuple(range(10)), 1),
    "12-no-lanes": (12, tuple(range(12)), 1),
    "7-of-8-two-lanes": (8, (0, 2, 3, 4, 5, 6, 7), 1),
    "6-eight-column-lanes": (6, tuple(range(6)), 8),
}


@pytest.mark.parametrize("layout", WIDE_LAYOUTS)
@pytest.mark.parametrize("dtype,atol", DTYPES, ids=["c128", "c64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_kind_and_position_matches_numpy(rng, layout, dtype, atol, threads):
    gates = _every_kind_gates(rng, WIDE_LAYOUTS[layout][1])
    state, want = _run_tile(rng, WIDE_LAYOUTS[layout], gates, dtype, threads, normalise=True)
    # Hundreds of gates: the tolerance relative to the largest amplitude.
    rel = 1e-11 if dtype == np.complex128 else 1e-4
    np.testing.assert_allclose(state, want, rtol=0, atol=rel * abs(want).max(), err_msg=layout)


