"""The numpy kernels: a k-qubit block applied in place, chunk by chunk, by the engine.

:func:`~qsim_topo.sim.apply.apply_operator` is the reference: it moves the target axes to the
front (a full copy), multiplies, and moves them back (a second full copy), so a gate costs
about three passes over the state and twice its memory. :func:`apply_chunked` does the same
product chunk by chunk and writes each chunk back into the state:

* the state is viewed as runs of target and non-target qubits, each run one axis
  (:func:`target_runs`);
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
rounding, so these kernels are for exact engines. The same code runs on cupy arrays (the GPU
path for blocks too wide for the CUDA kernel, with cuBLAS products).

:func:`apply_gathered` is the kernel of small CPU tensors: one gather by a cached index array,
one product and one scatter; for a few thousand amplitudes the per-chunk bookkeeping above
would cost more than the product.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product
from typing import Any

import numpy as np

from qsim_topo.engines.base import MatmulEngine
from qsim_topo.sim.apply import sort_gate_qubits
from qsim_topo.xp import array_namespace

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "apply_chunked",
    "apply_gathered",
    "inplace_workspace_bytes",
    "target_runs",
]

DEFAULT_CHUNK_BYTES = 512 * 1024


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


def target_runs(n: int, qubits: tuple[int, ...], cols: int) -> list[tuple[int, bool]]:
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


def apply_gathered(
    engine: MatmulEngine, tensor: Any, mat: Any, qubits: tuple[int, ...], n_qubits: int
) -> None:
    """Overwrite the small numpy ``tensor`` with ``(mat on qubits) @ tensor``: one gather.

    ``tensor``: C-contiguous (2^n,) or (2^n, cols) numpy array (modified); ``mat``: (2^k, 2^k)
    in its dtype with bit j on ``qubits[j]`` (any order). Builds (and caches) an index array of
    ``tensor.size`` entries: for small tensors only.
    """
    cols = 1 if tensor.ndim == 1 else int(tensor.shape[1])
    index = _gather_index(n_qubits, qubits, cols)
    flat = tensor.reshape(-1)  # a view: the tensor is C-contiguous
    flat[index] = engine.matmul(mat, flat[index])


def apply_chunked(
    engine: MatmulEngine,
    tensor: Any,
    mat: Any,
    qubits: tuple[int, ...],
    n_qubits: int,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> None:
    """Overwrite ``tensor`` (numpy or cupy) with ``(mat on qubits) @ tensor``, chunk by chunk.

    ``tensor``: C-contiguous (2^n,) or (2^n, cols), cols a power of two (modified); ``mat``:
    (2^k, 2^k) in its dtype and namespace, bit j on ``qubits[j]`` (any order). Temporaries are
    bounded by :func:`inplace_workspace_bytes` of ``chunk_bytes``.
    """
    cols = 1 if tensor.ndim == 1 else int(tensor.shape[1])
    mat, qs = sort_gate_qubits(mat, qubits)
    runs = target_runs(n_qubits, qs, cols)
    _apply_chunks(engine, array_namespace(tensor), tensor, mat, qs, runs, chunk_bytes)


def _apply_chunks(
    engine: MatmulEngine,
    xp: Any,
    tensor: Any,
    mat: Any,
    qs: tuple[int, ...],
    runs: list[tuple[int, bool]],
    chunk_bytes: int,
) -> None:
    """Chunked application; ``runs`` is :func:`target_runs` of the tensor for the targets ``qs``."""
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
