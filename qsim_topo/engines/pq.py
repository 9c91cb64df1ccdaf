"""Product quantization in the PQ / MADDNESS style (Blalock and Guttag 2021), real kernel.

For real ``A`` (m, k) and ``B`` (k, n):

1. The inner dimension is split into C = ``min(codebooks, k)`` contiguous subspaces of width
   ``d = ceil(k / C)`` (A and B are zero-padded to ``C d``, which changes no product).
2. In each subspace, ``K = min(centroids, m)`` prototypes are learned from the rows of A by
   ``iterations`` Lloyd (k-means) steps from a k-means++ start drawn with the engine's
   Generator. Everything is written with ``xp`` (batched over subspaces), so it runs on the GPU
   too: distances ``||c||^2 - 2 x.c`` by a batched product, updates by a one-hot product, an
   empty cluster keeps its previous centroid.
3. Each row of A is encoded as its nearest prototype per subspace (C codes per row).
4. Lookup tables ``T_c = centroids_c @ B_c`` (K, n) are built per subspace.
5. ``C[i, :] ≈ sum_c T_c[code_c(i), :]``: C table look-ups and additions per output entry.

Unlike MADDNESS proper, the encoder is a nearest-prototype search (classic PQ) rather than
learned hash trees, and the prototypes are trained on A itself at every call (no separate
training set), with the training cost counted. Complex operands go through the shared
4m/3m adapter (``complex_mode``), which runs this real kernel 4 or 3 times, each with its own
training.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qsim_topo.engines.base import EngineBase, register_engine
from qsim_topo.engines.complex_adapter import (
    COMPLEX_MODES,
    MAX_ITERATIONS,
    adapter_fraction,
    check_choice,
    check_int,
    complex_matmul,
    real_dtype_of,
)
from qsim_topo.xp import SeedLike, array_namespace, as_generator, to_numpy

__all__ = ["PQEngine", "kmeans", "kmeans_plus_plus"]


def _assign(xp: Any, x: Any, cent: Any) -> Any:
    """Nearest-centroid codes (C, m) of points x (C, m, d) for centroids (C, K, d)."""
    cross = xp.matmul(x, cent.transpose(0, 2, 1))  # (C, m, K)
    dist = (cent * cent).sum(axis=2)[:, None, :] - 2 * cross
    return xp.argmin(dist, axis=2)


def kmeans_plus_plus(xp: Any, x: Any, k: int, rng: np.random.Generator) -> Any:
    """k-means++ starting centroids (C, K, d) for the point sets x (C, m, d), K = k <= m.

    The first centroid of each subspace is a uniformly drawn row, each next one a row drawn
    with probability proportional to its squared distance to the nearest chosen centroid
    (Arthur and Vassilvitskii 2007). Distances are computed with ``xp``; the draws are made on
    the host with ``rng``, so CPU and GPU choose alike. When every row already coincides with
    a centroid, further picks are uniform (duplicates are harmless).
    """
    c_books, m, _ = x.shape
    books = xp.arange(c_books)
    pick = rng.integers(0, m, size=c_books)
    chosen = [pick]
    newest = x[books, xp.asarray(pick)]  # (C, d)
    d2 = ((x - newest[:, None, :]) ** 2).sum(axis=2)  # (C, m)
    for _ in range(1, k):
        w = to_numpy(d2).astype(np.float64)
        cum = np.cumsum(w, axis=1)
        total = cum[:, -1]
        target = rng.random(c_books) * total
        pick = np.minimum((cum <= target[:, None]).sum(axis=1), m - 1)
        degenerate = ~(np.isfinite(total) & (total > 0))
        if degenerate.any():
            pick[degenerate] = rng.integers(0, m, size=int(degenerate.sum()))
        chosen.append(pick)
        newest = x[books, xp.asarray(pick)]
        d2 = xp.minimum(d2, ((x - newest[:, None, :]) ** 2).sum(axis=2))
    idx = xp.asarray(np.stack(chosen, axis=1))  # (C, K)
    return x[books[:, None], idx]


def kmeans(xp: Any, x: Any, k: int, iterations: int, rng: np.random.Generator) -> Any:
    """Batched Lloyd k-means: centroids (C, K, d) of the point sets x (C, m, d), K = k <= m.

    Starts from :func:`kmeans_plus_plus`, then ``iterations`` Lloyd steps (an empty cluster
    keeps its centroid). ``x`` is not modified; the centroids are a new array of x's dtype.
    """
    cent = kmeans_plus_plus(xp, x, k, rng)
    labels = xp.arange(k)
    for _ in range(iterations):
        codes = _assign(xp, x, cent)
        onehot = (codes[:, :, None] == labels[None, None, :]).astype(x.dtype)  # (C, m, K)
        counts = onehot.sum(axis=1)  # (C, K)
        sums = xp.matmul(onehot.transpose(0, 2, 1), x)  # (C, K, d)
        filled = counts > 0
        safe = xp.where(filled, counts, 1)[:, :, None]
        cent = xp.where(filled[:, :, None], sums / safe, cent)
    return cent


class PQEngine(EngineBase):
    """Product quantization of A's rows (PQ/MADDNESS style) with per-subspace lookup tables.

    Options:
        codebooks: number of subspaces C the inner dimension is split into (>= 1).
        centroids: prototypes K per subspace (>= 1; at most the number of rows is used).
        iterations: Lloyd iterations of the k-means training (>= 0).
        complex_mode: ``"4m"`` or ``"3m"``, how complex operands are reduced to real products.
        seed: seed of the engine's Generator (k-means starts); fresh draws on each call.
    """

    name = "pq"
    exact = False
    family = "pq"

    def __init__(
        self,
        *,
        codebooks: int = 16,
        centroids: int = 16,
        iterations: int = 5,
        complex_mode: str = "4m",
        seed: SeedLike = None,
    ) -> None:
        super().__init__(
            codebooks=codebooks,
            centroids=centroids,
            iterations=iterations,
            complex_mode=complex_mode,
            seed=seed,
        )
        self.codebooks = check_int("codebooks", codebooks, 1)
        self.centroids = check_int("centroids", centroids, 1)
        self.iterations = check_int("iterations", iterations, 0, MAX_ITERATIONS)
        self.complex_mode: str = check_choice("complex_mode", complex_mode, COMPLEX_MODES)
        self._rng = as_generator(seed)

    def matmul(self, a: Any, b: Any, /) -> Any:
        """PQ estimate of ``a @ b``; a new (m, n) array of ``result_type(a, b)``.

        ``a`` (m, k), ``b`` (k, n): numpy or cupy, real or complex; not modified.
        """
        return complex_matmul(self._real_matmul, a, b, mode=self.complex_mode)

    def _shape(self, m: int, k: int) -> tuple[int, int, int]:
        c_books = min(self.codebooks, k)
        width = math.ceil(k / c_books)
        return c_books, width, min(self.centroids, m)

    def _real_matmul(self, a: Any, b: Any) -> Any:
        xp = array_namespace(a, b)
        dtype = real_dtype_of(xp.result_type(a, b))
        m, k = a.shape
        n = b.shape[1]
        if m == 0 or k == 0 or n == 0:
            return xp.zeros((m, n), dtype=dtype)
        c_books, width, n_cent = self._shape(m, k)
        padded = c_books * width
        a_pad = xp.zeros((m, padded), dtype=dtype)
        a_pad[:, :k] = a
        b_pad = xp.zeros((padded, n), dtype=dtype)
        b_pad[:k, :] = b
        x = xp.ascontiguousarray(a_pad.reshape(m, c_books, width).transpose(1, 0, 2))
        cent = kmeans(xp, x, n_cent, self.iterations, self._rng)
        codes = _assign(xp, x, cent)  # (C, m)
        tables = xp.matmul(cent, b_pad.reshape(c_books, width, n))  # (C, K, n)
        out = xp.zeros((m, n), dtype=dtype)
        for c in range(c_books):
            out += tables[c][codes[c]]
        return out

    def real_flops(self, m: int, k: int, n: int) -> float:
        """Real flops of one real (m, k) @ (k, n) PQ product, training included.

        With C subspaces of width d (padded inner size ``P = C d``), K centroids and I Lloyd
        iterations: an assignment costs ``2 m P K`` (distances) plus ``2 C K d + 2 m C K``
        (norms, combination, arg-min); an update ``2 m P K`` (one-hot product) plus
        ``C K d``; the k-means++ start ``3 m P K + m C K`` (squared distances to each new
        centroid, running minimum, cumulative sums); training is the start plus I assignments
        and updates, encoding one assignment, the tables ``2 K P n`` and the look-ups
        ``m n C`` additions.
        """
        c_books, width, n_cent = self._shape(m, k)
        p = c_books * width
        assign = 2.0 * m * p * n_cent + 2.0 * c_books * n_cent * width + 2.0 * m * c_books * n_cent
        update = 2.0 * m * p * n_cent + c_books * n_cent * width
        start = 3.0 * m * p * n_cent + 2.0 * m * c_books * n_cent
        return (
            start
            + self.iterations * (assign + update)
            + assign
            + 2.0 * n_cent * p * n
            + float(m) * n * c_books
        )

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """``real_flops`` through the complex adapter, over ``8 m k n`` (complex operands)."""
        return adapter_fraction(self.real_flops(m, k, n), m, k, n, self.complex_mode)


register_engine("pq", PQEngine)
