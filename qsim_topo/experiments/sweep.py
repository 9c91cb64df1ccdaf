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

import contextlib
import functools
import hashlib
import json
import os
import queue as queue_mod
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from qsim_topo.engines.base import get_engine, parse_engine_spec
from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.layer_stack import (
    CONVENTION,
    MODES,
    LayerStackConfig,
    layer_stack_bytes,
    run_layer_stack_config,
)
from qsim_topo.experiments.store import ResultStore
from qsim_topo.layers import LAYER_KINDS
from qsim_topo.xp import check_memory, resolve_device

__all__ = [
    "DEFAULT_ENGINES",
    "EXECUTORS",
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
        bad_kinds = [k for k in self.kinds if k not in LAYER_KINDS]
        if not self.kinds or bad_kinds:
            problems.append(f"kinds must be among {', '.join(LAYER_KINDS)}, got {list(self.kinds)}")
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
        if self.mode is not None and self.mode not in MODES:
            problems.append(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if "brickwork" in self.kinds and self.qubits[0] < 2:
            problems.append("brickwork layers need at least 2 qubits")
        if problems:
            raise QsimTopoError("invalid sweep: " + "; ".join(problems))

    @property
    def dtype(self) -> str:
        """The engine's product dtype."""
        return "complex128" if self.precision == "double" else "complex64"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

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


@dataclass(frozen=True)
class ChainTask:
    """One chain: a configuration and seed, measured at ``depths`` (ascending)."""

    qubits: int
    kind: str
    mode: str
    engine: str  # canonical spec
    seed: int
    depths: tuple[int, ...]
    samples: int
    haar_states: int
    device: str  # resolved: "cpu" or "gpu"
    dtype: str

    def config(self, depth: int) -> dict[str, Any]:
        """The full configuration of the experiment at ``depth`` (what its key hashes).

        It includes the layer-stack convention, so rows measured under another convention
        (such as the former P_0 = I) are not taken for this one's.
        """
        name, options = parse_engine_spec(self.engine)
        return {
            "convention": CONVENTION,
            "qubits": self.qubits,
            "depth": depth,
            "kind": self.kind,
            "mode": self.mode,
            "engine": name,
            "engine_spec": self.engine,
            "engine_options": options,
            "seed": self.seed,
            "samples": self.samples,
            "haar_states": self.haar_states,
            "device": self.device,
            "dtype": self.dtype,
        }


def experiment_key(config: dict[str, Any]) -> str:
    """A stable hash of an experiment's configuration (the store's row key)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_chain(task: ChainTask) -> Iterator[dict[str, Any]]:
    """Run one chain and yield one row per depth, as soon as each is measured.

    A random engine without an explicit ``seed`` option gets a seed derived one-way from the
    experiment's (never the experiment seed itself, from which the measurement draws
    derive), so every row is reproducible. An exception is recorded in a ``failed`` row for
    each depth not yet measured; it does not propagate, so the sweep goes on.
    """
    name, options = parse_engine_spec(task.engine)
    done: set[int] = set()
    try:
        config = LayerStackConfig(
            task.qubits,
            kind=task.kind,
            mode=task.mode,
            engine=name,
            engine_options=options,
            seed=task.seed,
            samples=task.samples,
            haar_states=task.haar_states,
            device=task.device,
            dtype=task.dtype,
        )
        for report in run_layer_stack_config(config, task.depths):
            done.add(report.depth)
            result = report.to_dict()
            result["engine_options_resolved"] = result.pop("engine_options")
            row_config = task.config(report.depth)
            yield {
                "key": experiment_key(row_config),
                "status": "ok",
                "error": None,
                "finished_at": _now(),
                **result,
                **row_config,
            }
    except Exception as exc:  # recorded, never lost: the sweep goes on
        message = f"{type(exc).__name__}: {exc}"
        for depth in task.depths:
            if depth not in done:
                yield _failed_row(task, depth, message)


def _failed_row(task: ChainTask, depth: int, message: str) -> dict[str, Any]:
    config = task.config(depth)
    return {
        "key": experiment_key(config),
        "status": "failed",
        "error": message,
        "finished_at": _now(),
        **config,
    }


def run_chain_to_list(task: ChainTask) -> list[dict[str, Any]]:
    """All rows of a chain at once (for executors that return whole results)."""
    return list(run_chain(task))


def _run_chain_to_queue(task: ChainTask, index: int, rows: Any) -> int:
    rows.put(("start", index, None))
    count = 0
    for row in run_chain(task):
        rows.put(("row", index, row))
        count += 1
    return count


def plan_chains(
    spec: SweepSpec, stored: dict[str, dict[str, Any]], *, retry_failed: bool = False
) -> tuple[list[ChainTask], int]:
    """The chains still to run, each with only its missing depths, and the rows skipped.

    A depth is skipped when its latest stored row is ``ok``, or ``failed`` without
    ``retry_failed``. A chain runs up to its deepest missing depth.
    """
    device = resolve_device(spec.device)
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
    biggest = max(
        layer_stack_bytes(
            spec.qubits[-1],
            kind,
            spec.mode or ("dense" if kind == "dense" else "gate"),
            np.dtype(spec.dtype),
        )
        for kind in spec.kinds
    )
    check_memory(
        biggest * concurrency,
        device,
        f"{concurrency} concurrent {spec.qubits[-1]}-qubit layer stacks (use fewer --workers "
        "or fewer qubits)",
    )


@contextlib.contextmanager
def _blas_threads(threads: int) -> Iterator[None]:
    """Set the BLAS thread count that spawned workers inherit (so workers x threads = cores)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {n: os.environ.get(n) for n in names}
    for n in names:
        os.environ[n] = str(threads)
    try:
        yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


def _execute_local(
    tasks: Sequence[ChainTask], workers: int, on_row: Callable[[dict[str, Any]], None]
) -> None:
    """Run chains in a spawn-based process pool; rows stream back through a manager queue.

    If a worker process dies (killed, out of memory), the pool breaks and every chain in flight
    is lost, the guilty one among them. Chains that had not started are resubmitted as they
    were. Chains that were in flight become suspects and are rerun one at a time, each alone in
    a one-worker pool, with their missing depths: a suspect whose lone worker dies is the
    culprit and gets ``failed`` rows for its missing depths; the others complete. Nothing that
    never ran is recorded as failed, and no row is written twice.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")  # no fork of a process with BLAS threads running
    emitted: set[str] = set()
    remaining: dict[int, ChainTask] = dict(enumerate(tasks))
    suspects: list[int] = []
    cores = os.cpu_count() or 1
    with ctx.Manager() as manager, _blas_threads(max(1, cores // workers)):
        messages = manager.Queue()

        def take(message: tuple[str, int, Any], started: set[int]) -> None:
            kind, index, row = message
            if kind == "start":
                started.add(index)
            elif row["key"] not in emitted:
                emitted.add(row["key"])
                on_row(row)

        while remaining:
            isolated = bool(suspects)
            batch = {suspects[0]: remaining[suspects[0]]} if isolated else dict(remaining)
            started: set[int] = set()
            finished: set[int] = set()
            broken = False
            with ProcessPoolExecutor(
                max_workers=1 if isolated else workers, mp_context=ctx
            ) as pool:
                futures = {
                    pool.submit(_run_chain_to_queue, task, index, messages): index
                    for index, task in batch.items()
                }
                pending = set(futures)
                while pending:
                    try:
                        take(messages.get(timeout=0.1), started)
                        continue
                    except queue_mod.Empty:
                        pass
                    done = {f for f in pending if f.done()}
                    pending -= done
                    for fut in done:
                        exc = fut.exception()
                        if exc is None:
                            finished.add(futures[fut])
                        elif isinstance(exc, BrokenProcessPool):
                            broken = True
                        else:  # run_chain records its own errors; this is unexpected
                            raise exc
            _drain(messages, functools.partial(take, started=started))
            if isolated:
                suspects.pop(0)
            for index, task in batch.items():
                missing = tuple(
                    d for d in task.depths if experiment_key(task.config(d)) not in emitted
                )
                if index in finished or not missing:
                    remaining.pop(index)
                elif isolated and broken:  # it died alone: it is the culprit
                    remaining.pop(index)
                    for depth in missing:
                        on_row(_failed_row(task, depth, "its worker process died"))
                elif broken:
                    remaining[index] = ChainTask(**{**asdict(task), "depths": missing})
                    if index in started:
                        suspects.append(index)
                else:  # cannot happen: guard against a silent busy loop
                    raise RuntimeError(f"chain {task} neither finished nor failed")


def _drain(rows: Any, take: Callable[[Any], None]) -> None:
    while True:
        try:
            take(rows.get_nowait())
        except queue_mod.Empty:
            return


def _execute_dask(
    tasks: Sequence[ChainTask],
    workers: int,
    scheduler: str | None,
    on_row: Callable[[dict[str, Any]], None],
) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise QsimTopoError(
            "--executor dask needs dask.distributed (pip install 'qsim_topo[dask]')"
        ) from exc
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    try:
        with Client(scheduler or cluster) as client:
            futures = {client.submit(run_chain_to_list, t, pure=False): t for t in tasks}
            for fut in as_completed(futures):
                try:
                    rows = fut.result()
                except Exception as exc:  # the worker was lost: record the whole chain
                    task = futures[fut]
                    rows = [
                        _failed_row(task, d, f"dask worker failed: {exc!r}") for d in task.depths
                    ]
                for row in rows:
                    on_row(row)
    finally:
        if cluster is not None:
            cluster.close()


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
            _execute_local(tasks, concurrency, on_row)
        else:
            _execute_dask(tasks, workers, scheduler, on_row)
    outcome.seconds = time.perf_counter() - start
    return outcome


def progress_printer(stream: Any = None) -> Callable[[dict[str, Any], int, int], None]:
    """A progress callback: a tqdm bar on a terminal, plain log lines otherwise."""
    out = stream if stream is not None else sys.stderr
    if hasattr(out, "isatty") and out.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            state: dict[str, Any] = {}

            def with_bar(row: dict[str, Any], done: int, total: int) -> None:
                if "bar" not in state:
                    state["bar"] = tqdm(total=total, unit="exp", file=out, dynamic_ncols=True)
                state["bar"].set_postfix_str(_describe(row), refresh=False)
                state["bar"].update(1)
                if done >= total:
                    state["bar"].close()

            return with_bar
    start = time.perf_counter()

    def log_line(row: dict[str, Any], done: int, total: int) -> None:
        elapsed = time.perf_counter() - start
        left = elapsed / done * (total - done) if done else float("nan")
        print(
            f"[{done}/{total}] {elapsed:.0f}s elapsed, ~{left:.0f}s left: {_describe(row)}",
            file=out,
            flush=True,
        )

    return log_line


def _describe(row: dict[str, Any]) -> str:
    head = (
        f"{row['engine_spec']} q={row['qubits']} {row['kind']} d={row['depth']} seed={row['seed']}"
    )
    if row["status"] != "ok":
        return f"{head} FAILED: {row['error']}"
    return (
        f"{head} F={row['state_fidelity']:.6f} F_haar={row['haar_input_fidelity']:.6f} "
        f"F_pro={row['process_fidelity']:.4g} norm={row['norm']:.4g}"
    )
