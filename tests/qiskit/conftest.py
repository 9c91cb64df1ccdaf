"""Fixtures of the Qiskit-layer tests (skipped as a whole without qiskit)."""

from __future__ import annotations

import pytest

pytest.importorskip("qiskit")


@pytest.fixture(scope="module")
def backend():
    from qsim_topo.qiskit import QsimTopoBackend

    return QsimTopoBackend(device="cpu")


@pytest.fixture(scope="module")
def aer():
    qiskit_aer = pytest.importorskip("qiskit_aer")
    return qiskit_aer.AerSimulator(method="statevector")
