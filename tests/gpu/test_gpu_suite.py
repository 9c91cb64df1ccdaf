"""benchmarks/gpu_suite.py and gpu_figures.py without a GPU: the plan, the orchestration
(budgets, timeouts, log, closing table), every section's command line, and the new figures'
code at tiny sizes on the CPU (the kernels under the CUDA simulator)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qsim_topo import xp as xpmod

ROOT = Path(__file__).resolve().parents[2]


def load(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


suite = load("gpu_suite")


def run(argv, env=None, timeout=300):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_plan_runs_the_gpu_tests_first_and_fits_in_eight_minutes(capsys):
    plan = suite.sections()
    assert plan[0].name == "tests" and "-m" in plan[0].argv and "gpu" in plan[0].argv
    assert sum(s.budget_s for s in plan) <= suite.TOTAL_BUDGET_S == 480
    names = [s.name for s in plan]
    assert {"bandwidth", "dense", "engines", "largest", "custatevec"} <= set(names)
    assert suite.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in names) and "total budget" in out


@pytest.mark.skipif(xpmod.gpu_available(), reason="a GPU is present")
def test_every_section_command_is_accepted_by_its_script():
    # Without a GPU each script must get past its argument parser and stop at the GPU check:
    # a misspelt option would print argparse's usage instead.
    for section in suite.sections():
        if section.name in ("tests", "doctor"):
            continue
        proc = run(section.argv, timeout=120)
        assert proc.returncode != 0, section.name
        assert "usage:" not in proc.stderr, (section.name, proc.stderr[-2000:])
        assert "gpu" in (proc.stdout + proc.stderr).lower(), section.name
    assert run([sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py")]).returncode == 2


def test_orchestration_budgets_timeouts_log_and_table(tmp_path):
    py = sys.executable
    plan = [
        suite.Section("fine", [py, "-c", "print('x'); print('7 passed in 1s')"], 30,
                      r"\d+ passed"),
        suite.Section("broken", [py, "-c", "import sys; print('boom'); sys.exit(3)"], 30, "^$"),
        suite.Section("slow", [py, "-c", "import time; print('started', flush=True); "
                                         "time.sleep(60)"], 6, "started"),
        suite.Section("late", [py, "-c", "print('never')"], 30, "never"),
    ]
    log = tmp_path / "suite.log"
    outcomes = suite.run_suite(plan, log, total_s=11)
    status = {o.name: o.status for o in outcomes}
    assert status == {"fine": "ok", "broken": "FAILED (3)", "slow": "TIMEOUT", "late": "SKIPPED"}
    slow = outcomes[2]
    assert 5 <= slow.seconds < 30 and slow.summary == "started"
    assert outcomes[0].summary == "7 passed in 1s" and outcomes[1].summary == "boom"
    text = log.read_text()
    assert "===== fine: ok" in text and "boom" in text and "===== slow: TIMEOUT" in text
    table = suite.table(outcomes).splitlines()
    assert table[0].split()[:2] == ["section", "status"] and len(table) == 5
    assert "TIMEOUT" in table[3] and "SKIPPED" in table[4]


def test_largest_runs_on_the_cpu_at_a_tiny_size():
    proc = run([sys.executable, "benchmarks/gpu_figures.py", "largest", "--device", "cpu",
                "--max-qubits", "9"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "largest state: 9 qubits" in proc.stdout and "largest unitary: 4 qubits" in proc.stdout
    assert "summary: largest: 0 failure(s)" in proc.stdout


def test_custatevec_section_runs_our_kernels_under_the_cuda_simulator():
    pytest.importorskip("numba_cuda", reason="needs numba-cuda (the test extra)")
    proc = run([sys.executable, "benchmarks/gpu_figures.py", "custatevec", "--device", "cpu",
                "--qubits", "6", "--check-qubits", "5", "--repeats", "1"],
               env={"NUMBA_ENABLE_CUDASIM": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checked ours against numpy at 5 qubits, k = 1..5: 0 failed" in proc.stdout
    rows = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("6 ")]
    assert len(rows) == 10 and all("n/a" in r for r in rows)
