"""The contract guard: :class:`CheckedEngine` checks every product and counts the work."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from qsim_topo.errors import EngineError, NonFiniteResultError
from qsim_topo.xp import array_namespace

if TYPE_CHECKING:
    from qsim_topo.engines.base import MatmulEngine

__all__ = ["CheckedEngine"]


@dataclass
class CheckedEngine:
    """Wraps an engine: checks every product against the contract and counts the work.

    Each call checks the operand shapes, that the result has shape (m, n), the inputs' dtype
    and device, and that it is finite (a single reduction: NaN and Inf propagate into the sum).
    With ``check_inputs`` (the default) it also checks that the engine left its operands
    unchanged, by comparing a fingerprint taken before and after: about 1024 evenly strided
    entries of each operand, first and last included. That catches engines that rewrite their
    inputs (rounding, scaling, in-place products) at a cost independent of the size; the
    contract suite checks every entry of every registered engine.
    With ``check_finite=False`` the per-product finiteness reduction is skipped (an extra
    read of every product); callers doing so check the final state instead.
    :meth:`count_product` records a product that a kernel computed on the engine's behalf
    (the in-place GPU pass of an exact engine).
    ``calls`` counts products, ``exact_flops`` the m*k*n multiply-adds an exact product would
    do and ``engine_flops`` the same weighted by the engine's ``flops_fraction``.
    """

    engine: MatmulEngine
    check_inputs: bool = True
    check_finite: bool = True
    calls: int = 0
    exact_flops: float = 0.0
    engine_flops: float = 0.0
    _shapes: dict[tuple[int, int, int], float] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The wrapped engine's name."""
        return self.engine.name

    @property
    def exact(self) -> bool:
        """Whether the wrapped engine is exact."""
        return self.engine.exact

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """The wrapped engine's fraction (cached per shape).

        Raises:
            EngineError: the engine raised, or returned something that is not a finite,
                non-negative number (the message names the engine and the call).

        """
        key = (m, k, n)
        frac = self._shapes.get(key)
        if frac is None:
            what = f"flops_fraction({m}, {k}, {n})"
            raw = self._call(what, self.engine.flops_fraction, m, k, n)
            try:
                frac = float(raw)
            except (TypeError, ValueError) as exc:
                raise EngineError(
                    f"engine {self.name!r} returned {type(raw).__name__} {raw!r:.60} from "
                    f"{what}; expected a number"
                ) from exc
            if not math.isfinite(frac) or frac < 0:
                raise EngineError(
                    f"engine {self.name!r} returned {frac} from {what}; expected a finite "
                    "fraction >= 0"
                )
            self._shapes[key] = frac
        return frac

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        """``fn(*args)``, any exception re-raised as an EngineError naming engine and call."""
        try:
            return fn(*args)
        except (Exception, SystemExit) as exc:  # a plug-in may raise anything: name it
            raise EngineError(
                f"engine {self.name!r} failed in {what}: {type(exc).__name__}: {exc}"
            ) from exc

    def _check_array(self, out: Any, a: Any, b: Any, what: str) -> None:
        """Raise EngineError unless ``out`` is an array, writable, new (no input, no view)."""
        if not (hasattr(out, "shape") and hasattr(out, "dtype") and hasattr(out, "ndim")):
            raise EngineError(
                f"engine {self.name!r} returned a {type(out).__name__} from {what}; expected "
                "an array"
            )
        if isinstance(out, np.ndarray) and not out.flags.writeable:
            raise EngineError(
                f"engine {self.name!r} returned a read-only array from {what}; the caller "
                "owns the result and may write to it"
            )
        if out is a or out is b or _shares_memory(out, a) or _shares_memory(out, b):
            raise EngineError(
                f"engine {self.name!r} returned its input operand (or a view of it) from "
                f"{what}; the MatmulEngine contract asks for a new array the caller owns"
            )

    @property
    def total_flops_fraction(self) -> float:
        """The engine's work over all calls so far as a fraction of exact products' work."""
        return self.engine_flops / self.exact_flops if self.exact_flops else 1.0

    def matmul(self, a: Any, b: Any, /) -> Any:
        """``engine.matmul(a, b)`` with the contract checked; raises EngineError on breach."""
        xp = array_namespace(a, b)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise EngineError(f"matmul operands of shapes {a.shape} and {b.shape} do not chain")
        m, k = a.shape
        n = b.shape[1]
        what = f"matmul call {self.calls + 1} ({m}, {k}) @ ({k}, {n})"
        out = self._call_unmodified(xp, what, a, b)
        want_dtype = xp.result_type(a, b)
        if out.shape != (m, n) or out.dtype != want_dtype:
            raise EngineError(
                f"engine {self.name!r} returned {out.shape} {out.dtype} from {what} of "
                f"{want_dtype}; expected shape ({m}, {n}) and dtype {want_dtype}"
            )
        if _namespace(out) is not xp:
            raise EngineError(
                f"engine {self.name!r} returned its result from {what} on another device"
            )
        if self.check_finite and not bool(xp.isfinite(out.sum())):
            self._raise_non_finite(xp, a, b, out, what)
        self.count_product(m, k, n)
        return out

    def _call_unmodified(self, xp: Any, what: str, a: Any, b: Any) -> Any:
        """The wrapped engine's ``matmul(a, b)``, refused if it wrote into ``a`` or ``b``."""
        before = (_fingerprint(a), _fingerprint(b)) if self.check_inputs else None
        out = self._call(what, self.engine.matmul, a, b)
        if before is not None and not (
            _same(xp, before[0], _fingerprint(a)) and _same(xp, before[1], _fingerprint(b))
        ):
            raise EngineError(
                f"engine {self.name!r} modified its input operands in {what}, which the "
                "MatmulEngine contract forbids (the caller's arrays, e.g. a shared layer, would "
                "be corrupted)"
            )
        self._check_array(out, a, b, what)
        return out

    def matmul_stack(self, a: Any, b: Any, /) -> Any:
        """``a @ b[i]`` for each matrix of the stack ``b`` (batch, k, n): (batch, m, n).

        One call of the wrapped engine when it declares ``batched = True`` (the exact engine),
        else one checked :meth:`matmul` per matrix of the stack.
        """
        xp = array_namespace(a, b)
        if a.ndim != 2 or b.ndim != 3 or a.shape[1] != b.shape[1]:
            raise EngineError(f"matmul operands of shapes {a.shape} and {b.shape} do not chain")
        if not getattr(self.engine, "batched", False):
            return xp.stack([self.matmul(a, b[i]) for i in range(b.shape[0])])
        batch, k, n = b.shape
        m = a.shape[0]
        what = f"matmul call {self.calls + 1} ({m}, {k}) @ ({batch}, {k}, {n})"
        out = self._stacked_call(xp, what, a, b, (batch, m, n))
        self.count_product(m, k, n * batch)
        return out

    def matmul_pairs(self, a: Any, b: Any, /) -> Any:
        """``a[i] @ b[i]`` for two stacks, ``a`` (batch, m, k) and ``b`` (batch, k, n).

        One call of the wrapped engine when it declares ``batched_pairs = True`` (the exact
        engine: numpy's stacked matmul), else one checked :meth:`matmul` per pair. Counted as
        ``batch`` products of (m, k) @ (k, n).
        """
        xp = array_namespace(a, b)
        if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
            raise EngineError(f"matmul operands of shapes {a.shape} and {b.shape} do not pair")
        if not getattr(self.engine, "batched_pairs", False):
            return xp.stack([self.matmul(a[i], b[i]) for i in range(a.shape[0])])
        batch, m, k = a.shape
        n = b.shape[2]
        what = f"matmul call {self.calls + 1} ({batch}, {m}, {k}) @ ({batch}, {k}, {n})"
        out = self._stacked_call(xp, what, a, b, (batch, m, n))
        self.count_product(m, k, n, batch)
        return out

    def _stacked_call(
        self, xp: Any, what: str, a: Any, b: Any, shape: tuple[int, int, int]
    ) -> Any:
        """One stacked call of the wrapped engine, its result checked against ``shape``."""
        out = self._call_unmodified(xp, what, a, b)
        want_dtype = xp.result_type(a, b)
        if out.shape != shape or out.dtype != want_dtype:
            raise EngineError(
                f"engine {self.name!r} returned {out.shape} {out.dtype} from {what}; "
                f"expected {shape} {want_dtype}"
            )
        if _namespace(out) is not xp:
            raise EngineError(
                f"engine {self.name!r} returned its result from {what} on another device"
            )
        if self.check_finite and not bool(xp.isfinite(out.sum())):
            self._raise_non_finite(xp, a, b, out, what)
        return out

    def count_product(self, m: int, k: int, n: int, times: int = 1) -> None:
        """Count ``times`` (m, k) @ (k, n) products in ``calls`` and the flop totals.

        A kernel calling this on the engine's behalf counts the nominal work of its products,
        including any part it could skip (zeros it knew would stay zero).
        """
        self.calls += times
        work = float(m) * k * n * times
        if work:  # an empty product has no work and no meaningful fraction
            self.exact_flops += work
            self.engine_flops += work * self.flops_fraction(m, k, n)

    def _raise_non_finite(self, xp: Any, a: Any, b: Any, out: Any, what: str) -> None:
        bad = int(xp.count_nonzero(~xp.isfinite(out)))
        if bad == 0:
            raise NonFiniteResultError(
                f"engine {self.name!r} returned a result whose sum overflows ({out.shape}) from "
                f"{what}"
            )
        inputs_ok = bool(xp.isfinite(a).all()) and bool(xp.isfinite(b).all())
        origin = "from finite inputs" if inputs_ok else "(its inputs already held NaN/Inf)"
        raise NonFiniteResultError(
            f"engine {self.name!r} produced {bad} NaN/Inf entries of {out.size} {origin} in "
            f"{what}"
        )


_FINGERPRINT_ENTRIES = 1024


def _shares_memory(x: Any, y: Any) -> bool:
    """Whether two numpy arrays' memory bounds overlap (a cheap test; False for cupy)."""
    if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
        return bool(np.may_share_memory(x, y))
    return False


def _namespace(x: Any) -> Any:
    """The namespace (numpy or cupy) of an array of theirs; None for any other object."""
    xp = array_namespace(x)
    return xp if xp is not np or isinstance(x, np.ndarray) else None


def _fingerprint(x: Any) -> Any:
    """A copy of about 1024 evenly strided entries of ``x``, its last entry included."""
    flat = x.reshape(-1)
    step = max(1, flat.size // _FINGERPRINT_ENTRIES)
    return flat[::step].copy(), flat[-1:].copy()


def _same(xp: Any, a: Any, b: Any) -> bool:
    return all(bool(xp.array_equal(x, y, equal_nan=True)) for x, y in zip(a, b, strict=True))
