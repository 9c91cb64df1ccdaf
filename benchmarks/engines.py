"""Every matmul engine against `exact`, same device, same size, same inputs, one run.

For each size N the inputs are two (N, N) complex128 matrices (Haar-random unitaries by
default, or complex Gaussian), generated once outside the timed region. Each engine is built
with its default options (plus --seed where it takes one), warmed up once, then timed as the
median of --repeats calls. Printed per engine: wall time, time ratio to `exact` measured in the
same run, the nominal `flops_fraction`, their quotient, and the relative Frobenius error
||C - AB||_F / ||AB||_F against the exact product.

Target: an approximate engine is only worth its error when its time ratio is below 1; and its
time ratio should track its nominal flops fraction (time/flops near 1). A quotient far above 1
is implementation overhead (Python loops, memory traffic, emulation); far below 1 would mean
the nominal fraction over-counts.

    python benchmarks/engines.py --sizes 1024 2048 --repeats 3
    python benchmarks/engines.py --device gpu --sizes 4096 8192 16384
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

from qsim_topo.engines import ExactEngine, available_engines, describe_engine, get_engine
from qsim_topo.layers import haar_unitary
from qsim_topo.xp import get_xp, random_normal, resolve_device, synchronize

CPU_SIZES = [1024, 2048, 4096]
GPU_SIZES = [1024, 2048, 4096, 8192, 16384]


def _bench(
    engine: Any, a: Any, b: Any, xp: Any, repeats: int, warmup: int
) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls after ``warmup`` untimed ones, and the last result."""
    times = []
    out = None
    for _ in range(warmup):
        out = engine.matmul(a, b)
    for _ in range(max(1, repeats)):
        del out
        synchronize(xp)
        start = time.perf_counter()
        out = engine.matmul(a, b)
        synchronize(xp)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _inputs(kind: str, n: int, device: str, seed: int) -> tuple[Any, Any]:
    xp = get_xp(device)
    if kind == "haar":
        return (haar_unitary(n, seed=seed, device=device),
                haar_unitary(n, seed=seed + 1, device=device))
    rng = np.random.default_rng(seed)

    def gauss() -> Any:
        re = random_normal(xp, rng, (n, n))
        im = random_normal(xp, rng, (n, n))
        return ((re + 1j * im) / np.sqrt(2 * n)).astype(np.complex128)

    return gauss(), gauss()


def _engine(name: str, seed: int) -> Any:
    options = {"seed": seed} if "seed" in describe_engine(name).options else {}
    return get_engine(name, **options)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help=f"N values (default CPU {CPU_SIZES}, GPU {GPU_SIZES})")
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"))
    parser.add_argument("--repeats", type=int, default=3, help="timed calls; median reported")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls before timing")
    parser.add_argument("--inputs", choices=("haar", "gaussian"), default="haar")
    parser.add_argument("--engines", nargs="+", default=None, help="default: all registered")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    xp = get_xp(device)
    sizes = args.sizes or (GPU_SIZES if device == "gpu" else CPU_SIZES)
    names = args.engines or [n for n in available_engines() if n != "exact"]
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    threads = {v: os.environ[v] for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
               if v in os.environ}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {stamp} {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs "
          f"(load average {load:.1f}), numpy {np.__version__} {threads or ''}, device {device}, "
          f"inputs {args.inputs}, complex128, median of {args.repeats} after {args.warmup} "
          "warm-up call(s)")

    for n in sizes:
        a, b = _inputs(args.inputs, n, device, args.seed)
        # The reference is the exact class itself, never a registry lookup.
        t_exact, ref = _bench(ExactEngine(), a, b, xp, args.repeats, args.warmup)
        ref_norm = float(xp.linalg.norm(ref))
        rows = [("exact", t_exact, 1.0, 1.0, 0.0)]
        for name in names:
            engine = _engine(name, args.seed)
            t, out = _bench(engine, a, b, xp, args.repeats, args.warmup)
            err = float(xp.linalg.norm(out - ref)) / ref_norm
            del out
            rows.append((name, t, t / t_exact, engine.flops_fraction(n, n, n), err))
            print(f"  {name} done ({t:.3f} s)", flush=True, file=sys.stderr)
        _print_table(n, rows, args.markdown)


def _print_table(n: int, rows: list[tuple[str, float, float, float, float]], md: bool) -> None:
    print()
    if md:
        print(f"N = {n}\n")
        print("| engine | time (s) | time / exact | flops fraction | time/flops "
              "| rel. Frobenius error |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, t, ratio, frac, err in rows:
            print(f"| {name} | {t:.3f} | {ratio:.3f} | {frac:.3f} | {ratio / frac:.2f} | "
                  f"{err:.3e} |")
        return
    print(f"N = {n}")
    print(f"{'engine':<16} {'time s':>9} {'t/exact':>8} {'flops':>7} {'t/flops':>8} "
          f"{'rel.err':>10}")
    for name, t, ratio, frac, err in rows:
        print(f"{name:<16} {t:>9.3f} {ratio:>8.3f} {frac:>7.3f} {ratio / frac:>8.2f} "
              f"{err:>10.3e}")


if __name__ == "__main__":
    main()
