"""``qsim-topo sweep`` and ``qsim-topo report``: argument parsing and printing only."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qsim_topo.cli.args import directory_path, int_list
from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.fit import fit_rows
from qsim_topo.experiments.fit_report import format_fits
from qsim_topo.experiments.limits import DEFAULT_TIME_LIMIT
from qsim_topo.experiments.state_chain import STATE_KINDS, circuit_width
from qsim_topo.experiments.store import RESULTS_FILE, ResultStore, dumps_json
from qsim_topo.experiments.summary import format_summary, summarize, write_csv
from qsim_topo.experiments.sweep import (
    DEFAULT_DEPTHS,
    DEFAULT_ENGINES,
    DEFAULT_QUBITS,
    DEFAULT_SEEDS,
    EXECUTORS,
    SWEEP_MODES,
    SweepSpec,
    progress_printer,
    run_sweep,
)
from qsim_topo.layers import LAYER_KINDS

__all__ = ["add_parsers", "run_report", "run_sweep_command"]

SUMMARY_CSV = "summary.csv"
#: --kind's choices: the layer stack's kinds and the state mode's families.
KIND_CHOICES = tuple(dict.fromkeys((*LAYER_KINDS, *(k for k in STATE_KINDS if k != "circuit"))))


def _csv(values: tuple[Any, ...]) -> str:
    return ",".join(str(v) for v in values)


def add_parsers(sub: Any) -> None:
    """Add the ``sweep`` and ``report`` subcommands to ``sub`` (an argparse subparsers)."""
    p = sub.add_parser(
        "sweep",
        help="run a fidelity-vs-depth sweep into a resumable result store",
        description=(
            "Run the grid qubits x kinds x engines x seeds x depths of layer-stack "
            "experiments (modes dense, gate), or, with --mode state, of circuit families' "
            "states (kinds rcs, brickwork, brickwork2d, qv, or --circuit FILE.qasm) against "
            "the exact state, one engine product per gate. Each finished experiment is stored "
            "at once in OUT/results.jsonl; "
            "re-running the same command resumes. Ends with the summary, "
            "OUT/summary.csv and PNG plots."
        ),
    )
    p.add_argument(
        "--out", required=True, type=directory_path, help="result directory (created)"
    )
    p.add_argument(
        "--qubits",
        type=int_list,
        default=None,
        help=f"comma-separated qubit counts (default {_csv(DEFAULT_QUBITS)}; with --circuit: "
        "the file's width)",
    )
    p.add_argument(
        "--depth",
        type=int_list,
        default=list(DEFAULT_DEPTHS),
        help=f"comma-separated depths (default {_csv(DEFAULT_DEPTHS)})",
    )
    p.add_argument(
        "--kind",
        action="append",
        choices=KIND_CHOICES,
        default=None,
        help="layer kind (modes dense, gate: dense, brickwork) or circuit family (mode state: "
        "rcs, brickwork, brickwork2d, qv), repeatable (default dense; rcs in mode state)",
    )
    p.add_argument(
        "--mode",
        choices=SWEEP_MODES,
        default=None,
        help="dense or gate products of a layer stack (default: dense for dense, gate for "
        "brickwork), or state: a circuit family's state, measured at every depth",
    )
    p.add_argument(
        "--circuit",
        type=Path,
        default=None,
        metavar="FILE.qasm",
        help="mode state: the unitary gates of this OpenQASM file are one cycle, repeated",
    )
    p.add_argument(
        "--engine",
        action="append",
        default=None,
        metavar="NAME[:k=v,...]",
        help=f"engine spec, repeatable (default: {' '.join(DEFAULT_ENGINES)})",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help=f"number of seeds per configuration (default {DEFAULT_SEEDS})",
    )
    p.add_argument("--first-seed", type=int, default=0, help="seeds are FIRST..FIRST+SEEDS-1")
    p.add_argument("--samples", type=int, default=1000, help="bitstrings for XEB")
    p.add_argument("--haar-states", type=int, default=16, help="inputs of the Haar fidelity")
    p.add_argument("--device", choices=("cpu", "gpu", "auto"), default="cpu")
    p.add_argument("--precision", choices=("double", "single"), default="double")
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local process pool (default), serial, or dask",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="processes / dask workers (default: CPU cores)"
    )
    p.add_argument(
        "--scheduler", default=None, help="dask scheduler address (default: start a LocalCluster)"
    )
    p.add_argument(
        "--force", action="store_true", help="accept an OUT that holds another sweep configuration"
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="re-run failed and timed-out experiments"
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=DEFAULT_TIME_LIMIT,
        metavar="SECONDS",
        help="seconds one experiment (a chain's next depth) may take before its worker is "
        f"stopped and it is stored as timed out (default {DEFAULT_TIME_LIMIT:g}; 0: no limit; "
        "enforced by the local executor)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")

    r = sub.add_parser(
        "report",
        help="summarise a sweep directory: table, CSV and PNG plots",
        description="Mean and 95%% CI over seeds per configuration, CSV and plots.",
    )
    r.add_argument("dir", type=Path, help="a sweep's --out directory")
    r.add_argument(
        "--raw",
        action="store_true",
        help="print every stored experiment as one JSON object per line",
    )
    r.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Print each warning (a damaged row: file and line) as one line on stderr."""

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        print(f"qsim-topo: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


def _read_rows(store: ResultStore) -> tuple[list[dict[str, Any]], int]:
    """The store's whole sweep rows and how many damaged or foreign rows were skipped."""
    with _one_line_warnings():
        rows = store.rows(complete=True)
    return rows, len(store.skipped)


def _write_report(
    directory: Path, rows: list[dict[str, Any]], plots: bool, skipped: int = 0
) -> int:
    summary = summarize(rows)
    if skipped:
        print(
            f"{skipped} damaged or foreign rows of {directory / RESULTS_FILE} skipped (warnings "
            "above name each line)"
        )
    print(format_summary(summary))
    if not summary:
        return 0
    print()
    print(format_fits(fit_rows(rows)))  # fits only: `qsim-topo fit DIR` also validates
    write_csv(summary, directory / SUMMARY_CSV)
    written = [str(directory / SUMMARY_CSV)]
    if plots:
        from qsim_topo.experiments.plots import write_plots

        try:
            written += [str(p) for p in write_plots(summary, directory)]
        except QsimTopoError as exc:
            print(f"qsim-topo: note: {exc}", file=sys.stderr)
    print("wrote " + ", ".join(written))
    return 0


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run ``qsim-topo sweep``; exit code 0, 1 if any experiment failed, 130 if interrupted."""
    if args.seeds < 1 or args.first_seed < 0:
        raise QsimTopoError(
            f"--seeds must be at least 1 and --first-seed non-negative, got {args.seeds} and "
            f"{args.first_seed}"
        )
    mode = args.mode or ("state" if args.circuit is not None else None)
    if args.circuit is not None:
        if args.kind:
            raise QsimTopoError(f"--circuit {args.circuit} takes no --kind, got {args.kind}")
        kinds = ["circuit"]
    else:
        kinds = args.kind or ["rcs" if mode == "state" else "dense"]
    qubits = args.qubits
    if qubits is None:
        qubits = list(DEFAULT_QUBITS) if args.circuit is None else [circuit_width(args.circuit)]
    spec = SweepSpec(
        qubits=tuple(qubits),
        depths=tuple(args.depth),
        kinds=tuple(kinds),
        engines=tuple(args.engine or DEFAULT_ENGINES),
        seeds=tuple(range(args.first_seed, args.first_seed + args.seeds)),
        samples=args.samples,
        haar_states=args.haar_states,
        device=args.device,
        precision=args.precision,
        mode=mode,
        circuit=None if args.circuit is None else str(args.circuit),
    )

    def announce(to_run: int, stored: int) -> None:
        print(
            f"sweep: {spec.experiments()} experiments ({len(spec.qubits)} qubit counts x "
            f"{len(spec.kinds)} kinds x {len(spec.engines)} engines x {len(spec.seeds)} seeds x "
            f"{len(spec.depths)} depths) into {args.out}: {stored} stored, {to_run} to run",
            file=sys.stderr,
        )

    try:
        with _one_line_warnings():
            outcome = run_sweep(
                spec,
                args.out,
                force=args.force,
                retry_failed=args.retry_failed,
                executor=args.executor,
                workers=args.workers,
                scheduler=args.scheduler,
                progress=progress_printer(),
                on_start=announce,
                time_limit=args.time_limit or None,
            )
    except KeyboardInterrupt:
        print(
            f"interrupted: finished experiments are stored in {args.out}; run the same "
            "command again to resume",
            file=sys.stderr,
        )
        return 130
    print(
        f"sweep: {outcome.written} experiments run ({outcome.failed} failed, "
        f"{outcome.timed_out} of them timed out), "
        f"{outcome.skipped} already stored, {outcome.seconds:.1f} s",
        file=sys.stderr,
    )
    for err in outcome.errors:
        print(f"failed: {err}", file=sys.stderr)
    rows, skipped = _read_rows(ResultStore(args.out))
    _write_report(args.out, rows, not args.no_plots, skipped)
    return 1 if outcome.failed else 0


def run_report(args: argparse.Namespace) -> int:
    """Run ``qsim-topo report``."""
    store = ResultStore(args.dir) if args.dir.is_dir() else None
    if store is None or not store.results_path.exists():
        raise QsimTopoError(f"{args.dir} holds no sweep results ({args.dir}/results.jsonl)")
    if args.raw:  # every readable row, sweep row or not
        with _one_line_warnings():
            raw = store.rows()
        for row in raw:
            print(dumps_json(row, default=str))
        return 0
    rows, skipped = _read_rows(store)
    return _write_report(args.dir, rows, not args.no_plots, skipped)
