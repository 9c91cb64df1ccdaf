"""`verify` against hostile engines: scale errors, impostor references, seed snooping."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pytest

from qsim_topo.cli.main import main
from qsim_topo.engines import base
from qsim_topo.engines.base import register_engine, unregister_engine
from qsim_topo.experiments.seeds import ENGINE, derive_seed

pytest.importorskip("qiskit")

from qiskit import QuantumCircuit

from qsim_topo.qiskit.verify import verify_circuit

N_QUBITS = 10


def _circuit(layers: int = 6) -> QuantumCircuit:
    """A 10-qubit entangling circuit with its terminal measurements."""
    rng = np.random.default_rng(3)
    qc = QuantumCircuit(N_QUBITS, N_QUBITS, name="hostile10")
    for layer in range(layers):
        for q in range(N_QUBITS):
            qc.u(*rng.uniform(0, np.pi, 3), q)
        for q in range(layer % 2, N_QUBITS - 1, 2):
            qc.cx(q, q + 1)
    qc.measure(range(N_QUBITS), range(N_QUBITS))
    return qc


class PerProductScale:
    """Every product exact times a constant: normalised metrics cannot see it."""

    exact = False
    name = "test-scale"

    def __init__(self, *, factor: float = 10.0) -> None:
        self.factor = factor

    def matmul(self, a, b, /):
        return self.factor * (a @ b)

    def flops_fraction(self, m, k, n):
        return 1.0


class Impostor:
    """What a plug-in registered as "exact" would be: a product 3% off (and a bit more)."""

    exact = False
    name = "exact"

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def matmul(self, a, b, /):
        out = a @ b
        noise = self.rng.standard_normal(out.shape) + 1j * self.rng.standard_normal(out.shape)
        return out + 0.5 * np.linalg.norm(out) / np.sqrt(out.size) * noise.astype(out.dtype)

    def flops_fraction(self, m, k, n):
        return 1.0


class SeedSnooper:
    """A random engine that records the seed it is given."""

    exact = False
    name = "test-snooper"
    seen: ClassVar[list[int | None]] = []

    def __init__(self, *, seed: int | None = None) -> None:
        SeedSnooper.seen.append(seed)
        self.options = {"seed": seed}

    def matmul(self, a, b, /):
        return a @ b

    def flops_fraction(self, m, k, n):
        return 1.0


@pytest.fixture
def scale_engine():
    register_engine("test-scale", PerProductScale)
    yield "test-scale"
    unregister_engine("test-scale")


def test_per_product_scale_error_shows_in_norm_and_diagnostics(scale_engine, tmp_path, capsys):
    report = verify_circuit(_circuit(), engine=scale_engine, shots=256, seed=1)
    # Every normalised metric is perfect ...
    assert report.state_fidelity == pytest.approx(1.0, abs=1e-9)
    assert report.tvd < 1e-9
    # ... but the state's norm is 10^(products): reported, and diagnosed.
    assert report.norm == pytest.approx(10.0 ** report.matmul_calls, rel=1e-6)
    assert report.norm > 1e5
    assert any(d.startswith("norm drift") for d in report.diagnostics)
    path = tmp_path / "c.qasm"
    from qiskit import qasm2

    path.write_text(qasm2.dumps(_circuit()))
    assert main(["verify", str(path), "--engine", scale_engine, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["norm"] > 1e5 and any("norm drift" in d for d in data["diagnostics"])
    assert main(["verify", str(path), "--engine", scale_engine]) == 0
    text = capsys.readouterr().out
    assert "norm of the engine's final state" in text and "WARNING: norm drift" in text


def test_exact_engine_has_norm_one_and_no_diagnostic():
    report = verify_circuit(_circuit(2), shots=128, seed=0)
    assert report.norm == pytest.approx(1.0, abs=1e-12) and report.diagnostics == []
    assert report.time_ratio > 0


def test_the_reference_is_the_exact_class_not_a_registry_entry(monkeypatch):
    """Even if the registry's "exact" entry were replaced behind the guard's back, the
    reference stays the real exact engine: the impostor is scored against it, not itself."""
    monkeypatch.setitem(base._REGISTRY, "exact", base._Entry(Impostor))
    report = verify_circuit(_circuit(3), engine="exact", shots=128, seed=0)
    assert report.state_fidelity < 0.9 and report.tvd > 0.05


def test_the_engine_never_gets_the_experiment_seed():
    register_engine("test-snooper", SeedSnooper)
    SeedSnooper.seen.clear()
    try:
        for seed in (0, 7):
            report = verify_circuit(_circuit(1), engine="test-snooper", shots=64, seed=seed)
            assert report.engine_options["seed"] == derive_seed(seed, ENGINE)
        assert set(SeedSnooper.seen) == {derive_seed(0, ENGINE), derive_seed(7, ENGINE)}
        assert not {0, 7} & set(SeedSnooper.seen)
    finally:
        unregister_engine("test-snooper")
