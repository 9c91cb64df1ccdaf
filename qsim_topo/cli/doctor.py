"""``qsim-topo doctor``: which GPU paths work here, proved by running each one.

A device count alone passes on broken installs (a driver too old for the runtime, a missing
NVRTC or libNVVM, an architecture the kernels were not built for), so every path that is
available launches a tiny real computation and is compared with numpy in complex128:

* ``products``: a cupy matmul (cuBLAS), complex64 and complex128;
* ``block kernels``: our numba-cuda kernel for every block width 1..5, both dtypes, on
  scattered qubits in scrambled order;
* ``chunked products``: a 6-qubit block through :func:`qsim_topo.sim.kernels.apply_inplace`
  (wider than the kernels take);
* ``cuStateVec``: ``custatevec.apply_matrix`` on the same blocks, when installed.

Without a GPU it prints one line saying why and exits 0; with one it prints the device,
versions and one line per path, and exits 1 when any available path fails its check.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["PathCheck", "add_parser", "check_block_kernels", "run", "run_doctor"]

N_QUBITS = 8  # small enough to check on the host, big enough for several thread blocks
TOL = {"complex64": 1e-5, "complex128": 1e-12}  # max |out - ref| / max |ref|


@dataclass
class PathCheck:
    """One path's check: ``ok`` is None when the path is not available (``detail`` says why)."""

    path: str
    ok: bool | None
    detail: str


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``doctor`` on the ``qsim-topo`` subcommand parsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="show the GPU, the library versions, and check every GPU path with a tiny run",
        description=(
            "Print the CUDA device, compute capability, driver and runtime versions, the "
            "cupy / numba-cuda / cuStateVec versions, and for each GPU path a tiny real run "
            "checked against numpy. Without a GPU: one line, exit status 0."
        ),
    )
    return p


def _reference(state: np.ndarray, mat: np.ndarray, qubits: tuple[int, ...]) -> np.ndarray:
    """``(mat on qubits) @ state`` in complex128 by numpy alone (einsum over the axes)."""
    n = state.size.bit_length() - 1
    k = len(qubits)
    psi = state.astype(np.complex128).reshape((2,) * n)
    u = mat.astype(np.complex128).reshape((2,) * (2 * k))
    # axis of qubit q is n-1-q (C order, qubit 0 least significant); matrix index bit j is
    # qubits[j], and u's axes run from bit k-1 to bit 0 for rows then columns.
    axes = [n - 1 - qubits[j] for j in reversed(range(k))]
    out = np.tensordot(u, psi, axes=(list(range(k, 2 * k)), axes))
    out = np.moveaxis(out, list(range(k)), axes)
    return out.reshape(-1)


def _blocks(rng: np.random.Generator, widths: range) -> list[tuple[int, ...]]:
    """Scattered targets in scrambled order, one tuple per width."""
    return [tuple(int(q) for q in rng.permutation(N_QUBITS)[:k]) for k in widths]


def _compare(
    xp: ModuleType,
    apply: Callable[[Any, Any, tuple[int, ...]], Any],
    blocks: list[tuple[int, ...]],
    rng: np.random.Generator,
) -> tuple[bool, str]:
    """Apply Haar blocks with ``apply(state, mat, qubits)`` and compare with numpy."""
    from qsim_topo.layers import haar_unitary
    from qsim_topo.xp import synchronize, to_numpy

    worst = 0.0
    bad = []
    for dtype in ("complex64", "complex128"):
        for qubits in blocks:
            k = len(qubits)
            u = haar_unitary(2**k, seed=rng)
            psi = rng.standard_normal(2**N_QUBITS) + 1j * rng.standard_normal(2**N_QUBITS)
            want = _reference(psi.astype(dtype), u.astype(dtype), qubits)
            state = xp.asarray(psi.astype(dtype))
            out = apply(state, xp.asarray(u.astype(dtype)), qubits)
            synchronize(xp)
            got = to_numpy(out).astype(np.complex128)
            err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
            worst = max(worst, err / TOL[dtype])
            if not err <= TOL[dtype]:  # NaN fails too
                bad.append(f"{k} qubits {dtype}: error {err:.1e}")
    if bad:
        return False, "; ".join(bad)
    return True, f"{2 * len(blocks)} blocks, worst error {worst:.2f} of tolerance"


def check_block_kernels(xp: ModuleType, seed: int = 21) -> PathCheck:
    """Our numba-cuda kernels, every width 1..5 in both dtypes, against numpy.

    ``xp`` is cupy on a GPU; numpy under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``).
    cuStateVec is kept out (threshold above the state's size), so the kernels themselves run.
    """
    from qsim_topo.engines import get_engine
    from qsim_topo.sim.gpu_kernels import MAX_KERNEL_QUBITS, apply_block_gpu
    from qsim_topo.sim.paths import numba_cuda_version

    version = numba_cuda_version()
    if version is None:
        return PathCheck("block kernels", None, "numba-cuda is not installed")

    engine = get_engine("exact")

    def apply(state: Any, mat: Any, qubits: tuple[int, ...]) -> Any:
        apply_block_gpu(engine, state, mat, qubits, N_QUBITS, 1, custatevec_min=64)
        return state

    rng = np.random.default_rng(seed)
    try:
        ok, detail = _compare(xp, apply, _blocks(rng, range(1, MAX_KERNEL_QUBITS + 1)), rng)
    except Exception as exc:  # a broken install shows up here: report it, do not crash
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return PathCheck(f"block kernels ({version})", ok, detail)


def _check_products(cp: ModuleType, rng: np.random.Generator) -> PathCheck:
    worst = 0.0
    try:
        for dtype in ("complex64", "complex128"):
            a = (rng.standard_normal((64, 64)) + 1j * rng.standard_normal((64, 64))).astype(dtype)
            b = (rng.standard_normal((64, 64)) + 1j * rng.standard_normal((64, 64))).astype(dtype)
            got = cp.asnumpy(cp.asarray(a) @ cp.asarray(b)).astype(np.complex128)
            want = a.astype(np.complex128) @ b.astype(np.complex128)
            err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
            if not err <= 1e3 * TOL[dtype]:  # 64-term sums: a few hundred ulps at most
                return PathCheck("products (cupy/cuBLAS)", False, f"{dtype}: error {err:.1e}")
            worst = max(worst, err / (1e3 * TOL[dtype]))
    except Exception as exc:
        return PathCheck("products (cupy/cuBLAS)", False, f"{type(exc).__name__}: {exc}")
    return PathCheck(
        f"products (cupy {cp.__version__}/cuBLAS)", True,
        f"64x64 complex64/complex128, worst error {worst:.2f} of tolerance",
    )


def _check_chunked(cp: ModuleType, rng: np.random.Generator) -> PathCheck:
    from qsim_topo.engines import get_engine
    from qsim_topo.sim.kernels import apply_inplace

    engine = get_engine("exact")

    def apply(state: Any, mat: Any, qubits: tuple[int, ...]) -> Any:
        return apply_inplace(engine, state, mat, qubits, N_QUBITS)

    try:
        ok, detail = _compare(cp, apply, _blocks(rng, range(6, 7)), rng)
    except Exception as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return PathCheck("chunked products (6-qubit block)", ok, detail)


def _check_custatevec(cp: ModuleType, rng: np.random.Generator) -> PathCheck:
    from qsim_topo.sim import custatevec

    version = custatevec.custatevec_version()
    if version is None:
        return PathCheck("cuStateVec", None, "not installed (pip install 'qsim_topo[custatevec]')")

    def apply(state: Any, mat: Any, qubits: tuple[int, ...]) -> Any:
        custatevec.apply_matrix(state, mat, qubits)
        return state

    try:
        info = custatevec.custatevec_info()
        ok, detail = _compare(cp, apply, _blocks(rng, range(1, 7)), rng)
        detail += f"; math mode {info['math_mode'] if info else '?'}"
    except Exception as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return PathCheck(f"cuStateVec {version}", ok, detail)


def run_doctor(seed: int = 21) -> tuple[list[str], int]:
    """The doctor's lines and exit status (0: no GPU, or every available path passed)."""
    from qsim_topo.xp import _cupy

    cp = _cupy()
    if cp is None:
        import importlib.util

        why = ("cupy is not installed (pip install 'qsim_topo[gpu]')"
               if importlib.util.find_spec("cupy") is None
               else "cupy is installed but sees no CUDA device (driver or runtime)")
        return [f"no GPU: {why}; the CPU paths are the only ones here"], 0
    from qsim_topo.sim.paths import gpu_properties, numba_cuda_version

    props = gpu_properties(cp)
    lines = [
        f"device {cp.cuda.Device().id}: {props['device_name']}, compute capability "
        f"{props['compute_capability']}, {props['memory']} "
        f"({cp.cuda.runtime.getDeviceCount()} device(s))",
        f"driver {props['driver']}, CUDA runtime {props['cuda_runtime']}",
        f"cupy {cp.__version__}, {numba_cuda_version() or 'numba-cuda not installed'}",
    ]
    rng = np.random.default_rng(seed)
    checks = [
        _check_products(cp, rng),
        check_block_kernels(cp, seed),
        _check_chunked(cp, rng),
        _check_custatevec(cp, rng),
    ]
    status = 0
    for c in checks:
        mark = "n/a " if c.ok is None else ("ok  " if c.ok else "FAIL")
        lines.append(f"  {mark} {c.path}: {c.detail}")
        if c.ok is False:
            status = 1
    return lines, status


def run(args: argparse.Namespace) -> int:
    """Print the doctor's report; the exit status of :func:`run_doctor`."""
    lines, status = run_doctor()
    print("\n".join(lines))
    return status
