"""Peak memory of a large state-vector run through QsimTopoBackend, against the state's size.

Target (issue 5): a 26-qubit complex128 run peaks under 1.25x its 1 GiB state above the
interpreter's baseline (the same imports running a 2-qubit circuit). Each run is a child
process; its maximum resident set size comes from ``getrusage(RUSAGE_CHILDREN)``.

    python benchmarks/peak_memory.py --qubits 26 --depth 4
    python benchmarks/peak_memory.py --qubits 26 --depth 4 --precision single --statevector

With ``--statevector`` the circuit has no measurement and the run returns its final
``Statevector``, which holds complex128 whatever the precision: the ratio is then taken
against that complex128 result (for ``single``, twice the complex64 state simulated).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

_CHILD = """
import numpy as np
from qiskit import QuantumCircuit
from qsim_topo.qiskit import QsimTopoBackend
n, depth, precision, statevector = {n}, {depth}, {precision!r}, {statevector!r}
qc = QuantumCircuit(n)
rng = np.random.default_rng(0)
for d in range(depth):
    for a in range(d % 2, n - 1, 2):
        qc.cx(a, a + 1)
    for q in range(n):
        qc.rx(float(rng.random()), q)
if not statevector:
    qc.measure_all()
r = QsimTopoBackend(device="cpu", precision=precision).run(qc, shots=1000, seed_simulator=1)
result = r.result()
meta = result.results[0].metadata
if statevector:
    assert result.get_statevector().data.dtype == np.complex128
print(len(qc.data), meta["fusion"].get("blocks"))
"""


def _peak_kib(n: int, depth: int, precision: str, statevector: bool) -> tuple[int, float, str]:
    start = time.perf_counter()
    child = _CHILD.format(n=n, depth=depth, precision=precision, statevector=statevector)
    out = subprocess.run(
        [sys.executable, "-c", child],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # RUSAGE_CHILDREN's maxrss is the largest of the waited children: run small before large.
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    """Print the baseline, the run's peak and the ratio of their difference to the state."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qubits", type=int, default=26)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--precision", choices=("double", "single"), default="double")
    p.add_argument("--statevector", action="store_true",
                   help="no measurement; the run returns its final (complex128) Statevector")
    args = p.parse_args(argv)
    base, _, _ = _peak_kib(2, 1, args.precision, args.statevector)
    peak, seconds, info = _peak_kib(args.qubits, args.depth, args.precision, args.statevector)
    wide = args.precision == "double" or args.statevector
    state_kib = 2**args.qubits * (16 if wide else 8) // 1024
    ratio = (peak - base) / state_kib
    print(f"# {' '.join(sys.argv)}")
    print(f"baseline (2 qubits): {base:,} KiB")
    what = "final Statevector" if args.statevector else "counts"
    print(f"{args.qubits} qubits {args.precision}, {what}: {peak:,} KiB in {seconds:.1f} s "
          f"(gates, fused blocks: {info})")
    print(f"peak - baseline = {ratio:.3f} x the {state_kib:,} KiB state; goal <= 1.25: "
          f"{'met' if ratio <= 1.25 else 'MISSED'}")
    return 0 if ratio <= 1.25 else 1


if __name__ == "__main__":
    sys.exit(main())
