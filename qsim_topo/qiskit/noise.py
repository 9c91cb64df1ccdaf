"""Qiskit Aer's density-matrix simulation of depolarized layers: the check of our own channel.

``qsim_topo.experiments.noise`` simulates depolarizing noise in numpy so that a fit can be
validated without the qiskit extra; this module runs the same layers with the same noise on
``AerSimulator(method="density_matrix")`` with ``qiskit_aer.noise.depolarizing_error``, so the
two can be compared (tests, ``benchmarks/noise_equivalence.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from qsim_topo.layers import Layer

__all__ = ["AER_MAX_LAYER_NOISE_QUBITS", "aer_depolarized_density_matrix"]

#: depolarizing_error(p, k) is a mixture of 4^k Paulis: beyond this many qubits it is too big.
AER_MAX_LAYER_NOISE_QUBITS = 5


def aer_depolarized_density_matrix(
    layers: Iterable[Layer], n: int, *, p_layer: float = 0.0, p_gate: float = 0.0
) -> np.ndarray:
    """The density matrix Aer gives for ``layers`` from |0...0> with depolarizing noise.

    Each gate is a ``unitary`` instruction followed by ``depolarizing_error(p_gate, k)`` on its
    qubits; after each layer ``depolarizing_error(p_layer, n)`` acts on all qubits (refused
    beyond ``AER_MAX_LAYER_NOISE_QUBITS``). Returns a (2^n, 2^n) complex128 numpy array.

    Raises:
        ValueError: ``p_layer`` > 0 on more than AER_MAX_LAYER_NOISE_QUBITS qubits.
    """
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import depolarizing_error

    if p_layer > 0 and n > AER_MAX_LAYER_NOISE_QUBITS:
        raise ValueError(
            f"an {n}-qubit depolarizing_error has 4^{n} terms; use at most "
            f"{AER_MAX_LAYER_NOISE_QUBITS} qubits for layer noise"
        )
    qc = QuantumCircuit(n)
    for layer in layers:
        for op in layer.ops:
            qubits = list(op.qubits)
            qc.unitary(np.asarray(op.matrix), qubits)
            if p_gate > 0:
                qc.append(depolarizing_error(p_gate, len(qubits)).to_instruction(), qubits)
        if p_layer > 0:
            qc.append(depolarizing_error(p_layer, n).to_instruction(), list(range(n)))
    qc.save_density_matrix()
    result = AerSimulator(method="density_matrix").run(qc).result()
    return np.asarray(result.data(0)["density_matrix"], dtype=np.complex128)
