"""In-place, few-pass application of a k-qubit block to a state (or to a unitary's columns).

:func:`~qsim_topo.sim.apply.apply_operator` is the reference: it moves the target axes to the
front (a full copy), multiplies, and moves them back (a second full copy), so a gate costs
about three passes over the state and twice its memory. :func:`apply_inplace` does the same
product chunk by chunk and writes each chunk back into the state:

* the state is viewed as runs of target and non-target qubits, each run one axis;
* non-target axes are split, most significant first, until one chunk holds at most
  ``chunk_bytes`` (default 512 KiB, so that a chunk, its product and its gathered copy stay in
  the core's L2 cache): main memory sees one read and one write of each amplitude per block;
* a chunk whose targets are its last axis is one ``(rows, 2^k) @ U^T`` product, one whose
  targets are its first axis is ``U @ (2^k, cols)`` on a strided view, one whose targets are a
  single run in the middle is a stacked ``U @ (batch, 2^k, cols)`` product
  (:meth:`~qsim_topo.engines.base.CheckedEngine.matmul_stack`); anything else is gathered into
  a (2^k, cols) copy the size of a chunk, multiplied, and scattered back.

Peak memory is the state plus two chunks (and the engine's own temporaries of one chunk).
Every chunk product is ``engine.matmul``; the orientation and the chunking change only the
rounding, so this path is for exact engines. Approximate engines keep the reference path,
where each gate is one (2^k, 2^(n-k)) product, so their results do not depend on chunk size.

On the CPU, a tensor of at most ``SMALL_AMPLITUDES`` entries is one gather by a cached index
array, one product and one scatter: for a few thousand amplitudes, the per-chunk bookkeeping
above would cost more than the product.

On the CPU, a block whose targets form several runs goes to a compiled numba pass instead
(:mod:`qsim_topo.sim.numba_kernels`) when numba is installed: numpy's gather and scatter of
such chunks cost more than the product. On a GPU with an exact engine, one pass of a custom
CUDA kernel (:mod:`qsim_topo.sim.gpu_kernels`) does the product instead: each thread reads the
2^k amplitudes of one group, multiplies them by the block's matrix, and writes them back.

:func:`apply_tile` applies a *sequence* of gates that all act inside one set of qubits (a
tile). On the CPU with numba it is one cache-blocked pass for the whole sequence
(:func:`~qsim_topo.sim.numba_kernels.apply_sequence_numba`); elsewhere it is one
:func:`apply_inplace` per gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import product
from typing import Any

import numpy as np

from qsim_topo.engines.base import MatmulEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.sim.apply import check_qubits
from qsim_topo.sim.gpu_kernels import MAX_KERNEL_QUBITS
from qsim_topo.sim.numba_kernels import (
    apply_block_numba,
    apply_sequence_numba,
    numba_available,
    tile_fits,
)
from qsim_topo.xp import array_namespace, device_of

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "NUMBA_MIN_AMPLITUDES",
    "SMALL_AMPLITUDES",
    "USE_NUMBA",
    "apply_inplace",
    "apply_tile",
    "blocking_available",
    "inplace_workspace_bytes",
    "sort_gate_qubits",
]

DEFAULT_CHUNK_BYTES = 512 * 1024

USE_NUMBA = True
"""Use the compiled pass of :mod:`qsim_topo.sim.numba_kernels` for blocks on scattered qubits
when numba is installed (the ``fast`` extra); False forces the numpy path."""

NUMBA_MIN_AMPLITUDES = 2**13
"""Smaller tensors take the numpy path: waking numba's parallel threads costs ~0.15 ms, more
than numpy's whole block on a few thousand amplitudes (measured: 5 qubits, numpy 46 us, a
numba call after idle ~190 us; 14 qubits, numpy 0.73 ms, numba 0.19 ms)."""


SMALL_AMPLITUDES = 2**12
"""CPU tensors of at most this many entries (state amplitudes times columns) take the gather
path of :func:`apply_inplace` (measured on 5 qubits: 8 us a 2-qubit gate, against 28 us by
chunks, most of both being the engine call's checks)."""


@lru_cache(maxsize=256)
def _gather_index(n: int, qubits: tuple[int, ...], cols: int) -> np.ndarray:
    """Flat positions of a C-contiguous (2^n, cols) tensor as a (2^k, 2^(n-k) * cols) array.

    Row ``j`` holds the entries whose bit ``i`` on ``qubits[i]`` is bit ``i`` of ``j`` (the
    qubits in the caller's order, so the block's matrix needs no reordering). Read-only: the
    array is shared by every call with the same arguments (at most 256 are kept; each is at
    most ``SMALL_AMPLITUDES`` int64 entries).
    """
    k = len(qubits)
    # Axis a of the (2,) * n view holds qubit n - 1 - a.
    targets = [n - 1 - q for q in reversed(qubits)]
    others = [a for a in range(n) if a not in targets]
    amps = np.arange(2**n, dtype=np.int64).reshape((2,) * n).transpose(targets + others)
    index = (amps.reshape(2**k, -1, 1) * cols + np.arange(cols)).reshape(2**k, -1)
    index.setflags(write=False)
    return index


def inplace_workspace_bytes(itemsize: int, k: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Upper bound of the temporaries of one :func:`apply_inplace` call, in bytes.

    Two chunks (the gathered operand and the product; the engine may hold one more), plus the
    block's matrix and its transpose.
    """
    chunk = max(int(chunk_bytes), itemsize * 2**k)
    return 3 * chunk + 2 * itemsize * 4**k


@lru_cache(maxsize=256)
def _bit_permutation_index(order: tuple[int, ...]) -> np.ndarray:
    """Flat gather index of a (2^k, 2^k) matrix whose new index bit j is old bit ``order[j]``.

    Read-only; one per ``order``, so sorting a gate's qubits is one fancy-index copy (a 4x4:
    2.5 against 3.5 us for the reshape, transpose and contiguous copy before; best of 5).
    """
    k = len(order)
    t = np.arange(4**k).reshape((2,) * (2 * k))
    # Axis a of each half holds bit k-1-a.
    axes = [k - 1 - order[k - 1 - a] for a in range(k)]
    index = np.ascontiguousarray(np.transpose(t, axes + [a + k for a in axes])).reshape(-1)
    index.setflags(write=False)
    return index


def sort_gate_qubits(matrix: Any, qubits: Sequence[int]) -> tuple[Any, tuple[int, ...]]:
    """The same operator with its qubits in ascending order: ``(matrix', sorted(qubits))``.

    ``matrix`` is (2^k, 2^k) with bit j of its index on ``qubits[j]``; the result's bit j is on
    the j-th smallest qubit. A permutation of index bits (no arithmetic, no engine product).
    Returns ``matrix`` itself when the qubits are already ascending.

    Raises:
        ValueError: ``matrix`` is not (2^k, 2^k) for k qubits.
    """
    qs = [int(q) for q in qubits]
    k = len(qs)
    if tuple(matrix.shape) != (1 << k, 1 << k):
        dim = 1 << k
        raise ValueError(f"a {k}-qubit gate needs a ({dim}, {dim}) matrix, got {matrix.shape}")
    order = tuple(sorted(range(k), key=qs.__getitem__))
    if order == tuple(range(k)):
        return matrix, tuple(qs)
    index = _bit_permutation_index(order)
    if not isinstance(matrix, np.ndarray):
        index = array_namespace(matrix).asarray(index)
    return matrix.reshape(-1)[index].reshape(1 << k, 1 << k), tuple(sorted(qs))


def _runs(n: int, qubits: tuple[int, ...], cols: int) -> list[tuple[int, bool]]:
    """Axis sizes of the state in memory order (most significant first), one per qubit run.

    A run is a maximal set of adjacent target (or non-target) qubits; a trailing column count
    ``cols`` joins the last non-target run.
    """
    targets = set(qubits)
    runs: list[tuple[int, bool]] = []
    for q in range(n - 1, -1, -1):
        t = q in targets
        if runs and runs[-1][1] == t:
            runs[-1] = (runs[-1][0] * 2, t)
        else:
            runs.append((2, t))
    if cols > 1:
        if runs[-1][1]:
            runs.append((cols, False))
        else:
            runs[-1] = (runs[-1][0] * cols, False)
    return runs


def apply_inplace(
    engine: MatmulEngine,
    tensor: Any,
    matrix: Any,
    qubits: Sequence[int],
    n_qubits: int,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Any:
    """Overwrite ``tensor`` with ``(matrix on qubits) @ tensor``; returns ``tensor``.

    Args:
        engine: an exact engine (``engine.exact``); it does every chunk product. Callers
            with an approximate engine use :func:`~qsim_topo.sim.apply.apply_operator`.
        tensor: C-contiguous state (2^n,) or columns (2^n, m), m a power of two; complex64 or
            complex128, numpy or cupy. Modified in place (the caller owns it).
        matrix: (2^k, 2^k) operator, ``qubits[0]`` its least significant bit; cast to the
            tensor's dtype and device.
        qubits: k distinct qubits in 0..n-1.
        n_qubits: n.
        chunk_bytes: size of one chunk; temporaries are bounded by
            :func:`inplace_workspace_bytes`.

    Raises:
        QsimTopoError: bad qubits, shapes, a non-contiguous tensor or an approximate engine.
    """
    if not engine.exact:
        raise QsimTopoError(
            f"apply_inplace chunks and reorients products, which changes an approximate "
            f"engine's result; engine {engine.name!r} must go through apply_operator"
        )
    xp = array_namespace(tensor)
    qs = check_qubits(qubits, n_qubits)
    k = len(qs)
    cols = 1 if tensor.ndim == 1 else int(tensor.shape[1])
    if (
        tensor.ndim not in (1, 2)
        or tensor.shape[0] != 2**n_qubits
        or cols & (cols - 1)
        or not tensor.flags.c_contiguous
    ):
        raise QsimTopoError(
            f"apply_inplace needs a C-contiguous (2^{n_qubits},) or (2^{n_qubits}, 2^j) "
            f"tensor, got shape {tensor.shape}"
        )
    mat = xp.asarray(matrix, dtype=tensor.dtype)
    if mat.shape != (2**k, 2**k):
        raise QsimTopoError(
            f"a {k}-qubit operator needs a ({2**k}, {2**k}) matrix, got {tuple(mat.shape)}"
        )
    if tensor.size <= SMALL_AMPLITUDES and type(tensor) is np.ndarray:
        index = _gather_index(n_qubits, qs, cols)
        flat = tensor.reshape(-1)  # a view: the tensor is C-contiguous
        flat[index] = engine.matmul(mat, flat[index])
        return tensor
    mat, qs = sort_gate_qubits(mat, qs)
    if device_of(tensor) == "gpu" and k <= MAX_KERNEL_QUBITS:  # wider: chunks below
        from qsim_topo.sim.gpu_kernels import apply_block_gpu

        apply_block_gpu(engine, tensor, mat, qs, n_qubits, cols)
        return tensor
    runs = _runs(n_qubits, qs, cols)
    if (
        USE_NUMBA
        and xp is np
        and sum(t for _, t in runs) > 1
        and tensor.size >= NUMBA_MIN_AMPLITUDES
        and numba_available()
    ):
        # Targets in several runs: numpy would gather and scatter every chunk.
        apply_block_numba(engine, tensor, mat, qs, cols)
        return tensor
    _apply_chunks(engine, xp, tensor, mat, qs, runs, chunk_bytes)
    return tensor


def blocking_available(device: str) -> bool:
    """True when :func:`apply_tile` runs its cache-blocked pass (CPU, numba, ``USE_NUMBA``)."""
    return device == "cpu" and USE_NUMBA and numba_available()


def apply_tile(
    engine: MatmulEngine,
    tensor: Any,
    gates: Sequence[tuple[Any, Sequence[int]]],
    qubits: Sequence[int],
    n_qubits: int,
    *,
    zero_mask: int = 0,
) -> Any:
    """Overwrite ``tensor`` with ``G_m ... G_1 @ tensor``: the gates all act inside ``qubits``.

    On the CPU with numba, one cache-blocked pass
    (:func:`~qsim_topo.sim.numba_kernels.apply_sequence_numba`): the state is read and
    written once for the whole sequence. Elsewhere, for a tile too wide for
    :func:`~qsim_topo.sim.numba_kernels.tile_fits`, or for a tensor under
    ``NUMBA_MIN_AMPLITUDES``, each gate is one :func:`apply_inplace`.

    Args:
        engine: an exact engine, as for :func:`apply_inplace`.
        tensor: as for :func:`apply_inplace`; modified in place (the caller owns it).
        gates: ``(matrix, gate_qubits)`` in application order; ``matrix`` (2^g, 2^g) with
            bit j on ``gate_qubits[j]``, every gate qubit in ``qubits``.
        qubits: the tile, distinct qubits in 0..n-1.
        n_qubits: n.
        zero_mask: bit q set when the caller knows qubit q is |0> (every row whose index has
            bit q set is exactly zero, e.g. no gate has acted on q since |0...0>): the
            compiled pass then skips the tiles holding only such rows, which the gates leave
            zero (a skipped +0.0 stays +0.0 where a product could have given -0.0; the
            values are the same). 0 (the default): nothing is assumed. The per-gate paths
            ignore it. A wrong mask gives a wrong state.

    Returns:
        ``tensor``.

    Raises:
        QsimTopoError: bad qubits, a gate outside the tile, shapes, an approximate engine, a
            ``zero_mask`` that is not a mask of the n qubits.
    """
    tile = check_qubits(qubits, n_qubits)
    if (
        isinstance(zero_mask, bool)
        or not isinstance(zero_mask, (int, np.integer))
        or not 0 <= zero_mask < 1 << n_qubits
    ):
        raise QsimTopoError(
            f"zero_mask must be an integer bit mask of the {n_qubits} qubits, got {zero_mask!r}"
        )
    inside = set(tile)
    prepared = []
    xp = array_namespace(tensor)
    for matrix, gate_qubits in gates:
        qs = tuple([int(q) for q in gate_qubits])
        k = len(qs)
        # The tile's qubits are valid, so distinct qubits inside it are too (check_qubits
        # names the problem otherwise); a fused gate's qubits are already ascending.
        if not (k and inside.issuperset(qs) and len(set(qs)) == k):
            qs = check_qubits(qs, n_qubits)
            raise QsimTopoError(f"gate on qubits {qs} is not inside the tile {tile}")
        mat = xp.asarray(matrix)
        if mat.shape != (1 << k, 1 << k):
            raise QsimTopoError(
                f"a {k}-qubit gate needs a ({1 << k}, {1 << k}) matrix, got {tuple(mat.shape)}"
            )
        if k > 1 and list(qs) != sorted(qs):
            mat, qs = sort_gate_qubits(mat, qs)
        prepared.append((mat, qs))
    if not prepared:
        return tensor
    if not (
        engine.exact
        and blocking_available(device_of(tensor))
        and tensor.ndim in (1, 2)
        and tensor.shape[0] == 2**n_qubits
        and tensor.flags.c_contiguous
        and tensor.dtype in (np.complex64, np.complex128)
        and tile_fits(tensor.itemsize, len(tile))
        and tensor.size >= NUMBA_MIN_AMPLITUDES
    ):
        for matrix, qs in prepared:
            apply_inplace(engine, tensor, matrix, qs, n_qubits)  # validates what is left
        return tensor
    cols = 1 if tensor.ndim == 1 else int(tensor.shape[1])
    if cols & (cols - 1):
        raise QsimTopoError(f"apply_tile needs a power-of-two column count, got {cols}")
    apply_sequence_numba(engine, tensor, prepared, tuple(sorted(tile)), cols, int(zero_mask))
    return tensor


def _apply_chunks(
    engine: MatmulEngine,
    xp: Any,
    tensor: Any,
    mat: Any,
    qs: tuple[int, ...],
    runs: list[tuple[int, bool]],
    chunk_bytes: int,
) -> None:
    """Chunked application; ``runs`` is :func:`_runs` of the tensor for the targets ``qs``."""
    k = len(qs)
    # A power of two of amplitudes, so that the splits below are exact.
    chunk = 1 << max(k, (max(1, int(chunk_bytes) // tensor.itemsize)).bit_length() - 1)
    # Split non-target runs, most significant first, into (outer, inner) until what is left
    # per outer index fits one chunk. Sizes are powers of two, so the splits are exact.
    inner_total = tensor.size
    shape: list[int] = []
    outer_axes: list[int] = []
    kinds: list[bool] = []  # per axis of `shape`: is it a target run
    for size, is_target in runs:
        if not is_target and inner_total > chunk:
            out_size = min(size, inner_total // chunk)
            if out_size > 1:
                outer_axes.append(len(shape))
                shape.append(out_size)
                kinds.append(False)
                inner_total //= out_size
                size //= out_size
                if size == 1:
                    continue
        shape.append(size)
        kinds.append(is_target)
    view = tensor.reshape(shape)
    sub_kinds = [kinds[a] for a in range(len(shape)) if a not in outer_axes]
    mat_t = mat.T.copy()
    dim = 2**k
    for index in product(*(range(shape[a]) for a in outer_axes)):
        full: list[Any] = [slice(None)] * len(shape)
        for a, i in zip(outer_axes, index, strict=True):
            full[a] = i
        sub = view[tuple(full)]
        _apply_sub(engine, xp, sub, sub_kinds, mat, mat_t, dim)


def _apply_sub(
    engine: MatmulEngine, xp: Any, sub: Any, kinds: list[bool], mat: Any, mat_t: Any, dim: int
) -> None:
    """One chunk: ``sub`` is a view whose axes are runs (``kinds[a]``: target run or not)."""
    if len(kinds) == 1:  # the chunk is the targets alone
        sub[...] = engine.matmul(mat, sub.reshape(dim, 1)).reshape(sub.shape)
        return
    if sub_is_contiguous(sub) and kinds[-1] and not any(kinds[:-1]):
        rows = sub.reshape(-1, dim)
        rows[...] = engine.matmul(rows, mat_t)
        return
    if len(kinds) == 2 and kinds[0] and not kinds[1]:
        sub[...] = engine.matmul(mat, sub)  # a strided (2^k, cols) view, no copy
        return
    stack = getattr(engine, "matmul_stack", None)
    if kinds == [False, True, False] and stack is not None:
        sub[...] = stack(mat, sub)  # contiguous targets in the middle: no gather copy
        return
    target_axes = [a for a, t in enumerate(kinds) if t]
    other_axes = [a for a, t in enumerate(kinds) if not t]
    perm = target_axes + other_axes
    moved = xp.transpose(sub, perm).reshape(dim, -1)  # gather: a copy of one chunk
    out = engine.matmul(mat, moved)
    moved_shape = [sub.shape[a] for a in perm]
    sub[...] = xp.transpose(out.reshape(moved_shape), np.argsort(perm).tolist())


def sub_is_contiguous(sub: Any) -> bool:
    """True for a C-contiguous view (numpy and cupy both expose ``flags.c_contiguous``)."""
    return bool(sub.flags.c_contiguous)
