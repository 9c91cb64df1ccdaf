"""Our backend with and without the cache-blocked tile pass, on the vs_peers circuits.

Each configuration is one `QsimTopoBackend(precision=..., device="cpu")` with
`set_options(**config)`; the same transpiled circuit (built by `vs_peers.build`, transpiled to
`vs_peers.common_target`) goes to all of them. One untimed warm-up each, then --repeats timed
`run(qc, shots=1).result()` calls in alternating order; the median is printed with the
fusion metadata (`passes` with tiles, `blocks` either way). The final states of every
configuration are checked against the first one's (fidelity >= 1 - 1e-9 in complex128,
1 - 1e-4 in complex64); a failed check makes the exit status 1.

    pip install '.[peers,fast]'
    python benchmarks/blocking.py --qubits 22
    python benchmarks/blocking.py --qubits 24 --config blocking_qubits=8 --config blocking_qubits=12

Without numba (the `fast` extra) both default configurations run dense blocks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from qiskit import transpile
from qiskit_aer import AerSimulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vs_peers  # the circuits and the target are vs_peers' own

from qsim_topo.qiskit import QsimTopoBackend


def parse_config(text: str) -> dict[str, Any]:
    """``"k=v,k2=v2"`` into options: integers and True/False are converted."""
    out: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        parsed: Any = int(value) if value.isdigit() else value
        out[key] = {"True": True, "False": False}.get(value, parsed)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[22])
    parser.add_argument("--families", nargs="+", default=["brickwork", "qv", "random"],
                        choices=["brickwork", "qv", "random"])
    parser.add_argument("--precisions", nargs="+", default=["single", "double"],
                        choices=["single", "double"])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", action="append", default=None,
                        help="options of one configuration, k=v[,k=v] (repeatable); "
                             "default: the defaults, then blocking_enable=False")
    args = parser.parse_args(argv)
    configs = [parse_config(c) for c in (args.config or ["", "blocking_enable=False"])]
    target = vs_peers.common_target(AerSimulator())
    print(f"# {' '.join(sys.argv)}")
    print("family qubits precision config seconds passes blocks")
    status = 0
    for n in args.qubits:
        for family in args.families:
            qc = transpile(vs_peers.build(family, n, args.depth, args.seed), target=target,
                           optimization_level=0)
            for precision in args.precisions:
                backends = []
                for config in configs:
                    backend = QsimTopoBackend(precision=precision, device="cpu")
                    backend.set_options(**config)
                    backends.append(backend)
                states = [np.asarray(b.run(qc, shots=1).result().get_statevector().data)
                          for b in backends]
                tol = 1e-9 if precision == "double" else 1e-4
                for config, state in zip(configs[1:], states[1:], strict=True):
                    fid = vs_peers.fidelity(states[0], state)
                    if fid < 1 - tol:
                        print(f"CHECK FAILED: {family} {n} {precision} {config}: fidelity {fid}")
                        status = 1
                times: list[list[float]] = [[] for _ in configs]
                fusion: list[dict[str, Any]] = [{} for _ in configs]
                for _ in range(args.repeats):
                    for i, backend in enumerate(backends):
                        start = time.perf_counter()
                        result = backend.run(qc, shots=1).result()
                        times[i].append(time.perf_counter() - start)
                        fusion[i] = result.results[0].metadata.get("fusion", {})
                for i, config in enumerate(configs):
                    print(f"{family} {n} {precision} {config or 'defaults'} "
                          f"{statistics.median(times[i]):.3f} {fusion[i].get('passes', '-')} "
                          f"{fusion[i].get('blocks', '-')}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
