"""Where a sweep's chains run: a local process pool (rows streamed back) or dask."""

from __future__ import annotations

import contextlib
import os
import queue as queue_mod
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from typing import Any

from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.chains import (
    ChainTask,
    experiment_key,
    failed_row,
    run_chain,
    run_chain_to_list,
)

__all__ = ["BLAS_THREADS", "TIMED_OUT", "execute_dask", "execute_local"]


#: BLAS threads of every worker process: one, whatever the number of workers or cores, so
#: that a row's values (a low-rank engine's SVD, a blocked product's summation order) do not
#: depend on how the sweep was parallelised, and a resumed sweep reproduces its stored rows.
#: Parallelism comes from the workers (default: one per core).
BLAS_THREADS = 1

#: Status of the rows of a chain stopped at its time limit (``failed`` is any other failure).
TIMED_OUT = "timed_out"


def _run_chain_to_queue(task: ChainTask, index: int, rows: Any) -> int:
    rows.put(("start", index, os.getpid()))
    count = 0
    for row in run_chain(task):
        rows.put(("row", index, row))
        count += 1
    return count


@contextlib.contextmanager
def _blas_threads(threads: int) -> Iterator[None]:
    """Set the BLAS thread count that spawned workers inherit (read when numpy loads)."""
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


def _kill_workers(pool: Any) -> None:
    """Kill every worker process of a ProcessPoolExecutor (its only handle on them)."""
    # ProcessPoolExecutor has no public way to stop a running task; its _processes dict is
    # the documented-by-use handle (cancel_futures only drops tasks not yet started).
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            process.kill()


def execute_local(
    tasks: Sequence[ChainTask],
    workers: int,
    on_row: Callable[[dict[str, Any]], None],
    *,
    time_limit: float | None = None,
) -> None:
    """Run chains in a spawn-based process pool; rows stream back through a manager queue.

    Every worker runs BLAS with :data:`BLAS_THREADS` threads. If a worker process dies
    (killed, out of memory), the pool breaks and every chain in flight is lost, the guilty one
    among them. Chains that had not started are resubmitted as they were. Chains that were in
    flight become suspects and are rerun one at a time, each alone in a one-worker pool, with
    their missing depths: a suspect whose lone worker dies is the culprit and gets ``failed``
    rows for its missing depths; the others complete. Nothing that never ran is recorded as
    failed, and no row is written twice.

    ``time_limit`` (seconds) bounds each experiment: a chain that yields no row for that long
    after it started or after its previous row has its worker killed, and its missing depths
    get rows of status ``timed_out``; the other chains in flight are rerun from their missing
    depths. A chain whose error escapes :func:`run_chain` (a BaseException, a row that cannot
    be sent back) gets ``failed`` rows, but a KeyboardInterrupt (Ctrl-C reaches the workers
    too) and an error of ``on_row`` itself (the store's disk is full) kill the workers and
    propagate.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")  # no fork of a process with BLAS threads running
    emitted: set[str] = set()
    remaining: dict[int, ChainTask] = dict(enumerate(tasks))
    suspects: list[int] = []

    def missing_depths(task: ChainTask) -> tuple[int, ...]:
        return tuple(d for d in task.depths if experiment_key(task.config(d)) not in emitted)

    def record(task: ChainTask, status: str, message: str) -> None:
        for depth in missing_depths(task):
            row = failed_row(task, depth, message)
            row["status"] = status
            emitted.add(row["key"])
            on_row(row)

    with ctx.Manager() as manager, _blas_threads(BLAS_THREADS):
        messages = manager.Queue()

        while remaining:
            isolated = bool(suspects)
            batch = {suspects[0]: remaining[suspects[0]]} if isolated else dict(remaining)
            started: set[int] = set()
            finished: set[int] = set()
            pids: dict[int, int] = {}
            last: dict[int, float] = {}
            stopped: set[int] = set()  # chains killed at their time limit

            def take(
                message: tuple[str, int, Any],
                started: set[int] = started,
                pids: dict[int, int] = pids,
                last: dict[int, float] = last,
            ) -> None:
                kind, index, payload = message
                last[index] = time.monotonic()
                if kind == "start":
                    started.add(index)
                    pids[index] = payload
                elif payload["key"] not in emitted:
                    emitted.add(payload["key"])
                    on_row(payload)

            broken = False
            with ProcessPoolExecutor(
                max_workers=1 if isolated else workers, mp_context=ctx
            ) as pool:
                try:
                    futures = {
                        pool.submit(_run_chain_to_queue, task, index, messages): index
                        for index, task in batch.items()
                    }
                    pending = set(futures)
                    while pending:
                        with contextlib.suppress(queue_mod.Empty):
                            take(messages.get(timeout=0.1))
                        if time_limit is not None:
                            now = time.monotonic()
                            for index in started - finished - stopped:
                                if now - last[index] > time_limit:
                                    stopped.add(index)
                                    record(
                                        batch[index],
                                        TIMED_OUT,
                                        f"timed out after {time_limit:g} s (the time limit of "
                                        "one experiment); its worker process was stopped",
                                    )
                                    with contextlib.suppress(OSError):
                                        os.kill(pids[index], signal.SIGKILL)
                        done = {f for f in pending if f.done()}
                        pending -= done
                        for fut in done:
                            index = futures[fut]
                            exc = fut.exception()
                            if exc is None:
                                finished.add(index)
                            elif isinstance(exc, BrokenProcessPool):
                                broken = True
                            elif isinstance(exc, KeyboardInterrupt):  # Ctrl-C reached a worker
                                raise exc
                            else:  # run_chain records its own errors; this one escaped it
                                _drain(messages, take)
                                finished.add(index)
                                record(
                                    batch[index],
                                    "failed",
                                    " ".join(f"{type(exc).__name__}: {exc}".split()),
                                )
                except BaseException:
                    _kill_workers(pool)  # do not wait for chains whose rows cannot be kept
                    raise
            _drain(messages, take)
            if isolated:
                suspects.pop(0)
            for index, task in batch.items():
                missing = missing_depths(task)
                if index in finished or index in stopped or not missing:
                    remaining.pop(index)
                elif isolated and broken:  # it died alone: it is the culprit
                    remaining.pop(index)
                    record(task, "failed", "its worker process died")
                elif broken:
                    remaining[index] = ChainTask(**{**asdict(task), "depths": missing})
                    if index in started and not stopped:  # a kill of ours broke the pool
                        suspects.append(index)
                else:  # cannot happen: guard against a silent busy loop
                    raise RuntimeError(f"chain {task} neither finished nor failed")


def _drain(rows: Any, take: Callable[[Any], None]) -> None:
    while True:
        try:
            take(rows.get_nowait())
        except queue_mod.Empty:
            return


def execute_dask(
    tasks: Sequence[ChainTask],
    workers: int,
    scheduler: str | None,
    on_row: Callable[[dict[str, Any]], None],
) -> None:
    """Run chains as dask tasks (``scheduler`` address, or a LocalCluster of ``workers``).

    Rows come back a chain at a time; a lost worker's chain is recorded as ``failed`` rows.

    Raises:
        QsimTopoError: dask.distributed is not installed.
    """
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
                        failed_row(task, d, f"dask worker failed: {exc!r}") for d in task.depths
                    ]
                for row in rows:
                    on_row(row)
    finally:
        if cluster is not None:
            cluster.close()
