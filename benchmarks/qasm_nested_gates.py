"""Nested OpenQASM gate definitions: Qiskit's loader + Operator beside load_qasm + Operator.

Goal: a file whose gates nest (g_i calls g_{i-1} twice, ``--levels`` deep, 2**levels X
gates on one qubit) loads and yields its unitary in well under a second through
``qsim_topo.qiskit.qasm.load_qasm``, which builds each distinct gate once with a memoised
matrix; Qiskit's own ``qasm2.loads`` followed by ``Operator`` expands every instance at every
level. Both give the same matrix (checked). Prints seconds and the ratio.

    python benchmarks/qasm_nested_gates.py --levels 6 8 10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from qiskit import qasm2
from qiskit.quantum_info import Operator

from qsim_topo.qiskit.qasm import load_qasm


def bomb(levels: int) -> str:
    lines = ['OPENQASM 2.0;', 'include "qelib1.inc";', "gate g0 a { x a; }"]
    lines += [f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}" for i in range(1, levels + 1)]
    return "\n".join([*lines, "qreg q[1];", f"g{levels} q[0];"]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[6, 8, 10])
    args = parser.parse_args()
    print(f"{'levels':>6} {'ops':>6} {'qiskit s':>10} {'ours s':>10} {'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for levels in args.levels:
            path = Path(tmp) / f"bomb{levels}.qasm"
            path.write_text(bomb(levels))
            t0 = time.perf_counter()
            ref = Operator(
                qasm2.load(path, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
            ).data
            t1 = time.perf_counter()
            ours = Operator(load_qasm(path)[0]).data
            t2 = time.perf_counter()
            np.testing.assert_allclose(ours, ref, atol=1e-12)
            q, o = t1 - t0, t2 - t1
            print(f"{levels:>6} {2**levels:>6} {q:>10.3f} {o:>10.4f} {q / o:>8.0f}")


if __name__ == "__main__":
    main()
