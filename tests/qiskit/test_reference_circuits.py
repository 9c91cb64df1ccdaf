"""The reference circuits in circuits/ through QsimTopoBackend against their expected files.

The expected files come from qiskit.quantum_info.Statevector or, for dynamic circuits, an exact
branch enumeration (circuits/make_expected.py); neither runs qsim_topo's simulator.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from qiskit import qpy
from scipy.stats import chisquare

from qsim_topo.qiskit import QsimTopoBackend
from qsim_topo.qiskit.qasm import load_qasm

CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"
NAMES = sorted(p.stem for p in CIRCUITS.glob("*.json") if p.stem != "qasmbench")
SHOTS = 20_000
HAS_QASM3 = importlib.util.find_spec("qiskit_qasm3_import") is not None


def _record(name: str) -> dict:
    return json.loads((CIRCUITS / f"{name}.json").read_text())


def _load(record: dict):
    path = CIRCUITS / record["file"]
    if path.suffix == ".qpy":
        with open(path, "rb") as f:
            return qpy.load(f)[0]
    if "OPENQASM 3" in path.read_text() and not HAS_QASM3:
        pytest.skip("OpenQASM 3 needs qiskit_qasm3_import")
    circuit, _ = load_qasm(path)
    return circuit


def test_every_circuit_has_an_expected_file():
    sources = sorted(p.name for p in CIRCUITS.iterdir() if p.suffix in (".qasm", ".qpy"))
    assert sources == sorted(_record(n)["file"] for n in NAMES)
    assert {"bell", "ghz", "qft", "brickwork", "dynamic_feedforward", "reset", "while",
            "switch"} <= set(NAMES)
    # The random circuit families' exports (circuits/make_families.py).
    assert {"rcs_3x3_d8", "brickwork2d_3x3_d4", "brickwork_8_d6", "qv_6_d6"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_reference_circuit_matches_its_expected_file(name):
    record = _record(name)
    circuit = _load(record)
    backend = QsimTopoBackend()
    if record["kind"] == "state":
        state = np.asarray(backend.run(circuit, shots=1).result().get_statevector(0))
        ref = np.array([complex(re, im) for re, im in record["statevector"]])
        np.testing.assert_allclose(state, ref, atol=1e-10, rtol=0)
        return
    dist = record["distribution"]
    counts = backend.run(circuit, shots=SHOTS, seed_simulator=11).result().get_counts()
    assert set(counts) <= set(dist), f"outcomes of probability 0: {set(counts) - set(dist)}"
    keys = sorted(dist)
    observed = np.array([counts.get(k, 0) for k in keys])
    expected = np.array([dist[k] for k in keys]) * SHOTS
    expected *= observed.sum() / expected.sum()  # the truncated mass of a while loop
    assert chisquare(observed, expected).pvalue > 1e-4
    tvd = 0.5 * sum(abs(observed[i] / SHOTS - dist[k]) for i, k in enumerate(keys))
    assert tvd < 3 * math.sqrt(len(keys) / SHOTS)


def test_expected_distributions_agree_with_closed_forms():
    # The enumerator of make_expected.py, checked against the closed forms in the files.
    ff = _record("dynamic_feedforward")["distribution"]
    assert math.isclose(sum(p for k, p in ff.items() if k[0] == "1"), math.sin(0.35) ** 2)
    assert all(math.isclose(sum(p for k, p in ff.items() if k[2] == b), 0.5) for b in "01")
    reset = _record("reset")["distribution"]
    assert set(reset) == {"000", "010", "101", "111"}
    assert math.isclose(reset["010"] + reset["111"], math.sin(0.55) ** 2)
    p = math.sin(0.5) ** 2
    assert math.isclose(_record("while")["distribution"]["10"], p / (2 * (1 + p)), rel_tol=1e-12)
    sw = _record("switch")["distribution"]
    assert math.isclose(sw["1 00"], 0.25) and math.isclose(sw["1 10"], math.sin(0.4) ** 2 / 4)
    bell = _record("bell")["probabilities"]
    np.testing.assert_allclose(bell, [0.5, 0, 0, 0.5], atol=1e-15)


@pytest.mark.skipif(not HAS_QASM3, reason="while.qasm needs qiskit_qasm3_import")
def test_make_expected_reproduces_the_files():
    sys.path.insert(0, str(CIRCUITS))
    try:
        import make_expected
    finally:
        sys.path.remove(str(CIRCUITS))
    for name in NAMES:
        fresh = json.loads(json.dumps(make_expected.expected(name)))
        stored = _record(name)
        assert fresh.keys() == stored.keys()
        for key, value in stored.items():
            if isinstance(value, float):
                assert math.isclose(fresh[key], value, abs_tol=1e-15)
            elif key in ("statevector", "probabilities"):
                np.testing.assert_allclose(fresh[key], value, atol=1e-14)
            elif key == "distribution":
                assert fresh[key].keys() == value.keys()
                np.testing.assert_allclose(list(fresh[key].values()), list(value.values()),
                                           atol=1e-14)
            else:
                assert fresh[key] == value
