"""Regenerate the expected results of the reference circuits in this folder.

Run from the repository root: ``python circuits/make_expected.py`` (needs ``qiskit`` and, for
``while.qasm``, ``qiskit_qasm3_import``). It writes ``circuits/<name>.json`` for each circuit
and ``circuits/switch.qpy`` (see below), from references independent of qsim_topo's simulator:

* a circuit without measurement or reset: ``qiskit.quantum_info.Statevector`` of the circuit
  (``"kind": "state"``, amplitudes little-endian as [re, im] pairs, and the probabilities);
* a dynamic circuit (mid-circuit measurement, reset, if/while/switch): the exact distribution
  of its classical bits (``"kind": "distribution"``, keyed as Qiskit's counts are), from an
  exhaustive enumeration of measurement branches written here with numpy on
  ``Statevector.evolve``: every measurement splits a branch into its two outcomes with their
  exact probabilities, a reset measures then flips, conditions and loops read the branch's
  bits. A ``while`` loop is unrolled until the probability left in it is below 1e-15 (the
  mass dropped is recorded as ``truncated_mass``).

The circuits are loaded with qiskit's own importers (``qiskit.qasm2``/``qiskit.qasm3``), not
with qsim_topo's loader, so the references do not depend on our code at all.

``switch``: no OpenQASM importer that Qiskit can use loads ``switch`` today (qiskit.qasm3
with qiskit_qasm3_import refuses ``SwitchStatement``; ``qiskit.qasm3.loads_experimental``
refuses it too), so that circuit is built below and stored in Qiskit's QPY format
(``switch.qpy``, QPY version 13, loadable by every qiskit >= 1.3).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, qasm2, qasm3, qpy
from qiskit.circuit import Clbit, ControlFlowOp
from qiskit.circuit.controlflow import CASE_DEFAULT
from qiskit.quantum_info import Operator, Statevector

HERE = Path(__file__).resolve().parent
CIRCUITS = ["bell", "ghz", "qft", "brickwork", "dynamic_feedforward", "reset", "while", "switch"]
QPY_VERSION = 13
DROP = 1e-15  # branches below this probability inside a while loop are dropped (and counted)


def build_switch() -> QuantumCircuit:
    """Two uniform random bits select what happens to q[2]: x, h, ry(0.8) or nothing."""
    q, sel, out = QuantumRegister(3, "q"), ClassicalRegister(2, "sel"), ClassicalRegister(1, "out")
    qc = QuantumCircuit(q, sel, out, name="switch")
    qc.h(0)
    qc.h(1)
    qc.measure(0, sel[0])
    qc.measure(1, sel[1])
    with qc.switch(sel) as case:
        with case(0):
            qc.x(2)
        with case(1):
            qc.h(2)
        with case(2):
            qc.ry(0.8, 2)
        with case(case.DEFAULT):
            qc.id(2)
    qc.measure(2, out[0])
    return qc


def load(name: str) -> QuantumCircuit:
    """The reference circuit ``name``, through Qiskit's own importers."""
    if name == "switch":
        with open(HERE / "switch.qpy", "rb") as f:
            return qpy.load(f)[0]
    path = HERE / f"{name}.qasm"
    text = path.read_text()
    if "OPENQASM 3" in text:
        return qasm3.loads(text)
    return qasm2.loads(
        text,
        include_path=qasm2.LEGACY_INCLUDE_PATH,
        custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
    )


# ---------------------------------------------------------------------- branch enumeration
Branch = tuple[float, np.ndarray, dict[Clbit, int]]  # probability, normalised state, bits


def _project(state: np.ndarray, qubit: int, outcome: int, n: int) -> tuple[float, np.ndarray]:
    idx = np.arange(state.size)
    keep = ((idx >> qubit) & 1) == outcome
    part = np.where(keep, state, 0)
    p = float(np.vdot(part, part).real)
    return p, (part / math.sqrt(p) if p > 0 else part)


def _value(bits: dict[Clbit, int], target) -> int:
    if isinstance(target, Clbit):
        return bits[target]
    return sum(bits[b] << i for i, b in enumerate(target))


def _condition(bits: dict[Clbit, int], condition) -> bool:
    target, value = condition
    return _value(bits, target) == int(value)


def _run(body: QuantumCircuit, outer_q, outer_c, branches: list[Branch], n: int, lost: list):
    """Apply ``body`` to every branch.

    Its qubits stand for the indices ``outer_q``, its clbits for the top-level clbits
    ``outer_c`` (blocks share the outer circuit's bits).
    """
    qmap = {bq: oq for bq, oq in zip(body.qubits, outer_q, strict=True)}
    cmap = {bc: oc for bc, oc in zip(body.clbits, outer_c, strict=True)}
    for instr in body.data:
        op = instr.operation
        qs = [qmap[q] for q in instr.qubits]
        cs = [cmap[c] for c in instr.clbits]
        if op.name == "barrier":
            continue
        if op.name in ("measure", "reset"):
            out: list[Branch] = []
            for p, state, bits in branches:
                for outcome in (0, 1):
                    pk, post = _project(state, qs[0], outcome, n)
                    if pk <= 0:
                        continue
                    nb = dict(bits)
                    if op.name == "measure":
                        nb[cs[0]] = outcome
                    elif outcome:  # reset: flip |1> back to |0>
                        post = _apply(post, np.array([[0, 1], [1, 0]]), [qs[0]], n)
                    out.append((p * pk, post, nb))
            branches = out
        elif isinstance(op, ControlFlowOp):
            branches = _control(op, qs, cs, branches, n, lost)
        else:
            mat = Operator(op).data
            branches = [(p, _apply(s, mat, qs, n), b) for p, s, b in branches]
    return branches


def _apply(state: np.ndarray, mat: np.ndarray, qubits: list[int], n: int) -> np.ndarray:
    return Statevector(state).evolve(Operator(mat), qargs=qubits).data


def _control(op, qs, cs, branches, n, lost):
    name = op.name
    if name == "if_else":
        true_b, false_b = op.blocks[0], (op.blocks[1] if len(op.blocks) > 1 else None)
        yes = [b for b in branches if _condition(b[2], op.condition)]
        no = [b for b in branches if not _condition(b[2], op.condition)]
        yes = _run(true_b, qs, cs, yes, n, lost)
        if false_b is not None:
            no = _run(false_b, qs, cs, no, n, lost)
        return yes + no
    if name == "while_loop":
        done: list[Branch] = []
        live = branches
        for _ in range(10_000):
            if not live:
                break
            done += [b for b in live if not _condition(b[2], op.condition)]
            live = [b for b in live if _condition(b[2], op.condition)]
            live = _run(op.blocks[0], qs, cs, live, n, lost)
            lost[0] += sum(b[0] for b in live if b[0] < DROP)
            live = [b for b in live if b[0] >= DROP]
        else:
            raise RuntimeError("while loop did not converge")
        return done
    if name == "switch_case":
        out: list[Branch] = []
        cases = list(op.cases_specifier())
        for branch in branches:
            value = _value(branch[2], op.target)
            block = next((blk for vals, blk in cases if value in vals), None)
            if block is None:
                block = next((blk for vals, blk in cases if CASE_DEFAULT in vals), None)
            out += [branch] if block is None else _run(block, qs, cs, [branch], n, lost)
        return out
    raise NotImplementedError(f"the reference enumerator does not handle {name!r}")


def _key(circuit: QuantumCircuit, bits: dict[Clbit, int]) -> str:
    """Qiskit's counts key: registers last-declared first, each most significant bit first."""
    return " ".join(
        "".join(str(bits.get(b, 0)) for b in reversed(reg)) for reg in reversed(circuit.cregs)
    )


def exact_distribution(circuit: QuantumCircuit) -> tuple[dict[str, float], float]:
    """The exact distribution of ``circuit``'s classical bits and the probability dropped."""
    n = circuit.num_qubits
    start = np.zeros(2**n, dtype=complex)
    start[0] = 1.0
    lost = [0.0]
    branches = _run(circuit, range(n), circuit.clbits, [(1.0, start, {})], n, lost)
    dist: dict[str, float] = {}
    for p, _, bits in branches:
        key = _key(circuit, bits)
        dist[key] = dist.get(key, 0.0) + p
    return dict(sorted(dist.items())), lost[0]


def expected(name: str) -> dict:
    """The expected-results record of circuit ``name``."""
    circuit = load(name)
    source = "switch.qpy" if name == "switch" else f"{name}.qasm"
    record: dict = {"name": name, "file": source, "num_qubits": circuit.num_qubits,
                    "num_clbits": circuit.num_clbits}
    dynamic = any(
        i.operation.name in ("measure", "reset") or isinstance(i.operation, ControlFlowOp)
        for i in circuit.data
    )
    if not dynamic:
        sv = Statevector(circuit)
        record.update(
            kind="state",
            reference="qiskit.quantum_info.Statevector",
            statevector=[[float(a.real), float(a.imag)] for a in sv.data],
            probabilities=[float(p) for p in sv.probabilities()],
        )
    else:
        dist, lost = exact_distribution(circuit)
        record.update(
            kind="distribution",
            reference="exact branch enumeration (circuits/make_expected.py) on "
            "qiskit.quantum_info.Statevector",
            distribution=dist,
            truncated_mass=lost,
        )
    return record


def main() -> int:
    """Write switch.qpy and every expected file."""
    with open(HERE / "switch.qpy", "wb") as f:
        qpy.dump(build_switch(), f, version=QPY_VERSION)
    for name in CIRCUITS:
        record = expected(name)
        (HERE / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"{name}: {record['kind']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
