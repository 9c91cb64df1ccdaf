"""Fidelity-vs-depth sweeps: a grid of layer-stack experiments written to a resumable store.

A sweep is the grid qubits x kinds x engines x seeds x depths. The unit of work is a *chain*:
one (qubits, kind, engine, seed) whose depths are all measured on one accumulation (deeper
depths reuse the shallower prefix). Each finished (configuration, seed, depth) experiment is a
row of the store, written by the one process that runs the sweep as soon as it arrives, so a
killed sweep loses at most the experiments in flight and a rerun of the same command skips
what is stored.

Executors: ``serial``; ``local`` (a process pool, rows streamed back one by one, BLAS pinned
to one thread per worker, each experiment bounded by the time limit); ``dask``
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
from qsim_topo.errors import ArgumentTypeError, EngineError, InvalidArgumentError
from qsim_topo.experiments.chains import ChainTask as ChainTask
from qsim_topo.experiments.chains import experiment_key as experiment_key
from qsim_topo.experiments.chains import run_chain as run_chain
from qsim_topo.experiments.chains import run_chain_to_list as run_chain_to_list
from qsim_topo.experiments.executors import TIMED_OUT, execute_dask, execute_local
from qsim_topo.experiments.layer_stack import (
    MAX_DEPTH,
    MAX_HAAR_STATES,
    MAX_QUBITS,
    MAX_SAMPLES,
    MODES,
    layer_stack_bytes,
    measurement_bytes,
)
from qsim_topo.experiments.limits import (
    DEFAULT_TIME_LIMIT,
    check_estimate,
    check_time_limit,
    layer_stack_seconds,
    state_chain_seconds,
)
from qsim_topo.experiments.progress import progress_printer as progress_printer
from qsim_topo.experiments.state_chain import STATE_KINDS, circuit_width, state_chain_bytes
from qsim_topo.experiments.store import ResultStore
from qsim_topo.layers import LAYER_KINDS
from qsim_topo.validation import (
    check_choice,
    check_int,
    check_int_sequence,
    check_mapping,
    describe,
)
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
#: Row statuses that ``retry_failed`` runs again.
RETRIED = ("failed", TIMED_OUT)
#: The layer stack's modes and ``state`` (a circuit family's state, one chain of cycles).
SWEEP_MODES = (*MODES, "state")
#: The largest qubit count a state-mode grid may name (the memory check refuses what does not
#: fit on the machine at hand).
MAX_STATE_QUBITS = 50
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


def _strings(name: str, values: Any) -> list[str]:
    """``values`` (a non-empty sequence of strings, not one string) as a list."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ArgumentTypeError(f"{name} must be a sequence of strings, got {describe(values)}")
    items = list(values)
    if not items:
        raise InvalidArgumentError(f"{name} must hold at least one entry, got []")
    for i, v in enumerate(items):
        if not isinstance(v, str):
            raise ArgumentTypeError(f"{name}[{i}] must be a string, got {describe(v)}")
    return items


@dataclass(frozen=True)
class SweepSpec:
    """The grid of a sweep (what ``sweep.json`` stores), validated on construction.

    Integers are Python or numpy integers (not bools or floats); sequences are not strings.

    Raises:
        ArgumentTypeError, InvalidArgumentError: a bad value, naming the field.
        UnknownEngineError, EngineOptionError: an engine spec that does not parse.
    """

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
        if self.mode is not None:
            check_choice("mode", self.mode, SWEEP_MODES)
        # A state chain holds states, not 2^n x 2^n products: its size is bounded by the
        # memory check, not by the layer stack's cap.
        max_qubits = MAX_STATE_QUBITS if self.mode == "state" else MAX_QUBITS
        qubits = check_int_sequence("qubits", self.qubits, min=1, max=max_qubits)
        object.__setattr__(self, "qubits", tuple(sorted(set(qubits))))
        depths = check_int_sequence("depths", self.depths, min=1, max=MAX_DEPTH)
        object.__setattr__(self, "depths", tuple(sorted(set(depths))))
        if self.circuit is not None and self.mode != "state":
            raise InvalidArgumentError(
                f"a circuit file ({self.circuit}) needs mode state, got mode {self.mode!r}"
            )
        allowed = STATE_KINDS if self.mode == "state" else LAYER_KINDS
        where = f"in mode {self.mode or 'dense/gate'}"
        kinds = [check_choice(f"kinds[{i}] {where}", k, allowed)
                 for i, k in enumerate(_strings("kinds", self.kinds))]
        object.__setattr__(self, "kinds", tuple(dict.fromkeys(kinds)))
        engines = [canonical_engine_spec(e) for e in _strings("engines", self.engines)]
        object.__setattr__(self, "engines", tuple(dict.fromkeys(engines)))
        seeds = check_int_sequence("seeds", self.seeds, min=0, max=2**63 - 1)
        object.__setattr__(self, "seeds", tuple(dict.fromkeys(seeds)))
        object.__setattr__(
            self, "samples", check_int("samples", self.samples, min=1, max=MAX_SAMPLES)
        )
        object.__setattr__(
            self,
            "haar_states",
            check_int("haar_states", self.haar_states, min=1, max=MAX_HAAR_STATES),
        )
        check_choice("device", self.device, ("cpu", "gpu", "auto"))
        check_choice("precision", self.precision, ("double", "single"))
        if self.circuit is not None and not isinstance(self.circuit, str):
            raise ArgumentTypeError(
                f"circuit must be a path string or None, got {describe(self.circuit)}"
            )
        if self.circuit is not None and (self.mode != "state" or self.kinds != ("circuit",)):
            raise InvalidArgumentError(
                f"a circuit file ({self.circuit}) needs mode state and the kind circuit alone, "
                f"got mode {self.mode!r} and kinds {list(self.kinds)}"
            )
        if "circuit" in self.kinds and self.circuit is None:
            raise InvalidArgumentError(
                "the kind circuit needs a circuit file (--circuit FILE.qasm)"
            )
        if self.circuit is not None and not os.path.isfile(self.circuit):
            raise InvalidArgumentError(f"the circuit file {self.circuit} does not exist")
        if ("brickwork" in self.kinds or self.mode == "state") and self.qubits[0] < 2:
            raise InvalidArgumentError(
                "brickwork layers and state-mode families need at least 2 qubits, got "
                f"qubits={list(self.qubits)}"
            )

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
        """The inverse of :meth:`to_json`.

        Raises:
            ArgumentTypeError, InvalidArgumentError: not a mapping, an unknown field, or a
                bad value.
        """
        fields = check_mapping("sweep spec", data, allow_none=False)
        unknown = sorted(set(fields) - set(cls.__dataclass_fields__))
        if unknown:
            raise InvalidArgumentError(
                f"sweep spec has unknown field(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(cls.__dataclass_fields__)}"
            )
        return cls(**fields)

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

    A depth is skipped when its latest stored row is ``ok``, or ``failed`` or ``timed_out``
    without ``retry_failed``. A chain runs up to its deepest missing depth.
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
                        if row is None or (row.get("status") in RETRIED and retry_failed):
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
    """What a sweep did: rows written and rows skipped as stored.

    ``failed`` counts every row written that is not ``ok`` (``timed_out`` ones included);
    ``timed_out`` counts those stopped at the time limit.
    """

    written: int = 0
    failed: int = 0
    timed_out: int = 0
    skipped: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def _validate(spec: SweepSpec, concurrency: int, time_limit: float | None) -> None:
    """Refuse bad engines, options, sizes and hopeless depths before any experiment starts."""
    for engine in spec.engines:
        name, options = parse_engine_spec(engine)
        try:
            get_engine(name, **options)  # raises UnknownEngineError / EngineOptionError
        except EngineError:
            # The engine's own fault (its constructor raised): not the user's. Its chains
            # record it in failed rows and the other engines' chains run.
            pass
    device = resolve_device(spec.device)
    width = None if spec.circuit is None else circuit_width(spec.circuit)
    if width is not None and spec.qubits != (width,):
        raise InvalidArgumentError(
            f"the circuit {spec.circuit} has {width} qubits; qubits must be [{width}], "
            f"got {list(spec.qubits)}"
        )
    qubits = spec.qubits[-1]
    if spec.mode == "state":
        biggest = state_chain_bytes(qubits, np.dtype(spec.dtype))
        biggest += measurement_bytes(qubits, spec.samples, 0)
        what = f"{concurrency} concurrent {qubits}-qubit state chains"
    else:
        biggest = max(_layer_stack_bytes(spec, kind) for kind in spec.kinds)
        biggest += measurement_bytes(qubits, spec.samples, spec.haar_states)
        what = f"{concurrency} concurrent {qubits}-qubit layer stacks"
    if time_limit is not None:
        # One experiment is the work from the chain's start or its previous depth to the next.
        step = max(b - a for a, b in zip((0, *spec.depths), spec.depths, strict=False))
        hint = "give a larger --time-limit, or more depths in between"
        if spec.mode == "state":
            check_estimate(
                state_chain_seconds(qubits, step),
                time_limit,
                f"a {qubits}-qubit state chain of {step} more cycles (between two depths)",
                hint,
            )
        for kind in () if spec.mode == "state" else spec.kinds:
            mode = spec.mode or ("dense" if kind == "dense" else "gate")
            check_estimate(
                layer_stack_seconds(qubits, step, kind, mode),
                time_limit,
                f"a {qubits}-qubit {kind} experiment of {step} more layers (between two "
                "depths of the sweep)",
                hint,
            )
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
    time_limit: float | None = DEFAULT_TIME_LIMIT,
) -> SweepOutcome:
    """Run (or resume) the sweep ``spec`` into the store at ``out_dir``.

    Args:
        spec: the grid.
        out_dir: the store directory; created if missing.
        force: accept a directory that holds another sweep's configuration.
        retry_failed: run again the experiments whose latest row is ``failed``.
        executor: ``"local"`` (process pool; in this process when ``workers`` is 1 and
            ``time_limit`` is None), ``"serial"`` (in this process), or
            ``"dask"``.
        workers: processes (local) or LocalCluster workers (dask); default: the CPU cores
            (one worker on a GPU device).
        scheduler: a dask scheduler address; None starts a LocalCluster.
        progress: called after each stored row with (row, rows done, rows to do).
        on_start: called once everything is validated, with (rows to do, rows already stored).
        time_limit: seconds one experiment may take (from its chain's start or previous depth
            to its row); None for no limit. The local executor enforces it, running every
            chain in a worker process (even with one worker) and killing one that passes it:
            its missing depths are stored as ``timed_out`` rows, which ``retry_failed`` runs
            again. The serial and dask executors do not enforce it. Depths whose optimistic
            estimate already exceeds it are refused up front.

    Raises:
        QsimTopoError (and subclasses): a bad grid, engine, option, a size that does not fit,
            or a directory holding another configuration. Nothing has run when these raise.
    """
    if not isinstance(spec, SweepSpec):
        raise ArgumentTypeError(f"spec must be a SweepSpec, got {describe(spec)}")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ArgumentTypeError(f"out_dir must be a path, got {describe(out_dir)}")
    check_choice("executor", executor, EXECUTORS)
    device = resolve_device(spec.device)
    if workers is None:
        workers = 1 if device == "gpu" else max(1, os.cpu_count() or 1)
    workers = check_int("workers", workers, min=1, max=4096)
    store = ResultStore(out_dir)
    tasks, skipped = plan_chains(spec, store.latest(complete=True), retry_failed=retry_failed)
    time_limit = check_time_limit(time_limit, "time_limit")
    concurrency = 1 if executor == "serial" else min(workers, max(1, len(tasks)))
    _validate(spec, concurrency, time_limit)
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
            outcome.timed_out += row["status"] == TIMED_OUT
            outcome.errors.append(
                f"{row['engine_spec']} q={row['qubits']} d={row['depth']} "
                f"seed={row['seed']}: {row['error']}"
            )
        if progress is not None:
            progress(row, outcome.written, total)

    with store:
        if not tasks:
            pass
        elif executor == "serial" or (
            executor == "local" and concurrency == 1 and time_limit is None
        ):
            for task in tasks:
                for row in run_chain(task):
                    on_row(row)
        elif executor == "local":
            execute_local(tasks, concurrency, on_row, time_limit=time_limit)
        else:
            execute_dask(tasks, workers, scheduler, on_row)
    outcome.seconds = time.perf_counter() - start
    return outcome
