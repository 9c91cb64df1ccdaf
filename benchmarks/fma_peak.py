"""This machine's peak rate of complex multiply-adds, measured: the ceiling of the gate work.

A gate applied to a state is complex multiply-adds, ``y += a * x`` (4 real multiply-adds each:
``yr += ar * xr - ai * xi``, ``yi += ar * xi + ai * xr``). This benchmark runs exactly that
loop, compiled by numba with FMA contraction, on split real and imaginary arrays of
``LANES`` numbers per thread (L1-resident: 4 arrays of 256 doubles are 8 KiB), every thread
its own arrays, for each precision. No memory traffic and no index arithmetic: an upper bound
of what a gate kernel can reach (which also loads its amplitudes from L2 or memory), the same
arithmetic at the same vector width (numba picks the host's widest, AVX-512 here).

Reported as complex multiply-adds per second (``cmac/s``; multiply by 8 for flop/s).

    python benchmarks/fma_peak.py               # both precisions, numba's default threads
    python benchmarks/fma_peak.py --threads 1
"""

from __future__ import annotations

import argparse
import time
from functools import lru_cache
from typing import Any

import numpy as np

LANES = 256
REPS = 20_000


@lru_cache(maxsize=1)
def _kernel() -> Any:
    # numba_available() first: it sets numba's OpenMP wait policy the way the simulator runs
    # (before libgomp loads, which this kernel would otherwise do with the default policy).
    from qsim_topo.sim.numba_kernels import numba_available

    if not numba_available():
        raise RuntimeError("the peak benchmark needs numba")
    from numba import njit, prange

    @njit(parallel=True, fastmath={"contract"}, nogil=True)
    def cmac_loop(yr: Any, yi: Any, xr: Any, xi: Any, ar: Any, ai: Any, reps: int) -> None:
        # yr, yi, xr, xi: (threads, LANES); one row per parallel task.
        for t in prange(yr.shape[0]):
            a_r = ar[t]
            a_i = ai[t]
            for _ in range(reps):
                for i in range(yr.shape[1]):
                    r = yr[t, i] + a_r * xr[t, i] - a_i * xi[t, i]
                    yi[t, i] = yi[t, i] + a_r * xi[t, i] + a_i * xr[t, i]
                    yr[t, i] = r

    return cmac_loop


def peak_cmac_per_s(dtype: Any, threads: int | None = None, repeats: int = 3) -> float:
    """Best of ``repeats`` of the complex multiply-add loop, in complex MACs per second.

    Args:
        dtype: np.float32 (complex64 work) or np.float64 (complex128 work).
        threads: parallel tasks (numba's current thread count when None).
    """
    kernel = _kernel()
    import numba

    tasks = numba.get_num_threads() if threads is None else threads
    rng = np.random.default_rng(0)
    # |a| < 1: the running sums stay finite and normal (no denormal slow path) for any REPS.
    arrays = [rng.random((tasks, LANES)).astype(dtype) for _ in range(4)]
    ar = (0.5 * rng.random(tasks)).astype(dtype)
    ai = (0.5 * rng.random(tasks)).astype(dtype)
    kernel(*arrays, ar, ai, 10)  # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        kernel(*arrays, ar, ai, REPS)
        best = min(best, time.perf_counter() - start)
    if not all(np.isfinite(a).all() for a in arrays):
        raise RuntimeError("the peak loop overflowed; its timing is meaningless")
    return tasks * LANES * REPS / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    _kernel()
    import numba

    if args.threads is not None:
        numba.set_num_threads(args.threads)
    for name, dtype in (("complex64", np.float32), ("complex128", np.float64)):
        rate = peak_cmac_per_s(dtype)
        print(f"{name}: {rate / 1e9:.2f} Gcmac/s ({8 * rate / 1e9:.1f} Gflop/s) on "
              f"{numba.get_num_threads()} thread(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
