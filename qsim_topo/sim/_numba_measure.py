"""The compiled kernels of :mod:`qsim_topo.sim.measure` (numba, parallel over chunks).

A module of its own so that numba compiles (and caches on disk) module-level functions, and so
that only a caller that has checked :func:`~qsim_topo.sim.numba_kernels.numba_available`
imports numba. Every kernel reads the state through its real view ``x`` (float32 or float64,
``x[2 i]`` and ``x[2 i + 1]`` the real and imaginary parts of amplitude i) and allocates
nothing of the state's size: the callers pass every output and scratch array in, so what a
measurement costs in memory is visible to them (and to ``tracemalloc``).

Weights are float64 ``re * re + im * im`` summed in index order, with no reassociation
(no fastmath), so that a chunk's total is exactly the last value of the running sum the
sampling walk computes over that chunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange


@njit(parallel=True, nogil=True, cache=True)
def chunk_totals(x: Any, chunk: int, out: Any) -> None:
    """``out[c]`` = the squared norm of amplitudes ``c * chunk`` .. ``(c + 1) * chunk - 1``."""
    size = x.size // 2
    for c in prange(out.size):  # pragma: no cover - compiled
        s = 0.0
        for i in range(c * chunk, min((c + 1) * chunk, size)):
            re = np.float64(x[2 * i])
            im = np.float64(x[2 * i + 1])
            s += re * re + im * im
        out[c] = s


@njit(parallel=True, nogil=True, cache=True)
def walk(x: Any, chunk: int, before: Any, targets: Any, starts: Any, out: Any) -> None:
    """Inverse-CDF draws of ascending ``targets``, one parallel walk per chunk that holds some.

    Draws ``starts[c]`` .. ``starts[c + 1] - 1`` fall in chunk c: draw j becomes the first
    index i of the chunk whose running weight (from the chunk's start) exceeds
    ``targets[j] - before[c]`` (``searchsorted(..., side="right")``), or the chunk's last
    index of nonzero weight when rounding puts the target past the chunk's total. The walk
    stops at the chunk's last draw.
    """
    size = x.size // 2
    for c in prange(starts.size - 1):  # pragma: no cover - compiled
        k = starts[c]
        end = starts[c + 1]
        if k == end:
            continue
        acc = 0.0
        base = before[c]
        last = c * chunk
        for i in range(c * chunk, min((c + 1) * chunk, size)):
            re = np.float64(x[2 * i])
            im = np.float64(x[2 * i + 1])
            w = re * re + im * im
            if w == 0.0:
                continue
            acc += w
            last = i
            while k < end and targets[k] - base < acc:
                out[k] = i
                k += 1
            if k == end:
                break
        while k < end:
            out[k] = last
            k += 1


@njit(parallel=True, nogil=True, cache=True)
def marginal(x: Any, lut_lo: Any, lo_bits: int, lut_hi: Any, acc: Any) -> None:
    """``acc[t, o]`` += the weight of amplitudes of block t whose measured bits read o.

    The outcome of amplitude i is ``lut_lo[i & (2^lo_bits - 1)] | lut_hi[i >> lo_bits]``;
    the state is split into ``acc.shape[0]`` equal blocks, one private row of ``acc`` each.
    """
    size = x.size // 2
    blocks = acc.shape[0]
    per = size // blocks
    mask = (1 << lo_bits) - 1
    for t in prange(blocks):  # pragma: no cover - compiled
        row = acc[t]
        for i in range(t * per, (t + 1) * per):
            re = np.float64(x[2 * i])
            im = np.float64(x[2 * i + 1])
            row[lut_lo[i & mask] | lut_hi[i >> lo_bits]] += re * re + im * im
