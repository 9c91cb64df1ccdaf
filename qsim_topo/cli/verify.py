"""``qsim-topo verify FILE.qasm``: compare an engine with the exact engine on an OpenQASM file.

Thin: parses arguments and prints :func:`qsim_topo.qiskit.verify.verify_qasm`'s report. Qiskit
is imported only inside :func:`run`, so the rest of the CLI works without it; without Qiskit
this command prints one line saying what to install and exits 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from qsim_topo.cli.args import (
    EXIT_FAILURE,
    EXIT_USAGE,
    engine_option,
    error_line,
    format_value,
    positive_int,
)
from qsim_topo.engines.base import parse_engine_spec
from qsim_topo.errors import EngineError, ExperimentTimeoutError, QsimTopoError
from qsim_topo.experiments.limits import call_with_time_limit, check_time_limit
from qsim_topo.experiments.store import dumps_json

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "add_parser", "format_verify_report", "run"]



def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``verify`` subcommand to ``subparsers`` (from ``add_subparsers``); returns it."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="run an OpenQASM 2/3 file exactly and with an engine; report fidelity, TVD, XEB",
        description=(
            "Load FILE (OpenQASM 2, or OpenQASM 3 with qiskit_qasm3_import installed), simulate "
            "it with the exact engine and with the chosen engine, and report the state fidelity "
            "(final measurements removed), the total variation distance and linear XEB of the "
            "measured distribution, the norm of the engine's final state with the norm-drift "
            "diagnostic, the engine's declared flops fraction beside the measured time ratio."
        ),
    )
    p.add_argument("file", metavar="FILE", help="an OpenQASM 2 or 3 file")
    p.add_argument(
        "--engine", default="exact",
        help="engine name, optionally with options as NAME:key=value,... (default exact)",
    )
    p.add_argument(
        "--engine-option", action="append", default=[], type=engine_option, metavar="KEY=VALUE",
        help="an engine option (repeatable); values parse as JSON when they can",
    )
    p.add_argument("--shots", type=positive_int, default=1024, help="samples (default 1024)")
    p.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    p.add_argument("--device", choices=("cpu", "gpu", "auto"), default="cpu")
    p.add_argument("--precision", choices=("double", "single"), default="double",
                   help="complex128 or complex64 states")
    p.add_argument(
        "--time-limit", type=float, default=None, metavar="SECONDS",
        help="run in a child process stopped after SECONDS (then exit 1, 'timed out')",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def format_verify_report(report: Any) -> str:
    """A readable table of a :class:`~qsim_topo.qiskit.verify.VerifyReport`."""
    opts = ",".join(f"{k}={v}" for k, v in report.engine_options.items())
    lines = [
        f"verify {report.path or report.name}: OpenQASM {report.qasm_version}, "
        f"{report.num_qubits} qubits, {report.num_clbits} clbits, {report.size} operations, "
        f"depth {report.depth}",
        f"engine {report.engine}{':' + opts if opts else ''} against exact, "
        f"{report.shots} shots, seed {report.seed}",
        "",
    ]
    infidelity = None if report.state_fidelity is None else 1.0 - report.state_fidelity
    rows = [
        ("state fidelity (final measurements removed)", report.state_fidelity),
        ("  1 - state fidelity", infidelity),
        (f"total variation distance ({report.tvd_kind})", report.tvd),
        (f"linear XEB ({report.shots} samples)", report.xeb),
        ("  ideal sampler: mean", report.xeb_ideal_mean),
        ("  ideal sampler: std", report.xeb_ideal_std),
        ("norm of the engine's final state", report.norm),
        ("flops fraction (engine-declared)", report.flops_fraction),
        ("matmul calls", report.matmul_calls),
        ("wall time, engine (s)", report.engine_time_s),
        ("wall time, exact (s)", report.exact_time_s),
        ("time ratio, engine / exact (measured)", report.time_ratio),
    ]
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {format_value(v)}" for k, v in rows]
    lines += [f"note: {n}" for n in report.notes]
    lines += [f"WARNING: {d}" for d in report.diagnostics]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Execute ``verify`` with parsed ``args``; returns the exit code (2 on a user error)."""
    if importlib.util.find_spec("qiskit") is None:
        print(
            "qsim-topo: error: verify needs Qiskit: pip install 'qsim_topo[qiskit]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from qsim_topo.qiskit.verify import verify_qasm

    try:
        name, options = parse_engine_spec(args.engine)
        options.update(dict(args.engine_option))
        limit = check_time_limit(args.time_limit, "--time-limit")
        kwargs = dict(
            path=args.file,
            engine=name,
            engine_options=options,
            shots=args.shots,
            seed=args.seed,
            device=args.device,
            precision=args.precision,
        )
        if limit is None:
            report = verify_qasm(**kwargs)
        else:  # in a child process, killed at the limit even if the engine never returns
            report = call_with_time_limit(verify_qasm, kwargs, limit, f"verify {args.file}")
    except QsimTopoError as exc:  # Qiskit's errors arrive wrapped as QsimTopoErrors
        # The first line only: Qiskit's parser messages go on with context lines.
        print(error_line(str(exc).split("\n")[0] or type(exc).__name__), file=sys.stderr)
        # An engine's fault (also when a Qiskit error carries it) or a time-out: exit 1.
        failed = (EngineError, ExperimentTimeoutError)
        if isinstance(exc, failed) or isinstance(exc.__cause__, failed):
            return EXIT_FAILURE
        return EXIT_USAGE
    if args.json:
        print(dumps_json(report.to_dict()))
    else:
        print(format_verify_report(report))
    return 0
