"""Standard gate matrices against Qiskit's (an independent reference)."""

from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.errors import CircuitError, UnknownGateError
from qsim_topo.gates import GATES, controlled, fsim, gate_matrix, sqrt_w, sqrt_y

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


def test_sycamore_gates_square_to_their_paulis_and_match_cirq():
    x, y = gate_matrix("x"), gate_matrix("y")
    w = (x + y) / np.sqrt(2)
    np.testing.assert_allclose(sqrt_y() @ sqrt_y(), y, atol=1e-15)
    np.testing.assert_allclose(sqrt_w() @ sqrt_w(), w, atol=1e-15)
    np.testing.assert_allclose(gate_matrix("sx") @ gate_matrix("sx"), x, atol=1e-15)
    for theta, phi in [(np.pi / 2, np.pi / 6), (0.3, -1.1)]:
        # fSim = (XX+YY rotation by 2 theta) x (controlled phase -phi), both checked vs qiskit.
        ref = gate_matrix("xx_plus_yy", 2 * theta, 0.0) @ gate_matrix("cp", -phi)
        np.testing.assert_allclose(fsim(theta, phi), ref, atol=1e-15)
    cirq = pytest.importorskip("cirq")
    np.testing.assert_allclose(cirq.unitary(cirq.Y**0.5), sqrt_y(), atol=1e-15)
    w_half = cirq.PhasedXPowGate(phase_exponent=0.25, exponent=0.5)
    np.testing.assert_allclose(cirq.unitary(w_half), sqrt_w(), atol=1e-15)
    np.testing.assert_allclose(cirq.unitary(cirq.FSimGate(0.3, -1.1)), fsim(0.3, -1.1), atol=1e-15)
