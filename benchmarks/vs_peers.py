"""Our Qiskit backend side by side with the fast CPU simulators: Qiskit Aer, qsim, qulacs and
PennyLane Lightning, on the same gates, in one process.

Goals (issue 23), ratios = our time / the peer's, measured in one run, at every size 10..26:
complex128 ours/Aer <= 0.5, ours/qulacs <= 0.8, ours/Lightning <= 0.6; complex64 ours/Aer
<= 0.5, ours/Lightning <= 0.6 (the complex128 goals, applied to complex64), ours/qsim <= 0.6 at
>= 20 qubits and <= 1.0 below; and brickwork's gate work at >= 50% of the machine's peak at
20..26 qubits. The latency goal of issue 5 stays: a 5-qubit, 20-gate circuit with 1000 shots
(`backend.run(qc, shots=1000).result()`) in <= 2 ms.

Circuit families (--families), each built once per size with --seed, then transpiled once,
outside timing, to the standard gates both Aer and ours accept plus `unitary`
(optimization_level=0): the same transpiled circuit goes to every simulator (the non-Qiskit
peers get each instruction's `Operator` matrix, benchmarks/peers.py).

- brickwork: --depth layers of Haar-random 2-qubit `UnitaryGate`s, even layers on (0,1),(2,3),..,
  odd layers on (1,2),(3,4),..
- qv: `qiskit.circuit.library.quantum_volume(n, seed=seed)` at its default depth n: n * (n // 2)
  random SU(4) `unitary`s, kept as they are.
- random: `qiskit.circuit.random.random_circuit(n, --depth, seed=seed)`, no measurements
  (its 3- and 4-qubit gates outside the common basis get decomposed).
- qft: `QFTGate(n)` (h, cp and the final swaps after transpiling).

Simulators, all in this process, one untimed warm-up each, then --repeats timed runs in
alternating order; the median is reported:

- ours: `QsimTopoBackend(precision=..., device="cpu")` plus --ours-option KEY=VALUE (given to
  `set_options`), `run(circ, shots=1).result()` end to end; the final state is the result's
  statevector (a measurement-free circuit returns it without a save instruction).
- core: ours through its Qiskit-free Python API, `StatevectorSimulator(dtype=...)` with its
  defaults (unitarity checked, fusion, tiles), `run(program)` timed, on the circuit's
  `qsim_topo.circuit.Program` (`circuit_to_program`) built outside timing, as the peers'
  circuit objects are; the final state is the result's `data`.
- Aer: `AerSimulator(method="statevector", precision=...)`, default fusion, the circuit plus
  `save_statevector()`, `run(circ, shots=1).result()` end to end.
- qsim (complex64), qulacs (complex128), Lightning (both): see benchmarks/peers.py; their
  circuit objects are built outside timing, as Qiskit's are.

Which of ours each peer is compared with: Aer with `ours` (both are Qiskit backends, timed from
the same QuantumCircuit, conversion included); qsim, qulacs and Lightning with `core` (each
timed from its own prepared circuit object: a cirq.Circuit, a qulacs.QuantumCircuit, a list of
Lightning matrices, our Program). Both of ours are printed, and each ratio column says which
(`ours/...` or `core/...`). One asymmetry remains: qsimcirq's timed `simulate()` includes
its own translation of the cirq.Circuit, while our Program is built outside timing (so are the
qulacs circuit and the Lightning matrices); `core` does time its unitarity check. Rows recorded
before the `core` column (benchmarks/RESULTS.md, before 2026-12-06) divide by `ours` throughout.

Diagnostic columns: `ours ... sim s`, the median of the result's `time_taken` (the executor
alone: state allocation, the gates, the final checks; not the conversion, the fusion
planning or the Qiskit result), and `% peak`, the arithmetic limit: the complex multiply-adds
of the gate work of our fused program (a dense block of k qubits on a 2^n state: 2^n * 2^k;
a diagonal or monomial one: 2^n; less the tiles that the tile kernel skips because qubits
no gate has touched yet keep them zero) divided by `sim s`, as a percentage of this
machine's peak for the precision, measured at the start of the same run
(benchmarks/fma_peak.py: the larger of an L1-resident complex multiply-add loop and a 1024^2
numpy matmul, on all threads).

The warm-up states are checked against ours in the same precision: fidelity >= 1 - 1e-9
(complex128), >= 1 - 1e-4 (complex64). A failed check is printed when it happens and makes the
exit status 1 (the table is still printed). A rejected --ours-option exits 2 before any run.

    python benchmarks/vs_peers.py --qubits 10 12 --repeats 1 --latency-repeats 20
    python benchmarks/vs_peers.py --markdown               # 12..24 qubits, for RESULTS.md
    python benchmarks/vs_peers.py --qubits 20 --peers qulacs lightning --families qft
    python benchmarks/vs_peers.py --only-latency
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/vs_peers.py   # one thread each

With OMP_NUM_THREADS and NUMBA_NUM_THREADS set to 1, every simulator runs on one thread (Aer,
qulacs and Lightning through OpenMP, qsim through its cpu_threads, ours through numba): the
comparison of the kernels per core, which another process's load on the machine disturbs
least (a parallel region per gate waits for a second thread that a loaded machine schedules
late).

Peers that cannot be imported are skipped (`pip install qsimcirq qulacs pennylane-lightning`).
"""

from __future__ import annotations

import os

# Before any simulator loads its OpenMP runtime: idle OpenMP threads sleep instead of spinning,
# in every simulator of the process alike (ours sets this default itself, see
# qsim_topo.sim.numba_kernels.numba_available). On a machine whose cores are busy with other
# work, the spinning default cost qulacs 2 s and qsim 0.2 s on a 14-qubit brickwork (ours
# 0.23 s before it set the policy) instead of milliseconds. Set OMP_WAIT_POLICY to override.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import argparse
import datetime
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
from fma_peak import peak_cmac_per_s
from peers import Gates, missing, peers
from qiskit import QuantumCircuit, transpile
from qiskit.circuit.library import (
    QFTGate,
    UnitaryGate,
    get_standard_gate_name_mapping,
    quantum_volume,
)
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Operator
from qiskit.transpiler import Target
from qiskit_aer import AerSimulator

from qsim_topo.circuit import GateOp, Program, TileOp
from qsim_topo.layers import haar_unitary
from qsim_topo.qiskit import QsimTopoBackend
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.sim import StatevectorSimulator
from qsim_topo.sim.kernels import DEFAULT_KERNELS
from qsim_topo.sim.passes import prepare_program

FAMILIES = ("brickwork", "qv", "random", "qft")
PEERS = ("aer", "qsim", "qulacs", "lightning")
# ours / peer, by peer column; qsim's depends on the size (GOAL_QSIM_WIDE at >= 20 qubits).
GOALS = {"aer c128": 0.5, "qulacs c128": 0.8, "lightning c128": 0.6, "aer c64": 0.5,
         "lightning c64": 0.6, "qsim c64": 1.0}
GOAL_QSIM_WIDE = 0.6
GOAL_PEAK_PERCENT = 50.0  # brickwork at >= 20 qubits
GOAL_LATENCY_MS = 2.0
TOL = {"c128": 1e-9, "c64": 1e-4}
LATENCY_GATES = 20

Runner = Callable[[Any], Any]  # runs its input, returns what the StateOf reads
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
    if family == "qft":
        qc = QuantumCircuit(n)
        qc.append(QFTGate(n), range(n))
        return qc
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


def gate_list(qc: QuantumCircuit) -> Gates:
    """Each instruction's matrix (Qiskit's order) and qubit indices."""
    return [(Operator(inst.operation).data, [qc.find_bit(q).index for q in inst.qubits])
            for inst in qc.data]


def fidelity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.complex128), b.astype(np.complex128)
    return float(abs(np.vdot(a, b)) ** 2 / (np.vdot(a, a).real * np.vdot(b, b).real))


# ---------------------------------------------------------------------- gate work
def _op_work(matrix: Any, k: int, dim: int) -> int:
    m = np.asarray(matrix)
    per_row = np.count_nonzero(m, axis=1)
    if (per_row <= 1).all() and (np.count_nonzero(m, axis=0) <= 1).all():
        return dim  # diagonal or monomial: one complex multiply per amplitude
    return dim << k


def gate_work(qc: QuantumCircuit, backend: QsimTopoBackend) -> int:
    """Complex multiply-adds of our fused program of ``qc`` (module docstring)."""
    config = backend.run_config()
    program = circuit_to_program(qc, config.method)
    fused, _ = prepare_program(
        program, config.engine, fusion=config.fusion_enable,
        fusion_max_qubits=config.fusion_max_qubit, fusion_threshold=config.fusion_threshold,
        tiles=config.blocking_enable and DEFAULT_KERNELS.tiles_available("cpu"),
        tile_qubits=config.blocking_qubits)
    return _program_work(fused)


def _program_work(program: Program) -> int:
    """Work of ``program`` run from |0...0>, less the tiles the tile kernel skips.

    The executor passes the qubits no gate has touched yet as the tile kernel's zero mask; a
    tile pass then processes only the 2^-z of its tiles whose index bits outside the tile are
    0 on the z untouched qubits outside it (the rest stay zero, unread).
    """
    dim = 2**program.n_qubits
    zero = set(range(program.n_qubits))
    total = 0.0
    for op in program.ops:
        if isinstance(op, GateOp):
            total += _op_work(op.matrix, len(op.qubits), dim)
            zero -= set(op.qubits)
        elif isinstance(op, TileOp):
            done = 2.0 ** -len(zero - set(op.qubits))
            total += done * sum(_op_work(g.matrix, len(g.qubits), dim) for g in op.gates)
            zero -= set(op.qubits)
    return round(total)


def machine_peak() -> dict[str, tuple[float, str]]:
    """Complex MACs/s per precision tag, and which benchmark gave it (fma_peak.py)."""
    out = {}
    for tag, real, cplx in (("c128", np.float64, np.complex128), ("c64", np.float32,
                                                                  np.complex64)):
        loop = peak_cmac_per_s(real)
        rng = np.random.default_rng(0)
        a = (rng.random((1024, 1024)) + 1j * rng.random((1024, 1024))).astype(cplx)
        a @ a
        best = min(timed(np.matmul, a, a) for _ in range(3))
        gemm = 1024**3 / best
        out[tag] = (loop, "L1 loop") if loop >= gemm else (gemm, "matmul")
        print(f"# peak {tag}: L1 cmac loop {loop / 1e9:.2f} G/s, matmul {gemm / 1e9:.2f} G/s "
              "(complex multiply-adds per second)")
    return out


# ---------------------------------------------------------------------- simulators
def ours_backend(precision: str, options: dict[str, Any]) -> QsimTopoBackend:
    """Raises (QsimTopoOptionError, UserWarning as an error, ...) when an option is rejected."""
    backend = QsimTopoBackend(precision=precision, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Option X is not used by this backend" is a rejection
        backend.set_options(**options)
    return backend


class Sim:
    """One column: how to make its input from the circuit, run it, read its final state."""

    def __init__(self, prepare: Callable[[QuantumCircuit, Gates], Any], run: Runner,
                 state: StateOf) -> None:
        self.prepare, self.run, self.state = prepare, run, state


def core_runner(tag: str) -> Runner:
    sim = StatevectorSimulator(dtype=np.complex128 if tag == "c128" else np.complex64)
    return lambda program: sim.run(program)


def simulators(ours: dict[str, QsimTopoBackend], aer: dict[str, AerSimulator],
               wanted: set[str]) -> dict[str, Sim]:
    def backend_runner(backend: Any) -> Runner:
        return lambda qc: run_result(backend, qc, 1)

    def sv(result: Any) -> np.ndarray:
        return np.asarray(result.get_statevector().data)

    def with_save(qc: QuantumCircuit, gates: Gates) -> QuantumCircuit:
        out = qc.copy()
        out.save_statevector()
        return out

    sims: dict[str, Sim] = {}
    for tag in ("c128", "c64"):
        sims[f"ours {tag}"] = Sim(lambda qc, g: qc, backend_runner(ours[tag]), sv)
        sims[f"core {tag}"] = Sim(lambda qc, g: circuit_to_program(qc, "statevector"),
                                  core_runner(tag), lambda result: np.asarray(result.data))
        if "aer" in wanted:
            sims[f"aer {tag}"] = Sim(with_save, backend_runner(aer[tag]), sv)
    for name, (prepare, run) in peers(wanted).items():
        sims[name] = Sim(lambda qc, g, prep=prepare: prep(qc.num_qubits, g), run,
                         lambda state: state)
    return sims


def timed(fn: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def run_result(backend: Any, qc: QuantumCircuit, shots: int) -> Any:
    return backend.run(qc, shots=shots).result()


# ---------------------------------------------------------------------- the table
def goal(column: str, n: int) -> float:
    return GOAL_QSIM_WIDE if column == "qsim c64" and n >= 20 else GOALS[column]


def numerator(column: str) -> str:
    """Which of ours a peer column is compared with (module docstring): ours or core."""
    return f"{'ours' if column.startswith('aer') else 'core'} {column.split()[1]}"


def ratio_cell(num: float | None, den: float | None, limit: float) -> str:
    if num is None or den is None:
        return "skipped"
    r = num / den
    return f"{r:.2f}{' met' if r <= limit else ' MISSED'}"


def columns(sims: dict[str, Sim]) -> list[str]:
    peer_cols = [c for c in GOALS if c in sims]
    return (["family", "qubits", "gates", "ours c128 s", "ours c64 s", "core c128 s",
             "core c64 s"]
            + [f"{c} s" for c in peer_cols]
            + [f"{numerator(c).split()[0]}/{c}" for c in peer_cols]
            + ["ours c128 sim s", "ours c64 sim s", "% peak c128", "% peak c64"])


def print_header(sims: dict[str, Sim], md: bool) -> None:
    print("\ngoals at every size: " + ", ".join(
        f"{numerator(c).split()[0]}/{c} <= {GOALS[c]}" + (f" ({GOAL_QSIM_WIDE} at >= 20 qubits)"
                                      if c == "qsim c64" else "")
        for c in GOALS if c in sims)
          + f"; brickwork >= {GOAL_PEAK_PERCENT:.0f}% of peak at >= 20 qubits; median seconds, "
          "end to end\n")
    cols = columns(sims)
    if md:
        print("| " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * (len(cols) - 1))
    else:
        print(" ".join(f"{c:>13}" for c in cols))


def print_row(family: str, n: int, gates: int, t: dict[str, float | None], sims: dict[str, Sim],
              peak_pct: dict[str, float | None], md: bool) -> None:
    def s(key: str) -> str:
        v = t.get(key)
        return "skipped" if v is None else f"{v:.4f}"

    def pct(tag: str) -> str:
        v = peak_pct.get(tag)
        if v is None:
            return "skipped"
        mark = ""
        if family == "brickwork" and n >= 20:
            mark = " met" if v >= GOAL_PEAK_PERCENT else " MISSED"
        return f"{v:.0f}%{mark}"

    peer_cols = [c for c in GOALS if c in sims]
    cells = [family, str(n), str(gates), s("ours c128"), s("ours c64"), s("core c128"),
             s("core c64")]
    cells += [s(c) for c in peer_cols]
    cells += [ratio_cell(t.get(numerator(c)), t.get(c), goal(c, n)) for c in peer_cols]
    cells += [s("ours c128 sim"), s("ours c64 sim"), pct("c128"), pct("c64")]
    if md:
        print("| " + " | ".join(cells) + " |", flush=True)
    else:
        print(" ".join(f"{c:>13}" for c in cells), flush=True)


# ---------------------------------------------------------------------- runs
def bench_cell(qc: QuantumCircuit, sims: dict[str, Sim], repeats: int
               ) -> tuple[dict[str, float | None], list[str]]:
    """Median seconds per simulator (and ours' `sim` times), and the failed checks."""
    n = qc.num_qubits
    gates = gate_list(qc) if any(not k.startswith(("ours", "core", "aer")) for k in sims) else []
    inputs = {name: sim.prepare(qc, gates) for name, sim in sims.items()}
    del gates
    failures = []
    states: dict[str, np.ndarray] = {}
    for name, sim in sims.items():  # warm-up; its states are checked against ours
        tag = name.split()[1]
        state = sim.state(sim.run(inputs[name]))
        if name.startswith("ours"):
            states[tag] = state
            continue
        # core (after ours in `sims`) and the peers are checked against ours
        f = fidelity(state, states[tag])
        del state
        if not f >= 1 - TOL[tag]:
            failures.append(f"{qc.name} n={n}: 1 - fidelity({name}, ours {tag}) = {1 - f:.3e} "
                            f"> {TOL[tag]:g}")
            print(f"!!! CHECK FAILED: {failures[-1]}", flush=True)
    del states
    times: dict[str, list[float]] = {name: [] for name in sims}
    sim_times: dict[str, list[float]] = {"ours c128": [], "ours c64": []}
    order = list(sims)
    for r in range(repeats):
        for name in order if r % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            result = sims[name].run(inputs[name])
            times[name].append(time.perf_counter() - start)
            if name in sim_times:
                sim_times[name].append(float(result.results[0].time_taken))
            del result
    medians: dict[str, float | None] = {name: statistics.median(ts) for name, ts in times.items()}
    for name, ts in sim_times.items():
        medians[f"{name} sim"] = statistics.median(ts) if ts else None
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
                         ("qsim_topo", "numpy", "numba", "qiskit", "qiskit-aer", "qsimcirq",
                          "qulacs", "pennylane-lightning"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    command = shlex.join(["python", "benchmarks/vs_peers.py", *argv])
    return (f"# {stamp} {platform.node()}: {cpu}, {os.cpu_count()} cores (load average "
            f"{load:.1f}), python {platform.python_version()}, OMP_WAIT_POLICY="
            f"{os.environ.get('OMP_WAIT_POLICY')}\n# {versions}\n# {command}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[12, 16, 20, 24])
    parser.add_argument("--depth", type=int, default=20, help="brickwork and random depth")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
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
    wanted = set(args.peers)
    if missing(wanted):
        print(f"# skipped (not importable): {', '.join(missing(wanted))}")

    failures: list[str] = []
    if not args.only_latency:
        peak = machine_peak()
        # OpenBLAS's threads spin for a while after the peak's matmuls; the first cell would
        # otherwise be timed beside them (its times were 1.3-2x those of a later rerun).
        time.sleep(2.0)
        sims = simulators(ours, aer, wanted)
        print_header(sims, args.markdown)
        for family in args.families:
            for n in args.qubits:
                qc = transpile(build(family, n, args.depth, args.seed), target=target,
                               optimization_level=0)
                qc.name = family
                medians, failed = bench_cell(qc, sims, args.repeats)
                failures += failed
                pct: dict[str, float | None] = {}
                for tag in ("c128", "c64"):
                    sim_s = medians.get(f"ours {tag} sim")
                    work = gate_work(qc, ours[tag])
                    pct[tag] = None if not sim_s else 100 * work / sim_s / peak[tag][0]
                print_row(family, n, qc.size(), medians, sims, pct, args.markdown)
    bench_latency(ours["c128"], aer["c128"], latency_circuit(target, args.seed),
                  args.latency_repeats, args.markdown)
    if failures:
        print(f"\n!!! {len(failures)} CORRECTNESS CHECK(S) FAILED:", *failures, sep="\n!!! ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
