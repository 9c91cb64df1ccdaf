"""GPU figures that the older GPU scripts do not measure: the largest state and unitary, and
cuStateVec against our block kernels. Run by benchmarks/gpu_suite.py; usable alone.

largest: the largest state (complex64) and unitary (complex64) the device holds. Starting from
the qubit count that the free memory allows, StatevectorSimulator / UnitarySimulator with the
exact engine run --depth brickwork layers (Haar 2-qubit gates); a size refused by the memory
check or failing allocation is reported and the next smaller one tried. Checked: the state's
norm stays 1 (|1 - norm| <= 1e-3 in complex64), and for the unitary, U^dagger U = I on 8
sampled columns (max deviation <= 1e-3). Goals (issue 24): 33 qubits state on an H200 (32 on
an H100), 15 qubits unitary.

custatevec: per qubit count, dtype and block width k = 1..5 on spread targets, the median time
of one pass of our numba-cuda kernel (launch_block) and of custatevec.apply_matrix on the same
state, and their ratio; first both are checked against each other and against numpy at
--check-qubits. Without cuStateVec the section prints why and times our kernels alone.

On the CPU (--device cpu, tiny sizes) the same code runs on numpy for the tests: 'largest'
through the CPU simulators, 'custatevec' through the kernels under numba's CUDA simulator
(NUMBA_ENABLE_CUDASIM=1), so the first GPU run measures rather than debugs. Exit status: 0, 1
on a failed check, 2 when --device gpu has no GPU.

    PYTHONPATH=. python3 benchmarks/gpu_figures.py largest --device gpu
    PYTHONPATH=. python3 benchmarks/gpu_figures.py custatevec --device gpu --qubits 26 28 30
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from qsim_topo.errors import QsimTopoError
from qsim_topo.layers import brickwork_layer, haar_unitary
from qsim_topo.sim.paths import execution_path
from qsim_topo.xp import available_memory, get_xp, resolve_device, synchronize, to_numpy

STATE_GOAL = {"H200": 33, "H100": 32}
UNITARY_GOAL = 15
NORM_TOL = 1e-3


def gates(n: int, depth: int, seed: int) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    rng = np.random.default_rng(seed)
    return [(g.matrix, g.qubits) for layer in range(depth)
            for g in brickwork_layer(n, layer % 2, seed=rng)]


def largest(device: str, depth: int, max_qubits: int | None, seed: int) -> list[str]:
    """Largest state and unitary runs; prints a row per attempt; returns the failures."""
    from qsim_topo.sim.simulators import StatevectorSimulator, UnitarySimulator

    failures: list[str] = []
    free = available_memory(device)
    for kind, sim_cls, per_qubit in (("state", StatevectorSimulator, 1),
                                     ("unitary", UnitarySimulator, 2)):
        top = int(math.log2(max(free, 16) / 8) // per_qubit)  # complex64: 8 bytes
        if max_qubits is not None:
            top = min(top, max_qubits if kind == "state" else max(max_qubits // 2, 2))
        done = False
        for n in range(top, max(top - 3, 1), -1):
            sim = sim_cls("exact", device=device, dtype=np.complex64)
            try:
                t0 = time.perf_counter()
                res = sim.run(gates(n, depth, seed), n)
                synchronize(get_xp(device))
                wall = time.perf_counter() - t0
            except (QsimTopoError, MemoryError) as exc:
                print(f"# largest {kind}: {n} qubits refused: {str(exc)[:200]}", flush=True)
                continue
            except Exception as exc:  # cupy's OutOfMemoryError is not a MemoryError
                if "OutOfMemory" not in type(exc).__name__:
                    raise
                print(f"# largest {kind}: {n} qubits out of memory: {str(exc)[:200]}", flush=True)
                continue
            out = res.data
            dev = check_largest(kind, out, seed)
            ok = dev <= NORM_TOL
            print(f"largest {kind}: {n} qubits complex64, depth {depth} brickwork in "
                  f"{res.wall_time_s:.3f} s ({wall:.3f} s with allocation), deviation {dev:.1e} "
                  f"{'ok' if ok else 'FAILED'}", flush=True)
            if not ok:
                failures.append(f"largest {kind} {n} qubits: deviation {dev:.1e} > {NORM_TOL}")
            del out, res
            done = True
            break
        if not done:
            failures.append(f"largest {kind}: no size from {top} qubits down ran")
    return failures


def check_largest(kind: str, out: Any, seed: int) -> float:
    """|1 - norm| of a state; max |U^dagger U - I| on 8 sampled columns of a unitary."""
    xp = get_xp("gpu" if type(out).__module__.startswith("cupy") else "cpu")
    if kind == "state":
        # vdot: no temporary the state's size (the state fills the device)
        return abs(1.0 - math.sqrt(abs(complex(xp.vdot(out, out)))))
    dim = out.shape[0]
    cols = np.sort(np.random.default_rng(seed).choice(dim, size=min(8, dim), replace=False))
    sub = out[:, xp.asarray(cols)].astype(xp.complex128)
    gram = to_numpy(sub.conj().T @ sub)
    return float(np.max(np.abs(gram - np.eye(len(cols)))))


def spread(n: int, k: int) -> tuple[int, ...]:
    return tuple(sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)}))[:k] or (0,)


def timed(xp: Any, fn: Callable[[], None], repeats: int) -> float:
    """Median seconds of one call (host clock around a synchronised call)."""
    fn()
    synchronize(xp)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        synchronize(xp)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def custatevec_vs_ours(device: str, qubits: list[int], dtypes: list[str], check_qubits: int,
                       repeats: int, seed: int) -> list[str]:
    from qsim_topo.sim import custatevec
    from qsim_topo.sim.gpu_kernels import MAX_KERNEL_QUBITS, launch_block

    xp = get_xp(device)
    version = custatevec.custatevec_version() if device == "gpu" else None
    print(f"# cuStateVec: {version or 'not available: timing our kernels alone'}", flush=True)
    failures: list[str] = []
    rng = np.random.default_rng(seed)
    # Check first: both paths against numpy at check_qubits.
    for dt in dtypes:
        for k in range(1, MAX_KERNEL_QUBITS + 1):
            qs = tuple(int(q) for q in rng.permutation(check_qubits)[:k])
            u = haar_unitary(2**k, seed=rng).astype(dt)
            psi = (rng.standard_normal(2**check_qubits)
                   + 1j * rng.standard_normal(2**check_qubits)).astype(dt)
            want = reference(psi, u, qs)
            paths: dict[str, Callable[[Any, Any], None]] = {
                "ours": lambda s, m, qs=qs: launch_block(s, m, qs)}
            if version:
                paths["cuStateVec"] = lambda s, m, qs=qs: custatevec.apply_matrix(s, m, qs)
            for name, fn in paths.items():
                state = xp.asarray(psi)
                fn(state, xp.asarray(u))
                got = to_numpy(state).astype(np.complex128)
                err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
                if not err <= (2e-5 if dt == "complex64" else 1e-12):
                    failures.append(f"custatevec check {name} k={k} {dt} {qs}: error {err:.1e}")
                    print(f"# FAILED {failures[-1]}", flush=True)
    print(f"# checked ours{' and cuStateVec' if version else ''} against numpy at "
          f"{check_qubits} qubits, k = 1..{MAX_KERNEL_QUBITS}: {len(failures)} failed", flush=True)
    print(f"{'n':>3} {'dtype':>10} {'k':>2} {'ours ms':>9} {'cuSV ms':>9} {'ours/cuSV':>9}")
    for n in qubits:
        for dt in dtypes:
            need = 2**n * np.dtype(dt).itemsize
            if need > 0.8 * available_memory(device):
                print(f"# skipped n={n} {dt}: state {need / 2**30:.1f} GiB does not fit")
                continue
            state = xp.zeros(2**n, dtype=dt)
            state[0] = 1
            for k in range(1, MAX_KERNEL_QUBITS + 1):
                qs = spread(n, k)
                mat = xp.asarray(haar_unitary(2**k, seed=seed + k).astype(dt))
                ours = timed(xp, lambda m=mat, qs=qs, s=state: launch_block(s, m, qs), repeats)
                if version:
                    theirs = timed(
                        xp, lambda m=mat, qs=qs, s=state: custatevec.apply_matrix(s, m, qs),
                        repeats)
                    print(f"{n:>3} {dt:>10} {k:>2} {1e3 * ours:>9.3f} {1e3 * theirs:>9.3f} "
                          f"{ours / theirs:>9.2f}", flush=True)
                else:
                    print(f"{n:>3} {dt:>10} {k:>2} {1e3 * ours:>9.3f} {'n/a':>9} {'n/a':>9}",
                          flush=True)
            del state
    return failures


def reference(psi: np.ndarray, u: np.ndarray, qubits: tuple[int, ...]) -> np.ndarray:
    """``(u on qubits) @ psi`` in complex128 by numpy (the doctor's reference)."""
    from qsim_topo.cli.doctor import _reference

    return _reference(psi, u, qubits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="section", required=True)
    p = sub.add_parser("largest", help="largest state and unitary")
    p.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--max-qubits", type=int, default=None, help="cap on the state's qubits")
    p.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("custatevec", help="cuStateVec against our kernels")
    c.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    c.add_argument("--qubits", type=int, nargs="+", default=[26, 28, 30])
    c.add_argument("--dtypes", nargs="+", choices=("complex64", "complex128"),
                   default=["complex64", "complex128"])
    c.add_argument("--check-qubits", type=int, default=20)
    c.add_argument("--repeats", type=int, default=5)
    c.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except QsimTopoError as exc:
        print(f"gpu_figures.py: {exc}", file=sys.stderr)
        return 2
    print(f"# gpu_figures.py {args.section}: {execution_path(device)}", flush=True)
    if args.section == "largest":
        failures = largest(device, args.depth, args.max_qubits, args.seed)
    else:
        failures = custatevec_vs_ours(device, args.qubits, args.dtypes, args.check_qubits,
                                      args.repeats, args.seed)
    print(f"summary: {args.section}: {len(failures)} failure(s)")
    for f in failures:
        print(f"!!! {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
