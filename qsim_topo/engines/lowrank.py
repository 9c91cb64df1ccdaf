"""Low-rank products: the randomized range finder of Halko, Martinsson and Tropp (2011).

For ``A`` (m, k) and rank ``r = max(1, round(ratio * min(m, k)))``:

1. ``Y = A Ω`` with a real Gaussian test matrix Ω of ``L = min(r + oversampling, m, k)``
   columns (drawn on the host with the engine's Generator, so CPU and GPU agree).
2. ``power_iterations`` times: ``Q = qr(Y)``, ``Z = qr(A^H Q)``, ``Y = A Z`` (the
   re-orthonormalised subspace iteration of HMT Algorithm 4.4), which sharpens the range
   when A's singular values decay slowly.
3. ``Q = qr(Y)`` (m, L); ``A ≈ Q (Q^H A)``. When ``L > r`` the small (L, k) matrix
   ``Q^H A = U Σ V^H`` is truncated to its best rank r, so the approximation has rank r
   exactly: ``A ≈ (Q U_r) (Σ_r V_r^H)``.
4. ``A B ≈ (Q U_r) ((Σ_r V_r^H) B)``.

Only A is approximated. For a Haar-random unitary all singular values equal 1, so every rank-r
approximation loses ``1 - r/k`` of the Frobenius mass: low rank is the wrong prior there, and
this engine shows it.
"""

from __future__ import annotations

from typing import Any

from qsim_topo.engines.base import EngineBase, register_engine
from qsim_topo.engines.complex_adapter import (
    MAX_ITERATIONS,
    check_int,
    check_ratio,
    exact_complex_flops,
    matmul_real_right,
    real_dtype_of,
)
from qsim_topo.xp import SeedLike, array_namespace, as_generator

__all__ = ["LowRankEngine", "lowrank_rank"]


def lowrank_rank(ratio: float, m: int, k: int) -> int:
    """Target rank ``max(1, round(ratio * min(m, k)))``."""
    return max(1, min(min(m, k), round(ratio * min(m, k))))


class LowRankEngine(EngineBase):
    """Randomized range finder (HMT 2011): ``A ≈ Q Q^H A`` of rank ratio*min(m, k), then ``@ B``.

    Options:
        ratio: target rank over ``min(m, k)``, ``0 < ratio <= 1``.
        power_iterations: subspace iterations q (>= 0), default 1.
        oversampling: extra test vectors p (>= 0), default 5; the rank is truncated back to r.
        seed: seed of the engine's numpy Generator; each call draws a fresh Ω from it.
    """

    name = "lowrank"
    exact = False
    family = "lowrank"

    def __init__(
        self,
        *,
        ratio: float = 0.25,
        power_iterations: int = 1,
        oversampling: int = 5,
        seed: SeedLike = None,
    ) -> None:
        super().__init__(
            ratio=ratio, power_iterations=power_iterations, oversampling=oversampling, seed=seed
        )
        self.ratio = check_ratio(ratio)
        self.power_iterations = check_int("power_iterations", power_iterations, 0, MAX_ITERATIONS)
        self.oversampling = check_int("oversampling", oversampling, 0)
        self._rng = as_generator(seed)

    def _sizes(self, m: int, k: int) -> tuple[int, int]:
        r = lowrank_rank(self.ratio, m, k)
        return r, min(r + self.oversampling, m, k)

    def factors(self, a: Any) -> tuple[Any, Any]:
        """``(left, right)`` with ``left`` (m, r), ``right`` (r, k) and ``left @ right ≈ a``.

        ``a`` is not modified; both factors are new arrays in ``a``'s (complex or real) dtype.
        """
        xp = array_namespace(a)
        m, k = a.shape
        r, width = self._sizes(m, k)
        real = real_dtype_of(a.dtype)
        omega = xp.asarray(self._rng.standard_normal((k, width)).astype(real))
        y = matmul_real_right(a, omega)
        a_h = a.conj().T
        for _ in range(self.power_iterations):
            q, _ = xp.linalg.qr(y)
            z, _ = xp.linalg.qr(xp.matmul(a_h, q))
            y = xp.matmul(a, z)
        q, _ = xp.linalg.qr(y)
        small = xp.matmul(q.conj().T, a)  # (width, k)
        if width == r:
            return q, small
        if not bool(xp.isfinite(small).all()):
            # NaN/Inf in ``a``: LAPACK's SVD would refuse; let the values reach the output,
            # where the caller's guard reports them.
            return q[:, :r], small[:r, :]
        u, sv, vh = xp.linalg.svd(small, full_matrices=False)
        return xp.matmul(q, u[:, :r]), sv[:r, None].astype(small.dtype) * vh[:r, :]

    def matmul(self, a: Any, b: Any, /) -> Any:
        """``left @ (right @ b)`` with ``a ≈ left @ right`` of rank r (module docstring).

        ``a`` (m, k), ``b`` (k, n): numpy or cupy, real or complex; not modified. Returns a new
        (m, n) array of ``result_type(a, b)``.
        """
        xp = array_namespace(a, b)
        out_dtype = xp.result_type(a, b)
        m, k = a.shape
        n = b.shape[1]
        if m == 0 or k == 0 or n == 0:
            return xp.zeros((m, n), dtype=out_dtype)
        left, right = self.factors(a)
        return xp.matmul(left, xp.matmul(right, b)).astype(out_dtype, copy=False)

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """Range finding, factorisations and the two thin products, over ``8 m k n``.

        With ``L`` test vectors and rank r (complex flops = 4 real multiplies + 4 adds):
        Ω draws ``k L``; ``A Ω`` ``4 m k L`` (real Ω); each power iteration two products
        ``16 m k L`` and two QRs ``8 (m + k) L^2``; the final QR ``8 m L^2`` and ``Q^H A``
        ``8 m k L``; when ``L > r`` the SVD ``≈ 16 k L^2 + 32 L^3`` and ``Q U_r`` ``8 m L r``;
        then ``8 r k n + 8 m r n``.
        """
        r, width = self._sizes(m, k)
        w = float(width)
        work = k * w + 4.0 * m * k * w
        work += self.power_iterations * (16.0 * m * k * w + 8.0 * (m + k) * w * w)
        work += 8.0 * m * w * w + 8.0 * m * k * w
        if width > r:
            work += 16.0 * k * w * w + 32.0 * w**3 + 8.0 * m * w * r + 2.0 * r * k
        work += 8.0 * r * k * n + 8.0 * m * r * n
        return work / exact_complex_flops(m, k, n)


register_engine("lowrank", LowRankEngine)
