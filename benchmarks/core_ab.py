"""Before/after A/B of our backend on vs_peers.py's circuits: a base commit against this tree.

Target: this tree no slower than the base (new/base <= 1.05 per cell, median over rounds).

The base commit's ``qsim_topo`` is exported (``git archive``) into a temporary folder; each
round runs one child process per side, alternating (base, new, base, new, ...), so that both
see the same machine load. A child imports its side's ``qsim_topo`` (``PYTHONPATH``), builds
vs_peers.py's circuits (same families, seed and transpilation to the common target; built
once per child, outside timing), runs each once untimed, then times --repeats end-to-end runs
``QsimTopoBackend(device="cpu", precision=p).run(qc).result()`` (median), and the 5-qubit
latency circuit (1000 shots, median of --latency-repeats). The parent prints, per cell, the
median over rounds of each side and the ratio new/base; the final states of the two sides are
compared (max |diff|). Two processes cannot share one import of two ``qsim_topo`` versions,
hence processes, alternated.

    python benchmarks/core_ab.py --base aeb1bfa --qubits 20 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, statistics, sys, time
import numpy as np
from qiskit import transpile
from qiskit_aer import AerSimulator
sys.path.insert(0, {bench!r})
import vs_peers
from qsim_topo.qiskit import QsimTopoBackend
import qsim_topo
print("# qsim_topo from", qsim_topo.__file__, file=sys.stderr)

n, repeats, lat_repeats = {n}, {repeats}, {lat}
target = vs_peers.common_target(AerSimulator(method="statevector"))
out = {{}}
for family in vs_peers.FAMILIES:
    qc = transpile(vs_peers.build(family, n, 20, 0), target=target, optimization_level=0)
    for precision in ("double", "single"):
        backend = QsimTopoBackend(device="cpu", precision=precision)
        state = backend.run(qc).result().get_statevector().data
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            backend.run(qc).result()
            times.append(time.perf_counter() - start)
        out[f"{{family}} {{precision}}"] = [statistics.median(times), state[:4096].tolist()]
lat_qc = vs_peers.latency_circuit(target, 0)
backend = QsimTopoBackend(device="cpu")
backend.run(lat_qc, shots=1000).result()
times = []
for _ in range(lat_repeats):
    start = time.perf_counter()
    backend.run(lat_qc, shots=1000).result()
    times.append(time.perf_counter() - start)
out["latency 5q ms"] = [1e3 * statistics.median(times), []]
print(json.dumps({{k: [v[0], [[c.real, c.imag] for c in v[1]]] for k, v in out.items()}}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="aeb1bfa")
    parser.add_argument("--qubits", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-repeats", type=int, default=100)
    args = parser.parse_args(argv)
    code = CHILD.format(bench=str(ROOT / "benchmarks"), n=args.qubits, repeats=args.repeats,
                        lat=args.latency_repeats)
    results: dict[str, list[dict[str, list]]] = {"base": [], "new": []}
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(["git", "archive", args.base, "qsim_topo"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        paths = {"base": folder, "new": str(ROOT)}
        for _ in range(args.rounds):
            for side in ("base", "new"):
                env = {**os.environ, "PYTHONPATH": paths[side]}
                # cwd is the side's folder: `python -c` puts the cwd first on sys.path.
                child = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                       capture_output=True, text=True, cwd=paths[side])
                loaded = child.stderr.split("# qsim_topo from ", 1)[1].split()[0]
                if not loaded.startswith(paths[side]):
                    raise RuntimeError(f"the {side} child imported {loaded}")
                out = child.stdout
                results[side].append(json.loads(out.strip().splitlines()[-1]))
    print(f"# python benchmarks/core_ab.py {' '.join(sys.argv[1:])}")
    print(f"# base {args.base} vs this tree, {args.qubits} qubits, {args.rounds} rounds "
          f"alternating; median over rounds of each round's median")
    print("| cell | base | new | new/base | max |state diff| |")
    print("|---|---:|---:|---:|---:|")
    worst = 0.0
    for cell in results["base"][0]:
        b = statistics.median(r[cell][0] for r in results["base"])
        w = statistics.median(r[cell][0] for r in results["new"])
        sb = results["base"][0][cell][1]
        sw = results["new"][0][cell][1]
        diff = max((abs(complex(*x) - complex(*y)) for x, y in zip(sb, sw, strict=True)),
                   default=0.0)
        unit = "ms" if "ms" in cell else "s"
        print(f"| {cell} | {b:.3f} {unit} | {w:.3f} {unit} | {w / b:.2f} | {diff:.1e} |")
        worst = max(worst, w / b)
    print(f"worst new/base: {worst:.2f} (target <= 1.05:", "met)" if worst <= 1.05 else "missed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
