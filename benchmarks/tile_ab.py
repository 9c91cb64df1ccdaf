"""The cache-blocked tile pass of the working tree against the same pass at another commit.

A/B in one process: the compiled kernels of ``qsim_topo/sim/_numba_sequence.py`` at --base
(read with ``git show``) and in the working tree run the same tiles, alternating, on the same
circuits (vs_peers.py's families, fused and planned once by the working tree's planner). Only
the tile passes are timed (no conversion, planning or Qiskit result), so a kernel change is
measured without the noise of the rest of a run. Each side gets the executor's
``zero_mask`` (the qubits no earlier tile held); a base kernel from before that parameter
ignores it and runs every tile. The states of both are compared: a
kernel change that keeps the arithmetic must give identical amplitudes, any other the same
state within the dtype's rounding.

    python benchmarks/tile_ab.py --base HEAD~1 --qubits 20 24 --repeats 9

Needs the `fast` extra (numba) and qiskit (the circuits).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import vs_peers  # beside this script (run as python benchmarks/tile_ab.py)
from qiskit import transpile
from qiskit_aer import AerSimulator

import qsim_topo.sim._numba_sequence as current
import qsim_topo.sim.numba_kernels as nk
from qsim_topo.circuit import TileOp
from qsim_topo.engines import get_engine
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.sim.passes import default_tile_qubits, fuse_program, tile_program
from qsim_topo.sim.planning import plan_tile_blocks

ROOT = Path(__file__).resolve().parent.parent
KERNELS = "qsim_topo/sim/_numba_sequence.py"


def load_base(rev: str, folder: Path) -> Any:
    """The kernels module as it was at ``rev``, imported under another name."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{KERNELS}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    path = folder / "base_sequence.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("base_sequence", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tiles(kernel: Any, tiles: list[Any], n: int, dtype: Any) -> tuple[float, np.ndarray]:
    """Seconds for all tiles from |0...0> with ``kernel.apply_sequence``, and the state."""
    saved = current.apply_sequence
    replacement = kernel.apply_sequence
    wanted = replacement.py_func.__code__.co_argcount
    if wanted < saved.py_func.__code__.co_argcount:
        # An older kernel of fewer parameters (before zero_mask, which is 0 here): the leading
        # ones.
        def replacement(*args: Any, _kernel: Any = kernel.apply_sequence) -> None:
            _kernel(*args[:wanted])

    current.apply_sequence = replacement  # apply_sequence_numba looks it up per call
    try:
        state = np.zeros(2**n, dtype=dtype)
        state[0] = 1
        zero_mask = (1 << n) - 1  # as the executor: the qubits no tile has held yet are |0>
        start = time.perf_counter()
        for gates, qubits in tiles:
            nk.apply_sequence_numba(None, state, gates, qubits, 1, zero_mask)
            for q in qubits:
                zero_mask &= ~(1 << q)
        return time.perf_counter() - start, state
    finally:
        current.apply_sequence = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="the commit to compare with")
    parser.add_argument("--qubits", type=int, nargs="+", default=[20])
    parser.add_argument("--precision", choices=["c64", "c128"], nargs="+", default=["c64"])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs each; median")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    target = vs_peers.common_target(AerSimulator(method="statevector"))
    engine = get_engine("exact")
    print(f"# python benchmarks/tile_ab.py {' '.join(sys.argv[1:])}")
    print("| family | qubits | dtype | passes | base ms | new ms | new/base | states |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        base = load_base(args.base, Path(folder))
        for n in args.qubits:
            for family in vs_peers.FAMILIES:
                qc = transpile(vs_peers.build(family, n, 20, args.seed), target=target,
                               optimization_level=0)
                fused, _ = fuse_program(circuit_to_program(qc, "statevector"), engine, 2,
                                        plan=plan_tile_blocks)
                fused, _ = tile_program(fused, min(default_tile_qubits(n), n))
                for tag in args.precision:
                    dtype = np.complex64 if tag == "c64" else np.complex128
                    tiles = [([(g.matrix.astype(dtype), g.qubits) for g in op.gates], op.qubits)
                             for op in fused.ops if isinstance(op, TileOp)]
                    times: dict[str, list[float]] = {"base": [], "new": []}
                    states: dict[str, np.ndarray] = {}
                    for rep in range(args.repeats + 1):  # the first of each is a warm-up
                        for name, kernel in (("base", base), ("new", current)):
                            seconds, states[name] = run_tiles(kernel, tiles, n, dtype)
                            if rep:
                                times[name].append(seconds)
                    b, w = statistics.median(times["base"]), statistics.median(times["new"])
                    diff = float(np.abs(states["base"] - states["new"]).max())
                    same = "identical" if diff == 0 else f"max diff {diff:.1e}"
                    digits = 3 if b < 0.01 else 1  # small states: passes of ~0.1 ms
                    print(f"| {family} | {n} | {tag} | {len(tiles)} | {b * 1e3:.{digits}f} | "
                          f"{w * 1e3:.{digits}f} | {w / b:.3f} | {same} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
