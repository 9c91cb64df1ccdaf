"""Errors of the Qiskit layer: each is a :class:`qiskit.exceptions.QiskitError`.

The ones a user causes with bad input also derive from :class:`~qsim_topo.errors.QsimTopoError`
(and the circuit errors from the core's :class:`~qsim_topo.errors.CircuitError` and
:class:`~qsim_topo.errors.StateVanishedError`), so ``except QiskitError`` (Qiskit code) and
``except QsimTopoError`` (our CLI) both catch them. :func:`as_qiskit_error` turns an error of
the core (which knows no Qiskit) into the matching one of these, and :func:`qiskit_errors`
does so for a block of code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from qiskit.exceptions import QiskitError

from qsim_topo.errors import (
    ArgumentTypeError,
    CircuitError,
    InsufficientMemoryError,
    InvalidArgumentError,
    QsimTopoError,
    StateVanishedError,
)

__all__ = [
    "QasmLoadError",
    "QsimTopoBackendError",
    "QsimTopoCircuitError",
    "QsimTopoJobError",
    "QsimTopoOptionError",
    "QsimTopoOptionTypeError",
    "QsimTopoStateVanishedError",
    "as_qiskit_error",
    "option_errors",
    "qiskit_errors",
]


class QsimTopoBackendError(QiskitError, QsimTopoError):
    """Base class: the backend refused or failed a run."""

    def __str__(self) -> str:
        # QiskitError joins its args with spaces; keep our one sentence as it is.
        return str(self.message)


class QsimTopoCircuitError(QsimTopoBackendError, CircuitError):
    """A circuit the backend cannot run.

    Unbound parameters, an unsupported instruction, a non-unitary ``unitary``, a width that
    does not fit in memory.
    """


class QsimTopoStateVanishedError(QsimTopoCircuitError, StateVanishedError):
    """The state has zero or non-finite squared norm where it must be measured or sampled.

    An approximate engine lost it (or produced NaN/Inf): no outcome distribution is defined.
    ``qsim-topo verify`` reports such an engine run as a total variation distance of 1.
    """


class QsimTopoOptionError(QsimTopoBackendError, InvalidArgumentError):
    """A run option or argument with an invalid value (also a ``ValueError``)."""


class QsimTopoOptionTypeError(QsimTopoOptionError, ArgumentTypeError):
    """A run option or argument of the wrong type (also a ``TypeError``)."""


class QasmLoadError(QsimTopoBackendError):
    """An OpenQASM file that cannot be read, parsed or imported (the message names the line)."""


class QsimTopoJobError(QsimTopoBackendError):
    """A job whose simulation failed, or whose result was asked for after cancellation."""


def as_qiskit_error(exc: QsimTopoError) -> QsimTopoBackendError:
    """The Qiskit-layer error for an error of the core, with the same message.

    A :class:`~qsim_topo.errors.StateVanishedError` becomes a
    :class:`QsimTopoStateVanishedError`, any other :class:`~qsim_topo.errors.CircuitError`
    (or an :class:`~qsim_topo.errors.InsufficientMemoryError`) a
    :class:`QsimTopoCircuitError`, an :class:`~qsim_topo.errors.ArgumentTypeError` a
    :class:`QsimTopoOptionTypeError`, any other :class:`~qsim_topo.errors.InvalidArgumentError`
    a :class:`QsimTopoOptionError`, anything else a :class:`QsimTopoBackendError`; an error that
    already is a Qiskit-layer error is returned as it is.
    """
    if isinstance(exc, QsimTopoBackendError):
        return exc
    if isinstance(exc, ArgumentTypeError):
        return QsimTopoOptionTypeError(str(exc))
    if isinstance(exc, InvalidArgumentError):
        return QsimTopoOptionError(str(exc))
    if isinstance(exc, StateVanishedError):
        return QsimTopoStateVanishedError(str(exc))
    if isinstance(exc, (CircuitError, InsufficientMemoryError)):
        return QsimTopoCircuitError(str(exc))
    return QsimTopoBackendError(str(exc))


@contextmanager
def qiskit_errors(
    *,
    wrap: tuple[type[QsimTopoError], ...] = (
        CircuitError,
        InsufficientMemoryError,
        InvalidArgumentError,
    ),
) -> Iterator[None]:
    """Re-raise the core's errors of the types ``wrap`` raised in the block as Qiskit errors.

    The original error is the new one's ``__cause__``. Errors of other types (an engine that
    broke its contract, memory refused by :mod:`qsim_topo.xp`) pass unchanged.
    """
    try:
        yield
    except QsimTopoBackendError:
        raise
    except wrap as exc:
        raise as_qiskit_error(exc) from exc


@contextmanager
def option_errors() -> Iterator[None]:
    """Re-raise any core error raised in the block as an option error (Qiskit's type).

    An :class:`~qsim_topo.errors.ArgumentTypeError` becomes a :class:`QsimTopoOptionTypeError`,
    any other :class:`~qsim_topo.errors.QsimTopoError` (a bad value, an unknown engine or
    engine option, a device that is not there) a :class:`QsimTopoOptionError`; the original
    is the ``__cause__``.
    """
    try:
        yield
    except QsimTopoBackendError:
        raise
    except ArgumentTypeError as exc:
        raise QsimTopoOptionTypeError(str(exc)) from exc
    except QsimTopoError as exc:
        raise QsimTopoOptionError(str(exc)) from exc
