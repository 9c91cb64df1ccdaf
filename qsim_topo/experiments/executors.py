"""Where a sweep's chains run: a local process pool (rows streamed back) or dask."""

from __future__ import annotations

import contextlib
import functools
import os
import queue as queue_mod
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

__all__ = ["execute_dask", "execute_local"]


def _run_chain_to_queue(task: ChainTask, index: int, rows: Any) -> int:
    rows.put(("start", index, None))
    count = 0
    for row in run_chain(task):
        rows.put(("row", index, row))
        count += 1
    return count


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


def execute_local(
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
                        on_row(failed_row(task, depth, "its worker process died"))
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
