"""The compiled kernels of :mod:`qsim_topo.sim.measure` (numba, parallel over chunks).

A module of its own so that numba compiles (and caches on disk) module-level functions, and so
that only a caller that has checked :func:`~qsim_topo.sim.numba_kernels.numba_available`
imports numba. Every kernel reads the state through its real view ``x`` (float32 or float64,
``x[2 i]`` and ``x[2 i + 1]`` the real and imaginary parts of amplitude i) and allocates
nothing of the state's size: the callers pass every output and scratch array in (but a row of
:data:`BLOCK` floats per chunk), so what a measurement costs in memory is visible to them (and
to ``tracemalloc``).

Weights are float64, without fastmath: a chunk's total is the sum of its blocks' weights in
order, each block summed by :func:`block_weight`, exactly as the sampling walk advances its
running weight over the blocks (inside a block that holds points, amplitude by amplitude:
``re * re + im * im``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

BLOCK = 16
"""Amplitudes per block: a chunk's weight is summed block by block, each block by 8
partial sums, so the additions are not one serial chain (latency-bound)."""


@njit(inline="always", nogil=True)
def block_weight(x: Any, start: int, stop: int) -> float:  # pragma: no cover - compiled
    """The weight of amplitudes ``start`` .. ``stop - 1``, always summed the same way.

    The squares of the block's floats (real and imaginary parts alike) go to 8 partial sums
    by position, so that the loop runs on vector lanes.
    """
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    s5 = 0.0
    s6 = 0.0
    s7 = 0.0
    k = 2 * start
    end = 2 * stop
    while k + 8 <= end:
        a0 = np.float64(x[k])
        a1 = np.float64(x[k + 1])
        a2 = np.float64(x[k + 2])
        a3 = np.float64(x[k + 3])
        a4 = np.float64(x[k + 4])
        a5 = np.float64(x[k + 5])
        a6 = np.float64(x[k + 6])
        a7 = np.float64(x[k + 7])
        s0 += a0 * a0
        s1 += a1 * a1
        s2 += a2 * a2
        s3 += a3 * a3
        s4 += a4 * a4
        s5 += a5 * a5
        s6 += a6 * a6
        s7 += a7 * a7
        k += 8
    while k < end:
        a0 = np.float64(x[k])
        s0 += a0 * a0
        k += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(parallel=True, nogil=True, cache=True)
def poisson_walk(
    x: Any,
    chunk: int,
    active: Any,
    first: Any,
    acc0: Any,
    pos0: Any,
    spacings: Any,
    scale: float,
    lo: Any,
    hi: Any,
    known: Any,
    out: Any,
    used: Any,
    totals: Any,
    stop_first: Any,
    stop_acc: Any,
    stop_pos: Any,
) -> None:
    """Points of a Poisson process on each chunk's running weight, in one pass over it.

    Chunk c (``active[c]`` True) holds amplitudes ``c * chunk`` .. ``(c + 1) * chunk - 1``
    (the last may be shorter). Its walk starts at amplitude ``first[c]`` (a block start),
    with running weight ``acc0[c]`` (the weight of the chunk before it) and a last point at
    ``pos0[c]``; the next points are at ``pos0[c]`` plus the partial sums of
    ``scale * spacings[lo[c]:hi[c]]``. A point p goes to the first amplitude whose running
    weight exceeds p (``searchsorted(cumsum, p, side="right")``), or to its block's last
    amplitude of nonzero weight when rounding puts p past the block's own sum of its
    amplitudes but below its weight (:func:`block_weight`); points past the chunk's weight
    are not points of the chunk. The chunk's points, ascending, are written to
    ``out[lo[c]:lo[c] + used[c]]``.

    When the spacings run out, the walk records where (``stop_first[c]``, the start of the
    block of its last point, ``stop_acc[c]`` the running weight before that block and
    ``stop_pos[c]`` the last point), so a later call can go on from there with fresh
    spacings; ``stop_first[c]`` is -1 when the chunk is done. With ``known[c]`` False the
    walk goes on to the chunk's end and writes its weight to ``totals[c]`` (the sum of its
    block weights in order); with ``known[c]`` True, ``totals[c]`` is that weight and the walk
    stops at the first point past it or where the spacings run out.
    """
    size = x.size // 2
    for c in prange(active.size):  # pragma: no cover - compiled
        if not active[c]:
            continue
        stop = min((c + 1) * chunk, size)
        j = lo[c]
        end = hi[c]
        acc = acc0[c]
        pos = pos0[c]
        nxt = pos + scale * spacings[j] if j < end else np.inf
        stop_first[c] = -1
        run = np.empty(BLOCK, dtype=np.float64)
        for b in range(first[c], stop, BLOCK):
            bstop = min(b + BLOCK, stop)
            bw = block_weight(x, b, bstop)
            if nxt < acc + bw:  # the block holds points (nxt is inf once they run out)
                # Running weights of the block's amplitudes, then each point's amplitude
                # counted without a branch: the points of a block are few and unpredictable.
                m = bstop - b
                inner = acc
                for i in range(m):
                    re = np.float64(x[2 * (b + i)])
                    im = np.float64(x[2 * (b + i) + 1])
                    inner += re * re + im * im
                    run[i] = inner
                while nxt < acc + bw:
                    k = 0
                    for i in range(m):
                        k += run[i] <= nxt
                    if k == m:  # rounding: past the block's own sum; its last nonzero one
                        k = m - 1
                        while k > 0 and x[2 * (b + k)] == 0 and x[2 * (b + k) + 1] == 0:
                            k -= 1
                    out[j] = b + k
                    pos = nxt
                    j += 1
                    nxt = pos + scale * spacings[j] if j < end else np.inf
                if j == end and stop_first[c] < 0:  # ran out: go on from this block later
                    stop_first[c] = b
                    stop_acc[c] = acc
                    stop_pos[c] = pos
            acc += bw
            if known[c] and (stop_first[c] >= 0 or not nxt < totals[c]):
                break
        used[c] = j - lo[c]
        if not known[c]:
            totals[c] = acc


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
