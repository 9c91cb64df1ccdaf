"""Complex support for real-only kernels, written once, and the shared cost conventions.

Many approximate kernels (reduced-precision tensor-core products, product quantization) are
defined on real matrices. :func:`complex_matmul` lifts any real kernel to complex operands::

    4m:  Re = Ar Br - Ai Bi,            Im = Ar Bi + Ai Br                  (4 real products)
    3m:  T1 = Ar Br, T2 = Ai Bi, T3 = (Ar + Ai)(Br + Bi),
         Re = T1 - T2,                  Im = T3 - T1 - T2                   (3 real products,
                                                                            the Gauss trick)

The 3m form saves a quarter of the products but its imaginary part is a difference of larger
terms, so a kernel's relative error on ``Im`` grows (by about ``||Ar+Ai|| ||Br+Bi|| / ||Im||``).

Cost convention shared by every approximate engine: ``flops_fraction`` counts *real*
floating-point operations (one multiply or one add each) and divides by ``8 m k n``, the real
flops of one exact complex (m, k) @ (k, n) product (4 real multiplies and 4 real adds per
complex multiply-add). Fractions therefore assume complex operands, which is what the
simulators multiply; on real operands the adapter does one real product, not four.

The module also holds the option checks every approximate engine shares (``ratio``, choices,
integers), so that each refuses a bad value with the same :class:`EngineOptionError` wording.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qsim_topo.errors import EngineOptionError
from qsim_topo.xp import array_namespace

__all__ = [
    "COMPLEX_MODES",
    "MAX_INT_OPTION",
    "MAX_ITERATIONS",
    "RealMatmul",
    "adapter_fraction",
    "budget_count",
    "check_bool",
    "check_choice",
    "check_int",
    "check_ratio",
    "complex_matmul",
    "exact_complex_flops",
    "log2_ceil",
    "matmul_real_left",
    "matmul_real_right",
    "real_dtype_of",
    "real_products",
]

COMPLEX_MODES = ("4m", "3m")

RealMatmul = Callable[[Any, Any], Any]
"""A real kernel: ``(a, b) -> approx(a @ b)`` for real (m, k) and (k, n) arrays of one
namespace; returns a new real (m, n) array (any float dtype, cast by the caller) and must not
modify its inputs."""


# --------------------------------------------------------------------------- options


def budget_count(ratio: float, k: int) -> int:
    """Inner indices a budget ``ratio`` buys out of ``k``: ``max(1, round(ratio * k))``, at most k.

    The one rule behind cr-sampling's sample count and the sketches' sketch size.
    """
    return min(k, max(1, round(ratio * k)))


def check_ratio(ratio: Any) -> float:
    """Validate a compute budget: a real number with ``0 < ratio <= 1``.

    Raises:
        EngineOptionError: ``ratio`` is not a number or lies outside (0, 1].
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise EngineOptionError(f"ratio must be a number in (0, 1], got {ratio!r}")
    value = float(ratio)
    if not (0.0 < value <= 1.0):  # also refuses NaN
        raise EngineOptionError(f"ratio must satisfy 0 < ratio <= 1, got {ratio!r}")
    return value


def check_choice(option: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return ``value`` when it is one of ``choices``.

    Raises:
        EngineOptionError: naming the option and listing the valid choices.
    """
    if isinstance(value, bool) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise EngineOptionError(f"{option} must be one of {valid}, got {value!r}")
    return value


MAX_ITERATIONS = 10_000  # power / Lloyd iterations: each is a full pass over the operands
MAX_INT_OPTION = 2**31 - 1  # far past any useful count, and refused before any arithmetic


def check_int(option: str, value: Any, minimum: int, maximum: int = MAX_INT_OPTION) -> int:
    """Return ``value`` as an int when it is an integer in ``minimum..maximum``.

    Python and numpy integers, and floats with an integral value (as JSON may give them), are
    integers; bools are not.

    Raises:
        EngineOptionError: not an integer, or outside ``minimum..maximum``.
    """
    integral = isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    )
    if isinstance(value, (bool, np.bool_)) or not integral or not minimum <= value <= maximum:
        raise EngineOptionError(
            f"{option} must be an integer in {minimum}..{maximum}, got {value!r}"
        )
    return int(value)


def check_bool(option: str, value: Any) -> bool:
    """Return ``value`` when it is a bool.

    Raises:
        EngineOptionError: anything else (``1`` or ``"yes"`` are refused, not guessed).
    """
    if not isinstance(value, bool):
        raise EngineOptionError(f"{option} must be true or false, got {value!r}")
    return value


# --------------------------------------------------------------------------- costs


def exact_complex_flops(m: int, k: int, n: int) -> float:
    """Real flops of one exact complex (m, k) @ (k, n) product: ``8 m k n``."""
    return 8.0 * m * k * n


def real_products(mode: str) -> int:
    """Real products the adapter makes for complex @ complex operands: 4 (4m) or 3 (3m)."""
    return 4 if mode == "4m" else 3


def adapter_fraction(real_kernel_flops: float, m: int, k: int, n: int, mode: str) -> float:
    """Fraction of the exact complex product's work done by the adapter around a real kernel.

    Args:
        real_kernel_flops: real flops of one call of the kernel on an (m, k) @ (k, n) product,
            overheads included.
        m: rows of ``a``.
        k: inner dimension.
        n: columns of ``b``.
        mode: ``"4m"`` or ``"3m"``.

    Returns:
        ``(products * real_kernel_flops + combination flops) / (8 m k n)``; the combination
        costs ``2 m n`` adds (4m) or ``m k + k n + 3 m n`` adds (3m).
    """
    if mode == "4m":
        extra = 2.0 * m * n
    else:
        extra = float(m * k + k * n + 3 * m * n)
    return (real_products(mode) * real_kernel_flops + extra) / exact_complex_flops(m, k, n)


# --------------------------------------------------------------------------- products


def real_dtype_of(dtype: Any) -> Any:
    """The real floating dtype matching ``dtype``'s precision (complex128 -> float64, ...).

    Integer and boolean dtypes map to float64.
    """
    dt = np.dtype(dtype)  # numpy dtypes describe cupy arrays as well
    if dt.kind == "c":
        return np.finfo(dt).dtype
    if dt.kind == "f":
        return dt
    return np.dtype(np.float64)


def _is_complex(x: Any) -> bool:
    return bool(x.dtype.kind == "c")


def _parts(xp: Any, x: Any) -> tuple[Any, Any]:
    """Contiguous copies of the real and imaginary parts (the kernel never sees the input)."""
    return xp.ascontiguousarray(x.real), xp.ascontiguousarray(x.imag)


def complex_matmul(kernel: RealMatmul, a: Any, b: Any, /, *, mode: str = "4m") -> Any:
    """Approximate ``a @ b`` for real or complex operands with a real-only ``kernel``.

    Args:
        kernel: the real product (see :data:`RealMatmul`); called 1 time (both operands real),
            2 times (one complex) or 4/3 times (both complex, ``mode`` "4m"/"3m").
        a: (m, k) numpy or cupy array, any real or complex float dtype; not modified.
        b: (k, n) array of the same namespace; not modified.
        mode: ``"4m"`` (four real products) or ``"3m"`` (Gauss's three).

    Returns:
        A new (m, n) array of dtype ``result_type(a, b)`` on the inputs' device, owned by the
        caller.

    Raises:
        EngineOptionError: ``mode`` is not "4m" or "3m".
    """
    check_choice("complex_mode", mode, COMPLEX_MODES)
    xp = array_namespace(a, b)
    out_dtype = xp.result_type(a, b)
    ac, bc = _is_complex(a), _is_complex(b)
    if not ac and not bc:
        return xp.asarray(kernel(a, b)).astype(out_dtype, copy=False)
    m, n = a.shape[0], b.shape[1]
    out = xp.empty((m, n), dtype=out_dtype)
    if ac and not bc:
        ar, ai = _parts(xp, a)
        out.real = kernel(ar, b)
        out.imag = kernel(ai, b)
        return out
    if bc and not ac:
        br, bi = _parts(xp, b)
        out.real = kernel(a, br)
        out.imag = kernel(a, bi)
        return out
    ar, ai = _parts(xp, a)
    br, bi = _parts(xp, b)
    if mode == "4m":
        rr = kernel(ar, br)
        ii = kernel(ai, bi)
        out.real = rr - ii
        del rr, ii
        ri = kernel(ar, bi)
        ir = kernel(ai, br)
        out.imag = ri + ir
        return out
    t1 = kernel(ar, br)
    t2 = kernel(ai, bi)
    t3 = kernel(ar + ai, br + bi)
    out.real = t1 - t2
    out.imag = t3 - t1 - t2
    return out


def matmul_real_right(a: Any, r: Any, /) -> Any:
    """``a @ r`` for a real or complex (m, k) ``a`` and a real (k, s) ``r``, by real products.

    A complex ``a`` costs two real products (``4 m k s`` flops) instead of the complex
    product's ``8 m k s`` that plain ``matmul`` would do after promoting ``r`` to complex.

    Returns:
        A new (m, s) array of dtype ``result_type(a, r)``; inputs are not modified.
    """
    xp = array_namespace(a, r)
    if not _is_complex(a):
        return xp.matmul(a, r)
    out = xp.empty((a.shape[0], r.shape[1]), dtype=xp.result_type(a, r))
    out.real = xp.matmul(a.real, r)
    out.imag = xp.matmul(a.imag, r)
    return out


def matmul_real_left(r: Any, b: Any, /) -> Any:
    """``r @ b`` for a real (s, k) ``r`` and a real or complex (k, n) ``b``, by real products.

    Returns:
        A new (s, n) array of dtype ``result_type(r, b)``; inputs are not modified.
    """
    xp = array_namespace(r, b)
    if not _is_complex(b):
        return xp.matmul(r, b)
    out = xp.empty((r.shape[0], b.shape[1]), dtype=xp.result_type(r, b))
    out.real = xp.matmul(r, b.real)
    out.imag = xp.matmul(r, b.imag)
    return out


def log2_ceil(n: int) -> int:
    """``ceil(log2(n))`` for ``n >= 1`` (0 for n = 1)."""
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0
