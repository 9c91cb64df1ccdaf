"""CUDA kernels (numba-cuda) that apply a k-qubit block to a state in one pass, and their dispatch.

Each thread takes one group of 2^k amplitudes — the ones that differ only in the target bits —
reads them into registers, multiplies them by the block's matrix (held in shared memory) and
writes them back. Every amplitude is read once and written once per block, which is the
memory-bandwidth limit of a state-vector simulator.

The kernels are written in Python for ``numba.cuda.jit`` (the ``numba-cuda`` package), so the
same source

* runs on a GPU on cupy arrays (numba takes them through ``__cuda_array_interface__``, on
  cupy's current stream, without the host synchronisation numba would otherwise add);
* runs on the CPU under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` set before
  ``numba.cuda`` is first imported) on numpy arrays, which is how CI checks their logic;
* compiles to PTX for any compute capability without a driver (:func:`compile_block_ptx`,
  which needs libNVVM, e.g. from the ``nvidia-cuda-nvcc-cu12`` wheel).

:func:`apply_block_gpu` is the exact engine's product for the in-place GPU path (see
:mod:`qsim_topo.sim.kernels`): the same arithmetic as ``U @ group`` in the state's dtype, one
product counted per block. When NVIDIA cuStateVec is installed and the state has at least
:func:`custatevec_min_qubits` index bits, the block goes to ``custatevec.apply_matrix`` instead
(:mod:`qsim_topo.sim.custatevec`). Blocks wider than :data:`MAX_KERNEL_QUBITS` are refused: the
caller applies them by chunked ``engine.matmul`` products (cuBLAS).

This module imports neither numba nor cupy at import time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qsim_topo.engines.base import MatmulEngine
from qsim_topo.errors import QsimTopoError

__all__ = [
    "CUSTATEVEC_MIN_QUBITS",
    "CUSTATEVEC_MIN_QUBITS_ENV",
    "KERNEL_DTYPES",
    "MAX_KERNEL_QUBITS",
    "apply_block_gpu",
    "block_kernel",
    "block_path",
    "compile_block_ptx",
    "custatevec_min_qubits",
    "kernel_signature",
    "launch_block",
]

MAX_KERNEL_QUBITS = 5
KERNEL_DTYPES = ("complex64", "complex128")
# Provisional: Aer hands blocks to cuStateVec from 22 qubits. No GPU has been available to
# measure the crossing point for these kernels, so the default copies Aer's and the
# environment variable below overrides it ("off" disables cuStateVec).
CUSTATEVEC_MIN_QUBITS = 22
CUSTATEVEC_MIN_QUBITS_ENV = "QSIM_TOPO_CUSTATEVEC_MIN_QUBITS"


def custatevec_min_qubits() -> int | None:
    """Index bits from which exact blocks go to cuStateVec; ``None`` when disabled.

    The default is :data:`CUSTATEVEC_MIN_QUBITS`; the environment variable
    ``QSIM_TOPO_CUSTATEVEC_MIN_QUBITS`` overrides it with an integer, or ``off`` to never use
    cuStateVec.

    Raises:
        QsimTopoError: the environment variable is neither a non-negative integer nor ``off``.
    """
    raw = os.environ.get(CUSTATEVEC_MIN_QUBITS_ENV)
    if raw is None or raw.strip() == "":
        return CUSTATEVEC_MIN_QUBITS
    if raw.strip().lower() == "off":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise QsimTopoError(
            f"{CUSTATEVEC_MIN_QUBITS_ENV} must be a non-negative integer or 'off', got {raw!r}"
        )
    return value


def block_path(index_bits: int, *, min_qubits: int | None = None) -> str:
    """Which implementation applies an exact block of at most MAX_KERNEL_QUBITS on the GPU.

    Args:
        index_bits: bits of the flat index of the tensor (n qubits plus the column bits).
        min_qubits: the cuStateVec threshold; ``None`` reads :func:`custatevec_min_qubits`.

    Returns:
        ``"custatevec"`` when cuStateVec is installed and ``index_bits`` reaches the threshold,
        else ``"numba-cuda"``. :func:`apply_block_gpu` and the results' metadata both ask this
        function, so the metadata names the path the dispatch takes.
    """
    from qsim_topo.sim.custatevec import custatevec_version

    threshold = custatevec_min_qubits() if min_qubits is None else min_qubits
    if threshold is not None and index_bits >= threshold and custatevec_version() is not None:
        return "custatevec"
    return "numba-cuda"


def _threads(k: int, dtype: str) -> int:
    """Threads per block: fewer for the register-heavy 5-qubit complex128 kernel."""
    return 128 if (k == MAX_KERNEL_QUBITS and dtype == "complex128") else 256


def _check_kernel(k: int, dtype: str) -> None:
    if not 1 <= k <= MAX_KERNEL_QUBITS:
        raise QsimTopoError(
            f"the GPU block kernels take 1 to {MAX_KERNEL_QUBITS} target qubits, got {k}; "
            "wider blocks go through chunked engine products"
        )
    if dtype not in KERNEL_DTYPES:
        raise QsimTopoError(f"the GPU kernels take complex64/complex128 states, got {dtype}")


def block_kernel(k: int, dtype: str) -> Callable[..., None]:
    """The Python source of the k-qubit block kernel for ``dtype``, for ``numba.cuda.jit``.

    See :func:`qsim_topo.sim._cuda_block.make_block_kernel` for the kernel's arguments.
    Imports ``numba.cuda``.
    """
    _check_kernel(k, dtype)
    from qsim_topo.sim._cuda_block import make_block_kernel

    return make_block_kernel(k, dtype)


def kernel_signature(k: int, dtype: str) -> tuple[Any, ...]:
    """The numba argument types of :func:`block_kernel` ``(k, dtype)`` (for ``compile_ptx``)."""
    _check_kernel(k, dtype)
    from numba import types

    scalar = types.complex64 if dtype == "complex64" else types.complex128
    positions = types.UniTuple(types.int64, k)
    return (scalar[::1], scalar[::1], types.int64, positions, positions)


def compile_block_ptx(k: int, dtype: str, cc: tuple[int, int]) -> str:
    """PTX of the k-qubit ``dtype`` block kernel for compute capability ``cc`` (no driver needed).

    Raises:
        QsimTopoError: bad k or dtype.
        Exception: numba-cuda's own error when libNVVM cannot be found or compilation fails.
    """
    from numba import cuda

    ptx, _restype = cuda.compile_ptx(block_kernel(k, dtype), kernel_signature(k, dtype), cc=cc)
    return str(ptx)


@functools.cache
def _jitted(k: int, dtype: str) -> Any:
    try:
        from numba import cuda
    except ImportError as exc:
        raise QsimTopoError(
            "the GPU kernels need numba-cuda, which is not installed (pip install "
            "'qsim_topo[gpu]')"
        ) from exc

    return cuda.jit(block_kernel(k, dtype))


def _simulating() -> bool:
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0))


def launch_block(flat: Any, mat: Any, positions: Sequence[int]) -> None:
    """Overwrite ``flat`` with the block ``mat`` applied on bit ``positions``, one kernel launch.

    Args:
        flat: 1-D C-contiguous cupy array (numpy under the CUDA simulator) of complex64 or
            complex128, 2^m entries; modified in place, owned by the caller.
        mat: (2^k, 2^k) matrix of the same dtype and namespace, bit j of its index on
            ``positions[j]``.
        positions: k distinct bit positions in 0..m-1, in any order.

    The launch is queued on cupy's current stream; nothing is synchronised.
    """
    dtype = str(flat.dtype)
    k = len(positions)
    _check_kernel(k, dtype)
    if str(mat.dtype) != dtype or tuple(mat.shape) != (1 << k, 1 << k):
        raise QsimTopoError(
            f"a {k}-qubit {dtype} block needs a ({1 << k}, {1 << k}) {dtype} matrix, got "
            f"{tuple(mat.shape)} {mat.dtype}"
        )
    groups = int(flat.size) >> k
    threads = min(_threads(k, dtype), groups)
    blocks = (groups + threads - 1) // threads
    sorted_pos = tuple(sorted(int(p) for p in positions))
    pos = tuple(int(p) for p in positions)
    kern = _jitted(k, dtype)
    if type(flat) is np.ndarray:
        if not _simulating():
            raise QsimTopoError(
                "the GPU kernels take cupy arrays (numpy arrays only under the CUDA simulator, "
                "NUMBA_ENABLE_CUDASIM=1)"
            )
        kern[blocks, threads](flat, np.ascontiguousarray(mat).reshape(-1), groups, sorted_pos, pos)
        return
    import cupy as cp
    from numba import cuda

    stream = cp.cuda.get_current_stream()
    # sync=False: numba would otherwise block the host on the array's stream at every launch;
    # the kernel is queued on that same stream, which orders it after the work that made it.
    state_view = cuda.as_cuda_array(flat, sync=False)
    mat_view = cuda.as_cuda_array(cp.ascontiguousarray(mat).reshape(-1), sync=False)
    nstream = cuda.external_stream(stream.ptr) if stream.ptr else cuda.default_stream()
    device = cp.cuda.Device().id
    if device == 0:
        kern[blocks, threads, nstream](state_view, mat_view, groups, sorted_pos, pos)
    else:
        with cuda.gpus[device]:
            kern[blocks, threads, nstream](state_view, mat_view, groups, sorted_pos, pos)


def apply_block_gpu(
    engine: MatmulEngine,
    tensor: Any,
    mat: Any,
    qubits: tuple[int, ...],
    n: int,
    cols: int,
    *,
    custatevec_min: int | None = None,
) -> None:
    """Overwrite the cupy ``tensor`` with ``(mat on qubits) @ tensor``, in one pass.

    Args:
        engine: the exact engine on whose behalf the pass runs; a
            :class:`~qsim_topo.engines.base.CheckedEngine` counts it as one product.
        tensor: C-contiguous cupy (2^n,) or (2^n, cols), complex64/complex128; modified.
            (numpy arrays run under the CUDA simulator only.)
        mat: (2^k, 2^k) matrix in the tensor's dtype and namespace, bit j on ``qubits[j]``.
        qubits: k <= :data:`MAX_KERNEL_QUBITS` distinct target qubits, in any order.
        n: number of qubits.
        cols: the number of columns (a power of two; 1 for a state).
        custatevec_min: cuStateVec threshold in index bits (n + log2 cols); ``None`` reads
            :func:`custatevec_min_qubits`.

    Raises:
        QsimTopoError: more than :data:`MAX_KERNEL_QUBITS` targets (the caller must use the
            chunked path), a dtype other than complex64/complex128, or bad qubits.
    """
    k = len(qubits)
    if k > MAX_KERNEL_QUBITS:
        raise QsimTopoError(
            f"apply_block_gpu takes at most {MAX_KERNEL_QUBITS} target qubits, got {k}; apply "
            "wider blocks through chunked engine products"
        )
    if len(set(qubits)) != k or any(not 0 <= q < n for q in qubits):
        raise QsimTopoError(f"target qubits must be distinct and in 0..{n - 1}, got {qubits}")
    shift = cols.bit_length() - 1  # column bits are the low bits of the flat index
    positions = [q + shift for q in qubits]
    flat = tensor.reshape(-1)  # a view: the tensor is C-contiguous
    path = "numba-cuda" if type(tensor) is np.ndarray else block_path(
        n + shift, min_qubits=custatevec_min
    )
    if path == "custatevec":
        from qsim_topo.sim.custatevec import apply_matrix

        apply_matrix(flat, mat, positions)
    else:
        launch_block(flat, mat, positions)
    count = getattr(engine, "count_product", None)
    if count is not None:
        count(2**k, 2**k, int(flat.size) >> k)
