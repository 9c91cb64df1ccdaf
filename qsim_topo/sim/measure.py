"""Measurement statistics of a state, computed chunk by chunk.

``|amplitude|^2`` of a whole 2^n state is a float array half (complex128) or as large as
(complex64) the state itself; these functions never build it. They walk the state in
contiguous chunks of :data:`CHUNK_AMPLITUDES`, so a measurement adds a few MiB to the peak
memory of a run, whatever n is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from qsim_topo.errors import QsimTopoError
from qsim_topo.xp import array_namespace, to_numpy

__all__ = [
    "CHUNK_AMPLITUDES",
    "marginal_probabilities",
    "memory_words",
    "qubit_weights",
    "sample_outcomes",
]

CHUNK_AMPLITUDES = 2**18
GPU_CHUNK_AMPLITUDES = 2**21  # two float64 temporaries: 32 MiB; one host sync per chunk


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


def qubit_weights(tensor: Any, qubit: int, n: int) -> tuple[float, float]:
    """Squared norms of the parts of the (2^n,) state ``tensor`` with ``qubit`` = 0 and = 1."""
    xp = array_namespace(tensor)
    flat = tensor.reshape(-1)
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
    out = np.zeros(2**m, dtype=np.float64)
    flat = tensor.reshape(-1)
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

    Returns int64 outcome indices (bit j = ``qubits[j]``). When every qubit is measured the
    draw is two-level (a chunk by its weight, then an amplitude inside it), so no array of
    2^n probabilities is built; otherwise the 2^len(qubits) marginal is.

    Raises:
        QsimTopoError: the state is zero or not finite.
    """
    qs = [int(q) for q in qubits]
    u = rng.random(count)
    if qs != list(range(n)):
        p = marginal_probabilities(tensor, qs, n)
        cdf = np.cumsum(p, out=p)
        return np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), cdf.size - 1)
    xp = array_namespace(tensor)
    flat = tensor.reshape(-1)
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
