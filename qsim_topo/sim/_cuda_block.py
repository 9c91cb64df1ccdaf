"""The source of the GPU block kernels, for ``numba.cuda.jit`` (imported lazily).

``numba.cuda`` is a module global here on purpose: under the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) numba swaps a kernel's global ``cuda`` for its fake, thread-by-
thread implementation, which it cannot do for a name bound in a closure. Importing this module
imports numba; :mod:`qsim_topo.sim.gpu_kernels` imports it only when a kernel is needed.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

# Typed as Any: the kernel is Python only to numba, and numba-cuda's stubs do not describe
# device-side arithmetic on threadIdx and friends.
cuda: Any = importlib.import_module("numba.cuda")

__all__ = ["make_block_kernel"]


@functools.cache
def make_block_kernel(k: int, dtype: str) -> Callable[..., None]:
    """The Python source of the k-qubit block kernel for ``dtype``, for ``numba.cuda.jit``.

    The returned function has the kernel signature ``(state, mat, groups, sorted_pos, pos)``:

    * ``state``: 1-D C-contiguous array of ``dtype`` (the flat tensor), modified in place;
    * ``mat``: 1-D array of 4^k entries of ``dtype``, the row-major (2^k, 2^k) matrix;
    * ``groups``: ``state.size >> k``, the number of threads with work;
    * ``sorted_pos``: the k target bit positions in ascending order (where zero bits are
      inserted into the group index);
    * ``pos``: the same positions in the matrix's order (``pos[j]`` carries bit j of a row or
      column index), any permutation of ``sorted_pos``.

    One thread per group; the launch needs ``blocks * threads >= groups``. k and the dtype are
    compile-time constants (closure variables), so the loops over 2^k unroll and the group
    stays in registers.
    """
    dim = 1 << k
    msize = dim * dim
    scalar = np.complex64 if dtype == "complex64" else np.complex128

    def kernel(state: Any, mat: Any, groups: int, sorted_pos: Any, pos: Any) -> None:
        m = cuda.shared.array(msize, scalar)
        t = cuda.threadIdx.x
        while t < msize:
            m[t] = mat[t]
            t += cuda.blockDim.x
        cuda.syncthreads()
        # int64 before multiplying: blockIdx.x * blockDim.x overflows 32 bits from 2^32 groups.
        g = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
        if g >= groups:
            return
        base = g
        for i in range(k):
            p = sorted_pos[i]
            base = ((base >> p) << (p + 1)) | (base & ((np.int64(1) << p) - 1))
        v = cuda.local.array(dim, scalar)
        for j in range(dim):
            o = np.int64(0)
            for i in range(k):
                o |= np.int64((j >> i) & 1) << pos[i]
            v[j] = state[base + o]
        for r in range(dim):
            acc = scalar(0)
            for c in range(dim):
                acc += m[r * dim + c] * v[c]
            o = np.int64(0)
            for i in range(k):
                o |= np.int64((r >> i) & 1) << pos[i]
            state[base + o] = acc

    kernel.__name__ = kernel.__qualname__ = f"apply_block_{k}_{dtype}"
    return kernel
