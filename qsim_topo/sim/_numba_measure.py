"""The compiled kernels of :mod:`qsim_topo.sim.measure` (numba, parallel over chunks).

A module of its own so that numba compiles (and caches on disk) module-level functions, and so
that only a caller that has checked :func:`~qsim_topo.sim.numba_kernels.numba_available`
imports numba. Every kernel reads the state through its real view ``x`` (float32 or float64,
``x[2 i]`` and ``x[2 i + 1]`` the real and imaginary parts of amplitude i) and allocates
nothing of the state's size: the callers pass every output and scratch array in (but a few
KiB per chunk of the walk, and the shuffle's byte per shuffled element), so what a measurement
costs in memory is visible to them (and to ``tracemalloc``).

Weights are float64: a chunk's total is the sum of its blocks' weights in order, each block
summed by :func:`block_weight` (vectorised), exactly as the sampling walk advances its running
weight over the blocks (inside a block that holds points, amplitude by amplitude, without
fastmath: ``re * re + im * im``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

BLOCK = 16
"""Amplitudes per block of the sampling walk: a chunk's weight is summed block by block (one
vectorised sum each, :func:`block_weight`), and only a block that holds a point is read
amplitude by amplitude."""
SPAN = 32
"""Blocks of a span: the walk sums a span's blocks, then locates the points inside it, while
the span's amplitudes (8 KiB of a complex128 state) are still in the first-level cache (256
blocks, 64 KiB, were 20-30% slower per point here)."""
WINDOW = 16
"""Blocks a point's block is looked for among, past the last point's, without a branch."""
BATCH = 256
"""Points the walk locates together (their positions, then their blocks, then their
amplitudes)."""


@njit(fastmath={"reassoc"}, nogil=True, cache=True)
def block_weight(y: Any) -> float:  # pragma: no cover - compiled
    """The sum of the squares of the floats ``y`` (float64 arithmetic).

    Reassociation is allowed here alone (``fastmath={"reassoc"}``), so the sum runs on vector
    lanes in an order the compiler picks: one fixed function of ``y`` in the compiled walk,
    which is all the walk needs (its totals and its search read the same sums). Not the
    order a Python loop would use; tests read the walk's own block sums back through it.
    """
    s = 0.0
    for k in range(y.size):
        a = np.float64(y[k])
        s += a * a
    return s


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
        nxt = pos0[c] + scale * spacings[j] if j < end else np.inf
        stop_first[c] = -1
        # run[t]: the running weight before block t of the span (run[t + 1] after it)
        run = np.full(SPAN + 1 + WINDOW, np.inf)
        pts = np.empty(BATCH, dtype=np.float64)
        blk = np.empty(BATCH, dtype=np.int64)
        pre = np.empty(BLOCK, dtype=np.float64)
        b0 = first[c]
        while b0 < stop:
            # The span's block weights first (a vectorised stream over the state), then its
            # points: their blocks by a merge of the ascending points with the running
            # weights, their amplitudes by a branch-free count of the block's running
            # weights (summed once for all the points of a block).
            nb = min(SPAN, (stop - b0 + BLOCK - 1) // BLOCK)
            run[0] = acc
            run[nb + 1 : nb + 1 + WINDOW] = np.inf
            for t in range(nb):
                b = b0 + t * BLOCK
                acc += block_weight(x[2 * b : 2 * min(b + BLOCK, stop)])
                run[t + 1] = acc
            t = 0  # the block of the last point located
            last = -1  # the block whose running weights ``pre`` holds
            while nxt < acc:  # the span holds points (nxt is inf once they run out)
                # A batch of its points, then each one's block, then each one's amplitude:
                # three simple loops whose iterations do not wait on each other.
                m = 0
                while nxt < acc and m < BATCH:
                    pts[m] = nxt
                    m += 1
                    j += 1
                    nxt = nxt + scale * spacings[j] if j < end else np.inf
                for q in range(m):  # the points ascend: a merge with the running weights
                    p = pts[q]
                    if run[t + 1] <= p:  # past the last point's block (dense points stay)
                        d = 0
                        for e in range(2, WINDOW + 1):  # no branch on the data: steps are short
                            d += run[t + e] <= p
                        t += 1 + d
                        while run[t + 1] <= p:  # a long step (rare)
                            t += 1
                    blk[q] = t
                for q in range(m):
                    p = pts[q]
                    b = b0 + blk[q] * BLOCK
                    bstop = min(b + BLOCK, stop)
                    k = 0
                    if blk[q] != last:  # the block's running weights, kept for its next points
                        inner = run[blk[q]]
                        for i in range(bstop - b):
                            re = np.float64(x[2 * (b + i)])
                            im = np.float64(x[2 * (b + i) + 1])
                            inner += re * re + im * im
                            pre[i] = inner
                            k += inner <= p
                        last = blk[q]
                    else:
                        for i in range(bstop - b):
                            k += pre[i] <= p
                    k += b
                    if k == bstop:  # rounding: past the block's own sum; its last nonzero one
                        k = bstop - 1
                        while k > b and x[2 * k] == 0 and x[2 * k + 1] == 0:
                            k -= 1
                    out[j - m + q] = k
                if j == end:  # ran out: go on later from the block of the last point
                    stop_first[c] = b0 + t * BLOCK
                    stop_acc[c] = run[t]
                    stop_pos[c] = pts[m - 1]
            b0 += nb * BLOCK
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


SHUFFLE_BUCKETS = 64
"""Buckets of :func:`shuffle` (a power of two): a constant, so that the permutation does not
depend on the thread count."""
GAMMA = np.uint64(0x9E3779B97F4A7C15)


@njit(inline="always", nogil=True)
def splitmix64(z: Any) -> Any:  # pragma: no cover - compiled
    """SplitMix64's output function (Steele, Lea and Flood 2014) of the uint64 state ``z``.

    Its value at ``seed + (i + 1) * GAMMA`` is the generator's i-th output, so element i of
    a stream is drawn without drawing the ones before it.
    """
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(parallel=True, nogil=True, cache=True)
def shuffle(pool: Any, key: Any, out: Any) -> None:
    """``out`` = a uniformly random permutation of ``pool`` (int64, the same size).

    Sanders' scatter shuffle: element i goes to bucket ``h_i >> 58`` (h_i the i-th output of
    the SplitMix64 stream seeded with ``key[0]``: i.i.d. uniform buckets); the buckets, in
    order, are laid out one after the other, each bucket's elements in pool order; each
    bucket is then shuffled by Fisher-Yates with its own stream (seeded from ``key[1]`` and
    the bucket), its bounded integers by Lemire's multiply-shift with rejection (unbiased).
    I.i.d. uniform buckets and uniform orders inside them give a uniform permutation. The
    pool is split into :data:`SHUFFLE_BUCKETS` fixed segments for the counting and the
    scatter, so the result depends on ``pool`` and ``key`` only, not on the thread count.
    """
    n = pool.size
    nb = SHUFFLE_BUCKETS
    shift = np.uint64(64 - 6)  # 2^6 == SHUFFLE_BUCKETS
    seg = -(-n // nb)
    counts = np.zeros((nb, nb), dtype=np.int64)  # [segment, bucket]
    bucket = np.empty(n, dtype=np.uint8)
    k0 = np.uint64(key[0])
    for s in prange(nb):  # pragma: no cover - compiled
        for i in range(s * seg, min((s + 1) * seg, n)):
            b = np.uint8(splitmix64(k0 + np.uint64(i + 1) * GAMMA) >> shift)
            bucket[i] = b
            counts[s, b] += 1
    starts = np.zeros(nb + 1, dtype=np.int64)
    offsets = np.empty((nb, nb), dtype=np.int64)
    at = 0
    for b in range(nb):
        starts[b] = at
        for s in range(nb):
            offsets[s, b] = at
            at += counts[s, b]
    starts[nb] = at
    for s in prange(nb):  # pragma: no cover - compiled
        row = offsets[s]
        for i in range(s * seg, min((s + 1) * seg, n)):
            b = bucket[i]
            out[row[b]] = pool[i]
            row[b] += 1
    k1 = np.uint64(key[1])
    for b in prange(nb):  # pragma: no cover - compiled
        z = splitmix64(k1 + np.uint64(b + 1) * GAMMA)  # the bucket's own seed
        lo = starts[b]
        for m in range(starts[b + 1] - lo, 1, -1):  # out[lo + m - 1] <-> out[lo + r], r < m
            bound = np.uint64(m)
            while True:
                z += GAMMA
                prod = (splitmix64(z) >> np.uint64(32)) * bound
                low = prod & np.uint64(0xFFFFFFFF)
                if low >= bound or low >= (np.uint64(2**32) - bound) % bound:
                    break
            r = lo + np.int64(prod >> np.uint64(32))
            t = out[lo + m - 1]
            out[lo + m - 1] = out[r]
            out[r] = t
