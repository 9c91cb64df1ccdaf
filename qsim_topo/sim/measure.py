"""Measurement statistics of a state, computed chunk by chunk.

``|amplitude|^2`` of a whole 2^n state is a float array half (complex128) or as large as
(complex64) the state itself; these functions never build it. They walk the state in
contiguous chunks of :data:`CHUNK_AMPLITUDES`, so a measurement adds a few MiB to the peak
memory of a run, whatever n is.

On a numpy state with numba available, the compiled kernels of
:mod:`qsim_topo.sim._numba_measure` do the work in parallel and with no temporary of the
state's size. Sampling all qubits is one pass over the state for a normalised one: each chunk
walks a Poisson process on its own running weight, which needs no weight of the chunks before
it, and the points found, shuffled in parallel, become the shots (:func:`_sample_numba`). A
marginal is one pass that adds each amplitude's weight to its outcome through two lookup
tables; its draws are inverse-CDF draws of uniforms generated in ascending order
(:func:`sorted_uniforms`, no sort) and handed to random shots.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from qsim_topo.errors import QsimTopoError
from qsim_topo.sim.numba_kernels import SINGLE_THREAD_AMPLITUDES, thread_limit
from qsim_topo.xp import array_namespace, to_numpy

__all__ = [
    "CHUNK_AMPLITUDES",
    "marginal_probabilities",
    "memory_words",
    "qubit_weights",
    "sample_outcomes",
    "sorted_uniforms",
]

CHUNK_AMPLITUDES = 2**18
GPU_CHUNK_AMPLITUDES = 2**21  # two float64 temporaries: 32 MiB; one host sync per chunk


LUT_LOW_BITS = 13
"""Low index bits of the marginal kernel's first lookup table (2^13 int64: 64 KiB)."""
MARGINAL_SCRATCH_BYTES = 2**24
"""Most bytes of per-block marginal rows the kernel may use to run in parallel (else one)."""
MARGINAL_BLOCKS = 16
"""Blocks of the parallel marginal: a constant, so that the sums (and the draws) do not
depend on the thread count."""


@lru_cache(maxsize=1)
def _numba() -> Any:
    """The compiled kernels module, or None where numba cannot load."""
    from qsim_topo.sim.numba_kernels import numba_available

    if not numba_available():
        return None
    from qsim_topo.sim import _numba_measure

    return _numba_measure


def _real_view(xp: Any, flat: Any) -> Any:
    """The float view of a C-contiguous numpy complex ``flat`` for the kernels, else None."""
    if xp is not np or flat.dtype not in (np.complex64, np.complex128):
        return None
    if not flat.flags.c_contiguous or _numba() is None:
        return None
    return flat.view(np.float32 if flat.dtype == np.complex64 else np.float64)


def _chunk(xp: Any) -> int:
    return CHUNK_AMPLITUDES if xp is np else GPU_CHUNK_AMPLITUDES


def _chunks(flat: Any, size: int) -> Iterator[tuple[int, Any]]:
    for start in range(0, flat.size, size):
        yield start, flat[start : start + size]


def _abs2(xp: Any, chunk: Any) -> Any:
    """float64 ``|chunk|^2`` (a new array of the chunk's size)."""
    re = chunk.real.astype(xp.float64)
    im = chunk.imag.astype(xp.float64)
    re *= re
    im *= im
    re += im
    return re


def _check_total(total: float, what: str) -> float:
    if not math.isfinite(total) or total <= 0.0:
        raise QsimTopoError(f"{what} has squared norm {total}; it cannot be measured")
    return total


def _marginal_numba(x: Any, qubits: list[int], n: int) -> np.ndarray:
    """Unnormalised float64 weights of the 2^len(qubits) outcomes (bit j = ``qubits[j]``)."""
    kernels = _numba()
    m = len(qubits)
    lo = min(n, LUT_LOW_BITS)
    lut_lo = np.zeros(2**lo, dtype=np.int64)
    lut_hi = np.zeros(2 ** (n - lo), dtype=np.int64)
    idx_lo = np.arange(2**lo, dtype=np.int64)
    idx_hi = np.arange(2 ** (n - lo), dtype=np.int64)
    for j, q in enumerate(qubits):
        if q < lo:
            lut_lo |= ((idx_lo >> q) & 1) << j
        else:
            lut_hi |= ((idx_hi >> (q - lo)) & 1) << j
    # Private rows per block let the blocks run in parallel; a wide marginal runs in one.
    blocks = 1
    while (
        blocks < MARGINAL_BLOCKS
        and 2 * blocks <= 2 ** max(n - 10, 0)
        and 2 * blocks * 8 * 2**m <= MARGINAL_SCRATCH_BYTES
    ):
        blocks *= 2
    acc = np.zeros((blocks, 2**m), dtype=np.float64)
    kernels.marginal(x, lut_lo, lo, lut_hi, acc)
    return acc[0] if blocks == 1 else acc.sum(axis=0)


def qubit_weights(tensor: Any, qubit: int, n: int) -> tuple[float, float]:
    """Squared norms of the parts of the (2^n,) state ``tensor`` with ``qubit`` = 0 and = 1."""
    xp = array_namespace(tensor)
    flat = tensor.reshape(-1)
    x = _real_view(xp, flat)
    if x is not None:
        w0, w1 = _marginal_numba(x, [int(qubit)], n).tolist()
        return float(w0), float(w1)
    size = min(flat.size, _chunk(xp))
    w = [0.0, 0.0]
    for start, chunk in _chunks(flat, size):
        sq = _abs2(xp, chunk)
        if size <= 2**qubit:  # the whole chunk has one value of the qubit
            w[(start >> qubit) & 1] += float(to_numpy(xp.sum(sq)))
            continue
        pair = to_numpy(xp.sum(sq.reshape(-1, 2, 2**qubit), axis=(0, 2)))
        w[0] += float(pair[0])
        w[1] += float(pair[1])
    return w[0], w[1]


def marginal_probabilities(tensor: Any, qubits: Sequence[int], n: int) -> np.ndarray:
    """Probabilities of the outcomes of measuring ``qubits`` on the state ``tensor``.

    Args:
        tensor: a (2^n,) state, numpy or cupy; not modified, need not be normalised.
        qubits: distinct qubits, ascending; bit j of an outcome index is ``qubits[j]``.
        n: the number of qubits of the state.

    Returns:
        A float64 numpy array of length 2^len(qubits) summing to 1.

    Raises:
        QsimTopoError: the state is zero or not finite.
    """
    xp = array_namespace(tensor)
    qs = [int(q) for q in qubits]
    m = len(qs)
    flat = tensor.reshape(-1)
    x = _real_view(xp, flat)
    if x is not None:
        out = _marginal_numba(x, qs, n)
        out /= _check_total(float(out.sum()), "the state")
        return out
    out = np.zeros(2**m, dtype=np.float64)
    size = min(flat.size, _chunk(xp))
    b = size.bit_length() - 1  # a chunk spans the low b qubits; the high ones are fixed
    low = [q for q in qs if q < b]
    high = [q for q in qs if q >= b]
    drop = tuple(b - 1 - q for q in range(b) if q not in set(low))
    for start, chunk in _chunks(flat, size):
        sq = _abs2(xp, chunk)
        if drop:
            sq = xp.sum(sq.reshape((2,) * b), axis=drop)
        offset = sum(((start >> q) & 1) << (len(low) + j) for j, q in enumerate(high))
        out[offset : offset + 2 ** len(low)] += to_numpy(sq).ravel()
    total = _check_total(float(out.sum()), "the state")
    out /= total
    return out


def sample_outcomes(
    tensor: Any, qubits: Sequence[int], n: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``count`` outcomes of measuring ``qubits`` (ascending) on the state ``tensor``.

    Returns int64 outcome indices (bit j = ``qubits[j]``), independent draws of the
    distribution. When every qubit is measured no array of 2^n probabilities is built;
    otherwise the 2^len(qubits) marginal is. With the compiled kernels (a numpy state, numba
    loadable) all qubits are drawn by :func:`_sample_numba` and a subset by the inverse CDF
    of the ascending uniforms of :func:`sorted_uniforms`, handed to random shots; otherwise
    each draw is the inverse CDF of ``rng.random(count)`` in order. Either way the same seed
    gives the same draws, whatever the thread count.

    Raises:
        QsimTopoError: the state is zero or not finite.
    """
    qs = [int(q) for q in qubits]
    xp = array_namespace(tensor)
    flat = tensor.reshape(-1)
    x = _real_view(xp, flat)
    if x is not None and qs == list(range(n)):
        drawn = _sample_numba(x, flat.size, rng, count)
        if drawn is not None:
            return drawn
        # A norm so small that the rate of points overflows: the chunked draws below.
    if x is not None:  # the marginal, then sorted draws: a fast searchsorted
        p = marginal_probabilities(tensor, qs, n)
        cdf = np.cumsum(p, out=p)
        u, shots = sorted_uniforms(rng, count)
        idx = np.searchsorted(cdf, u * cdf[-1], side="right")
        return _scatter(np.minimum(idx, _last_positive(cdf)), shots)
    u = rng.random(count)
    if qs != list(range(n)):
        p = marginal_probabilities(tensor, qs, n)
        cdf = np.cumsum(p, out=p)
        return np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), cdf.size - 1)
    size = min(flat.size, _chunk(xp))
    if size == flat.size:  # one chunk: the same draws as below, without choosing the chunk
        sq = _abs2(xp, flat)
        total = _check_total(float(to_numpy(xp.sum(sq))), "the state")
        cdf = np.cumsum(to_numpy(sq))
        return np.minimum(np.searchsorted(cdf, u * total, side="right"), _last_positive(cdf))
    # float64 sums, the same arithmetic as the cumulative sums inside a chunk below.
    totals = np.array(
        [float(to_numpy(xp.sum(_abs2(xp, c)))) for _, c in _chunks(flat, size)], dtype=np.float64
    )
    chunk_cdf = np.cumsum(totals)
    total = _check_total(float(chunk_cdf[-1]), "the state")
    targets = u * total
    which = np.minimum(
        np.searchsorted(chunk_cdf, targets, side="right"), _last_positive(chunk_cdf)
    )
    out = np.empty(count, dtype=np.int64)
    for c in np.unique(which).tolist():
        sel = np.flatnonzero(which == c)
        start = c * size
        cdf = np.cumsum(to_numpy(_abs2(xp, flat[start : start + size])))
        before = float(chunk_cdf[c - 1]) if c else 0.0
        idx = np.searchsorted(cdf, targets[sel] - before, side="right")
        # Rounding may put a draw past the chunk's last nonzero amplitude: take that one.
        out[sel] = start + np.minimum(idx, _last_positive(cdf))
    return out


def sorted_uniforms(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uniforms on [0, 1) drawn in ascending order, and the shots they go to.

    The normalised partial sums of ``count + 1`` standard exponentials are distributed as the
    order statistics of ``count`` uniforms (O(count), no sort); ``shots[i]`` is the shot that
    receives the i-th smallest, a random permutation, so the shots are independent draws.
    """
    spacings = rng.standard_exponential(count + 1)
    u = np.cumsum(spacings[:count])
    u /= u[-1] + spacings[count]
    return u, rng.permutation(count)


def _scatter(draws: np.ndarray, shots: np.ndarray) -> np.ndarray:
    out = np.empty_like(draws)
    out[shots] = draws
    return out


NORM_BELOW = 1e-3
"""How far below 1 a state's squared norm may be for the one-pass draws to keep the pass:
the rate of points is raised by this much so that they still outnumber the shots."""
NORM_ABOVE = 0.05
"""How far above 1 a state's squared norm may be for the one-pass draws to keep the pass
(up to this many more points than needed). Outside, the points are drawn again in a second
pass at the rate of the known norm (a complex64 state normalised by a float32 sum can be off
by 1e-3 or more)."""
ESTIMATE_SAMPLES = 64
"""Amplitudes read per chunk to guess how the draws split over the chunks (the budgets of
spacings handed to them; a wrong guess costs a partial second walk, never exactness)."""


def _sample_numba(
    x: Any, size: int, rng: np.random.Generator, count: int
) -> np.ndarray | None:
    """``count`` draws over all ``size`` amplitudes of ``x``, in about one pass over it.

    Each chunk walks a Poisson process of rate ``lam`` on its running weight (independent
    exponential spacings): given how many points all chunks find together, the points are
    independent draws of the state's distribution, and no chunk needs the weight of the
    chunks before it, so the chunks walk in parallel in the pass that also sums their
    weights. ``lam`` is set for a squared norm of 1 (the executor's states), high enough
    that the points outnumber ``count`` but for a chance of about 3e-7; ``count`` of them,
    chosen at random, go to the shots in random order (the first ``count`` of a uniform
    permutation of the points: the compiled scatter shuffle, keyed by two 64-bit draws of
    ``rng``, so the same on any thread count). A state whose norm is farther than
    :data:`NORM_BELOW` below 1 or :data:`NORM_ABOVE` above (known after the pass,
    whatever the draws) has its points drawn again at the rate of its norm; too few points
    get another round added. A chunk whose budget of spacings runs out (the budgets follow a
    guess of the chunks' weights) goes on from where it stopped with fresh spacings.
    None, before any draw is kept, for a squared norm so small (below ~1e-300) that the rate
    of points overflows: the caller then draws by chunks.
    """
    kernels = _numba()
    # Enough chunks for the threads (64), no larger than the numpy code's.
    chunk = min(size, CHUNK_AMPLITUDES, max(2**10, size >> 6))
    chunks = -(-size // chunk)
    totals = np.empty(chunks, dtype=np.float64)
    known = np.zeros(chunks, dtype=np.bool_)
    lam = (count + 5.0 * math.sqrt(count) + 10.0) / (1.0 - NORM_BELOW)
    share = _chunk_shares(x, size, chunk, chunks)
    # A small state or pool is walked or shuffled on the calling thread: waking the pool for
    # it costs more than the work (~0.3 ms a call; the draws are the same on any count).
    walk_threads = 1 if size < SINGLE_THREAD_AMPLITUDES else None
    with thread_limit(walk_threads):
        first = _poisson_round(kernels, x, chunk, rng, lam, lam * share, totals, known)
    total = float(np.cumsum(totals)[-1])
    rounds = [] if first is None else [first]
    found = sum(r.size for r in rounds)
    while found < count:  # more points, at the rate of the known norm
        need = count - found
        lam = (need + 5.0 * math.sqrt(need) + 10.0) / total
        if not math.isfinite(lam):  # a squared norm below ~1e-300: decided by the state alone
            return None
        with thread_limit(walk_threads):
            more = _poisson_round(kernels, x, chunk, rng, lam, lam * totals, totals, ~known)
        assert more is not None  # the totals are known
        rounds.append(more)
        found += more.size
    if not rounds:  # no shots, and the pass was dropped
        return np.empty(0, dtype=np.int64)
    pool = rounds[0] if len(rounds) == 1 else np.concatenate(rounds)
    # A uniform shuffle's first ``count``: a random subset in random order (no gather).
    key = rng.integers(0, 2**64, size=2, dtype=np.uint64)
    if pool.size >= 2**32:  # beyond the kernel's 32-bit bounded integers
        rng.shuffle(pool)
        return pool[:count]
    shuffled = np.empty_like(pool)
    with thread_limit(1 if pool.size < SINGLE_THREAD_AMPLITUDES else None):
        kernels.shuffle(pool, key, shuffled)
    return shuffled[:count]


def _chunk_shares(x: Any, size: int, chunk: int, chunks: int) -> np.ndarray:
    """A guess of each chunk's share of the weight, from a few of its amplitudes.

    :data:`ESTIMATE_SAMPLES` amplitudes a chunk, spread over it with varied offsets; uniform
    shares where all read 0.
    """
    per = min(chunk, ESTIMATE_SAMPLES)
    step = chunk // per
    k = np.arange(per, dtype=np.int64)
    c = np.arange(chunks, dtype=np.int64)[:, None]
    idx = c * chunk + k * step + ((k * 40503 + c * 977) & (step - 1))
    idx = np.minimum(idx, size - 1).ravel()
    re = x[2 * idx].astype(np.float64)
    im = x[2 * idx + 1].astype(np.float64)
    est = (re * re + im * im).reshape(chunks, per).sum(axis=1)
    s = float(est.sum())
    if not math.isfinite(s) or s <= 0.0:
        return np.full(chunks, 1.0 / chunks)
    return est / s


def _budgets(mean: np.ndarray) -> np.ndarray:
    """Spacings to hand a chunk expecting ``mean`` points: rarely too few, never none."""
    return np.ceil(1.1 * mean + 5.0 * np.sqrt(mean) + 16.0).astype(np.int64)


def _poisson_round(
    kernels: Any,
    x: Any,
    chunk: int,
    rng: np.random.Generator,
    lam: float,
    expected: np.ndarray,
    totals: np.ndarray,
    known: np.ndarray,
) -> np.ndarray | None:
    """The points of one Poisson process of rate ``lam`` over the whole state.

    ``expected[c]``: the points chunk c should expect (sizes its first budget). Where
    ``known`` is False the pass fills ``totals``; then, if the squared norm is not within
    :data:`NORM_BELOW` / :data:`NORM_ABOVE` of 1, the round is dropped (None) before any
    chunk goes on: the state alone decides that, not the points. Chunks that run out of
    spacings go on with budgets from their remaining weight, now known, until none does.

    Raises:
        QsimTopoError: the state is zero or not finite.
    """
    chunks = totals.size
    active = np.ones(chunks, dtype=np.bool_)
    first = np.arange(chunks, dtype=np.int64) * chunk
    acc0 = np.zeros(chunks, dtype=np.float64)
    pos0 = np.zeros(chunks, dtype=np.float64)
    budgets = _budgets(expected)
    known = known.copy()
    found: list[np.ndarray] = []
    used = np.zeros(chunks, dtype=np.int64)
    stop_first = np.empty(chunks, dtype=np.int64)
    stop_acc = np.empty(chunks, dtype=np.float64)
    stop_pos = np.empty(chunks, dtype=np.float64)
    while True:
        budgets[~active] = 0
        hi = np.cumsum(budgets)
        lo = hi - budgets
        spacings = rng.standard_exponential(int(hi[-1]))
        out = np.empty(spacings.size, dtype=np.int64)
        kernels.poisson_walk(
            x, chunk, active, first, acc0, pos0, spacings, 1.0 / lam, lo, hi, known,
            out, used, totals, stop_first, stop_acc, stop_pos,
        )
        if not known.all():
            total = _check_total(float(np.cumsum(totals)[-1]), "the state")
            if not 1.0 - NORM_BELOW <= total <= 1.0 + NORM_ABOVE:
                return None
            known[:] = True
        spans = zip(lo[active].tolist(), used[active].tolist(), strict=True)
        found.extend(out[a : a + u] for a, u in spans)
        active = stop_first >= 0
        if not active.any():
            break
        first = stop_first.copy()
        acc0 = np.where(active, stop_acc, 0.0)
        pos0 = np.where(active, stop_pos, 0.0)
        budgets = _budgets(lam * np.maximum(np.where(active, totals - pos0, 0.0), 0.0))
    return np.concatenate(found)


def _last_positive(cdf: np.ndarray) -> int:
    """Index of the last entry with nonzero weight: the first where ``cdf`` reaches its end."""
    return int(np.searchsorted(cdf, cdf[-1], side="left"))


def memory_words(
    base: int,
    draws: np.ndarray,
    terminal: list[tuple[int, int]],
    qubits: list[int],
    *,
    wide: bool = False,
) -> np.ndarray:
    """Classical memory words of shots whose terminal measurements drew ``draws``.

    Args:
        base: the branch's clbits before the terminal measurements (bit i = clbit i).
        draws: (shots,) int64 outcomes; bit j is the outcome of ``qubits[j]``.
        terminal: ``(qubit, clbit)`` pairs in program order (the last measure into a clbit
            wins).
        qubits: the measured qubits, ascending (the bit order of ``draws``).
        wide: clbits beyond 62: Python ints (object array) instead of int64.

    Returns:
        A new (shots,) int64 array, or object array of Python ints with ``wide``.
    """
    pos = {q: j for j, q in enumerate(qubits)}
    if not wide:
        # Vectorised: clear the measured clbits of the branch's bits, set the outcomes'.
        clear = 0
        values = np.zeros(draws.size, dtype=np.int64)
        last: dict[int, int] = {}
        for q, c in terminal:
            clear |= 1 << c
            last[c] = q
        for c, q in last.items():
            values |= ((draws >> pos[q]) & 1) << c
        values |= base & ~clear
        return values
    uniq, inverse = np.unique(draws, return_inverse=True)
    words = np.empty(uniq.size, dtype=object)
    for k, idx in enumerate(uniq.tolist()):
        bits = base
        for q, c in terminal:
            if (idx >> pos[q]) & 1:
                bits |= 1 << c
            else:
                bits &= ~(1 << c)
        words[k] = bits
    return words[inverse]
