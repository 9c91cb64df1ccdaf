"""Haar-random unitaries and random layers (dense and brickwork), all seeded.

Qubit order is little-endian as in Qiskit: qubit 0 is the least significant bit of a basis
index, and a k-qubit gate on ``qubits = (q0, q1, ...)`` has ``q0`` as the least significant bit
of its own 2^k index. Layers are made of the circuit's :class:`~qsim_topo.circuit.GateOp`
(named ``"haar"``), so they run as they are through :mod:`qsim_topo.sim`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np

from qsim_topo.circuit import GateOp
from qsim_topo.xp import (
    SeedLike,
    array_namespace,
    as_generator,
    check_memory,
    get_xp,
    random_normal,
    resolve_device,
)

__all__ = [
    "LAYER_KINDS",
    "GateOp",
    "Layer",
    "LayerKind",
    "brickwork_layer",
    "brickwork_matrix",
    "dense_layer",
    "haar_from_ginibre",
    "haar_unitary",
    "layer_seeds",
    "layer_stack",
]

LayerKind = Literal["dense", "brickwork"]
LAYER_KINDS: tuple[str, ...] = ("dense", "brickwork")


def haar_from_ginibre(z: Any) -> Any:
    """The Haar-distributed unitary obtained from a complex Ginibre matrix ``z`` (d, d).

    QR decomposition with the phase correction of Mezzadri (2007): ``Q diag(r_ii / |r_ii|)``,
    without which Q is not Haar distributed. Runs on ``z``'s device; returns a new array.
    """
    xp = array_namespace(z)
    q, r = xp.linalg.qr(z)
    d = xp.diagonal(r)
    phases = d / xp.abs(d)
    return q * phases[None, :]


def haar_unitary(
    dim: int,
    *,
    seed: SeedLike = None,
    dtype: Any = np.complex128,
    device: str = "cpu",
) -> Any:
    """A (dim, dim) unitary drawn from the Haar measure on U(dim).

    On the CPU it comes from ``scipy.stats.unitary_group``; on the GPU a complex Ginibre matrix
    is drawn and factorised on the device (:func:`haar_from_ginibre`). Both draw in complex128;
    the result is then cast to ``dtype``. The same seed gives the same matrix on the same device.

    Raises:
        ValueError: ``dim`` < 1.
        InsufficientMemoryError: the matrix and its factorisation would not fit.

    """
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    dim = int(dim)
    dev = resolve_device(device)
    # Ginibre matrix, Q and R, and LAPACK's workspace: about four complex128 matrices.
    check_memory(4 * 16 * dim * dim, dev, f"a Haar unitary of dimension {dim}")
    rng = as_generator(seed)
    xp = get_xp(dev)
    if xp is np:
        from scipy.stats import unitary_group

        u = np.asarray(unitary_group.rvs(dim, random_state=rng), dtype=np.complex128)
        u = u.reshape(dim, dim)  # scipy returns a scalar-like array for dim == 1
    else:
        re = random_normal(xp, rng, (dim, dim))
        im = random_normal(xp, rng, (dim, dim))
        u = haar_from_ginibre((re + 1j * im) / np.sqrt(2.0))
    return u.astype(dtype, copy=False)


def brickwork_layer(
    n_qubits: int,
    parity: int,
    *,
    seed: SeedLike = None,
    dtype: Any = np.complex128,
    device: str = "cpu",
) -> list[GateOp]:
    """One brickwork layer: Haar-random 2-qubit gates on pairs (q, q+1), q = parity, parity+2, ...

    ``parity`` 0 pairs (0,1), (2,3), ...; parity 1 pairs (1,2), (3,4), .... Qubits left out at
    the edges are idle. Layers of alternating parity make the brickwork pattern.

    Raises:
        ValueError: fewer than 2 qubits or a parity other than 0 or 1.

    """
    if n_qubits < 2:
        raise ValueError(f"a brickwork layer needs at least 2 qubits, got {n_qubits}")
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1, got {parity!r}")
    rng = as_generator(seed)
    return [
        GateOp(haar_unitary(4, seed=rng, dtype=dtype, device=device), (q, q + 1), "haar")
        for q in range(parity, n_qubits - 1, 2)
    ]


def brickwork_matrix(ops: Sequence[GateOp], n_qubits: int) -> Any:
    """The dense (2^n, 2^n) matrix of disjoint gates on ascending adjacent qubit runs.

    Built by Kronecker products (no engine involved), so it is an independent reference for the
    simulators. Each op must act on ``(q, q+1, ..., q+k-1)`` in ascending order.

    Raises:
        ValueError: overlapping or non-contiguous ops, or qubits outside 0..n-1.

    """
    if not ops:
        raise ValueError("brickwork_matrix needs at least one op to know the array type")
    xp: ModuleType = array_namespace(ops[0].matrix)
    dtype = ops[0].matrix.dtype
    by_start: dict[int, GateOp] = {}
    covered: set[int] = set()
    for op in ops:
        qs = tuple(op.qubits)
        if list(qs) != list(range(qs[0], qs[0] + len(qs))) or qs[0] < 0 or qs[-1] >= n_qubits:
            raise ValueError(
                f"op on qubits {qs} is not an ascending adjacent run in 0..{n_qubits - 1}"
            )
        if covered.intersection(qs):
            raise ValueError(f"op on qubits {qs} overlaps another op of the layer")
        covered.update(qs)
        by_start[qs[0]] = op
    # Little-endian: the most significant qubit is the leftmost Kronecker factor.
    factors: list[Any] = []
    q = 0
    while q < n_qubits:
        start = by_start.get(q)
        if start is None:
            factors.append(xp.eye(2, dtype=dtype))
            q += 1
        else:
            factors.append(start.matrix)
            q += len(start.qubits)
    out = xp.ones((1, 1), dtype=dtype)
    for f in reversed(factors):
        out = xp.kron(out, f)
    return out


def dense_layer(
    n_qubits: int, *, seed: SeedLike = None, dtype: Any = np.complex128, device: str = "cpu"
) -> GateOp:
    """One Haar-random unitary on all ``n_qubits`` (dimension 2^n), as a single op."""
    return GateOp(
        haar_unitary(2**n_qubits, seed=seed, dtype=dtype, device=device),
        tuple(range(n_qubits)),
        "haar",
    )


@dataclass(frozen=True)
class Layer:
    """One layer of a stack: its ops, and its dense matrix on demand."""

    kind: str
    index: int
    n_qubits: int
    ops: tuple[GateOp, ...]
    dtype: Any = np.complex128
    device: str = "cpu"

    def matrix(self) -> Any:
        """The dense (2^n, 2^n) matrix of the layer (the op itself for a dense layer).

        A brickwork layer with no gate (the odd layer of 2 qubits) is the identity.
        """
        if self.kind == "dense":
            return self.ops[0].matrix
        if not self.ops:
            return get_xp(self.device).eye(2**self.n_qubits, dtype=self.dtype)
        return brickwork_matrix(self.ops, self.n_qubits)


def layer_seeds(seed: SeedLike, depth: int) -> list[np.random.SeedSequence]:
    """One independent SeedSequence per layer, prefix-stable.

    Layer k's seed does not depend on ``depth``, so a depth-8 stack starts with the same 4
    layers as the depth-4 stack of the same seed.
    """
    if isinstance(seed, np.random.SeedSequence):
        root = seed
    elif isinstance(seed, np.random.Generator):
        root = np.random.SeedSequence(int(seed.integers(2**63 - 1)))
    else:
        root = np.random.SeedSequence(seed)
    # Re-create the root so spawn() numbering starts at 0 whatever was spawned from it before.
    root = np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key)
    return root.spawn(depth)


def layer_stack(
    n_qubits: int,
    depth: int,
    kind: str,
    *,
    seed: SeedLike = None,
    dtype: Any = np.complex128,
    device: str = "cpu",
) -> Iterator[Layer]:
    """Yield ``depth`` random layers L_1..L_D of ``kind`` ``"dense"`` or ``"brickwork"``.

    Layers are generated one at a time (only the current one is held). Brickwork layer k (from
    0) has parity k % 2.

    Raises:
        ValueError: unknown kind, depth < 1 or n_qubits < 1 (< 2 for brickwork).

    """
    if kind not in LAYER_KINDS:
        raise ValueError(f"unknown layer kind {kind!r}; expected one of {', '.join(LAYER_KINDS)}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if n_qubits < 1 or (kind == "brickwork" and n_qubits < 2):
        raise ValueError(f"{kind} layers need more qubits than {n_qubits}")
    for index, child in enumerate(layer_seeds(seed, depth)):
        if kind == "dense":
            ops: tuple[GateOp, ...] = (
                dense_layer(n_qubits, seed=child, dtype=dtype, device=device),
            )
        else:
            ops = tuple(
                brickwork_layer(n_qubits, index % 2, seed=child, dtype=dtype, device=device)
            )
        yield Layer(kind=kind, index=index, n_qubits=n_qubits, ops=ops, dtype=dtype, device=device)
