"""Our backend's time against its thread count (``max_parallel_threads``), in one process.

Brickwork of Haar-random 2-qubit gates (benchmarks/vs_peers.py), depth --depth, each size run
with every --threads value in alternating order, --repeats times; the median of the result's
``time_taken`` (the executor: the gates and the final checks) and of the end-to-end time are
printed, with the speed-up over the first thread count. The final states of all thread
counts are compared bit for bit (the kernels' arithmetic does not depend on the threads).

    python benchmarks/threads.py --qubits 16 20 24 --threads 1 2
"""

from __future__ import annotations

import os

# As in vs_peers.py: before any simulator loads OpenMP, idle threads sleep in all of them.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import argparse
import statistics
import sys
import time

import numpy as np
from vs_peers import brickwork, environment

from qsim_topo.qiskit import QsimTopoBackend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[16, 20, 24])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precisions", nargs="+", default=["double", "single"],
                        choices=["double", "single"])
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    print(environment(argv).replace("vs_peers.py", "threads.py"))
    print("\n| qubits | precision | threads | sim s | end to end s | speed-up (sim) |")
    print("|---:|---|---:|---:|---:|---:|")
    failed = False
    for n in args.qubits:
        qc = brickwork(n, args.depth, 0)
        for precision in args.precisions:
            backend = QsimTopoBackend(precision=precision, device="cpu")
            states = {}
            for t in args.threads:  # warm-up, and the states compared
                result = backend.run(qc, shots=1, max_parallel_threads=t).result()
                states[t] = np.asarray(result.get_statevector().data)
            first = states[args.threads[0]]
            for t, state in states.items():
                if not np.array_equal(state, first):
                    print(f"!!! {n} qubits {precision}: the state of {t} threads differs")
                    failed = True
            del states, first
            sim: dict[int, list[float]] = {t: [] for t in args.threads}
            wall: dict[int, list[float]] = {t: [] for t in args.threads}
            for r in range(args.repeats):
                for t in args.threads if r % 2 == 0 else args.threads[::-1]:
                    start = time.perf_counter()
                    result = backend.run(qc, shots=1, max_parallel_threads=t).result()
                    wall[t].append(time.perf_counter() - start)
                    sim[t].append(float(result.results[0].time_taken))
                    del result
            base = statistics.median(sim[args.threads[0]])
            for t in args.threads:
                s = statistics.median(sim[t])
                print(f"| {n} | {precision} | {t} | {s:.4f} | {statistics.median(wall[t]):.4f} "
                      f"| {base / s:.2f} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
