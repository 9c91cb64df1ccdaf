"""Errors of the Qiskit layer: each is a :class:`qiskit.exceptions.QiskitError`.

The ones a user causes with bad input also derive from :class:`~qsim_topo.errors.QsimTopoError`,
so ``except QiskitError`` (Qiskit code) and ``except QsimTopoError`` (our CLI) both catch them.
"""

from __future__ import annotations

from qiskit.exceptions import QiskitError

from qsim_topo.errors import QsimTopoError

__all__ = [
    "QasmLoadError",
    "QsimTopoBackendError",
    "QsimTopoCircuitError",
    "QsimTopoJobError",
    "QsimTopoOptionError",
    "QsimTopoStateVanishedError",
]


class QsimTopoBackendError(QiskitError, QsimTopoError):
    """Base class: the backend refused or failed a run."""

    def __str__(self) -> str:
        # QiskitError joins its args with spaces; keep our one sentence as it is.
        return str(self.message)


class QsimTopoCircuitError(QsimTopoBackendError):
    """A circuit the backend cannot run.

    Unbound parameters, an unsupported instruction, a non-unitary ``unitary``, a width that
    does not fit in memory.
    """


class QsimTopoStateVanishedError(QsimTopoCircuitError):
    """The state has zero or non-finite squared norm where it must be measured or sampled.

    An approximate engine lost it (or produced NaN/Inf): no outcome distribution is defined.
    ``qsim-topo verify`` reports such an engine run as a total variation distance of 1.
    """


class QsimTopoOptionError(QsimTopoBackendError, ValueError):
    """A run option with an invalid value."""


class QasmLoadError(QsimTopoBackendError):
    """An OpenQASM file that cannot be read, parsed or imported (the message names the line)."""


class QsimTopoJobError(QsimTopoBackendError):
    """A job whose simulation failed, or whose result was asked for after cancellation."""
