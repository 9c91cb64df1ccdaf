"""Array namespace: one code path for numpy (CPU) and cupy (GPU).

Functions elsewhere in the package start with ``xp = array_namespace(x)`` and use ``xp.*``
instead of ``numpy.*``, so the same source runs on both. cupy is imported lazily, only when a
GPU is asked for or a cupy array is seen: ``import qsim_topo`` never imports it.
"""

from __future__ import annotations

import functools
import os
import sys
from types import ModuleType
from typing import Any, Literal

import numpy as np

from qsim_topo.errors import (
    ArgumentTypeError,
    InsufficientMemoryError,
    InvalidArgumentError,
    QsimTopoError,
)
from qsim_topo.validation import describe, is_integer

__all__ = [
    "Device",
    "SeedLike",
    "array_namespace",
    "as_generator",
    "available_memory",
    "check_memory",
    "device_of",
    "get_xp",
    "gpu_available",
    "random_normal",
    "resolve_device",
    "synchronize",
    "to_device",
    "to_numpy",
    "widen_complex64_inplace",
]

Device = Literal["cpu", "gpu", "auto"]
SeedLike = int | np.random.Generator | np.random.SeedSequence | None
_DEVICES = ("cpu", "gpu", "auto")


@functools.lru_cache(maxsize=1)
def _cupy() -> ModuleType | None:
    """Return the cupy module when it imports and sees at least one CUDA device, else None."""
    try:
        import cupy
    except Exception:  # ImportError, or a CUDA runtime that fails to load
        return None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:
        return None
    return cupy


def gpu_available() -> bool:
    """Whether cupy is installed and sees a CUDA device."""
    return _cupy() is not None


def resolve_device(device: str) -> Literal["cpu", "gpu"]:
    """Turn ``"cpu" | "gpu" | "auto"`` into a concrete device.

    ``"auto"`` is the GPU when cupy sees a device, else the CPU. ``"gpu"`` without a usable
    cupy raises :class:`~qsim_topo.errors.QsimTopoError` naming the missing piece.
    """
    if device not in _DEVICES:
        raise QsimTopoError(f"unknown device {device!r}; expected one of {', '.join(_DEVICES)}")
    if device == "cpu":
        return "cpu"
    if gpu_available():
        return "gpu"
    if device == "auto":
        return "cpu"
    if "cupy" not in sys.modules and _import_fails("cupy"):
        raise QsimTopoError(
            "device='gpu' needs cupy, which is not installed (pip install 'qsim_topo[gpu]')"
        )
    raise QsimTopoError("device='gpu' was asked for but cupy sees no CUDA device")


def _import_fails(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


def get_xp(device: str) -> ModuleType:
    """The array module (numpy or cupy) for ``device`` (``"cpu" | "gpu" | "auto"``)."""
    if resolve_device(device) == "gpu":
        cp = _cupy()
        assert cp is not None
        return cp
    return np


def _is_cupy_array(x: Any) -> bool:
    return type(x).__module__.split(".", 1)[0] == "cupy"


def array_namespace(*arrays: Any) -> ModuleType:
    """The namespace of the given arrays: cupy if any is a cupy array, else numpy.

    Mixing host and device arrays is the caller's error; cupy will raise on the first
    operation that combines them.
    """
    for a in arrays:  # a plain loop: this runs for every engine product
        if type(a) is not np.ndarray and _is_cupy_array(a):
            return sys.modules["cupy"]  # a cupy array exists, so cupy is imported
    return np


def device_of(x: Any) -> Literal["cpu", "gpu"]:
    """``"gpu"`` for a cupy array, ``"cpu"`` otherwise."""
    return "gpu" if _is_cupy_array(x) else "cpu"


def to_numpy(x: Any) -> np.ndarray:
    """A numpy copy (GPU) or view (CPU) of ``x``; the caller must not write to a CPU view."""
    if _is_cupy_array(x):
        return np.asarray(x.get())
    return np.asarray(x)


def to_device(x: Any, device: str, dtype: Any = None) -> Any:
    """``x`` as an array on ``device``, converted to ``dtype`` when given (copies when needed)."""
    xp = get_xp(device)
    if xp is np:
        return np.asarray(to_numpy(x), dtype=dtype)
    return xp.asarray(x, dtype=dtype)


def widen_complex64_inplace(buffer: np.ndarray) -> np.ndarray:
    """Convert, in place, a complex64 array held in the first half of a complex128 buffer.

    Args:
        buffer: a C-contiguous 1-D complex128 numpy array of N entries whose first 8N bytes
            hold N complex64 values (``buffer.view(np.complex64)[:N]``); owned by the caller.

    Returns:
        ``buffer``, now holding the same N values as complex128 (exactly: widening rounds
        nothing).

    The values are moved from the top down in halves: entries [lo, hi) are read from bytes
    [8 lo, 8 hi) and written to bytes [16 lo, 16 hi), which do not overlap while
    2 lo >= hi, and every byte they overwrite was read by an earlier step. So no second array
    of the state's size is ever allocated, and numpy's copies see no overlap.
    """
    if buffer.dtype != np.complex128 or buffer.ndim != 1 or not buffer.flags.c_contiguous:
        raise QsimTopoError(
            "widen_complex64_inplace needs a C-contiguous 1-D complex128 buffer, got "
            f"{buffer.dtype} of shape {buffer.shape}"
        )
    narrow = buffer.view(np.complex64)
    hi = buffer.size
    while hi > 1:
        lo = (hi + 1) // 2
        buffer[lo:hi] = narrow[lo:hi]
        hi = lo
    if buffer.size:
        buffer[0] = complex(narrow[0])  # read before the write that overlaps it
    return buffer


def synchronize(xp: ModuleType) -> None:
    """Wait for queued device work (no-op on numpy); call before reading a host clock."""
    if xp is not np:
        xp.cuda.get_current_stream().synchronize()


def as_generator(seed: SeedLike) -> np.random.Generator:
    """A numpy Generator from an int, SeedSequence, Generator (returned as is) or None.

    Raises:
        ArgumentTypeError: anything else (a bool, a float, a string, a list).
        InvalidArgumentError: a negative integer.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    want = "a non-negative integer, a numpy Generator or SeedSequence, or None"
    if not is_integer(seed):
        raise ArgumentTypeError(f"seed must be {want}, got {describe(seed)}")
    if seed < 0:
        raise InvalidArgumentError(f"seed must be {want}, got {seed}")
    return np.random.default_rng(int(seed))


def random_normal(xp: ModuleType, rng: np.random.Generator, shape: tuple[int, ...]) -> Any:
    """Standard normal float64 samples of ``shape`` made on ``xp``'s device.

    On the GPU the numbers are drawn on the device by a cupy generator seeded from ``rng``, so
    the same seed gives the same numbers on the same device, but CPU and GPU streams differ.
    """
    if xp is np:
        return rng.standard_normal(shape)
    device_rng = xp.random.RandomState(int(rng.integers(2**63 - 1)))
    return device_rng.standard_normal(shape, dtype=np.float64)


def available_memory(device: str) -> int:
    """Bytes that can still be allocated on ``device`` (``"cpu"`` or ``"gpu"``).

    CPU: the smaller of the kernel's MemAvailable and the cgroup limit minus usage, so a
    container's limit is honoured. GPU: free device memory plus what cupy's pool holds unused.
    """
    if resolve_device(device) == "gpu":
        cp = _cupy()
        assert cp is not None
        free, _total = cp.cuda.runtime.memGetInfo()
        pool = cp.get_default_memory_pool()
        return int(free + pool.free_bytes())
    candidates = [_meminfo_available()]
    cgroup = _cgroup_available()
    if cgroup is not None:
        candidates.append(cgroup)
    return int(min(c for c in candidates if c is not None))


def _meminfo_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1  # unknown platform: do not refuse work we cannot judge


def _cgroup_available() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
            used = int(fh.read().strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def check_memory(required: int, device: str, what: str, *, headroom: float = 0.9) -> None:
    """Refuse, before anything is allocated, work that needs more than ``headroom`` of free memory.

    Raises:
        InsufficientMemoryError: naming ``what``, the required and the available bytes.

    """
    dev = resolve_device(device)
    available = available_memory(dev)
    if required > headroom * available:
        raise InsufficientMemoryError(what, required, available, dev)
