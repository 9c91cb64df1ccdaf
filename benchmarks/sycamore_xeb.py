"""Sycamore-style circuits through the engines, beside Sycamore's published errors (issue 20.4).

Runs RCS circuits (:func:`qsim_topo.families.make_family` kind ``rcs``: sqrt(X)/sqrt(Y)/sqrt(W)
layers and fSim(pi/2, pi/6) on the ABCDCDAB coupler patterns of Arute et al.) through the
state-mode chain (:mod:`qsim_topo.experiments.state_chain`: exact complex128 reference, one
engine product per gate, complex64 engine state) at every cycle m = 1..M, and prints per
engine the state fidelity and the XEB normalised by the ideal sampler's, beside the fidelity
Sycamore's published error rates predict for the same circuit.

The published figures (named, never fitted or tuned to):

* Arute et al., "Quantum supremacy using a programmable superconducting processor", Nature
  574, 505-510 (2019), Fig. 2 (the table of average Pauli errors, simultaneous operation):
  single-qubit gates e1 = 0.16%, two-qubit gates e2 = 0.62%, readout er = 3.8%.
* The same paper's digital error model (its Fig. 4 "prediction" curves): the XEB fidelity of
  a circuit is the product of (1 - e) over its gates and readouts,
  F(m) = (1 - e1)^(n1(m)) (1 - e2)^(n2(m)) (1 - er)^n, n1, n2 this circuit's gate counts.
* The headline: 53 qubits, m = 20 cycles, F_XEB = 0.224% (Fig. 4b), quoted for scale.

Our engines make deterministic or random *product* errors, not Pauli noise: the comparison says
how many cycles each engine's arithmetic lasts against how long the hardware's noise does, not
that they are the same kind of error.

    python benchmarks/sycamore_xeb.py --qubits 16 --cycles 20 --seeds 2 \\
        --plot benchmarks/sycamore_xeb.png
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.state_chain import StateChainConfig, iter_state_chain
from qsim_topo.families import make_family

#: Arute et al. 2019, Fig. 2, simultaneous operation (Pauli errors).
E1, E2, ER = 0.0016, 0.0062, 0.038
HEADLINE = "53 qubits, m = 20: F_XEB = 0.224% (Arute et al. 2019, Fig. 4b)"
DEFAULT_ENGINES = ("exact", "bf16", "fp16", "cr-sampling:ratio=0.9", "topology:ratio=0.5")


def sycamore_model(n: int, m: int, seed: int, *, readout: bool = True) -> float:
    """The digital error model's fidelity of our depth-m RCS circuit with Sycamore's errors.

    Without ``readout`` the gates' part alone (what an engine's arithmetic compares with: it
    has no readout); with it, times (1 - er)^n, the XEB fidelity the hardware would show.
    """
    counts = make_family("rcs", n, seed).gate_counts(m)
    gates = (1 - E1) ** counts["1q"] * (1 - E2) ** counts["2q"]
    return float(gates * ((1 - ER) ** n if readout else 1.0))


def parse_engine(spec: str) -> tuple[str, dict[str, Any]]:
    """``name:k=v,...`` into a name and options (values as JSON, else strings)."""
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return name, options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qubits", default="16")
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--engine", action="append", default=None)
    ap.add_argument("--plot", default=None, help="write a PNG of fidelity and XEB vs cycles")
    ap.add_argument("--json", default=None, help="write every row as JSON")
    args = ap.parse_args()
    engines = args.engine or list(DEFAULT_ENGINES)
    depths = list(range(1, args.cycles + 1))
    results: dict[tuple[int, str], dict[int, list[tuple[float, float]]]] = {}
    rows = []
    for n in (int(q) for q in args.qubits.split(",")):
        for spec in engines:
            name, options = parse_engine(spec)
            per_depth: dict[int, list[tuple[float, float]]] = {d: [] for d in depths}
            start = time.perf_counter()
            for seed in range(args.seeds):
                config = StateChainConfig(
                    n, kind="rcs", engine=name, engine_options=options, seed=seed,
                    samples=args.samples, dtype=np.complex64,
                )  # fmt: skip
                try:
                    for r in iter_state_chain(config, depths):
                        per_depth[r.depth].append((r.state_fidelity, r.xeb_normalized))
                        rows.append({"engine": spec, **r.to_dict()})
                except QsimTopoError as exc:  # e.g. an engine's products overflowed: say so
                    print(f"# {n} qubits, {spec}, seed {seed}: stopped: {exc}", flush=True)
                    for d in depths:
                        if len(per_depth[d]) <= seed:
                            per_depth[d].append((float("nan"), float("nan")))
            results[(n, spec)] = per_depth
            print(f"# {n} qubits, {spec}: {time.perf_counter() - start:.0f} s", flush=True)
    print(
        f"\nSycamore (Arute et al. 2019, Fig. 2, simultaneous): e1 = {E1:.2%}, e2 = {E2:.2%}, "
        f"er = {ER:.1%}; digital error model F = prod(1 - e). For scale: {HEADLINE}."
    )
    print("Mean over seeds; F = state fidelity, XEB/ideal = linear XEB / the exact state's own.")
    for n in sorted({k[0] for k in results}):
        specs = [s for (q, s) in results if q == n]
        print(f"\n{n} qubits")
        print(
            "| m | Sycamore gates F | Sycamore F_XEB (with readout) | "
            + " | ".join(f"{s} F, XEB/ideal" for s in specs)
            + " |"
        )
        print("|---:|---:|---:|" + "---:|" * len(specs))
        for d in depths:
            gates = np.mean([sycamore_model(n, d, s, readout=False) for s in range(args.seeds)])
            model = np.mean([sycamore_model(n, d, s) for s in range(args.seeds)])
            cells = []
            for s in specs:
                f, x = np.mean(np.array(results[(n, s)][d]), axis=0)
                cells.append(f"{f:.4f}, {x:.3f}")
            print(f"| {d} | {gates:.4f} | {model:.4f} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, default=str)
    if args.plot:
        plot(results, depths, args.seeds, args.plot)


def plot(results: dict, depths: list[int], seeds: int, path: str) -> None:
    """Fidelity and normalised XEB vs cycles, one panel per qubit count, Sycamore's model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qubits = sorted({k[0] for k in results})
    fig, axes = plt.subplots(2, len(qubits), figsize=(6 * len(qubits), 8), squeeze=False)
    for col, n in enumerate(qubits):
        top, bottom = axes[0][col], axes[1][col]
        for readout, style in ((False, "k--"), (True, "k:")):
            model = [
                np.mean([sycamore_model(n, d, s, readout=readout) for s in range(seeds)])
                for d in depths
            ]
            label = "Sycamore model (Arute 2019 Fig. 2 errors)" + (
                ", with readout" if readout else ", gates"
            )
            for ax in (top, bottom):
                ax.plot(depths, model, style, lw=2, label=label)
        for (q, spec), per_depth in results.items():
            if q != n:
                continue
            mean = np.array([np.mean(np.array(per_depth[d]), axis=0) for d in depths])
            top.plot(depths, np.clip(mean[:, 0], 1e-6, None), "o-", ms=3, label=spec)
            bottom.plot(depths, mean[:, 1], "o-", ms=3, label=spec)
        top.set_yscale("log")
        top.set_title(f"{n} qubits, RCS: state fidelity")
        bottom.set_title(f"{n} qubits, RCS: linear XEB / ideal sampler's")
        bottom.axhline(0, color="0.5", lw=0.8)
        for ax in (top, bottom):
            ax.set_xlabel("cycles m")
            ax.grid(True, alpha=0.3)
        top.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
