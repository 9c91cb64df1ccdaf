"""One command for every GPU check and figure, in at most 8 minutes on an H100 or H200.

Runs, each as a subprocess with its own time budget (a section that overruns is stopped and
reported, and the next one starts), writing everything to one log:

1. tests: the gpu-marked tests (`pytest -m gpu`), first, so a broken install shows at once;
2. doctor: `qsim-topo doctor` (every GPU path, a tiny run each, against numpy);
3. bandwidth: benchmarks/gpu_bandwidth.py at 26, 28, 30 qubits, complex64 and complex128:
   per-pass effective bandwidth of our kernels (cuStateVec switched off) against the measured
   device copy bandwidth, and depth-20 brickwork fused at m = 2, 4, 5 (the 30-qubit rows are
   the depth-20 brickwork figure);
4. dense: benchmarks/dense_gpu.py at N = 4096, 8192, 16384 (the exact engine against a direct
   cuBLAS gemm, with errors against complex128 numpy on sampled columns);
5. engines: benchmarks/engines.py --device gpu: every engine against complex128 cuBLAS (the
   exact engine) with its relative Frobenius error; precision engines at N = 4096-16384, the
   other families at 4096;
6. largest: benchmarks/gpu_figures.py largest (largest state and unitary, complex64);
7. custatevec: benchmarks/gpu_figures.py custatevec (cuStateVec against our kernels at 26, 28,
   30 qubits; our kernels alone when cuStateVec is absent).

Needs cupy, numpy and pytest (numba-cuda, cuquantum and the project's other dependencies may be
carried as wheels; nothing is downloaded). The log starts with the machine and the execution
path; the last thing printed is a table of sections: status, seconds used of the budget, and
each section's own summary line. Exit status: 0 when every section passed, 1 otherwise, 2 when
there is no GPU (one line, nothing run). --dry-run prints the plan and runs nothing.

    PYTHONPATH=. python3 benchmarks/gpu_suite.py
    PYTHONPATH=. python3 benchmarks/gpu_suite.py --log gpu_suite.log --only bandwidth dense
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOTAL_BUDGET_S = 480.0  # 8 minutes, the bound
PRECISION_ENGINES = ["fp32", "tf32", "3xtf32", "bf16", "bf16x3", "bf16x9", "fp16"]
OTHER_ENGINES = ["cr-sampling", "countsketch", "sketch-gaussian", "sketch-srht", "lowrank",
                 "topology", "pq"]


@dataclass
class Section:
    """One step of the suite: a command, its time budget and how to find its summary line."""

    name: str
    argv: list[str]
    budget_s: float
    summary: str  # regex; the last line of the output that matches is the table's summary
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """How a section ended: ``status`` is ok, FAILED (exit code), TIMEOUT or SKIPPED."""

    name: str
    status: str
    seconds: float
    budget_s: float
    summary: str


def sections(python: str = sys.executable) -> list[Section]:
    """The suite's plan; budgets add up to less than :data:`TOTAL_BUDGET_S`."""
    b = str(ROOT / "benchmarks")
    return [
        # --continue-on-collection-errors: a test module that imports a package the device
        # lacks (scipy, qiskit) is reported in the log, and the other gpu tests still run.
        Section("tests", [python, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                          "--continue-on-collection-errors", str(ROOT / "tests")], 80,
                r"\d+ (passed|failed)"),
        Section("doctor", [python, "-m", "qsim_topo", "doctor"], 25,
                r"^\s+(ok|FAIL|n/a) "),
        Section("bandwidth", [python, f"{b}/gpu_bandwidth.py", "--qubits", "26", "28", "30",
                              "--repeats", "5", "--warmup", "1", "--batch", "5",
                              "--depth", "20", "--fuse", "2", "4", "5", "--markdown"],
                150, r"rows met the goal",
                # our kernels, not cuStateVec: the custatevec section compares the two
                env={"QSIM_TOPO_CUSTATEVEC_MIN_QUBITS": "off"}),
        Section("dense", [python, f"{b}/dense_gpu.py", "--sizes", "4096", "8192", "16384",
                          "--repeats", "5", "--markdown"], 45, r"rows met the goal"),
        Section("engines", [python, f"{b}/engines.py", "--device", "gpu", "--inputs",
                            "gaussian", "--repeats", "3", "--sizes", "4096", "8192", "16384",
                            "--engines", *PRECISION_ENGINES], 60, r"^\S+\s+[\d.]+\s+[\d.]+"),
        Section("engines-other", [python, f"{b}/engines.py", "--device", "gpu", "--inputs",
                                  "gaussian", "--repeats", "3", "--sizes", "4096",
                                  "--engines", *OTHER_ENGINES], 35, r"^\S+\s+[\d.]+\s+[\d.]+"),
        Section("largest", [python, f"{b}/gpu_figures.py", "largest", "--device", "gpu"], 40,
                r"^largest unitary|^summary"),
        Section("custatevec", [python, f"{b}/gpu_figures.py", "custatevec", "--device", "gpu",
                               "--qubits", "26", "28", "30"], 35, r"^summary"),
    ]


def run_section(section: Section, seconds_left: float, log: object) -> Outcome:
    """Run one section under min(its budget, what the suite has left); log all its output."""
    budget = min(section.budget_s, seconds_left)
    write = log.write  # type: ignore[attr-defined]
    write(f"\n===== {section.name}: budget {budget:.0f} s: {' '.join(section.argv)}\n")
    log.flush()  # type: ignore[attr-defined]
    if budget < 5:
        return Outcome(section.name, "SKIPPED", 0.0, budget, "no time left in the suite")
    env = {**os.environ, "PYTHONPATH": str(ROOT), **section.env}
    start = time.perf_counter()
    try:
        proc = subprocess.run(section.argv, capture_output=True, text=True, timeout=budget,
                              env=env, cwd=ROOT)
        out, status = proc.stdout + proc.stderr, ("ok" if proc.returncode == 0
                                                 else f"FAILED ({proc.returncode})")
    except subprocess.TimeoutExpired as exc:
        def text(b: bytes | str | None) -> str:
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")

        out, status = text(exc.stdout) + text(exc.stderr), "TIMEOUT"
    seconds = time.perf_counter() - start
    write(out)
    write(f"===== {section.name}: {status} after {seconds:.1f} s\n")
    log.flush()  # type: ignore[attr-defined]
    matches = [ln.strip() for ln in out.splitlines() if re.search(section.summary, ln)]
    summary = matches[-1] if matches else (out.strip().splitlines() or [""])[-1]
    return Outcome(section.name, status, seconds, budget, summary[:110])


def run_suite(plan: Sequence[Section], log_path: Path, total_s: float = TOTAL_BUDGET_S
              ) -> list[Outcome]:
    """Run ``plan`` in order within ``total_s`` seconds, logging to ``log_path``."""
    deadline = time.perf_counter() + total_s
    outcomes = []
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(f"# gpu_suite.py {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {len(plan)} "
                  f"sections, {total_s:.0f} s in all\n")
        for section in plan:
            outcomes.append(run_section(section, deadline - time.perf_counter(), log))
            print(f"# {section.name}: {outcomes[-1].status} ({outcomes[-1].seconds:.0f} s)",
                  flush=True)
    return outcomes


def table(outcomes: Sequence[Outcome]) -> str:
    """The closing table: one row per section."""
    rows = [f"{'section':<14} {'status':<11} {'s/budget':>9}  summary"]
    for o in outcomes:
        rows.append(f"{o.name:<14} {o.status:<11} {o.seconds:>4.0f}/{o.budget_s:<4.0f}  "
                    f"{o.summary}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=ROOT / "gpu_suite.log")
    parser.add_argument("--only", nargs="+", default=None, help="run these sections only")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    args = parser.parse_args(argv)
    plan = sections()
    names = [s.name for s in plan]
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown section(s) {unknown}; choose from {names}")
        plan = [s for s in plan if s.name in args.only]
    total = sum(s.budget_s for s in plan)
    if args.dry_run:
        for s in plan:
            print(f"{s.name:<14} {s.budget_s:>4.0f} s  {' '.join(s.argv)}")
        print(f"total budget {total:.0f} s of {TOTAL_BUDGET_S:.0f} s")
        return 0
    sys.path.insert(0, str(ROOT))
    from qsim_topo.xp import gpu_available

    if not gpu_available():
        print("gpu_suite.py needs cupy and a CUDA GPU (cupy is missing or sees no device)",
              file=sys.stderr)
        return 2
    outcomes = run_suite(plan, args.log, min(total, TOTAL_BUDGET_S))
    print(f"\nlog: {args.log}\n")
    print(table(outcomes))
    return 0 if all(o.status == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
