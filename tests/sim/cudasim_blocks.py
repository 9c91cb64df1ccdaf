"""Run by tests/sim/test_gpu_kernels.py in a subprocess with NUMBA_ENABLE_CUDASIM=1.

Applies every GPU block kernel under numba's CUDA simulator (the kernels' own source, executed
thread by thread on numpy arrays) and compares with an independent numpy reference: the full
(2^n, 2^n) matrix built entry by entry (tests/conftest.py::embed) times the state. Prints one
line per failure and a summary ``checked N``; exits 1 on any failure.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"

from qsim_topo.layers import haar_unitary  # noqa: E402
from qsim_topo.sim.gpu_kernels import MAX_KERNEL_QUBITS, apply_block_gpu  # noqa: E402
from tests.conftest import embed  # noqa: E402

TOL = {"complex64": 2e-5, "complex128": 1e-12}


class Counter:
    """Stands in for the engine: apply_block_gpu only reports its product to it."""

    def __init__(self) -> None:
        self.products: list[tuple[int, int, int]] = []

    def count_product(self, m: int, k: int, n: int) -> None:
        self.products.append((m, k, n))


def check(rng: np.random.Generator, n: int, cols: int, qubits: tuple[int, ...], dtype: str
          ) -> str | None:
    k = len(qubits)
    u = haar_unitary(2**k, seed=rng)
    psi = rng.standard_normal((2**n, cols)) + 1j * rng.standard_normal((2**n, cols))
    want = embed(u, qubits, n) @ psi
    tensor = psi.astype(dtype) if cols > 1 else psi[:, 0].astype(dtype)
    counter = Counter()
    apply_block_gpu(counter, tensor, u.astype(dtype), qubits, n, cols)
    got = tensor.reshape(2**n, cols).astype(np.complex128)
    err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
    if err > TOL[dtype]:
        return f"n={n} cols={cols} qubits={qubits} {dtype}: max rel error {err:.2e}"
    if counter.products != [(2**k, 2**k, 2**n * cols // 2**k)]:
        return f"n={n} cols={cols} qubits={qubits}: counted {counter.products}"
    return None


def cases(rng: np.random.Generator) -> list[tuple[int, int, tuple[int, ...]]]:
    out = []
    n = 5  # every ordered choice of 1..5 distinct targets among 5 qubits
    for k in range(1, MAX_KERNEL_QUBITS + 1):
        out += [(n, 1, qs) for qs in itertools.permutations(range(n), k)]
    n = 10  # high bits and spread targets, a few permutations per k
    for k in range(1, MAX_KERNEL_QUBITS + 1):
        for _ in range(3):
            out.append((n, 1, tuple(int(q) for q in rng.permutation(n)[:k])))
        out.append((n, 1, tuple(range(n - 1, n - 1 - k, -1))))
    for qs in [(0,), (2, 0), (1, 3, 0)]:  # columns: the targets sit above the column bits
        out.append((4, 4, qs))
    return out


def main() -> int:
    rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 2026)
    failures = []
    checked = 0
    for n, cols, qubits in cases(rng):
        for dtype in ("complex64", "complex128"):
            failure = check(rng, n, cols, qubits, dtype)
            checked += 1
            if failure:
                failures.append(failure)
    for f in failures:
        print("FAIL", f)
    print(f"checked {checked}, failed {len(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
