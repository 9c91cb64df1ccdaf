"""Write one OpenQASM 2 file per random circuit family, with its expected state.

Run from the repository root: ``python circuits/make_families.py`` (needs ``qiskit``). For each
entry of :data:`FAMILIES` it writes ``circuits/<name>.qasm`` with
:meth:`qsim_topo.families.Family.to_qasm` (the header comment names the family, seed and depth,
and the global phase OpenQASM 2 cannot hold), then ``circuits/<name>.json`` in the format of
``make_expected.py``: the ``qiskit.quantum_info.Statevector`` of the file as loaded by
``qiskit.qasm2`` (not by qsim_topo), so the reference does not depend on qsim_topo's simulator.

Before writing, the file's Qiskit state is checked against the family's ops applied by a plain
numpy tensordot (no qsim_topo simulator either): a wrong export stops the script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from qiskit import qasm2
from qiskit.quantum_info import Statevector

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the checkout's qsim_topo, not an installed one

from make_expected import expected  # noqa: E402  (this folder's script, on sys.path[0])

from qsim_topo.families import Family, make_family  # noqa: E402
from qsim_topo.openqasm import qasm_global_phase  # noqa: E402

SEED = 2026
FAMILIES: dict[str, tuple[str, int, int]] = {
    # name: (kind, qubits, depth)
    "rcs_3x3_d8": ("rcs", 9, 8),
    "brickwork2d_3x3_d4": ("brickwork2d", 9, 4),
    "brickwork_8_d6": ("brickwork", 8, 6),
    "qv_6_d6": ("qv", 6, 6),
}


def numpy_state(family: Family, depth: int) -> np.ndarray:
    """The family's depth-``depth`` state from |0...0>, by tensordot (little-endian)."""
    n = family.n_qubits
    psi = np.zeros([2] * n, dtype=np.complex128)
    psi[(0,) * n] = 1.0
    for op in family.circuit(depth):
        k = len(op.qubits)
        axes = [n - 1 - q for q in reversed(op.qubits)]
        m = np.asarray(op.matrix).reshape([2] * (2 * k))
        psi = np.moveaxis(
            np.tensordot(m, psi, axes=(list(range(k, 2 * k)), axes)), list(range(k)), axes
        )
    return psi.reshape(-1)


def main() -> int:
    """Write every family's .qasm and .json."""
    for name, (kind, n, depth) in FAMILIES.items():
        family = make_family(kind, n, SEED)
        text = family.to_qasm(depth)
        ref = Statevector(qasm2.loads(text)).data
        ours = numpy_state(family, depth)
        error = np.abs(np.exp(1j * qasm_global_phase(text)) * ref - ours).max()
        if error > 1e-10:
            raise SystemExit(f"{name}: the exported file differs from the family by {error:.2e}")
        (HERE / f"{name}.qasm").write_text(text)
        record = expected(name)
        (HERE / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"{name}: {kind}, {n} qubits, depth {depth}, max error {error:.1e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
