"""NVIDIA cuStateVec for exact state-vector blocks on the GPU (optional: ``qsim_topo[custatevec]``).

:func:`apply_matrix` applies a (2^k, 2^k) matrix to a cupy state in place through
``custatevec.apply_matrix``, in the state's own precision (compute type 32F for complex64, 64F
for complex128) and with cuStateVec's emulated-bf16 math mode disallowed where the library has
math modes, so the product is exact to the dtype's rounding like the exact engine's.
:func:`custatevec_info` reports the library version and the math mode in force; the results'
metadata records them. cuquantum is imported lazily (never by ``import qsim_topo``).

Contract on buffers: the state is owned by the caller and modified in place; the matrix is
copied to the device in the state's dtype; the workspace is allocated from cupy's pool per
call and released to it afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from qsim_topo.errors import QsimTopoError

__all__ = ["apply_matrix", "custatevec_info", "custatevec_version"]


@functools.lru_cache(maxsize=1)
def _binding() -> ModuleType | None:
    """The cuStateVec binding of cuquantum-python, or None when it is absent or fails to load."""
    try:
        from cuquantum.bindings import custatevec
    except Exception:  # ImportError, or a library that fails to load (no driver, wrong CUDA)
        try:
            from cuquantum import custatevec  # cuquantum-python < 24.08
        except Exception:
            return None
    return custatevec


@functools.lru_cache(maxsize=1)
def custatevec_version() -> str | None:
    """The cuStateVec library's version (``"1.15.0"``), or None when it cannot be loaded."""
    cs = _binding()
    if cs is None:
        return None
    try:
        # get_property, not get_version: the packed integer's encoding changed across releases
        parts = [int(cs.get_property(p)) for p in (0, 1, 2)]  # major, minor, patch level
    except Exception:  # the shared library is missing or does not load
        return None
    return ".".join(str(p) for p in parts)


def _enums() -> tuple[Any, Any]:
    import cuquantum

    return cuquantum.cudaDataType, cuquantum.ComputeType


@functools.cache
def _handle(device: int) -> tuple[int, str]:
    """One cuStateVec handle per device (created on first use), and its math mode's name."""
    cs = _binding()
    assert cs is not None
    handle = int(cs.create())
    mode = "none (this cuStateVec has no math modes)"
    math_mode = getattr(cs, "MathMode", None)
    if math_mode is not None and hasattr(cs, "set_math_mode"):
        cs.set_math_mode(handle, math_mode.DISALLOW_FP32_EMULATED_BF16X9)
        mode = math_mode(int(cs.get_math_mode(handle))).name
    return handle, mode


def custatevec_info() -> dict[str, Any] | None:
    """``{"library": "cuStateVec", "version": ..., "math_mode": ...}``; None when absent.

    The math mode is read back from the handle of the current device, so this creates the
    handle (and needs a working GPU) when cuStateVec is installed.
    """
    version = custatevec_version()
    if version is None:
        return None
    import cupy as cp

    _handle_id, mode = _handle(cp.cuda.Device().id)
    return {"library": "cuStateVec", "version": version, "math_mode": mode}


def apply_matrix(flat: Any, mat: Any, positions: Sequence[int]) -> None:
    """Overwrite the cupy state ``flat`` with ``mat`` applied on bit ``positions``.

    Args:
        flat: 1-D C-contiguous cupy complex64/complex128 array of 2^m entries; modified in
            place (the caller owns it).
        mat: (2^k, 2^k) matrix, bit j of its index on ``positions[j]``; copied to the device
            in ``flat``'s dtype, row-major.
        positions: k distinct bit positions in 0..m-1, any order.

    Raises:
        QsimTopoError: cuStateVec is not installed, or a dtype other than complex64/complex128.
    """
    cs = _binding()
    if cs is None or custatevec_version() is None:
        raise QsimTopoError(
            "cuStateVec is not installed or does not load (pip install 'qsim_topo[custatevec]')"
        )
    import cupy as cp

    data_type, compute_type = _enums()
    if flat.dtype == cp.complex64:
        sv_type, compute = data_type.CUDA_C_32F, compute_type.COMPUTE_32F
    elif flat.dtype == cp.complex128:
        sv_type, compute = data_type.CUDA_C_64F, compute_type.COMPUTE_64F
    else:
        raise QsimTopoError(f"cuStateVec takes complex64/complex128 states, got {flat.dtype}")
    m = cp.ascontiguousarray(cp.asarray(mat, dtype=flat.dtype))
    k = len(positions)
    if m.shape != (1 << k, 1 << k):
        raise QsimTopoError(
            f"a {k}-qubit block needs a ({1 << k}, {1 << k}) matrix, got {tuple(m.shape)}"
        )
    n_bits = int(flat.size).bit_length() - 1
    handle, _mode = _handle(cp.cuda.Device().id)
    cs.set_stream(handle, cp.cuda.get_current_stream().ptr)
    layout = cs.MatrixLayout.ROW
    size = int(cs.apply_matrix_get_workspace_size(
        handle, sv_type, n_bits, m.data.ptr, sv_type, layout, 0, k, 0, compute
    ))
    workspace = cp.empty(size, dtype=cp.uint8) if size else None
    cs.apply_matrix(
        handle, flat.data.ptr, sv_type, n_bits, m.data.ptr, sv_type, layout, 0,
        [int(p) for p in positions], k, [], [], 0, compute,
        workspace.data.ptr if workspace is not None else 0, size,
    )
