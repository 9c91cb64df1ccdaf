from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.xp import gpu_available


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs cupy and a CUDA device")
    for item in items:
        # The marker, not `"gpu" in item.keywords`: keywords also hold the names of the
        # folders above the test, so a checkout in a folder named gpu would skip everything.
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture
def faulty(tmp_path, monkeypatch):
    """The ``test-faulty`` plug-in engine (tests/faulty_engines.py), spawned workers included."""
    from qsim_topo.engines import base
    from tests import faulty_engines

    name = faulty_engines.install(tmp_path, monkeypatch)
    yield name
    base.unregister_engine(name)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


def devices() -> list:
    """cpu always; gpu as a param marked `gpu` (skipped without a device)."""
    return ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)]


def embed(matrix: np.ndarray, qubits, n: int) -> np.ndarray:
    """Independent reference: the (2^n, 2^n) matrix of `matrix` on `qubits`, built entry by
    entry from the little-endian index arithmetic (qubits[0] = least significant bit)."""
    dim = 2**n
    full = np.zeros((dim, dim), dtype=complex)
    mask = sum(1 << q for q in qubits)
    for col in range(dim):
        sub_in = sum(((col >> q) & 1) << j for j, q in enumerate(qubits))
        rest = col & ~mask
        for sub_out in range(2 ** len(qubits)):
            row = rest | sum(((sub_out >> j) & 1) << q for j, q in enumerate(qubits))
            full[row, col] += matrix[sub_out, sub_in]
    return full
