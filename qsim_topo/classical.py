"""Classical memory of a branch of shots, and the usual conditions on it.

:class:`ClassicalMemory` holds the clbits as one Python int (bit i = clbit i) plus named
variables; :class:`BitCondition` and :class:`RegisterCondition` are callables on it, as every
condition of a :class:`~qsim_topo.circuit.BranchOp` is. Front ends compile richer expressions
into closures (:mod:`qsim_topo.qiskit.classical`). Re-exported by :mod:`qsim_topo.circuit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BitCondition", "ClassicalMemory", "RegisterCondition"]


@dataclass
class ClassicalMemory:
    """The classical memory of one branch of shots.

    Attributes:
        bits: clbit values, bit i = clbit i of the program (a Python int of any width).
        vars: values of named classical variables, keyed by whatever the front end chose.
    """

    bits: int = 0
    vars: dict[Any, Any] = field(default_factory=dict)

    def copy(self) -> ClassicalMemory:
        """An independent copy (values are immutable Python scalars)."""
        return ClassicalMemory(self.bits, dict(self.vars))

    def get_bit(self, index: int) -> int:
        """The value (0 or 1) of clbit ``index``."""
        return (self.bits >> index) & 1

    def set_bit(self, index: int, value: int | bool) -> None:
        """Set clbit ``index`` to ``value`` (truthiness)."""
        if value:
            self.bits |= 1 << index
        else:
            self.bits &= ~(1 << index)

    def get_register(self, clbits: Sequence[int]) -> int:
        """The integer whose bit j is clbit ``clbits[j]``."""
        value = 0
        for j, idx in enumerate(clbits):
            value |= ((self.bits >> idx) & 1) << j
        return value


@dataclass(frozen=True)
class BitCondition:
    """True when clbit ``clbit`` equals ``value`` (0 or 1)."""

    clbit: int
    value: int = 1

    def __call__(self, memory: ClassicalMemory) -> bool:
        """Evaluate the condition on ``memory``."""
        return ((memory.bits >> self.clbit) & 1) == int(bool(self.value))


@dataclass(frozen=True)
class RegisterCondition:
    """True when the clbits ``clbits`` (bit j of the value = ``clbits[j]``) hold ``value``."""

    clbits: tuple[int, ...]
    value: int

    def __call__(self, memory: ClassicalMemory) -> bool:
        """Evaluate the condition on ``memory``."""
        return memory.get_register(self.clbits) == self.value
