"""The compiled kernels of :mod:`qsim_topo.sim.measure` (numba, parallel over chunks).

A module of its own so that numba compiles (and caches on disk) module-level functions, and so
that only a caller that has checked :func:`~qsim_topo.sim.numba_kernels.numba_available`
imports numba. Every kernel reads the state through its real view ``x`` (float32 or float64,
``x[2 i]`` and ``x[2 i + 1]`` the real and imaginary parts of amplitude i) and allocates
nothing of the state's size: the callers pass every output and scratch array in, so what a
measurement costs in memory is visible to them (and to ``tracemalloc``).

Weights are float64 ``re * re + im * im``, without fastmath: a chunk's total is the sum of its
blocks' weights in order, each block summed by :func:`block_weight`, exactly as the sampling
walk advances its running weight.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

BLOCK = 16
"""Amplitudes per block: a chunk's weight is summed block by block, each block by 4
interleaved partial sums, so the additions are not one serial chain (latency-bound)."""


@njit(inline="always", nogil=True)
def block_weight(x: Any, start: int, stop: int) -> float:  # pragma: no cover - compiled
    """The weight of amplitudes ``start`` .. ``stop - 1``, always summed the same way."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    i = start
    while i + 4 <= stop:
        r0 = np.float64(x[2 * i])
        m0 = np.float64(x[2 * i + 1])
        r1 = np.float64(x[2 * i + 2])
        m1 = np.float64(x[2 * i + 3])
        r2 = np.float64(x[2 * i + 4])
        m2 = np.float64(x[2 * i + 5])
        r3 = np.float64(x[2 * i + 6])
        m3 = np.float64(x[2 * i + 7])
        s0 += r0 * r0 + m0 * m0
        s1 += r1 * r1 + m1 * m1
        s2 += r2 * r2 + m2 * m2
        s3 += r3 * r3 + m3 * m3
        i += 4
    while i < stop:
        r0 = np.float64(x[2 * i])
        m0 = np.float64(x[2 * i + 1])
        s0 += r0 * r0 + m0 * m0
        i += 1
    return (s0 + s1) + (s2 + s3)


@njit(parallel=True, nogil=True, cache=True)
def chunk_totals(x: Any, chunk: int, out: Any) -> None:
    """``out[c]`` = the squared norm of amplitudes ``c * chunk`` .. ``(c + 1) * chunk - 1``.

    Summed block by block (:func:`block_weight`), as :func:`walk` sums them.
    """
    size = x.size // 2
    for c in prange(out.size):  # pragma: no cover - compiled
        s = 0.0
        stop = min((c + 1) * chunk, size)
        for b in range(c * chunk, stop, BLOCK):
            s += block_weight(x, b, min(b + BLOCK, stop))
        out[c] = s


@njit(parallel=True, nogil=True, cache=True)
def walk(x: Any, chunk: int, before: Any, targets: Any, starts: Any, out: Any) -> None:
    """Inverse-CDF draws of ascending ``targets``, one parallel walk per chunk that holds some.

    Draws ``starts[c]`` .. ``starts[c + 1] - 1`` fall in chunk c: draw j becomes the first
    index i of the chunk whose running weight (from the chunk's start) exceeds
    ``targets[j] - before[c]`` (``searchsorted(..., side="right")``), or the chunk's last
    index of nonzero weight when rounding puts the target past the chunk's total. The running
    weight advances a block at a time (:func:`block_weight`, the sums of
    :func:`chunk_totals`); only a block that holds a draw is stepped through amplitude by
    amplitude. The walk stops at the chunk's last draw.
    """
    size = x.size // 2
    for c in prange(starts.size - 1):  # pragma: no cover - compiled
        k = starts[c]
        end = starts[c + 1]
        if k == end:
            continue
        base = before[c]
        acc = 0.0
        stop = min((c + 1) * chunk, size)
        for b in range(c * chunk, stop, BLOCK):
            bstop = min(b + BLOCK, stop)
            bw = block_weight(x, b, bstop)
            if targets[k] - base < acc + bw:
                inner = acc
                for i in range(b, bstop):
                    re = np.float64(x[2 * i])
                    im = np.float64(x[2 * i + 1])
                    w = re * re + im * im
                    if w == 0.0:
                        continue
                    inner += w
                    while k < end and targets[k] - base < inner:
                        out[k] = i
                        k += 1
                    if k == end:
                        break
            acc += bw
            if k == end:
                break
        if k < end:  # rounding: the rest go to the chunk's last amplitude of nonzero weight
            last = c * chunk
            for i in range(stop - 1, c * chunk - 1, -1):
                if x[2 * i] != 0 or x[2 * i + 1] != 0:
                    last = i
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
