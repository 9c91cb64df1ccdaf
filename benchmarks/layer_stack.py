"""Overhead of the engine path: the layer-stack products through `exact` vs plain numpy/cupy.

Target: the engine path (contract checks, counting) costs at most 5% over calling
`xp.matmul` directly on the same layers, in dense mode. Both run in this process, alternating,
median of --repeats runs; layers are generated once, outside the timed region.

    python benchmarks/layer_stack.py --qubits 8 10 11 --depth 8
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from qsim_topo.engines import CheckedEngine, ExactEngine
from qsim_topo.layers import layer_stack
from qsim_topo.xp import get_xp, resolve_device, synchronize

GOAL = 1.05


def _time(fn, xp) -> float:
    synchronize(xp)
    start = time.perf_counter()
    fn()
    synchronize(xp)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[8, 10, 11])
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    xp = get_xp(device)
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, numpy "
          f"{np.__version__}, device {device}, depth {args.depth}, median of {args.repeats}")
    header = f"{'qubits':>6} {'numpy matmul s':>15} {'engine path s':>14} {'ratio':>7}"
    print(f"{header}  goal <= {GOAL}")
    for n in args.qubits:
        layers = [layer.matrix() for layer in layer_stack(n, args.depth, "dense", seed=0,
                                                           device=device)]

        def plain(n=n, layers=layers):
            p = xp.eye(2**n, dtype=np.complex128)
            for m in layers:
                p = xp.matmul(m, p)

        def engine_path(n=n, layers=layers):
            eng = CheckedEngine(ExactEngine())
            p = xp.eye(2**n, dtype=np.complex128)
            for m in layers:
                p = eng.matmul(m, p)

        plain_t, engine_t = [], []
        _time(plain, xp), _time(engine_path, xp)  # warm-up
        for _ in range(args.repeats):
            plain_t.append(_time(plain, xp))
            engine_t.append(_time(engine_path, xp))
        a, b = statistics.median(plain_t), statistics.median(engine_t)
        print(f"{n:>6} {a:>15.4f} {b:>14.4f} {b / a:>7.3f}  {'ok' if b / a <= GOAL else 'MISSED'}")


if __name__ == "__main__":
    main()
