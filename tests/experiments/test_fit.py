from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import expm

from qsim_topo.engines import EngineBase, register_engine
from qsim_topo.engines.base import unregister_engine
from qsim_topo.experiments.fit import (
    fit_rows,
)
from qsim_topo.experiments.fit_report import fits_to_json, format_fits, verdict
from qsim_topo.experiments.noise import (
    apply_unitary,
    depolarize,
    depolarized_density_matrix,
    validate_fits,
)
from qsim_topo.experiments.products import initial_product
from qsim_topo.experiments.store import ResultStore
from qsim_topo.experiments.sweep import SweepSpec, run_sweep
from qsim_topo.layers import haar_unitary, layer_stack
from tests.conftest import embed

# ---------------------------------------------------------------- engines of known behaviour


class MixingEngine(EngineBase):
    """Keeps sqrt(1-p) of the exact product and adds sqrt(p) of a random matrix of equal norm:
    a state loses fidelity p per product, like global depolarizing noise (in fidelity)."""

    name = "test-mixing"

    def __init__(self, *, p: float = 0.05, seed: int = 0) -> None:
        super().__init__(p=p, seed=seed)
        self.p, self.rng = p, np.random.default_rng(seed)

    def matmul(self, a, b, /):
        exact = a @ b
        w = self.rng.standard_normal(exact.shape) + 1j * self.rng.standard_normal(exact.shape)
        w *= np.linalg.norm(exact) / np.linalg.norm(w)
        return math.sqrt(1 - self.p) * exact + math.sqrt(self.p) * w


class OverRotationEngine(EngineBase):
    """Multiplies each product on the right by a fixed small unitary exp(-i theta G): after D
    layers the input sees exp(-i D theta G), a coherent error (1 - F ~ D^2)."""

    name = "test-overrotation"

    def __init__(self, *, theta: float = 0.02) -> None:
        super().__init__(theta=theta)
        self.theta = theta

    def matmul(self, a, b, /):
        dim = b.shape[1]
        g = np.random.default_rng(dim).standard_normal((dim, dim))
        g = (g + g.T) / 2
        return (a @ b) @ expm(-1j * self.theta * g)


class ColumnZeroExactEngine(EngineBase):
    """Exact on column 0 of the product, noisy (relative eps) everywhere else."""

    name = "test-col0-exact"

    def __init__(self, *, eps: float = 0.3, seed: int = 0) -> None:
        super().__init__(eps=eps, seed=seed)
        self.eps, self.rng = eps, np.random.default_rng(seed)

    def matmul(self, a, b, /):
        out = a @ b
        noise = self.rng.standard_normal(out.shape) + 1j * self.rng.standard_normal(out.shape)
        noise[:, 0] = 0
        return out + self.eps * np.linalg.norm(out) / math.sqrt(2 * out.size) * noise


ENGINES = (MixingEngine, OverRotationEngine, ColumnZeroExactEngine)
DEPTHS = (1, 2, 3, 4, 6)


@pytest.fixture(scope="module")
def sweep_rows(tmp_path_factory):
    for cls in ENGINES:
        register_engine(cls.name, cls, replace=True)
    try:
        out = tmp_path_factory.mktemp("fit_sweep")
        spec = SweepSpec(
            qubits=(5,),
            depths=DEPTHS,
            engines=("exact", "test-mixing:p=0.05", "test-overrotation", "test-col0-exact"),
            seeds=tuple(range(5)),
            samples=200,
        )
        outcome = run_sweep(spec, out, executor="serial")
        assert outcome.failed == 0, outcome.errors
        yield ResultStore(out).rows()
    finally:
        for cls in ENGINES:
            unregister_engine(cls.name)


def _by_engine(fits):
    return {cf.config["engine_spec"]: cf for cf in fits}


# ---------------------------------------------------------------- the exact channel


@pytest.mark.parametrize("qubits", [(0,), (1, 3), (2, 0), (3, 1, 0)])
def test_apply_unitary_matches_the_embedded_matrix(qubits, rng):
    n = 4
    u = haar_unitary(2 ** len(qubits), seed=rng)
    m = rng.standard_normal((16, 3)) + 1j * rng.standard_normal((16, 3))
    np.testing.assert_allclose(apply_unitary(m, u, qubits, n), embed(u, qubits, n) @ m, atol=1e-13)


def test_depolarize_is_the_pauli_twirl(rng):
    """(1 - lam) rho + lam Tr_q(rho) (x) I/4 == (1 - lam) rho + lam/16 sum_P P rho P."""
    n, qubits, lam = 3, (2, 0), 0.3
    psi = rng.standard_normal(8) + 1j * rng.standard_normal(8)
    rho = np.outer(psi, psi.conj()) / np.vdot(psi, psi)
    paulis = [
        np.eye(2),
        np.array([[0, 1], [1, 0]]),
        np.array([[0, -1j], [1j, 0]]),
        np.diag([1, -1]),
    ]
    twirl = sum(
        embed(np.kron(b, a), qubits, n) @ rho @ embed(np.kron(b, a), qubits, n).conj().T
        for a in paulis
        for b in paulis
    )
    expected = (1 - lam) * rho + lam / 16 * twirl
    np.testing.assert_allclose(depolarize(rho, lam, qubits, n), expected, atol=1e-14)


def test_global_depolarizing_has_the_closed_form():
    n, p, depth = 4, 0.07, 5
    layers = list(layer_stack(n, depth, "dense", seed=3))
    rho = depolarized_density_matrix(layers, n, p_layer=p)
    psi = np.zeros(16, complex)
    psi[0] = 1
    for layer in layers:
        psi = layer.matrix() @ psi
    a = (1 - p) ** depth
    np.testing.assert_allclose(
        rho, a * np.outer(psi, psi.conj()) + (1 - a) * np.eye(16) / 16, atol=1e-13
    )


@pytest.mark.parametrize(
    ("kind", "n", "p_layer", "p_gate"),
    [("brickwork", 4, 0.0, 0.04), ("brickwork", 3, 0.05, 0.02), ("dense", 3, 0.1, 0.0)],
)
def test_channel_matches_qiskit_aer(kind, n, p_layer, p_gate):
    pytest.importorskip("qiskit_aer")
    from qsim_topo.qiskit.noise import aer_depolarized_density_matrix

    layers = list(layer_stack(n, 4, kind, seed=11))
    ours = depolarized_density_matrix(layers, n, p_layer=p_layer, p_gate=p_gate)
    aer = aer_depolarized_density_matrix(layers, n, p_layer=p_layer, p_gate=p_gate)
    np.testing.assert_allclose(ours, aer, atol=1e-12)


# ---------------------------------------------------------------- deliverable 5: known p


PAULIS = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1])]
PAULIS2 = [np.kron(b, a) for b in PAULIS for a in PAULIS]


def _trajectory_rows(p, *, kind="dense", qubits=4, depths=(1, 2, 3, 4, 6, 8), seeds=6, shots=300):
    """Rows of a sweep whose 'engine' is depolarizing noise itself, simulated by trajectories
    (the mixture over trajectories is exactly the channel). Dense: after each layer, with
    probability p, the state is replaced by a Haar-random one (global depolarizing p).
    Brickwork: after each gate, with probability p, a uniformly drawn 2-qubit Pauli (identity
    included) hits its qubits (2-qubit depolarizing p). Finite shots give each seed its own
    estimate, so the interval over seeds is a real one."""
    dim = 2**qubits
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        # The sweep's convention: the chain's input is P_0|0...0>, column 0 of its Haar P_0.
        ideal = np.ascontiguousarray(initial_product(qubits, seed, "cpu")[:, :1])
        states = np.repeat(ideal, shots, axis=1)
        for depth, layer in enumerate(layer_stack(qubits, max(depths), kind, seed=seed), start=1):
            for op in layer.ops:
                ideal = apply_unitary(ideal, op.matrix, op.qubits, qubits)
                states = apply_unitary(states, op.matrix, op.qubits, qubits)
                if kind == "brickwork":
                    hit = np.flatnonzero(rng.random(shots) < p)
                    which = rng.integers(16, size=hit.size)
                    for k in range(1, 16):
                        cols = hit[which == k]
                        states[:, cols] = apply_unitary(
                            states[:, cols], PAULIS2[k], op.qubits, qubits
                        )
            if kind == "dense":
                hit = rng.random(shots) < p
                fresh = rng.standard_normal((dim, hit.sum())) + 1j * rng.standard_normal(
                    (dim, hit.sum())
                )
                states[:, hit] = fresh / np.linalg.norm(fresh, axis=0)
            if depth in depths:
                p_ideal = np.abs(ideal[:, 0]) ** 2
                p_mix = np.mean(np.abs(states) ** 2, axis=1)
                rows.append(
                    {
                        "key": f"{seed}-{depth}",
                        "status": "ok",
                        "qubits": qubits,
                        "kind": kind,
                        "engine_spec": f"depolarizing-trajectories:p={p}",
                        "seed": seed,
                        "depth": depth,
                        "state_fidelity": float(np.mean(np.abs(ideal[:, 0].conj() @ states) ** 2)),
                        "xeb_infinite": dim * float(p_mix @ p_ideal) - 1,
                        "xeb_ideal_mean": dim * float(p_ideal @ p_ideal) - 1,
                        "tvd": 0.5 * float(np.abs(p_mix - p_ideal).sum()),
                    }
                )
    return rows


def test_fit_recovers_a_known_p_from_a_simulated_depolarizing_channel_and_validates_it():
    p = 0.06
    (cf,) = fit_rows(_trajectory_rows(p))
    m = cf.metrics["state_fidelity"]
    assert m.status == "fitted" and m.n_seeds == 6
    assert m.p_lo < p < m.p_hi, (m.p_lo, m.p, m.p_hi)
    assert m.p_hi - m.p_lo < 0.5 * p  # an interval that says something
    assert m.model == "depolarizing" and m.exponent < 1.5
    xeb = cf.metrics["xeb_normalised"]
    assert xeb.p_lo < p < xeb.p_hi
    assert cf.consistent
    validate_fits([cf])
    assert cf.validation.validated, cf.validation.reasons
    assert verdict(cf).startswith("behaves like")
    assert "depolarizing error per layer" in verdict(cf)


def test_per_gate_error_from_a_simulated_2_qubit_depolarizing_channel():
    lam = 0.08  # 2-qubit depolarizing after each gate: Pauli error 15/16 lam per gate
    (cf,) = fit_rows(_trajectory_rows(lam, kind="brickwork", seeds=6, shots=400))
    assert cf.gates == pytest.approx(1.5)
    m = cf.metrics["state_fidelity"]
    e, e_lo, e_hi = cf.gate_error(m)
    assert e == pytest.approx(15 / 16 * lam, rel=0.25), (e_lo, e, e_hi)
    validate_fits([cf])
    v = cf.validation
    assert v.simulated and v.gate_fidelity_ok is not None
    assert v.p_gate == pytest.approx(16 / 15 * e)
    assert all("fidelity_gate_model" in row for row in v.table)
    if v.validated:
        assert "Pauli error per two-qubit gate" in verdict(cf)


def test_a_wrong_p_is_not_validated():
    (cf,) = fit_rows(_trajectory_rows(0.06))
    m = cf.metrics["state_fidelity"]
    m.alpha, m.alpha_lo, m.alpha_hi = 0.8, 0.79, 0.81  # p = 20%: three times too big
    validate_fits([cf])
    assert not cf.validation.validated
    assert any("state fidelity" in r for r in cf.validation.reasons)
    assert verdict(cf).startswith("not validated by simulation")


def test_mixing_engine_recovers_its_p(sweep_rows):
    cf = _by_engine(fit_rows(sweep_rows))["test-mixing:p=0.05"]
    for name in ("state_fidelity", "haar_input_fidelity"):
        m = cf.metrics[name]
        assert m.p_lo < 0.05 < m.p_hi, (name, m.p_lo, m.p, m.p_hi)
        assert m.model == "depolarizing"
    assert cf.consistent, cf.flags


def test_mixing_engine_is_not_validated_on_its_output_distribution(sweep_rows):
    """A pure state with a random error is as faithful as p depolarizing but its distribution is
    much farther from the ideal one (TVD ~ sqrt(1 - F), not (1 - F)): validation says so."""
    cf = _by_engine(fit_rows(sweep_rows))["test-mixing:p=0.05"]
    validate_fits([cf])
    v = cf.validation
    assert v.simulated and v.fidelity_ok
    assert not v.tvd_ok and not v.validated
    assert "TVD" in verdict(cf)


def test_overrotation_engine_is_classified_coherent(sweep_rows):
    cf = _by_engine(fit_rows(sweep_rows))["test-overrotation"]
    for name in ("state_fidelity", "haar_input_fidelity", "process_fidelity"):
        m = cf.metrics[name]
        assert m.model == "coherent", (name, m.exponent)
        assert 1.7 < m.exponent < 2.2
        assert m.sse_coherent < m.sse_depolarizing
    assert "coherent" in verdict(cf)


def test_column_zero_exact_engine_is_flagged_inconsistent(sweep_rows):
    cf = _by_engine(fit_rows(sweep_rows))["test-col0-exact"]
    assert cf.metrics["state_fidelity"].p < 1e-10  # column 0 is exact (to rounding)
    assert cf.metrics["haar_input_fidelity"].p > 0.01
    assert not cf.consistent
    assert any("state_fidelity" in f and "haar_input_fidelity" in f for f in cf.flags)
    assert verdict(cf).startswith("not validated: the metrics disagree")


def test_exact_engine_has_no_measurable_error(sweep_rows):
    fits = fit_rows(sweep_rows)
    cf = _by_engine(fits)["exact"]
    assert cf.consistent
    assert all(m.p < 1e-10 for m in cf.metrics.values())
    validate_fits(fits)
    assert cf.validation.validated
    assert verdict(cf).startswith("no measurable error")
    text = format_fits(fits)
    assert "test-overrotation" in text and "coherent" in text
    data = fits_to_json(fits)
    assert {d["config"]["engine_spec"] for d in data} == {cf.config["engine_spec"] for cf in fits}


# ---------------------------------------------------------------- rows of any shape


def test_state_mode_rows_without_process_fidelity_are_fitted():
    rows = [
        {k: v for k, v in r.items() if k not in ("xeb_infinite", "xeb_ideal_mean")}
        | {"engine": "x", "xeb_normalised": 0.94 ** r["depth"]}
        for r in _trajectory_rows(0.06, seeds=3)
    ]
    for r in rows:
        del r["engine_spec"]
    (cf,) = fit_rows(rows)
    assert set(cf.metrics) == {"state_fidelity", "xeb_normalised"}
    assert cf.metrics["xeb_normalised"].p == pytest.approx(0.06, rel=1e-9)
    assert cf.config["engine"] == "x"


def test_failed_and_superseded_rows_are_skipped():
    rows = _trajectory_rows(0.06, seeds=2)
    rows.append({**rows[0], "status": "failed", "state_fidelity": None, "key": "other"})
    stale = {**rows[1], "state_fidelity": 0.0}
    (cf,) = fit_rows([stale, *rows])  # the later row of a key wins
    assert cf.metrics["state_fidelity"].status == "fitted"


def test_gates_per_layer_and_gate_error():
    with pytest.raises(ValueError, match="unknown fit metric"):
        fit_rows([], metrics=("nope",))
    rows = [{**r, "kind": "brickwork", "qubits": 4} for r in _trajectory_rows(0.06, seeds=2)]
    (cf,) = fit_rows(rows)
    m = cf.metrics["state_fidelity"]
    e = cf.gate_error(m)
    assert e is not None and (1 - e[0]) ** cf.gates == pytest.approx(m.alpha)
    r, _, _ = cf.pauli_error(m)
    assert r == pytest.approx(m.p * (1 - 1 / 256))


def test_regenerated_circuits_that_differ_are_refused():
    rows = _trajectory_rows(0.06, seeds=2)
    for r in rows:
        r["xeb_ideal_mean"] *= 1.01
    (cf,) = fit_rows(rows)
    validate_fits([cf])
    assert not cf.validation.simulated
    assert "not the sweep's" in cf.validation.reasons[0]


def test_too_many_qubits_are_not_simulated():
    (cf,) = fit_rows(_trajectory_rows(0.06, seeds=2))
    validate_fits([cf], max_qubits=3)
    assert not cf.validation.simulated and "up to 3" in cf.validation.reasons[0]
    with pytest.raises(ValueError, match="max_qubits"):
        validate_fits([cf], max_qubits=11)
