"""The ``qsim-topo`` command: parse arguments, call library functions, print.

Errors a user can cause (bad arguments, unknown engine, bad option, an input file that cannot
be read or loaded, a size that does not fit in memory, work refused by its time estimate) print
one line ``qsim-topo: error: ...`` on stderr and exit with code 2, before any large
allocation. An engine that fails (raises, breaks its contract:
:class:`~qsim_topo.errors.EngineError`) or an experiment that runs past its time limit
(:class:`~qsim_topo.errors.ExperimentTimeoutError`) prints one line naming the engine and the
call, and exits with code 1 (``EXIT_FAILURE``). Any other exception is a bug: one line naming
its type and message, a hint to rerun with the global ``--traceback`` flag (which lets every
exception propagate with its traceback), and exit code 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from qsim_topo._version import __version__
from qsim_topo.cli import doctor as _doctor
from qsim_topo.cli import fit as _fit
from qsim_topo.cli import sweep as _sweep
from qsim_topo.cli.args import (
    EXIT_FAILURE,
    EXIT_INTERNAL,
    EXIT_USAGE,
    OneLineParser,
    engine_option,
    error_line,
    format_value,
    positive_int,
)
from qsim_topo.engines.base import (
    available_engines,
    describe_engine,
    parse_engine_spec,
)
from qsim_topo.errors import EngineError, ExperimentTimeoutError, QsimTopoError
from qsim_topo.experiments.layer_stack import (
    MAX_QUBITS,
    MODES,
    LayerStackReport,
    run_layer_stack,
)
from qsim_topo.experiments.limits import (
    DEFAULT_TIME_LIMIT,
    call_with_time_limit,
    check_estimate,
    check_time_limit,
    layer_stack_seconds,
)
from qsim_topo.experiments.store import dumps_json
from qsim_topo.layers import LAYER_KINDS
from qsim_topo.validation import check_int

__all__ = ["build_parser", "main"]



def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``qsim-topo`` with its subcommands."""
    parser = OneLineParser(
        prog="qsim-topo",
        description="Quantum simulation through pluggable exact and approximate matmul engines.",
    )
    parser.add_argument("--version", action="version", version=f"qsim-topo {__version__}")
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="let errors propagate with their Python traceback (for bug reports)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    layers = sub.add_parser(
        "layers",
        help="run the layer-stack experiment and report fidelity, Frobenius error, XEB",
        description=(
            "Accumulate the product of DEPTH random layers with the chosen engine and with the "
            "exact engine, then compare: state fidelity on |0...0> and on Haar-random inputs, "
            "raw and aligned Frobenius error, norm, linear XEB beside the ideal-sampler band."
        ),
    )
    layers.add_argument(
        "--qubits", type=positive_int, required=True, help="n (products are 2^n x 2^n)"
    )
    layers.add_argument("--depth", type=positive_int, required=True, help="number of layers")
    layers.add_argument(
        "--kind", choices=LAYER_KINDS, default="dense", help="layer kind (default dense)"
    )
    layers.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="dense: one product per layer; gate: one per gate (default: dense for dense "
        "layers, gate for brickwork)",
    )
    layers.add_argument(
        "--engine",
        default="exact",
        help="engine name, optionally with options as NAME:key=value,... (default exact)",
    )
    layers.add_argument(
        "--engine-option",
        action="append",
        default=[],
        type=engine_option,
        metavar="KEY=VALUE",
        help="an engine option (repeatable); values parse as JSON when they can",
    )
    layers.add_argument(
        "--seed", type=int, default=0, help="seed of layers and sampling (default 0)"
    )
    layers.add_argument(
        "--samples", type=positive_int, default=1000, help="bitstrings for XEB (default 1000)"
    )
    layers.add_argument(
        "--haar-states",
        type=positive_int,
        default=16,
        help="random input states for the Haar-input fidelity (default 16)",
    )
    layers.add_argument("--device", choices=("cpu", "gpu", "auto"), default="cpu")
    layers.add_argument(
        "--precision",
        choices=("double", "single"),
        default="double",
        help="dtype of the engine's products: complex128 or complex64",
    )
    layers.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="run the experiment in a child process stopped after SECONDS (exit 1, 'timed "
        "out'); the work is refused at once when an optimistic estimate exceeds it (without "
        f"this option: estimates past {DEFAULT_TIME_LIMIT:g} s are refused)",
    )
    layers.add_argument("--json", action="store_true", help="print one JSON object")

    engines = sub.add_parser("engines", help="list the available matmul engines")
    engines.add_argument("--json", action="store_true", help="print a JSON list")

    from qsim_topo.cli import verify as _verify  # imports no qiskit; its run() does, lazily

    _verify.add_parser(sub)
    _sweep.add_parsers(sub)
    _fit.add_parser(sub)
    _doctor.add_parser(sub)
    return parser


def format_report(r: LayerStackReport) -> str:
    """A readable table of a layer-stack report, diagnostics last."""
    opts = ",".join(f"{k}={v}" for k, v in r.engine_options.items())
    lines = [
        f"layer stack: {r.qubits} qubits, depth {r.depth}, {r.kind} layers ({r.mode} mode), "
        f"engine {r.engine}{':' + opts if opts else ''}, seed {r.seed}, {r.device}, {r.dtype}",
        f"convention: {r.convention} (depth D = D layers on a Haar-random P_0; no product by "
        "the identity)",
        "",
    ]
    se = f" (SE {r.haar_input_fidelity_se:.2g})" if math.isfinite(r.haar_input_fidelity_se) else ""
    rows = [
        ("state fidelity on |0...0>", r.state_fidelity),
        ("  1 - state fidelity", f"{1.0 - r.state_fidelity:.3e}"),
        (f"fidelity on {r.haar_states} Haar-random inputs", r.haar_input_fidelity),
        ("  1 - Haar-input fidelity", f"{1.0 - r.haar_input_fidelity:.3e}{se}"),
        ("  implied by F_pro: (d F_pro + 1)/(d + 1)", r.haar_input_fidelity_expected),
        ("raw overlap |<ref|approx>|^2", r.overlap),
        ("norm of the state", r.norm),
        ("Frobenius error (raw)", r.frobenius_error),
        ("Frobenius error (scale/phase aligned)", r.aligned_frobenius_error),
        ("process fidelity", r.process_fidelity),
        ("||P_approx||_F / ||P_exact||_F", r.unitary_norm_ratio),
        (f"linear XEB ({r.samples} samples)", r.xeb),
        ("  ideal sampler: mean", r.xeb_ideal_mean),
        ("  ideal sampler: std", r.xeb_ideal_std),
        ("linear XEB, infinite samples", r.xeb_infinite),
        ("log XEB", r.log_xeb),
        ("total variation distance", r.tvd),
        ("flops fraction (engine-declared)", r.flops_fraction),
        ("time ratio to exact (measured, median/layer)", r.time_ratio),
        ("matmul calls", r.matmul_calls),
        ("wall time, engine (s)", r.wall_time_s),
        ("wall time, exact (s)", r.exact_wall_time_s),
    ]
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {format_value(v)}" for k, v in rows]
    lines.append("")
    if r.diagnostics:
        lines += [f"WARNING: {d}" for d in r.diagnostics]
    else:
        lines.append("no measurement artifact detected")
    return "\n".join(lines)


def _cmd_layers(args: argparse.Namespace) -> int:
    name, options = parse_engine_spec(args.engine)
    options.update(dict(args.engine_option))
    limit = check_time_limit(args.time_limit, "--time-limit")
    # The width before the estimate: 2**qubits of a huge --qubits never finishes. A huge
    # --depth is left to the estimate (it saturates), which says what it would take.
    check_int("qubits", args.qubits, min=1, max=MAX_QUBITS)
    mode = args.mode or ("dense" if args.kind == "dense" else "gate")
    check_estimate(
        layer_stack_seconds(args.qubits, args.depth, args.kind, mode),
        DEFAULT_TIME_LIMIT if limit is None else limit,
        f"a {args.qubits}-qubit layer stack of depth {args.depth} ({mode} mode)",
        "give a larger --time-limit to run it anyway" if limit is None else "",
    )
    kwargs = dict(
        qubits=args.qubits,
        depth=args.depth,
        kind=args.kind,
        mode=args.mode,
        engine=name,
        engine_options=options,
        seed=args.seed,
        samples=args.samples,
        haar_states=args.haar_states,
        device=args.device,
        dtype="complex128" if args.precision == "double" else "complex64",
    )
    if limit is None:
        report = run_layer_stack(**kwargs)
    else:  # in a child process, killed at the limit even if the engine never returns
        report = call_with_time_limit(run_layer_stack, kwargs, limit, "the layer stack")
    if args.json:
        print(dumps_json(report.to_dict()))
    else:
        print(format_report(report))
    return 0


def _cmd_engines(args: argparse.Namespace) -> int:
    infos = [describe_engine(n) for n in available_engines()]
    if args.json:
        print(dumps_json([info.__dict__ for info in infos], default=str))
        return 0
    for info in infos:
        exact = {True: "exact", False: "approximate", None: "?"}[info.exact]
        opts = ", ".join(f"{k}={v!r}" for k, v in info.options.items()) or "no options"
        print(f"{info.name:<16} {info.family:<12} {exact:<12} {opts}")
        if info.error:
            print(f"{'':<16} error: {info.error}")
        elif info.summary:
            print(f"{'':<16} {info.summary}")
    return 0


def _is_user_error(exc: BaseException) -> bool:
    """Errors a user causes: ours (the Qiskit layer's are QsimTopoErrors too), unreadable files."""
    return isinstance(exc, (QsimTopoError, OSError))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qsim-topo`` with ``argv`` (default: sys.argv[1:]); returns the exit code.

    0: success; 2: a user error (one ``qsim-topo: error: ...`` line on stderr); 1: an
    unexpected exception (one line with its type, and a hint to rerun with ``--traceback``).
    """
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except Exception as exc:
        if args.traceback:
            raise
        if isinstance(exc, (EngineError, ExperimentTimeoutError)):
            print(error_line(exc), file=sys.stderr)
            return EXIT_FAILURE
        if _is_user_error(exc):
            print(error_line(exc), file=sys.stderr)
            return EXIT_USAGE
        print(
            error_line(
                f"internal error {type(exc).__name__}: {exc} (a bug: rerun with "
                "'qsim-topo --traceback ...' and report the traceback)"
            ),
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace) -> int:
    """Run the parsed subcommand; its errors propagate to :func:`main`."""
    if args.command == "layers":
        return _cmd_layers(args)
    if args.command == "doctor":
        return _doctor.run(args)
    if args.command == "sweep":
        return _sweep.run_sweep_command(args)
    if args.command == "report":
        return _sweep.run_report(args)
    if args.command == "fit":
        return _fit.run(args)
    if args.command == "verify":
        from qsim_topo.cli import verify as _verify

        return _verify.run(args)
    return _cmd_engines(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
