"""The execution-path record: what ran, never what was asked for."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qsim_topo import xp as xpmod
from qsim_topo.errors import QsimTopoError
from qsim_topo.sim import numba_kernels
from qsim_topo.sim.paths import cpu_name, execution_path


def test_cpu_record_names_the_resolved_device_and_libraries():
    rec = execution_path("cpu")
    assert rec["device"] == "cpu" and rec["device_name"] == cpu_name() != ""
    assert rec["products"].startswith(f"numpy {np.__version__}")
    json.dumps(rec)  # JSON-ready
    rec["device"] = "changed"  # each call returns a new dict
    assert execution_path("cpu")["device"] == "cpu"


def test_cpu_block_kernels_follow_the_dispatch(monkeypatch):
    expected = "numba " if numba_kernels.numba_available() else "numpy "
    assert execution_path("cpu")["block_kernels"].startswith(expected)
    monkeypatch.setattr(numba_kernels, "numba_available", lambda: False)
    assert execution_path("cpu")["block_kernels"].startswith("numpy ")


@pytest.mark.skipif(xpmod.gpu_available(), reason="a GPU is present")
def test_auto_without_gpu_records_cpu_and_gpu_is_refused():
    assert execution_path("auto")["device"] == "cpu"
    with pytest.raises(QsimTopoError, match="device='gpu'"):
        execution_path("gpu")


@pytest.mark.gpu
def test_gpu_record_names_the_card_and_kernels():
    rec = execution_path("gpu")
    assert rec["device"] == "gpu" and rec["device_name"]
    assert rec["compute_capability"].count(".") == 1
    assert "numba" in rec["block_kernels"] and rec["products"].startswith("cupy ")
    assert "custatevec" in rec
