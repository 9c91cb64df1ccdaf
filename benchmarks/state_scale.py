"""Throughput and peak memory of state-mode sweep cells (issue 20, item 3), per qubit count.

Target: 28 qubits in complex64 for every engine on a 24 GiB machine, with the peak a small
multiple of the state. Each (qubits, engine) runs one RCS chain measured at the depths given
(default 1 and 2) in a child process, after an untimed warm-up chain of at most 16 qubits,
through the sweep's own chain runner (:func:`qsim_topo.experiments.chains.run_chain`); the
child's maximum resident set size comes
from its own ``getrusage(RUSAGE_SELF)`` and the baseline (the same imports, 4 qubits) is printed
beside it. From the rows' cumulative times the script separates the cost of one cycle (engine
products, reference) and of one measurement (closing, metrics, sampling), and extrapolates the
cells per hour of the issue's grid (a chain of 20 cycles measured at depths 4, 8, 12, 16,
20: 5 cells per chain):

    python benchmarks/state_scale.py --qubits 16,20,24 --engine exact --engine bf16 \\
        --engine cr-sampling:ratio=0.2
    python benchmarks/state_scale.py --qubits 28 --depths 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

_CHILD = """
import json, resource, time
from qsim_topo.experiments.chains import ChainTask, run_chain
# Warm up (imports, numba's cached kernels, first allocations) on a small chain, untimed.
list(run_chain(ChainTask(min({n}, 16), "rcs", "state", {engine!r}, 1, (1,), 10, 1, "cpu",
    "complex64")))
task = ChainTask({n}, "rcs", "state", {engine!r}, 0, {depths!r}, 1000, 1, "cpu", "complex64")
start = time.perf_counter()
rows = []
for row in run_chain(task):
    row["elapsed_s"] = time.perf_counter() - start
    rows.append(row)
print(json.dumps([{{k: r.get(k) for k in ("depth", "status", "error", "state_fidelity",
    "xeb_normalized", "wall_time_s", "exact_wall_time_s", "elapsed_s", "gates")}}
    for r in rows]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

GRID_CYCLES = 20
GRID_CELLS = 5  # depths 4, 8, 12, 16, 20


def run_child(n: int, engine: str, depths: tuple[int, ...]) -> tuple[list[dict], float, float]:
    """Rows, wall seconds and peak RSS (GiB) of one chain in a child process."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(n=n, engine=engine, depths=depths)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-2]), seconds, int(lines[-1]) / 2**20  # ru_maxrss is in KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qubits", default="16,20,24,28")
    ap.add_argument("--engine", action="append", default=None)
    ap.add_argument("--depths", default="1,2")
    args = ap.parse_args()
    engines = args.engine or ["exact", "bf16", "cr-sampling:ratio=0.2"]
    depths = tuple(int(d) for d in args.depths.split(","))
    # Also compiles and caches the numba kernels once (a first run at 14+ qubits would pay it).
    run_child(16, "exact", (1,))
    _, _, base = run_child(4, "exact", (1,))
    print(f"baseline RSS (4 qubits, same imports): {base:.2f} GiB")
    print(
        "qubits engine                  cycle_eng_s cycle_ref_s measure_s  chain20_s "
        "cells/h  peak_GiB  F(last)     XEB/ideal"
    )
    for n in (int(q) for q in args.qubits.split(",")):
        for engine in engines:
            rows, _, peak = run_child(n, engine, depths)
            if any(r["status"] != "ok" for r in rows):
                print(f"{n:6d} {engine:23s} FAILED: {rows[0]['error']}")
                continue
            last = rows[-1]
            cycles = last["depth"]
            eng = last["wall_time_s"] / cycles  # includes the closing (one 1q layer): upper bound
            ref = last["exact_wall_time_s"] / cycles
            measured = last["elapsed_s"] - last["wall_time_s"] - last["exact_wall_time_s"]
            # everything outside cycles: closings' reference side, metrics, sampling, digest
            per_measure = max(measured, 0.0) / len(rows)
            chain = GRID_CYCLES * (eng + ref) + GRID_CELLS * per_measure
            print(
                f"{n:6d} {engine:23s} {eng:11.3f} {ref:11.3f} {per_measure:9.3f} "
                f"{chain:10.1f} {GRID_CELLS * 3600 / chain:8.1f} {peak:9.2f}  "
                f"{last['state_fidelity']:.6f}  {last['xeb_normalized']:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
