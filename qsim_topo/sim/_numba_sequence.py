"""The compiled kernels of :func:`qsim_topo.sim.numba_kernels.apply_sequence_numba`.

A module of its own so that numba compiles (and caches on disk) module-level functions, and
so that only a caller that has checked :func:`~qsim_topo.sim.numba_kernels.numba_available`
imports numba: ``import qsim_topo`` never does. The contract of every function is in
:func:`~qsim_topo.sim.numba_kernels.apply_sequence_numba`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

_FM = {"contract"}  # FMA contraction: rounding differs from numpy's only in the last bits


@njit(inline="always")
def insert_zero(v: Any, p: Any) -> Any:
    return ((v >> p) << (p + 1)) | (v & ((np.int64(1) << p) - 1))


@njit(nogil=True)
def row_offsets(bits: Any) -> Any:
    """Offset of row j of a gate on tile bits ``bits``: bit i of j sets bit ``bits[i]``."""
    k = bits.size
    roff = np.zeros(1 << k, np.int64)
    for j in range(1 << k):
        o = np.int64(0)
        for i in range(k):
            if (j >> i) & 1:
                o += np.int64(1) << bits[i]
        roff[j] = o
    return roff


@njit(inline="always")
def pair(xr: Any, xi: Any, i0: Any, i1: Any, t: Any) -> None:
    """One pair of a 1-qubit gate: slots i0, i1 times t = (a00r, a00i, ..., a11i).

    The sums of gate1's run loop in its order: either path gives the same bits.
    """
    p0 = xr[i0]
    q0 = xi[i0]
    p1 = xr[i1]
    q1 = xi[i1]
    xr[i0] = t[0] * p0 - t[1] * q0 + t[2] * p1 - t[3] * q1
    xi[i0] = t[0] * q0 + t[1] * p0 + t[2] * q1 + t[3] * p1
    xr[i1] = t[4] * p0 - t[5] * q0 + t[6] * p1 - t[7] * q1
    xi[i1] = t[4] * q0 + t[5] * p0 + t[6] * q1 + t[7] * p1


@njit(fastmath=_FM, nogil=True)
def gate1(xr: Any, xi: Any, b0: Any, m: Any, lanes: Any) -> None:
    s0 = np.int64(1) << b0
    a00r = m[0].real
    a00i = m[0].imag
    a01r = m[1].real
    a01i = m[1].imag
    a10r = m[2].real
    a10i = m[2].imag
    a11r = m[3].real
    a11i = m[3].imag
    xrf = xr.reshape(xr.size)
    xif = xi.reshape(xi.size)
    run = s0 * lanes  # rows below b0 are consecutive: one long vectorised loop per run
    if run < 4 or (run == 4 and xr.itemsize == 4):
        # Runs of 1-4 slots (slot bit 0-2): one loop over aligned blocks of 2, 4 or 8 slots,
        # the pairs at literal offsets, which LLVM vectorises (as gate2_short; the run loop
        # entered a loop of 1-4 iterations through four views per pair of runs). Blocks of 8
        # float64 stayed scalar, slower than the run loop (2.2 against 1.6 us, 10 qubits).
        t = (a00r, a00i, a01r, a01i, a10r, a10i, a11r, a11i)
        one = np.uint64(1)
        if run == 1:
            for a in range(xrf.size >> 1):
                u = np.uint64(2 * a)
                pair(xrf, xif, u, u + one, t)
        elif run == 2:
            for a in range(xrf.size >> 2):
                u = np.uint64(4 * a)
                pair(xrf, xif, u, u + np.uint64(2), t)
                pair(xrf, xif, u + one, u + np.uint64(3), t)
        else:
            for a in range(xrf.size >> 3):
                u = np.uint64(8 * a)
                for j in (0, 1, 2, 3):
                    pair(xrf, xif, u + np.uint64(j), u + np.uint64(j + 4), t)
        return
    for h in range(xr.shape[0] >> (b0 + 1)):
        o0 = (np.int64(h) << (b0 + 1)) * lanes
        u0 = xrf[o0 : o0 + run]
        v0 = xif[o0 : o0 + run]
        u1 = xrf[o0 + run : o0 + 2 * run]
        v1 = xif[o0 + run : o0 + 2 * run]
        for b in range(run):
            p0 = u0[b]
            q0 = v0[b]
            p1 = u1[b]
            q1 = v1[b]
            u0[b] = a00r * p0 - a00i * q0 + a01r * p1 - a01i * q1
            v0[b] = a00r * q0 + a00i * p0 + a01r * q1 + a01i * p1
            u1[b] = a10r * p0 - a10i * q0 + a11r * p1 - a11i * q1
            v1[b] = a10r * q0 + a10i * p0 + a11r * q1 + a11i * p1


@njit(inline="always")
def matrix4(m: Any) -> Any:
    """The 16 entries of a row-major 4x4 matrix as 32 real scalars (real, imag per entry).

    Read into locals before a loop: entries read inside it would be reloaded after every
    store to the tile (LLVM cannot tell that the two do not alias), which keeps the loop
    scalar.
    """
    return (
        m[0].real, m[0].imag, m[1].real, m[1].imag, m[2].real, m[2].imag, m[3].real, m[3].imag,
        m[4].real, m[4].imag, m[5].real, m[5].imag, m[6].real, m[6].imag, m[7].real, m[7].imag,
        m[8].real, m[8].imag, m[9].real, m[9].imag, m[10].real, m[10].imag, m[11].real,
        m[11].imag, m[12].real, m[12].imag, m[13].real, m[13].imag, m[14].real, m[14].imag,
        m[15].real, m[15].imag,
    )  # fmt: skip


@njit(inline="always")
def quad(xr: Any, xi: Any, i0: Any, i1: Any, i2: Any, i3: Any, t: Any) -> None:
    """One group of a 2-qubit gate: slots i0..i3 (rows 00, 01, 10, 11) times ``matrix4`` t.

    The same sums in the same order as gate2's lane loop, so that either path gives the
    same bits.
    """
    p0 = xr[i0]
    q0 = xi[i0]
    p1 = xr[i1]
    q1 = xi[i1]
    p2 = xr[i2]
    q2 = xi[i2]
    p3 = xr[i3]
    q3 = xi[i3]
    for o, io in ((0, i0), (8, i1), (16, i2), (24, i3)):
        xr[io] = (
            t[o] * p0 - t[o + 1] * q0 + t[o + 2] * p1 - t[o + 3] * q1
            + t[o + 4] * p2 - t[o + 5] * q2 + t[o + 6] * p3 - t[o + 7] * q3
        )  # fmt: skip
        xi[io] = (
            t[o] * q0 + t[o + 1] * p0 + t[o + 2] * q1 + t[o + 3] * p1
            + t[o + 4] * q2 + t[o + 5] * p2 + t[o + 6] * q3 + t[o + 7] * p3
        )  # fmt: skip


@njit(fastmath=_FM, nogil=True)
def gate2_short(xr: Any, xi: Any, c0: Any, c1: Any, m: Any) -> None:
    """gate2 on slot bits c0 < c1 of the flat tile when c0 < 3 (runs of 1-4 slots).

    gate2's run loop would enter a loop of 1-4 iterations through eight slice views per
    group of rows (at 10 qubits, a tile without lanes, 3 of the 9 brickwork gates of a
    layer pair took 3-4 us each, against 1.1 us on high qubits). When both bits are below 3
    every group lies in one aligned block of 4 or 8 slots at fixed offsets: one loop over
    the blocks, which LLVM vectorises as interleaved loads and stores. Otherwise one
    scalar loop over the groups, without views.
    """
    xrf = xr.reshape(xr.size)
    xif = xi.reshape(xi.size)
    t = matrix4(m)
    one = np.uint64(1)
    if c1 == 1:
        for a in range(xrf.size >> 2):
            u = np.uint64(4 * a)
            quad(xrf, xif, u, u + one, u + np.uint64(2), u + np.uint64(3), t)
        return
    # Literal offsets in each loop: with one computed from c0 LLVM kept them scalar.
    if c1 == 2 and c0 == 0:
        for a in range(xrf.size >> 3):
            u = np.uint64(8 * a)
            quad(xrf, xif, u, u + one, u + np.uint64(4), u + np.uint64(5), t)
            v = u + np.uint64(2)
            quad(xrf, xif, v, v + one, v + np.uint64(4), v + np.uint64(5), t)
        return
    if c1 == 2:
        for a in range(xrf.size >> 3):
            u = np.uint64(8 * a)
            quad(xrf, xif, u, u + np.uint64(2), u + np.uint64(4), u + np.uint64(6), t)
            v = u + one
            quad(xrf, xif, v, v + np.uint64(2), v + np.uint64(4), v + np.uint64(6), t)
        return
    s0 = np.int64(1) << c0
    s1 = np.int64(1) << c1
    for g in range(xrf.size >> 2):
        i = insert_zero(insert_zero(np.int64(g), c0), c1)
        u = np.uint64(i)
        quad(xrf, xif, u, u + np.uint64(s0), u + np.uint64(s1), u + np.uint64(s0 + s1), t)


@njit(fastmath=_FM, nogil=True)
def gate2(xr: Any, xi: Any, b0: Any, b1: Any, m: Any, lanes: Any) -> None:
    # Unrolled so that the 32 matrix scalars stay in registers across the lane loop.
    s0 = np.int64(1) << b0
    if s0 * lanes < 8:
        lb = 0  # lanes = 2^lb: row bit b is slot bit b + lb
        while (np.int64(1) << lb) < lanes:
            lb += 1
        gate2_short(xr, xi, b0 + lb, b1 + lb, m)
        return
    s1 = np.int64(1) << b1
    m00r = m[0].real
    m00i = m[0].imag
    m01r = m[1].real
    m01i = m[1].imag
    m02r = m[2].real
    m02i = m[2].imag
    m03r = m[3].real
    m03i = m[3].imag
    m10r = m[4].real
    m10i = m[4].imag
    m11r = m[5].real
    m11i = m[5].imag
    m12r = m[6].real
    m12i = m[6].imag
    m13r = m[7].real
    m13i = m[7].imag
    m20r = m[8].real
    m20i = m[8].imag
    m21r = m[9].real
    m21i = m[9].imag
    m22r = m[10].real
    m22i = m[10].imag
    m23r = m[11].real
    m23i = m[11].imag
    m30r = m[12].real
    m30i = m[12].imag
    m31r = m[13].real
    m31i = m[13].imag
    m32r = m[14].real
    m32i = m[14].imag
    m33r = m[15].real
    m33i = m[15].imag
    # b0 < b1. The rows below b0 are consecutive, so each group of four row runs is one
    # long vectorised loop of 2^b0 * lanes: a lane loop per group of rows (128 lanes) spent
    # a quarter of its time entering the loop (one tile, complex64: 70 against 90 GFLOP/s).
    xrf = xr.reshape(xr.size)
    xif = xi.reshape(xi.size)
    run = s0 * lanes
    for h in range(xr.shape[0] >> (b0 + 2)):
        r0 = insert_zero(insert_zero(np.int64(h) << b0, b0), b1)
        o0 = r0 * lanes
        o1 = (r0 | s0) * lanes
        o2 = (r0 | s1) * lanes
        o3 = (r0 | s0 | s1) * lanes
        w0 = xrf[o0 : o0 + run]
        z0 = xif[o0 : o0 + run]
        w1 = xrf[o1 : o1 + run]
        z1 = xif[o1 : o1 + run]
        w2 = xrf[o2 : o2 + run]
        z2 = xif[o2 : o2 + run]
        w3 = xrf[o3 : o3 + run]
        z3 = xif[o3 : o3 + run]
        for b in range(run):
            p0 = w0[b]
            q0 = z0[b]
            p1 = w1[b]
            q1 = z1[b]
            p2 = w2[b]
            q2 = z2[b]
            p3 = w3[b]
            q3 = z3[b]
            w0[b] = (
                m00r * p0
                - m00i * q0
                + m01r * p1
                - m01i * q1
                + m02r * p2
                - m02i * q2
                + m03r * p3
                - m03i * q3
            )
            z0[b] = (
                m00r * q0
                + m00i * p0
                + m01r * q1
                + m01i * p1
                + m02r * q2
                + m02i * p2
                + m03r * q3
                + m03i * p3
            )
            w1[b] = (
                m10r * p0
                - m10i * q0
                + m11r * p1
                - m11i * q1
                + m12r * p2
                - m12i * q2
                + m13r * p3
                - m13i * q3
            )
            z1[b] = (
                m10r * q0
                + m10i * p0
                + m11r * q1
                + m11i * p1
                + m12r * q2
                + m12i * p2
                + m13r * q3
                + m13i * p3
            )
            w2[b] = (
                m20r * p0
                - m20i * q0
                + m21r * p1
                - m21i * q1
                + m22r * p2
                - m22i * q2
                + m23r * p3
                - m23i * q3
            )
            z2[b] = (
                m20r * q0
                + m20i * p0
                + m21r * q1
                + m21i * p1
                + m22r * q2
                + m22i * p2
                + m23r * q3
                + m23i * p3
            )
            w3[b] = (
                m30r * p0
                - m30i * q0
                + m31r * p1
                - m31i * q1
                + m32r * p2
                - m32i * q2
                + m33r * p3
                - m33i * q3
            )
            z3[b] = (
                m30r * q0
                + m30i * p0
                + m31r * q1
                + m31i * p1
                + m32r * q2
                + m32i * p2
                + m33r * q3
                + m33i * p3
            )


@njit(fastmath=_FM, nogil=True)
def gatek(xr: Any, xi: Any, bits: Any, m: Any, lanes: Any, tr: Any, ti: Any) -> None:
    # k >= 3 qubits (2^k rows, a multiple of 8): the group's rows are copied to tr/ti, then
    # each output row is a sum over the inputs in blocks of 8, unrolled so that the lane
    # loop is the vectorised one and its partial sums stay in registers (a lane loop per
    # single input, accumulating in memory, was 2-3x slower).
    k = bits.size
    dg = 1 << k
    roff = row_offsets(bits)
    for h in range(xr.shape[0] >> k):
        r = np.int64(h)
        for i in range(k):
            r = insert_zero(r, bits[i])
        for c in range(dg):
            rc = r + roff[c]
            for b in range(lanes):
                tr[c, b] = xr[rc, b]
                ti[c, b] = xi[rc, b]
        for o in range(dg):
            ro = r + roff[o]
            for c0 in range(0, dg, 8):
                row = o * dg + c0
                a0r = m[row].real
                a0i = m[row].imag
                a1r = m[row + 1].real
                a1i = m[row + 1].imag
                a2r = m[row + 2].real
                a2i = m[row + 2].imag
                a3r = m[row + 3].real
                a3i = m[row + 3].imag
                a4r = m[row + 4].real
                a4i = m[row + 4].imag
                a5r = m[row + 5].real
                a5i = m[row + 5].imag
                a6r = m[row + 6].real
                a6i = m[row + 6].imag
                a7r = m[row + 7].real
                a7i = m[row + 7].imag
                first = c0 == 0
                for b in range(lanes):
                    sr = (
                        a0r * tr[c0, b]
                        - a0i * ti[c0, b]
                        + a1r * tr[c0 + 1, b]
                        - a1i * ti[c0 + 1, b]
                        + a2r * tr[c0 + 2, b]
                        - a2i * ti[c0 + 2, b]
                        + a3r * tr[c0 + 3, b]
                        - a3i * ti[c0 + 3, b]
                        + a4r * tr[c0 + 4, b]
                        - a4i * ti[c0 + 4, b]
                        + a5r * tr[c0 + 5, b]
                        - a5i * ti[c0 + 5, b]
                        + a6r * tr[c0 + 6, b]
                        - a6i * ti[c0 + 6, b]
                        + a7r * tr[c0 + 7, b]
                        - a7i * ti[c0 + 7, b]
                    )
                    si = (
                        a0r * ti[c0, b]
                        + a0i * tr[c0, b]
                        + a1r * ti[c0 + 1, b]
                        + a1i * tr[c0 + 1, b]
                        + a2r * ti[c0 + 2, b]
                        + a2i * tr[c0 + 2, b]
                        + a3r * ti[c0 + 3, b]
                        + a3i * tr[c0 + 3, b]
                        + a4r * ti[c0 + 4, b]
                        + a4i * tr[c0 + 4, b]
                        + a5r * ti[c0 + 5, b]
                        + a5i * tr[c0 + 5, b]
                        + a6r * ti[c0 + 6, b]
                        + a6i * tr[c0 + 6, b]
                        + a7r * ti[c0 + 7, b]
                        + a7i * tr[c0 + 7, b]
                    )
                    if first:
                        xr[ro, b] = sr
                        xi[ro, b] = si
                    else:
                        xr[ro, b] += sr
                        xi[ro, b] += si


@njit(inline="always")
def log2_lanes(lanes: Any) -> Any:
    lb = 0
    while (np.int64(1) << lb) < lanes:
        lb += 1
    return lb


@njit(fastmath=_FM, nogil=True)
def gate_phases(
    xr: Any, xi: Any, bits: Any, phr: Any, phi: Any, lanes: Any, tab: Any
) -> None:
    """A diagonal gate on tile rows ``bits`` (ascending): slot s times phr[j] + i phi[j].

    j is the gate's bits of s; ``phr``, ``phi``: 2^k reals.

    The flat tile is walked in segments of 2^(the gate's lowest slot bit above 2) slots,
    over which the gate's high bits, and so its phases, repeat. Without a low bit (slot
    bits 0-2) a segment is one phase times a run; with one, a row of ``row`` phases (the
    pattern of the low bits, period 8 at most, repeated) multiplies each ``row`` slots of
    the segment, a loop that LLVM vectorises. Measured (one 10-qubit state, float64, 1024
    slots): one phase 175 ns, a row of phases 290 ns, 8 phases at literal offsets 1590 ns,
    a phase looked up by ``v & 7`` 860 ns; the earlier run loop took 2.3-2.7 us for a
    phase on bit 0 (runs of 1 slot). ``tab``: scratch of at least 128 * 2^k reals.
    """
    k = bits.size
    lb = log2_lanes(lanes)
    xrf = xr.reshape(xr.size)
    xif = xi.reshape(xi.size)
    size = xrf.size
    kl = 0  # the gate's bits below slot bit 3
    while kl < k and bits[kl] + lb < 3:
        kl += 1
    kh = k - kl
    seg = size if kh == 0 else np.int64(1) << (bits[kl] + lb)
    if kl == 0:
        for s0 in range(0, size, seg):
            j = 0
            for i in range(k):
                j |= ((s0 >> (bits[i] + lb)) & 1) << i
            pr = phr[j]
            pi = phi[j]
            for v in range(np.uint64(s0), np.uint64(s0 + seg)):
                a = xrf[v]
                c = xif[v]
                xrf[v] = pr * a - pi * c
                xif[v] = pr * c + pi * a
        return
    row = min(seg, np.int64(64))
    period = np.int64(1) << (bits[kl - 1] + lb + 1)  # of the low bits' pattern
    for h in range(1 << kh):
        o = h * 2 * row
        for u in range(period):
            j = h << kl
            for i in range(kl):
                j |= ((u >> (bits[i] + lb)) & 1) << i
            tab[o + u] = phr[j]
            tab[o + row + u] = phi[j]
        for u in range(period, row):
            tab[o + u] = tab[o + u - period]
            tab[o + row + u] = tab[o + row + u - period]
    for s0 in range(0, size, seg):
        h = 0
        for i in range(kl, k):
            h |= ((s0 >> (bits[i] + lb)) & 1) << (i - kl)
        pr = tab[h * 2 * row : h * 2 * row + row]
        pi = tab[h * 2 * row + row : (h + 1) * 2 * row]
        for r0 in range(s0, s0 + seg, row):
            for w in range(row):
                v = np.uint64(r0 + w)
                a = xrf[v]
                c = xif[v]
                xrf[v] = pr[w] * a - pi[w] * c
                xif[v] = pr[w] * c + pi[w] * a


@njit(fastmath=_FM, nogil=True)
def gatek_short(
    xr: Any, xi: Any, bits: Any, m: Any, lanes: Any, roff: Any, tr: Any, ti: Any
) -> None:
    """A dense gate of k >= 3 qubits whose lowest bit is below slot bit 3, group by group.

    Each output is a scalar sum over the group's 2^k inputs (copied to ``tr``/``ti``,
    scratch of 2^k; ``roff`` scratch of 2^k). gatek's lane loop of 1 lane took 28 us for a
    3-qubit gate on 10 qubits.
    """
    k = bits.size
    dg = 1 << k
    lb = log2_lanes(lanes)
    xrf = xr.reshape(xr.size)
    xif = xi.reshape(xi.size)
    for j in range(dg):
        o = np.int64(0)
        for i in range(k):
            if (j >> i) & 1:
                o += np.int64(1) << (bits[i] + lb)
        roff[j] = o
    for g in range(xrf.size >> k):
        r = np.int64(g)
        for i in range(k):
            r = insert_zero(r, bits[i] + lb)
        for c in range(dg):
            tr[c] = xrf[r + roff[c]]
            ti[c] = xif[r + roff[c]]
        for o in range(dg):
            sr = m[o * dg].real * tr[0] - m[o * dg].imag * ti[0]
            si = m[o * dg].real * ti[0] + m[o * dg].imag * tr[0]
            for c in range(1, dg):
                ar = m[o * dg + c].real
                ai = m[o * dg + c].imag
                sr += ar * tr[c] - ai * ti[c]
                si += ar * ti[c] + ai * tr[c]
            xrf[r + roff[o]] = sr
            xif[r + roff[o]] = si


@njit(fastmath=_FM, nogil=True)
def swap_rows(xr: Any, xi: Any, bits: Any, ra: Any, rb: Any, lanes: Any) -> None:
    """Exchange the gate's rows ``ra`` and ``rb`` in every group of the tile (a data move).

    Row j of the gate: bit i of j on tile row ``bits[i]``.

    Runs of 8 slots or more below the gate's lowest bit: one loop per pair of runs (LLVM
    vectorises it); shorter runs: one group at a time.
    """
    k = bits.size
    lb = log2_lanes(lanes)
    xrf = xr.reshape(xr.size)
    xif = xi.reshape(xi.size)
    oa = np.int64(0)
    ob = np.int64(0)
    for i in range(k):
        if (ra >> i) & 1:
            oa += np.int64(1) << (bits[i] + lb)
        if (rb >> i) & 1:
            ob += np.int64(1) << (bits[i] + lb)
    run = np.int64(1) << (bits[0] + lb)
    if run >= 8:
        for h in range(xrf.size >> (k + bits[0] + lb)):
            r = np.int64(h) << (bits[0] + lb)
            for i in range(k):
                r = insert_zero(r, bits[i] + lb)
            u = xrf[r + oa : r + oa + run]
            v = xif[r + oa : r + oa + run]
            w = xrf[r + ob : r + ob + run]
            z = xif[r + ob : r + ob + run]
            for b in range(run):
                p = u[b]
                q = v[b]
                u[b] = w[b]
                v[b] = z[b]
                w[b] = p
                z[b] = q
        return
    for g in range(xrf.size >> k):
        r = np.int64(g)
        for i in range(k):
            r = insert_zero(r, bits[i] + lb)
        ia = np.uint64(r + oa)
        ib = np.uint64(r + ob)
        p = xrf[ia]
        q = xif[ia]
        xrf[ia] = xrf[ib]
        xif[ia] = xif[ib]
        xrf[ib] = p
        xif[ib] = q


@njit(fastmath=_FM, nogil=True)
def gate_monomial(
    xr: Any,
    xi: Any,
    bits: Any,
    m: Any,
    src: Any,
    lanes: Any,
    phr: Any,
    phi: Any,
    tab: Any,
    done: Any,
) -> None:
    """A gate with one nonzero per row and column, as exchanges of rows and then phases.

    Output row j is m[j, src[j]] times input row src[j]. The permutation is done as
    exchanges of rows (a cycle of L rows in L - 1), then the phases as a diagonal gate
    (``gate_phases``), skipped when they are all exactly 1 (CX, SWAP, Toffoli: the product
    would give the same values). ``phr``/``phi``/``done``: scratch of 2^k; ``tab``: as
    gate_phases'. Copying each group's rows to scratch and back, in a
    loop over the lanes, took 7.2 us for a CX on 10 qubits without lanes (runs of 1 slot).
    """
    k = bits.size
    dg = 1 << k
    ones = True
    for j in range(dg):
        phr[j] = m[j * dg + src[j]].real
        phi[j] = m[j * dg + src[j]].imag
        ones = ones and phr[j] == 1 and phi[j] == 0
    # Row j takes row src[j]: along each cycle j0 <- j1 = src[j0] <- j2 = src[j1] ...,
    # exchanging (j0, j1), then (j1, j2), ... leaves each row holding its source.
    done[:dg] = 0  # done[j]: row j is in place
    for j0 in range(dg):
        if done[j0]:
            continue
        done[j0] = 1
        j = j0
        while src[j] != j0:
            swap_rows(xr, xi, bits, j, src[j], lanes)
            j = src[j]
            done[j] = 1
    if not ones:
        gate_phases(xr, xi, bits, phr, phi, lanes, tab)


@njit(nogil=True)
def bit_sums(bits: Any, amp_of_bit: Any, slot_of_bit: Any) -> Any:
    """Amplitude and slot offsets of every combination of the run bits ``bits``."""
    amp = np.zeros(np.int64(1) << bits.size, np.int64)
    slot = np.zeros(np.int64(1) << bits.size, np.int64)
    for i in range(amp.size):
        for j in range(bits.size):
            if (i >> j) & 1:
                amp[i] += amp_of_bit[bits[j]]
                slot[i] += slot_of_bit[bits[j]]
    return amp, slot


# bit_sums and copy_blocks are compiled into apply_sequence, whose on-disk cache holds them;
# caching them on their own too only served direct calls from Python (the tests), and one such
# call, returning arrays, failed once in a full test run on a cache written by other processes
# ("NRT_adapt_ndarray_to_python: descr is NULL"; not reproduced since).
@njit(nogil=True)
def copy_blocks(run_bits: Any, slot_of_bit: Any, lanes: Any) -> Any:
    """Offset tables of the copy of a run of ``2^run_bits`` amplitudes to its tile slots.

    The run's bit p goes to slot offset ``slot_of_bit[p]`` (``lanes`` slots per tile row).
    The run is copied in blocks: an inner loop over its lowest 8 bits (a table of their
    slots; when its lowest 3 or more bits are the tile's lowest lanes, those are a plain inner
    copy, which LLVM vectorises), a middle loop over the bits left out of it whose slots are
    below 16 (lane bits 0-3, and row bits when a row has fewer than 16 lanes: a block then
    fills whole 16-slot lines of the tile) and an outer loop over the rest. When more
    than 7 tile bits lie below the 4th lane, copying in amplitude order would come back to a
    line of the tile only after 2^8 or more rows (it falls out of L1): the inner loop then
    takes only the lowest 3 bits (one cache line of a complex64 state). Measured on one
    24-qubit complex64 pass: a tile on qubits 0-9 copied in 24 ms instead of 31, a tile with
    lanes 0-3 below its bits in 16 instead of 19, and every other layout tried as before
    (a tile on the high qubits, copied as whole rows: 13 ms).
    Returns ``(o_amp, o_slot, l_amp, l_slot, a_slot, run)``: the outer, middle and inner
    tables and the length of the plain inner copy (1 when there is none).
    """
    # Copied in amplitude order, the run revisits a line of the tile (16 lanes) only after
    # 2^rows rows, rows = the tile bits below the run's 16th lane.
    rows = 0
    seen = 0
    for p in range(run_bits):
        if slot_of_bit[p] >= lanes:
            rows += 1
        else:
            seen += 1
            if seen == 4 or np.int64(1) << seen == lanes:
                break
    low = min(8 if rows <= 7 else 3, run_bits)
    amp_of_bit = np.zeros(max(run_bits, 1), np.int64)
    for p in range(run_bits):
        amp_of_bit[p] = np.int64(1) << p
    n_mid = 0
    for p in range(low, run_bits):
        if slot_of_bit[p] < 16:
            n_mid += 1
    mid = np.empty(n_mid, np.int64)
    out = np.empty(run_bits - low - n_mid, np.int64)
    im = 0
    io = 0
    for p in range(low, run_bits):
        if slot_of_bit[p] < 16:
            mid[im] = p
            im += 1
        else:
            out[io] = p
            io += 1
    o_amp, o_slot = bit_sums(out, amp_of_bit, slot_of_bit)
    l_amp, l_slot = bit_sums(mid, amp_of_bit, slot_of_bit)
    # The lowest bits that are the tile's lowest lanes (slots in amplitude order) become a
    # plain inner copy that LLVM vectorises, when they make at least a cache line.
    run = 0
    while run < low and slot_of_bit[run] == np.int64(1) << run:
        run += 1
    run = run if run >= 3 else 0
    _, a_slot = bit_sums(np.arange(run, low), amp_of_bit, slot_of_bit)
    return o_amp, o_slot, l_amp, l_slot, a_slot, np.int64(1) << run


@njit(inline="always", nogil=True)
def move_tile(
    sv: Any,
    xr: Any,
    xi: Any,
    base: Any,
    block: Any,
    contiguous: Any,
    off: Any,
    h_addr: Any,
    h_slot: Any,
    blk: Any,
    load: Any,
) -> None:
    """Copy the tile at ``base`` from the state into ``xr``/``xi`` (``load``) or back.

    Inlined with a literal ``load``, so each copy loop is branch-free. A tile that is one
    ``block`` of consecutive amplitudes is one loop; contiguous lanes are consecutive copies
    per row; otherwise runs of consecutive amplitudes, each to its slot.
    Unsigned indices: numba then skips the negative-index wraparound, which would stop LLVM
    from vectorising the copies.
    """
    lanes = xr.shape[1]
    if block:  # slot v is amplitude base + v: one loop over the tile
        xrf = xr.reshape(xr.size)
        xif = xi.reshape(xi.size)
        for v in range(xrf.size):
            u = np.uint64(2 * (base + v))
            if load:
                xrf[v] = sv[u]
                xif[v] = sv[u + np.uint64(1)]
            else:
                sv[u] = xrf[v]
                sv[u + np.uint64(1)] = xif[v]
        return
    if contiguous:
        for c in range(xr.shape[0]):
            a = base + off[c]
            for b in range(lanes):
                u = np.uint64(2 * (a + b))
                if load:
                    xr[c, b] = sv[u]
                    xi[c, b] = sv[u + np.uint64(1)]
                else:
                    sv[u] = xr[c, b]
                    sv[u + np.uint64(1)] = xi[c, b]
        return
    xrf = xr.reshape(xr.size)  # the same buffers, indexed by slot
    xif = xi.reshape(xi.size)
    o_amp, o_slot, l_amp, l_slot, a_slot, run = blk
    for h in range(h_addr.size):
        for io in range(o_amp.size):
            for il in range(l_amp.size):
                a = base + h_addr[h] + o_amp[io] + l_amp[il]
                d = h_slot[h] + o_slot[io] + l_slot[il]
                # Two loops, not the first with run = 1: a one-amplitude inner loop made
                # the table copies twice as slow (one 24-qubit pass: 33-35 vs 16-19 ms).
                if run > 1:
                    for ia in range(a_slot.size):
                        u0 = np.uint64(a + ia * run)
                        v0 = np.uint64(d + a_slot[ia])
                        for x in range(run):
                            u = np.uint64(2) * (u0 + np.uint64(x))
                            v = v0 + np.uint64(x)
                            if load:
                                xrf[v] = sv[u]
                                xif[v] = sv[u + np.uint64(1)]
                            else:
                                sv[u] = xrf[v]
                                sv[u + np.uint64(1)] = xif[v]
                    continue
                for ia in range(a_slot.size):
                    u = np.uint64(2 * (a + ia))
                    v = np.uint64(d + a_slot[ia])
                    if load:
                        xrf[v] = sv[u]
                        xif[v] = sv[u + np.uint64(1)]
                    else:
                        sv[u] = xrf[v]
                        sv[u + np.uint64(1)] = xif[v]


@njit(fastmath=_FM, nogil=True)
def apply_gates(
    xr: Any,
    xi: Any,
    dim: Any,
    lanes: Any,
    wide: Any,
    tr: Any,
    ti: Any,
    roff: Any,
    tab: Any,
    phr: Any,
    phi: Any,
    gk: Any,
    gbits: Any,
    goff: Any,
    mats: Any,
    gkind: Any,
    gsrc: Any,
    soff: Any,
) -> None:
    """Every gate of the sequence on the tile ``xr``/``xi`` (dim rows of ``lanes``), in order.

    The other arrays are scratch (``run_chunk``).
    """
    for g in range(gk.size):
        k = gk[g]
        kind = gkind[g]
        bits = gbits[g, :k]
        mat = mats[goff[g] : goff[g] + (np.int64(1) << (2 * k))]
        if kind == 2:
            for j in range(np.int64(1) << k):
                phr[j] = mat[j * ((np.int64(1) << k) + 1)].real
                phi[j] = mat[j * ((np.int64(1) << k) + 1)].imag
            gate_phases(xr, xi, bits, phr, phi, lanes, tab)
        elif kind == 1:
            src = gsrc[soff[g] : soff[g] + (np.int64(1) << k)]
            gate_monomial(xr, xi, bits, mat, src, lanes, phr, phi, tab, roff)
        elif k == 1:
            gate1(xr, xi, bits[0], mat, lanes)
        elif k == 2:
            gate2(xr, xi, bits[0], bits[1], mat, lanes)
        elif (lanes << bits[0]) < 8:
            # Runs of fewer than 8 slots below the gate's lowest bit.
            gatek_short(xr, xi, bits, mat, lanes, roff, tr, ti)
        else:
            s = 0
            while s < bits[0] and (lanes << (s + 1)) <= wide:
                s += 1
            wl = lanes << s
            ur = tr[: (np.int64(1) << k) * wl].reshape((np.int64(1) << k), wl)
            ui = ti[: (np.int64(1) << k) * wl].reshape((np.int64(1) << k), wl)
            if s == 0:  # (bits - s allocates)
                gatek(xr, xi, bits, mat, wl, ur, ui)
            else:
                yr = xr.reshape((dim * lanes) // wl, wl)
                yi = xi.reshape((dim * lanes) // wl, wl)
                gatek(yr, yi, bits - s, mat, wl, ur, ui)


@njit(fastmath=_FM, nogil=True)
def run_chunk(
    sv: Any,
    t0: Any,
    t1: Any,
    dim: Any,
    lanes: Any,
    kmax: Any,
    wide: Any,
    live: Any,
    block: Any,
    contiguous: Any,
    off: Any,
    h_addr: Any,
    h_slot: Any,
    blk: Any,
    gk: Any,
    gbits: Any,
    goff: Any,
    mats: Any,
    gkind: Any,
    gsrc: Any,
    soff: Any,
) -> None:
    """Tiles t0..t1-1 of ``apply_sequence`` (one chunk), with scratch of its own."""
    xr, xi, tr, ti, roff, tab, phr, phi = scratch(sv, dim, lanes, kmax, wide)
    for t in range(t0, t1):
        base = np.int64(t)
        for i in range(live.size):
            base = insert_zero(base, live[i])
        move_tile(sv, xr, xi, base, block, contiguous, off, h_addr, h_slot, blk, True)
        apply_gates(xr, xi, dim, lanes, wide, tr, ti, roff, tab, phr, phi, gk, gbits, goff,
                    mats, gkind, gsrc, soff)  # fmt: skip
        move_tile(sv, xr, xi, base, block, contiguous, off, h_addr, h_slot, blk, False)


@njit(inline="always")
def scratch(sv: Any, dim: Any, lanes: Any, kmax: Any, wide: Any) -> Any:
    """A chunk's tile (xr, xi: dim x lanes) and gate scratch, cut from one allocation."""
    dg = np.int64(1) << kmax
    n = dim * lanes
    buf = np.empty(2 * n + 2 * dg * wide + 128 * dg + 2 * dg, sv.dtype)
    xr = buf[:n].reshape(dim, lanes)
    xi = buf[n : 2 * n].reshape(dim, lanes)
    o = 2 * n
    tr = buf[o : o + dg * wide]
    ti = buf[o + dg * wide : o + 2 * dg * wide]
    o += 2 * dg * wide
    tab = buf[o : o + 128 * dg]
    phr = buf[o + 128 * dg : o + 129 * dg]
    phi = buf[o + 129 * dg : o + 130 * dg]
    return xr, xi, tr, ti, np.empty(dg, np.int64), tab, phr, phi


@njit(fastmath=_FM, nogil=True)
def run_block(
    sv: Any,
    kt: Any,
    gk: Any,
    gbits: Any,
    goff: Any,
    mats: Any,
    gkind: Any,
    gsrc: Any,
    soff: Any,
) -> None:
    """``apply_sequence`` on a state that is one tile of its ``kt`` lowest qubits, no lanes.

    The tile is the state, copied in and out as one block, and none of the tables of the
    general case (which cost ~6 us of a ~10 us call at 10 qubits) are built.
    """
    dim = np.int64(1) << kt
    kmax = 1
    for g in range(gk.size):
        kmax = max(kmax, gk[g])
    wide = np.int64(64)
    xr, xi, tr, ti, roff, tab, phr, phi = scratch(sv, dim, np.int64(1), kmax, wide)
    xrf = xr.reshape(dim)
    xif = xi.reshape(dim)
    for v in range(dim):
        u = np.uint64(2 * v)
        xrf[v] = sv[u]
        xif[v] = sv[u + np.uint64(1)]
    apply_gates(xr, xi, dim, np.int64(1), wide, tr, ti, roff, tab, phr, phi, gk, gbits, goff,
                mats, gkind, gsrc, soff)  # fmt: skip
    for v in range(dim):
        u = np.uint64(2 * v)
        sv[u] = xrf[v]
        sv[u + np.uint64(1)] = xif[v]


@njit(parallel=True, fastmath=_FM, nogil=True, cache=True)
def apply_sequence(
    sv: Any,
    pos: Any,
    wbits: Any,
    gk: Any,
    gbits: Any,
    goff: Any,
    mats: Any,
    gkind: Any,
    gsrc: Any,
    soff: Any,
    max_chunks: Any,
    zero_mask: Any,
) -> None:
    # sv: flat real view (2N) of the complex state; pos: ascending tile bit positions;
    # gate g: gk[g] qubits on local tile bits gbits[g, :gk[g]] (ascending), its matrix
    # row-major in mats[goff[g]:goff[g] + 4**gk[g]]; gkind[g]: 0 dense, 1 monomial (row j's
    # nonzero in column gsrc[soff[g] + j]), 2 diagonal. zero_mask: flat-index bits known to
    # be 0 wherever the state is nonzero (see `live` below).
    kt = pos.size
    dim = np.int64(1) << kt
    if wbits == 0 and sv.shape[0] == 2 * dim and (kt == 0 or pos[kt - 1] == kt - 1):
        run_block(sv, kt, gk, gbits, goff, mats, gkind, gsrc, soff)  # the state is one tile
        return
    lanepos = np.empty(wbits, np.int64)  # the wbits lowest positions outside the tile
    j = 0
    p = 0
    while j < wbits:
        inside = False
        for i in range(kt):
            if pos[i] == p:
                inside = True
        if not inside:
            lanepos[j] = p
            j += 1
        p += 1
    lanes = np.int64(1) << wbits
    # Lanes on the lowest bits are consecutive amplitudes: plain (vectorised) copies.
    contiguous = wbits == 0 or lanepos[wbits - 1] == wbits - 1
    off = np.zeros(dim, np.int64)  # of row j: bit i of j sets bit pos[i]; by doubling
    for i in range(kt):
        step = np.int64(1) << i
        for jj in range(step):
            off[jj + step] = off[jj] + (np.int64(1) << pos[i])
    # The whole tile is one block of consecutive amplitudes (a state that is one tile).
    block = contiguous and (kt == 0 or pos[kt - 1] == wbits + kt - 1)
    fixed = np.sort(np.concatenate((pos, lanepos)))
    # Otherwise the tile is copied in runs of consecutive amplitudes: the lanes fill the gaps
    # between the tile's low qubits, so positions 0..run_bits-1 all belong to the tile or the
    # lanes and a tile is 2^(kt + wbits - run_bits) runs of 2^run_bits amplitudes. Reading
    # runs streams memory (one page after another); each amplitude's (row, lane) slot is a
    # sum over the run index's bits, taken from small tables (copy_blocks).
    run_bits = 0
    while run_bits < fixed.size and fixed[run_bits] == run_bits:
        run_bits += 1
    slot_of_bit = np.zeros(max(run_bits, 1), np.int64)
    for p in range(run_bits):
        for i in range(kt):
            if pos[i] == p:
                slot_of_bit[p] = (np.int64(1) << i) * lanes
        for i in range(wbits):
            if lanepos[i] == p:
                slot_of_bit[p] = np.int64(1) << i
    blk = copy_blocks(0 if contiguous else run_bits, slot_of_bit, lanes)  # else unused
    kh = 0
    for i in range(kt):
        if pos[i] >= run_bits:
            kh += 1
    h_addr = np.zeros(np.int64(1) << kh, np.int64)  # the tile's qubits above the runs
    h_slot = np.zeros(np.int64(1) << kh, np.int64)
    for h in range(h_addr.size):
        bit = 0
        for i in range(kt):
            if pos[i] >= run_bits:
                if (h >> bit) & 1:
                    h_addr[h] += np.int64(1) << pos[i]
                    h_slot[h] += (np.int64(1) << i) * lanes
                bit += 1
    kmax = 1
    for g in range(gk.size):
        kmax = max(kmax, gk[g])
    # Scratch of the dense gates of 3 or more qubits: the rows of one group of the gate at up
    # to `wide` lanes. Such a gate whose lowest bit is row bit s >= 1 on a tile
    # of fewer than `wide` lanes runs on the tile seen as 2^(kt - s) rows of lanes * 2^s
    # (capped at `wide`): the rows below its lowest bit are consecutive slots, the same
    # amplitudes in the same order, so its lane loops get longer (a tile without lanes, at
    # 10-12 qubits, would otherwise run them over one slot).
    wide = max(lanes, np.int64(64))
    # A tile is fixed by the index bits that are neither its rows nor its lanes. One that sets
    # a bit of zero_mask holds only zeros, which the gates (linear) keep: it is neither read
    # nor written. Only the others are enumerated (a zero inserted at those bits too), so the
    # chunks below split the tiles that remain evenly over the threads.
    dead = np.zeros(64, np.bool_)  # by bit position: set in zero_mask, outside tile and lanes
    for p in range(63):
        dead[p] = (zero_mask >> p) & 1
    dead[fixed] = False
    live = np.sort(np.concatenate((fixed, np.flatnonzero(dead))))
    tiles = (sv.shape[0] // 2) >> (kt + wbits + live.size - fixed.size)
    # A few chunks of consecutive tiles per thread: the scratch arrays are allocated once per
    # chunk, not once per tile (narrow tiles are small and many).
    chunks = max(1, min(tiles, max_chunks))
    if chunks == 1:  # without the parallel region's start (a small state on one thread)
        run_chunk(sv, 0, tiles, dim, lanes, kmax, wide, live, block, contiguous, off, h_addr,
                  h_slot, blk, gk, gbits, goff, mats, gkind, gsrc, soff)  # fmt: skip
        return
    for ch in prange(chunks):
        t0 = tiles * ch // chunks
        t1 = tiles * (ch + 1) // chunks
        run_chunk(sv, t0, t1, dim, lanes, kmax, wide, live, block, contiguous, off, h_addr,
                  h_slot, blk, gk, gbits, goff, mats, gkind, gsrc, soff)  # fmt: skip
