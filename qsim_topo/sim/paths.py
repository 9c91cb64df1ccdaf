"""What actually runs a simulation: the record every result carries as ``execution_path``.

:func:`execution_path` resolves the device first (``"auto"`` becomes the device that will run;
``"gpu"`` with no working GPU raises instead of running on the CPU) and then names, from the
same functions the dispatch calls, the pieces that will do the work:

* ``device``: ``"cpu"`` or ``"gpu"``; ``device_name``: the CPU model or the GPU's name;
* ``products``: the library behind every engine product (numpy and its BLAS, or cupy and
  cuBLAS, with versions);
* ``block_kernels``: what applies an exact engine's state-vector blocks in place: on the CPU the
  compiled numba pass or numpy chunks (:func:`qsim_topo.sim.numba_kernels.numba_available`), on
  the GPU our numba-cuda kernels up to 5 qubits and chunked cuBLAS products above;
* on the GPU also ``compute_capability``, ``driver``, ``cuda_runtime`` and ``custatevec``: the
  cuStateVec version, its math mode and the qubit count from which exact blocks go to it
  (:func:`qsim_topo.sim.gpu_kernels.block_path`), or why it is not used.

Values are strings, so the record is JSON-ready; each call returns a new dict.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from typing import Any

import numpy as np

from qsim_topo.errors import QsimTopoError
from qsim_topo.xp import resolve_device

__all__ = ["cpu_name", "execution_path", "gpu_properties", "numba_cuda_version"]


def execution_path(device: str) -> dict[str, str]:
    """The record of the path that runs work on ``device`` (``"cpu" | "gpu" | "auto"``).

    Raises:
        QsimTopoError: ``device="gpu"`` where cupy sees no CUDA device, or where the GPU
            kernels cannot run (numba-cuda missing or seeing no device). Never falls back to
            the CPU.
    """
    if resolve_device(device) == "cpu":
        return dict(_cpu_path())
    return dict(_gpu_path())


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _blas_name() -> str:
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except (AttributeError, KeyError, TypeError):
        return "BLAS unknown"


def _cpu_path() -> dict[str, str]:
    from qsim_topo.sim.numba_kernels import numba_available

    if numba_available():
        import numba

        blocks = f"numba {numba.__version__} (compiled CPU pass)"
    else:
        blocks = f"numpy {np.__version__} (chunked products)"
    return {
        "device": "cpu",
        "device_name": cpu_name(),
        "products": f"numpy {np.__version__} ({_blas_name()})",
        "block_kernels": blocks,
    }


def numba_cuda_version() -> str | None:
    """The version of the numba CUDA target: ``numba-cuda`` or numba's built-in one; or None."""
    try:
        return f"numba-cuda {importlib.metadata.version('numba-cuda')}"
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        import numba
        from numba import cuda  # noqa: F401  (numba < 0.61 ships its own CUDA target)
    except ImportError:
        return None
    return f"numba {numba.__version__} (built-in numba.cuda)"


def gpu_properties(cp: Any) -> dict[str, str]:
    """Name, compute capability, memory, driver and runtime versions of cupy's current device."""

    def version(v: int) -> str:
        return f"{v // 1000}.{v % 1000 // 10}"

    dev = cp.cuda.Device()
    props = cp.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return {
        "device_name": name,
        "compute_capability": f"{props['major']}.{props['minor']}",
        "memory": f"{props['totalGlobalMem'] / 2**30:.1f} GiB",
        "driver": version(cp.cuda.runtime.driverGetVersion()),
        "cuda_runtime": version(cp.cuda.runtime.runtimeGetVersion()),
    }


def _gpu_path() -> dict[str, str]:
    import cupy as cp

    from qsim_topo.sim.gpu_kernels import custatevec_min_qubits

    return dict(_gpu_path_on(cp.cuda.Device().id, custatevec_min_qubits()))


@functools.cache
def _gpu_path_on(device: int, threshold: int | None) -> dict[str, str]:
    import cupy as cp

    from qsim_topo.sim.custatevec import custatevec_info
    from qsim_topo.sim.gpu_kernels import MAX_KERNEL_QUBITS

    kernels = numba_cuda_version()
    if kernels is None:
        raise QsimTopoError(
            "device='gpu' needs numba-cuda for its state-vector kernels, which is not "
            "installed (pip install 'qsim_topo[gpu]')"
        )
    from numba import cuda

    if not cuda.is_available():
        raise QsimTopoError(
            f"device='gpu': cupy sees a CUDA device but {kernels} does not (driver or CUDA "
            "libraries); run 'qsim-topo doctor'"
        )
    record = {"device": "gpu", **gpu_properties(cp)}
    try:
        cublas = f"cuBLAS {cp.cuda.cublas.getVersion(cp.cuda.device.get_cublas_handle())}"
    except Exception:  # cupy builds without the cublas module attribute
        cublas = "cuBLAS"
    record["products"] = f"cupy {cp.__version__} ({cublas})"
    record["block_kernels"] = (
        f"{kernels} (up to {MAX_KERNEL_QUBITS} qubits; wider blocks: chunked cuBLAS products)"
    )
    info = custatevec_info()
    if info is None:
        record["custatevec"] = "not installed"
    elif threshold is None:
        record["custatevec"] = f"cuStateVec {info['version']} installed, disabled"
    else:
        record["custatevec"] = (
            f"cuStateVec {info['version']} for exact blocks from {threshold} qubits "
            f"(math mode {info['math_mode']})"
        )
    return record
