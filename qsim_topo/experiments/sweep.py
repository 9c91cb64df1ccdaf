"""Fidelity-vs-depth sweeps: a grid of layer-stack experiments written to a resumable store.

A sweep is the grid qubits x kinds x engines x seeds x depths. The unit of work is a *chain*:
one (qubits, kind, engine, seed) whose depths are all measured on one accumulation (deeper
depths reuse the shallower prefix). Each finished (configuration, seed, depth) experiment is a
row of the store, written by the one process that runs the sweep as soon as it arrives, so a
killed sweep loses at most the experiments in flight and a rerun of the same command skips
what is stored.

Executors: ``serial``; ``local`` (a process pool, rows streamed back one by one); ``dask``
(``dask.distributed``: a scheduler address, or a LocalCluster when none is given; rows come
back a chain at a time).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from qsim_topo.engines.base import get_engine
from qsim_topo.engines.spec import parse_engine_spec
from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.chains import ChainTask as ChainTask
from qsim_topo.experiments.chains import experiment_key as experiment_key
from qsim_topo.experiments.chains import run_chain as run_chain
from qsim_topo.experiments.chains import run_chain_to_list as run_chain_to_list
from qsim_topo.experiments.executors import execute_dask, execute_local
from qsim_topo.experiments.layer_stack import MODES, layer_stack_bytes
from qsim_topo.experiments.progress import progress_printer as progress_printer
from qsim_topo.experiments.state_chain import STATE_KINDS, circuit_width, state_chain_bytes
from qsim_topo.experiments.store import ResultStore
from qsim_topo.layers import LAYER_KINDS
from qsim_topo.xp import check_memory, resolve_device

__all__ = [
    "DEFAULT_ENGINES",
    "EXECUTORS",
    "SWEEP_MODES",
    "ChainTask",
    "SweepOutcome",
    "SweepSpec",
    "canonical_engine_spec",
    "experiment_key",
    "plan_chains",
    "run_chain",
    "run_sweep",
]

EXECUTORS = ("local", "serial", "dask")
#: The layer stack's modes and ``state`` (a circuit family's state, one chain of cycles).
SWEEP_MODES = (*MODES, "state")
#: The default grid: a few minutes on a laptop CPU, exact beside precision and approximate
#: engines at a 20% budget.
DEFAULT_QUBITS = (6, 8, 10)
DEFAULT_DEPTHS = (1, 2, 4, 8)
DEFAULT_ENGINES = ("exact", "fp32", "bf16", "cr-sampling:ratio=0.2", "topology:ratio=0.2")
DEFAULT_SEEDS = 3


def canonical_engine_spec(spec: str) -> str:
    """Normalise an engine spec: ``name:key=value,...`` with options sorted, values as JSON."""
    name, options = parse_engine_spec(spec)
    if not options:
        return name
    return name + ":" + ",".join(f"{k}={json.dumps(options[k])}" for k in sorted(options))


@dataclass(frozen=True)
class SweepSpec:
    """The grid of a sweep (what ``sweep.json`` stores)."""

    qubits: tuple[int, ...] = DEFAULT_QUBITS
    depths: tuple[int, ...] = DEFAULT_DEPTHS
    kinds: tuple[str, ...] = ("dense",)
    engines: tuple[str, ...] = DEFAULT_ENGINES
    seeds: tuple[int, ...] = tuple(range(DEFAULT_SEEDS))
    samples: int = 1000
    haar_states: int = 16
    device: str = "cpu"
    precision: str = "double"
    mode: str | None = None
    circuit: str | None = None  # state mode: a QASM file whose unitary gates are the cycle

    def __post_init__(self) -> None:
        def tup(v: Iterable[Any]) -> tuple[Any, ...]:
            return tuple(v)

        object.__setattr__(self, "qubits", tup(sorted(set(int(q) for q in self.qubits))))
        object.__setattr__(self, "depths", tup(sorted(set(int(d) for d in self.depths))))
        object.__setattr__(self, "kinds", tup(dict.fromkeys(self.kinds)))
        object.__setattr__(
            self, "engines", tup(dict.fromkeys(canonical_engine_spec(e) for e in self.engines))
        )
        object.__setattr__(self, "seeds", tup(dict.fromkeys(int(s) for s in self.seeds)))
        problems = []
        if not self.qubits or self.qubits[0] < 1:
            problems.append(f"qubits must be >= 1, got {list(self.qubits)}")
        if not self.depths or self.depths[0] < 1:
            problems.append(f"depths must be >= 1, got {list(self.depths)}")
        allowed = STATE_KINDS if self.mode == "state" else LAYER_KINDS
        bad_kinds = [k for k in self.kinds if k not in allowed]
        if not self.kinds or bad_kinds:
            problems.append(
                f"kinds must be among {', '.join(allowed)} in mode {self.mode or 'dense/gate'}, "
                f"got {list(self.kinds)}"
            )
        if self.circuit is not None and (self.mode != "state" or self.kinds != ("circuit",)):
            problems.append(
                f"a circuit file ({self.circuit}) needs mode state and the kind circuit alone, "
                f"got mode {self.mode!r} and kinds {list(self.kinds)}"
            )
        if "circuit" in self.kinds and self.circuit is None:
            problems.append("the kind circuit needs a circuit file (--circuit FILE.qasm)")
        if self.circuit is not None and not os.path.isfile(self.circuit):
            problems.append(f"the circuit file {self.circuit} does not exist")
        if not self.engines:
            problems.append("at least one engine is needed")
        if not self.seeds:
            problems.append("at least one seed is needed")
        elif min(self.seeds) < 0:
            problems.append(f"seeds must be non-negative, got {list(self.seeds)}")
        if self.samples < 1 or self.haar_states < 1:
            problems.append("samples and haar_states must be >= 1")
        if self.precision not in ("double", "single"):
            problems.append(f"precision must be double or single, got {self.precision!r}")
        if self.mode is not None and self.mode not in SWEEP_MODES:
            problems.append(f"mode must be one of {', '.join(SWEEP_MODES)}, got {self.mode!r}")
        if ("brickwork" in self.kinds or self.mode == "state") and self.qubits[0] < 2:
            problems.append("brickwork layers and state-mode families need at least 2 qubits")
        if problems:
            raise QsimTopoError("invalid sweep: " + "; ".join(problems))

    @property
    def dtype(self) -> str:
        """The engine's product dtype."""
        return "complex128" if self.precision == "double" else "complex64"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (without ``circuit`` when there is none, as sweeps before it)."""
        data = asdict(self)
        if data["circuit"] is None:
            del data["circuit"]
        return data

    def circuit_sha256(self) -> str | None:
        """The sha256 of the circuit file's bytes (None without one)."""
        if self.circuit is None:
            return None
        with open(self.circuit, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepSpec:
        """The inverse of :meth:`to_json`."""
        return cls(**data)

    def experiments(self) -> int:
        """How many (configuration, seed, depth) rows the grid has."""
        return (
            len(self.qubits)
            * len(self.kinds)
            * len(self.engines)
            * len(self.seeds)
            * len(self.depths)
        )


def plan_chains(
    spec: SweepSpec, stored: dict[str, dict[str, Any]], *, retry_failed: bool = False
) -> tuple[list[ChainTask], int]:
    """The chains still to run, each with only its missing depths, and the rows skipped.

    A depth is skipped when its latest stored row is ``ok``, or ``failed`` without
    ``retry_failed``. A chain runs up to its deepest missing depth.
    """
    device = resolve_device(spec.device)
    circuit = spec.circuit, spec.circuit_sha256()
    tasks: list[ChainTask] = []
    skipped = 0
    for qubits in spec.qubits:
        for kind in spec.kinds:
            mode = spec.mode or ("dense" if kind == "dense" else "gate")
            for engine in spec.engines:
                for seed in spec.seeds:
                    base = ChainTask(
                        qubits,
                        kind,
                        mode,
                        engine,
                        seed,
                        spec.depths,
                        spec.samples,
                        spec.haar_states,
                        device,
                        spec.dtype,
                        *circuit,
                    )
                    missing = []
                    for depth in spec.depths:
                        row = stored.get(experiment_key(base.config(depth)))
                        if row is None or (row.get("status") == "failed" and retry_failed):
                            missing.append(depth)
                        else:
                            skipped += 1
                    if missing:
                        tasks.append(
                            ChainTask(
                                qubits,
                                kind,
                                mode,
                                engine,
                                seed,
                                tuple(missing),
                                spec.samples,
                                spec.haar_states,
                                device,
                                spec.dtype,
                                *circuit,
                            )
                        )
    return tasks, skipped


@dataclass
class SweepOutcome:
    """What a sweep did: rows written (``ok`` and ``failed``) and rows skipped as stored."""

    written: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def _validate(spec: SweepSpec, concurrency: int) -> None:
    """Refuse bad engines, options and sizes before any experiment starts."""
    for engine in spec.engines:
        name, options = parse_engine_spec(engine)
        get_engine(name, **options)  # raises UnknownEngineError / EngineOptionError
    device = resolve_device(spec.device)
    width = None if spec.circuit is None else circuit_width(spec.circuit)
    if width is not None and spec.qubits != (width,):
        raise QsimTopoError(
            f"the circuit {spec.circuit} has {width} qubits; qubits must be [{width}], "
            f"got {list(spec.qubits)}"
        )
    if spec.mode == "state":
        biggest = state_chain_bytes(spec.qubits[-1], np.dtype(spec.dtype))
        what = f"{concurrency} concurrent {spec.qubits[-1]}-qubit state chains"
    else:
        biggest = max(_layer_stack_bytes(spec, kind) for kind in spec.kinds)
        what = f"{concurrency} concurrent {spec.qubits[-1]}-qubit layer stacks"
    check_memory(biggest * concurrency, device, what + " (use fewer --workers or fewer qubits)")


def _layer_stack_bytes(spec: SweepSpec, kind: str) -> int:
    return int(
        layer_stack_bytes(
            spec.qubits[-1],
            kind,
            spec.mode or ("dense" if kind == "dense" else "gate"),
            np.dtype(spec.dtype),
        )
    )


def run_sweep(
    spec: SweepSpec,
    out_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    retry_failed: bool = False,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[dict[str, Any], int, int], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> SweepOutcome:
    """Run (or resume) the sweep ``spec`` into the store at ``out_dir``.

    Args:
        spec: the grid.
        out_dir: the store directory; created if missing.
        force: accept a directory that holds another sweep's configuration.
        retry_failed: run again the experiments whose latest row is ``failed``.
        executor: ``"local"`` (process pool; serial when ``workers`` is 1), ``"serial"``, or
            ``"dask"``.
        workers: processes (local) or LocalCluster workers (dask); default: the CPU cores
            (one worker on a GPU device).
        scheduler: a dask scheduler address; None starts a LocalCluster.
        progress: called after each stored row with (row, rows done, rows to do).
        on_start: called once everything is validated, with (rows to do, rows already stored).

    Raises:
        QsimTopoError (and subclasses): a bad grid, engine, option, a size that does not fit,
            or a directory holding another configuration. Nothing has run when these raise.
    """
    if executor not in EXECUTORS:
        raise QsimTopoError(
            f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}"
        )
    device = resolve_device(spec.device)
    if workers is None:
        workers = 1 if device == "gpu" else max(1, os.cpu_count() or 1)
    if workers < 1:
        raise QsimTopoError(f"workers must be >= 1, got {workers}")
    store = ResultStore(out_dir)
    tasks, skipped = plan_chains(spec, store.latest(), retry_failed=retry_failed)
    concurrency = 1 if executor == "serial" else min(workers, max(1, len(tasks)))
    _validate(spec, concurrency)
    store.bind_spec(spec.to_json(), force=force)
    outcome = SweepOutcome(skipped=skipped)
    total = sum(len(t.depths) for t in tasks)
    if on_start is not None:
        on_start(total, skipped)
    start = time.perf_counter()

    def on_row(row: dict[str, Any]) -> None:
        store.append(row)
        outcome.written += 1
        if row["status"] != "ok":
            outcome.failed += 1
            outcome.errors.append(
                f"{row['engine_spec']} q={row['qubits']} d={row['depth']} "
                f"seed={row['seed']}: {row['error']}"
            )
        if progress is not None:
            progress(row, outcome.written, total)

    with store:
        if not tasks:
            pass
        elif executor == "serial" or (executor == "local" and concurrency == 1):
            for task in tasks:
                for row in run_chain(task):
                    on_row(row)
        elif executor == "local":
            execute_local(tasks, concurrency, on_row)
        else:
            execute_dask(tasks, workers, scheduler, on_row)
    outcome.seconds = time.perf_counter() - start
    return outcome
