"""Seeded random circuit families, cycle by cycle, as lists of :class:`~qsim_topo.circuit.GateOp`.

A family is a recipe ``(kind, n_qubits, seed)`` for an unbounded sequence of cycles; a
depth-``d`` circuit is cycles ``0..d-1`` followed by :meth:`Family.closing`. Cycle ``k`` depends
only on ``(kind, n_qubits, seed, k)`` (and, for RCS, on the cycles before it), never on the
depth asked for: the depth-``d`` circuit is a prefix of the depth-``D`` one, closing apart.

Kinds (:data:`FAMILY_KINDS`):

* ``"rcs"`` — Sycamore-style random circuits (Arute et al., Nature 574, 505 (2019)) on the
  ``rows x cols`` grid of :func:`grid_shape`, qubit ``r * cols + c`` at row ``r``, column
  ``c``. Cycle ``k``: on every qubit one of sqrt(X), sqrt(Y), sqrt(W) (W = (X+Y)/sqrt 2),
  uniformly at random in cycle 0 and then uniformly among the two gates that differ from the
  qubit's previous one (never the same gate twice in a row); then fSim(theta, phi) on the
  couplers of pattern ``"ABCDCDAB"[k % 8]``. The patterns are Cirq's
  ``HALF_GRID_STAGGERED_PATTERN`` (``cirq.experiments.GridInteractionLayer`` with
  ``stagger=True``: A, B vertical with column offsets 0, 1; C, D horizontal with offsets 1, 0),
  Cirq's ``GridQubit(r, c)`` being our qubit ``r * cols + c``. The fSim angles are exactly
  theta = pi/2 and phi = pi/6 by default (Sycamore's calibrated, per-coupler values were
  close to these); :func:`make_family` takes others. The closing layer is the single-qubit
  layer that cycle ``depth`` would start with, so it obeys the never-repeat rule too.
* ``"brickwork"`` — 1D brickwork: Haar-random U(4) gates on ``(q, q+1)``, ``q`` even in even
  cycles and odd in odd cycles (:func:`qsim_topo.layers.brickwork_layer`).
* ``"brickwork2d"`` — Haar-random U(4) gates on the grid's couplers, cycle ``k`` on Cirq's
  ``GRID_ALIGNED_PATTERN[k % 4]`` (horizontal pairs from even then odd columns, then vertical
  pairs from even then odd rows), which together cover every coupler once per 4 cycles.
* ``"qv"`` — Quantum Volume layers (Cross et al., PRA 100, 032328 (2019); Qiskit's
  ``QuantumVolume``): a uniformly random permutation ``p`` of the qubits, then a Haar U(4) on
  ``(p[0], p[1]), (p[2], p[3]), ...``; with an odd ``n`` the last qubit of ``p`` idles.

:func:`circuit_family` makes a family (kind ``"circuit"``) of any OpenQASM 2 file's gates as
one cycle, repeated. Haar gates are named ``"haar"``, the RCS gates ``"sx"``, ``"sy"``,
``"sw"`` and ``"fsim"``. Qubit order is little-endian, as everywhere in the package.
Randomness: cycle ``k`` draws from ``numpy.random.default_rng(SeedSequence([seed, tag, k]))``
with a fixed tag per kind, so two kinds with the same seed are independent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qsim_topo.circuit import GateOp
from qsim_topo.errors import FamilyError, QsimTopoError
from qsim_topo.gates import fsim, gate_matrix, sqrt_w, sqrt_y
from qsim_topo.layers import brickwork_layer, haar_unitary
from qsim_topo.openqasm import read_qasm_ops, to_qasm
from qsim_topo.validation import check_int

__all__ = [
    "ALIGNED_PATTERNS",
    "FAMILY_KINDS",
    "MAX_FAMILY_DEPTH",
    "MAX_FAMILY_QUBITS",
    "RCS_SEQUENCE",
    "STAGGERED_PATTERNS",
    "CircuitFamily",
    "Family",
    "circuit_family",
    "grid_couplers",
    "grid_shape",
    "make_family",
    "pattern_couplers",
    "to_qasm",
]

FAMILY_KINDS: tuple[str, ...] = ("rcs", "brickwork", "brickwork2d", "qv")
"""The kinds :func:`make_family` builds (``"circuit"`` comes from :func:`circuit_family`)."""

# (vertical, col_offset, stagger) as cirq.experiments.GridInteractionLayer's fields.
STAGGERED_PATTERNS: dict[str, tuple[bool, int, bool]] = {
    "A": (True, 0, True),
    "B": (True, 1, True),
    "C": (False, 1, True),
    "D": (False, 0, True),
}
"""Cirq's ``HALF_GRID_STAGGERED_PATTERN`` (Sycamore's A, B, C, D)."""
ALIGNED_PATTERNS: tuple[tuple[bool, int, bool], ...] = (
    (False, 0, False),
    (False, 1, False),
    (True, 0, False),
    (True, 1, False),
)
"""Cirq's ``GRID_ALIGNED_PATTERN`` (E, F, G, H), the 2D brickwork's four layers."""
RCS_SEQUENCE = "ABCDCDAB"
"""The order of the coupler patterns in RCS cycles (Arute et al. 2019, supplementary)."""

_TAGS = {"rcs": 1, "brickwork": 2, "brickwork2d": 3, "qv": 4}
_RCS_NAMES = ("sx", "sy", "sw")


def _rcs_matrices() -> tuple[np.ndarray, ...]:
    mats = (gate_matrix("sx"), sqrt_y(), sqrt_w())
    for m in mats:
        m.setflags(write=False)
    return mats


_RCS_1Q = _rcs_matrices()


# Bounds that keep every call fast to refuse: grid_shape of a 30-digit width, or the gate list
# of a 30-digit depth, never finished.
MAX_FAMILY_QUBITS = 1024
MAX_FAMILY_DEPTH = 10**6


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    try:
        return check_int(name, value, min=minimum, max=maximum)
    except QsimTopoError as exc:
        raise FamilyError(str(exc)) from exc


def _is_finite_real(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(float(value))


def grid_shape(n_qubits: int) -> tuple[int, int]:
    """``(rows, cols)`` with ``rows * cols == n_qubits``, ``rows <= cols``, closest to square.

    16 -> (4, 4), 20 -> (4, 5), 24 -> (4, 6), 28 -> (4, 7), 12 -> (3, 4). A prime gives
    ``(1, n)``: a line, on which the vertical patterns (RCS's A and B, brickwork2d's last two)
    have no coupler.

    Raises:
        FamilyError: ``n_qubits`` is not an integer >= 1.
    """
    n = _check_int("n_qubits", n_qubits, 1, MAX_FAMILY_QUBITS)
    rows = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
    return rows, n // rows


def grid_couplers(rows: int, cols: int) -> list[tuple[int, int]]:
    """Every pair of grid neighbours ``(a, b)``, ``a < b``, qubit ``r * cols + c``."""
    out = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
    out += [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
    return sorted(out)


def pattern_couplers(
    shape: tuple[int, int], pattern: tuple[bool, int, bool]
) -> list[tuple[int, int]]:
    """The couplers of one Cirq ``GridInteractionLayer`` on a ``rows x cols`` grid, sorted.

    ``pattern`` is ``(vertical, col_offset, stagger)``, the layer's fields.
    A horizontal pair ``(r, c)-(r, c+1)`` is in the layer when ``(r % 2, (c - col_offset) %
    2)`` is ``(0, 0)`` or ``(1, stagger)``; a vertical layer applies the same rule to the
    transposed grid (``cirq.experiments.GridInteractionLayer.__contains__``).
    """
    rows, cols = shape
    vertical, col_offset, stagger = pattern

    def keep(row: int, col: int) -> bool:
        pos = (row % 2, (col - col_offset) % 2)
        return pos in ((0, 0), (1, int(stagger)))

    out = []
    for a, b in grid_couplers(rows, cols):
        (ra, ca), (rb, cb) = divmod(a, cols), divmod(b, cols)
        if ra == rb and not vertical and keep(ra, ca):
            out.append((a, b))
        elif ca == cb and vertical and keep(ca, ra):  # transposed: row <-> column
            out.append((a, b))
    return out


@dataclass(frozen=True)
class Family:
    """A seeded random circuit family (module docstring); build it with :func:`make_family`.

    ``fsim_theta`` and ``fsim_phi`` (radians) are the RCS two-qubit gate's angles: one value
    for every coupler, or a mapping ``{(a, b): angle}`` over the grid's couplers (``a < b``).
    """

    kind: str
    n_qubits: int
    seed: int
    fsim_theta: float | dict[tuple[int, int], float] = math.pi / 2
    fsim_phi: float | dict[tuple[int, int], float] = math.pi / 6
    # RCS single-qubit choices per cycle (0..2 for sx, sy, sw), grown on demand.
    _choices: list[np.ndarray] = field(
        default_factory=list, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        # isinstance first: `in` and `!=` on a numpy array are elementwise (ambiguous truth).
        if not isinstance(self.kind, str) or self.kind not in FAMILY_KINDS:
            raise FamilyError(
                f"unknown family kind {self.kind!r}; expected one of {', '.join(FAMILY_KINDS)} "
                "(or circuit_family() for an OpenQASM file)"
            )
        _check_int("n_qubits", self.n_qubits, 2, MAX_FAMILY_QUBITS)
        _check_int("seed", self.seed, 0)
        for label in ("fsim_theta", "fsim_phi"):
            value = getattr(self, label)
            if not isinstance(value, dict) and not _is_finite_real(value):
                raise FamilyError(
                    f"{label} must be a finite real number or a mapping of couplers to them, "
                    f"got {value!r}"
                )
        if self.kind != "rcs" and (self.fsim_theta, self.fsim_phi) != (math.pi / 2, math.pi / 6):
            raise FamilyError(f"fsim_theta and fsim_phi are RCS options; {self.kind!r} has no fSim")
        if self.kind == "rcs":
            couplers = set(grid_couplers(*self.shape))
            for label in ("fsim_theta", "fsim_phi"):
                value = getattr(self, label)
                values = value.values() if isinstance(value, dict) else [value]
                if isinstance(value, dict) and set(value) != couplers:
                    raise FamilyError(
                        f"{label} as a mapping must give exactly the grid's couplers "
                        f"{sorted(couplers)}, got {sorted(value, key=repr)}"
                    )
                if not all(_is_finite_real(v) for v in values):
                    raise FamilyError(f"{label} must be finite numbers, got {value!r}")

    @property
    def shape(self) -> tuple[int, int]:
        """The grid ``(rows, cols)`` of :func:`grid_shape` (used by rcs and brickwork2d)."""
        return grid_shape(self.n_qubits)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, _TAGS[self.kind], index]))

    def _choice(self, index: int) -> np.ndarray:
        """RCS: the single-qubit gate (0, 1, 2) of every qubit in cycle ``index``."""
        while len(self._choices) <= index:
            k = len(self._choices)
            rng = self._rng(k)
            if k == 0:
                self._choices.append(rng.integers(0, 3, size=self.n_qubits))
            else:
                step = rng.integers(1, 3, size=self.n_qubits)  # never 0: never the same gate
                self._choices.append((self._choices[-1] + step) % 3)
        return self._choices[index]

    def _one_qubit_layer(self, index: int) -> list[GateOp]:
        return [GateOp(_RCS_1Q[c], (q,), _RCS_NAMES[c]) for q, c in enumerate(self._choice(index))]

    def _fsim(self, pair: tuple[int, int]) -> GateOp:
        t = self.fsim_theta[pair] if isinstance(self.fsim_theta, dict) else self.fsim_theta
        p = self.fsim_phi[pair] if isinstance(self.fsim_phi, dict) else self.fsim_phi
        matrix = fsim(float(t), float(p))
        matrix.setflags(write=False)
        return GateOp(matrix, pair, "fsim")

    def pairs(self, index: int) -> list[tuple[int, int]]:
        """The qubit pairs that cycle ``index`` acts on with 2-qubit gates, in op order.

        For ``"qv"`` this draws the cycle's permutation (no matrix is drawn).
        """
        index = _check_int("index", index, 0, MAX_FAMILY_DEPTH)
        if self.kind == "rcs":
            pattern = STAGGERED_PATTERNS[RCS_SEQUENCE[index % len(RCS_SEQUENCE)]]
            return pattern_couplers(self.shape, pattern)
        if self.kind == "brickwork2d":
            return pattern_couplers(self.shape, ALIGNED_PATTERNS[index % 4])
        if self.kind == "brickwork":
            return [(q, q + 1) for q in range(index % 2, self.n_qubits - 1, 2)]
        return self._qv_pairs(self._rng(index))

    def _qv_pairs(self, rng: np.random.Generator) -> list[tuple[int, int]]:
        """QV: the pairs of a uniformly random permutation (the generator's first draw)."""
        perm = rng.permutation(self.n_qubits)
        return [(int(perm[2 * i]), int(perm[2 * i + 1])) for i in range(self.n_qubits // 2)]

    def cycle(self, index: int) -> list[GateOp]:
        """The ops of cycle ``index`` (0-based), the same whatever depth is built later.

        Raises:
            FamilyError: ``index`` is not an integer >= 0.
        """
        index = _check_int("index", index, 0, MAX_FAMILY_DEPTH)
        if self.kind == "rcs":
            return self._one_qubit_layer(index) + [self._fsim(p) for p in self.pairs(index)]
        if self.kind == "brickwork":
            return brickwork_layer(self.n_qubits, index % 2, seed=self._rng(index))
        if self.kind == "brickwork2d":
            rng = self._rng(index)
            return [GateOp(haar_unitary(4, seed=rng), p, "haar") for p in self.pairs(index)]
        rng = self._rng(index)
        pairs = self._qv_pairs(rng)
        return [GateOp(haar_unitary(4, seed=rng), p, "haar") for p in pairs]

    def closing(self, depth: int) -> list[GateOp]:
        """The ops that end a depth-``depth`` circuit after cycles ``0..depth-1``.

        RCS: the single-qubit layer of cycle ``depth`` (it obeys the never-repeat rule);
        every other kind: none.
        """
        depth = _check_int("depth", depth, 0, MAX_FAMILY_DEPTH)
        return self._one_qubit_layer(depth) if self.kind == "rcs" else []

    def circuit(self, depth: int) -> list[GateOp]:
        """Cycles ``0..depth-1`` then :meth:`closing` ``(depth)``, as one op list."""
        depth = _check_int("depth", depth, 0, MAX_FAMILY_DEPTH)
        ops: list[GateOp] = []
        for k in range(depth):
            ops.extend(self.cycle(k))
        return ops + self.closing(depth)

    def gate_counts(self, depth: int) -> dict[str, int]:
        """``{"1q": ..., "2q": ...}`` gates of :meth:`circuit` ``(depth)``, drawing no matrix."""
        depth = _check_int("depth", depth, 0, MAX_FAMILY_DEPTH)
        if self.kind == "rcs":
            per = [len(pattern_couplers(self.shape, STAGGERED_PATTERNS[p])) for p in RCS_SEQUENCE]
            two = sum(per[k % len(per)] for k in range(depth))
            return {"1q": self.n_qubits * (depth + 1), "2q": two}
        if self.kind == "brickwork2d":
            per = [len(pattern_couplers(self.shape, p)) for p in ALIGNED_PATTERNS]
            return {"1q": 0, "2q": sum(per[k % 4] for k in range(depth))}
        if self.kind == "brickwork":
            n = self.n_qubits
            return {"1q": 0, "2q": sum((n - k % 2) // 2 for k in range(depth))}
        return {"1q": 0, "2q": depth * (self.n_qubits // 2)}

    def to_qasm(self, depth: int) -> str:
        """OpenQASM 2 text of :meth:`circuit` ``(depth)`` (:func:`qsim_topo.openqasm.to_qasm`)."""
        return to_qasm(
            self.circuit(depth), self.n_qubits, comment=f"{self.describe()}, depth {depth}"
        )

    def describe(self) -> str:
        """One line naming the family (kind, grid, seed, angles)."""
        text = f"family {self.kind}, {self.n_qubits} qubits"
        if self.kind in ("rcs", "brickwork2d"):
            text += " ({} x {} grid)".format(*self.shape)
        text += f", seed {self.seed}"
        if self.kind == "rcs" and not isinstance(self.fsim_theta, dict):
            text += f", fsim theta {self.fsim_theta!r}"
        if self.kind == "rcs" and not isinstance(self.fsim_phi, dict):
            text += f", phi {self.fsim_phi!r}"
        return text


def make_family(
    kind: str,
    n_qubits: int,
    seed: int,
    *,
    fsim_theta: float | dict[tuple[int, int], float] = math.pi / 2,
    fsim_phi: float | dict[tuple[int, int], float] = math.pi / 6,
) -> Family:
    """The :class:`Family` ``kind`` (one of :data:`FAMILY_KINDS`) on ``n_qubits`` with ``seed``.

    Raises:
        FamilyError: an unknown kind (the message lists the kinds), ``n_qubits`` not an integer
            >= 2, ``seed`` not an integer >= 0, fSim angles that are not finite numbers, or
            fSim angles given to a kind other than ``"rcs"``.
    """
    return Family(kind, n_qubits, seed, fsim_theta=fsim_theta, fsim_phi=fsim_phi)


@dataclass(frozen=True)
class CircuitFamily:
    """A fixed circuit's gates (``ops``) as one cycle, repeated: the family ``"circuit"``.

    ``seed`` is always 0 (nothing is random); it is there so a sweep can treat every family
    alike. ``source`` names where the ops came from.
    """

    ops: tuple[GateOp, ...]
    n_qubits: int
    source: str = "ops"
    kind: str = field(default="circuit", init=False)
    seed: int = field(default=0, init=False)

    def cycle(self, index: int) -> list[GateOp]:
        """The ops, whatever ``index`` (>= 0)."""
        _check_int("index", index, 0, MAX_FAMILY_DEPTH)
        return list(self.ops)

    def closing(self, depth: int) -> list[GateOp]:
        """Nothing: a repeated circuit has no closing layer."""
        _check_int("depth", depth, 0, MAX_FAMILY_DEPTH)
        return []

    def circuit(self, depth: int) -> list[GateOp]:
        """The ops repeated ``depth`` times."""
        depth = _check_int("depth", depth, 0, MAX_FAMILY_DEPTH)
        return list(self.ops) * depth

    def gate_counts(self, depth: int) -> dict[str, int]:
        """``{"1q": ..., "2q": ..., "wide": ...}`` (``wide``: gates on 3+ qubits) at ``depth``."""
        depth = _check_int("depth", depth, 0, MAX_FAMILY_DEPTH)
        widths = [len(op.qubits) for op in self.ops]
        return {
            "1q": depth * widths.count(1),
            "2q": depth * widths.count(2),
            "wide": depth * sum(w > 2 for w in widths),
        }

    def to_qasm(self, depth: int) -> str:
        """OpenQASM 2 text of :meth:`circuit` ``(depth)``."""
        return to_qasm(
            self.circuit(depth), self.n_qubits, comment=f"{self.describe()}, depth {depth}"
        )

    def describe(self) -> str:
        """One line naming the family."""
        return f"family circuit {self.source}, {self.n_qubits} qubits"


def circuit_family(
    source: str | Path | Sequence[GateOp], n_qubits: int | None = None
) -> CircuitFamily:
    """The family that repeats one circuit: an OpenQASM 2 file's gates, or ``source`` ops.

    A file is read by :func:`qsim_topo.openqasm.read_qasm_ops` (no Qiskit needed): unitary gates
    only. With ops, ``n_qubits`` is required; with a file it is the file's (or must match it).

    Raises:
        CircuitError: the file cannot be read, or holds a measurement, reset, ``if`` or
            another non-unitary statement (the message names the file and line).
        FamilyError: ``n_qubits`` missing for ops, below 1, or not the file's, or an empty
            circuit.
    """
    if isinstance(source, (str, Path)):
        ops, width = read_qasm_ops(source)
        if n_qubits is not None and n_qubits != width:
            raise FamilyError(f"n_qubits {n_qubits!r} differs from {source}'s {width} qubits")
        name = str(source)
    else:
        if n_qubits is None:
            raise FamilyError("circuit_family needs n_qubits when given ops")
        width = _check_int("n_qubits", n_qubits, 1, MAX_FAMILY_QUBITS)
        ops = list(source)
        for op in ops:
            if not isinstance(op, GateOp) or any(q < 0 or q >= width for q in op.qubits):
                raise FamilyError(
                    f"circuit_family takes GateOps on qubits 0..{width - 1}, got {op!r:.80}"
                )
        name = "ops"
    if not ops:
        raise FamilyError(f"circuit_family: {name} has no gate to repeat")
    return CircuitFamily(tuple(ops), width, name)
