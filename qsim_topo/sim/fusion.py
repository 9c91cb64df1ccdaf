"""Gate fusion: merge runs of gates into dense blocks of at most ``max_qubits`` qubits.

Applying a k-qubit block to a 2^n state costs one pass over the state whatever k is (up to the
point where the 2^k-wide product becomes compute bound), so merging the gates of a circuit
into few wide blocks cuts the passes, which is what bounds a state-vector simulator (Qiskit
Aer's ``fusion_max_qubit`` and qsim's ``max_fused_gate_size`` do the same). Which gates form
a block is planned by :mod:`qsim_topo.sim.planning`; this module composes the blocks.

Block matrices are composed through a matmul engine (the same rule as every other product of
the package): ``M = G_m ... G_1`` on the block's qubits, each gate embedded in the block's
space exactly (identity (x) G with its index bits permuted) and multiplied on by the engine.
Fusion is exact up to rounding for an exact engine; with an approximate engine the composition
products are approximate too, which is why the backends switch fusion off for approximate
engines unless asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np

from qsim_topo.engines.base import MatmulEngine
from qsim_topo.sim.apply import sort_gate_qubits
from qsim_topo.sim.planning import plan_fusion

__all__ = ["DEFAULT_FUSION_MAX_QUBITS", "FusedGate", "fuse_gates"]

DEFAULT_FUSION_MAX_QUBITS = 5
"""Default block width, chosen from benchmarks/vs_peers.py measurements (see RESULTS.md)."""


@dataclass(frozen=True)
class FusedGate:
    """A dense block: ``matrix`` (complex128, (2^k, 2^k)) on ``qubits`` (k distinct, ascending).

    ``qubits[0]`` is the least significant bit of the matrix index (Qiskit's convention).
    ``sources`` are the indices, in the input sequence, of the gates it was built from, in
    application order.
    """

    matrix: np.ndarray
    qubits: tuple[int, ...]
    sources: tuple[int, ...]


def fuse_gates(
    gates: Iterable[tuple[Any, Sequence[int]]],
    engine: MatmulEngine,
    *,
    max_qubits: int = DEFAULT_FUSION_MAX_QUBITS,
    plan: Callable[[Sequence[Sequence[int]], int], list[list[int]]] = plan_fusion,
) -> list[FusedGate]:
    """Fuse ``(matrix, qubits)`` gates into blocks of at most ``max_qubits`` qubits.

    Args:
        gates: k-qubit gates, ``matrix`` of shape (2^k, 2^k) with ``qubits[0]`` its least
            significant bit; applied in order. Not modified.
        engine: composes each block's matrix (one product per gate of a block after its
            first, which is embedded exactly); numpy complex128 operands.
        max_qubits: the widest block (>= 1).
        plan: the planner, ``plan(qubit_sets, max_qubits)``: :func:`plan_fusion` for blocks
            applied one pass each, :func:`plan_tile_blocks` for the tile pass.

    Returns:
        The blocks, in application order. A block of one gate keeps the gate's matrix (as
        complex128, qubits sorted); nothing is composed for it.
    """
    mats: list[np.ndarray] = []
    sets: list[tuple[int, ...]] = []
    for m, qs in gates:
        mats.append(np.asarray(m, dtype=np.complex128))
        sets.append(tuple([int(q) for q in qs]))
    out: list[FusedGate | None] = []
    # Blocks of several gates, by width: (index in out, embedded gates in application order).
    pending: dict[int, list[tuple[int, list[np.ndarray]]]] = {}
    for block in plan(sets, max_qubits):
        if len(block) == 1:
            i = block[0]
            qs = sets[i]
            dim = 1 << len(qs)
            # Already ascending (what the converter's 2-qubit gates mostly are): the gate as
            # it is, without sort_gate_qubits' general path (~1 us a gate at 10-12 qubits).
            if mats[i].shape == (dim, dim) and all(a < b for a, b in pairwise(qs)):
                out.append(FusedGate(mats[i], qs, (i,)))
                continue
            matrix, qubits = sort_gate_qubits(mats[i], qs)
            out.append(FusedGate(matrix, qubits, (i,)))
            continue
        qubits = tuple(sorted({q for i in block for q in sets[i]}))
        local = {q: j for j, q in enumerate(qubits)}
        k = len(qubits)
        # Each gate is embedded in the block's space (identity (x) G with its index bits
        # permuted: exact structure, no arithmetic); the products are below.
        embedded = [_embed(mats[i], tuple([local[q] for q in sets[i]]), k) for i in block]
        pending.setdefault(k, []).append((len(out), embedded))
        out.append(FusedGate(embedded[0], qubits, tuple(block)))
    for blocks in pending.values():
        for index, matrix in zip(
            (index for index, _ in blocks), _compose([g for _, g in blocks], engine), strict=True
        ):
            done = out[index]
            assert done is not None
            out[index] = FusedGate(matrix, done.qubits, done.sources)
    return [block for block in out if block is not None]


def _compose(chains: list[list[np.ndarray]], engine: MatmulEngine) -> list[np.ndarray]:
    """``G_m ... G_1`` of each chain (matrices of one size, ``chain[0]`` applied first).

    Step t multiplies gate t of every chain that has one onto that chain's product so far: with
    an engine that has ``matmul_pairs`` (:class:`~qsim_topo.engines.base.CheckedEngine`), one
    stacked product per step instead of one call per gate (a 12-qubit random circuit: 160
    products in 5 calls). Otherwise one ``engine.matmul`` per gate. The first gate of a chain
    is its start, not a product.
    """
    products = [chain[0] for chain in chains]
    pairs = getattr(engine, "matmul_pairs", None)
    for t in range(1, max(len(chain) for chain in chains)):
        live = [c for c, chain in enumerate(chains) if len(chain) > t]
        if pairs is None or len(live) == 1:
            for c in live:
                products[c] = engine.matmul(chains[c][t], products[c])
            continue
        stacked = pairs(
            np.stack([chains[c][t] for c in live]), np.stack([products[c] for c in live])
        )
        for j, c in enumerate(live):
            products[c] = stacked[j]
    # Finished products as arrays of their own: a view would keep its step's whole stack alive.
    return [p.copy() if p.base is not None else p for p in products]


@lru_cache(maxsize=1024)
def _embedding_scatter(positions: tuple[int, ...], k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(dst, src)``: ``embed.flat[dst] = G.flat[src]``, zeros elsewhere, G on ``positions``.

    Entry (i, j) of the embedded matrix is nonzero only where i and j agree on the qubits
    outside ``positions``; it is then G's entry at the bits of i and j on ``positions`` (bit b
    of G's index on local qubit ``positions[b]``).
    """
    dim = 2**k
    rest = sum(1 << q for q in range(k) if q not in positions)
    i = np.arange(dim)[:, None]
    j = np.arange(dim)[None, :]
    gi = sum(((i >> q) & 1) << b for b, q in enumerate(positions))
    gj = sum(((j >> q) & 1) << b for b, q in enumerate(positions))
    mask = ((i ^ j) & rest) == 0
    dst = np.flatnonzero(mask)
    src = (gi * 2 ** len(positions) + gj)[mask]
    dst.setflags(write=False)
    src.setflags(write=False)
    return dst, src


def _embed(gate: np.ndarray, positions: tuple[int, ...], k: int) -> np.ndarray:
    """The (2^k, 2^k) matrix of ``gate`` acting on local qubits ``positions`` of k."""
    if positions == tuple(range(k)):
        return gate
    dst, src = _embedding_scatter(positions, k)
    full = np.zeros(4**k, dtype=np.complex128)
    full[dst] = gate.reshape(-1)[src]
    return full.reshape(2**k, 2**k)
