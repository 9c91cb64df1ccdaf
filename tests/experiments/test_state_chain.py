from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from qsim_topo.circuit import GateOp
from qsim_topo.errors import InsufficientMemoryError, QsimTopoError
from qsim_topo.experiments import state_chain
from qsim_topo.experiments.state_chain import (
    StateChainConfig,
    iter_state_chain,
    state_chain_bytes,
)
from qsim_topo.layers import brickwork_layer, haar_unitary


class BrickFamily:
    """A test-local family: brickwork cycles, and optionally a closing layer of 1q gates."""

    kind = "brickwork"

    def __init__(self, n: int, seed: int, closing: bool = False) -> None:
        self.n_qubits, self.seed, self.with_closing = n, seed, closing

    def cycle(self, index: int) -> list[GateOp]:
        return brickwork_layer(
            self.n_qubits, index % 2, seed=np.random.SeedSequence([self.seed, index])
        )

    def closing(self, depth: int) -> list[GateOp]:
        if not self.with_closing:
            return []
        rng = np.random.default_rng([self.seed, 10_000 + depth])
        return [GateOp(haar_unitary(2, seed=rng), (q,), "haar") for q in range(self.n_qubits)]

    def circuit(self, depth: int) -> list[GateOp]:
        ops = [op for i in range(depth) for op in self.cycle(i)]
        return ops + self.closing(depth)


def numpy_state(fam: BrickFamily, depth: int) -> np.ndarray:
    """The independent reference: dense numpy complex128 contraction, gate by gate."""
    n = fam.n_qubits
    psi = np.zeros((2,) * n, dtype=np.complex128)
    psi[(0,) * n] = 1
    for op in fam.circuit(depth):
        k = len(op.qubits)
        axes = [n - 1 - q for q in reversed(op.qubits)]
        g = np.asarray(op.matrix).reshape((2,) * (2 * k))
        psi = np.moveaxis(np.tensordot(g, psi, axes=(list(range(k, 2 * k)), axes)), range(k), axes)
    return psi.reshape(-1)


class ScaledEngine:
    """Exact products times 2: the state is exact up to a factor 2 per gate."""

    name = "scaled2"
    exact = False

    def matmul(self, a, b):
        return 2 * (a @ b)

    def flops_fraction(self, m, k, n):
        return 1.0


def reports(engine="exact", depths=(1, 2, 4), n=6, closing=True, **kw):
    fam = BrickFamily(n, 3, closing)
    config = StateChainConfig(n, kind="brickwork", engine=engine, seed=3, **kw)
    return fam, list(iter_state_chain(config, depths, fam))


def test_exact_engine_matches_an_independent_numpy_reference():
    fam, rows = reports("exact", depths=(1, 3), samples=4000)
    assert [r.depth for r in rows] == [1, 3]
    for r in rows:
        assert abs(r.state_fidelity - 1) < 1e-10 and abs(r.norm - 1) < 1e-10
        assert r.tvd < 1e-10 and r.diagnostics == []
        # XEB of an exact sampler, normalised by its own expectation: 1 within its spread.
        assert abs(r.xeb_normalized - 1) < 5 * r.xeb_ideal_std / r.xeb_ideal_mean
        assert r.gates == len(fam.circuit(r.depth))
        assert r.matmul_calls == r.gates  # one product per gate
    # the reference itself against numpy: the exact engine's state equals it, fidelity 1
    ref = numpy_state(fam, 3)
    p = np.abs(ref) ** 2
    assert rows[1].xeb_ideal_mean == pytest.approx(p.size * np.sum(p * p) - 1, rel=1e-10)


def test_scaled_engine_keeps_fidelity_one_and_reports_the_norm():
    _, rows = reports(ScaledEngine(), depths=(1, 2))
    for r in rows:
        assert abs(r.state_fidelity - 1) < 1e-10
        assert r.norm == pytest.approx(2.0**r.gates, rel=1e-10)
        assert r.tvd < 1e-10
        assert any("norm drift" in d for d in r.diagnostics)


def test_bf16_loses_fidelity_and_xeb_metrics_are_consistent():
    _, rows = reports("bf16", depths=(2, 8), n=8, samples=2000)
    for r in rows:
        assert 0.5 < r.state_fidelity < 1 - 1e-7
        assert 0 < r.tvd < 0.5
        assert math.isfinite(r.log_xeb) and math.isfinite(r.xeb_normalized)
    assert rows[1].state_fidelity < rows[0].state_fidelity


def test_depth_rows_equal_single_depth_runs_with_a_random_engine():
    # A depth's row does not depend on which other depths were measured (closing engines
    # are seeded per depth), so a resumed chain reproduces stored rows.
    _, both = reports("cr-sampling", depths=(2, 4), n=5)
    _, alone = reports("cr-sampling", depths=(4,), n=5)
    assert both[1].state_fidelity == alone[0].state_fidelity
    assert both[1].xeb == alone[0].xeb and both[1].tvd == alone[0].tvd


def test_column_blocks_give_the_same_exact_state():
    _, whole = reports("exact", depths=(3,), n=6)
    _, blocked = reports("exact", depths=(3,), n=6, column_block=3)
    assert blocked[0].state_fidelity == pytest.approx(whole[0].state_fidelity, abs=1e-12)
    assert blocked[0].matmul_calls > whole[0].matmul_calls  # one call per block
    assert blocked[0].column_block == 3


def test_memory_refusal_names_required_and_available_bytes(monkeypatch):
    monkeypatch.setattr("qsim_topo.xp.available_memory", lambda device: 1000)
    with pytest.raises(InsufficientMemoryError, match=r"needs about .* but only 1000 B"):
        reports("exact", depths=(1,), n=6)
    with pytest.raises(QsimTopoError, match="bytes"):
        list(iter_state_chain(StateChainConfig(41), [1], BrickFamily(41, 0)))


def test_memory_estimate_for_28_qubits_is_a_small_multiple_of_the_state():
    # complex128 reference 4 GiB, complex64 engine state 2 GiB: the peak is 2R + 2E or
    # R + 4E = 12 GiB (plus workspace and block temporaries), within 24 GiB.
    need = state_chain_bytes(28, np.complex64)
    assert 12 * 2**30 < need < 13 * 2**30
    assert state_chain_bytes(28, np.complex64, closing=False) < need


def test_bad_arguments_are_refused():
    with pytest.raises(QsimTopoError, match="depth"):
        reports(depths=(0,))
    with pytest.raises(QsimTopoError, match="dtype"):
        StateChainConfig(4, dtype=np.float32)
    with pytest.raises(QsimTopoError, match="unknown state kind"):
        state_chain.make_state_family("dense", 4, 0, None)


class _DeferredTamper:
    """An adversarial plug-in: it keeps the 2x2 gate matrices it is given and, on a later call
    (after the input check of that call), negates their |1> column, while computing each gate
    it is asked for as that tampered matrix. If the engine saw the reference's own arrays, the
    reference would run the tampered circuit too and the report would read fidelity 1."""

    name = "test-deferred-tamper"
    exact = False
    family = "plug-in"

    def __init__(self):
        self.options = {}
        self.kept = []

    def matmul(self, a, b, /):
        for m in self.kept:
            if m is not a:
                m.setflags(write=True)
                m[:, 1] *= -1
        self.kept = [m for m in self.kept if m is a]
        if a.shape != (2, 2):
            return a @ b
        self.kept.append(a)
        w = a.copy()
        w[:, 1] *= -1
        return w @ b

    def flops_fraction(self, m, k, n):
        return 1.0


def test_an_engine_that_rewrites_gate_matrices_later_cannot_reach_the_reference():
    from qsim_topo.circuit import Program
    from qsim_topo.engines.base import get_engine, register_engine, unregister_engine
    from qsim_topo.families import make_family
    from qsim_topo.sim.executor import execute

    register_engine(_DeferredTamper.name, _DeferredTamper)
    try:
        report = next(iter_state_chain(
            StateChainConfig(qubits=8, seed=3, samples=200, engine=_DeferredTamper.name), [4]))
    finally:
        unregister_engine(_DeferredTamper.name)
    # The engine computed another circuit: the fidelity must say so.
    assert report.state_fidelity < 0.5, report.state_fidelity
    # And the family's shared gates are untouched: a fresh run of the same circuit is the one
    # an independent reference (qiskit-free exact executor on fresh ops) gives.
    fam = make_family("rcs", 8, 3)
    ops = [op for c in range(4) for op in fam.cycle(c)] + fam.closing(4)
    fresh = make_family("rcs", 8, 3)
    ops_fresh = [op for c in range(4) for op in fresh.cycle(c)] + fresh.closing(4)
    a = execute(Program("a", 8, 0, ops), get_engine("exact")).final
    b = execute(Program("b", 8, 0, ops_fresh), get_engine("exact")).final
    np.testing.assert_array_equal(a, b)
    sx = np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2
    assert any(np.array_equal(op.matrix, sx) for op in ops if op.name == "sx")


def test_the_first_chain_of_a_process_is_not_billed_the_simulator_warm_up():
    # In a fresh process: the exact simulator's first call compiles its kernels.
    code = (
        "from qsim_topo.experiments.state_chain import StateChainConfig, iter_state_chain\n"
        "for s in range(2):\n"
        "    c = StateChainConfig(qubits=6, samples=20, seed=s)\n"
        "    print(min(r.time_ratio for r in iter_state_chain(c, [1, 2])))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    first, second = (float(x) for x in out)
    # Exact against exact (one engine product per gate against the fused simulator): the
    # first chain's ratio must not be orders of magnitude below the second's.
    assert first > 0.05 * second, (first, second)
