"""Before/after of the shot sampler in one process: this tree against an earlier commit.

Target (issue 23): 10^6 shots of all qubits of a 26-qubit state in at most the time of one
pass over the state. The earlier commit's `qsim_topo/sim/measure.py` and its compiled
kernels (`_numba_measure.py`) are read with `git show` into a temporary folder and imported
under other names, so both samplers run on the same state, alternating, in one process
(the rest of the package is this tree's). Each row: the median and the minimum over
--repeats of `sample_outcomes` on all qubits of a random state (Gaussian amplitudes,
normalised in float64), and of one numpy `state *= phase` sweep (the "pass") between them;
then the ratios to the pass. With --counts, the same for the Qiskit result's counts
dictionary of the draws (`collections.Counter` over Python ints and `hex`, the code before
this session, against `qsim_topo.qiskit.results._counts_and_memory`). Milliseconds.

    python benchmarks/sampling_ab.py --before 7aa8c47 --qubits 24 26 --repeats 7 --counts
    python benchmarks/sampling_ab.py --before 7aa8c47 --qubits 26 --threads 1
    python benchmarks/sampling_ab.py --before 9cc9e5f --qubits 24 26 --parts after

With --parts before|after, where that sampler spends its time instead of the A/B: the pass;
"read", the memory floor (a parallel numba sum of |a|^2 over the state, reassociation allowed:
a read of the state at the best the compiler does); the walk (`poisson_walk` with the
sampler's chunks and budgets) without points and with the ~10^6 points; the exponential
spacings (`rng.standard_exponential`); the shuffle of the pool (the compiled `shuffle`
against numpy's `rng.shuffle`, the code before); and `sample_outcomes` in all.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from vs_peers import environment

from qsim_topo.sim import measure as after

ROOT = Path(__file__).resolve().parent.parent


def load_before(rev: str, folder: Path) -> Any:
    """The measure module of ``rev`` with that commit's own kernels."""
    mods = {}
    for name in ("_numba_measure", "measure"):
        text = subprocess.run(
            ["git", "show", f"{rev}:qsim_topo/sim/{name}.py"], cwd=ROOT, check=True,
            capture_output=True, text=True,
        ).stdout
        path = folder / f"before{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(f"before{name}", path)
        assert spec is not None and spec.loader is not None
        mods[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mods[name])
    mods["measure"]._numba = lambda: mods["_numba_measure"]
    return mods["measure"]


def random_state(n: int, dtype: Any, seed: int) -> np.ndarray:
    gen = np.random.default_rng(seed)
    psi = np.empty(2**n, dtype=dtype)
    step = 2**20
    norm = 0.0
    for s in range(0, psi.size, step):
        part = gen.standard_normal(min(step, psi.size - s)) + 1j * gen.standard_normal(
            min(step, psi.size - s))
        psi[s : s + part.size] = part
        norm += float(np.sum(np.abs(part) ** 2))
    psi /= np.sqrt(norm)
    return psi


def counts_before(values: list[int]) -> dict[str, int]:
    return {hex(v): c for v, c in Counter(values).items()}


def alternate(fns: dict[str, Any], repeats: int) -> dict[str, list[float]]:
    """Milliseconds of each function, the functions run in turn, ``repeats`` rounds."""
    times: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(1e3 * (time.perf_counter() - start))
    return times


def row(before: Any, n: int, dtype: Any, shots: int, repeats: int, counts: bool) -> str:
    from qsim_topo.qiskit.results import _counts_and_memory

    psi = random_state(n, dtype, n)
    qs = list(range(n))
    phase = dtype(np.exp(0.1j))
    for mod in (before, after):
        mod.sample_outcomes(psi, qs, n, 10, np.random.default_rng(0))  # compile
    seeds = iter(range(10**6))
    t = alternate({
        "pass": lambda: psi.__imul__(phase),
        "before": lambda: before.sample_outcomes(
            psi, qs, n, shots, np.random.default_rng(next(seeds))),
        "after": lambda: after.sample_outcomes(
            psi, qs, n, shots, np.random.default_rng(next(seeds))),
    }, repeats)
    cb = ca = ""
    if counts:
        values = after.sample_outcomes(psi, qs, n, shots, np.random.default_rng(0)).tolist()
        tc = alternate({
            "before": lambda: counts_before(values),
            "after": lambda: _counts_and_memory(values, n, memory=False),
        }, repeats)
        cb = f"{statistics.median(tc['before']):.0f} / {min(tc['before']):.0f}"
        ca = f"{statistics.median(tc['after']):.0f} / {min(tc['after']):.0f}"
    med = {k: statistics.median(v) for k, v in t.items()}
    low = {k: min(v) for k, v in t.items()}
    cell = {k: f"{med[k]:.1f} / {low[k]:.1f}" for k in t}
    precision = "double" if dtype == np.complex128 else "single"
    return (f"| {n} | {precision} | {cell['pass']} | {cell['before']} | {cell['after']} | "
            f"{med['before'] / med['pass']:.1f} / {low['before'] / low['pass']:.1f} | "
            f"{med['after'] / med['pass']:.1f} / {low['after'] / low['pass']:.1f} | "
            f"{cb} | {ca} |")


def _read() -> Any:
    """The memory floor: a parallel sum of the squares of the state's floats (compiled)."""
    from numba import njit, prange

    @njit(parallel=True, fastmath={"reassoc"})
    def read(x: Any, blocks: int) -> float:  # pragma: no cover - compiled
        per = x.size // blocks
        sums = np.zeros(blocks)
        for b in prange(blocks):
            y = x[b * per : (b + 1) * per]
            s = 0.0
            for k in range(y.size):
                a = np.float64(y[k])
                s += a * a
            sums[b] = s
        return sums.sum()

    return read


def parts(mod: Any, n: int, dtype: Any, shots: int, repeats: int) -> str:
    """One row of --parts: milliseconds (median / min) of each part of ``mod``'s sampler
    (its own walk; "shuffle" is its compiled shuffle where it has one)."""
    import math

    read = _read()
    psi = random_state(n, dtype, n)
    x = mod._real_view(np, psi)
    size = psi.size
    qs = list(range(n))
    kernels = mod._numba()
    chunk = min(size, mod.CHUNK_AMPLITUDES, max(2**10, size >> 6))
    chunks = -(-size // chunk)
    lam = (shots + 5.0 * math.sqrt(shots) + 10.0) / (1.0 - mod.NORM_BELOW)
    budgets = mod._budgets(lam * mod._chunk_shares(x, size, chunk, chunks))
    hi = np.cumsum(budgets)
    lo = hi - budgets
    rng = np.random.default_rng(1)
    spacings = rng.standard_exponential(int(hi[-1]))
    out = np.empty(spacings.size, dtype=np.int64)
    used = np.zeros(chunks, dtype=np.int64)

    def walk(stop: np.ndarray) -> None:
        kernels.poisson_walk(
            x, chunk, np.ones(chunks, dtype=bool), np.arange(chunks, dtype=np.int64) * chunk,
            np.zeros(chunks), np.zeros(chunks), spacings, 1.0 / lam, lo, stop,
            np.zeros(chunks, dtype=bool), out, used, np.empty(chunks),
            np.empty(chunks, dtype=np.int64), np.empty(chunks), np.empty(chunks),
        )

    walk(hi)
    pool = np.concatenate([out[a : a + u] for a, u in zip(lo.tolist(), used.tolist(), strict=True)])
    key = np.array([1, 2], dtype=np.uint64)
    shuffled = np.empty_like(pool)
    read(x, 64)
    mod.sample_outcomes(psi, qs, n, 10, rng)
    phase = dtype(np.exp(0.1j))
    fns = {
        "pass": lambda: psi.__imul__(phase),
        "read": lambda: read(x, 64),
        "walk, no points": lambda: walk(lo),
        "walk": lambda: walk(hi),
        "exponentials": lambda: rng.standard_exponential(int(hi[-1])),
        "shuffle": lambda: kernels.shuffle(pool, key, shuffled),
        "numpy shuffle": lambda: rng.shuffle(pool),
        "sample_outcomes": lambda: mod.sample_outcomes(psi, qs, n, shots, rng),
    }
    if not hasattr(kernels, "shuffle"):
        del fns["shuffle"]
    t = alternate(fns, repeats)
    precision = "double" if dtype == np.complex128 else "single"
    cells = " | ".join(
        f"{statistics.median(t[k]):.1f} / {min(t[k]):.1f}" if k in t else "-" for k in
        ("pass", "read", "walk, no points", "walk", "exponentials", "shuffle", "numpy shuffle",
         "sample_outcomes")
    )
    return f"| {n} | {precision} | {pool.size} | {cells} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit to compare against")
    parser.add_argument("--qubits", type=int, nargs="+", default=[24, 26])
    parser.add_argument("--precisions", nargs="+", default=["double", "single"],
                        choices=["double", "single"])
    parser.add_argument("--shots", type=int, default=10**6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="numba threads")
    parser.add_argument("--counts", action="store_true", help="also time the counts dict")
    parser.add_argument("--parts", choices=["before", "after"], default=None,
                        help="where that sampler spends its time, instead of the A/B")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    print(environment(argv).replace("vs_peers.py", "sampling_ab.py"))
    if args.threads:
        import numba

        numba.set_num_threads(args.threads)
    if args.parts:
        import numba

        print(f"# parts of the sampler {args.parts}; shots {args.shots}, all qubits, numba "
              f"threads {numba.get_num_threads()}; median / min of {args.repeats}, ms\n")
        print("| qubits | precision | points | pass | read | walk, no points | walk | "
              "exponentials | shuffle | numpy shuffle | sample_outcomes |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        with tempfile.TemporaryDirectory() as tmp:  # the before module's files live in it
            mod = load_before(args.before, Path(tmp)) if args.parts == "before" else after
            for n in args.qubits:
                for precision in args.precisions:
                    dtype = np.complex128 if precision == "double" else np.complex64
                    print(parts(mod, n, dtype, args.shots, args.repeats), flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        before = load_before(args.before, Path(tmp))
        print(f"# shots {args.shots}, all qubits; median / min of {args.repeats}, ms\n")
        print("| qubits | precision | pass | before | after | before / pass | after / pass "
              "| counts before | counts after |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for n in args.qubits:
            for precision in args.precisions:
                dtype = np.complex128 if precision == "double" else np.complex64
                print(row(before, n, dtype, args.shots, args.repeats, args.counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
