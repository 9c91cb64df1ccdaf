"""Fixtures of the Qiskit-layer tests (skipped as a whole without qiskit).

Every test module of this folder runs twice: with gate fusion on (the default) and off, so
that every correctness test of the backend, the primitives and verify covers both paths.
"""

from __future__ import annotations

import pytest

pytest.importorskip("qiskit")


@pytest.fixture(scope="module", params=["fused", "unfused"], autouse=True)
def fusion_mode(request):
    """Patch the defaults of the backend and of ``execute`` to the param's fusion setting.

    The fused mode also drops the qubit threshold to 1, so the small test circuits fuse too.
    """
    from qsim_topo.qiskit import backend as backend_module
    from qsim_topo.sim import executor as executor_module

    enabled = request.param == "fused"
    original = backend_module.QsimTopoBackend._default_options.__func__

    def default_options(cls):
        options = original(cls)
        options.update_options(fusion_enable=enabled, fusion_threshold=1)
        return options

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(executor_module, "FUSION_DEFAULT", enabled)
        mp.setattr(executor_module, "FUSION_THRESHOLD", 1)
        mp.setattr(
            backend_module.QsimTopoBackend, "_default_options", classmethod(default_options)
        )
        yield enabled


@pytest.fixture(scope="module")
def backend(fusion_mode):
    from qsim_topo.qiskit import QsimTopoBackend

    b = QsimTopoBackend(device="cpu")
    assert b.options.fusion_enable is fusion_mode
    return b


@pytest.fixture(scope="module")
def aer():
    qiskit_aer = pytest.importorskip("qiskit_aer")
    return qiskit_aer.AerSimulator(method="statevector")
