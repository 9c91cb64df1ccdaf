"""A compiled CPU pass (numba) for blocks on scattered qubits.

numpy can only apply a block whose target qubits are not one contiguous run by gathering each
chunk into a (2^k, cols) copy with a transposing copy and scattering it back; with targets and
non-targets alternating, those copies run at about 2 GB/s and take two thirds of the time
(benchmarks/RESULTS.md). This kernel reads the 2^k amplitudes of a tile of consecutive groups
straight from the state, multiplies them by the block's matrix (split real and imaginary
parts, the tile as the vectorised inner loop) and writes them back: one read and one write of
each amplitude, in parallel over tiles.

It is the exact engine's product for that case, like the CUDA kernels of
:mod:`qsim_topo.sim.gpu_kernels`; one product is counted per block. numba is a dependency,
imported lazily (:func:`numba_available`); where it cannot load, the numpy kernels of
:mod:`qsim_topo.sim.chunks` do the work (:class:`~qsim_topo.sim.kernels.KernelPolicy`).

:func:`apply_sequence_numba` is the cache-blocked pass: it applies a *sequence* of small gates
whose qubits all lie in one tile of ``kt`` qubits, in one read and one write of the state.
Each parallel task copies a tile (the 2^kt amplitudes of its group times ``2^w`` "lane"
indices: 1 MiB at the default 10 qubits, at most ``MAX_TILE_BYTES``, about the core's L2
cache) into split real and imaginary arrays,
applies every gate to it there (1- and 2-qubit gates unrolled, the vectorised inner loop
running over the lanes of all the consecutive rows below the gate's lowest bit; wider gates by
a generic loop over the lanes of one group of rows), and writes it back. A 2-qubit gate then
costs its 4 complex multiply-adds per amplitude and no memory traffic, where a dense fused
block of k qubits costs 2^k of them per amplitude (benchmarks/RESULTS.md). A caller that knows
some qubits are still |0> (the Qiskit executor, from |0...0> until a gate, measurement or reset
touches them) passes them as ``zero_mask``: the tiles holding only amplitudes that those qubits
keep zero are neither read nor written (the first passes of a circuit from |0...0> touch a
fraction of the state; the values are the same, though a skipped zero stays +0.0 where a
product could have written -0.0).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from typing import Any

import numpy as np

from qsim_topo.engines.base import MatmulEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.sim.apply import flat_matrices

__all__ = [
    "LANE_BYTES",
    "MAX_TILE_BYTES",
    "SINGLE_THREAD_AMPLITUDES",
    "TILE",
    "apply_block_numba",
    "apply_sequence_numba",
    "lane_bits",
    "numba_available",
    "thread_limit",
    "tile_fits",
]

TILE = 128
"""Consecutive groups per tile: the vectorised inner loop of the kernel."""

SINGLE_THREAD_AMPLITUDES = 2**13
"""Tensors of fewer entries run the tile kernel on the calling thread only (measured under
load on 2 cores: 10 qubits, 90 gates, 0.25 ms on one thread, 0.31 ms on two)."""


@lru_cache(maxsize=1)
def numba_available() -> bool:
    """True when numba imports (checked once; ``import qsim_topo`` never imports it).

    Before the import, ``OMP_WAIT_POLICY`` is set to ``passive`` unless the environment already
    sets it: numba's OpenMP threading layer (GNU libgomp, loaded at the first parallel kernel)
    otherwise spins its idle threads between parallel regions, and on a machine whose cores
    are busy with other processes each of our passes then waited milliseconds for a thread to
    be scheduled (a 14-qubit, 130-gate circuit on 2 threads took 233 ms instead of 3 ms:
    benchmarks/RESULTS.md, issue 23). Set ``OMP_WAIT_POLICY=active`` to keep the spinning.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    try:
        import numba  # noqa: F401
    except Exception:  # ImportError, or a numba that fails against this numpy
        return False
    return True


@contextmanager
def thread_limit(max_threads: int | None) -> Iterator[int | None]:
    """Run the compiled kernels of the calling thread on at most ``max_threads`` threads.

    ``numba.set_num_threads`` for the duration of the ``with`` block (numba's setting is per
    calling thread, so concurrent runs in other threads keep theirs), restored after. None or
    0: no limit (numba's default: every core); a limit above numba's pool is capped to it.
    Without numba, nothing to limit. The numpy fallback's BLAS threads are not limited here
    (``OPENBLAS_NUM_THREADS`` and the like set them).

    Yields:
        The thread count in force, or None when unchanged.
    """
    if not max_threads or not numba_available():
        yield None
        return
    import numba

    before = numba.get_num_threads()
    count = min(int(max_threads), int(numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    numba.set_num_threads(count)
    try:
        yield count
    finally:
        numba.set_num_threads(before)


@lru_cache(maxsize=1)
def _kernel() -> Any:
    from numba import njit, prange

    @njit(parallel=True, fastmath=False, cache=True, nogil=True)
    def apply_tiles(sv: Any, mr: Any, mi: Any, pos: Any, tile: int) -> None:  # pragma: no cover
        # sv: (N, 2) real view of the complex state; mr, mi: (D, D) parts of the matrix;
        # pos: ascending bit positions of the targets in the flat index.
        k = pos.size
        dim = 1 << k
        groups = sv.shape[0] >> k
        off = np.zeros(dim, np.int64)
        for j in range(dim):
            o = 0
            for i in range(k):
                if (j >> i) & 1:
                    o += np.int64(1) << pos[i]
            off[j] = o
        tiles = (groups + tile - 1) // tile
        for t in prange(tiles):
            xr = np.empty((dim, tile), sv.dtype)
            xi = np.empty((dim, tile), sv.dtype)
            yr = np.empty(tile, sv.dtype)
            yi = np.empty(tile, sv.dtype)
            base = np.empty(tile, np.int64)
            g0 = t * tile
            count = min(tile, groups - g0)
            for b in range(count):
                g = g0 + b
                for i in range(k):  # insert a zero bit at each target position
                    p = pos[i]
                    g = ((g >> p) << (p + 1)) | (g & ((np.int64(1) << p) - 1))
                base[b] = g
            for j in range(dim):
                o = off[j]
                for b in range(count):
                    xr[j, b] = sv[base[b] + o, 0]
                    xi[j, b] = sv[base[b] + o, 1]
            for r in range(dim):
                for b in range(count):
                    yr[b] = 0.0
                    yi[b] = 0.0
                for c in range(dim):
                    ar = mr[r, c]
                    ai = mi[r, c]
                    for b in range(count):
                        yr[b] += ar * xr[c, b] - ai * xi[c, b]
                        yi[b] += ar * xi[c, b] + ai * xr[c, b]
                o = off[r]
                for b in range(count):
                    sv[base[b] + o, 0] = yr[b]
                    sv[base[b] + o, 1] = yi[b]

    return apply_tiles


def apply_block_numba(
    engine: MatmulEngine, tensor: Any, mat: Any, qubits: tuple[int, ...], cols: int
) -> None:
    """Overwrite the numpy ``tensor`` with ``(mat on qubits) @ tensor`` in one compiled pass.

    Args:
        engine: the exact engine on whose behalf the pass runs; a
            :class:`~qsim_topo.engines.base.CheckedEngine` counts it as one product.
        tensor: C-contiguous numpy (2^n,) or (2^n, cols), complex64 or complex128; modified.
        mat: (2^k, 2^k) matrix in the tensor's dtype, bit j on ``qubits[j]``.
        qubits: ascending target qubits.
        cols: the number of columns (a power of two; 1 for a state).
    """
    real = np.float32 if tensor.dtype == np.complex64 else np.float64
    shift = cols.bit_length() - 1  # column bits are the low bits of the flat index
    pos = np.array([q + shift for q in qubits], dtype=np.int64)
    m = np.asarray(mat)
    sv = tensor.reshape(-1).view(real).reshape(-1, 2)
    _kernel()(
        sv,
        np.ascontiguousarray(m.real, dtype=real),
        np.ascontiguousarray(m.imag, dtype=real),
        pos,
        TILE,
    )
    count = getattr(engine, "count_product", None)
    if count is not None:
        k = len(qubits)
        count(2**k, 2**k, tensor.size >> k)


LANE_BYTES = 1024
"""Bytes of one tile row (``2^w`` lanes of one amplitude index): 128 complex64 or 64
complex128 lanes, the widths measured fastest at 22-24 qubits (benchmarks/RESULTS.md)."""

MAX_TILE_BYTES = 2 * 2**20
"""Upper bound of one tile (each thread holds one): wide tiles get fewer lanes."""


def lane_bits(itemsize: int, free_bits: int, tile_qubits: int = 0) -> int:
    """Lane bits ``w`` of a tile of ``tile_qubits`` qubits.

    ``LANE_BYTES`` worth of lanes, fewer when the tile would exceed ``MAX_TILE_BYTES``, and
    at most the ``free_bits`` (the index bits outside the tile) available.
    """
    row_bytes = min(LANE_BYTES, MAX_TILE_BYTES >> tile_qubits)
    return max(0, min(free_bits, (row_bytes // itemsize).bit_length() - 1))


def tile_fits(itemsize: int, tile_qubits: int) -> bool:
    """True when a tile of ``tile_qubits`` qubits keeps within ``MAX_TILE_BYTES`` per thread."""
    return (itemsize << tile_qubits) <= MAX_TILE_BYTES


def _pack_gates(
    gates: Sequence[tuple[Any, Sequence[int]]], qubits: tuple[int, ...], dtype: Any
) -> tuple[np.ndarray, ...]:
    """The gates as the flat arrays of ``apply_sequence``.

    Args:
        gates: ``(matrix, gate_qubits)``, ``matrix`` (2^g, 2^g) of any numeric dtype (what
            :func:`~qsim_topo.sim.apply.flat_matrices` takes) with bit j on
            ``gate_qubits[j]``; the ``gate_qubits`` distinct, in any order, and in ``qubits``
            (not checked).
        qubits: the tile, ascending.
        dtype: the state's dtype, to which the matrices are cast.

    Returns:
        ``(gk, gbits, goff, mats, gkind, gsrc, soff)``, new arrays: gate g has ``gk[g]``
        qubits on the tile's local bits ``gbits[g, :gk[g]]`` (ascending: a gate given on
        unsorted qubits has its matrix's index bits permuted to match, exactly) and its matrix
        row-major in ``mats[goff[g]:goff[g] + 4**gk[g]]``. ``gkind[g]`` is 2 for a diagonal
        matrix, 1 for a monomial one (one nonzero per row and column, row j's in column
        ``gsrc[soff[g] + j]``) of 2 or more qubits, 0 for anything else, a 1-qubit
        permutation included (the unrolled dense kernel was measured ~15% faster). Exact
        zeros of the cast matrix only: a fused product of diagonal or permutation gates keeps
        them, and a near-zero entry must still be multiplied. A NaN or Inf amplitude then
        stays in its own output row instead of spreading over the gate's rows as in a dense
        product (the state is still not finite, and the checks still see it).

    One compiled pass over a flat copy of all the matrices
    (:func:`qsim_topo.sim._numba_gates.pack_gates`): gate by gate in numpy this cost ~2-10 us a
    gate, more than the tile kernel's own time on a state of 10-12 qubits.

    Raises:
        QsimTopoError: the matrices' sizes do not match their qubits, or a qubit is outside
            0..max(qubits) (the compiled loop does not check its indices).
    """
    from qsim_topo.sim._numba_gates import pack_gates

    flat, arrays = flat_matrices([m for m, _ in gates])
    qlist = [qs for _, qs in gates]
    ks = [len(qs) for qs in qlist]
    count = len(ks)
    gk = np.array(ks, dtype=np.int64)
    offsets = np.zeros(count + 1, dtype=np.int64)  # of the matrices
    soffsets = np.zeros(count + 1, dtype=np.int64)  # of the source columns
    np.cumsum(np.left_shift(1, 2 * gk), out=offsets[1:])
    np.cumsum(np.left_shift(1, gk), out=soffsets[1:])
    bad = [g for g, (a, k) in enumerate(zip(arrays, ks, strict=True)) if a.size != 1 << 2 * k]
    if bad:
        g = bad[0]
        raise QsimTopoError(
            f"tile gate {g} on qubits {tuple(qlist[g])} has a matrix of shape "
            f"{arrays[g].shape}; its {ks[g]} qubit(s) need ({1 << ks[g]}, {1 << ks[g]})"
        )
    qflat = np.fromiter(chain.from_iterable(qlist), np.int64, int(gk.sum()))
    top = max(qubits)
    if qflat.size and (qflat.min() < 0 or qflat.max() > top):
        raise QsimTopoError(f"a gate qubit is outside 0..{top}, the tile's range")
    local = np.zeros(top + 1, dtype=np.int64)
    local[list(qubits)] = np.arange(len(qubits))
    mats = np.zeros(int(offsets[-1]), dtype=dtype)
    gbits = np.zeros((count, max(ks, default=1)), dtype=np.int64)
    gkind = np.zeros(count, dtype=np.int64)
    gsrc = np.zeros(int(soffsets[-1]), dtype=np.int64)
    goff = offsets[:-1]
    soff = soffsets[:-1]
    pack_gates(flat, gk, qflat, local, goff, soff, mats, gbits, gkind, gsrc)
    return gk, gbits, goff, mats, gkind, gsrc, soff


def apply_sequence_numba(
    engine: MatmulEngine,
    tensor: Any,
    gates: Sequence[tuple[Any, tuple[int, ...]]],
    qubits: tuple[int, ...],
    cols: int,
    zero_mask: int = 0,
) -> None:
    """Overwrite the numpy ``tensor`` with ``G_m ... G_1 @ tensor`` in one cache-blocked pass.

    Args:
        engine: the exact engine on whose behalf the pass runs; a
            :class:`~qsim_topo.engines.base.CheckedEngine` counts one product per gate.
        tensor: C-contiguous numpy (2^n,) or (2^n, cols), complex64 or complex128; modified.
        gates: ``(matrix, gate_qubits)`` in application order; ``matrix`` (2^g, 2^g) with bit
            j on ``gate_qubits[j]`` (distinct, in any order, a subset of ``qubits``).
        qubits: the tile: ascending qubits, at most n of them.
        cols: the number of columns (a power of two; 1 for a state).
        zero_mask: bit q set when the caller knows that qubit q is |0>: every row of
            ``tensor`` whose index has bit q set is exactly zero. Tiles made only of such rows
            are skipped (a gate keeps them zero); 0 (the default) skips nothing. A wrong mask
            gives a wrong state. The products are counted in full either way (the nominal
            work of the gates).

    Peak extra memory per thread: one tile (``2^len(qubits)`` rows of :func:`lane_bits`
    lanes, at most ``MAX_TILE_BYTES`` while ``2^len(qubits)`` amplitudes fit in it: callers
    check :func:`tile_fits`) and the rows of the widest gate (at most as much again).
    """
    if not gates:
        return
    import numba

    from qsim_topo.sim._numba_sequence import apply_sequence

    real = np.float32 if tensor.dtype == np.complex64 else np.float64
    shift = cols.bit_length() - 1  # column bits are the low bits of the flat index
    total_bits = tensor.size.bit_length() - 1
    gk, gbits, goff, mats, gkind, gsrc, soff = _pack_gates(gates, qubits, tensor.dtype)
    pos = np.array([q + shift for q in qubits], dtype=np.int64)
    threads = numba.get_num_threads()
    wbits = lane_bits(tensor.itemsize, total_bits - len(qubits), len(qubits))
    # A small state would be one tile on one thread: fewer lanes (down to 8), more tiles.
    while wbits > 3 and total_bits - len(qubits) - wbits < (2 * threads).bit_length():
        wbits -= 1
    chunks = 8 * threads  # per-chunk scratch; 8 per thread for balance
    # A small tensor runs on the calling thread alone: waking the pool costs more than the
    # work (benchmarks/RESULTS.md, issue 23). The tiles and lanes are those of `threads`
    # threads whatever runs them, so the arithmetic, and the result, are the same.
    with thread_limit(1 if tensor.size < SINGLE_THREAD_AMPLITUDES else None):
        apply_sequence(
            tensor.reshape(-1).view(real),
            pos,
            wbits,
            gk,
            gbits,
            goff,
            mats,
            gkind,
            gsrc,
            soff,
            chunks,
            zero_mask << shift,  # row bit q is bit q + shift of the flat index
        )
    count = getattr(engine, "count_product", None)
    if count is not None:
        widths = gk.tolist()
        for g in set(widths):
            count(2**g, 2**g, tensor.size >> g, widths.count(g))
