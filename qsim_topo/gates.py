"""Standard gates by name: ``gate_matrix("rx", 0.3)`` -> a (2, 2) complex128 matrix.

Qiskit's conventions (checked against ``qiskit.circuit.library`` in the tests): a k-qubit gate
on ``qubits = (q0, q1, ...)`` has ``q0`` as the least significant bit of its 2^k index, so a
controlled gate's controls are its first qubits (``cx`` on ``(c, t)``), and ``rz(t)`` is
``diag(e^{-it/2}, e^{it/2})`` (not ``p``, which differs by a global phase).

Matrices are new, writable numpy complex128 arrays owned by the caller. Names are lower case
as in Qiskit and OpenQASM; :data:`GATES` lists them with their qubit and parameter counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qsim_topo.errors import CircuitError, UnknownGateError

__all__ = ["GATES", "GateSpec", "controlled", "fsim", "gate_matrix", "sqrt_w", "sqrt_y"]

_I2 = np.eye(2, dtype=np.complex128)
_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
_Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
_Z = np.array([[1, 0], [0, -1]], dtype=np.complex128)
_H = np.array([[1, 1], [1, -1]], dtype=np.complex128) / math.sqrt(2)
_SX = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]], dtype=np.complex128)


def _sqrt_pauli(pauli: np.ndarray) -> np.ndarray:
    """The principal square root of a Pauli-like ``P`` (P^2 = I, eigenvalues +-1).

    ``((1+i) I + (1-i) P) / 2``: the convention of Cirq's ``X**0.5``, which for ``P = X`` is
    Qiskit's ``sx``.
    """
    return ((1 + 1j) * _I2 + (1 - 1j) * pauli) / 2


def sqrt_y() -> np.ndarray:
    """sqrt(Y) = ((1+i) I + (1-i) Y) / 2, a new (2, 2) complex128 array (Cirq's ``Y**0.5``)."""
    return _sqrt_pauli(_Y)


def sqrt_w() -> np.ndarray:
    """sqrt(W) with W = (X + Y)/sqrt(2), as ((1+i) I + (1-i) W) / 2; a new (2, 2) array.

    Cirq's ``PhasedXPowGate(phase_exponent=0.25, exponent=0.5)``, the third single-qubit gate
    of Google's random circuits (Arute et al., Nature 574, 505 (2019)).
    """
    return _sqrt_pauli((_X + _Y) / math.sqrt(2))


def fsim(theta: float, phi: float) -> np.ndarray:
    """The fSim(theta, phi) gate, a new (4, 4) complex128 array (Cirq's ``FSimGate``).

    ``[[1, 0, 0, 0], [0, cos t, -i sin t, 0], [0, -i sin t, cos t, 0], [0, 0, 0, e^{-i phi}]]``:
    an iSWAP-like rotation by ``theta`` in the one-excitation subspace and a conditional phase
    ``-phi`` on |11>. Symmetric in its two qubits.
    """
    c, s = math.cos(theta), math.sin(theta)
    return np.array(
        [[1, 0, 0, 0], [0, c, -1j * s, 0], [0, -1j * s, c, 0], [0, 0, 0, _phase(-phi)]],
        dtype=np.complex128,
    )


def _phase(t: float) -> complex:
    return complex(math.cos(t), math.sin(t))


def _rx(t: float) -> np.ndarray:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -1j * s], [-1j * s, c]], dtype=np.complex128)


def _ry(t: float) -> np.ndarray:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -s], [s, c]], dtype=np.complex128)


def _rz(t: float) -> np.ndarray:
    return np.array([[_phase(-t / 2), 0], [0, _phase(t / 2)]], dtype=np.complex128)


def _p(t: float) -> np.ndarray:
    return np.array([[1, 0], [0, _phase(t)]], dtype=np.complex128)


def _u(theta: float, phi: float, lam: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array(
        [[c, -_phase(lam) * s], [_phase(phi) * s, _phase(phi + lam) * c]], dtype=np.complex128
    )


def _r(theta: float, phi: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array(
        [[c, -1j * _phase(-phi) * s], [-1j * _phase(phi) * s, c]], dtype=np.complex128
    )


def _pauli_rotation(pauli: np.ndarray, t: float) -> np.ndarray:
    """``exp(-i t/2 P)`` for a Pauli string ``P`` (P^2 = I)."""
    dim = pauli.shape[0]
    return math.cos(t / 2) * np.eye(dim, dtype=np.complex128) - 1j * math.sin(t / 2) * pauli


def controlled(matrix: np.ndarray, controls: int = 1) -> np.ndarray:
    """``matrix`` controlled on ``controls`` qubits, which are the *low* bits of the index.

    Qiskit's order: ``cx`` on ``(c, t)`` has the control as bit 0. The result is a new
    (2^(c+k), 2^(c+k)) complex128 array: the identity except where every control bit is 1.
    """
    m = np.asarray(matrix, dtype=np.complex128)
    dim_c = 2**controls
    dim = dim_c * m.shape[0]
    out = np.eye(dim, dtype=np.complex128)
    on = dim_c - 1 + dim_c * np.arange(m.shape[0])  # indices with every control bit set
    out[np.ix_(on, on)] = m
    return out


def _swap() -> np.ndarray:
    out = np.eye(4, dtype=np.complex128)[[0, 2, 1, 3]]
    return out


def _iswap() -> np.ndarray:
    return np.array(
        [[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]], dtype=np.complex128
    )


def _dcx() -> np.ndarray:
    # CX(0 -> 1) then CX(1 -> 0).
    return controlled(_X)[[0, 2, 1, 3]][:, [0, 2, 1, 3]] @ controlled(_X)


def _ecr() -> np.ndarray:
    return np.array(
        [[0, 1, 0, 1j], [1, 0, -1j, 0], [0, 1j, 0, 1], [-1j, 0, 1, 0]], dtype=np.complex128
    ) / math.sqrt(2)


def _cswap() -> np.ndarray:
    # Control on bit 0, swap bits 1 and 2.
    return controlled(_swap())


def _cu(theta: float, phi: float, lam: float, gamma: float) -> np.ndarray:
    return controlled(_phase(gamma) * _u(theta, phi, lam))


def _xx_plus_yy(theta: float, beta: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    out = np.eye(4, dtype=np.complex128)
    out[1, 1] = out[2, 2] = c
    out[1, 2] = -1j * s * _phase(-beta)
    out[2, 1] = -1j * s * _phase(beta)
    return out


def _xx_minus_yy(theta: float, beta: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    out = np.eye(4, dtype=np.complex128)
    out[0, 0] = out[3, 3] = c
    out[0, 3] = -1j * s * _phase(-beta)
    out[3, 0] = -1j * s * _phase(beta)
    return out


@dataclass(frozen=True)
class GateSpec:
    """A standard gate: its width, its parameter count and the function building its matrix."""

    num_qubits: int
    num_params: int
    build: Callable[..., np.ndarray]


def _fixed(matrix: np.ndarray) -> Callable[[], np.ndarray]:
    matrix = np.asarray(matrix, dtype=np.complex128)
    matrix.setflags(write=False)
    return lambda: matrix.copy()


GATES: dict[str, GateSpec] = {
    "id": GateSpec(1, 0, _fixed(_I2)),
    "x": GateSpec(1, 0, _fixed(_X)),
    "y": GateSpec(1, 0, _fixed(_Y)),
    "z": GateSpec(1, 0, _fixed(_Z)),
    "h": GateSpec(1, 0, _fixed(_H)),
    "s": GateSpec(1, 0, _fixed(_p(math.pi / 2))),
    "sdg": GateSpec(1, 0, _fixed(_p(-math.pi / 2))),
    "t": GateSpec(1, 0, _fixed(_p(math.pi / 4))),
    "tdg": GateSpec(1, 0, _fixed(_p(-math.pi / 4))),
    "sx": GateSpec(1, 0, _fixed(_SX)),
    "sxdg": GateSpec(1, 0, _fixed(_SX.conj().T)),
    "rx": GateSpec(1, 1, _rx),
    "ry": GateSpec(1, 1, _ry),
    "rz": GateSpec(1, 1, _rz),
    "p": GateSpec(1, 1, _p),
    "u1": GateSpec(1, 1, _p),
    "u2": GateSpec(1, 2, lambda phi, lam: _u(math.pi / 2, phi, lam)),
    "u": GateSpec(1, 3, _u),
    "u3": GateSpec(1, 3, _u),
    "r": GateSpec(1, 2, _r),
    "cx": GateSpec(2, 0, _fixed(controlled(_X))),
    "cy": GateSpec(2, 0, _fixed(controlled(_Y))),
    "cz": GateSpec(2, 0, _fixed(controlled(_Z))),
    "ch": GateSpec(2, 0, _fixed(controlled(_H))),
    "cs": GateSpec(2, 0, _fixed(controlled(_p(math.pi / 2)))),
    "csdg": GateSpec(2, 0, _fixed(controlled(_p(-math.pi / 2)))),
    "csx": GateSpec(2, 0, _fixed(controlled(_SX))),
    "cp": GateSpec(2, 1, lambda t: controlled(_p(t))),
    "crx": GateSpec(2, 1, lambda t: controlled(_rx(t))),
    "cry": GateSpec(2, 1, lambda t: controlled(_ry(t))),
    "crz": GateSpec(2, 1, lambda t: controlled(_rz(t))),
    "cu": GateSpec(2, 4, _cu),
    "cu1": GateSpec(2, 1, lambda t: controlled(_p(t))),
    "cu3": GateSpec(2, 3, lambda a, b, c: controlled(_u(a, b, c))),
    "swap": GateSpec(2, 0, _fixed(_swap())),
    "iswap": GateSpec(2, 0, _fixed(_iswap())),
    "dcx": GateSpec(2, 0, _fixed(_dcx())),
    "ecr": GateSpec(2, 0, _fixed(_ecr())),
    # Two-qubit Pauli rotations exp(-i t/2 P1 (x) P0): kron's first factor is qubits[1].
    "rxx": GateSpec(2, 1, lambda t: _pauli_rotation(np.kron(_X, _X), t)),
    "ryy": GateSpec(2, 1, lambda t: _pauli_rotation(np.kron(_Y, _Y), t)),
    "rzz": GateSpec(2, 1, lambda t: _pauli_rotation(np.kron(_Z, _Z), t)),
    "rzx": GateSpec(2, 1, lambda t: _pauli_rotation(np.kron(_X, _Z), t)),
    "xx_plus_yy": GateSpec(2, 2, _xx_plus_yy),
    "xx_minus_yy": GateSpec(2, 2, _xx_minus_yy),
    "ccx": GateSpec(3, 0, _fixed(controlled(_X, 2))),
    "ccz": GateSpec(3, 0, _fixed(controlled(_Z, 2))),
    "cswap": GateSpec(3, 0, _fixed(_cswap())),
    "c3x": GateSpec(4, 0, _fixed(controlled(_X, 3))),
    "c3sx": GateSpec(4, 0, _fixed(controlled(_SX, 3))),
    "c4x": GateSpec(5, 0, _fixed(controlled(_X, 4))),
}
"""Every standard gate by name."""


def gate_matrix(name: str, *params: float) -> np.ndarray:
    """The matrix of the standard gate ``name`` with ``params`` (radians).

    Returns:
        A new (2^k, 2^k) complex128 array (the caller owns it); qubit order as in Qiskit.

    Raises:
        UnknownGateError: ``name`` is not in :data:`GATES` (the message lists the names).
        CircuitError: the wrong number of parameters, or a parameter that is not a finite
            real number.
    """
    spec = GATES.get(name)
    if spec is None:
        raise UnknownGateError(
            f"unknown gate {name!r}; standard gates are {', '.join(sorted(GATES))}"
        )
    if len(params) != spec.num_params:
        raise CircuitError(
            f"gate {name!r} takes {spec.num_params} parameter(s), got {len(params)}"
        )
    values = []
    for p in params:
        try:
            value = float(p)
        except (TypeError, ValueError):
            raise CircuitError(f"gate {name!r}: parameter {p!r} is not a number") from None
        if not math.isfinite(value):
            raise CircuitError(f"gate {name!r}: parameter {p!r} is not finite")
        values.append(value)
    return spec.build(*values)
