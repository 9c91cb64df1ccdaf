"""Gate fusion of a converted :class:`~qsim_topo.qiskit.convert.Program`.

Maximal runs of :class:`GateOp` (and :class:`PhaseOp`, a scalar that commutes with all of
them) are fused by :func:`qsim_topo.sim.fusion.fuse_gates`. A run ends at anything else
(measure, reset, save, classical control) and at every op a jump may land on, so control flow
is untouched; jump targets are renumbered to the fused program.

With ``tile_qubits`` (the cache-blocked CPU pass), the blocks are planned for their arithmetic
(:func:`~qsim_topo.sim.fusion.plan_tile_blocks`) and grouped into tiles of at most that many
qubits, as few as the planner finds (:func:`~qsim_topo.sim.fusion.plan_passes`); each tile
becomes one :class:`~qsim_topo.qiskit.convert.TileOp`, applied in one pass over the state (a
gate wider than a tile stays a :class:`~qsim_topo.qiskit.convert.GateOp` of its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from qsim_topo.engines.base import MatmulEngine
from qsim_topo.qiskit.convert import (
    BranchOp,
    GateOp,
    JumpOp,
    Op,
    PhaseOp,
    Program,
    SwitchOp,
    TileOp,
)
from qsim_topo.sim.fusion import fuse_gates, plan_fusion, plan_passes, plan_tile_blocks

__all__ = ["FusionReport", "fuse_program"]


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
        """The report as metadata (``enabled`` is always True here)."""
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


def _targets(ops: list[Op]) -> set[int]:
    out: set[int] = set()
    for op in ops:
        if isinstance(op, (JumpOp, BranchOp)):
            out.add(op.target)
        elif isinstance(op, SwitchOp):
            out.update(op.table.values())
            out.add(op.default)
    return out


def fuse_program(
    program: Program, engine: MatmulEngine, max_qubits: int, *, tile_qubits: int | None = None
) -> tuple[Program, FusionReport]:
    """A new program whose gate runs are fused into blocks of at most ``max_qubits`` qubits.

    Args:
        program: a converted program (not modified; its control-flow ops are copied).
        engine: composes the block matrices (see :func:`~qsim_topo.sim.fusion.fuse_gates`).
        max_qubits: the widest block.
        tile_qubits: plan the blocks with :func:`~qsim_topo.sim.fusion.plan_tile_blocks`
            and group them into :class:`~qsim_topo.qiskit.convert.TileOp` tiles of at most
            this many qubits (None: :func:`~qsim_topo.sim.fusion.plan_fusion`, no tiles).

    Returns:
        The fused program (same name, registers, terminal measures and method) and a report.
    """
    ops = program.ops
    targets = _targets(ops)
    new_ops: list[Op] = []
    index_map: dict[int, int] = {}
    gates_in = blocks_out = widest = 0
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
        phase = 0.0
        while (
            j < len(ops) and isinstance(ops[j], (GateOp, PhaseOp)) and (j == i or j not in targets)
        ):
            op = ops[j]
            if isinstance(op, GateOp):
                gates.append(op)
            else:
                assert isinstance(op, PhaseOp)
                phase += op.phase
            j += 1
        if phase:
            new_ops.append(PhaseOp(math.remainder(phase, 2 * math.pi)))
        blocks: list[GateOp] = []
        for block in fuse_gates(
            [(g.matrix, g.qubits) for g in gates],
            engine,
            max_qubits=max_qubits,
            plan=plan_fusion if tile_qubits is None else plan_tile_blocks,
        ):
            sources = block.sources
            name = gates[sources[0]].name if len(sources) == 1 else f"fused[{len(sources)}]"
            blocks.append(GateOp(block.matrix, block.qubits, name))
            widest = max(widest, len(block.qubits))
        if tile_qubits is None:
            new_ops.extend(blocks)
        else:
            for tile in plan_passes([b.qubits for b in blocks], tile_qubits):
                if len(blocks[tile[0]].qubits) > tile_qubits:  # a gate wider than a tile
                    new_ops.append(blocks[tile[0]])
                else:
                    qubits = tuple(sorted({q for i in tile for q in blocks[i].qubits}))
                    new_ops.append(TileOp(tuple(blocks[i] for i in tile), qubits))
        blocks_out += len(blocks)
        gates_in += len(gates)
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
    fused = Program(
        name=program.name,
        n_qubits=program.n_qubits,
        n_clbits=program.n_clbits,
        ops=remapped,
        terminal_measures=program.terminal_measures,
        method=program.method,
    )
    if tile_qubits is not None:
        passes = sum(isinstance(op, (GateOp, TileOp)) for op in remapped)
        return fused, FusionReport(
            gates_in, blocks_out, widest, max_qubits, tile_qubits=tile_qubits, passes=passes
        )
    return fused, FusionReport(gates_in, blocks_out, widest, max_qubits)
