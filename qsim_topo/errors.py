"""Exception types of qsim_topo.

Every error a user can cause by bad input derives from :class:`QsimTopoError`, so the CLI can
turn it into a one-line message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "CircuitError",
    "EngineError",
    "EngineOptionError",
    "FamilyError",
    "InsufficientMemoryError",
    "NonFiniteResultError",
    "NotUnitaryError",
    "QsimTopoError",
    "StateVanishedError",
    "UnknownEngineError",
    "UnknownGateError",
]


class QsimTopoError(Exception):
    """Base class of the errors qsim_topo raises for bad input or refused work."""


class UnknownEngineError(QsimTopoError, KeyError):
    """An engine name that is not registered (the message lists the valid names)."""

    def __str__(self) -> str:
        # KeyError.__str__ adds quotes around the message; we want the sentence as written.
        return str(self.args[0]) if self.args else ""


class EngineOptionError(QsimTopoError, ValueError):
    """An option an engine does not accept, or a value it refuses."""


class EngineError(QsimTopoError):
    """An engine broke its contract (wrong shape or dtype of the result, a failing plug-in)."""


class InsufficientMemoryError(QsimTopoError, MemoryError):
    """A computation refused *before* allocating because it would not fit in memory."""

    def __init__(self, what: str, required: int, available: int, device: str) -> None:
        self.required = int(required)
        self.available = int(available)
        self.device = device
        super().__init__(
            f"{what} needs about {_fmt_bytes(required)} of {device} memory but only "
            f"{_fmt_bytes(available)} is available"
        )


class NonFiniteResultError(EngineError, FloatingPointError):
    """A matmul engine produced NaN or Inf from finite inputs."""


class NotUnitaryError(QsimTopoError, ValueError):
    """A matrix that was required to be unitary is not (within tolerance)."""


class CircuitError(QsimTopoError):
    """A circuit (:class:`~qsim_topo.circuit.Program`) that cannot be simulated.

    Bad qubits or clbits, a matrix of the wrong shape or not unitary, a jump outside the
    program, an instruction the method cannot simulate, a width that does not fit in memory,
    a loop that never ends.
    """


class FamilyError(QsimTopoError, ValueError):
    """Bad parameters of a circuit family (:mod:`qsim_topo.families`).

    An unknown kind, too few qubits, a negative seed, depth or cycle index.
    """


class UnknownGateError(CircuitError, KeyError):
    """A gate name that :mod:`qsim_topo.gates` does not know (the message lists the names)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StateVanishedError(CircuitError):
    """The state has zero or non-finite squared norm where it must be measured or sampled.

    An approximate engine lost it (or produced NaN/Inf): no outcome distribution is defined.
    """


def _fmt_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024.0 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024.0
    raise AssertionError("unreachable")
