"""Checks of public arguments, done once at each entry point before any work.

Every helper returns the value normalised (a Python ``int``, ``float``, ``bool``, ``dict``) or
raises :class:`~qsim_topo.errors.ArgumentTypeError` (wrong type) or
:class:`~qsim_topo.errors.InvalidArgumentError` (a value outside what is allowed), with a
message that names the argument, shows the value and says what is allowed::

    qubits must be an integer in 1..30, got '3' (str)

Integers are Python ``int`` or numpy integers, never ``bool``; reals are those plus Python and
numpy floats, finite unless asked otherwise. The Qiskit layer turns these errors into its own
(``QiskitError``) ones with :func:`qsim_topo.qiskit.errors.qiskit_errors`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np

from qsim_topo.errors import ArgumentTypeError, InvalidArgumentError

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_int_sequence",
    "check_mapping",
    "check_matmul_operands",
    "check_real",
    "check_seed",
    "describe",
    "is_integer",
]

_MAX_REPR = 60


def describe(value: Any) -> str:
    """A short ``repr`` of ``value`` and its type name, for error messages."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        text = "<unprintable>"
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return f"{text} ({type(value).__name__})"


def is_integer(value: Any) -> bool:
    """True for a Python or numpy integer that is not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _range_text(kind: str, low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{kind} in {low}..{high}"
    if low is not None:
        return f"{kind} >= {low}"
    if high is not None:
        return f"{kind} <= {high}"
    return kind


def check_int(name: str, value: Any, *, min: int | None = None, max: int | None = None) -> int:
    """``value`` as an ``int`` in ``min..max`` (either bound None: unbounded).

    Raises:
        ArgumentTypeError: not a Python or numpy integer (bools, floats and strings are not).
        InvalidArgumentError: outside ``min..max``.
    """
    want = _range_text("an integer", min, max)
    if not is_integer(value):
        raise ArgumentTypeError(f"{name} must be {want}, got {describe(value)}")
    number = int(value)
    if (min is not None and number < min) or (max is not None and number > max):
        raise InvalidArgumentError(f"{name} must be {want}, got {_short(number)}")
    return number


def _short(number: int) -> str:
    """``number`` in full, or as ~m e+k past 30 digits (log10 takes ints of any size)."""
    if abs(number) < 10**30:
        return str(number)
    exponent = math.log10(abs(number))
    whole = math.floor(exponent)
    sign = "-" if number < 0 else ""
    return f"~{sign}{10 ** (exponent - whole):.3g}e+{whole}"


def check_real(
    name: str,
    value: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    finite: bool = True,
) -> float:
    """``value`` as a ``float`` within the bounds (finite unless ``finite`` is False).

    Raises:
        ArgumentTypeError: not a real number (bools, complex numbers and strings are not).
        InvalidArgumentError: NaN, infinite (when ``finite``), or outside the bounds.
    """
    parts = ["a finite real number" if finite else "a real number"]
    if min is not None:
        parts.append(f"{'>=' if min_inclusive else '>'} {min}")
    if max is not None:
        parts.append(f"{'<=' if max_inclusive else '<'} {max}")
    want = " ".join(parts[:1]) + (" " + " and ".join(parts[1:]) if len(parts) > 1 else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ArgumentTypeError(f"{name} must be {want}, got {describe(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int past the float range
        raise InvalidArgumentError(f"{name} must be {want}, got {_short(int(value))}") from None
    bad = math.isnan(number) or (finite and math.isinf(number))
    if min is not None:
        bad = bad or (number < min if min_inclusive else number <= min)
    if max is not None:
        bad = bad or (number > max if max_inclusive else number >= max)
    if bad:
        raise InvalidArgumentError(f"{name} must be {want}, got {number!r}")
    return number


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a ``bool``; only Python and numpy bools are accepted.

    Raises:
        ArgumentTypeError: anything else (``0``, ``"yes"``, ``None``).
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` when it is one of ``choices`` (compared with ``==``; unhashables are fine).

    Raises:
        InvalidArgumentError: not one of ``choices`` (the message lists them).
    """
    for choice in choices:
        try:
            if isinstance(value, type(choice)) and value == choice:
                return choice
        except Exception:  # an object whose __eq__ fails is no valid choice
            break
    listed = ", ".join(repr(c) for c in choices)
    raise InvalidArgumentError(f"{name} must be one of {listed}, got {describe(value)}")


def check_mapping(name: str, value: Any, *, allow_none: bool = True) -> dict[str, Any]:
    """``value`` as a new ``dict`` with string keys (None: an empty one, when allowed).

    Raises:
        ArgumentTypeError: not a mapping, or a key that is not a string.
    """
    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        want = "a mapping of option names to values" + (" or None" if allow_none else "")
        raise ArgumentTypeError(f"{name} must be {want}, got {describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise ArgumentTypeError(f"{name} keys must be strings, got {describe(key)}")
    return dict(value)


def check_seed(name: str, value: Any) -> int | None:
    """``value`` as a seed: a non-negative integer (below 2**128) or None.

    Raises:
        ArgumentTypeError: not an integer or None.
        InvalidArgumentError: negative or 2**128 or more.
    """
    if value is None:
        return None
    want = "a non-negative integer below 2**128 or None"
    if not is_integer(value):
        raise ArgumentTypeError(f"{name} must be {want}, got {describe(value)}")
    if not 0 <= int(value) < 2**128:
        raise InvalidArgumentError(f"{name} must be {want}, got {_short(int(value))}")
    return int(value)


def check_int_sequence(
    name: str,
    values: Any,
    *,
    min: int | None = None,
    max: int | None = None,
    nonempty: bool = True,
) -> list[int]:
    """``values`` (an iterable of integers, not a string) as a list of ``int`` in range.

    Raises:
        ArgumentTypeError: not an iterable, a string, or an element that is not an integer.
        InvalidArgumentError: empty (when ``nonempty``) or an element out of range.
    """
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ArgumentTypeError(
            f"{name} must be a sequence of integers, got {describe(values)}"
        )
    items = list(values)
    if nonempty and not items:
        raise InvalidArgumentError(f"{name} must hold at least one integer, got []")
    return [check_int(f"{name}[{i}]", v, min=min, max=max) for i, v in enumerate(items)]


def check_matmul_operands(where: str, a: Any, b: Any) -> None:
    """Refuse operands of ``a @ b`` that are not numeric arrays of matching inner size.

    ``a`` and ``b`` must be arrays (numpy or cupy: ``shape``, ``ndim`` and ``dtype``) of at
    least one dimension with a boolean, integer, real or complex dtype, and ``a``'s last axis
    as long as ``b``'s contracted one. ``where`` names the call in the message.

    Raises:
        ArgumentTypeError: not an array, or an object/string/other dtype.
        InvalidArgumentError: a 0-d array or mismatched inner sizes.
    """
    for label, x in (("a", a), ("b", b)):
        dtype = getattr(x, "dtype", None)
        if getattr(x, "shape", None) is None or dtype is None or not hasattr(x, "ndim"):
            raise ArgumentTypeError(f"{where}: {label} must be an array, got {describe(x)}")
        if getattr(dtype, "kind", None) not in ("b", "i", "u", "f", "c"):
            raise ArgumentTypeError(
                f"{where}: {label} must have a numeric dtype, got dtype {dtype}"
            )
        if x.ndim < 1:
            raise InvalidArgumentError(f"{where}: {label} must have at least 1 axis, got 0-d")
    inner = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if a.shape[-1] != inner:
        raise InvalidArgumentError(
            f"{where}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not match for a @ b "
            f"({a.shape[-1]} != {inner})"
        )
