"""Shot sampling at scale: ours against Qiskit Aer and qsim, and against one pass over the state.

Target (issue 23): 10^6 shots of all qubits of a 26-qubit state in at most the time of one
pass over the state; measuring a subset of the qubits never builds a state-sized temporary
(tests/sim/test_measure.py checks that with tracemalloc).

The circuit: a layer of random `ry` on every qubit, a chain of `cz`, another `ry` layer (a
non-uniform distribution at little gate work), then `measure_all` (or `measure` of the even
qubits with --subset). Each simulator runs it with --shots shots and with 1 shot; the
difference of the medians is the sampling cost (state preparation cancels). "pass" is the
median time of one read-and-write sweep over a state of the same size and precision
(`state *= phase` in numpy, on one thread): what one gate costs at best. The row "ours:
sample_outcomes alone" times the core's sampling of the final state
(`qsim_topo.sim.measure.sample_outcomes`, the draws as an int64 array); the backend's rows add
the Qiskit result, whose counts dictionary (a hex key per distinct outcome, ~630,000 of them
for 10^6 shots of 20 qubits) costs far more than the draws.

- ours: `QsimTopoBackend(precision=..., device="cpu").run(qc, shots=S).result()`.
- Aer: `AerSimulator(method="statevector", precision=...)`, the same.
- qsim (complex64): `QSimSimulator.run(circuit, repetitions=S)` of the same gates with a
  final `cirq.measure`.

Times in milliseconds. Check: the total variation distance between the sampled marginal of the
8 lowest measured qubits and the exact one (from our statevector of the circuit without
measurements) is printed for ours and Aer, with its expected size for S shots (about
sqrt(2^8 / S) / 2 * sqrt(2 / pi)).

    python benchmarks/sampling.py --qubits 20 22 24 26 --shots 1000000
    python benchmarks/sampling.py --qubits 24 --subset
    python benchmarks/sampling.py --qubits 26 --simulators ours    # Aer takes minutes here
"""

from __future__ import annotations

import os

# As in vs_peers.py: before any simulator loads OpenMP, idle threads sleep in all of them.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator
from vs_peers import environment

from qsim_topo.qiskit import QsimTopoBackend
from qsim_topo.sim.measure import sample_outcomes

try:
    import cirq
    import qsimcirq

    HAVE_QSIM = True
except ImportError:
    HAVE_QSIM = False


def circuit(n: int, seed: int) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.ry(float(rng.uniform(0, np.pi)), q)
    for q in range(n - 1):
        qc.cz(q, q + 1)
    for q in range(n):
        qc.ry(float(rng.uniform(0, np.pi)), q)
    return qc


def measured(qc: QuantumCircuit, qubits: list[int]) -> QuantumCircuit:
    out = QuantumCircuit(qc.num_qubits, len(qubits))
    out.compose(qc, inplace=True)
    out.measure(qubits, range(len(qubits)))
    return out


def to_cirq(qc: QuantumCircuit, qubits: list[int]) -> Any:
    line = cirq.LineQubit.range(qc.num_qubits)
    ops = []
    for inst in qc.data:
        qs = [line[qc.find_bit(q).index] for q in inst.qubits]
        name = inst.operation.name
        if name == "ry":
            ops.append(cirq.ry(float(inst.operation.params[0])).on(*qs))
        elif name == "cz":
            ops.append(cirq.CZ.on(*qs))
    ops.append(cirq.measure(*[line[q] for q in qubits], key="m"))
    return cirq.Circuit(ops)


def median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pass_time(n: int, dtype: Any, repeats: int) -> float:
    state = np.full(2**n, 2 ** (-n / 2), dtype=dtype)
    phase = dtype(np.exp(0.1j))
    state *= phase

    def sweep() -> None:
        state.__imul__(phase)

    return median_time(sweep, repeats)


def tvd_low_bits(counts: dict[str, int], exact: np.ndarray, bits: int) -> float:
    """TVD between the sampled and exact distributions of the ``bits`` lowest clbits."""
    got = np.zeros(2**bits)
    for key, c in counts.items():
        got[int(key.replace(" ", ""), 2) & (2**bits - 1)] += c  # bitstrings, clbit 0 last
    got /= got.sum()
    return 0.5 * float(np.abs(got - exact).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[20, 22, 24, 26])
    parser.add_argument("--shots", type=int, default=10**6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--subset", action="store_true", help="measure the even qubits only")
    parser.add_argument("--precisions", nargs="+", default=["double", "single"],
                        choices=["double", "single"])
    parser.add_argument("--simulators", nargs="+", default=["ours", "Aer", "qsim"],
                        choices=["ours", "Aer", "qsim"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    print(environment(argv).replace("vs_peers.py", "sampling.py"))
    print(f"# shots {args.shots}, {'even qubits' if args.subset else 'all qubits'}, median of "
          f"{args.repeats}; sampling s = time(shots) - time(1 shot)\n")
    print("| qubits | precision | simulator | shots ms | 1 shot ms | sampling ms | pass ms | "
          "sampling / pass | TVD (8 low bits) | expected TVD |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.qubits:
        qc = circuit(n, args.seed)
        qubits = list(range(0, n, 2)) if args.subset else list(range(n))
        mqc = measured(qc, qubits)
        for precision in args.precisions:
            dtype = np.complex128 if precision == "double" else np.complex64
            ours = QsimTopoBackend(precision=precision, device="cpu")
            state = np.asarray(ours.run(qc, shots=1).result().get_statevector().data)
            probs = np.abs(state.reshape([2] * n).transpose(range(n - 1, -1, -1))) ** 2
            state = state.astype(dtype)
            rng = np.random.default_rng(0)
            sample_outcomes(state, qubits, n, 10, rng)  # compile
            t_core = median_time(
                lambda st=state, qs=qubits, m=n, g=rng: sample_outcomes(st, qs, m, args.shots, g),
                args.repeats,
            )
            del state
            # the exact distribution of the 8 lowest measured qubits
            keep = qubits[:8]
            drop = tuple(q for q in range(n) if q not in keep)
            exact = probs.sum(axis=drop).transpose(range(len(keep) - 1, -1, -1)).ravel()
            del probs
            expected = 0.5 * np.sqrt(2 ** len(keep) / args.shots) * np.sqrt(2 / np.pi)
            aer = AerSimulator(method="statevector", precision=precision)
            sims: dict[str, Any] = {
                "ours": lambda s, b=ours, c=mqc: b.run(c, shots=s, seed_simulator=1).result(),
                "Aer": lambda s, b=aer, c=mqc: b.run(c, shots=s, seed_simulator=1).result(),
            }
            if HAVE_QSIM and precision == "single":
                cc = to_cirq(qc, qubits)
                qsim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=2))
                sims["qsim"] = lambda s, c=cc, sim=qsim: sim.run(c, repetitions=s)
            t_pass = pass_time(n, dtype, max(args.repeats, 3))
            print(f"| {n} | {precision} | ours: sample_outcomes alone | | | "
                  f"{1e3 * t_core:.1f} | {1e3 * t_pass:.2f} | {t_core / t_pass:.1f} | | |",
                  flush=True)
            for name, run in sims.items():
                if name not in args.simulators:
                    continue
                counts = run(args.shots)
                tvd = (f"{tvd_low_bits(counts.get_counts(), exact, len(keep)):.4f}"
                       if name != "qsim" else "-")
                del counts
                t_many = median_time(lambda r=run: r(args.shots), args.repeats)
                t_one = median_time(lambda r=run: r(1), args.repeats)
                cost = t_many - t_one
                print(f"| {n} | {precision} | {name} | {1e3 * t_many:.1f} | {1e3 * t_one:.1f} "
                      f"| {1e3 * cost:.1f} | {1e3 * t_pass:.2f} | {cost / t_pass:.1f} | {tvd} "
                      f"| {expected:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
