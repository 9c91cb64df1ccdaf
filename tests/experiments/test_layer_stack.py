from __future__ import annotations

import json

import numpy as np
import pytest

from qsim_topo.engines import CheckedEngine, EngineBase
from qsim_topo.errors import EngineOptionError, InsufficientMemoryError, QsimTopoError
from qsim_topo.experiments.layer_stack import accumulate_layer_stack, run_layer_stack
from tests.experiments.test_products import _explicit_product


class ScaledEngine(EngineBase):
    """Exact product times a constant: the pure global-scale artifact."""

    name = "test-scaled"

    def __init__(self, *, factor: float = 2.0982) -> None:
        super().__init__(factor=factor)
        self.factor = factor

    def matmul(self, a, b, /):
        return (a @ b) * self.factor


class ColumnZeroEngine(EngineBase):
    """Computes only column 0 of the product (a 1/n 'flops fraction'); the rest is zero."""

    name = "test-column0"

    def matmul(self, a, b, /):
        out = np.zeros((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
        out[:, 0] = a @ b[:, 0]
        return out

    def flops_fraction(self, m, k, n):
        return 1.0 / n


class NoisyEngine(EngineBase):
    """Exact product plus seeded complex Gaussian noise of relative size `eps`."""

    name = "test-noisy"

    def __init__(self, *, eps: float = 0.05, seed: int = 0) -> None:
        super().__init__(eps=eps, seed=seed)
        self.eps, self.rng = eps, np.random.default_rng(seed)

    def matmul(self, a, b, /):
        out = a @ b
        noise = self.rng.standard_normal(out.shape) + 1j * self.rng.standard_normal(out.shape)
        return out + self.eps * np.linalg.norm(out) / np.sqrt(2 * out.size) * noise


def test_exact_engine_report_is_perfect():
    r = run_layer_stack(6, 4, kind="dense", seed=1, samples=500)
    assert r.state_fidelity == pytest.approx(1.0, abs=1e-12)
    assert r.haar_input_fidelity == pytest.approx(1.0, abs=1e-12)
    assert r.frobenius_error < 1e-12 and r.aligned_frobenius_error < 1e-12
    assert r.norm == pytest.approx(1.0, abs=1e-12) and r.tvd < 1e-12
    assert r.matmul_calls == 4 and r.flops_fraction == 1.0
    assert abs(r.xeb - r.xeb_ideal_mean) < 4 * r.xeb_ideal_std
    assert r.xeb_infinite == pytest.approx(r.xeb_ideal_mean, abs=1e-10)
    assert r.diagnostics == []


def test_global_scale_engine_reproduces_the_published_artifact():
    """Per product factor c: depth 1 gives Frobenius |c - 1| = 1.0982 with fidelity 1."""
    r = run_layer_stack(5, 1, engine=ScaledEngine(), seed=2)
    assert r.frobenius_error == pytest.approx(1.0982, abs=1e-10)
    assert r.aligned_frobenius_error < 1e-12
    assert r.state_fidelity == pytest.approx(1.0, abs=1e-12)
    assert r.norm == pytest.approx(2.0982, abs=1e-10)
    assert any(d.startswith("global scale/phase error") for d in r.diagnostics)
    assert any(d.startswith("norm drift") for d in r.diagnostics)
    r3 = run_layer_stack(5, 3, engine=ScaledEngine(factor=1.01), seed=2)
    assert r3.unitary_norm_ratio == pytest.approx(1.01**3, rel=1e-10)


def test_column_zero_engine_is_caught_by_haar_inputs():
    r = run_layer_stack(6, 8, engine=ColumnZeroEngine(), seed=4)
    assert r.state_fidelity == pytest.approx(1.0, abs=1e-12)
    assert r.haar_input_fidelity < 0.2
    assert r.flops_fraction == pytest.approx(1 / 64)
    assert any(d.startswith("only the |0...0> column is right") for d in r.diagnostics)


def test_noisy_engine_fidelity_decays_with_depth():
    shallow = run_layer_stack(6, 1, engine=NoisyEngine(eps=0.1, seed=1), seed=5)
    deep = run_layer_stack(6, 8, engine=NoisyEngine(eps=0.1, seed=1), seed=5)
    assert deep.haar_input_fidelity < shallow.haar_input_fidelity < 0.999
    # Independent noise of relative size eps per product: F ~ (1 + eps^2)^-D over Haar inputs.
    assert deep.haar_input_fidelity == pytest.approx((1 + 0.01) ** -8, abs=0.03)
    assert deep.xeb_infinite < deep.xeb_ideal_mean


def test_same_seed_same_report_and_prefix_stability():
    a = run_layer_stack(4, 3, seed=7).to_dict()
    b = run_layer_stack(4, 3, seed=7).to_dict()
    for key in ("state_fidelity", "xeb", "xeb_ideal_mean", "haar_input_fidelity", "log_xeb"):
        assert a[key] == b[key]
    c = run_layer_stack(4, 3, seed=8).to_dict()
    assert c["xeb_ideal_mean"] != a["xeb_ideal_mean"]


def test_complex64_engine_products_against_complex128_reference():
    r = run_layer_stack(6, 4, dtype=np.complex64, seed=1)
    assert r.dtype == "complex64"
    assert 1e-9 < r.frobenius_error < 1e-5  # single precision is measured, not hidden
    assert r.state_fidelity == pytest.approx(1.0, abs=1e-6)


def test_report_is_json_serialisable_with_required_keys():
    d = run_layer_stack(3, 2, kind="brickwork", seed=0, samples=50).to_dict()
    required = {
        "qubits", "depth", "kind", "engine", "engine_options", "seed", "device",
        "state_fidelity", "overlap", "norm", "frobenius_error", "aligned_frobenius_error",
        "process_fidelity", "haar_input_fidelity", "xeb", "xeb_infinite", "xeb_ideal_mean",
        "xeb_ideal_std", "tvd", "flops_fraction", "matmul_calls", "wall_time_s",
        "exact_wall_time_s",
    }
    assert required <= set(d)
    json.dumps(d)


def test_bad_arguments_and_memory_are_refused_early(monkeypatch):
    # Pretend 8 GiB are free, whatever this machine has, so the refusal is deterministic.
    monkeypatch.setattr("qsim_topo.xp.available_memory", lambda device: 8 * 2**30)
    with pytest.raises(QsimTopoError, match="kind must be one of"):
        run_layer_stack(3, 2, kind="nope")
    with pytest.raises(QsimTopoError, match="mode must be one of"):
        run_layer_stack(3, 2, mode="nope")
    with pytest.raises(QsimTopoError, match=r"depth must be an integer in 1\.\."):
        run_layer_stack(3, 0)
    with pytest.raises(EngineOptionError):
        run_layer_stack(3, 2, engine="exact", engine_options={"ratio": 0.5})
    with pytest.raises(InsufficientMemoryError, match="16-qubit dense layer stack"):
        run_layer_stack(16, 2)
    with pytest.raises(QsimTopoError, match="seed must be a non-negative"):
        run_layer_stack(3, 1, seed=-1)


class MutatingEngine(EngineBase):
    """Breaks the contract: rounds its first operand in place, then multiplies."""

    name = "test-mutating"

    def matmul(self, a, b, /):
        a.real[...] = np.round(a.real, 1)
        a.imag[...] = np.round(a.imag, 1)
        return a @ b


@pytest.mark.parametrize("kind", ["dense", "brickwork"])
def test_an_engine_writing_into_its_input_cannot_corrupt_the_reference(kind):
    from qsim_topo.errors import EngineError

    with pytest.raises(EngineError, match="modified its input"):
        run_layer_stack(4, 3, kind=kind, engine=MutatingEngine(), seed=1)
    # Even unchecked, the reference never sees the engine's copy of the layer.
    eng = CheckedEngine(MutatingEngine(), check_inputs=False)
    out = accumulate_layer_stack(4, 3, kind=kind, mode="dense", engine=eng, seed=1,
                                 device="cpu")
    assert np.max(np.abs(out.reference - _explicit_product(4, 3, kind, 1))) < 1e-12
    assert np.max(np.abs(out.approx - out.reference)) > 1e-3


def test_prefix_reuse_gives_the_same_reports_as_separate_runs():
    from qsim_topo.experiments.layer_stack import iter_layer_stack

    chain = list(iter_layer_stack(5, [4, 1, 2], engine=NoisyEngine(eps=0.05, seed=3), seed=2))
    assert [r.depth for r in chain] == [1, 2, 4]
    for r in chain:
        alone = run_layer_stack(5, r.depth, engine=NoisyEngine(eps=0.05, seed=3), seed=2)
        for key in ("state_fidelity", "frobenius_error", "haar_input_fidelity", "xeb",
                    "matmul_calls"):
            assert getattr(r, key) == getattr(alone, key), key


@pytest.mark.parametrize(
    ("kwargs", "name", "error"),
    [
        ({"qubits": "3"}, "qubits", "type"),
        ({"qubits": 2.5}, "qubits", "type"),
        ({"qubits": float("inf")}, "qubits", "type"),
        ({"qubits": True}, "qubits", "type"),
        ({"qubits": 2**31}, "qubits", "value"),
        ({"depth": None}, "depth", "type"),
        ({"depth": float("nan")}, "depth", "type"),
        ({"depth": float("inf")}, "depth", "type"),
        ({"depth": 10**70}, "depth", "value"),
        ({"samples": 2.5}, "samples", "type"),
        ({"samples": 2**31}, "samples", "value"),
        ({"haar_states": 2.5}, "haar_states", "type"),
        ({"engine_options": "abc"}, "engine_options", "type"),
        ({"seed": 2.5}, "seed", "type"),
        ({"dtype": "abc"}, "dtype", "value"),
        ({"kind": []}, "kind", "value"),
        ({"device": 3}, "device", "value"),
        ({"engine": 3}, "engine", "type"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(monkeypatch, kwargs, name, error):
    """Issue 19's reported cases: one clear error naming the argument, never numpy's."""
    from qsim_topo.errors import ArgumentTypeError, InvalidArgumentError

    def no_work(*args, **kw):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr("qsim_topo.experiments.layer_stack.iter_layer_products", no_work)
    args = {"qubits": 2, "depth": 1, **kwargs}
    expected = ArgumentTypeError if error == "type" else InvalidArgumentError
    with pytest.raises(expected, match=rf"^{name} must be") as info:
        run_layer_stack(args.pop("qubits"), args.pop("depth"), **args)
    assert error == "type" or not isinstance(info.value, ArgumentTypeError)


def test_numpy_integers_are_integers_and_samples_count_in_the_memory_check(monkeypatch):
    r = run_layer_stack(np.int64(2), np.int32(1), samples=np.int64(10), haar_states=np.int8(2))
    assert r.qubits == 2 and r.samples == 10 and r.haar_states == 2
    monkeypatch.setattr("qsim_topo.xp.available_memory", lambda device: 2**30)
    with pytest.raises(InsufficientMemoryError, match="1000000 Haar probe states"):
        run_layer_stack(10, 1, haar_states=10**6)
    with pytest.raises(InsufficientMemoryError, match="1000000000 samples"):
        run_layer_stack(2, 1, samples=10**9)
