"""Fusion and tile planning: which gates go together, from their qubits alone.

The planners see qubit sets, not matrices; :mod:`qsim_topo.sim.fusion` composes the blocks they
plan and :mod:`qsim_topo.sim.passes` rewrites programs with them.

:func:`plan_fusion` is greedy over *open blocks*: every qubit belongs to at most one open
block, the last thing that happened on it. A gate touching the open blocks B merges with the
subset of B that absorbs the most gates while the union of qubits stays within ``max_qubits``;
the blocks of B left out are closed (emitted). Open blocks on disjoint qubits commute, so
merging them is exact, and a block is emitted before any later block that shares a qubit with
it, so the emitted order is a valid order of the circuit.

For the cache-blocked CPU pass, where a block costs its arithmetic rather than a pass,
:func:`plan_tile_blocks` plans blocks of at most 2 qubits and :func:`plan_tiles` groups them
into tiles, each one pass over the state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain, combinations

from qsim_topo.errors import QsimTopoError

__all__ = ["block_cost", "plan_fusion", "plan_tile_blocks", "plan_tiles"]


def block_cost(k: int) -> float:
    """Relative time of one k-qubit block pass over a large state on the CPU (1-qubit ~ 1).

    A pass is memory bound for small k and compute bound (2^k complex multiply-adds per
    amplitude) for large k; ``1 + 2^k / 16`` follows the per-k times measured with
    ``apply_inplace`` at 16-22 qubits on the 2-core CI machine (see benchmarks/RESULTS.md).
    """
    return 1.0 + 2.0**k / 16.0


@dataclass(eq=False)  # compared by identity: `in` on lists of open blocks stays cheap
class _Open:
    qubits: set[int]
    gates: list[int] = field(default_factory=list)


def plan_fusion(
    qubit_sets: Sequence[Sequence[int]],
    max_qubits: int,
    *,
    cost: Callable[[int], float] = block_cost,
) -> list[list[int]]:
    """Group gate indices into blocks; returns the blocks in a valid application order.

    Args:
        qubit_sets: the qubits of each gate, in circuit order.
        max_qubits: the widest block allowed (>= 1). A gate wider than this is a block alone.
        cost: relative time of one pass of a block of k qubits. The default,
            :func:`block_cost`, is that of a dense block (the blocks and tiles of the
            cache-blocked pass are planned by :func:`plan_tile_blocks` and
            :func:`plan_tiles`).

    Returns:
        Lists of gate indices; each list is applied in its own order, the lists in order.
        A block is kept only when ``cost`` says one pass of it is cheaper than its gates
        planned again with a narrower limit (or applied one by one).
    """
    if max_qubits < 1:
        raise QsimTopoError(f"fusion max_qubits must be >= 1, got {max_qubits}")
    owner: dict[int, _Open] = {}
    emitted: list[list[int]] = []

    def emit(block: _Open) -> None:
        emitted.extend(_cheapest(block, qubit_sets, cost))

    def close(block: _Open) -> None:
        for q in block.qubits:
            del owner[q]
        emit(block)

    for index, qubits in enumerate(qubit_sets):
        qs = set(qubits)
        touched: list[_Open] = []
        for q in qubits:
            b = owner.get(q)
            if b is not None and b not in touched:
                touched.append(b)
        if len(qs) > max_qubits:
            for b in touched:
                close(b)
            emitted.append([index])
            continue
        if not touched and len(qs) == 1:
            # A 1-qubit gate on a fresh qubit joins the open block where one wider pass saves most
            # over two passes (open blocks on disjoint qubits commute, so this is exact).
            gain, host = 0.0, None
            for b in {id(b): b for b in owner.values()}.values():
                width = len(b.qubits) + len(qs)
                saved = cost(len(b.qubits)) + cost(len(qs)) - cost(width)
                if width <= max_qubits and saved > gain:
                    gain, host = saved, b
            if host is not None:
                touched = [host]
        best: tuple[_Open, ...] = ()
        best_score: tuple[int, ...] = ()
        for r in range(len(touched), -1, -1):
            for subset in combinations(touched, r):
                width = len(qs.union(*(b.qubits for b in subset)))
                if width > max_qubits:
                    continue
                # Most gates absorbed; on a tie the narrower block (cheaper to apply).
                score = (sum(len(b.gates) for b in subset), -width)
                if score > best_score:
                    best, best_score = subset, score
        for b in touched:
            if b not in best:
                close(b)
        merged = _Open(set(qs))
        for b in best:
            for q in b.qubits:
                del owner[q]
            merged.qubits |= b.qubits
            merged.gates.extend(b.gates)
        merged.gates.append(index)
        for q in merged.qubits:
            owner[q] = merged
    # The blocks still open at the end act on disjoint qubits, so they commute: pack them
    # into fewer blocks where the cost model says one wider pass is cheaper.
    packed: list[_Open] = []
    for b in {id(b): b for b in owner.values()}.values():
        for p in packed:
            width = len(p.qubits) + len(b.qubits)
            if width <= max_qubits and cost(width) < cost(len(p.qubits)) + cost(len(b.qubits)):
                p.qubits |= b.qubits
                p.gates.extend(b.gates)
                break
        else:
            packed.append(_Open(set(b.qubits), list(b.gates)))
    for p in packed:
        emit(p)
    return emitted


def plan_tile_blocks(
    qubit_sets: Sequence[Sequence[int]],
    max_qubits: int,
    *,
    cheap: Sequence[bool] | None = None,
) -> list[list[int]]:
    """Group gate indices into blocks of at most ``max_qubits`` qubits for the tile pass.

    Inside a cache-blocked tile (:func:`plan_tiles`) a block costs its arithmetic, 2^k
    multiply-adds per amplitude for a dense k-qubit block, not a pass over the state; so a
    block never grows wider than its gates, and gates join one only when that adds no
    arithmetic to a dense block:

    - a gate of at most ``max_qubits`` qubits joins the last block on its qubits when that
      block is the last on every one of them and holds all of them (a 1-qubit gate after a
      2-qubit block on its qubit; a 2-qubit gate after a block on the same pair). Nothing
      after that block touches those qubits, so the gate moves earlier past gates on other
      qubits only, with which it commutes;
    - a 1-qubit gate with no such block waits and is prepended to the next block opened on
      its qubit (a run of them before any 2-qubit gate, or after a gate wider than
      ``max_qubits``);
    - any other gate opens a block; a gate wider than ``max_qubits`` (or on no qubit) is a
      block alone, after the waiting runs on its qubits, each a block of its own;
    - runs still waiting at the end are blocks of their own, last.

    Unlike :func:`plan_fusion` (whose cost is a pass per block), two 1-qubit gates on
    different qubits are never paired: the pair would cost what the two cost and would no
    longer fit into the 2-qubit blocks that follow. One scan, O(k) per k-qubit gate.

    With ``cheap`` (per gate: a matrix the tile pass applies at about one multiply per
    amplitude; the executor marks the diagonal ones, CZ, CP, RZ, T...), a block opened by a
    cheap gate stays cheap: only cheap gates join it, and 1-qubit gates waiting on its qubits
    go first, as blocks of their own, unless they are all cheap (then they are prepended). A
    dense 1-qubit gate folded into a CP makes a dense block that costs more than the two
    apart (a 12-qubit QFT: 99 against 90 multiply-adds per amplitude in all). Cheap gates
    still join dense blocks on their qubits (no arithmetic added). Without ``cheap`` the plan
    sees qubits only. (Marking the monomial gates too, CX and SWAP, was measured slower on
    random circuits: their 1-qubit neighbours then stay apart.)

    Args:
        qubit_sets: the qubits of each gate (distinct within a gate), in circuit order.
        max_qubits: the widest block (>= 1).
        cheap: None, or per gate whether it is cheap (see above).

    Returns:
        Lists of gate indices, in a valid application order (each qubit's gates keep their
        order); each list in its own order.
    """
    if max_qubits < 1:
        raise QsimTopoError(f"fusion max_qubits must be >= 1, got {max_qubits}")
    blocks: list[list[int]] = []
    joinable: list[bool] = []  # per block: later gates may join it
    cheap_block: list[bool] = []  # per block: only cheap gates may join it
    last: dict[int, int] = {}  # qubit -> the last block on it
    waiting: dict[int, list[int]] = {}  # qubit -> 1-qubit gates not yet in a block
    for i, qubits in enumerate(qubit_sets):
        k = len(qubits)
        is_cheap = cheap is not None and bool(cheap[i])
        if 0 < k <= max_qubits:
            b = last.get(qubits[0], -1)
            # A 1-qubit gate may wait on a qubit whose last block is joinable (a dense gate
            # after a cheap block): what follows on that qubit must not overtake it.
            if (
                b >= 0
                and joinable[b]
                and (is_cheap or not cheap_block[b])
                and not any(q in waiting for q in qubits)
            ):
                for q in qubits[1:]:
                    if last.get(q, -1) != b:
                        b = -1
                        break
                if b >= 0:
                    blocks[b].append(i)
                    continue
            if k == 1:
                waiting.setdefault(qubits[0], []).append(i)
                continue
            gates: list[int] = []
            for q in qubits:
                run = waiting.pop(q, None)
                if not run:
                    continue
                if is_cheap and not all(cheap[j] for j in run):  # type: ignore[index]
                    blocks.append(run)  # first, alone: the cheap gate stays cheap
                    joinable.append(False)
                    cheap_block.append(False)
                else:
                    gates.extend(run)
            gates.append(i)
        else:
            for q in qubits:
                run = waiting.pop(q, None)
                if run:
                    blocks.append(run)
                    joinable.append(False)
                    cheap_block.append(False)
            gates = [i]
        b = len(blocks)
        blocks.append(gates)
        joinable.append(0 < k <= max_qubits)
        cheap_block.append(is_cheap)
        for q in qubits:
            last[q] = b
    blocks.extend(waiting.values())
    return blocks


def plan_tiles(
    qubit_sets: Sequence[Sequence[int]], max_qubits: int, *, seeds: int = 16
) -> list[list[int]]:
    """Group gate indices into tiles of at most ``max_qubits`` qubits, in application order.

    For the tile kernel (:func:`~qsim_topo.sim.numba_kernels.apply_sequence_numba`), whose
    gates stay separate inside a tile: every tile costs one sweep over the state whatever its
    width, and its gates' arithmetic does not depend on the grouping, so what counts is the
    number of tiles. Each tile is grown from a seed gate: it takes the seed's qubits, applies
    every gate that is ready (all gates before it on its qubits applied) and lies in the tile,
    then widens by the ready gate adding the fewest qubits (the earliest on a tie), until no
    ready gate fits. Up to ``seeds`` of the earliest ready gates are tried as the seed and the
    tile applying the most gates is kept (ties: the earliest seed).

    Args:
        qubit_sets: the qubits of each gate, in circuit order.
        max_qubits: the widest tile (>= 1). A gate wider than this is a group alone.
        seeds: how many seeds to try per tile (>= 1).

    Returns:
        Lists of gate indices; each list is applied in its own order, the lists in order, and
        that order keeps every qubit's gates in circuit order.
    """
    if max_qubits < 1:
        raise QsimTopoError(f"max_qubits must be >= 1, got {max_qubits}")
    if seeds < 1:
        raise QsimTopoError(f"seeds must be >= 1, got {seeds}")
    if (
        qubit_sets
        and all(qubit_sets)
        and len(set(chain.from_iterable(qubit_sets))) <= max_qubits
    ):
        # Every gate fits in one tile of all the qubits (a circuit no wider than a tile): one
        # pass in circuit order, which the search below would also find, at a cost per gate.
        return [list(range(len(qubit_sets)))]
    # Qubits renumbered 0..m-1 in order of appearance; a tile is a bit mask of them.
    slot: dict[int, int] = {}
    gq = [tuple({slot.setdefault(q, len(slot)): None for q in qs}) for qs in qubit_sets]
    masks = [sum(1 << q for q in qs) for qs in gq]
    # on[q]: the gates on qubit q in circuit order, -1 at the end; at[q]: the next one's slot.
    on: list[list[int]] = [[] for _ in slot]
    for i, qs in enumerate(gq):
        for q in qs:
            on[q].append(i)
    for gates in on:
        gates.append(-1)

    def grow(
        seed: int, at: list[int], ready: set[int], seen: set[int]
    ) -> tuple[list[int], list[int], set[int]] | None:
        # What a pass grows into from a tile depends on the tile alone (the gates it applies
        # are all those it can reach), so a tile already reached from an earlier seed ends
        # in that seed's pass, which wins the tie: None.
        at, ready = at[:], set(ready)
        members: list[int] = []
        wide = len(gq[seed]) > max_qubits
        tile = masks[seed]
        if not wide:
            if tile in seen:
                return None
            seen.add(tile)
        todo = [seed] if wide else [i for i in ready if not masks[i] & ~tile]
        while True:
            while todo:
                i = todo.pop()
                if i not in ready:
                    continue
                ready.discard(i)
                members.append(i)
                for q in gq[i]:
                    at[q] += 1
                for q in gq[i]:
                    nxt = on[q][at[q]]
                    if nxt < 0 or nxt in ready:
                        continue
                    for p in gq[nxt]:  # plain loops: all() over a generator costs a third more
                        if on[p][at[p]] != nxt:
                            break
                    else:
                        ready.add(nxt)
                        if not wide and not masks[nxt] & ~tile:
                            todo.append(nxt)
            if wide:
                break
            outside = ~tile
            best_new, best = max_qubits - tile.bit_count() + 1, -1
            for i in ready:
                new = (masks[i] & outside).bit_count()
                if new < best_new or (new == best_new and best >= 0 and i < best):
                    best_new, best = new, i
            if best < 0:
                break
            tile |= masks[best]
            if tile in seen:
                return None
            seen.add(tile)
            todo = [i for i in ready if not masks[i] & ~tile]
        return members, at, ready

    at = [0] * len(on)
    ready = {i for i, qs in enumerate(gq) if all(on[q][0] == i for q in qs)}
    passes: list[list[int]] = []
    while ready:
        best_pass: tuple[list[int], list[int], set[int]] | None = None
        seen: set[int] = set()
        for seed in sorted(ready)[:seeds]:
            trial = grow(seed, at, ready, seen)
            if trial is not None and (best_pass is None or len(trial[0]) > len(best_pass[0])):
                best_pass = trial
        assert best_pass is not None
        members, at, ready = best_pass
        passes.append(members)
    return passes


def _plan_cost(
    blocks: list[list[int]], qubit_sets: Sequence[Sequence[int]], cost: Callable[[int], float]
) -> float:
    return sum(cost(len({q for i in b for q in qubit_sets[i]})) for b in blocks)


def _cheapest(
    block: _Open, qubit_sets: Sequence[Sequence[int]], cost: Callable[[int], float]
) -> list[list[int]]:
    """The block itself, or its gates re-planned one qubit narrower, whichever costs less."""
    width = len(block.qubits)
    if len(block.gates) == 1 or width <= 1:
        return [block.gates]
    # Any narrower plan has at least two blocks covering the width's qubits; when even the
    # cheapest such pair costs more than the block, the block stays without re-planning.
    if cost(width) <= min(cost(a) + cost(width - a) for a in range(1, width)):
        return [block.gates]
    sub_sets = [qubit_sets[i] for i in block.gates]
    if max(len(s) for s in sub_sets) >= width:
        return [block.gates]  # a gate as wide as the block: nothing narrower exists
    sub = plan_fusion(sub_sets, width - 1, cost=cost)
    resolved = [[block.gates[j] for j in b] for b in sub]
    if _plan_cost(resolved, qubit_sets, cost) < cost(width):
        return resolved
    return [block.gates]
