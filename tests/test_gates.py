"""Standard gate matrices against Qiskit's (an independent reference)."""

from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.errors import CircuitError, UnknownGateError
from qsim_topo.gates import GATES, controlled, gate_matrix

# OpenQASM 2 names Qiskit's mapping lists under another name (C3XGate is "mcx" there).
_QISKIT_CLASS = {"c3x": "C3XGate", "c4x": "C4XGate", "c3sx": "C3SXGate"}


@pytest.mark.parametrize("name", sorted(GATES))
def test_matrix_matches_qiskit(name, rng):
    pytest.importorskip("qiskit")
    from qiskit.circuit import library

    spec = GATES[name]
    params = [float(p) for p in rng.uniform(-np.pi, np.pi, spec.num_params)]
    if name in _QISKIT_CLASS:
        gate = getattr(library, _QISKIT_CLASS[name])(*params)
    else:
        gate = library.get_standard_gate_name_mapping()[name].base_class(*params)
    assert gate.num_qubits == spec.num_qubits
    ours = gate_matrix(name, *params)
    assert ours.dtype == np.complex128 and ours.shape == (2**spec.num_qubits,) * 2
    np.testing.assert_allclose(ours, gate.to_matrix(), rtol=0, atol=1e-12)


def test_matrices_are_fresh_copies():
    a = gate_matrix("h")
    a[0, 0] = 7
    assert gate_matrix("h")[0, 0] == pytest.approx(2**-0.5)


def test_controlled_puts_the_controls_on_the_low_bits():
    x = np.array([[0, 1], [1, 0]])
    cx = controlled(x)
    assert cx[3, 1] == 1 and cx[1, 3] == 1 and cx[0, 0] == 1 and cx[2, 2] == 1


def test_bad_names_and_parameters_are_refused():
    with pytest.raises(UnknownGateError, match="unknown gate 'foo'; standard gates are"):
        gate_matrix("foo")
    with pytest.raises(CircuitError, match="takes 1 parameter"):
        gate_matrix("rx")
    with pytest.raises(CircuitError, match="not a number"):
        gate_matrix("rx", "a")
    with pytest.raises(CircuitError, match="not finite"):
        gate_matrix("rz", float("nan"))
