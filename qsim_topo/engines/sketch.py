"""Sketched products ``(A S)(S^T B)`` with a random (k, s) sketch S, ``E[S S^T] = I``.

The sketch size is ``s = max(1, round(ratio * k))``. Three sketches:

* ``sketch-gaussian``: i.i.d. ``N(0, 1/s)`` entries. For complex A, B its mean square error is
  exactly ``(||A||_F^2 ||B||_F^2 + ||A conj(B)||_F^2) / s <= 2 ||A||_F^2 ||B||_F^2 / s``.
* ``sketch-srht``: subsampled randomized Hadamard transform ``S = D H P / sqrt(s)`` on the
  inner dimension zero-padded to ``K = 2^ceil(log2 k)``: D random signs, H the (unnormalised)
  Walsh-Hadamard matrix applied by a fast transform written with array reshapes
  (``K log2 K`` additions per row), P the selection of s of the K coordinates uniformly
  without replacement. ``E[P P^T] = (s/K) I`` and ``H H^T = K I`` give ``E[S S^T] = I``.
* ``countsketch``: each inner index i is hashed to one of s buckets h(i) with a random sign
  σ(i); ``A S`` adds the signed columns of A bucket by bucket (``S^T B`` the rows of B).
  ``E[σ_i σ_j [h(i) = h(j)]] = δ_ij`` gives ``E[S S^T] = I``.

S is real; a complex operand is multiplied by it with two real products. All random draws
(Gaussian entries, signs, hashes, selections) are made on the host with the engine's numpy
Generator and moved to the device, so CPU and GPU see the same sketch for the same seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qsim_topo.engines.base import EngineBase, register_engine
from qsim_topo.engines.complex_adapter import (
    budget_count,
    check_ratio,
    exact_complex_flops,
    log2_ceil,
    matmul_real_left,
    matmul_real_right,
    real_dtype_of,
)
from qsim_topo.xp import SeedLike, array_namespace, as_generator

__all__ = [
    "CountSketchEngine",
    "GaussianSketchEngine",
    "SRHTEngine",
    "SketchEngine",
    "fwht",
    "sketch_size",
]


#: Sketch size ``max(1, round(ratio * k))``, at most k.
sketch_size = budget_count


def fwht(x: Any, axis: int) -> Any:
    """Unnormalised fast Walsh-Hadamard transform of a 2-D array along ``axis`` (0 or 1).

    Args:
        x: (r, L) or (L, r) numpy or cupy array, L a power of two; not modified.
        axis: the transformed axis.

    Returns:
        A new C-contiguous array ``H_L x`` (axis 0) or ``x H_L`` (axis 1), same dtype, with
        ``H_L`` the Sylvester-ordered Hadamard matrix (``scipy.linalg.hadamard(L)``).
    """
    xp = array_namespace(x)
    length = x.shape[axis]
    if length & (length - 1):
        raise ValueError(f"fwht needs a power-of-two length, got {length}")
    y = xp.ascontiguousarray(x)
    h = 1
    while h < length:
        if axis == 1:
            r = y.shape[0]
            v = y.reshape(r, length // (2 * h), 2, h)
            lo, hi = v[:, :, 0, :], v[:, :, 1, :]
            y = xp.stack((lo + hi, lo - hi), axis=2).reshape(r, length)
        else:
            r = y.shape[1]
            v = y.reshape(length // (2 * h), 2, h * r)
            lo, hi = v[:, 0, :], v[:, 1, :]
            y = xp.stack((lo + hi, lo - hi), axis=1).reshape(length, r)
        h *= 2
    return y


class SketchEngine(EngineBase):
    """Base of the sketch engines: ``(A S)(S^T B)`` with sketch size ``s = ratio * k``.

    Subclasses implement ``_sketch(xp, a, b, s, real_dtype) -> (A S, S^T B)`` and
    ``_sketch_flops(m, k, n, s)``.

    Options:
        ratio: nominal sketch size over the inner dimension, ``0 < ratio <= 1``.
        seed: seed of the engine's numpy Generator; each call draws a fresh sketch from it.
    """

    exact = False
    family = "sketch"

    def __init__(self, *, ratio: float = 0.25, seed: SeedLike = None) -> None:
        super().__init__(ratio=ratio, seed=seed)
        self.ratio = check_ratio(ratio)
        self._rng = as_generator(seed)

    def matmul(self, a: Any, b: Any, /) -> Any:
        """``(a S)(S^T b)`` for a fresh sketch S.

        ``a`` (m, k), ``b`` (k, n): numpy or cupy, real or complex; not modified. Returns a new
        (m, n) array of ``result_type(a, b)`` on the inputs' device.
        """
        xp = array_namespace(a, b)
        out_dtype = xp.result_type(a, b)
        m, k = a.shape
        n = b.shape[1]
        if k == 0:
            return xp.zeros((m, n), dtype=out_dtype)
        s = sketch_size(self.ratio, k)
        left, right = self._sketch(xp, a, b, s, real_dtype_of(out_dtype))
        return xp.matmul(left, right).astype(out_dtype, copy=False)

    def _sketch(self, xp: Any, a: Any, b: Any, s: int, real: Any) -> tuple[Any, Any]:
        raise NotImplementedError  # pragma: no cover

    def _sketch_flops(self, m: int, k: int, n: int, s: int) -> float:
        raise NotImplementedError  # pragma: no cover

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """Sketching plus the ``8 m s n`` small product, over ``8 m k n`` (complex operands)."""
        s = sketch_size(self.ratio, k)
        return (8.0 * m * s * n + self._sketch_flops(m, k, n, s)) / exact_complex_flops(m, k, n)


class GaussianSketchEngine(SketchEngine):
    """Gaussian sketch: S has i.i.d. N(0, 1/s) entries; ``(A S)(S^T B)``."""

    name = "sketch-gaussian"

    def _sketch(self, xp: Any, a: Any, b: Any, s: int, real: Any) -> tuple[Any, Any]:
        k = a.shape[1]
        host = self._rng.standard_normal((k, s), dtype=np.float64) / np.sqrt(s)
        sk = xp.asarray(host.astype(real))
        return matmul_real_right(a, sk), matmul_real_left(sk.T, b)

    def _sketch_flops(self, m: int, k: int, n: int, s: int) -> float:
        """``k s`` draws, ``4 m k s`` for ``A S`` and ``4 k s n`` for ``S^T B`` (real S)."""
        return float(k * s) + 4.0 * m * k * s + 4.0 * k * s * n


class SRHTEngine(SketchEngine):
    """Subsampled randomized Hadamard transform: ``S = D H P / sqrt(s)`` on k padded to 2^p."""

    name = "sketch-srht"

    def _sketch(self, xp: Any, a: Any, b: Any, s: int, real: Any) -> tuple[Any, Any]:
        m, k = a.shape
        n = b.shape[1]
        length = 1 << log2_ceil(k)
        signs_h = self._rng.choice(np.array([-1.0, 1.0]), size=k)
        pick_h = np.sort(self._rng.choice(length, size=s, replace=False))
        signs = xp.asarray(signs_h.astype(real))
        pick = xp.asarray(pick_h)
        norm = real.type(1.0 / np.sqrt(s))
        a_pad = xp.zeros((m, length), dtype=xp.result_type(a.dtype, real))
        a_pad[:, :k] = a * signs[None, :]
        left = fwht(a_pad, axis=1)[:, pick] * norm
        del a_pad
        b_pad = xp.zeros((length, n), dtype=xp.result_type(b.dtype, real))
        b_pad[:k, :] = b * signs[:, None]
        right = fwht(b_pad, axis=0)[pick, :] * norm
        return left, right

    def _sketch_flops(self, m: int, k: int, n: int, s: int) -> float:
        """Signs ``2 (m k + k n)``, transforms ``2 (m + n) K log2 K``, scaling ``2 s (m + n)``."""
        p = log2_ceil(k)
        length = 1 << p
        return 2.0 * (m * k + k * n) + 2.0 * (m + n) * length * p + 2.0 * s * (m + n)


class CountSketchEngine(SketchEngine):
    """CountSketch: each inner index hashed to one of s buckets with a random sign."""

    name = "countsketch"

    def _sketch(self, xp: Any, a: Any, b: Any, s: int, real: Any) -> tuple[Any, Any]:
        k = a.shape[1]
        bucket_h = self._rng.integers(0, s, size=k)
        signs_h = self._rng.choice(np.array([-1.0, 1.0]), size=k)
        bucket = xp.asarray(bucket_h)
        signs = xp.asarray(signs_h.astype(real))
        # S^T B: row i of B, signed, added into row h(i). A S = (S^T A^T)^T likewise.
        right = _bucket_rows(xp, b * signs[:, None], bucket, s)
        left = _bucket_rows(xp, a.T * signs[:, None], bucket, s).T
        return xp.ascontiguousarray(left), right

    def _sketch_flops(self, m: int, k: int, n: int, s: int) -> float:
        """``2 k`` draws, signs ``2 (m k + k n)`` and bucket sums ``2 (m k + k n)``."""
        return 2.0 * k + 4.0 * (m * k + k * n)


def _bucket_rows(xp: Any, rows: Any, bucket: Any, s: int) -> Any:
    """A new (s, r) array whose row j is the sum of ``rows[i]`` over ``bucket[i] == j``.

    ``rows`` is (k, r), real or complex; complex rows are added as their float view, so the
    scatter-add only needs real atomics on the GPU.
    """
    k, r = rows.shape
    out = xp.zeros((s, r), dtype=rows.dtype)
    if rows.dtype.kind == "c":
        src = xp.ascontiguousarray(rows).view(real_dtype_of(rows.dtype)).reshape(k, 2 * r)
        xp.add.at(out.view(real_dtype_of(rows.dtype)).reshape(s, 2 * r), bucket, src)
    else:
        xp.add.at(out, bucket, xp.ascontiguousarray(rows))
    return out


register_engine("sketch-gaussian", GaussianSketchEngine)
register_engine("sketch-srht", SRHTEngine)
register_engine("countsketch", CountSketchEngine)
