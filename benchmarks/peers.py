"""The peer simulators of benchmarks/vs_peers.py that are not Qiskit backends: qsim, qulacs and
PennyLane Lightning, each fed the same gates as a list of ``(matrix, qubits)`` in Qiskit's
conventions (``qubits[0]`` the least significant bit of the matrix index, qubit 0 the least
significant bit of a state index), and each returning its final state in Qiskit's order.

- qsim (complex64): each gate a ``cirq.MatrixGate`` on ``LineQubit(q)`` with the qubits
  reversed (Cirq is big-endian); ``QSimSimulator(QSimOptions(max_fused_gate_size=4,
  cpu_threads=OMP_NUM_THREADS or the cores))``; ``simulate()`` timed; its state is reversed
  into Qiskit's order.
- qulacs (complex128 only; qulacs is little-endian like Qiskit): one
  ``add_dense_matrix_gate(qubits, matrix)`` per gate, built outside timing; timed: a copy of
  that circuit, ``QuantumCircuitOptimizer().optimize_light`` (its own fusion; on these circuits
  it was as fast as ``optimize(c, 2)`` and ``optimize(c, 3)``, whose planning alone takes
  0.3 s at 12 qubits), a ``QuantumState``, ``update_quantum_state`` and ``get_vector()``.
- Lightning (``lightning.qubit``'s C++ state vector, complex64 and complex128): the device's
  own kernel binding (``StateVectorC64``/``StateVectorC128`` of
  ``pennylane_lightning.lightning_qubit_ops``), one ``applyMatrix`` per gate in a Python loop,
  which is what the ``lightning.qubit`` device does for matrix operations, without the QNode
  and tape layers. Qiskit qubit q is wire ``n - 1 - q`` (PennyLane is big-endian), so the state
  comes out in Qiskit's order; a gate's wires are its qubits' wires reversed. Timed: the state
  vector, the gates, ``getState`` into a new array.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import cirq
    import qsimcirq

    HAVE_QSIM = True
except ImportError:
    HAVE_QSIM = False
try:
    import qulacs
    from qulacs.circuit import QuantumCircuitOptimizer

    HAVE_QULACS = True
except ImportError:
    HAVE_QULACS = False
try:
    from pennylane_lightning.lightning_qubit_ops import StateVectorC64, StateVectorC128

    HAVE_LIGHTNING = True
except ImportError:
    HAVE_LIGHTNING = False

Gates = list[tuple[np.ndarray, list[int]]]
Peer = tuple[Callable[[int, Gates], Any], Callable[[Any], np.ndarray]]  # (prepare, run)


def from_big_endian(state: np.ndarray, n: int) -> np.ndarray:
    """A big-endian state (qubit 0 most significant) in Qiskit's order."""
    return np.ascontiguousarray(state.reshape([2] * n).transpose(range(n - 1, -1, -1))).ravel()


# ---------------------------------------------------------------------- qsim
def _qsim_prepare(n: int, gates: Gates) -> tuple[Any, list[Any], int]:
    qubits = cirq.LineQubit.range(n)
    ops = [cirq.MatrixGate(m).on(*reversed([qubits[q] for q in qs])) for m, qs in gates]
    return cirq.Circuit(ops), qubits, n


def threads() -> int:
    """OMP_NUM_THREADS when set (a single-thread comparison sets it), else every core."""
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def _qsim_runner() -> Callable[[Any], np.ndarray]:
    sim = qsimcirq.QSimSimulator(
        qsimcirq.QSimOptions(max_fused_gate_size=4, cpu_threads=threads())
    )

    def run(inp: tuple[Any, list[Any], int]) -> np.ndarray:
        circuit, qubits, n = inp
        state = sim.simulate(circuit, qubit_order=qubits).final_state_vector
        return from_big_endian(np.asarray(state), n)

    return run


# ---------------------------------------------------------------------- qulacs
def _qulacs_prepare(n: int, gates: Gates) -> tuple[Any, int]:
    circuit = qulacs.QuantumCircuit(n)
    for m, qs in gates:
        circuit.add_dense_matrix_gate(list(qs), m)
    return circuit, n


def _qulacs_run(inp: tuple[Any, int]) -> np.ndarray:
    circuit, n = inp
    c = circuit.copy()
    QuantumCircuitOptimizer().optimize_light(c)
    state = qulacs.QuantumState(n)
    c.update_quantum_state(state)
    return np.asarray(state.get_vector())


# ---------------------------------------------------------------------- Lightning
def _lightning_prepare(dtype: Any) -> Callable[[int, Gates], Any]:
    def prepare(n: int, gates: Gates) -> tuple[int, list[tuple[np.ndarray, list[int]]]]:
        ops = [(np.ascontiguousarray(m, dtype=dtype), [n - 1 - q for q in reversed(qs)])
               for m, qs in gates]
        return n, ops

    return prepare


def _lightning_run(dtype: Any) -> Callable[[Any], np.ndarray]:
    cls = StateVectorC64 if dtype == np.complex64 else StateVectorC128

    def run(inp: tuple[int, list[tuple[np.ndarray, list[int]]]]) -> np.ndarray:
        n, ops = inp
        sv = cls(n)
        for m, wires in ops:
            sv.applyMatrix(m, wires, False)
        out = np.empty(2**n, dtype=dtype)
        sv.getState(out)
        return out

    return run


def peers(wanted: set[str]) -> dict[str, Peer]:
    """The available peers among ``wanted`` ("qsim", "qulacs", "lightning"), by column name."""
    out: dict[str, Peer] = {}
    if "qsim" in wanted and HAVE_QSIM:
        out["qsim c64"] = (_qsim_prepare, _qsim_runner())
    if "qulacs" in wanted and HAVE_QULACS:
        out["qulacs c128"] = (_qulacs_prepare, _qulacs_run)
    if "lightning" in wanted and HAVE_LIGHTNING:
        for tag, dtype in (("c128", np.complex128), ("c64", np.complex64)):
            out[f"lightning {tag}"] = (_lightning_prepare(dtype), _lightning_run(dtype))
    return out


def missing(wanted: set[str]) -> list[str]:
    """The wanted peers that cannot be imported here."""
    have = {"qsim": HAVE_QSIM, "qulacs": HAVE_QULACS, "lightning": HAVE_LIGHTNING}
    return sorted(p for p in wanted if p in have and not have[p])
