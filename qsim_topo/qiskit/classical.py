"""Qiskit's classical expressions compiled into closures over a branch's classical memory.

A branch's memory is a :class:`~qsim_topo.circuit.ClassicalMemory`: a Python int (bit i =
clbit i of the top-level circuit, any width) plus a dict of standalone ``expr.Var`` values,
keyed by the Var. Conditions of ``IfElseOp`` and
``WhileLoopOp`` (``(Clbit, bool)``, ``(ClassicalRegister, int)`` or a Boolean ``expr.Expr``),
targets of ``SwitchCaseOp`` and ``Store`` instructions are compiled once, at conversion, into
closures over that memory, so that running a branch evaluates no Qiskit objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qiskit.circuit import ClassicalRegister, Clbit
from qiskit.circuit.classical import expr, types

from qsim_topo.circuit import ClassicalMemory
from qsim_topo.qiskit.errors import QsimTopoCircuitError

__all__ = [
    "BitIndex",
    "Evaluator",
    "compile_condition",
    "compile_store",
    "compile_value",
]

BitIndex = Callable[[Clbit], int]
"""Maps a Clbit of the circuit being converted to its index in the top-level circuit."""

Evaluator = Callable[[ClassicalMemory], Any]


def _register_getter(indices: list[int]) -> Evaluator:
    def get(memory: ClassicalMemory) -> int:
        value = 0
        for j, idx in enumerate(indices):
            value |= ((memory.bits >> idx) & 1) << j
        return value

    return get


def _mask(width: int) -> int:
    return (1 << width) - 1


def _uint_width(ty: Any) -> int | None:
    return int(ty.width) if isinstance(ty, types.Uint) else None


def _compile_var(node: Any, bit_index: BitIndex) -> Evaluator:
    var = node.var
    if isinstance(var, Clbit):
        idx = bit_index(var)
        return lambda s: (s.bits >> idx) & 1 == 1
    if isinstance(var, ClassicalRegister):
        return _register_getter([bit_index(b) for b in var])
    key = var
    name = node.name

    def get(memory: ClassicalMemory) -> Any:
        try:
            return memory.vars[key]
        except KeyError:
            raise QsimTopoCircuitError(
                f"the classical variable {name!r} is read before any value is stored in it "
                "(input variables are not supported)"
            ) from None

    return get


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQUAL": lambda a, b: a == b,
    "NOT_EQUAL": lambda a, b: a != b,
    "LESS": lambda a, b: a < b,
    "LESS_EQUAL": lambda a, b: a <= b,
    "GREATER": lambda a, b: a > b,
    "GREATER_EQUAL": lambda a, b: a >= b,
}


def _compile_binary(node: Any, bit_index: BitIndex) -> Evaluator:
    left = _compile_expr(node.left, bit_index)
    right = _compile_expr(node.right, bit_index)
    op = node.op.name
    width = _uint_width(node.type)
    mask = _mask(width) if width is not None else None
    if op in _COMPARE:
        cmp = _COMPARE[op]
        return lambda s: cmp(left(s), right(s))
    if op == "LOGIC_AND":
        return lambda s: bool(left(s)) and bool(right(s))
    if op == "LOGIC_OR":
        return lambda s: bool(left(s)) or bool(right(s))
    if op in ("BIT_AND", "BIT_OR", "BIT_XOR"):
        fn: Callable[[Any, Any], Any] = {
            "BIT_AND": lambda a, b: a & b,
            "BIT_OR": lambda a, b: a | b,
            "BIT_XOR": lambda a, b: a ^ b,
        }[op]
        if mask is None:  # on Bools
            return lambda s: bool(fn(int(left(s)), int(right(s))))
        return lambda s: fn(int(left(s)), int(right(s))) & mask
    if op in ("SHIFT_LEFT", "SHIFT_RIGHT", "ADD", "SUB", "MUL", "DIV"):
        arith: Callable[[Any, Any], Any] = {
            "SHIFT_LEFT": lambda a, b: int(a) << int(b),
            "SHIFT_RIGHT": lambda a, b: int(a) >> int(b),
            "ADD": lambda a, b: a + b,
            "SUB": lambda a, b: a - b,
            "MUL": lambda a, b: a * b,
            "DIV": lambda a, b: a // b if isinstance(a, int) and isinstance(b, int) else a / b,
        }[op]
        if mask is None:
            return lambda s: arith(left(s), right(s))
        return lambda s: int(arith(left(s), right(s))) & mask
    raise QsimTopoCircuitError(f"unsupported classical binary operation {op}")


def _compile_unary(node: Any, bit_index: BitIndex) -> Evaluator:
    operand = _compile_expr(node.operand, bit_index)
    op = node.op.name
    if op == "LOGIC_NOT":
        return lambda s: not bool(operand(s))
    if op == "BIT_NOT":
        width = _uint_width(node.type)
        if width is None:
            return lambda s: not bool(operand(s))
        mask = _mask(width)
        return lambda s: ~int(operand(s)) & mask
    if op == "NEGATE":
        return lambda s: -operand(s)
    raise QsimTopoCircuitError(f"unsupported classical unary operation {op}")


def _compile_cast(node: Any, bit_index: BitIndex) -> Evaluator:
    operand = _compile_expr(node.operand, bit_index)
    ty = node.type
    if isinstance(ty, types.Bool):
        return lambda s: bool(operand(s))
    if isinstance(ty, types.Uint):
        mask = _mask(int(ty.width))
        return lambda s: int(operand(s)) & mask
    if isinstance(ty, types.Float):
        return lambda s: float(operand(s))
    raise QsimTopoCircuitError(f"unsupported classical cast to {ty}")


def _compile_expr(node: Any, bit_index: BitIndex) -> Evaluator:
    if isinstance(node, expr.Value):
        value = node.value
        return lambda s: value
    if isinstance(node, expr.Var):
        return _compile_var(node, bit_index)
    if isinstance(node, expr.Binary):
        return _compile_binary(node, bit_index)
    if isinstance(node, expr.Unary):
        return _compile_unary(node, bit_index)
    if isinstance(node, expr.Cast):
        return _compile_cast(node, bit_index)
    if isinstance(node, expr.Index):
        target = _compile_expr(node.target, bit_index)
        index = _compile_expr(node.index, bit_index)
        return lambda s: (int(target(s)) >> int(index(s))) & 1 == 1
    raise QsimTopoCircuitError(f"unsupported classical expression {node!r}")


def compile_condition(condition: Any, bit_index: BitIndex) -> Callable[[ClassicalMemory], bool]:
    """Compile an ``IfElseOp``/``WhileLoopOp`` condition into ``memory -> bool``.

    Args:
        condition: ``(Clbit, bool|int)``, ``(ClassicalRegister, int)`` or a Boolean
            ``expr.Expr``.
        bit_index: maps the circuit's Clbits to top-level clbit indices.

    Raises:
        QsimTopoCircuitError: an expression node or operation we cannot evaluate.
    """
    if isinstance(condition, tuple):
        target, value = condition
        if isinstance(target, Clbit):
            idx = bit_index(target)
            want = int(bool(value))
            return lambda s: ((s.bits >> idx) & 1) == want
        if isinstance(target, ClassicalRegister):
            get = _register_getter([bit_index(b) for b in target])
            want_int = int(value)
            return lambda s: get(s) == want_int
        raise QsimTopoCircuitError(f"unsupported condition target {target!r}")
    fn = _compile_expr(condition, bit_index)
    return lambda s: bool(fn(s))


def compile_value(target: Any, bit_index: BitIndex) -> Callable[[ClassicalMemory], int]:
    """Compile a ``SwitchCaseOp`` target into ``memory -> int``.

    The target is a Clbit, a ClassicalRegister or a Uint/Bool ``expr.Expr``.
    """
    if isinstance(target, Clbit):
        idx = bit_index(target)
        return lambda s: (s.bits >> idx) & 1
    if isinstance(target, ClassicalRegister):
        return _register_getter([bit_index(b) for b in target])
    fn = _compile_expr(target, bit_index)
    return lambda s: int(fn(s))


def compile_store(
    lvalue: Any, rvalue: Any, bit_index: BitIndex
) -> Callable[[ClassicalMemory], None]:
    """Compile ``Store(lvalue, rvalue)`` into a function that writes ``memory`` in place.

    The lvalue is a standalone Var, a Var wrapping a Clbit or a ClassicalRegister, or an
    ``expr.Index`` into a register.
    """
    value = _compile_expr(rvalue, bit_index)
    if isinstance(lvalue, expr.Var):
        var = lvalue.var
        if isinstance(var, Clbit):
            idx = bit_index(var)
            return lambda s: s.set_bit(idx, bool(value(s)))
        if isinstance(var, ClassicalRegister):
            indices = [bit_index(b) for b in var]

            def store_register(s: ClassicalMemory) -> None:
                v = int(value(s))
                for j, idx in enumerate(indices):
                    s.set_bit(idx, (v >> j) & 1)

            return store_register
        key = var
        width = _uint_width(lvalue.type)
        if width is not None:
            mask = _mask(width)

            def store_uint(s: ClassicalMemory) -> None:
                s.vars[key] = int(value(s)) & mask

            return store_uint

        def store_var(s: ClassicalMemory) -> None:
            s.vars[key] = value(s)

        return store_var
    if isinstance(lvalue, expr.Index) and isinstance(lvalue.target, expr.Var):
        reg = lvalue.target.var
        index = _compile_expr(lvalue.index, bit_index)
        if isinstance(reg, ClassicalRegister):
            indices = [bit_index(b) for b in reg]
            return lambda s: s.set_bit(indices[int(index(s))], bool(value(s)))
    raise QsimTopoCircuitError(f"unsupported store target {lvalue!r}")
