"""Our Qiskit backend side by side with its peers, Qiskit Aer and qsim, on the same circuits.

Target, at >= 20 qubits: ours/Aer <= 0.5 at equal precision (complex128 and complex64), and
ours/qsim <= 1.0 in complex64; and a 5-qubit, 20-gate circuit with 1000 shots runs end to end
(`backend.run(qc, shots=1000).result()`) in <= 2 ms.

Circuit families (--families), each built once per size with --seed, then transpiled once,
outside timing, to the standard gates both Aer and ours accept plus `unitary`
(optimization_level=0): the same transpiled circuit goes to every simulator.

- brickwork: --depth layers of Haar-random 2-qubit `UnitaryGate`s, even layers on (0,1),(2,3),..,
  odd layers on (1,2),(3,4),..
- qv: `qiskit.circuit.library.quantum_volume(n, seed=seed)` at its default depth n (the
  function behind the deprecated `QuantumVolume` class): n * (n // 2) random SU(4) `unitary`s,
  which are kept as they are (`.decompose()` would turn each into 3 cx and 8 u gates).
- random: `qiskit.circuit.random.random_circuit(n, --depth, seed=seed)`, no measurements
  (its 3- and 4-qubit gates outside the common basis get decomposed).

Simulators, all in this process, one untimed warm-up each, then --repeats timed runs in
alternating order; the median is reported:

- ours: `QsimTopoBackend(precision=..., device="cpu")` plus --ours-option KEY=VALUE (given to
  `set_options`), `run(circ, shots=1).result()` end to end; the final state is the result's
  statevector (a measurement-free circuit returns it without a save instruction).
- Aer: `AerSimulator(method="statevector", precision=...)`, default fusion, the circuit plus
  `save_statevector()`, `run(circ, shots=1).result()` end to end.
- qsim (complex64 only): each instruction as a `cirq.MatrixGate` of its `Operator`, qubit i on
  `LineQubit(i)` with the matrix's qubit order reversed (Qiskit is little-endian, Cirq
  big-endian); `QSimSimulator(QSimOptions(max_fused_gate_size=4, cpu_threads=cores))`,
  `simulate()` timed. Its state is reordered to Qiskit's order before the check.

Two more columns, diagnostic only (no goal): `ours c64 sim s` is the median of the result's
`time_taken` for ours in complex64, the executor's own time (state allocation, the gates, the
final checks), which leaves out the circuit conversion, the fusion planning and building the
Qiskit result (its `Statevector` converts a complex64 state to a new complex128 array; Aer's
result does too, qsim's `simulate` returns complex64), and `sim/qsim c64` its ratio to qsim.

The warm-up states are checked: fidelity(ours c128, Aer c128) >= 1 - 1e-9, fidelity(ours c64,
Aer c64) >= 1 - 1e-4, fidelity(qsim, ours c64) >= 1 - 1e-4. A failed check is printed when it
happens and makes the exit status 1 (the table is still printed). A rejected --ours-option
exits 2 before any run.

    python benchmarks/vs_peers.py --qubits 10 12 --repeats 1 --latency-repeats 20
    python benchmarks/vs_peers.py --markdown               # 16..24 qubits, for RESULTS.md
    python benchmarks/vs_peers.py --qubits 20 --ours-option fusion_enable=False
    python benchmarks/vs_peers.py --only-latency

qsim columns need `pip install qsimcirq cirq-core` (without them they are skipped).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit.library import UnitaryGate, get_standard_gate_name_mapping, quantum_volume
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Operator
from qiskit.transpiler import Target
from qiskit_aer import AerSimulator

from qsim_topo.layers import haar_unitary
from qsim_topo.qiskit import QsimTopoBackend

try:
    import cirq
    import qsimcirq

    HAVE_QSIM = True
except ImportError:  # the qsim columns are skipped
    HAVE_QSIM = False

FAMILIES = ("brickwork", "qv", "random")
GOAL_AER = 0.5  # ours / Aer, equal precision, at >= GOAL_QUBITS
GOAL_QSIM = 1.0  # ours / qsim, complex64, at >= GOAL_QUBITS
GOAL_QUBITS = 20
GOAL_LATENCY_MS = 2.0
TOL = {"c128": 1e-9, "c64": 1e-4}
LATENCY_GATES = 20

Runner = Callable[[Any], Any]  # runs its circuit, returns what the StateOf reads
StateOf = Callable[[Any], np.ndarray]


# ---------------------------------------------------------------------- circuits
def brickwork(n: int, depth: int, seed: int) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n, name=f"brickwork_{n}_{depth}")
    for layer in range(depth):
        for q in range(layer % 2, n - 1, 2):
            qc.append(UnitaryGate(haar_unitary(4, seed=rng), check_input=False), [q, q + 1])
    return qc


def build(family: str, n: int, depth: int, seed: int) -> QuantumCircuit:
    if family == "brickwork":
        return brickwork(n, depth, seed)
    if family == "qv":
        return quantum_volume(n, seed=seed)  # already SU(4) `unitary`s: no decompose()
    return random_circuit(n, depth, seed=seed)


def common_target(aer: AerSimulator) -> Target:
    """The standard gates Aer's target has (ours has them all), plus unitary, on any qubits."""
    target = Target(num_qubits=None)
    for name, gate in get_standard_gate_name_mapping().items():
        if name in aer.target.operation_names and name not in ("delay", "reset"):
            target.add_instruction(gate, properties=None, name=name)
    target.add_instruction(UnitaryGate, name="unitary")
    return target


def latency_circuit(target: Target, seed: int) -> QuantumCircuit:
    """Exactly LATENCY_GATES gates on 5 qubits (random 1-2 qubit gates), then measure_all."""
    source = transpile(random_circuit(5, 12, max_operands=2, seed=seed), target=target,
                       optimization_level=0)
    qc = QuantumCircuit(5, name="latency")
    for inst in source.data[:LATENCY_GATES]:
        qc.append(inst)
    if qc.size() != LATENCY_GATES:
        raise RuntimeError(f"the latency circuit has {qc.size()} gates, not {LATENCY_GATES}")
    qc.measure_all()
    return qc


def to_cirq(qc: QuantumCircuit) -> tuple[Any, list[Any]]:
    """The cirq.Circuit of `qc` and its qubit order (LineQubit i is Qiskit's qubit i)."""
    qubits = cirq.LineQubit.range(qc.num_qubits)
    ops = []
    for inst in qc.data:
        targets = [qubits[qc.find_bit(q).index] for q in inst.qubits]
        ops.append(cirq.MatrixGate(Operator(inst.operation).data).on(*reversed(targets)))
    return cirq.Circuit(ops), qubits


def from_big_endian(state: np.ndarray, n: int) -> np.ndarray:
    """Cirq's state (qubit 0 most significant) in Qiskit's order (qubit 0 least significant)."""
    return np.ascontiguousarray(state.reshape([2] * n).transpose(range(n - 1, -1, -1))).ravel()


def fidelity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.complex128), b.astype(np.complex128)
    return float(abs(np.vdot(a, b)) ** 2 / (np.vdot(a, a).real * np.vdot(b, b).real))


# ---------------------------------------------------------------------- simulators
def ours_backend(precision: str, options: dict[str, Any]) -> QsimTopoBackend:
    """Raises (QsimTopoOptionError, UserWarning as an error, ...) when an option is rejected."""
    backend = QsimTopoBackend(precision=precision, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Option X is not used by this backend" is a rejection
        backend.set_options(**options)
    return backend


def simulators(ours: dict[str, QsimTopoBackend], aer: dict[str, AerSimulator]
               ) -> dict[str, tuple[Runner, StateOf]]:
    def backend_runner(backend: Any) -> Runner:
        return lambda qc: run_result(backend, qc, 1)

    def sv(result: Any) -> np.ndarray:
        return np.asarray(result.get_statevector().data)

    sims: dict[str, tuple[Runner, StateOf]] = {}
    for tag in ("c128", "c64"):
        sims[f"ours {tag}"] = (backend_runner(ours[tag]), sv)
        sims[f"aer {tag}"] = (backend_runner(aer[tag]), sv)
    if HAVE_QSIM:
        qsim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(
            max_fused_gate_size=4, cpu_threads=os.cpu_count() or 1))
        sims["qsim c64"] = (lambda cc: qsim.simulate(cc[0], qubit_order=cc[1]),
                            lambda r: np.asarray(r.final_state_vector))
    return sims


def timed(fn: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def run_result(backend: Any, qc: QuantumCircuit, shots: int) -> Any:
    return backend.run(qc, shots=shots).result()


# ---------------------------------------------------------------------- the table
def ratio_cell(num: float | None, den: float | None, goal: float, n: int) -> str:
    if num is None or den is None:
        return "skipped"
    r = num / den
    mark = "" if n < GOAL_QUBITS else (" met" if r <= goal else " MISSED")
    return f"{r:.2f}{mark}"


COLUMNS = ["family", "qubits", "gates", "ours c128 s", "Aer c128 s", "ours/Aer c128",
           "ours c64 s", "Aer c64 s", "ours/Aer c64", "qsim c64 s", "ours/qsim c64",
           "ours c64 sim s", "sim/qsim c64"]
WIDTHS = [9, 6, 6, 11, 10, 13, 10, 9, 12, 10, 13, 14, 12]


def print_header(md: bool) -> None:
    print(f"\ngoals at >= {GOAL_QUBITS} qubits: ours/Aer <= {GOAL_AER} (equal precision), "
          f"ours/qsim <= {GOAL_QSIM} (complex64); median seconds, end to end\n")
    if md:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|---|" + "---:|" * (len(COLUMNS) - 1))
    else:
        print(" ".join(f"{c:>{w}}" for c, w in zip(COLUMNS, WIDTHS, strict=True)))


def print_row(family: str, n: int, gates: int, t: dict[str, float | None], md: bool) -> None:
    def s(key: str) -> str:
        v = t.get(key)
        return "skipped" if v is None else f"{v:.3f}"

    cells = [family, str(n), str(gates),
             s("ours c128"), s("aer c128"),
             ratio_cell(t.get("ours c128"), t.get("aer c128"), GOAL_AER, n),
             s("ours c64"), s("aer c64"),
             ratio_cell(t.get("ours c64"), t.get("aer c64"), GOAL_AER, n),
             s("qsim c64"), ratio_cell(t.get("ours c64"), t.get("qsim c64"), GOAL_QSIM, n),
             s("ours c64 sim"), ratio_cell(t.get("ours c64 sim"), t.get("qsim c64"), GOAL_QSIM, 0)]
    if md:
        print("| " + " | ".join(cells) + " |", flush=True)
    else:
        print(" ".join(f"{c:>{w}}" for c, w in zip(cells, WIDTHS, strict=True)), flush=True)


# ---------------------------------------------------------------------- runs
def bench_cell(qc: QuantumCircuit, sims: dict[str, tuple[Runner, StateOf]], repeats: int
               ) -> tuple[dict[str, float | None], list[str]]:
    """Median seconds per simulator, and the failed correctness checks."""
    n = qc.num_qubits
    inputs: dict[str, Any] = {}
    for name in sims:
        if name.startswith("aer"):
            aer_qc = qc.copy()
            aer_qc.save_statevector()
            inputs[name] = aer_qc
        elif name.startswith("qsim"):
            inputs[name] = to_cirq(qc)
        else:
            inputs[name] = qc
    states: dict[str, np.ndarray] = {}
    for name, (run, state) in sims.items():  # warm-up; its states are checked
        states[name] = state(run(inputs[name]))
    if "qsim c64" in states:
        states["qsim c64"] = from_big_endian(states["qsim c64"], n)
    failures = []
    for a, b, tol in (("ours c128", "aer c128", TOL["c128"]), ("ours c64", "aer c64", TOL["c64"]),
                      ("qsim c64", "ours c64", TOL["c64"])):
        if a in states and b in states:
            f = fidelity(states[a], states[b])
            if not f >= 1 - tol:
                failures.append(f"{qc.name} n={n}: 1 - fidelity({a}, {b}) = {1 - f:.3e} > {tol:g}")
                print(f"!!! CHECK FAILED: {failures[-1]}", flush=True)
    del states
    times: dict[str, list[float]] = {name: [] for name in sims}
    sim_times: list[float] = []  # ours c64: the simulation alone (the result's time_taken)
    order = list(sims)
    for r in range(repeats):
        for name in order if r % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            result = sims[name][0](inputs[name])
            times[name].append(time.perf_counter() - start)
            if name == "ours c64":
                sim_times.append(float(result.results[0].time_taken))
    medians: dict[str, float | None] = {name: statistics.median(ts) for name, ts in times.items()}
    medians["ours c64 sim"] = statistics.median(sim_times) if sim_times else None
    return medians, failures


def bench_latency(ours: QsimTopoBackend, aer: AerSimulator, qc: QuantumCircuit, repeats: int,
                  md: bool) -> None:
    backends = {"ours c128": ours, "Aer c128": aer}
    times: dict[str, list[float]] = {name: [] for name in backends}
    for backend in backends.values():
        for _ in range(5):
            run_result(backend, qc, 1000)
    for r in range(repeats):
        names = list(backends) if r % 2 == 0 else list(backends)[::-1]
        for name in names:
            times[name].append(timed(run_result, backends[name], qc, 1000))
    ms = {name: 1e3 * statistics.median(ts) for name, ts in times.items()}
    verdict = "met" if ms["ours c128"] <= GOAL_LATENCY_MS else "MISSED"
    print(f"\nlatency: {qc.num_qubits} qubits, {LATENCY_GATES} gates + measure_all, 1000 shots, "
          f"run().result() end to end, median of {repeats}; goal ours <= {GOAL_LATENCY_MS} ms\n")
    if md:
        print("| simulator | ms | ours/Aer | goal |\n|---|---:|---:|---|")
        print(f"| ours c128 | {ms['ours c128']:.3f} | {ms['ours c128'] / ms['Aer c128']:.2f} "
              f"| {verdict} |")
        print(f"| Aer c128 | {ms['Aer c128']:.3f} | | |")
    else:
        print(f"ours c128 {ms['ours c128']:8.3f} ms  ({verdict})   Aer c128 "
              f"{ms['Aer c128']:8.3f} ms   ours/Aer {ms['ours c128'] / ms['Aer c128']:.2f}")


def parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(items: list[str]) -> dict[str, Any]:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--ours-option wants KEY=VALUE, got {item!r}")
        options[key.strip()] = parse_value(value)
    return options


def environment(argv: list[str]) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "missing"

    versions = ", ".join(f"{d} {version(d)}" for d in
                         ("qsim_topo", "numpy", "qiskit", "qiskit-aer", "qsimcirq", "cirq-core"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    command = shlex.join(["python", "benchmarks/vs_peers.py", *argv])
    return (f"# {stamp} {platform.node()}: {cpu}, {os.cpu_count()} cores (load average "
            f"{load:.1f}), python {platform.python_version()}\n# {versions}\n# {command}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[16, 18, 20, 22, 24])
    parser.add_argument("--depth", type=int, default=20, help="brickwork and random depth")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; median reported")
    parser.add_argument("--latency-repeats", type=int, default=200)
    parser.add_argument("--only-latency", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ours-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of our backend (repeatable), e.g. fusion_max_qubit=4")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv

    options = parse_options(args.ours_option)
    try:
        ours = {"c128": ours_backend("double", options), "c64": ours_backend("single", options)}
    except Exception as exc:  # any rejection of an option
        print(f"our backend rejected --ours-option {options}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 2
    aer = {tag: AerSimulator(method="statevector", precision=p)
           for tag, p in (("c128", "double"), ("c64", "single"))}
    target = common_target(aer["c128"])

    print(environment(argv))
    print(f"# ours options: {options or 'defaults'}; depth {args.depth}, seed {args.seed}, "
          f"median of {args.repeats} after 1 warm-up")
    if not HAVE_QSIM:
        print("# qsim columns skipped: pip install qsimcirq cirq-core")

    failures: list[str] = []
    if not args.only_latency:
        sims = simulators(ours, aer)
        print_header(args.markdown)
        for family in args.families:
            for n in args.qubits:
                qc = transpile(build(family, n, args.depth, args.seed), target=target,
                               optimization_level=0)
                qc.name = family
                medians, failed = bench_cell(qc, sims, args.repeats)
                failures += failed
                print_row(family, n, qc.size(), medians, args.markdown)
    bench_latency(ours["c128"], aer["c128"], latency_circuit(target, args.seed),
                  args.latency_repeats, args.markdown)
    if failures:
        print(f"\n!!! {len(failures)} CORRECTNESS CHECK(S) FAILED:", *failures, sep="\n!!! ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
