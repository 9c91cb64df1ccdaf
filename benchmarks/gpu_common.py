"""What the GPU benchmark scripts share: the machine line and the table-row layout.

Imported by ``benchmarks/gpu_bandwidth.py`` and ``benchmarks/dense_gpu.py`` (run as scripts, so
this folder is on ``sys.path``). Never imports cupy itself: callers pass the module.
"""

from __future__ import annotations

import datetime
import platform
import shlex
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from qsim_topo.sim.paths import execution_path
from qsim_topo.xp import gpu_available


def environment(cp: Any, script: str, argv: list[str]) -> str:
    """Three comment lines: date, host, GPU (memory, SMs, L2), driver/runtime/cupy/numpy/python
    versions; the command line of ``benchmarks/<script>``; the execution path that runs it."""
    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]

    def version(v: int) -> str:
        return f"{v // 1000}.{v % 1000 // 10}"

    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    return (f"# {stamp} {platform.node()}: {name}, {props['totalGlobalMem'] / 2**30:.0f} GiB, "
            f"{props['multiProcessorCount']} SMs, L2 {props['l2CacheSize'] / 2**20:.0f} MiB; "
            f"driver {version(cp.cuda.runtime.driverGetVersion())}, runtime "
            f"{version(cp.cuda.runtime.runtimeGetVersion())}, cupy {cp.__version__}, numpy "
            f"{np.__version__}, python {platform.python_version()}\n"
            f"# {shlex.join(['python3', f'benchmarks/{script}', *argv])}\n"
            f"# execution path: {execution_path('gpu')}")


def join_row(values: Sequence[str], widths: Sequence[int], md: bool, rule: str) -> str:
    """A table row: markdown (``rule``, the separator line, follows the header) or aligned
    text, ``widths`` per column, a negative width meaning left-aligned."""
    if md:
        return "| " + " | ".join(values) + " |" + rule
    return " ".join(f"{v:<{-w}}" if w < 0 else f"{v:>{w}}"
                    for v, w in zip(values, widths, strict=True))


def require_gpu(script: str, argv: list[str]) -> Any:
    """cupy after printing the machine line, or None after a one-line message (no GPU)."""
    if not gpu_available():
        print(f"{script} needs cupy and a CUDA GPU (cupy is missing or sees no device)",
              file=sys.stderr)
        return None
    import cupy as cp

    print(environment(cp, script, argv))
    return cp
