"""Jobs run side by side give exactly the serial results (issue 19, item 8)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from qiskit.circuit.random import random_circuit

from qsim_topo.engines.base import EngineBase, get_engine
from qsim_topo.qiskit import QsimTopoBackend
from qsim_topo.qiskit.job import MAX_RUNNING_JOBS

JOBS = 8


def _circuits(k: int):
    measured = random_circuit(4, 6, measure=True, seed=100 + k)
    state = random_circuit(4, 6, measure=False, seed=200 + k)
    return [measured, state]


def _fingerprint(result) -> list:
    out = []
    for exp in result.results:
        data = exp.data.to_dict()
        entry = [data.get("counts"), data.get("memory")]
        entry.append({k: v for k, v in exp.metadata.items() if k != "time_taken"})
        if "statevector" in data:
            entry.append(np.asarray(data["statevector"]).tobytes())
        out.append(entry)
    return out


@pytest.mark.parametrize(
    "engine, engine_options",
    [("exact", {}), ("cr-sampling", {"ratio": 0.5}), ("cr-sampling", {"ratio": 0.5, "seed": 3})],
)
def test_concurrent_jobs_give_the_serial_results(engine, engine_options):
    assert MAX_RUNNING_JOBS >= 4
    backend = QsimTopoBackend(engine=engine, device="cpu", **engine_options)

    def submit(k: int):
        return backend.run(_circuits(k), shots=64, memory=True, seed_simulator=k)

    serial = [_fingerprint(submit(k).result(timeout=60)) for k in range(JOBS)]
    # eight callers at once, each job in its own thread: same seeds, same results
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        jobs = list(pool.map(submit, range(JOBS)))
    concurrent = [_fingerprint(job.result(timeout=60)) for job in jobs]
    assert concurrent == serial
    # and again, submitted back to back from one thread (they overlap in the job threads)
    jobs = [submit(k) for k in range(JOBS)]
    assert [_fingerprint(job.result(timeout=60)) for job in jobs] == serial


class SlowSampling(EngineBase):
    """A seeded cr-sampling engine whose every product also sleeps a little (to overlap jobs)."""

    name = "test-slow-sampling"

    def __init__(self, seed: int) -> None:
        super().__init__(seed=seed)
        self.inner = get_engine("cr-sampling", ratio=0.5, seed=seed)

    def matmul(self, a, b, /):
        time.sleep(0.0005)
        return self.inner.matmul(a, b)


def test_jobs_sharing_a_seeded_engine_instance_keep_the_serial_draws():
    """A random engine instance's stream is consumed in submission order, as in a serial run."""

    def fresh_backend():
        return QsimTopoBackend(engine=SlowSampling(11), device="cpu")

    serial_backend = fresh_backend()
    serial = [
        _fingerprint(
            serial_backend.run(_circuits(k), shots=32, seed_simulator=k).result(timeout=60)
        )
        for k in range(JOBS)
    ]
    backend = fresh_backend()
    jobs = [backend.run(_circuits(k), shots=32, seed_simulator=k) for k in range(JOBS)]
    assert [_fingerprint(job.result(timeout=60)) for job in jobs] == serial


def test_jobs_do_not_overcommit_memory_or_the_gpu(monkeypatch):
    import threading

    from qiskit.providers import JobStatus

    from qsim_topo.qiskit import job as job_module

    monkeypatch.setattr(job_module, "available_memory", lambda device: 10 * 2**30)
    gate = threading.Event()

    def waiting(job_id, check_cancelled):
        assert gate.wait(30)
        return job_id

    def quick(job_id, check_cancelled):
        return job_id

    first = job_module.QsimTopoJob(None, "first", waiting, memory_bytes=6 * 2**30)
    first.submit()
    small = job_module.QsimTopoJob(None, "small", quick, memory_bytes=2**30)
    small.submit()
    assert small.result(timeout=30) == "small"  # fits beside the first
    big = job_module.QsimTopoJob(None, "big", quick, memory_bytes=6 * 2**30)
    big.submit()
    gpu_a = job_module.QsimTopoJob(None, "gpu-a", waiting, device="gpu")
    gpu_a.submit()
    gpu_b = job_module.QsimTopoJob(None, "gpu-b", quick, device="gpu")
    gpu_b.submit()
    time.sleep(0.2)
    assert big.status() is JobStatus.QUEUED  # 12 GiB would not fit in 10 * 0.9
    assert gpu_b.status() is JobStatus.QUEUED  # one GPU job at a time
    gate.set()
    assert big.result(timeout=30) == "big" and gpu_b.result(timeout=30) == "gpu-b"
    assert first.result(timeout=30) == "first" and gpu_a.result(timeout=30) == "gpu-a"
