"""Where the fixed cost of one small circuit goes: the stages of `backend.run(qc).result()`
and of `StatevectorSimulator().run(...)`, timed one by one in this process (issue 23).

For each --families circuit of vs_peers.py (default brickwork: Haar-random 2-qubit
`UnitaryGate`s, --depth layers), transpiled as vs_peers.py transpiles it, at each --qubits,
complex128, on the CPU, defaults otherwise; each figure is the median and the minimum of
--repeats calls after one warm-up, in milliseconds:

- e2e: `QsimTopoBackend(device="cpu").run(qc, shots=1).result()`, end to end;
- convert: `circuit_to_program(qc)` (the Qiskit circuit to our Program);
- execute: `execute(program, exact, ...)` with the backend's options, of which
  prepare: `prepare_program` (fusion into 2-qubit blocks, then the tile plan), and
  sim wall: the executor's own clock (state, kernels, final checks);
- result: `experiment_result` and `job_result` (the Qiskit Result objects);
- rest: e2e minimum less the other minima (options, memory checks, the job, a thread when
  the job does not run inline);
- api ops / api program: `StatevectorSimulator().run(pairs, n)` from `(matrix, qubits)` pairs
  and `.run(program)` (both check every gate's unitarity first).

    python benchmarks/overhead.py --qubits 10 12 --repeats 40 --families brickwork qft
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from qiskit import transpile
from qiskit_aer import AerSimulator
from vs_peers import FAMILIES, build, common_target

from qsim_topo.engines.base import CheckedEngine, get_engine
from qsim_topo.qiskit import QsimTopoBackend
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.qiskit.execute import execute
from qsim_topo.qiskit.results import experiment_result, job_result
from qsim_topo.sim import StatevectorSimulator
from qsim_topo.sim.passes import prepare_program


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(median, minimum) milliseconds of ``repeats`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, min(times) * 1e3


def row(family: str, n: int, depth: int, seed: int, repeats: int) -> str:
    """The table row of an n-qubit circuit of ``family``, transpiled as vs_peers.py does."""
    target = common_target(AerSimulator(method="statevector"))
    qc = transpile(build(family, n, depth, seed), target=target, optimization_level=0)
    backend = QsimTopoBackend(device="cpu")
    config = backend.run_config(shots=1)
    options = config.execute_options()
    program = circuit_to_program(qc, "statevector")
    exact = get_engine("exact")
    e2e = timed(lambda: backend.run(qc, shots=1).result(), repeats)
    convert = timed(lambda: circuit_to_program(qc, "statevector"), repeats)
    prepare = timed(
        lambda: prepare_program(
            program,
            # as the executor wraps its own exact engine: no input or finiteness checks
            CheckedEngine(exact, check_inputs=False, check_finite=False),
            fusion=options["fusion"],
            fusion_max_qubits=options["fusion_max_qubits"],
            fusion_threshold=options["fusion_threshold"],
            tiles=options["tiles"],
            tile_qubits=options["tile_qubits"],
        ),
        repeats,
    )

    def run() -> Any:
        return execute(program, exact, shots=1, seed=1, widen_final=True, **options)

    executed = timed(run, repeats)
    walls = [run().wall_time_s * 1e3 for _ in range(repeats)]
    one = run()
    result = timed(
        lambda: job_result(
            [experiment_result(qc, program, one, shots=1, memory=False, seed=1,
                               metadata=config.report())],
            backend_name="qsim_topo", backend_version="", job_id="j", time_taken=0.0,
        ),
        repeats,
    )
    sim = StatevectorSimulator()
    pairs = [(op.matrix, op.qubits) for op in program.ops]
    api_ops = timed(lambda: sim.run(pairs, n), repeats)
    api_program = timed(lambda: sim.run(program), repeats)
    rest = e2e[1] - convert[1] - executed[1] - result[1]

    def cell(t: tuple[float, float]) -> str:
        return f"{t[0]:.3f} / {t[1]:.3f}"

    return (
        f"| {family} | {n} | {cell(e2e)} | {cell(convert)} | {cell(executed)} | {cell(prepare)} | "
        f"{statistics.median(walls):.3f} | {cell(result)} | {rest:.3f} | "
        f"{cell(api_ops)} | {cell(api_program)} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[10, 12])
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=["brickwork"])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"# python {' '.join(sys.argv)}")
    print("| family | qubits | e2e | convert | execute | prepare | sim wall | result | rest (min) "
          "| api ops | api program |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for family in args.families:
        for n in args.qubits:
            print(row(family, n, args.depth, args.seed, args.repeats))
    print("(milliseconds, median / minimum; sim wall: median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
