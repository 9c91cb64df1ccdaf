"""Apply a k-qubit operator to a state vector or to the columns of an operator, via an engine.

This is the plain, obviously-correct contraction: the target qubits' axes are moved to the
front, the tensor is viewed as a (2^k, rest) matrix, and ``engine.matmul(matrix, that)`` does
the product. Every simulator in the package reduces to this call, so every product goes through
the engine under test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from qsim_topo.engines.base import MatmulEngine
from qsim_topo.errors import NotUnitaryError, QsimTopoError
from qsim_topo.xp import array_namespace, to_numpy

__all__ = [
    "apply_operator",
    "check_qubits",
    "check_unitary_matrices",
    "check_unitary_matrix",
    "flat_matrices",
    "n_qubits_of",
    "sort_gate_qubits",
]


def n_qubits_of(dim: int) -> int:
    """N such that 2^n == dim; raises QsimTopoError for a dimension that is no power of two."""
    n = int(dim).bit_length() - 1
    if dim < 1 or 2**n != dim:
        raise QsimTopoError(f"dimension {dim} is not a power of two")
    return n


def check_qubits(qubits: Sequence[int], n_qubits: int) -> tuple[int, ...]:
    """Validate a qubit tuple: distinct ints in 0..n-1. Returns it as a tuple of ints."""
    qs = tuple(int(q) for q in qubits)
    if not qs:
        raise QsimTopoError("an operator must act on at least one qubit")
    if len(set(qs)) != len(qs):
        raise QsimTopoError(f"qubits {qs} repeat a qubit")
    bad = [q for q in qs if not 0 <= q < n_qubits]
    if bad:
        raise QsimTopoError(f"qubits {bad} are outside the register of {n_qubits} qubits")
    return qs


def check_unitary_matrix(matrix: Any, *, atol: float = 1e-8, what: str = "operator") -> None:
    """Raise NotUnitaryError when ``matrix^dagger matrix`` is not the identity within ``atol``.

    Computed in complex128 on the CPU with numpy: a validation, not part of the simulation.
    """
    m = to_numpy(matrix).astype(np.complex128, copy=False)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.size == 0:
        raise NotUnitaryError(f"{what} of shape {m.shape} is not a (non-empty) square matrix")
    if not np.isfinite(m).all():
        raise NotUnitaryError(f"{what} holds NaN or Inf entries")
    dev = float(np.max(np.abs(m.conj().T @ m - np.eye(m.shape[0]))))
    if dev > atol:
        raise NotUnitaryError(
            f"{what} of shape {m.shape} is not unitary: max |U^dagger U - I| = {dev:.3g} > {atol:g}"
        )


# Matrices up to this dimension are checked in stacks by check_unitary_matrices.
_BATCH_MAX_DIM = 32


def flat_matrices(matrices: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Every matrix's entries row-major, one after the other, and the matrices as numpy arrays.

    Returns ``(flat, arrays)``: ``flat`` a complex128 array of ``sum(a.size for a in arrays)``
    entries, not to be written (it may be a view of the only input); ``arrays`` the inputs as
    numpy arrays (views of numpy inputs, host copies of cupy ones). Many small matrices of one
    numeric dtype are joined as bytes (~0.06 us a matrix; ``np.concatenate`` takes ~0.25);
    large ones are concatenated (a fresh 16 MB bytes object costs its page faults again).

    Raises:
        TypeError, ValueError: entries that are no numbers (from numpy's conversion).
    """
    arrays = [m if type(m) is np.ndarray else to_numpy(m) for m in matrices]
    dtypes = {a.dtype for a in arrays}
    if len(arrays) == 1:
        flat = np.ascontiguousarray(arrays[0]).reshape(-1)
    elif (
        len(dtypes) == 1
        and (dtype := next(iter(dtypes))).kind in "biufc"
        and len(arrays) * 64 >= sum(a.size for a in arrays)  # small: 8x8 on average at most
    ):
        flat = np.frombuffer(b"".join([a.tobytes() for a in arrays]), dtype=dtype)
    elif arrays:
        flat = np.concatenate([np.asarray(a).reshape(-1) for a in arrays])
    else:
        flat = np.zeros(0, dtype=np.complex128)
    return flat.astype(np.complex128, copy=False), arrays


def _unitary_deviations(flat: np.ndarray, offsets: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """``max |U^dagger U - I|`` of each (d, d) matrix ``flat[offsets[g]:][:d * d]``, d = dims[g].

    ``inf`` for a d of 0 (not screened) or a NaN or Inf entry. One stacked product per size.
    """
    out = np.empty(len(dims), dtype=np.float64)
    out[:] = np.inf
    for dim in np.unique(dims[dims > 0]).tolist():
        index = np.flatnonzero(dims == dim)
        stack = flat[offsets[index][:, None] + np.arange(dim * dim)].reshape(-1, dim, dim)
        with np.errstate(all="ignore"):
            product = np.matmul(stack.conj().transpose(0, 2, 1), stack)
            product[:, np.arange(dim), np.arange(dim)] -= 1
            dev = np.abs(product).max(axis=(1, 2))
        out[index] = np.where(np.isfinite(stack).all(axis=(1, 2)), dev, np.inf)
    return out


def check_unitary_matrices(
    matrices: Sequence[Any],
    whats: Sequence[str] | Callable[[int], str],
    *,
    atol: float = 1e-8,
) -> None:
    """:func:`check_unitary_matrix` of each matrix in order (``whats[i]`` names matrix i).

    ``whats`` may be a function of the index instead, called only for a matrix that fails
    (the names of a long circuit cost more than its screening).

    The same decisions and the same first error: square matrices of up to 32 rows are
    screened together from one flat copy of all of them (:func:`flat_matrices`), one stacked
    ``U^dagger U`` per size (a numpy call chain per matrix costs ~8 us for a 4x4), and
    only those whose screened deviation is not clearly within ``atol`` (above ``atol / 2``,
    NaN or Inf, or any other shape) go through :func:`check_unitary_matrix`, in order, which
    decides. A rounding difference between the screen and the single product is ~d * 1e-16;
    the margin is ``atol / 2`` less 64 d eps (with ``atol`` ~1e-15 or below, everything goes
    to the single check).
    """
    matrices = list(matrices)  # read twice below: an iterator would be empty the second time
    if not callable(whats) and len(matrices) != len(whats):
        raise QsimTopoError(f"{len(matrices)} matrices but {len(whats)} names")
    name_of = whats if callable(whats) else whats.__getitem__
    try:
        flat, arrays = flat_matrices(matrices)
    except (TypeError, ValueError):  # entries that are no numbers: each decides alone
        arrays = [to_numpy(m) for m in matrices]
        flat = None
    count = len(arrays)
    suspect = np.ones(count, dtype=bool)
    if flat is not None and count:
        # The row count of each square matrix small enough to screen; 0 for any other.
        dims = np.array(
            [s[0] if len(s) == 2 and s[0] == s[1] <= _BATCH_MAX_DIM else 0
             for s in [a.shape for a in arrays]],
            dtype=np.int64,
        )
        offsets = np.zeros(count, dtype=np.int64)
        np.cumsum(np.fromiter([a.size for a in arrays[:-1]], np.int64, count - 1), out=offsets[1:])
        dev = _unitary_deviations(flat, offsets, dims)
        # The stacked product rounds differently from the single check's (another kernel,
        # another order): up to ~d * eps apart. Clear only what is clearly within atol.
        margin = atol / 2 - 64 * np.finfo(np.float64).eps * dims
        suspect = ~(dev <= margin)  # NaN and inf: suspect
    for i in np.flatnonzero(suspect).tolist():
        check_unitary_matrix(arrays[i], atol=atol, what=name_of(i))


def apply_operator(
    engine: MatmulEngine,
    tensor: Any,
    matrix: Any,
    qubits: Sequence[int],
    n_qubits: int,
    *,
    max_columns: int | None = None,
) -> Any:
    """Return ``(matrix on qubits) @ tensor`` computed by ``engine.matmul``.

    Args:
        engine: the engine that performs the one product of the call.
        tensor: a state, shape (2^n,), or a batch of columns, shape (2^n, m) (e.g. a unitary
            being accumulated). Not modified.
        matrix: (2^k, 2^k) operator; ``qubits[0]`` is the least significant bit of its index
            (Qiskit's convention). Cast to ``tensor``'s dtype and device.
        qubits: k distinct target qubits in 0..n-1, qubit 0 = least significant bit.
        n_qubits: n.
        max_columns: None: one product ``(2^k, 2^k) @ (2^k, rest)``. Else the ``rest``
            columns go to the engine in blocks of at most this many, one call each (a random
            engine draws afresh per call), so the engine's own temporaries are bounded by a
            block, not by the state.

    Returns:
        A new C-contiguous array of ``tensor``'s shape, dtype and device. Peak memory besides
        ``tensor``: the moved copy and the product (the copy is released before the result is
        written), plus the engine's temporaries.

    """
    xp = array_namespace(tensor)
    qs = check_qubits(qubits, n_qubits)
    k = len(qs)
    if tensor.ndim not in (1, 2) or tensor.shape[0] != 2**n_qubits:
        raise QsimTopoError(
            f"tensor of shape {tensor.shape} is not (2^{n_qubits},) or (2^{n_qubits}, m)"
        )
    # The engine gets a private copy of the (small) matrix: gate matrices are shared (cached
    # conversions, module-level family gates, the reference's own ops), and an engine that
    # kept one and wrote into it later would change what the reference computes.
    mat = xp.array(matrix, dtype=tensor.dtype, copy=True)
    if mat.shape != (2**k, 2**k):
        raise QsimTopoError(
            f"a {k}-qubit operator needs a ({2**k}, {2**k}) matrix, got {tuple(mat.shape)}"
        )
    batch = tuple(tensor.shape[1:])
    t = tensor.reshape((2,) * n_qubits + batch)
    # Axis a of t holds qubit n-1-a. The matrix's most significant bit is qubits[-1], so that
    # qubit's axis goes first.
    front = [n_qubits - 1 - q for q in reversed(qs)]
    rest = [a for a in range(t.ndim) if a not in front]
    perm = front + rest
    moved = xp.transpose(t, perm).reshape(2**k, -1)
    cols = moved.shape[1]
    if max_columns is not None and max_columns < 1:
        raise QsimTopoError(f"max_columns must be >= 1 or None, got {max_columns}")
    if max_columns is None or cols <= max_columns:
        out = engine.matmul(mat, moved)
    else:
        out = xp.empty_like(moved)
        for start in range(0, cols, max_columns):
            out[:, start : start + max_columns] = engine.matmul(
                mat, moved[:, start : start + max_columns]
            )
    del moved  # the gathered copy: not alive beside the result below
    out = out.reshape((2,) * k + tuple(t.shape[a] for a in rest))
    inverse = np.argsort(perm).tolist()
    return xp.ascontiguousarray(xp.transpose(out, inverse)).reshape(tensor.shape)


@lru_cache(maxsize=256)
def _bit_permutation_index(order: tuple[int, ...]) -> np.ndarray:
    """Flat gather index of a (2^k, 2^k) matrix whose new index bit j is old bit ``order[j]``.

    Read-only; one per ``order``, so sorting a gate's qubits is one fancy-index copy (a 4x4:
    2.5 against 3.5 us for the reshape, transpose and contiguous copy before; best of 5).
    """
    k = len(order)
    t = np.arange(4**k).reshape((2,) * (2 * k))
    # Axis a of each half holds bit k-1-a.
    axes = [k - 1 - order[k - 1 - a] for a in range(k)]
    index = np.ascontiguousarray(np.transpose(t, axes + [a + k for a in axes])).reshape(-1)
    index.setflags(write=False)
    return index


def sort_gate_qubits(matrix: Any, qubits: Sequence[int]) -> tuple[Any, tuple[int, ...]]:
    """The same operator with its qubits in ascending order: ``(matrix', sorted(qubits))``.

    ``matrix`` is (2^k, 2^k) with bit j of its index on ``qubits[j]``; the result's bit j is on
    the j-th smallest qubit. A permutation of index bits (no arithmetic, no engine product).
    Returns ``matrix`` itself when the qubits are already ascending.

    Raises:
        ValueError: ``matrix`` is not (2^k, 2^k) for k qubits.
    """
    qs = [int(q) for q in qubits]
    k = len(qs)
    if tuple(matrix.shape) != (1 << k, 1 << k):
        dim = 1 << k
        raise ValueError(f"a {k}-qubit gate needs a ({dim}, {dim}) matrix, got {matrix.shape}")
    order = tuple(sorted(range(k), key=qs.__getitem__))
    if order == tuple(range(k)):
        return matrix, tuple(qs)
    index = _bit_permutation_index(order)
    if not isinstance(matrix, np.ndarray):
        index = array_namespace(matrix).asarray(index)
    return matrix.reshape(-1)[index].reshape(1 << k, 1 << k), tuple(sorted(qs))
