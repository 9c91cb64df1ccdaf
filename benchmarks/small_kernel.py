"""The tile kernel on small states (one tile, no lanes): ns per gate by kind and position.

At 10-12 qubits the whole state is one tile of all its qubits, so ``apply_sequence`` runs
without lanes (``wbits = 0``) on the calling thread. This script times the compiled kernel
alone (``_numba_sequence.apply_sequence``, the gates packed once beforehand):

* per gate kind and qubit position: a sequence of ``--gates`` copies of one kind of gate
  (1-qubit dense / diagonal, 2-qubit dense / diagonal / monomial (a CX-like permutation with
  phases), 3-qubit dense / diagonal) on low bits (0-2), mixed, or high bits, in ns per gate,
  against a plain numba loop over the interleaved complex state (``reference`` below: the
  textbook kernel, one gate at a time) and against the arithmetic floor, the gate's complex
  multiply-adds at fma_peak.py's single-thread L1 rate;
* the executor's tiles of vs_peers.py's circuits (random, qft, qv, brickwork), transpiled
  alike and prepared as the executor prepares them, in us per circuit.

With ``--baseline FILE`` (a copy of an earlier ``_numba_sequence.py``, e.g.
``git show REV:qsim_topo/sim/_numba_sequence.py > /tmp/before.py``) the same packed gates
also run through that file's kernel, alternating with the current one in every repetition:
an A/B in one process, medians of ``--repeats``. Both results are compared with each other
and with numpy complex128 (the families: the executor's reference apply, per tile).

    python benchmarks/small_kernel.py --baseline /tmp/before.py
    python benchmarks/small_kernel.py --qubits 10 12 --precision c128 c64 --repeats 41
    PYTHONPATH=/tmp/before python benchmarks/small_kernel.py --skip-gates --skip-families \
        --executor       # an older tree's executor, end to end (one tree per process)

Needs the `fast` extra (numba) and qiskit (the circuits).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from qsim_topo.sim.numba_kernels import _pack_gates, numba_available, thread_limit

CASES = {
    # name: (width, structure, qubit sets by position)
    "1q dense": (1, "dense", {"low": [(0,), (1,), (2,)], "high": [(3,), (6,), (9,)]}),
    "1q diag": (1, "diag", {"low": [(0,), (1,), (2,)], "high": [(3,), (6,), (9,)]}),
    "2q dense": (2, "dense", {"low": [(0, 1), (0, 2), (1, 2)], "mixed": [(0, 5), (2, 9)],
                              "high": [(3, 4), (5, 9), (3, 8)]}),
    "2q diag": (2, "diag", {"low": [(0, 1), (1, 2)], "mixed": [(0, 5), (2, 9)],
                            "high": [(3, 4), (5, 9)]}),
    "2q monomial": (2, "perm", {"low": [(0, 1), (1, 2)], "mixed": [(0, 5), (2, 9)],
                                "high": [(3, 4), (5, 9)]}),
    "3q dense": (3, "dense", {"low": [(0, 1, 2)], "mixed": [(0, 4, 8)], "high": [(3, 5, 9)]}),
    "3q diag": (3, "diag", {"low": [(0, 1, 2)], "mixed": [(0, 4, 8)], "high": [(3, 5, 9)]}),
}


def load_kernel(path: str) -> Any:
    """The ``apply_sequence`` of a copy of ``_numba_sequence.py`` at ``path``."""
    spec = importlib.util.spec_from_file_location("_numba_sequence_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # numba's on-disk cache finds the module by this name
    spec.loader.exec_module(module)
    return module.apply_sequence


def reference_kernel() -> Any:
    """A plain numba k-qubit gate loop over the interleaved complex state (one gate)."""
    from numba import njit

    @njit(fastmath={"contract"}, nogil=True)
    def apply_gate(psi: Any, mat: Any, bits: Any) -> None:
        k = bits.size
        dim = 1 << k
        off = np.zeros(dim, np.int64)
        for j in range(dim):
            for i in range(k):
                if (j >> i) & 1:
                    off[j] += np.int64(1) << bits[i]
        x = np.empty(dim, psi.dtype)
        for g in range(psi.size >> k):
            r = np.int64(g)
            for i in range(k):  # ascending bits: insert a zero at each
                p = bits[i]
                r = ((r >> p) << (p + 1)) | (r & ((np.int64(1) << p) - 1))
            for j in range(dim):
                x[j] = psi[r + off[j]]
            for o in range(dim):
                s = mat[o, 0] * x[0]
                for c in range(1, dim):
                    s += mat[o, c] * x[c]
                psi[r + off[o]] = s

    return apply_gate


def make_gate(rng: np.random.Generator, k: int, structure: str) -> np.ndarray:
    dim = 1 << k
    if structure == "dense":
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)) + 1j * rng.standard_normal((dim, dim)))
        return q * (np.diag(r) / abs(np.diag(r)))
    phases = np.exp(2j * np.pi * rng.random(dim))
    if structure == "diag":
        return np.diag(phases)
    perm = np.arange(dim)
    perm[-2:] = perm[-2:][::-1]  # CX-like: swap the last two rows (control on the top bit)
    mat = np.zeros((dim, dim), complex)
    mat[np.arange(dim), perm] = phases
    return mat


def cmacs(k: int, structure: str, n: int) -> int:
    return (2**n) << k if structure == "dense" else 2**n


def call(kernel: Any, sv: Any, n: int, packed: tuple[np.ndarray, ...]) -> None:
    kernel(sv, np.arange(n, dtype=np.int64), 0, *packed, 1, 0)



def runner(states: dict[Any, Any], psi: Any, real: Any, n: int, packed: Any) -> Any:
    """``run(kernel)``: the packed gates by ``kernel`` on a copy of ``psi``, kept in ``states``."""

    def run(kernel: Any) -> None:
        state = psi.copy()
        call(kernel, state.view(real), n, packed)
        states[kernel] = state

    return run

def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ab(kernels: dict[str, Any], run: Any, repeats: int) -> dict[str, float]:
    """Median seconds of ``run(kernel)`` per kernel, alternating in every repetition."""
    times: dict[str, list[float]] = {name: [] for name in kernels}
    for rep in range(repeats + 1):
        for name, kernel in kernels.items():
            t = timed(lambda kernel=kernel: run(kernel))
            if rep:
                times[name].append(t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def gate_table(args: argparse.Namespace, kernels: dict[str, Any], peak: dict[str, float]) -> None:
    ref = reference_kernel()
    names = list(kernels)
    print(f"\n| qubits | dtype | gate | position | {' | '.join(f'{k} ns' for k in names)} "
          f"| reference ns | floor ns | {' | '.join(f'{k} x floor' for k in names)} |")
    print("|---:|---|---|---|" + "---:|" * (2 * len(names) + 2))
    rng = np.random.default_rng(args.seed)
    for n in args.qubits:
        for tag in args.precision:
            dtype = np.complex64 if tag == "c64" else np.complex128
            real = np.float32 if tag == "c64" else np.float64
            psi = (rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)).astype(dtype)
            psi /= np.linalg.norm(psi)
            for case in args.cases:
                k, structure, positions = CASES[case]
                for where, sets in positions.items():
                    sets = [tuple(min(q, n - 1) for q in s) for s in sets]
                    gates = [(make_gate(rng, k, structure).astype(dtype), sets[i % len(sets)])
                             for i in range(args.gates)]
                    packed = _pack_gates(gates, tuple(range(n)), dtype)
                    states: dict[Any, Any] = {}
                    secs = ab(kernels, runner(states, psi, real, n, packed), args.repeats)
                    want = psi.astype(np.complex128)
                    mats = [(m.astype(np.complex128), np.array(q, np.int64)) for m, q in gates]
                    rt = []
                    for rep in range(max(3, args.repeats // 4)):
                        state = want.copy()
                        start = time.perf_counter()
                        for m, q in mats:
                            ref(state, m, q)
                        rt.append(time.perf_counter() - start)
                        if rep == 0:
                            want = state
                    atol = 1e-10 if tag == "c128" else 2e-4
                    for state in states.values():
                        np.testing.assert_allclose(state, want, rtol=0, atol=atol,
                                                   err_msg=f"{n} {tag} {case} {where}")
                    floor = cmacs(k, structure, n) / peak[tag]
                    per = {nm: secs[nm] / args.gates * 1e9 for nm in names}
                    print(f"| {n} | {tag} | {case} | {where} | "
                          f"{' | '.join(f'{per[nm]:.0f}' for nm in names)} | "
                          f"{statistics.median(rt) / args.gates * 1e9:.0f} | {floor * 1e9:.0f} | "
                          f"{' | '.join(f'{per[nm] / 1e9 / floor:.1f}' for nm in names)} |",
                          flush=True)


def family_table(args: argparse.Namespace, kernels: dict[str, Any]) -> None:
    import vs_peers  # beside this script (run as python benchmarks/small_kernel.py)
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    from qsim_topo.circuit import TileOp
    from qsim_topo.engines import get_engine
    from qsim_topo.qiskit.convert import circuit_to_program
    from qsim_topo.sim.passes import prepare_program

    target = vs_peers.common_target(AerSimulator(method="statevector"))
    engine = get_engine("exact")
    names = list(kernels)
    print(f"\n| family | qubits | dtype | gates (1q/2q/3q; dense/monomial/diag) | "
          f"{' | '.join(f'{k} us' for k in names)} | ns/gate ({names[-1]}) |")
    print("|---|---:|---|---|" + "---:|" * (len(names) + 1))
    rng = np.random.default_rng(args.seed)
    for family in args.families:
        for n in args.qubits:
            qc = transpile(vs_peers.build(family, n, 20, 0), target=target,
                           optimization_level=0)
            program = circuit_to_program(qc, "statevector")
            prepared, _ = prepare_program(program, engine, fusion=True, fusion_max_qubits=5,
                                          fusion_threshold=0, tiles=True, tile_qubits=None)
            tiles = [op for op in prepared.ops if isinstance(op, TileOp)]
            assert len(tiles) == 1 and tiles[0].qubits == tuple(range(n)), family
            gates = [(g.matrix, g.qubits) for g in tiles[0].gates]
            for tag in args.precision:
                dtype = np.complex64 if tag == "c64" else np.complex128
                real = np.float32 if tag == "c64" else np.float64
                packed = _pack_gates(gates, tuple(range(n)), dtype)
                gk, gkind = packed[0], packed[4]
                kinds = "/".join(str(int((gk == w).sum())) for w in (1, 2, 3)) + "; " + "/".join(
                    str(int((gkind == c).sum())) for c in (0, 1, 2))
                psi = (rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)).astype(dtype)
                psi /= np.linalg.norm(psi)
                states: dict[Any, Any] = {}
                secs = ab(kernels, runner(states, psi, real, n, packed), args.repeats)
                want = psi.astype(np.complex128)
                for m, q in gates:  # numpy complex128, one gate at a time (einsum)
                    kq = len(q)
                    t = want.reshape((2,) * n)
                    axes = [n - 1 - b for b in q[::-1]]
                    g = np.asarray(m, complex).reshape((2,) * (2 * kq))
                    t = np.moveaxis(np.tensordot(g, t, axes=(list(range(kq, 2 * kq)), axes)),
                                    list(range(kq)), axes)
                    want = t.reshape(-1)
                atol = 1e-10 if tag == "c128" else 5e-4
                for state in states.values():
                    np.testing.assert_allclose(state, want, rtol=0, atol=atol,
                                               err_msg=f"{family} {n} {tag}")
                print(f"| {family} | {n} | {tag} | {len(gates)} ({kinds}) | "
                      f"{' | '.join(f'{secs[nm] * 1e6:.0f}' for nm in names)} | "
                      f"{secs[names[-1]] / len(gates) * 1e9:.0f} |", flush=True)


def executor_table(args: argparse.Namespace) -> None:
    """``execute(program, exact engine)`` end to end, median us (whatever tree is imported:
    run with PYTHONPATH on an older tree for its figures)."""
    import vs_peers  # beside this script
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    from qsim_topo.engines import get_engine
    from qsim_topo.qiskit.convert import circuit_to_program
    from qsim_topo.sim.executor import execute

    target = vs_peers.common_target(AerSimulator(method="statevector"))
    engine = get_engine("exact")
    print("\n| family | qubits | dtype | execute us (median) |")
    print("|---|---:|---|---:|")
    for family in args.families:
        for n in args.qubits:
            qc = transpile(vs_peers.build(family, n, 20, 0), target=target,
                           optimization_level=0)
            program = circuit_to_program(qc, "statevector")
            for tag in args.precision:
                dtype = np.complex64 if tag == "c64" else np.complex128
                ts = [timed(lambda p=program, d=dtype: execute(p, engine, dtype=d))
                      for _ in range(args.repeats + 1)][1:]
                print(f"| {family} | {n} | {tag} | {statistics.median(ts) * 1e6:.0f} |",
                      flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[10, 12])
    parser.add_argument("--precision", choices=["c64", "c128"], nargs="+",
                        default=["c128", "c64"])
    parser.add_argument("--families", nargs="+", default=["random", "qft", "qv", "brickwork"])
    parser.add_argument("--gates", type=int, default=60, help="gates per timed sequence")
    parser.add_argument("--repeats", type=int, default=41, help="timed runs each; median")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", help="a copy of an earlier _numba_sequence.py to A/B")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES),
                        metavar="CASE", help=f"gate cases, of: {', '.join(CASES)}")
    parser.add_argument("--skip-gates", action="store_true")
    parser.add_argument("--skip-families", action="store_true")
    parser.add_argument("--executor", action="store_true",
                        help="also time the executor end to end (the imported tree's)")
    args = parser.parse_args(argv)
    if not numba_available():
        raise SystemExit("needs numba")
    from fma_peak import peak_cmac_per_s  # beside this script

    from qsim_topo.sim._numba_sequence import apply_sequence

    print(f"# python benchmarks/small_kernel.py {' '.join(sys.argv[1:])}")
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    kernels = {}
    if args.baseline:
        kernels["before"] = load_kernel(args.baseline)
    kernels["now"] = apply_sequence
    with thread_limit(1):
        peak = {"c128": peak_cmac_per_s(np.float64, threads=1),
                "c64": peak_cmac_per_s(np.float32, threads=1)}
        print(f"# single-thread L1 cmac peak (fma_peak.py): c128 {peak['c128'] / 1e9:.2f} G/s, "
              f"c64 {peak['c64'] / 1e9:.2f} G/s")
        if not args.skip_gates:
            gate_table(args, kernels, peak)
        if not args.skip_families:
            family_table(args, kernels)
    if args.executor:
        executor_table(args)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
