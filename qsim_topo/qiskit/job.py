"""The job of :class:`~qsim_topo.qiskit.backend.QsimTopoBackend`: a JobV1 run in a thread.

``backend.run`` validates and converts the circuits in the caller's thread (so a bad circuit
raises at once), then returns a submitted job whose simulation runs in a worker thread of a
shared single-worker executor: jobs of a process run one after the other, each one using all
the cores numpy gives it, and the caller is not blocked until it asks for ``result()``.
A job too small to be worth a thread hand-off (see
:func:`~qsim_topo.qiskit.backend.runs_inline`) is simulated by :meth:`QsimTopoJob.run_now` in
the caller's thread instead: ``run()`` returns it finished, and a failure still surfaces at
``result()``, as for a queued job.
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
        fn: ``fn(job_id) -> Result``, the simulation, called once in the worker thread.
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
        if self._future is not None:
            raise QsimTopoJobError(f"job {self.job_id()} was already submitted")
        self._future = _executor().submit(self._fn, self.job_id())

    def run_now(self) -> None:
        """Simulate in the calling thread; the job is DONE (or ERROR) when this returns.

        An exception of the simulation is kept for :meth:`result`, as for a submitted job.

        Raises:
            QsimTopoJobError: the job was submitted before.
        """
        if self._future is not None:
            raise QsimTopoJobError(f"job {self.job_id()} was already submitted")
        future: futures.Future[Result] = futures.Future()
        future.set_running_or_notify_cancel()
        self._future = future
        try:
            result = self._fn(self.job_id())
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

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
