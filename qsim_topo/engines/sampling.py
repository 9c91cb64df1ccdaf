"""Column-row sampling: Drineas, Kannan and Mahoney (2006), the ``cr-sampling`` engine.

Reference: "Fast Monte Carlo algorithms for matrices I: approximating matrix multiplication",
SIAM J. Comput. 36(1), 2006.

``A @ B = sum_i A[:, i] B[i, :]`` is estimated from ``c = max(1, round(ratio * k))`` of its k
outer products.

* With replacement (default): indices ``i_1..i_c`` are drawn i.i.d. with probabilities
  ``p_i ∝ ||A[:, i]|| ||B[i, :]||`` (or ``1/k`` with ``importance=False``) and each sampled
  column and row is scaled by ``1 / sqrt(c p_i)``, so ``CR = sum_t A_{i_t} B_{i_t} / (c p_{i_t})``
  is unbiased and, for the norm-proportional p, ``E||AB - CR||_F^2 <= ||A||_F^2 ||B||_F^2 / c``.
  Its exact mean square error is ``(sum_i ||A_i||^2 ||B_i||^2 / p_i - ||AB||_F^2) / c``.
* Without replacement (``replace=False``): exactly c distinct indices are drawn by randomised
  systematic sampling with inclusion probabilities ``pi_i = min(1, lambda p_i)`` (``lambda``
  set so that ``sum pi_i = c``; indices whose ``pi_i`` is capped at 1 are always taken). The
  indices are put in a random order, laid on [0, c) with lengths ``pi_i`` and hit by the grid
  ``u, u+1, ..., u+c-1`` for one uniform u, so index i is taken with probability exactly
  ``pi_i``. The Horvitz-Thompson estimator ``sum_{i in S} A_i B_i / pi_i`` is then unbiased.

Probabilities and indices are drawn on the host with the engine's numpy Generator and moved to
the device, so CPU and GPU sample the same indices for the same seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qsim_topo.engines.base import EngineBase, register_engine
from qsim_topo.engines.complex_adapter import (
    budget_count,
    check_bool,
    check_ratio,
    exact_complex_flops,
    log2_ceil,
    real_dtype_of,
)
from qsim_topo.xp import SeedLike, array_namespace, as_generator, to_numpy

__all__ = [
    "CRSamplingEngine",
    "inclusion_probabilities",
    "sample_count",
    "systematic_sample",
]


#: Number of sampled outer products: ``max(1, round(ratio * k))``, at most k.
sample_count = budget_count


def inclusion_probabilities(p: np.ndarray, c: int) -> np.ndarray:
    """Inclusion probabilities ``pi_i = min(1, lambda p_i)`` summing to ``min(c, #{p_i > 0})``.

    Args:
        p: (k,) non-negative float64 weights (need not be normalised).
        c: the wanted sample size, ``>= 1``.

    Returns:
        A new (k,) float64 array; indices with ``p_i = 0`` get 0, capped ones exactly 1.
    """
    pi = np.zeros_like(p, dtype=np.float64)
    positive = p > 0
    if int(positive.sum()) <= c:
        pi[positive] = 1.0
        return pi
    certain = np.zeros_like(positive)
    while True:
        rest = positive & ~certain
        lam = (c - int(certain.sum())) / float(p[rest].sum())
        newly = rest & (lam * p >= 1.0)
        if not newly.any():
            break
        certain |= newly
    pi[certain] = 1.0
    pi[rest] = lam * p[rest]
    return pi


def systematic_sample(rng: np.random.Generator, pi: np.ndarray) -> np.ndarray:
    """Randomised systematic sampling: distinct indices, index i taken with probability pi_i.

    Args:
        rng: the Generator that draws the random order and the start u.
        pi: (k,) inclusion probabilities in [0, 1] whose sum is an integer c.

    Returns:
        A (c,) int64 array of distinct indices (in random order).
    """
    c = round(float(pi.sum()))
    order = rng.permutation(pi.size)
    edges = np.cumsum(pi[order])
    edges *= c / edges[-1]  # remove the rounding drift of the running sum
    points = rng.random() + np.arange(c)
    pos = np.minimum(np.searchsorted(edges, points, side="right"), pi.size - 1)
    return np.asarray(order[pos], dtype=np.int64)


class CRSamplingEngine(EngineBase):
    """Column-row sampling (Drineas-Kannan-Mahoney): c = ratio*k sampled outer products.

    Options:
        ratio: nominal fraction of the k outer products kept, ``0 < ratio <= 1``.
        replace: True samples i.i.d. with replacement (DKM); False samples c distinct indices
            and uses the Horvitz-Thompson estimator (module docstring).
        importance: True uses ``p_i ∝ ||A[:, i]|| ||B[i, :]||``; False uniform ``p_i = 1/k``.
        seed: seed of the engine's numpy Generator; each call draws fresh indices from it, so
            one seed reproduces the whole sequence of calls.
    """

    name = "cr-sampling"
    exact = False
    family = "sampling"

    def __init__(
        self,
        *,
        ratio: float = 0.25,
        replace: bool = True,
        importance: bool = True,
        seed: SeedLike = None,
    ) -> None:
        super().__init__(ratio=ratio, replace=replace, importance=importance, seed=seed)
        self.ratio = check_ratio(ratio)
        self.replace = check_bool("replace", replace)
        self.importance = check_bool("importance", importance)
        self._rng = as_generator(seed)

    def probabilities(self, a: Any, b: Any) -> np.ndarray | None:
        """Host float64 (k,) sampling probabilities, or None when ``A @ B`` is exactly zero.

        Non-finite norms (NaN/Inf in the inputs) fall back to uniform probabilities, so the
        non-finite values reach the output, where a guard reports them.
        """
        k = a.shape[1]
        if not self.importance:
            return np.full(k, 1.0 / k)
        xp = array_namespace(a, b)
        na = to_numpy(xp.sqrt(xp.sum(xp.abs(a) ** 2, axis=0))).astype(np.float64)
        nb = to_numpy(xp.sqrt(xp.sum(xp.abs(b) ** 2, axis=1))).astype(np.float64)
        w = na * nb
        total = float(w.sum())
        if not math.isfinite(total):
            return np.full(k, 1.0 / k)
        if total == 0.0:
            return None
        return np.asarray(w / total)

    def matmul(self, a: Any, b: Any, /) -> Any:
        """Estimate ``a @ b`` from c sampled outer products.

        ``a`` (m, k) and ``b`` (k, n): numpy or cupy, real or complex; not modified. Returns a
        new (m, n) array of ``result_type(a, b)`` on the inputs' device.
        """
        xp = array_namespace(a, b)
        out_dtype = xp.result_type(a, b)
        m, k = a.shape
        n = b.shape[1]
        if k == 0:
            return xp.zeros((m, n), dtype=out_dtype)
        c = sample_count(self.ratio, k)
        p = self.probabilities(a, b)
        if p is None:
            return xp.zeros((m, n), dtype=out_dtype)
        if self.replace:
            idx = self._rng.choice(k, size=c, p=p)
            weights = 1.0 / (c * p[idx])
        else:
            pi = inclusion_probabilities(p, c)
            idx = systematic_sample(self._rng, pi)
            weights = 1.0 / pi[idx]
        real = real_dtype_of(out_dtype)
        scale = xp.asarray(np.sqrt(weights).astype(real))
        idx_d = xp.asarray(idx)
        cols = a[:, idx_d] * scale[None, :]
        rows = b[idx_d, :] * scale[:, None]
        return xp.matmul(cols, rows).astype(out_dtype, copy=False)

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """Nominal work over the exact complex product's ``8 m k n`` real flops.

        Counts ``8 m c n`` for the sampled product, ``2 c (m + n)`` for the scaling, the
        column/row norms ``4 (m k + k n)`` and ``3 k`` for the probabilities (importance only),
        and ``4 k + c log2 k`` for drawing the indices. Gathers are copies, not counted.
        """
        c = sample_count(self.ratio, k)
        work = 8.0 * m * c * n + 2.0 * c * (m + n) + 4.0 * k + c * log2_ceil(k)
        if self.importance:
            work += 4.0 * (m * k + k * n) + 3.0 * k
        return work / exact_complex_flops(m, k, n)


register_engine("cr-sampling", CRSamplingEngine)
