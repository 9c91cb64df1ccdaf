"""The layer-stack accumulation (qsim_topo/experiments/products.py)."""

from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import CheckedEngine, get_engine
from qsim_topo.experiments.products import accumulate_layer_stack
from qsim_topo.experiments.seeds import INITIAL, derive_seed
from qsim_topo.layers import haar_unitary, layer_stack
from qsim_topo.xp import to_numpy
from tests.conftest import devices


def _explicit_product(qubits, depth, kind, seed):
    """L_D ... L_1 P_0 with P_0 the Haar unitary of the derived stream (no identity start)."""
    total = haar_unitary(2**qubits, seed=derive_seed(seed, INITIAL))
    for layer in layer_stack(qubits, depth, kind, seed=seed):
        total = layer.matrix() @ total
    return total


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize(("kind", "mode"), [("dense", "dense"), ("brickwork", "gate"),
                                            ("brickwork", "dense")])
def test_accumulated_product_is_the_layer_product(device, kind, mode):
    qubits, depth = 5, 4
    eng = CheckedEngine(get_engine("exact"))
    out = accumulate_layer_stack(qubits, depth, kind=kind, mode=mode, engine=eng, seed=3,
                                 device=device)
    ref = _explicit_product(qubits, depth, kind, 3)
    assert np.max(np.abs(to_numpy(out.reference) - ref)) < 1e-12
    assert np.max(np.abs(to_numpy(out.approx) - ref)) < 1e-12
    gates = 2 + 2 + 2 + 2 if mode == "gate" else depth  # 5 qubits: 2 gates per layer
    assert eng.calls == gates


def test_no_product_has_the_identity_as_an_operand():
    """Every engine product of a dense stack multiplies two Haar-random (non-identity) matrices."""
    seen = []

    class Spy:
        name = "test-spy"
        exact = False

        def matmul(self, a, b, /):
            seen.append((a.copy(), b.copy()))
            return a @ b

        def flops_fraction(self, m, k, n):
            return 1.0

    accumulate_layer_stack(4, 3, kind="dense", mode="dense", engine=Spy(), seed=0, device="cpu")
    assert len(seen) == 3
    eye = np.eye(16)
    for a, b in seen:
        assert not np.allclose(a, eye) and not np.allclose(b, eye)
        assert np.allclose(b.conj().T @ b, eye, atol=1e-12)  # a Haar-random unitary
