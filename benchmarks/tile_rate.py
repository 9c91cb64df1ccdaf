"""The tile pass's rate of complex multiply-adds against this machine's peak, by block width.

Brickwork (vs_peers.py's circuit, transpiled alike) is fused into blocks of at most --widths
qubits, grouped into tiles as the executor does, and only the tile passes are timed. Width 2
is the executor's plan (``TILE_BLOCK_QUBITS``, ``plan_tile_blocks``, which never makes a block
wider than its gates); wider ones are ``plan_fusion``'s dense blocks (what a larger
``TILE_BLOCK_QUBITS`` with that planner would run), from a random state (no tile skipped:
every pass does its full work). Work = the complex multiply-adds of the fused gates (a dense
block of k qubits: 2^n * 2^k; a diagonal or monomial one: 2^n), so a wider block has more
work per amplitude: compare the wall time (``ms``), not only the rate. ``% peak`` is the
rate over the larger of fma_peak.py's L1 multiply-add loop and a numpy matmul, measured at
the start of the same run (vs_peers.machine_peak); the widths alternate within each
repetition.

    python benchmarks/tile_rate.py --qubits 20 22 --widths 2 3 4 --repeats 5

Needs the `fast` extra (numba) and qiskit (the circuits).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import vs_peers  # beside this script (run as python benchmarks/tile_rate.py)
from qiskit import transpile
from qiskit_aer import AerSimulator

import qsim_topo.sim.numba_kernels as nk
from qsim_topo.circuit import TileOp
from qsim_topo.engines import get_engine
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.sim.passes import default_tile_qubits, fuse_program, tile_program
from qsim_topo.sim.planning import plan_tile_blocks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[20, 22])
    parser.add_argument("--widths", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--precision", choices=["c64", "c128"], nargs="+",
                        default=["c128", "c64"])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs each; median")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"# python benchmarks/tile_rate.py {' '.join(sys.argv[1:])}")
    peak = vs_peers.machine_peak()
    target = vs_peers.common_target(AerSimulator(method="statevector"))
    engine = get_engine("exact")
    print("| qubits | dtype | width | passes | blocks | G cmac | ms | G cmac/s | % peak |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(args.seed)
    for n in args.qubits:
        qc = transpile(vs_peers.build("brickwork", n, args.depth, args.seed), target=target,
                       optimization_level=0)
        program = circuit_to_program(qc, "statevector")
        for tag in args.precision:
            dtype = np.complex64 if tag == "c64" else np.complex128
            plans = {}
            for width in args.widths:
                if width == 2:
                    fused, _ = fuse_program(program, engine, width, plan=plan_tile_blocks)
                else:
                    fused, _ = fuse_program(program, engine, width)  # plan_fusion
                fused, _ = tile_program(fused, min(default_tile_qubits(n), n))
                tiles = [([(g.matrix.astype(dtype), g.qubits) for g in op.gates], op.qubits)
                         for op in fused.ops if isinstance(op, TileOp)]
                work = sum(vs_peers._op_work(m, len(q), 2**n) for t, _ in tiles for m, q in t)
                plans[width] = (tiles, work)
            psi = (rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)).astype(dtype)
            psi /= np.linalg.norm(psi)
            times: dict[int, list[float]] = {w: [] for w in args.widths}
            finals = {}
            for rep in range(args.repeats + 1):  # the first is a warm-up (and compiles)
                for width in args.widths:
                    state = psi.copy()
                    start = time.perf_counter()
                    for gates, qubits in plans[width][0]:
                        nk.apply_sequence_numba(None, state, gates, qubits, 1)
                    if rep:
                        times[width].append(time.perf_counter() - start)
                    finals[width] = state
            ref = finals[args.widths[0]]
            for width in args.widths:
                tiles, work = plans[width]
                seconds = statistics.median(times[width])
                fid = abs(np.vdot(ref.astype(np.complex128), finals[width])) ** 2
                assert fid > 1 - (1e-9 if tag == "c128" else 1e-4), (n, tag, width, fid)
                rate = work / seconds
                print(f"| {n} | {tag} | {width} | {len(tiles)} | {sum(len(t) for t, _ in tiles)} "
                      f"| {work / 1e9:.2f} | {seconds * 1e3:.1f} | {rate / 1e9:.2f} | "
                      f"{100 * rate / peak[tag][0]:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
