"""Per-gate cost and peak memory of state-mode engines at one size, extrapolated to a cycle.

For sizes where a whole RCS cycle through a slow engine costs more machine time than a
session has (28 qubits: 2 GiB complex64 states on a shared 2-core VM), this times the
engine's gate products (:func:`qsim_topo.sim.apply.apply_operator`, the state chain's own
call, with its column blocks) on a few single- and two-qubit gates of cycle 0 of an RCS
family, then runs a state chain (:func:`qsim_topo.experiments.state_chain.iter_state_chain`)
on a family cut down to those gates (closing: two single-qubit gates), so the reference, the
closing copies and the metrics are all exercised at full size: the peak RSS is the chain's.
The cycle estimate is n1 * (s per 1q gate) + n2 * (s per 2q gate) with the cycle's own gate
counts; the measurement cost is the chain's time outside the products.

    python benchmarks/state_gate_rate.py --qubits 28 --engine bf16 --engine cr-sampling:ratio=0.2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = """
import json, resource, time
import numpy as np
from qsim_topo.engines.checked import CheckedEngine
from qsim_topo.experiments.state_chain import COLUMN_BLOCK, StateChainConfig, iter_state_chain
from qsim_topo.families import make_family
from qsim_topo.sim.apply import apply_operator
N, spec, k = {n}, {spec!r}, {k}
name, _, rest = spec.partition(":")
options = {{kv.split("=")[0]: json.loads(kv.split("=")[1]) for kv in filter(None, rest.split(","))}}
def run(n):
    fam = make_family("rcs", n, 0)
    cycle = fam.cycle(0)
    one = [op for op in cycle if len(op.qubits) == 1][:k]
    two = [op for op in cycle if len(op.qubits) == 2][:k]
    config = StateChainConfig(n, engine=name, engine_options=options, dtype=np.complex64)
    engine = CheckedEngine(config.build_engine())
    psi = np.zeros(2**n, dtype=np.complex64)
    psi[0] = 1
    times = {{1: [], 2: []}}
    for op in one + two:
        t = time.perf_counter()
        psi = apply_operator(engine, psi, op.matrix, op.qubits, n, max_columns=COLUMN_BLOCK)
        times[len(op.qubits)].append(time.perf_counter() - t)
    del psi

    class Cut:
        kind, n_qubits = "rcs", n
        def cycle(self, index):
            return one + two
        def closing(self, depth):
            return one[:2]

    t = time.perf_counter()
    report = next(iter(iter_state_chain(config, [1], Cut())))
    chain_s = time.perf_counter() - t
    return report, chain_s, times, cycle


run(min(N, 16))  # untimed warm-up: imports, numba caches, first allocations
report, chain_s, times, cycle = run(N)
print(json.dumps({{
    "s_1q": float(np.median(times[1])), "s_2q": float(np.median(times[2])),
    "n1": sum(len(op.qubits) == 1 for op in cycle), "n2": sum(len(op.qubits) == 2 for op in cycle),
    "measure_s": chain_s - report.wall_time_s - report.exact_wall_time_s,
    "ref_s_per_gate": report.exact_wall_time_s / report.gates,
    "fidelity": report.state_fidelity, "norm": report.norm,
    "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
}}))
"""

GRID_CYCLES, GRID_CELLS = 20, 5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qubits", type=int, default=28)
    ap.add_argument("--engine", action="append", default=None)
    ap.add_argument("--gates", type=int, default=3, help="gates of each width timed")
    args = ap.parse_args()
    print(
        "engine                  s/1q gate  s/2q gate  est. s/cycle (n1, n2)  s/measure  "
        "est. 20-cycle chain s  est. cells/h  peak GiB"
    )
    for spec in args.engine or ["exact", "bf16", "cr-sampling:ratio=0.2"]:
        code = _CHILD.format(n=args.qubits, spec=spec, k=args.gates)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            print(f"{spec:23s} FAILED: {out.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        # The reference per cycle: the fast simulator's cost per gate times the cycle's gates
        # (an upper bound: fusion amortises better over a whole cycle than over a few gates).
        cycle = r["n1"] * r["s_1q"] + r["n2"] * r["s_2q"]
        ref = (r["n1"] + r["n2"]) * r["ref_s_per_gate"]
        chain = GRID_CYCLES * (cycle + ref) + GRID_CELLS * r["measure_s"]
        print(
            f"{spec:23s} {r['s_1q']:9.2f} {r['s_2q']:10.2f} {cycle:10.1f} ({r['n1']}, {r['n2']})"
            f" {r['measure_s']:10.1f} {chain:22.0f} {GRID_CELLS * 3600 / chain:13.2f}"
            f" {r['peak_gib']:9.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
