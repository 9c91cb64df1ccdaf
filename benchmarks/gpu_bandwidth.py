"""Effective bandwidth of in-place state-vector passes on the GPU vs the device's copy bandwidth.

Target: a pass of one k-qubit block (k = 1..5) over a 2^n state reads and writes each amplitude
once, so its effective bandwidth, 2 * state.nbytes / time, should reach >= 80% of the bandwidth
of a device-to-device copy of a buffer the state's size (bytes read + written over time),
measured in the same run. The same goal holds for each pass of a fused circuit.

Per qubit count and dtype, on one random normalised cupy state:
- copy: `dst[...] = src` (cupy's kernel) and cudaMemcpyAsync device to device; the faster counts.
- gate: `apply_inplace(engine, state, U, qubits, n)` (one numba-cuda kernel pass on cupy
  arrays, see qsim_topo/sim/gpu_kernels.py; cuStateVec instead from its threshold when
  installed, unless QSIM_TOPO_CUSTATEVEC_MIN_QUBITS=off), U a Haar unitary on k qubits placed
  low (0..k-1), high (n-k..n-1) or spread, on the device in the state's dtype (converted
  outside timing); engine = CheckedEngine(exact, check_inputs=False, check_finite=False).
- brickwork: --depth layers of Haar 2-qubit gates (even layers (0,1),(2,3),.., odd (1,2),..),
  fused by `fuse_gates(max_qubits=m)` outside timing, each block one apply_inplace pass.

Timing: CUDA events around --batch passes (gate) or one whole circuit, after --warmup untimed
runs (which compile the kernels); median of --repeats; spread = (max - min) / median. 'host us'
is the host time to enqueue one pass (near the pass time, the GPU starves). TFLOP/s counts
8 * 2^k flops per amplitude: at k = 5, 16 (complex64) or 8 (complex128) flops per byte moved,
about the FP32 / FP64 rate at copy bandwidth, so k = 5 may be compute bound.

Correctness first, at --check-qubits: every gate cell and fused circuit against apply_operator
in complex128 numpy, gate by gate, unfused: 1 - fidelity <= 1e-5 (complex64) / 1e-10
(complex128) and ||out - ref|| <= 1e-4 / 1e-9 (which also catches a wrong norm or phase). A
failure (or an exception) is printed and makes the exit status 1. Without cupy and a CUDA device
the script prints one line and exits 2.

    PYTHONPATH=. python3 benchmarks/gpu_bandwidth.py
    PYTHONPATH=. python3 benchmarks/gpu_bandwidth.py --qubits 28 --dtypes complex64 --markdown
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from gpu_common import join_row, require_gpu

from qsim_topo.engines import get_engine
from qsim_topo.engines.base import CheckedEngine
from qsim_topo.layers import brickwork_layer, haar_unitary
from qsim_topo.sim.apply import apply_operator
from qsim_topo.sim.fusion import fuse_gates
from qsim_topo.sim.kernels import apply_inplace

GOAL = 0.80  # effective bandwidth / copy bandwidth, per pass
KS = (1, 2, 3, 4, 5)
PLACEMENTS = ("low", "high", "spread")
FIDELITY_TOL = {"complex64": 1e-5, "complex128": 1e-10}
ERROR_TOL = {"complex64": 1e-4, "complex128": 1e-9}  # ||out - ref||, both of unit norm
COLUMNS = ("n", "dtype", "what", "passes", "ms/pass", "GB/s", "% copy", "TFLOP/s", "spread",
           "host us", "goal")
WIDTHS = (3, 10, -38, 6, 8, 6, 6, 7, 6, 7, 6)  # negative: left-aligned
Gate = tuple[Any, tuple[int, ...]]
Row = dict[str, Any]


def targets(n: int, k: int, placement: str) -> tuple[int, ...]:
    if placement == "low":
        return tuple(range(k))
    if placement == "high":
        return tuple(range(n - k, n))
    if k == 1:
        return (n // 2,)
    return tuple(sorted({round(i * (n - 1) / (k - 1)) for i in range(k)}))


def brickwork(n: int, depth: int, seed: int) -> list[Gate]:
    rng = np.random.default_rng(seed)
    return [(g.matrix, g.qubits) for layer in range(depth)
            for g in brickwork_layer(n, layer % 2, seed=rng)]


def event_times(cp: Any, fn: Callable[[], None], repeats: int, warmup: int
                ) -> tuple[list[float], float]:
    """Seconds per call of ``fn`` by CUDA events, and the median host seconds to enqueue it."""
    for _ in range(warmup):
        fn()
    cp.cuda.Device().synchronize()
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    times, host = [], []
    for _ in range(max(1, repeats)):
        start.record()
        t0 = time.perf_counter()
        fn()
        host.append(time.perf_counter() - t0)
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) / 1e3)
    return times, statistics.median(host)


def random_state(cp: Any, n: int, dtype: np.dtype, seed: int) -> Any:
    """A random normalised state made on the device in chunks (no full-size temporaries)."""
    real = np.float32 if dtype == np.complex64 else np.float64
    rs = cp.random.RandomState(seed)
    state = cp.empty(2**n, dtype=dtype)
    chunk, norm2 = 2**22, 0.0
    for lo in range(0, 2**n, chunk):
        m = min(chunk, 2**n - lo)
        part = rs.standard_normal(m, dtype=real) + 1j * rs.standard_normal(m, dtype=real)
        state[lo:lo + m] = part
        norm2 += float(cp.sum(cp.abs(part) ** 2, dtype=np.float64))
    state *= float(1.0 / np.sqrt(norm2))
    return state


def raised(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"raised {type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def check(cp: Any, engine: Any, n: int, dtypes: list[str], depth: int, fuse: list[int],
          seed: int) -> list[str]:
    """Gate cells and fused circuits at n qubits against complex128 numpy; the failures."""
    exact = get_engine("exact")
    rng = np.random.default_rng(seed)
    psi = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
    psi /= np.linalg.norm(psi)

    def reference(gates: list[Gate]) -> np.ndarray:
        ref = psi
        for mat, qs in gates:  # unfused, one apply_operator per gate
            ref = apply_operator(exact, ref, mat, qs, n)
        return ref

    cases: list[tuple[str, np.ndarray, list[Gate]]] = []
    for k in KS:
        for place in PLACEMENTS:
            gate = (haar_unitary(2**k, seed=seed + k), targets(n, k, place))
            cases.append((f"k={k} {place} {gate[1]}", reference([gate]), [gate]))
    gates = brickwork(n, depth, seed)
    ref = reference(gates)
    for m in fuse:
        blocks = [(b.matrix, b.qubits) for b in fuse_gates(gates, exact, max_qubits=m)]
        cases.append((f"brickwork depth {depth} fused m={m} ({len(blocks)} passes)", ref, blocks))
    failures: list[str] = []
    worst = {dt: [0.0, 0.0] for dt in dtypes}
    for name, ref, blocks in cases:
        for dt in dtypes:
            state = cp.asarray(psi.astype(dt))
            try:
                for mat, qs in blocks:
                    apply_inplace(engine, state, cp.asarray(mat, dtype=dt), qs, n)
                out = cp.asnumpy(state).astype(np.complex128)
            except Exception as exc:  # e.g. a kernel that does not compile: report, go on
                failures.append(f"check n={n} {dt} {name}: {raised(exc)}")
                print(f"# FAILED {failures[-1]}", flush=True)
                continue
            infid, err = float("nan"), float("nan")  # NaN fails both tests
            if np.isfinite(out).all():
                infid = 1 - abs(np.vdot(ref, out)) ** 2 / np.vdot(out, out).real
                err = float(np.linalg.norm(out - ref))
                worst[dt] = [max(worst[dt][0], infid), max(worst[dt][1], err)]
            if not (infid <= FIDELITY_TOL[dt] and err <= ERROR_TOL[dt]):
                failures.append(f"check n={n} {dt} {name}: 1 - fidelity {infid:.3e}, "
                                f"||out - ref|| {err:.3e} (tolerances {FIDELITY_TOL[dt]:g}, "
                                f"{ERROR_TOL[dt]:g})")
                print(f"# FAILED {failures[-1]}", flush=True)
    print(f"# checked {len(cases)} cases x {len(dtypes)} dtypes at n={n} against complex128 numpy "
          f"(apply_operator, unfused): {len(failures)} failed; worst of the others, 1 - fidelity "
          "and ||out - ref||: "
          + ", ".join(f"{dt} {f:.1e}, {e:.1e}" for dt, (f, e) in worst.items()), flush=True)
    return failures


def copy_times(cp: Any, src: Any, repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds of a device-to-device copy of ``src``: cupy's kernel and cudaMemcpy."""
    dst = cp.empty_like(src)

    def kernel_copy() -> None:
        dst[...] = src

    def memcpy() -> None:
        dst.data.copy_from_device_async(src.data, src.nbytes)

    return {name: statistics.median(event_times(cp, fn, repeats, warmup)[0])
            for name, fn in (("dst[...] = src", kernel_copy), ("cudaMemcpyAsync", memcpy))}


def bench_cell(cp: Any, engine: Any, n: int, dt: str, args: argparse.Namespace,
               circuits: dict[int, list[Any]]) -> list[Row]:
    state = random_state(cp, n, np.dtype(dt), args.seed)
    moved = 2 * state.nbytes
    copies = copy_times(cp, state, args.repeats, args.warmup)
    copy_bw = moved / min(copies.values())
    print(f"# n={n} {dt}: state {state.nbytes / 2**30:.2f} GiB; copy "
          + ", ".join(f"{k} {moved / t / 1e9:.0f} GB/s" for k, t in copies.items()), flush=True)
    rows: list[Row] = []

    def row(what: str, passes: int, ts: list[float], host: float, flops: float) -> None:
        per = statistics.median(ts) / passes
        rows.append({"n": n, "dtype": dt, "what": what, "passes": passes, "ms": 1e3 * per,
                     "GB/s": moved / per / 1e9, "copy": moved / per / copy_bw,
                     "TFLOP/s": flops / per / 1e12, "host us": 1e6 * host / passes,
                     "spread": (max(ts) - min(ts)) / statistics.median(ts)})
        print(format_row(rows[-1], False), flush=True)

    for k in KS:
        for place in PLACEMENTS:
            qs = targets(n, k, place)
            mat = cp.asarray(haar_unitary(2**k, seed=args.seed + k), dtype=dt)

            def passes(mat: Any = mat, qs: tuple[int, ...] = qs) -> None:
                for _ in range(args.batch):
                    apply_inplace(engine, state, mat, qs, n)

            ts, host = event_times(cp, passes, args.repeats, args.warmup)
            row(f"k={k} {place} {qs}", args.batch, ts, host, 8.0 * 2**k * 2**n * args.batch)
    for m, blocks in circuits.items():
        dev = [(cp.asarray(b.matrix, dtype=dt), b.qubits) for b in blocks]

        def circuit(dev: list[Gate] = dev) -> None:
            for mat, qs in dev:
                apply_inplace(engine, state, mat, qs, n)

        ts, host = event_times(cp, circuit, args.repeats, min(args.warmup, 1))
        flops = sum(8.0 * 2 ** len(qs) * 2**n for _, qs in dev)
        row(f"brickwork d{args.depth} m={m}, {1e3 * statistics.median(ts):.1f} ms total",
            len(dev), ts, host, flops)
    return rows


def format_row(r: Row | None, md: bool) -> str:
    """One table row (the header for ``None``), aligned text or markdown."""
    values = list(COLUMNS) if r is None else [
        str(r["n"]), r["dtype"], r["what"], str(r["passes"]), f"{r['ms']:.3f}",
        f"{r['GB/s']:.0f}", f"{100 * r['copy']:.1f}", f"{r['TFLOP/s']:.1f}",
        f"{100 * r['spread']:.0f}%", f"{r['host us']:.0f}",
        "met" if r["copy"] >= GOAL else "MISSED"]
    rule = "\n|---:|---|---|" + "---:|" * 7 + "---|" if r is None else ""
    return join_row(values, WIDTHS, md, rule if md else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[26, 28, 30])
    parser.add_argument("--dtypes", nargs="+", choices=("complex64", "complex128"),
                        default=["complex64", "complex128"])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; median reported")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--batch", type=int, default=10, help="gate passes per timed run")
    parser.add_argument("--depth", type=int, default=20, help="brickwork depth")
    parser.add_argument("--fuse", type=int, nargs="+", default=[2, 4, 5], help="max_qubits")
    parser.add_argument("--check-qubits", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    cp = require_gpu("gpu_bandwidth.py", argv)
    if cp is None:
        return 2

    print(f"# median of {args.repeats} after {args.warmup} warm-up(s); gate rows: {args.batch} "
          f"passes per timed run; goal per pass: >= {100 * GOAL:.0f}% of copy bandwidth")
    engine = CheckedEngine(get_engine("exact"), check_inputs=False, check_finite=False)
    failures = check(cp, engine, args.check_qubits, args.dtypes, args.depth, args.fuse,
                     args.seed)
    l2 = cp.cuda.runtime.getDeviceProperties(0)["l2CacheSize"]
    print(format_row(None, False))
    rows: list[Row] = []
    for n in args.qubits:
        gates = brickwork(n, args.depth, args.seed)
        circuits = {m: fuse_gates(gates, get_engine("exact"), max_qubits=m) for m in args.fuse}
        for dt in args.dtypes:
            nbytes = 2**n * np.dtype(dt).itemsize
            pool = cp.get_default_memory_pool()
            pool.free_all_blocks()
            need, free = 2 * nbytes + 2**29, cp.cuda.Device().mem_info[0] + pool.free_bytes()
            if need > 0.9 * free:
                print(f"# skipped n={n} {dt}: needs {need / 2**30:.1f} GiB (state and copy "
                      f"target), {free / 2**30:.1f} GiB free", flush=True)
                continue
            if 2 * nbytes < 4 * l2:
                print(f"# note n={n} {dt}: state and copy are under 4x the L2 "
                      f"({l2 / 2**20:.0f} MiB): the figures measure the cache", flush=True)
            try:
                rows += bench_cell(cp, engine, n, dt, args, circuits)
            except Exception as exc:  # report and go on to the next cell
                failures.append(f"benchmark n={n} {dt}: {raised(exc)}")
                print(f"# FAILED {failures[-1]}", flush=True)
    print(f"\nsummary: goal per pass >= {100 * GOAL:.0f}% of the copy bandwidth of the same "
          "state size, same run\n")
    print(format_row(None, args.markdown))
    for r in rows:
        print(format_row(r, args.markdown))
    print(f"\n{sum(r['copy'] >= GOAL for r in rows)} of {len(rows)} rows met the goal")
    if failures:
        print(f"\n!!! {len(failures)} FAILURE(S):", *failures, sep="\n!!! ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
