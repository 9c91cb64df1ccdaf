"""The same circuit through the Python API and through QsimTopoBackend, in one process.

Target: the two take the same time (ratio api/backend within 0.8..1.25): both run the core
executor (fusion, tile pass, kernels), so a new user of ``StatevectorSimulator`` gets the fast
simulator. Before this change the API took a separate out-of-place path (a 20-qubit, 590-gate
circuit: 8.07 s against 0.58 s).

The circuit: --depth layers on --qubits qubits, each an ``rz(t) sx rz(t)`` on every qubit then
CX on the pairs (q, q+1) of the layer's parity (brickwork); the angles from --seed. The API
gets it as ``qsim_topo.circuit.gate`` ops, the backend as the equivalent ``QuantumCircuit``
(built outside timing). Each side: one untimed warm-up, then --repeats runs alternating, the
median reported; the end-to-end call is timed (``run(ops, n)`` / ``run(qc).result()`` and
``get_statevector()``). The states are checked equal (max |diff| <= 1e-10).

    python benchmarks/api_vs_backend.py --qubits 20 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import numpy as np
from qiskit import QuantumCircuit

from qsim_topo.circuit import GateOp, gate
from qsim_topo.qiskit import QsimTopoBackend
from qsim_topo.sim import StatevectorSimulator


def build(n: int, depth: int, seed: int) -> tuple[list[GateOp], QuantumCircuit]:
    """The circuit as our ops and as a QuantumCircuit (the same gates in the same order)."""
    rng = np.random.default_rng(seed)
    ops: list[GateOp] = []
    qc = QuantumCircuit(n)
    for layer in range(depth):
        for q in range(n):
            a, b = (float(x) for x in rng.uniform(0, 2 * np.pi, 2))
            ops += [gate("rz", q, a), gate("sx", q), gate("rz", q, b)]
            qc.rz(a, q)
            qc.sx(q)
            qc.rz(b, q)
        for q in range(layer % 2, n - 1, 2):
            ops.append(gate("cx", (q, q + 1)))
            qc.cx(q, q + 1)
    return ops, qc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=20)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    n = args.qubits
    ops, qc = build(n, args.depth, args.seed)
    api = StatevectorSimulator()
    backend = QsimTopoBackend(device="cpu")

    def run_api() -> np.ndarray:
        return api.run(ops, n).data

    def run_backend() -> np.ndarray:
        return backend.run(qc, shots=1).result().get_statevector().data

    states = {"api": run_api(), "backend": run_backend()}  # warm-up
    diff = float(np.max(np.abs(states["api"] - states["backend"])))
    times: dict[str, list[float]] = {"api": [], "backend": []}
    for _ in range(args.repeats):
        for name, fn in (("api", run_api), ("backend", run_backend)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    a, b = statistics.median(times["api"]), statistics.median(times["backend"])
    print(f"# python benchmarks/api_vs_backend.py {' '.join(sys.argv[1:])}")
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"# {n} qubits, {len(ops)} gates; max |state diff| = {diff:.1e}")
    print("| qubits | gates | API s | backend s | API/backend |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {n} | {len(ops)} | {a:.3f} | {b:.3f} | {a / b:.2f} |")
    ok = diff <= 1e-10 and 0.8 <= a / b <= 1.25
    print("target (0.8 <= API/backend <= 1.25, same state):", "met" if ok else "NOT met")
    return 0 if diff <= 1e-10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
