"""The job of :class:`~qsim_topo.qiskit.backend.QsimTopoBackend`: a JobV1 run in a thread.

``backend.run`` validates and converts the circuits in the caller's thread (so a bad circuit
raises at once), then returns a submitted job whose simulation runs in a thread of its own:
up to :data:`MAX_RUNNING_JOBS` jobs of a process run at once, the others wait in submission
order. One slow or stuck job (an engine call that never returns) does not block the jobs
after it; only ``MAX_RUNNING_JOBS`` stuck jobs at once would. Jobs do not overcommit memory:
a CPU job starts beside others only while the estimates of all fit in free memory (each job's
own size was checked at ``run()``), and GPU jobs run one at a time.

Results do not depend on the scheduling: a job's seeds are fixed when it is made, and an
engine *instance* is never called from two threads at once. Jobs that share one (an engine
instance given to the backend) run one after the other, in submission order, so their random
draws are those of a serial run; an engine given by name is built per run (per circuit when
its seed is derived), so such jobs run side by side.

Cancellation (:meth:`QsimTopoJob.cancel`): a queued job is cancelled at once and never runs;
a running job is cancelled cooperatively: it reports CANCELLED at once, no result is ever
delivered, and its thread stops at the next circuit boundary (before the next circuit of the
job). A single circuit's simulation, or an engine call that blocks, cannot be interrupted
(Python cannot stop a thread): such a thread finishes its circuit in the background, its
output discarded.

A job too small to be worth a thread (see :func:`~qsim_topo.qiskit.backend.runs_inline`) is
simulated by :meth:`QsimTopoJob.try_run_now` in the caller's thread instead, when its engine
is not in use by another job: ``run()`` returns it finished, and a failure still surfaces at
``result()``, as for a queued job.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent import futures
from typing import Any

from qiskit.providers import JobStatus, JobV1
from qiskit.result import Result

from qsim_topo.qiskit.errors import QsimTopoJobError
from qsim_topo.xp import available_memory

__all__ = ["MAX_RUNNING_JOBS", "JobCancelledError", "QsimTopoJob"]

# Jobs simulated at once; more wait in submission order. Each job's numpy calls use the
# cores numpy gives them, so more would only oversubscribe; at least 4, so that a few stuck
# jobs do not stop the others on a small machine.
MAX_RUNNING_JOBS = max(4, os.cpu_count() or 1)

# Guards the scheduler's state below and every job's state.
_LOCK = threading.Condition()
_PENDING: deque[QsimTopoJob] = deque()
_RUNNING: list[QsimTopoJob] = []

_FINAL = (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED)


class JobCancelledError(QsimTopoJobError):
    """Raised inside a job's simulation, between circuits, once the job was cancelled."""


def _fits(job: QsimTopoJob) -> bool:
    """Whether ``job`` may start beside the running jobs without overcommitting its device.

    A GPU job runs alone among GPU jobs (one device). A CPU job starts when no other CPU job
    runs, or when its estimated bytes plus theirs fit in the free memory now (which already
    excludes what they allocated: a conservative count, that only makes a job wait).
    """
    others = [j for j in _RUNNING if j._device == job._device]
    if not others:
        return True
    if job._device != "cpu":
        return False
    wanted = job._memory_bytes + sum(j._memory_bytes for j in others)
    return wanted <= 0.9 * available_memory("cpu")


def _engine_busy(engine: Any, before: QsimTopoJob | None = None) -> bool:
    """Whether a running job, or a pending one ahead of ``before``, uses ``engine``."""
    if engine is None:
        return False
    if any(job._engine is engine for job in _RUNNING):
        return True
    for job in _PENDING:
        if job is before:
            break
        if job._engine is engine and job._status is JobStatus.QUEUED:
            return True
    return False


def _dispatch() -> None:
    """Start pending jobs while slots are free; call with ``_LOCK`` held."""
    for job in list(_PENDING):
        if len(_RUNNING) >= MAX_RUNNING_JOBS:
            return
        if job._status is not JobStatus.QUEUED:  # cancelled while queued
            _PENDING.remove(job)
            continue
        if _engine_busy(job._engine, before=job):
            continue  # its engine is in use: it runs after that job, in order
        if not _fits(job):
            continue  # its memory (or its GPU) is taken: it starts when a job ends
        _PENDING.remove(job)
        _RUNNING.append(job)
        job._status = JobStatus.RUNNING
        threading.Thread(
            target=job._work, name=f"qsim_topo-job-{job.job_id()[:8]}", daemon=True
        ).start()


class QsimTopoJob(JobV1):
    """A simulation job (JobV1 semantics: ``submit``, ``status``, ``result``, ``cancel``).

    Args:
        backend: the backend that made the job.
        job_id: a unique id.
        fn: ``fn(job_id, check_cancelled) -> Result``, the simulation, called once: in a job
            thread, or in the caller's by :meth:`try_run_now`. It calls ``check_cancelled()``
            between circuits, which raises :class:`JobCancelledError` once the job is
            cancelled.
        engine: the engine instance the simulation calls, if it is shared with other jobs
            (jobs of one engine instance never run at once and run in submission order);
            None: no such constraint.
        device: ``"cpu"`` or ``"gpu"``, where the job allocates its states.
        memory_bytes: the job's estimated peak bytes on ``device``: CPU jobs run side by side
            only while their estimates fit in free memory; GPU jobs run one at a time.
    """

    def __init__(
        self,
        backend: Any,
        job_id: str,
        fn: Callable[[str, Callable[[], None]], Result],
        *,
        engine: Any = None,
        device: str = "cpu",
        memory_bytes: int = 0,
    ) -> None:
        super().__init__(backend, job_id)
        self._fn = fn
        self._engine = engine
        self._device = device
        self._memory_bytes = int(memory_bytes)
        self._status: JobStatus | None = None  # None: not submitted
        self._result: Result | None = None
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ running
    def submit(self) -> None:
        """Queue the simulation; returns at once.

        Raises:
            QsimTopoJobError: the job was submitted before.
        """
        with _LOCK:
            if self._status is not None:
                raise QsimTopoJobError(f"job {self.job_id()} was already submitted")
            self._status = JobStatus.QUEUED
            _PENDING.append(self)
            _dispatch()

    def try_run_now(self) -> bool:
        """Simulate in the calling thread if the job's engine is not in use by another job.

        Returns:
            True when the job ran (it is DONE or ERROR; an exception of the simulation is
            kept for :meth:`result`, as for a submitted job); False when its engine is busy
            and nothing was done (the caller submits it instead).

        Raises:
            QsimTopoJobError: the job was submitted before.
        """
        with _LOCK:
            if self._status is not None:
                raise QsimTopoJobError(f"job {self.job_id()} was already submitted")
            if _engine_busy(self._engine) or not _fits(self):
                return False
            self._status = JobStatus.RUNNING
            _RUNNING.append(self)
        self._work(inline=True)
        return True

    def _check_cancelled(self) -> None:
        if self._status is JobStatus.CANCELLED:  # a read of one attribute: no lock needed
            raise JobCancelledError(f"job {self.job_id()} was cancelled")

    def _work(self, inline: bool = False) -> None:
        result: Result | None = None
        error: BaseException | None = None
        try:
            self._check_cancelled()
            result = self._fn(self.job_id(), self._check_cancelled)
        except BaseException as exc:  # kept for result(); a job thread has no caller
            error = exc
        with _LOCK:
            _RUNNING.remove(self)
            if self._status is JobStatus.RUNNING:  # not cancelled meanwhile
                if error is None:
                    self._result, self._status = result, JobStatus.DONE
                else:
                    self._error, self._status = error, JobStatus.ERROR
            _dispatch()
            _LOCK.notify_all()
        if inline and error is not None and not isinstance(error, Exception):
            raise error  # KeyboardInterrupt, SystemExit in the caller's thread: theirs

    # ------------------------------------------------------------------ state
    def _require_submitted(self) -> JobStatus:
        status = self._status
        if status is None:
            raise QsimTopoJobError(f"job {self.job_id()} was not submitted")
        return status

    def result(self, timeout: float | None = None) -> Result:
        """Wait (at most ``timeout`` seconds; None: no limit) and return the Result.

        Raises:
            QsimTopoJobError: the simulation failed (the cause is chained and in the
                message), or the job was cancelled.
            concurrent.futures.TimeoutError: ``timeout`` passed first.
        """
        with _LOCK:
            self._require_submitted()
            if not _LOCK.wait_for(lambda: self._status in _FINAL, timeout=timeout):
                raise futures.TimeoutError(f"job {self.job_id()} did not finish in {timeout} s")
            if self._status is JobStatus.CANCELLED:
                raise QsimTopoJobError(f"job {self.job_id()} was cancelled")
            if self._status is JobStatus.ERROR:
                exc = self._error
                assert exc is not None
                raise QsimTopoJobError(
                    f"job {self.job_id()} failed: {type(exc).__name__}: {exc}"
                ) from exc
            assert self._result is not None
            return self._result

    def cancel(self) -> bool:
        """Cancel the job unless it has finished; returns whether it was cancelled.

        A queued job never runs; a running one reports CANCELLED at once, delivers no
        result, and its thread stops before the job's next circuit (see the module notes).
        """
        with _LOCK:
            if self._require_submitted() not in (JobStatus.QUEUED, JobStatus.RUNNING):
                return False
            self._status = JobStatus.CANCELLED
            _dispatch()  # a job waiting for this one's engine may not start before it stops
            _LOCK.notify_all()
            return True

    def status(self) -> JobStatus:
        """QUEUED, RUNNING, DONE, ERROR or CANCELLED."""
        return self._require_submitted()
