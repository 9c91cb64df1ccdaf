"""The published "Topology MatMul" quantum tables beside what we measure, with diagnostics.

Published figures (Haar-random dense unitaries, 10/11/12 qubits, 8-16 sequential products):
  (a) state fidelity 1.000000 at ratio 0.5, 0.3, 0.2 for 10, 11, 12 qubits;
  (b) 8 products (32 real matmul calls): Frobenius error 109.82% at ratio 0.5 and 123.21% at
      0.3, fidelity 1.000000;
  (c) Frobenius error 13.9%, 81.5%, 111.0%, 110.2% at depth 1, 4, 8, 16, fidelity 1.000000;
  (d) XEB at ratio 0.2: 1.043 (10 qubits), 0.938 (11), 0.995 (12).
The posts do not say which qubit count (b) and (c) used, nor the ratio of (c): we show 10 and
11 qubits, and ratio 0.5 for (c), and say so.

We run our reconstruction of the described method (`topology`, rows and columns variants; the
original code is unpublished) and `cr-sampling` at the same budgets, through the resumable
sweep store (rerun the same command to resume), and print each published figure beside ours
with the diagnostics that tell an honest result from an artifact: aligned Frobenius error,
Haar-input fidelity, norm, and the ideal-sampler XEB band. Nothing is tuned toward the
published numbers.

    python benchmarks/published_claims.py --out results/claims              # 10, 11 qubits
    python benchmarks/published_claims.py --out results/claims --qubits 10,11,12   # full
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qsim_topo.experiments.store import ResultStore
from qsim_topo.experiments.summary import summarize
from qsim_topo.experiments.sweep import SweepSpec, progress_printer, run_sweep

RATIOS = (0.5, 0.3, 0.2)
DEPTHS = (1, 4, 8, 16)
VARIANTS = {
    "topology rows": "topology:axis=0,ratio={r}",
    "topology cols": "topology:axis=1,ratio={r}",
    "cr-sampling": "cr-sampling:ratio={r}",
}


def _spec_name(template: str, ratio: float) -> str:
    from qsim_topo.experiments.sweep import canonical_engine_spec

    return canonical_engine_spec(template.format(r=ratio))


def _cell(summary: list[dict[str, Any]], qubits: int, depth: int, engine: str) -> dict | None:
    for e in summary:
        if e["qubits"] == qubits and e["depth"] == depth and e["engine_spec"] == engine:
            return e if e["n_seeds"] else None
    return None


def _ours(e: dict[str, Any] | None, what: str) -> str:
    if e is None:
        return "not run"
    if what == "fidelity":
        main = f"F={e['state_fidelity_mean']:.6f}"
    elif what == "frobenius":
        main = f"Frob={100 * e['frobenius_error_mean']:.2f}%"
    else:
        main = f"XEB={e['xeb_mean']:.3f}"
    band = f"{e['xeb_ideal_mean_mean']:.3f}±{2 * e['xeb_ideal_std_mean']:.3f}"
    vanished = ""
    if e.get("n_zero_state") or e.get("n_nonfinite_state"):
        vanished = (
            f" ({e['n_zero_state']} zero, {e['n_nonfinite_state']} non-finite of "
            f"{e['n_seeds']} seeds)"
        )
    return (
        f"{main} | aligned {100 * e['aligned_frobenius_error_mean']:.2f}% | "
        f"F_haar={e['haar_input_fidelity_mean']:.4f} | F_pro={e['process_fidelity_mean']:.4g} | "
        f"norm={e['norm_mean']:.3g} [{e['norm_min']:.3g}, {e['norm_max']:.3g}]{vanished} | "
        f"XEB={e['xeb_mean']:.3f} (ideal {band}) | flops {e['flops_fraction_mean']:.2f}, "
        f"time/exact {e.get('time_ratio_mean', float('nan')):.2f} | "
        f"{e.get('n_diagnosed', 0)}/{e['n_seeds']} seeds with diagnostics"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/claims", help="sweep store directory")
    parser.add_argument("--qubits", default="10,11", help="comma list (12 takes ~1 h on 2 cores)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    qubits = tuple(int(q) for q in args.qubits.split(","))
    engines = tuple(_spec_name(t, r) for t in VARIANTS.values() for r in RATIOS)
    spec = SweepSpec(
        qubits=qubits,
        depths=DEPTHS,
        engines=engines,
        seeds=tuple(range(args.seeds)),
        samples=args.samples,
    )
    outcome = run_sweep(
        spec, args.out, workers=args.workers, force=True, progress=progress_printer()
    )
    print(
        f"# {outcome.written} experiments run, {outcome.skipped} reused from {args.out}",
        file=sys.stderr,
    )
    summary = summarize(ResultStore(args.out).rows())
    n = args.seeds

    def rows(title: str, cells: list[tuple[str, int, int, float, str]]) -> None:
        print(
            f"\n## {title}  (ours: mean over {n} seeds; depth D = D layers on a Haar-random P_0,"
            " D complex products)"
        )
        for published, q, depth, ratio, what in cells:
            print(f"- {q} qubits, depth {depth}, ratio {ratio}: published {published}")
            for label, template in VARIANTS.items():
                e = _cell(summary, q, depth, _spec_name(template, ratio))
                print(f"    {label:<14} {_ours(e, what)}")

    rows(
        "(a) state fidelity on |0...0>",
        [("F=1.000000", q, 8, r, "fidelity") for q, r in zip((10, 11, 12), RATIOS, strict=True)],
    )
    rows(
        "(b) 8 products: Frobenius error (qubit count unpublished: 10 and 11 shown)",
        [
            (f"Frob={p}, F=1.000000", q, 8, r, "frobenius")
            for q in (10, 11)
            for p, r in (("109.82%", 0.5), ("123.21%", 0.3))
        ],
    )
    rows(
        "(c) Frobenius error vs depth (ratio unpublished: 0.5 shown, 10 qubits)",
        [
            (f"Frob={p}, F=1.000000", 10, d, 0.5, "frobenius")
            for p, d in zip(("13.9%", "81.5%", "111.0%", "110.2%"), DEPTHS, strict=True)
        ],
    )
    rows(
        "(d) linear XEB at ratio 0.2, depth 8",
        [
            (f"XEB={x}", q, 8, 0.2, "xeb")
            for q, x in zip((10, 11, 12), ("1.043", "0.938", "0.995"), strict=True)
        ],
    )
    print(
        "\nReading guide: F=1 with a large raw but small aligned Frobenius error is a global "
        "scale error; F=1 on |0...0> with a low F_haar means only column 0 is right; an XEB "
        "inside the ideal band does not certify fidelity."
    )
    missing = [q for q in (10, 11, 12) if q not in qubits]
    if missing:
        print(f"Not run here: {', '.join(map(str, missing))} qubits (use --qubits).")
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
