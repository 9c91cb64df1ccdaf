"""The job of :class:`~qsim_topo.qiskit.backend.QsimTopoBackend`: a JobV1 run in a thread.

``backend.run`` validates and converts the circuits in the caller's thread (so a bad circuit
raises at once), then returns a submitted job whose simulation runs in a worker thread of a
shared single-worker executor: jobs of a process run one after the other, in submission
order, each one using all the cores numpy gives it, and the caller is not blocked until it
asks for ``result()``.

A job too small to be worth a thread hand-off (see
:func:`~qsim_topo.qiskit.backend.runs_inline`) is simulated by :meth:`QsimTopoJob.try_run_now`
in the caller's thread instead, when no other job is queued or running (so jobs still run one
at a time and in order, and an engine is never called from two threads at once): ``run()``
returns it finished, and a failure still surfaces at ``result()``, as for a queued job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

from qiskit.providers import JobStatus, JobV1
from qiskit.result import Result

from qsim_topo.qiskit.errors import QsimTopoJobError

__all__ = ["QsimTopoJob"]

_EXECUTOR: futures.ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()
# Held by whichever thread is simulating a job: the worker, or a caller running a small job.
_RUN_LOCK = threading.Lock()
# Guards _QUEUED, the jobs submitted to the worker and not finished.
_STATE_LOCK = threading.Lock()
_QUEUED = 0


def _unqueue() -> None:
    global _QUEUED
    with _STATE_LOCK:
        _QUEUED -= 1


def _run_exclusively(fn: Callable[[str], Result], job_id: str) -> Result:
    # Unqueued before the future completes: whoever sees the result sees the worker idle.
    try:
        with _RUN_LOCK:
            return fn(job_id)
    finally:
        _unqueue()


def _unqueue_if_cancelled(future: futures.Future[Result]) -> None:
    if future.cancelled():  # it never ran, so _run_exclusively did not unqueue it
        _unqueue()


def _executor() -> futures.ThreadPoolExecutor:
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="qsim_topo")
        return _EXECUTOR


class QsimTopoJob(JobV1):
    """A simulation job (JobV1 semantics: ``submit``, ``status``, ``result``, ``cancel``).

    Args:
        backend: the backend that made the job.
        job_id: a unique id.
        fn: ``fn(job_id) -> Result``, the simulation, called once: in the worker thread, or
            in the caller's by :meth:`try_run_now`; never while another job's runs.
    """

    def __init__(self, backend: Any, job_id: str, fn: Callable[[str], Result]) -> None:
        super().__init__(backend, job_id)
        self._fn = fn
        self._future: futures.Future[Result] | None = None

    def submit(self) -> None:
        """Queue the simulation on the executor; returns at once.

        Raises:
            QsimTopoJobError: the job was submitted before.
        """
        global _QUEUED
        if self._future is not None:
            raise QsimTopoJobError(f"job {self.job_id()} was already submitted")
        with _STATE_LOCK:
            _QUEUED += 1
        try:
            future = _executor().submit(_run_exclusively, self._fn, self.job_id())
        except BaseException:
            _unqueue()
            raise
        future.add_done_callback(_unqueue_if_cancelled)
        self._future = future

    def try_run_now(self) -> bool:
        """Simulate in the calling thread if no other job is queued or running.

        Returns:
            True when the job ran (it is DONE or ERROR; an exception of the simulation is
            kept for :meth:`result`, as for a submitted job); False when another job is
            queued or running, and nothing was done (the caller submits it instead).

        Raises:
            QsimTopoJobError: the job was submitted before.
        """
        if self._future is not None:
            raise QsimTopoJobError(f"job {self.job_id()} was already submitted")
        with _STATE_LOCK:
            # A job submitted after this point waits on _RUN_LOCK in the worker: it runs after
            # this one, as it was submitted after it.
            if _QUEUED or not _RUN_LOCK.acquire(blocking=False):
                return False
        try:
            future: futures.Future[Result] = futures.Future()
            future.set_running_or_notify_cancel()
            self._future = future
            try:
                result = self._fn(self.job_id())
            except Exception as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
        finally:
            _RUN_LOCK.release()
        return True

    def _require_future(self) -> futures.Future[Result]:
        if self._future is None:
            raise QsimTopoJobError(f"job {self.job_id()} was not submitted")
        return self._future

    def result(self, timeout: float | None = None) -> Result:
        """Wait (at most ``timeout`` seconds; None: no limit) and return the Result.

        Raises:
            QsimTopoJobError: the simulation failed (the cause is chained and in the
                message), or the job was cancelled.
            concurrent.futures.TimeoutError: ``timeout`` passed first.
        """
        future = self._require_future()
        try:
            return future.result(timeout=timeout)
        except futures.CancelledError:
            raise QsimTopoJobError(f"job {self.job_id()} was cancelled") from None
        except futures.TimeoutError:
            raise
        except Exception as exc:
            raise QsimTopoJobError(
                f"job {self.job_id()} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def cancel(self) -> bool:
        """Cancel a job that has not started; returns whether it was cancelled."""
        return self._require_future().cancel()

    def status(self) -> JobStatus:
        """QUEUED, RUNNING, DONE, ERROR or CANCELLED."""
        future = self._require_future()
        if future.running():
            return JobStatus.RUNNING
        if future.cancelled():
            return JobStatus.CANCELLED
        if future.done():
            return JobStatus.ERROR if future.exception() is not None else JobStatus.DONE
        return JobStatus.QUEUED
