"""The layer stack against engines written to fool it (each hole of issue 18, one engine each).

Every engine here is of our own construction: an engine that rebuilds the probe states when
it can, one exact on column 0 and a few percent wrong elsewhere, one declaring a tenth of the
work while doing all of it, and a seed snooper. Each test shows the report naming the
artifact, and where useful that the same engine fooled the former harness.
"""

from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import EngineBase
from qsim_topo.engines.base import register_engine, unregister_engine
from qsim_topo.experiments import seeds
from qsim_topo.experiments.diagnostics import Z_SCORE
from qsim_topo.experiments.layer_stack import run_layer_stack

QUBITS = 8
DIM = 2**QUBITS


def _probe_states(probe_seed: int, n: int) -> np.ndarray:
    """The probes :func:`qsim_topo.metrics.haar_probes` draws from ``probe_seed`` (CPU)."""
    rng = np.random.default_rng(probe_seed)
    psi = rng.standard_normal((DIM, n)) + 1j * rng.standard_normal((DIM, n))
    return psi / np.linalg.norm(psi, axis=0, keepdims=True)


class ProbeRebuilder(EngineBase):
    """Returns (A @ B) M, with M fixing e_0 and every probe state it can predict, random
    elsewhere: state, Haar-input fidelity, norm and XEB look perfect, the product is noise.

    It knows the experiment seed (as if it had searched small seeds against its inputs) and
    rebuilds the probes the way the former harness drew them (``SeedSequence([seed, 2])``) and
    the way the current one would without its commitment (``derive_seed(seed, "probes")``).
    """

    name = "test-probe-rebuilder"

    def __init__(self, *, experiment_seed: int = 0, haar_states: int = 16) -> None:
        super().__init__(experiment_seed=experiment_seed, haar_states=haar_states)
        guesses = [
            np.random.SeedSequence([experiment_seed, 2]),
            seeds.derive_seed(experiment_seed, seeds.PROBES),
            seeds.derive_seed(experiment_seed, seeds.PROBES, b""),
        ]
        vectors = [np.eye(DIM)[:, :1]]
        for guess in guesses:
            rng = np.random.default_rng(guess)
            psi = rng.standard_normal((DIM, haar_states))
            psi = psi + 1j * rng.standard_normal((DIM, haar_states))
            vectors.append(psi / np.linalg.norm(psi, axis=0, keepdims=True))
        q, _ = np.linalg.qr(np.hstack(vectors))
        fix = q @ q.conj().T
        noise = np.random.default_rng(99)
        r = noise.standard_normal((DIM, DIM)) + 1j * noise.standard_normal((DIM, DIM))
        self.m = fix + (r / np.sqrt(2 * DIM)) @ (np.eye(DIM) - fix)

    def matmul(self, a, b, /):
        return (a @ b) @ self.m.astype(np.result_type(a, b))


def test_probe_rebuilder_cannot_predict_the_probes():
    """The probes are keyed by a digest of the engine's output: its guesses all miss, the
    Haar-input fidelity shows the noise, and the |0...0> column is flagged in SE units."""
    r = run_layer_stack(QUBITS, 2, engine=ProbeRebuilder(experiment_seed=5), seed=5)
    assert r.state_fidelity == pytest.approx(1.0, abs=1e-9)  # e_0 is fixed
    assert r.norm == pytest.approx(1.0, abs=1e-9)
    assert abs(r.xeb - r.xeb_ideal_mean) < 4 * r.xeb_ideal_std  # XEB in the band
    assert r.process_fidelity < 0.2
    assert r.haar_input_fidelity < 0.3
    assert r.haar_input_fidelity == pytest.approx(r.haar_input_fidelity_expected, abs=0.1)
    column = [d for d in r.diagnostics if d.startswith("only the |0...0> column is right")]
    assert column and "standard errors (SE" in column[0]


def test_probes_predicted_anyway_are_caught_by_the_process_fidelity(monkeypatch):
    """Second line of defence: with the commitment removed (the digest made constant), the
    engine does predict the probes and scores Haar-input fidelity 1; the whole product,
    known in dense mode, contradicts it by many standard errors."""
    monkeypatch.setattr(seeds, "array_digest", lambda x: b"")
    r = run_layer_stack(QUBITS, 2, engine=ProbeRebuilder(experiment_seed=5), seed=5)
    assert r.haar_input_fidelity == pytest.approx(1.0, abs=1e-9)  # fooled ...
    assert r.process_fidelity < 0.2
    assert r.haar_input_fidelity_expected < 0.2
    probes = [d for d in r.diagnostics if "probe states are treated specially" in d]
    assert probes and "(d F_pro + 1)/(d + 1)" in probes[0]  # ... and caught


class ColumnZeroExact(EngineBase):
    """Column 0 of every product exact, the other columns off by relative noise ``eps``."""

    name = "test-column0-exact"

    def __init__(self, *, eps: float = 0.12, seed: int = 0) -> None:
        super().__init__(eps=eps, seed=seed)
        self.rng = np.random.default_rng(seed)
        self.eps = eps

    def matmul(self, a, b, /):
        out = a @ b
        noise = self.rng.standard_normal(out.shape) + 1j * self.rng.standard_normal(out.shape)
        noise *= self.eps * np.linalg.norm(out) / np.sqrt(2 * out.size)
        noise[:, 0] = 0.0
        return out + noise.astype(out.dtype)


def test_column_zero_exact_and_three_percent_wrong_elsewhere_is_flagged():
    r = run_layer_stack(QUBITS, 2, engine=ColumnZeroExact(), seed=1)
    assert r.state_fidelity == pytest.approx(1.0, abs=1e-12)
    gap = r.state_fidelity - r.haar_input_fidelity
    assert 0.02 < gap < 0.06  # a small gap, under the former fixed 0.05 threshold
    assert gap > Z_SCORE * r.haar_input_fidelity_se
    flagged = [d for d in r.diagnostics if d.startswith("only the |0...0> column is right")]
    assert flagged and "standard errors" in flagged[0]
    # The same noise on every column (an honest engine of the same quality): no flag.
    honest = run_layer_stack(QUBITS, 2, engine=_Uniform(eps=0.12), seed=1)
    assert abs(honest.haar_input_fidelity - r.haar_input_fidelity) < 0.02
    assert not [d for d in honest.diagnostics if "|0...0> column" in d]


class _Uniform(ColumnZeroExact):
    name = "test-uniform-noise"

    def matmul(self, a, b, /):
        out = a @ b
        noise = self.rng.standard_normal(out.shape) + 1j * self.rng.standard_normal(out.shape)
        noise *= self.eps * np.linalg.norm(out) / np.sqrt(2 * out.size)
        return out + noise.astype(out.dtype)


class ClaimsATenth(EngineBase):
    """Declares a tenth of the exact work and does all of it."""

    name = "test-claims-a-tenth"

    def matmul(self, a, b, /):
        return a @ b

    def flops_fraction(self, m, k, n):
        return 0.1


def test_declared_fraction_against_measured_time():
    """The time ratio is reported beside the declared fraction, and the claim is flagged.

    Big enough products (9 qubits) that the exact engine's time is measurable; the ratio is
    the median over layers, so one slow layer on a busy machine does not decide it.
    """
    r = run_layer_stack(9, 5, engine=ClaimsATenth(), seed=0, samples=100, haar_states=4)
    assert r.flops_fraction == pytest.approx(0.1)
    assert r.state_fidelity == pytest.approx(1.0, abs=1e-12)
    assert r.time_ratio > 0.4, r.time_ratio  # the same work as exact, whatever it says
    assert any(d.startswith("compute claim") for d in r.diagnostics), r


def test_an_honest_exact_run_has_no_diagnostic_and_a_time_ratio_near_one():
    r = run_layer_stack(9, 3, seed=0, samples=100, haar_states=4)
    assert r.diagnostics == []
    assert 0.2 < r.time_ratio < 5.0


class Snooper(EngineBase):
    """A random engine that keeps the seed it was built with."""

    name = "test-layer-snooper"

    def __init__(self, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)

    def matmul(self, a, b, /):
        return a @ b


def test_a_random_engine_gets_a_derived_seed_never_the_experiment_seed():
    register_engine("test-layer-snooper", Snooper)
    try:
        for seed in (0, 3):
            r = run_layer_stack(3, 1, engine="test-layer-snooper", seed=seed, samples=10)
            assert r.engine_options == {"seed": seeds.derive_seed(seed, seeds.ENGINE)}
            assert r.engine_options["seed"] != seed
        explicit = run_layer_stack(
            3, 1, engine="test-layer-snooper", engine_options={"seed": 4}, seed=0, samples=10
        )
        assert explicit.engine_options == {"seed": 4}
    finally:
        unregister_engine("test-layer-snooper")


def test_depth_one_is_one_product_of_two_haar_operands():
    """No identity start: a row-sampling engine at depth 1 neither keeps nor loses the state
    whole (the former P_0 = I gave a zero state in ~82% of seeds, F = 1 in the rest)."""
    fids, norms = [], []
    for seed in range(6):
        r = run_layer_stack(6, 1, engine="cr-sampling", engine_options={"ratio": 0.2},
                            seed=seed, samples=50, haar_states=4)
        assert r.matmul_calls == 1
        fids.append(r.state_fidelity)
        norms.append(r.norm)
    assert all(0.0 < f < 0.9 for f in fids), fids
    assert all(n > 0 for n in norms), norms
