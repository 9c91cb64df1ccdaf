"""OpenQASM 2 for unitary gate lists, without Qiskit: :func:`to_qasm` and :func:`read_qasm_ops`.

The core's small bridge to files, for the circuit families (:mod:`qsim_topo.families`). The
full loader (OpenQASM 2 and 3, measurements, control flow, limits) is
:func:`qsim_topo.qiskit.qasm.load_qasm`, which needs Qiskit; this module handles only what a
family needs: gates.

* :func:`to_qasm` writes :class:`~qsim_topo.circuit.GateOp` lists with gates of the original
  ``qelib1.inc`` only (the one ``qiskit.qasm2.loads`` knows without custom instructions): a
  fixed gate by its name (``x``, ``h``, ``cz``, ... when the op's name and matrix are that
  gate's), any other 1-qubit matrix as ``u3``, any other 2-qubit matrix through a cosine-sine
  decomposition (``scipy.linalg.cossin``) into 6 multiplexed ``cu3`` (exact, phases
  included). OpenQASM 2 has no global phase: the text's
  operator equals the ops' product times ``exp(-i * phase)``, with ``phase`` written in the
  header comment (``// global phase: ...``) and returned by :func:`qasm_global_phase`.
* :func:`read_qasm_ops` reads the unitary subset of OpenQASM 2: ``qreg``/``creg``, the gates
  of Qiskit's extended ``qelib1.inc`` that :mod:`qsim_topo.gates` knows (``sx``, ``swap``,
  ``cry``, ... included; not ``rccx``/``rc3x``), ``U``/``CX``, ``gate`` definitions,
  register broadcasting and ``barrier`` (ignored). Measurement, reset, ``if``, ``opaque`` and
  other includes are refused with a :class:`~qsim_topo.errors.CircuitError` naming the file
  and line.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qsim_topo.circuit import GateOp
from qsim_topo.errors import CircuitError
from qsim_topo.gates import GATES, gate_matrix

__all__ = ["MAX_OPS", "MAX_TEXT_BYTES", "qasm_global_phase", "read_qasm_ops", "to_qasm"]

# Fixed (parameter-free) gates of the original qelib1.inc (the one qiskit.qasm2 builds in,
# without sx, swap, cry, ...), written by name by to_qasm.
_WRITE_FIXED = ("id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "cx", "cy", "cz", "ch", "ccx")
# Fixed gates of Qiskit's extended qelib1.inc, read by read_qasm_ops.
_QELIB1_FIXED = (
    *_WRITE_FIXED, "sx", "sxdg", "csx", "swap", "cswap", "c3x", "c4x",
)  # fmt: skip
# qelib1.inc names -> qsim_topo.gates names (where they differ) for the reader.
_QELIB1_ALIASES = {"U": "u3", "CX": "cx", "c3sqrtx": "c3sx"}
_QELIB1_ALSO = ("u3", "u2", "u1", "u", "p", "rx", "ry", "rz", "cp", "cu1", "cu3", "cu",
                "crx", "cry", "crz", "rxx", "rzz")  # fmt: skip
_QELIB1 = frozenset(_QELIB1_FIXED) | frozenset(_QELIB1_ALSO) | {"u0"}
MAX_TEXT_BYTES = 16 * 2**20
"""Largest file :func:`read_qasm_ops` reads."""
MAX_OPS = 2_000_000
"""Most gates :func:`read_qasm_ops` expands a file into (``gate`` definitions nest)."""
_PHASE_RE = re.compile(r"^// global phase: (\S+)", re.MULTILINE)
_TOL = 1e-12


# ------------------------------------------------------------------------------ writing
def _u3_params(u: np.ndarray) -> tuple[float, float, float, float]:
    """``(gamma, theta, phi, lam)`` with ``u == exp(i gamma) u3(theta, phi, lam)``.

    Each angle is read from the larger entries, so a tiny cos or sin (theta near 0 or pi)
    does not amplify rounding into the other entries.
    """
    c, s = abs(u[0, 0]), abs(u[1, 0])
    theta = 2.0 * math.atan2(s, c)
    if c >= s:
        gamma = float(np.angle(u[0, 0]))
        phi = float(np.angle(u[1, 0])) - gamma if s > 0 else 0.0
        lam = float(np.angle(u[1, 1])) - gamma - phi
    else:
        # gamma's rounding error (~eps / cos) is multiplied by cos in every entry it enters.
        gamma = float(np.angle(u[0, 0])) if c > 0 else 0.0
        phi = float(np.angle(u[1, 0])) - gamma
        lam = float(np.angle(-u[0, 1])) - gamma
    return gamma, theta, phi, lam


def _num(x: float) -> str:
    return repr(float(x))


def _q(i: int) -> str:
    return f"q[{i}]"


def _multiplexed_u(control: int, target: int, blocks: Sequence[np.ndarray]) -> list[str]:
    """Lines applying ``blocks[v]`` to ``target`` when ``control`` is ``v``, phases included."""
    lines: list[str] = []
    for value, block in enumerate(blocks):
        gamma, theta, phi, lam = _u3_params(block)
        if value == 0:
            lines.append(f"x {_q(control)};")
        lines.append(f"u1({_num(gamma)}) {_q(control)};")
        lines.append(f"cu3({_num(theta)},{_num(phi)},{_num(lam)}) {_q(control)},{_q(target)};")
        if value == 0:
            lines.append(f"x {_q(control)};")
    return lines


def _two_qubit_lines(u: np.ndarray, a: int, b: int) -> list[str]:
    """Exact qelib1 lines for the 4x4 ``u`` on ``(a, b)`` (``a`` the low bit of its index).

    ``u = L @ CS @ R`` (cosine-sine decomposition with the blocks indexed by ``b``): ``R`` and
    ``L`` are 2x2 unitaries on ``a`` multiplexed by ``b``, ``CS`` is ``ry(2 t_k)`` on ``b``
    multiplexed by ``a`` (``cu3(2 t_k, 0, 0)``, as the original qelib1.inc has no ``cry``).
    """
    from scipy.linalg import cossin

    left, cs, right = cossin(u, p=2, q=2)
    lines = _multiplexed_u(b, a, (right[:2, :2], right[2:, 2:]))
    for value in (0, 1):
        angle = 2.0 * math.atan2(cs[2 + value, value].real, cs[value, value].real)
        if value == 0:
            lines.append(f"x {_q(a)};")
        lines.append(f"cu3({_num(angle)},0.0,0.0) {_q(a)},{_q(b)};")  # controlled ry
        if value == 0:
            lines.append(f"x {_q(a)};")
    more = _multiplexed_u(b, a, (left[:2, :2], left[2:, 2:]))
    return lines + more


def _fixed_name(op: GateOp, matrix: np.ndarray) -> str | None:
    name = op.name
    if name in _WRITE_FIXED and GATES[name].num_qubits == len(op.qubits):
        if np.allclose(matrix, gate_matrix(name), atol=_TOL, rtol=0):
            return name
    return None


def to_qasm(ops: Sequence[GateOp], n_qubits: int, *, comment: str | None = None) -> str:
    """OpenQASM 2 text (``qelib1.inc`` gates only) of ``ops`` applied in order to ``n_qubits``.

    Qubit ``i`` is ``q[i]`` (little-endian, as the ops'). A fixed standard gate is written by
    name when the op's name and matrix are that gate's; other 1-qubit ops become ``u3`` and
    other 2-qubit ops a cosine-sine decomposition (module docstring). Angles are written with
    ``repr`` (17 significant digits). The header records the global phase that OpenQASM 2
    cannot express: product of ``ops`` = ``exp(1j * phase)`` x the file's operator (see
    :func:`qasm_global_phase`). ``comment`` (one or more lines) goes into the header.

    Raises:
        CircuitError: ``n_qubits`` < 1, an op on a qubit outside ``0..n_qubits-1`` or on a
            repeated qubit, a matrix of the wrong shape, or an unnamed op on 3+ qubits (no
            decomposition is written for those).
    """
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 1:
        raise CircuitError(f"to_qasm: n_qubits must be a positive integer, got {n_qubits!r}")
    body: list[str] = []
    phase = 0.0
    for index, op in enumerate(ops):
        qs = tuple(int(q) for q in op.qubits)
        if len(set(qs)) != len(qs) or any(q < 0 or q >= n_qubits for q in qs):
            raise CircuitError(
                f"to_qasm: op {index} ({op.name!r}) acts on qubits {qs}; they must be distinct "
                f"and in 0..{n_qubits - 1}"
            )
        matrix = np.asarray(op.matrix, dtype=np.complex128)
        if matrix.shape != (2 ** len(qs), 2 ** len(qs)):
            raise CircuitError(
                f"to_qasm: op {index} ({op.name!r}) on {len(qs)} qubit(s) has a matrix of shape "
                f"{matrix.shape}"
            )
        name = _fixed_name(op, matrix)
        if name is not None:
            body.append(f"{name} {','.join(_q(q) for q in qs)};")
        elif len(qs) == 1:
            gamma, theta, phi, lam = _u3_params(matrix)
            phase += gamma
            body.append(f"u3({_num(theta)},{_num(phi)},{_num(lam)}) {_q(qs[0])};")
        elif len(qs) == 2:
            body.extend(_two_qubit_lines(matrix, qs[0], qs[1]))
        else:
            raise CircuitError(
                f"to_qasm: op {index} ({op.name!r}) acts on {len(qs)} qubits; only standard "
                "named gates are written on more than 2 qubits"
            )
    phase = math.remainder(phase, 2 * math.pi)
    header = [f"// {line}" for line in (comment.splitlines() if comment else [])]
    header.append(
        f"// global phase: {_num(phase)} (the ops' product is exp(i*phase) times this circuit)"
    )
    head = [*header, "OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n_qubits}];"]
    return "\n".join(head + body) + "\n"


def qasm_global_phase(text: str) -> float:
    """The global phase recorded by :func:`to_qasm` in ``text`` (0.0 when there is none)."""
    match = _PHASE_RE.search(text)
    return float(match.group(1)) if match else 0.0


# ------------------------------------------------------------------------------ reading
_FUNCS = {"sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp,
          "ln": math.log, "sqrt": math.sqrt}  # fmt: skip
_BINOPS: dict[type, Any] = {
    ast.Add: lambda x, y: x + y,
    ast.Sub: lambda x, y: x - y,
    ast.Mult: lambda x, y: x * y,
    ast.Div: lambda x, y: x / y,
    ast.Pow: lambda x, y: x**y,
}
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_GATE_DEF = re.compile(rf"gate\s+({_IDENT})\s*(?:\(([^)]*)\))?\s*([^{{]*)\{{([^}}]*)\}}", re.DOTALL)
_CALL = re.compile(rf"^({_IDENT})\s*(?:\((.*)\))?\s*(.*)$", re.DOTALL)
_ARG = re.compile(rf"^({_IDENT})\s*(?:\[\s*(\d+)\s*\])?$")


@dataclass(frozen=True)
class _GateDef:
    params: tuple[str, ...]
    qargs: tuple[str, ...]
    body: tuple[tuple[str, int], ...]  # (statement, line)


class _Reader:
    """One file's state: registers, gate definitions and the ops read so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.qregs: dict[str, tuple[int, int]] = {}  # name -> (offset, size)
        self.cregs: set[str] = set()
        self.n_qubits = 0
        self.defs: dict[str, _GateDef] = {}
        self.ops: list[GateOp] = []

    def fail(self, line: int, message: str) -> CircuitError:
        return CircuitError(f"{self.path}: line {line}: {message}")

    def value(self, text: str, env: dict[str, float], line: int) -> float:
        """A parameter expression: numbers, pi, parameters, + - * / ^ and sin..sqrt."""
        try:
            tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
        except SyntaxError:
            raise self.fail(line, f"cannot read the expression {text.strip()!r}") from None

        def ev(node: ast.AST) -> float:
            if isinstance(node, ast.Expression):
                return ev(node.body)
            if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
                return float(node.value)
            if isinstance(node, ast.Name):
                if node.id == "pi":
                    return math.pi
                if node.id in env:
                    return env[node.id]
                raise self.fail(line, f"unknown name {node.id!r} in {text.strip()!r}")
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
                v = ev(node.operand)
                return -v if isinstance(node.op, ast.USub) else v
            if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
                return float(_BINOPS[type(node.op)](ev(node.left), ev(node.right)))
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCS
                and len(node.args) == 1
                and not node.keywords
            ):
                return float(_FUNCS[node.func.id](ev(node.args[0])))
            raise self.fail(line, f"cannot read the expression {text.strip()!r}")

        try:
            result = ev(tree)
        except (ArithmeticError, ValueError) as exc:
            if isinstance(exc, CircuitError):
                raise
            raise self.fail(line, f"{text.strip()!r}: {exc}") from None
        if not math.isfinite(result):
            raise self.fail(line, f"{text.strip()!r} is not finite")
        return result

    def split_call(self, stmt: str, line: int) -> tuple[str, list[str], list[str]]:
        match = _CALL.match(stmt)
        if match is None:
            raise self.fail(line, f"cannot read {stmt!r}")
        name, params, args = match.groups()
        plist = [p for p in params.split(",")] if params is not None and params.strip() else []
        alist = [a.strip() for a in args.split(",")] if args.strip() else []
        return name, plist, alist

    def apply(self, name: str, params: list[float], qubits: list[int], line: int) -> None:
        if len(set(qubits)) != len(qubits):
            raise self.fail(line, f"gate {name!r} repeats a qubit: {qubits}")
        if name in self.defs:
            d = self.defs[name]
            if len(params) != len(d.params) or len(qubits) != len(d.qargs):
                raise self.fail(
                    line,
                    f"gate {name!r} takes {len(d.params)} parameter(s) and "
                    f"{len(d.qargs)} qubit(s), got {len(params)} and {len(qubits)}",
                )
            env = dict(zip(d.params, params, strict=True))
            qmap = dict(zip(d.qargs, qubits, strict=True))
            for stmt, body_line in d.body:
                sub, sparams, sargs = self.split_call(stmt, body_line)
                if sub == "barrier":
                    continue
                values = [self.value(p, env, body_line) for p in sparams]
                try:
                    inner = [qmap[a] for a in sargs]
                except KeyError as exc:
                    raise self.fail(
                        body_line, f"{exc.args[0]!r} is not an argument of gate {name!r}"
                    ) from None
                self.apply(sub, values, inner, body_line)
            return
        gname = _QELIB1_ALIASES.get(name, name)
        if name == "u0":
            return  # the identity (a timed idle in qelib1.inc)
        if gname not in GATES or (name not in _QELIB1 and name not in _QELIB1_ALIASES):
            raise self.fail(line, f"unknown gate {name!r} (neither qelib1.inc nor defined)")
        try:
            matrix = gate_matrix(gname, *params)
        except CircuitError as exc:
            raise self.fail(line, str(exc)) from None
        if matrix.shape[0] != 2 ** len(qubits):
            raise self.fail(
                line, f"gate {name!r} acts on {GATES[gname].num_qubits} qubit(s), got {len(qubits)}"
            )
        if len(self.ops) >= MAX_OPS:
            raise self.fail(line, f"the file expands to more than {MAX_OPS} gates")
        matrix.setflags(write=False)
        self.ops.append(GateOp(matrix, tuple(qubits), gname))

    def resolve(self, arg: str, line: int) -> list[int]:
        match = _ARG.match(arg)
        if match is None or match.group(1) not in self.qregs:
            if match is not None and match.group(1) in self.cregs:
                raise self.fail(line, f"{arg!r} is a classical register")
            raise self.fail(line, f"unknown qubit argument {arg!r}")
        offset, size = self.qregs[match.group(1)]
        if match.group(2) is None:
            return list(range(offset, offset + size))
        index = int(match.group(2))
        if index >= size:
            raise self.fail(line, f"{arg!r} is outside {match.group(1)}[{size}]")
        return [offset + index]

    def statement(self, stmt: str, line: int) -> None:
        word = stmt.split(None, 1)[0].split("(")[0] if stmt else ""
        if word in ("OPENQASM",):
            if stmt.split()[1:] != ["2.0"]:
                raise self.fail(line, f"only OpenQASM 2.0 is read here, not {stmt!r}")
            return
        if word == "include":
            if stmt.split(None, 1)[1].strip() != '"qelib1.inc"':
                raise self.fail(line, f"only qelib1.inc can be included, not {stmt!r}")
            return
        if word in ("qreg", "creg"):
            match = re.fullmatch(rf"(?:qreg|creg)\s+({_IDENT})\s*\[\s*(\d+)\s*\]", stmt)
            if match is None:
                raise self.fail(line, f"cannot read {stmt!r}")
            reg, size = match.group(1), int(match.group(2))
            if reg in self.qregs or reg in self.cregs:
                raise self.fail(line, f"register {reg!r} declared twice")
            if word == "creg":
                self.cregs.add(reg)
            else:
                self.qregs[reg] = (self.n_qubits, size)
                self.n_qubits += size
            return
        if word in ("measure", "reset", "if", "opaque"):
            raise self.fail(
                line, f"{word!r} is not a unitary gate; a circuit family takes unitary gates only"
            )
        name, params, args = self.split_call(stmt, line)
        if name == "barrier":
            return
        values = [self.value(p, {}, line) for p in params]
        groups = [self.resolve(a, line) for a in args]
        width = max((len(g) for g in groups), default=0)
        if any(len(g) not in (1, width) for g in groups):
            raise self.fail(line, f"registers of different sizes in {stmt!r}")
        for k in range(width):
            self.apply(name, values, [g[0] if len(g) == 1 else g[k] for g in groups], line)

    def define(self, match: re.Match[str], line: int) -> None:
        name, params, qargs, body = match.groups()
        plist = tuple(p.strip() for p in params.split(",") if p.strip()) if params else ()
        qlist = tuple(q.strip() for q in qargs.split(",") if q.strip())
        if not qlist or not all(re.fullmatch(_IDENT, q) for q in qlist):
            raise self.fail(line, f"cannot read the qubit arguments of gate {name!r}")
        stmts = []
        body_line = line + match.group(0)[: match.start(4) - match.start(0)].count("\n")
        for part in body.split(";"):
            if part.strip():
                first = body_line + part[: len(part) - len(part.lstrip())].count("\n")
                stmts.append((" ".join(part.split()), first))
            body_line += part.count("\n")
        self.defs[name] = _GateDef(plist, qlist, tuple(stmts))


def read_qasm_ops(path: str | Path) -> tuple[list[GateOp], int]:
    """The gates of the OpenQASM 2 file ``path``, in order, and its number of qubits.

    Registers are numbered in declaration order (as Qiskit does). Gate matrices come from
    :mod:`qsim_topo.gates` (read-only arrays); user ``gate`` definitions are expanded.

    Raises:
        CircuitError: the file cannot be read or is larger than :data:`MAX_TEXT_BYTES`; a
            statement that is not a unitary gate (``measure``, ``reset``, ``if``, ``opaque``),
            an unknown gate, an include other than ``qelib1.inc``, OpenQASM 3, a file with no
            qubit, or more than :data:`MAX_OPS` gates. The message names the file and line.
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_TEXT_BYTES:
            raise CircuitError(f"{p}: larger than {MAX_TEXT_BYTES} bytes")
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CircuitError(f"{p}: cannot read the file: {exc}") from None
    text = re.sub(r"//[^\n]*", "", text)
    reader = _Reader(p)
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        line = text.count("\n", 0, pos) + 1
        match = _GATE_DEF.match(text, pos)
        if match is not None:
            reader.define(match, line)
            pos = match.end()
            continue
        end = text.find(";", pos)
        if end < 0:
            raise reader.fail(line, "a statement without its ';'")
        reader.statement(" ".join(text[pos:end].split()), line)
        pos = end + 1
    if reader.n_qubits == 0:
        raise CircuitError(f"{p}: no qreg: the file declares no qubit")
    return reader.ops, reader.n_qubits
