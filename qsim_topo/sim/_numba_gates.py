"""Compiled loops over a flat copy of many small gate matrices (imported lazily, with numba).

Packing a tile's gates for the tile kernel (:func:`pack_gates`: sort each gate's qubits,
permute its matrix's index bits to match, cast, classify it as dense, monomial or diagonal)
screening gates for unitarity (:func:`unitary_deviations`) and classifying them for the
fusion planner (:func:`gate_kinds`) are a little work per gate.
Done with numpy calls they cost a few microseconds a gate, more than the tile kernel itself
on a state of 10-12 qubits; here each is one compiled loop over all the matrices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def pack_gates(
    flat: Any,
    gk: Any,
    qflat: Any,
    local: Any,
    goff: Any,
    soff: Any,
    mats: Any,
    gbits: Any,
    gkind: Any,
    gsrc: Any,
) -> None:  # pragma: no cover - compiled; covered through _pack_gates
    """Fill ``mats``, ``gbits``, ``gkind`` and ``gsrc`` (zeroed by the caller) from ``flat``.

    ``flat``: complex128, every gate's (2^k, 2^k) matrix row-major as given, one after the
    other at ``goff``; ``gk``: the gates' widths; ``qflat``: their qubits as given, one after
    the other; ``local``: tile bit of each qubit. Gate g's qubits are sorted (stable) and its
    matrix's index bits permuted to match (new bit j is old bit ``order[j]``), cast to
    ``mats``' dtype at the same offset. Kinds and monomial sources as in ``_pack_gates``,
    from the exact zeros of the cast matrix.
    """
    kmax = gbits.shape[1]
    order = np.empty(kmax, np.int64)
    pm = np.empty(1 << kmax, np.int64)
    src = np.empty(1 << kmax, np.int64)
    colcount = np.empty(1 << kmax, np.int64)
    qo = 0
    for g in range(gk.shape[0]):
        k = gk[g]
        dim = 1 << k
        mo = goff[g]
        for j in range(k):
            order[j] = j
        for j in range(1, k):  # insertion sort of the qubits' positions (stable)
            t = order[j]
            i = j - 1
            while i >= 0 and qflat[qo + order[i]] > qflat[qo + t]:
                order[i + 1] = order[i]
                i -= 1
            order[i + 1] = t
        for j in range(k):
            gbits[g, j] = local[qflat[qo + order[j]]]
        qo += k
        sorted_already = True
        for j in range(k):
            if order[j] != j:
                sorted_already = False
        if sorted_already:  # a straight copy (a wide gate is mostly this)
            for e in range(dim * dim):
                mats[mo + e] = flat[mo + e]
        else:
            for r in range(dim):
                old = 0
                for j in range(k):
                    old |= ((r >> j) & 1) << order[j]
                pm[r] = old
            for r in range(dim):
                row = mo + pm[r] * dim
                for c in range(dim):
                    mats[mo + r * dim + c] = flat[row + pm[c]]
        kind = matrix_kind(mats, mo, dim, src, colcount)  # of the cast matrix
        if kind:
            for r in range(dim):
                gsrc[soff[g] + r] = src[r]
            if kind == 2 or k > 1:
                gkind[g] = kind


@njit(cache=True, nogil=True)
def gate_kinds(
    flat: Any, dims: Any, out: Any
) -> None:  # pragma: no cover - compiled; covered through passes.diagonal_gates
    """``out[g]``: :func:`matrix_kind` of matrix g, (d, d) with ``d = dims[g]``.

    Row-major in ``flat`` (complex128) after the ones before it. A 1-qubit permutation counts
    as monomial here.
    """
    top = 1
    for g in range(dims.shape[0]):
        top = max(top, dims[g])
    src = np.empty(top, np.int64)
    colcount = np.empty(top, np.int64)
    o = 0
    for g in range(dims.shape[0]):
        d = dims[g]
        out[g] = matrix_kind(flat, o, d, src, colcount)
        o += d * d


@njit(inline="always")
def matrix_kind(m: Any, o: Any, d: Any, src: Any, colcount: Any) -> Any:  # pragma: no cover
    """2 for a diagonal (d, d) matrix ``m[o:o + d * d]`` (row-major), 1 for a monomial one, 0 else.

    Exact zeros only (a NaN counts as nonzero). Monomial: one nonzero per row and per column;
    then ``src[r]`` is row r's column. A row with two nonzeros ends the test at once (most
    gates are dense). ``src`` and ``colcount`` are scratch of at least d entries.
    """
    for c in range(d):
        colcount[c] = 0
    for r in range(d):
        nonzero = 0
        for c in range(d):
            if m[o + r * d + c] != 0:
                nonzero += 1
                if nonzero > 1:
                    break
                src[r] = c
        if nonzero != 1:
            return 0
        colcount[src[r]] += 1
    for c in range(d):
        if colcount[c] != 1:
            return 0
    for r in range(d):
        if src[r] != r:
            return 1
    return 2
