"""Reduced-precision engines: fp32, tf32, fp16, bf16 and the error-compensated split variants.

Numerics (identical on CPU and GPU up to the order of the float32 accumulation):

* ``fp32``: the operands are cast to complex64/float32 and multiplied there (cgemm/sgemm);
  the result is cast back to ``result_type(a, b)``.
* ``tf32``, ``fp16``, ``bf16``: each operand is cast to float32, then rounded to the format's
  fraction bits (tf32 10, fp16 10, bf16 7) with round-to-nearest-even done by bit
  manipulation on the float32 bit pattern; fp16 also gets its range (subnormals below
  2^-14 on a grid of 2^-24, overflow above 65504 to Inf). The rounded operands are multiplied
  with products accumulated in float32 — which is what a tensor core does with these inputs
  and an fp32 accumulator/output. On the CPU this is an sgemm on the rounded values (their
  pairwise products are exact in float32); on the GPU it is a real tensor-core GEMM, cuBLAS
  ``cublasGemmEx`` through cupy with bf16/fp16 inputs (``CUBLAS_COMPUTE_32F``) or float32
  inputs with ``CUBLAS_COMPUTE_32F_FAST_TF32``, always with a float32 output.
* ``3xtf32``, ``bf16x3``: error-compensated splitting. Each float32 operand is split as
  ``x = hi + lo`` with ``hi = fmt(x)``, ``lo = fmt(x - hi)``, and ``a_hi b_lo + a_lo b_hi +
  a_hi b_hi`` is accumulated in float32 (small terms first). 3xtf32 carries 22 significant
  bits and reaches float32 accuracy; bf16x3 carries 16, so its relative error is about 2^-17
  (a few 1e-6), better than tf32 but *not* float32 level.
* ``bf16x9``: three-way split ``x = hi + mid + lo`` (24 significant bits) and all nine
  products: float32-level accuracy from bf16 tensor cores (the scheme cuBLAS calls
  BF16x9 emulation).

Complex operands go through :func:`~qsim_topo.engines.complex_adapter.complex_matmul`
(``complex_mode="4m"`` or ``"3m"``) for every engine except ``fp32``, which uses the native
complex64 product.

Cost convention of ``flops_fraction`` (see also ``complex_adapter``): real operations of the
engine divided by the ``8 m k n`` real flops of one complex128 product, where each real
multiply-add in a format of ``w`` bits is weighted ``w / 64`` (the format's nominal cost
relative to float64: fp32 32, tf32 19, fp16 16, bf16 16 bits). So ``fp32`` is 0.5, ``tf32``
19/64, ``bf16``/``fp16`` 1/4, ``3xtf32`` 3 x 19/64, ``bf16x3`` 3/4 and ``bf16x9`` 9/4 (more
than the exact product: that is honest, it buys float32 accuracy from bf16 units). Casts,
roundings, splits and the adapter's combinations are added at weight 1 per element operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from qsim_topo.engines.base import EngineBase, register_engine
from qsim_topo.engines.complex_adapter import (
    COMPLEX_MODES,
    adapter_fraction,
    check_choice,
    complex_matmul,
    exact_complex_flops,
)
from qsim_topo.xp import array_namespace

__all__ = [
    "FORMATS",
    "Bf16Engine",
    "Bf16x3Engine",
    "Bf16x9Engine",
    "FloatFormat",
    "Fp16Engine",
    "Fp32Engine",
    "SplitPrecisionEngine",
    "Tf32Engine",
    "Tf32x3Engine",
    "round_to_format",
    "split_to_format",
]


@dataclass(frozen=True)
class FloatFormat:
    """A reduced floating-point format emulated inside float32.

    Attributes:
        name: ``"tf32"``, ``"fp16"`` or ``"bf16"``.
        fraction_bits: stored mantissa bits (the significand has one more).
        width: bits of one operand, the nominal cost weight is ``width / 64``.
        max_finite: largest finite value (None: float32's range).
        min_normal: smallest normal value (None: float32's range).
    """

    name: str
    fraction_bits: int
    width: int
    max_finite: float | None = None
    min_normal: float | None = None


FORMATS: dict[str, FloatFormat] = {
    "tf32": FloatFormat("tf32", 10, 19),
    "fp16": FloatFormat("fp16", 10, 16, max_finite=65504.0, min_normal=2.0**-14),
    "bf16": FloatFormat("bf16", 7, 16),
}

# Per-element operation counts used by the cost model (weight 1 each).
_ROUND_OPS = 5  # shift, and, add, mask, select
_CAST_OPS = 1


def _round_fraction_bits(xp: Any, x: Any, bits: int) -> Any:
    """Round float32 ``x`` to ``bits`` fraction bits, nearest-even, on the bit pattern.

    Non-finite values pass unchanged; a finite value that rounds past float32's largest
    finite value becomes Inf with its sign, as the format's own rounding does.
    """
    shift = 23 - bits
    u = x.view(xp.uint32)
    lsb = (u >> xp.uint32(shift)) & xp.uint32(1)
    bias = xp.uint32((1 << (shift - 1)) - 1) + lsb
    mask = xp.uint32((0xFFFFFFFF << shift) & 0xFFFFFFFF)
    rounded = ((u + bias) & mask).view(xp.float32)
    return xp.where(xp.isfinite(x), rounded, x)


def round_to_format(x: Any, fmt: str | FloatFormat) -> Any:
    """Round a float32 array to the values of format ``fmt``, returned as a new float32 array.

    Args:
        x: real float32 numpy or cupy array (any shape); not modified.
        fmt: ``"tf32"``, ``"fp16"``, ``"bf16"`` or a :class:`FloatFormat`.

    Returns:
        Round-to-nearest-even of ``x`` in the format, stored as float32 (exactly
        representable in the format). For fp16 this includes subnormals (multiples of
        2^-24 below 2^-14) and overflow to Inf beyond 65504, so it equals
        ``x.astype(float16).astype(float32)``.
    """
    spec = FORMATS[fmt] if isinstance(fmt, str) else fmt
    xp = array_namespace(x)
    if x.dtype != xp.float32:
        raise TypeError(f"round_to_format expects float32, got {x.dtype}")
    y = _round_fraction_bits(xp, x, spec.fraction_bits)
    if spec.min_normal is not None:
        ulp_sub = spec.min_normal * 2.0**-spec.fraction_bits  # 2^-24 for fp16
        tiny = xp.abs(x) < xp.float32(spec.min_normal)
        scaled = xp.where(tiny, x, xp.float32(0)) * xp.float32(1.0 / ulp_sub)
        y = xp.where(tiny, xp.rint(scaled) * xp.float32(ulp_sub), y)
    if spec.max_finite is not None:
        over = xp.abs(y) > xp.float32(spec.max_finite)
        y = xp.where(over, xp.copysign(xp.float32(np.inf), y), y)
    return y


def split_to_format(x: Any, fmt: str | FloatFormat, pieces: int) -> list[Any]:
    """Split float32 ``x`` into ``pieces`` format values ``hi, (mid,) lo`` summing to about x.

    Each piece is ``round_to_format`` of the remainder left by the previous ones, so the sum
    carries about ``pieces * (fraction_bits + 1)`` significant bits. Returns new arrays.
    """
    out = []
    rest = x
    for i in range(pieces):
        piece = round_to_format(rest, fmt)
        out.append(piece)
        if i + 1 < pieces:
            rest = rest - piece
    return out


# --------------------------------------------------------------------------- GPU kernel

_CUDA_R_32F = 0
_CUDA_R_16F = 2
_CUDA_R_16BF = 14
_CUBLAS_COMPUTE_32F = 68
_CUBLAS_COMPUTE_32F_FAST_TF32 = 77
_CUBLAS_GEMM_DEFAULT = -1
_CUBLAS_OP_N = 0
_CUBLAS_POINTER_MODE_HOST = 0


def _tensor_core_matmul(xp: Any, a: Any, b: Any, fmt: str) -> Any:
    """float32 (m, n) product of float32 cupy ``a`` (m, k), ``b`` (k, n) on tensor cores.

    ``a`` and ``b`` must hold values exactly representable in ``fmt`` (``round_to_format``
    output), so the device's own input conversion is exact and the numerics match the CPU
    emulation. Uses ``cublasGemmEx`` with a float32 output; row-major ``C = A B`` is computed
    as the column-major ``C^T = B^T A^T``.
    """
    from cupy.cuda import cublas, device  # GPU path only: cupy is never imported at load

    m, k = a.shape
    n = b.shape[1]
    out = xp.zeros((m, n), dtype=xp.float32)
    if m == 0 or n == 0 or k == 0:
        return out
    if fmt == "tf32":
        ad, bd = xp.ascontiguousarray(a), xp.ascontiguousarray(b)
        code, compute = _CUDA_R_32F, _CUBLAS_COMPUTE_32F_FAST_TF32
    elif fmt == "fp16":
        ad = xp.ascontiguousarray(a.astype(xp.float16))
        bd = xp.ascontiguousarray(b.astype(xp.float16))
        code, compute = _CUDA_R_16F, _CUBLAS_COMPUTE_32F
    else:  # bf16: the upper half of the (already rounded) float32 bit pattern
        ad = xp.ascontiguousarray((a.view(xp.uint32) >> xp.uint32(16)).astype(xp.uint16))
        bd = xp.ascontiguousarray((b.view(xp.uint32) >> xp.uint32(16)).astype(xp.uint16))
        code, compute = _CUDA_R_16BF, _CUBLAS_COMPUTE_32F
    alpha = np.ones(1, dtype=np.float32)
    beta = np.zeros(1, dtype=np.float32)
    handle = device.get_cublas_handle()
    mode = cublas.getPointerMode(handle)
    cublas.setPointerMode(handle, _CUBLAS_POINTER_MODE_HOST)
    try:
        cublas.gemmEx(
            handle, _CUBLAS_OP_N, _CUBLAS_OP_N, n, m, k,
            alpha.ctypes.data, bd.data.ptr, code, n, ad.data.ptr, code, k,
            beta.ctypes.data, out.data.ptr, _CUDA_R_32F, n, compute, _CUBLAS_GEMM_DEFAULT,
        )
    finally:
        cublas.setPointerMode(handle, mode)
    return out


def _format_matmul(xp: Any, a: Any, b: Any, fmt: str) -> Any:
    """float32 product of float32 arrays already in ``fmt``, accumulated in float32."""
    if xp is np:
        return np.matmul(a, b)
    return _tensor_core_matmul(xp, a, b, fmt)


# --------------------------------------------------------------------------- engines


class Fp32Engine(EngineBase):
    """Single precision: complex64/float32 products of the operands, cast back.

    On complex64/float32 operands this is the exact product.
    """

    name = "fp32"
    exact = False
    family = "precision"

    def __init__(self) -> None:
        super().__init__()

    def matmul(self, a: Any, b: Any, /) -> Any:
        """(m, k) @ (k, n) in single precision; a new array of ``result_type(a, b)``."""
        xp = array_namespace(a, b)
        out_dtype = xp.result_type(a, b)

        def low(x: Any) -> Any:
            return x.astype(xp.complex64 if x.dtype.kind == "c" else xp.float32)

        return xp.matmul(low(a), low(b)).astype(out_dtype)

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """Complex64 product at weight 32/64 plus the casts: ``0.5 + 2(mk+kn+mn)/(8mkn)``."""
        casts = 2.0 * _CAST_OPS * (m * k + k * n + m * n)
        return 0.5 + casts / exact_complex_flops(m, k, n)


class SplitPrecisionEngine(EngineBase):
    """Reduced-precision products: each operand split into ``pieces`` values of ``fmt``.

    Subclasses set ``fmt`` (a key of :data:`FORMATS`), ``pieces`` and ``terms`` (the (i, j)
    pairs of pieces multiplied, ``a_i @ b_j``). One piece and the single term (0, 0) is the
    plain reduced-precision product.
    """

    exact = False
    family = "precision"
    fmt: ClassVar[str] = "bf16"
    pieces: ClassVar[int] = 1
    terms: ClassVar[tuple[tuple[int, int], ...]] = ((0, 0),)

    def __init__(self, *, complex_mode: str = "4m") -> None:
        super().__init__(complex_mode=complex_mode)
        self.complex_mode: str = check_choice("complex_mode", complex_mode, COMPLEX_MODES)

    def matmul(self, a: Any, b: Any, /) -> Any:
        """Approximate ``a @ b`` (see the module docstring); a new ``result_type(a, b)`` array.

        ``a`` (m, k) and ``b`` (k, n), real or complex, numpy or cupy; not modified.
        """
        return complex_matmul(self._real_matmul, a, b, mode=self.complex_mode)

    def _real_matmul(self, a: Any, b: Any) -> Any:
        xp = array_namespace(a, b)
        a_parts = split_to_format(xp.asarray(a, dtype=xp.float32), self.fmt, self.pieces)
        b_parts = split_to_format(xp.asarray(b, dtype=xp.float32), self.fmt, self.pieces)
        # Smallest terms first, so the large hi*hi term is added last in float32.
        order = sorted(self.terms, key=lambda t: -(t[0] + t[1]))
        acc = None
        for i, j in order:
            term = _format_matmul(xp, a_parts[i], b_parts[j], self.fmt)
            acc = term if acc is None else acc + term
        return acc

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """Weighted products plus casts, roundings, splits and the adapter (module docstring)."""
        weight = FORMATS[self.fmt].width / 64.0
        products = len(self.terms) * 2.0 * m * k * n * weight
        per_element = _CAST_OPS + self.pieces * _ROUND_OPS + (self.pieces - 1)
        prep = per_element * (m * k + k * n)
        accumulate = (len(self.terms) - 1) * float(m * n)
        return adapter_fraction(products + prep + accumulate, m, k, n, self.complex_mode)


class Tf32Engine(SplitPrecisionEngine):
    """TF32 tensor-core numerics: operands rounded to 10 fraction bits, float32 accumulation."""

    name = "tf32"
    fmt = "tf32"


class Fp16Engine(SplitPrecisionEngine):
    """FP16 tensor-core numerics: fp16 operands (10 bits, fp16 range), float32 accumulation."""

    name = "fp16"
    fmt = "fp16"


class Bf16Engine(SplitPrecisionEngine):
    """BF16 tensor-core numerics: operands rounded to 7 fraction bits, float32 accumulation."""

    name = "bf16"
    fmt = "bf16"


class Tf32x3Engine(SplitPrecisionEngine):
    """3xTF32: hi/lo TF32 split, three products in float32 — float32-level accuracy."""

    name = "3xtf32"
    fmt = "tf32"
    pieces = 2
    terms = ((0, 0), (0, 1), (1, 0))


class Bf16x3Engine(SplitPrecisionEngine):
    """BF16x3: hi/lo BF16 split, three products in float32 — about 2^-17 relative error."""

    name = "bf16x3"
    fmt = "bf16"
    pieces = 2
    terms = ((0, 0), (0, 1), (1, 0))


class Bf16x9Engine(SplitPrecisionEngine):
    """BF16x9: hi/mid/lo BF16 split, all nine products in float32 — float32-level accuracy."""

    name = "bf16x9"
    fmt = "bf16"
    pieces = 3
    terms = tuple((i, j) for i in range(3) for j in range(3))


register_engine("fp32", Fp32Engine)
register_engine("tf32", Tf32Engine)
register_engine("fp16", Fp16Engine)
register_engine("bf16", Bf16Engine)
register_engine("3xtf32", Tf32x3Engine)
register_engine("bf16x3", Bf16x3Engine)
register_engine("bf16x9", Bf16x9Engine)
