"""Program -> Program passes: gate fusion and tiles (:class:`~qsim_topo.circuit.Program`).

Both passes rewrite maximal runs of :class:`~qsim_topo.circuit.GateOp` (and
:class:`~qsim_topo.circuit.PhaseOp`, a scalar that commutes with all of them). A run ends at
anything else (measure, reset, save, classical control) and at every op a jump may land on, so
control flow is untouched; jump targets are renumbered to the new program.

* :func:`fuse_program` merges each run into dense blocks
  (:func:`qsim_topo.sim.fusion.fuse_gates`), planned by :func:`~qsim_topo.sim.planning.plan_fusion`
  (a block costs a pass over the state) or, before tiles,
  :func:`~qsim_topo.sim.planning.plan_tile_blocks` (a block costs its arithmetic). The phases of
  a run are summed into one :class:`~qsim_topo.circuit.PhaseOp` at its start.
* :func:`tile_program` groups each run's gates into tiles of at most ``tile_qubits`` qubits, as
  few as :func:`~qsim_topo.sim.planning.plan_tiles` finds; each tile becomes one
  :class:`~qsim_topo.circuit.TileOp`, applied in one cache-blocked pass over the state (a gate
  wider than a tile stays a :class:`~qsim_topo.circuit.GateOp` of its own).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import chain, pairwise
from typing import Any

import numpy as np

from qsim_topo.circuit import (
    BranchOp,
    GateOp,
    JumpOp,
    Op,
    PhaseOp,
    Program,
    SwitchOp,
    TileOp,
)
from qsim_topo.engines.base import MatmulEngine
from qsim_topo.sim.apply import flat_matrices
from qsim_topo.sim.fusion import fuse_gates
from qsim_topo.sim.planning import plan_fusion, plan_tile_blocks, plan_tiles

__all__ = [
    "SMALL_STATE_QUBITS",
    "SMALL_TILE_QUBITS",
    "TILE_BLOCK_QUBITS",
    "TILE_QUBITS",
    "FusionReport",
    "Planner",
    "default_tile_qubits",
    "fuse_program",
    "prepare_program",
    "tile_program",
]

TILE_BLOCK_QUBITS = 2
"""With tiles, gates are first fused into blocks of at most this many qubits (and at most
``fusion_max_qubits``): inside a tile a block's cost is its arithmetic, 2^k complex
multiply-adds per amplitude, so absorbing 1-qubit gates into 2-qubit ones pays and wider
dense blocks do not (a 5-qubit block costs what eight 2-qubit gates do)."""

TILE_QUBITS = 10
"""Tile width of the cache-blocked CPU pass on states of more than :data:`SMALL_STATE_QUBITS`
qubits (Aer's ``blocking_qubits``): a tile of 2^10 amplitudes times 1 KiB of lanes is 1 MiB per
thread; measured in benchmarks/RESULTS.md (18-22 qubits: 10 or 11 qubits fastest, 12 up to
2x slower)."""

SMALL_TILE_QUBITS = 12
SMALL_STATE_QUBITS = 16
"""States of at most ``SMALL_STATE_QUBITS`` qubits get tiles of ``SMALL_TILE_QUBITS`` qubits by
default: the state is in L2 anyway, and wider tiles mean fewer passes (a state of 12 qubits or
fewer is one tile). Executor time at 11-16 qubits, brickwork, QV and random circuits: 10-45%
less than with 10-qubit tiles (benchmarks/RESULTS.md, issue 23, night session)."""


UNFUSED_TILE_QUBITS = 14
"""States of up to this many qubits take their gates into the tiles as written, without fusion
(measured in :func:`prepare_program`)."""


def default_tile_qubits(n_qubits: int) -> int:
    """The tile width for a state of ``n_qubits`` qubits when the caller sets none."""
    return SMALL_TILE_QUBITS if n_qubits <= SMALL_STATE_QUBITS else TILE_QUBITS


Planner = Callable[..., list[list[int]]]
"""``plan(qubit_sets, max_qubits)`` (and ``cheap=`` where :func:`fuse_program` is asked to give
it): gate indices grouped into blocks, in application order."""


@dataclass(frozen=True)
class FusionReport:
    """What fusion did: gates in, blocks out, the widest block, and the width limit.

    With tiles: ``tile_qubits`` (the limit) and ``passes``, the passes over the state in the
    program (one per tile, one per block outside any tile; a loop body counts once); without,
    both are None.
    """

    gates: int
    blocks: int
    max_block_qubits: int
    max_qubits: int
    tile_qubits: int | None = None
    passes: int | None = None

    def as_dict(self) -> dict[str, int | bool]:
        """The report as metadata (``enabled`` is always True here).

        The keys keep Aer's option names: ``blocking`` (tiles on) and ``blocking_qubits``.
        """
        out: dict[str, int | bool] = {
            "enabled": True,
            "gates": self.gates,
            "blocks": self.blocks,
            "max_block_qubits": self.max_block_qubits,
            "max_qubits": self.max_qubits,
            "blocking": self.tile_qubits is not None,
        }
        if self.tile_qubits is not None and self.passes is not None:
            out["blocking_qubits"] = self.tile_qubits
            out["passes"] = self.passes
        return out


_RUN_TYPES = frozenset((GateOp, PhaseOp))


def _targets(ops: list[Op]) -> set[int]:
    out: set[int] = set()
    for op in ops:
        if isinstance(op, (JumpOp, BranchOp)):
            out.add(op.target)
        elif isinstance(op, SwitchOp):
            out.update(op.table.values())
            out.add(op.default)
    return out


def _rewrite_gate_runs(
    program: Program, rewrite: Callable[[list[GateOp], list[PhaseOp]], list[Op]]
) -> Program:
    """A new program where each run of gates and phases is replaced by ``rewrite(gates, phases)``.

    Runs end at every other op and at every jump target; jump targets are renumbered.
    """
    ops = program.ops
    if ops and {type(op) for op in ops} <= _RUN_TYPES:
        # One run, no jumps (a measurement-free circuit without control flow): what the scan
        # below returns, without its per-op bookkeeping (~1 us an op at 10-12 qubits).
        run_gates = [op for op in ops if type(op) is GateOp]
        run_phases = [op for op in ops if type(op) is PhaseOp]
        return _with_ops(program, list(rewrite(run_gates, run_phases)))
    targets = _targets(ops)
    new_ops: list[Op] = []
    index_map: dict[int, int] = {}
    i = 0
    while i < len(ops):
        if not isinstance(ops[i], (GateOp, PhaseOp)):
            index_map[i] = len(new_ops)
            new_ops.append(ops[i])
            i += 1
            continue
        index_map[i] = len(new_ops)
        j = i
        gates: list[GateOp] = []
        phases: list[PhaseOp] = []
        while (
            j < len(ops) and isinstance(ops[j], (GateOp, PhaseOp)) and (j == i or j not in targets)
        ):
            op = ops[j]
            if isinstance(op, GateOp):
                gates.append(op)
            else:
                assert isinstance(op, PhaseOp)
                phases.append(op)
            j += 1
        new_ops.extend(rewrite(gates, phases))
        i = j
    index_map[len(ops)] = len(new_ops)
    remapped: list[Op] = []
    for op in new_ops:
        if isinstance(op, (JumpOp, BranchOp)):
            op = replace(op, target=index_map[op.target])
        elif isinstance(op, SwitchOp):
            op = replace(
                op,
                table={key: index_map[t] for key, t in op.table.items()},
                default=index_map[op.default],
            )
        remapped.append(op)
    return _with_ops(program, remapped)


def _with_ops(program: Program, ops: list[Op]) -> Program:
    return Program(
        name=program.name,
        n_qubits=program.n_qubits,
        n_clbits=program.n_clbits,
        ops=ops,
        terminal_measures=program.terminal_measures,
        method=program.method,
    )


def _as_is(op: GateOp) -> bool:
    """True when ``op`` is already what :func:`fuse_gates` makes of a gate fused with nothing.

    A complex128 numpy matrix of the right shape on ascending qubits (the converter's gates
    mostly are); anything else goes through ``fuse_gates``, which casts and sorts.
    """
    m = op.matrix
    qs = op.qubits
    k = len(qs)
    if type(m) is not np.ndarray or m.dtype != np.complex128 or m.shape != (1 << k, 1 << k):
        return False
    # Strictly ascending: a repeated qubit is never "as is" (fuse_gates and the checks see it).
    return qs[0] < qs[1] if k == 2 else all(a < b for a, b in pairwise(qs))


def _unfused_tiles(
    program: Program, max_qubits: int, tile_qubits: int
) -> tuple[Program, dict[str, Any]]:
    """The gates as they are, grouped into :class:`~qsim_topo.circuit.TileOp` s; no fusion.

    The tiles of :func:`tile_program` (one per run for a state no wider than a tile). The
    gates keep their matrices and qubit order (the tile kernel casts and sorts them, all gates
    at once). Returns the program and :meth:`FusionReport.as_dict`, each gate counted as a
    block of its own.
    """
    tiled, passes = tile_program(program, tile_qubits)
    widths = [len(op.qubits) for op in program.ops if type(op) is GateOp]
    report = FusionReport(
        len(widths), len(widths), max(widths, default=0), max_qubits, tile_qubits, passes
    )
    return tiled, report.as_dict()


def diagonal_gates(gates: Sequence[GateOp]) -> list[bool]:
    """Per gate: its matrix is diagonal (exact zeros off the diagonal, none on it).

    One compiled loop over a flat copy of the matrices where numba loads
    (:func:`qsim_topo.sim._numba_gates.gate_kinds`), else numpy per gate.
    """
    from qsim_topo.sim.numba_kernels import numba_available

    if not gates:
        return []
    flat, arrays = flat_matrices([g.matrix for g in gates])
    if numba_available():
        from qsim_topo.sim._numba_gates import gate_kinds

        dims = np.fromiter([a.shape[0] for a in arrays], np.int64, len(arrays))
        kinds = np.empty(len(arrays), dtype=np.int64)
        gate_kinds(flat, dims, kinds)
        return (kinds == 2).tolist()
    return [
        bool(np.count_nonzero(a) == len(a) and np.count_nonzero(np.diagonal(a)) == len(a))
        for a in arrays
    ]


def fuse_program(
    program: Program,
    engine: MatmulEngine,
    max_qubits: int,
    *,
    plan: Planner = plan_fusion,
    cheap: bool = False,
) -> tuple[Program, FusionReport]:
    """A new program whose gate runs are fused into blocks of at most ``max_qubits`` qubits.

    Args:
        program: the program (not modified; its control-flow ops are copied).
        engine: composes the block matrices (see :func:`~qsim_topo.sim.fusion.fuse_gates`).
        max_qubits: the widest block.
        plan: the planner: :func:`~qsim_topo.sim.planning.plan_fusion` (blocks applied one pass
            each) or :func:`~qsim_topo.sim.planning.plan_tile_blocks` (blocks to be grouped
            into tiles by :func:`tile_program`).
        cheap: give the planner ``cheap=`` (:func:`diagonal_gates`: which gates are
            diagonal), as :func:`~qsim_topo.sim.planning.plan_tile_blocks` takes.

    Returns:
        The fused program (same name, registers, terminal measures and method) and a report.
    """
    counts = {"gates": 0, "blocks": 0, "widest": 0}

    def fuse(gates: list[GateOp], phases: list[PhaseOp]) -> list[Op]:
        out: list[Op] = []
        phase = 0.0
        for p in phases:
            phase += p.phase
        if phase:
            out.append(PhaseOp(math.remainder(phase, 2 * math.pi)))
        widest = counts["widest"]
        rest: list[int] = []  # gate indices of the groups fuse_gates composes, group by group
        groups: list[list[int]] = []  # those groups, numbered within `rest`
        slots: list[int] = []  # where each goes in `out`
        sets = [g.qubits for g in gates]
        groups_planned = (
            plan(sets, max_qubits, cheap=diagonal_gates(gates)) if cheap else plan(sets, max_qubits)
        )
        for group in groups_planned:
            if len(group) == 1 and _as_is(gates[group[0]]):
                # A gate fused with nothing, already as a block is: the op itself, without
                # fuse_gates' per-gate copies (~2 us a gate, most of the pass on brickwork).
                source = gates[group[0]]
                out.append(source)
                widest = max(widest, len(source.qubits))
                continue
            groups.append(list(range(len(rest), len(rest) + len(group))))
            rest.extend(group)
            slots.append(len(out))
            out.append(gates[group[0]])  # a placeholder, replaced below
        if groups:
            blocks = fuse_gates(
                [(gates[i].matrix, gates[i].qubits) for i in rest],
                engine,
                max_qubits=max_qubits,
                plan=lambda sets, width: groups,
            )
            for slot, group, block in zip(slots, groups, blocks, strict=True):
                if len(group) == 1:
                    name = gates[rest[group[0]]].name
                else:
                    name = f"fused[{len(group)}]"
                out[slot] = GateOp(block.matrix, block.qubits, name)
                widest = max(widest, len(block.qubits))
        counts["widest"] = widest
        counts["blocks"] += len(out) - (1 if phase else 0)
        counts["gates"] += len(gates)
        return out

    fused = _rewrite_gate_runs(program, fuse)
    return fused, FusionReport(counts["gates"], counts["blocks"], counts["widest"], max_qubits)


def tile_program(program: Program, tile_qubits: int) -> tuple[Program, int]:
    """A new program whose gate runs are grouped into tiles of at most ``tile_qubits`` qubits.

    Each tile is a :class:`~qsim_topo.circuit.TileOp` of the gates as they are (after
    :func:`fuse_program`, or unfused: the tile kernel casts each gate and sorts its qubits); a
    gate wider than a tile stays a :class:`~qsim_topo.circuit.GateOp`. The phases of a run stay in
    front of its tiles.

    Returns:
        The program and its number of passes over the state (tiles plus gates left alone; a
        loop body counts once).
    """

    def tile(gates: list[GateOp], phases: list[PhaseOp]) -> list[Op]:
        out: list[Op] = list(phases)
        sets = [g.qubits for g in gates]
        for group in plan_tiles(sets, tile_qubits):
            if len(sets[group[0]]) > tile_qubits:  # a gate wider than a tile
                out.append(gates[group[0]])
                continue
            # The whole run as one tile (a state no wider than a tile) without a gather.
            whole = len(group) == len(gates) and group == list(range(len(gates)))
            members = tuple(gates) if whole else tuple([gates[i] for i in group])
            qubits = set(chain.from_iterable(sets if whole else [sets[i] for i in group]))
            out.append(TileOp(members, tuple(sorted(qubits))))
        return out

    tiled = _rewrite_gate_runs(program, tile)
    return tiled, sum(isinstance(op, (GateOp, TileOp)) for op in tiled.ops)


def prepare_program(
    program: Program,
    engine: MatmulEngine,
    *,
    fusion: bool,
    fusion_max_qubits: int,
    fusion_threshold: int,
    tiles: bool,
    tile_qubits: int | None,
) -> tuple[Program, dict[str, Any]]:
    """The passes a run applies before simulating, and what they did (as metadata).

    Nothing for an approximate engine (its gates are applied as written), with ``fusion``
    off, or under ``fusion_threshold`` qubits (the report says why). Otherwise
    :func:`fuse_program`; with ``tiles`` (the caller has the tile kernel) into blocks of at
    most :data:`TILE_BLOCK_QUBITS` qubits, then :func:`tile_program` with tiles of
    ``min(tile_qubits, n)`` qubits (``tile_qubits`` None: :func:`default_tile_qubits`).

    Args:
        program: the program (not modified).
        engine: composes the fused blocks.
        fusion: fuse at all.
        fusion_max_qubits: the widest block without tiles.
        fusion_threshold: fuse only programs of at least this many qubits.
        tiles: group the blocks into tiles (True only where the tile kernel can run).
        tile_qubits: the widest tile; None: :func:`default_tile_qubits` of the program's width.

    Returns:
        The program to run and :meth:`FusionReport.as_dict` (or ``enabled`` False and the
        ``reason``).
    """
    if not fusion:
        return program, {"enabled": False}
    if program.n_qubits < fusion_threshold:
        reason = f"{program.n_qubits} qubits < fusion_threshold {fusion_threshold}"
        return program, {"enabled": False, "reason": reason}
    if not engine.exact:
        reason = f"engine {engine.name!r} is approximate: its gates are applied as written"
        return program, {"enabled": False, "reason": reason}
    if not tiles:
        fused, report = fuse_program(program, engine, fusion_max_qubits)
        return fused, report.as_dict()
    width = min(fusion_max_qubits, TILE_BLOCK_QUBITS)
    if tile_qubits is None:
        tile_qubits = default_tile_qubits(program.n_qubits)
    limit = min(tile_qubits, program.n_qubits)
    # Up to UNFUSED_TILE_QUBITS the gates go into the tiles as they are (_unfused_tiles):
    # absorbing a 1-qubit gate into a 2-qubit block saves less kernel time than composing it
    # costs, and folding a gate into a diagonal one (CP, RZ) makes a dense block. Core API,
    # median of 25, A/B in one process, 2 loaded cores, complex128: at 14 qubits brickwork
    # 3.28 -> 3.11 ms, QV 3.85 -> 3.47, random 5.21 -> 4.88, QFT 5.69 -> 2.45; at 16 random
    # lost (17.3 -> 18.9; complex64 11.9 -> 16.1) and at 20 random lost 1.5x.
    if program.n_qubits <= UNFUSED_TILE_QUBITS:
        return _unfused_tiles(program, width, limit)
    # Diagonal gates keep their blocks diagonal (plan_tile_blocks' cheap=): same A/B, at 16
    # and 20 qubits QFT 6-10% and random 2-6% faster, brickwork and QV unchanged (+-1%).
    fused, report = fuse_program(program, engine, width, plan=plan_tile_blocks, cheap=True)
    tiled, passes = tile_program(fused, limit)
    gates, blocks, widest = report.gates, report.blocks, report.max_block_qubits
    return tiled, FusionReport(gates, blocks, widest, width, limit, passes).as_dict()
