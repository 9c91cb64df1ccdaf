"""``qsim-topo fit DIR``: noise-equivalence fits of a sweep's store; parsing and printing only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.fit import FIT_METRICS, fit_rows
from qsim_topo.experiments.fit_report import fits_to_json, format_fits
from qsim_topo.experiments.noise import MAX_QUBITS, validate_fits
from qsim_topo.experiments.store import ResultStore, dumps_json

__all__ = ["add_parser", "run"]

FIT_PLOT = "noise_fit.png"


def add_parser(sub: Any) -> None:
    """Add the ``fit`` subcommand to ``sub`` (an argparse subparsers)."""
    p = sub.add_parser(
        "fit",
        help="fit a depolarizing error per layer to a sweep's fidelity decay, and validate it",
        description=(
            "For each engine and configuration of a sweep directory, fit F(D) = A alpha^D + "
            "floor to each metric that carries it (|0...0> and Haar-input fidelity, process "
            "fidelity, normalised XEB) with 95%% intervals over seeds; check a coherent "
            "(D^2) model and flag metrics that disagree; simulate the fitted depolarizing "
            f"noise on the same circuits (density matrices, up to {MAX_QUBITS} qubits) and say "
            "'behaves like p%% depolarizing error per layer' only when it reproduces the "
            "engine's fidelity, XEB and output distribution."
        ),
    )
    p.add_argument("dir", type=Path, help="a sweep's --out directory")
    p.add_argument(
        "--metric",
        action="append",
        choices=FIT_METRICS,
        default=None,
        help="metric to fit, repeatable (default: all the rows carry)",
    )
    p.add_argument(
        "--no-validate", action="store_true", help="fit only; skip the simulation of the model"
    )
    p.add_argument(
        "--max-qubits",
        type=int,
        default=8,
        help=f"validate configurations up to this many qubits (default 8, at most {MAX_QUBITS})",
    )
    p.add_argument("--json", action="store_true", help="print the fits as one JSON list")
    p.add_argument(
        "--plot",
        action="store_true",
        help=f"write DIR/{FIT_PLOT} (F vs D, fitted curves); needs matplotlib",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``qsim-topo fit``."""
    store = ResultStore(args.dir) if args.dir.is_dir() else None
    if store is None or not store.results_path.exists():
        raise QsimTopoError(f"{args.dir} holds no sweep results ({args.dir}/results.jsonl)")
    if not 1 <= args.max_qubits <= MAX_QUBITS:
        raise QsimTopoError(
            f"--max-qubits must be between 1 and {MAX_QUBITS}, got {args.max_qubits}"
        )
    fits = fit_rows(store.rows(complete=True), tuple(args.metric or FIT_METRICS))
    if not args.no_validate:
        validate_fits(fits, max_qubits=args.max_qubits)
    if args.json:
        print(dumps_json(fits_to_json(fits)))
    else:
        print(format_fits(fits))
    if args.plot and fits:
        from qsim_topo.experiments.fit_plot import write_fit_plot

        try:
            path = write_fit_plot(fits, args.dir / FIT_PLOT)
        except QsimTopoError as exc:
            print(f"qsim-topo: note: {exc}", file=sys.stderr)
        else:
            print(f"wrote {path}", file=sys.stderr)
    return 0
