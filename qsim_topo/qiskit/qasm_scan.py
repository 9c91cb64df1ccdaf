"""Pre-scan of OpenQASM text: size limits checked before any parser sees a file.

Before the parser sees a file, :func:`scan_qasm` reads its text (and the include files beside
it) and computes, with one memoised pass over the gate definitions in the order they are
written, how many operations every gate expands to and how deeply definitions nest; register
sizes and indices are read too. Limits (:class:`QasmLimits`) are checked on those numbers, so a
"gate bomb" (``g1`` calls ``g0`` twice, ``g2`` calls ``g1`` twice, ... ``g60``: 2**60
operations in 60 lines) is refused in microseconds with the limit it exceeds, before anything
expands. Why the limits are needed:

* Qiskit builds a custom gate's matrix (``Operator``, ``Gate.to_matrix``) by expanding its
  definition recursively, deep-copying each level's sub-tree again at every level above it:
  the work grows with the expanded size times the nesting depth, so 2**20 operations in 20
  levels, or 150 levels of single calls, take minutes (the "hangs").
* The segmentation faults: a few hundred nested definitions make Qiskit recurse through
  ``copy.deepcopy`` -> ``QuantumCircuit.__deepcopy__`` -> the Rust ``CircuitData.copy`` ->
  ``Instruction.__deepcopy__`` -> ``_DefinedGate.__getstate__`` (which builds the next
  definition) -> ... The Rust frames are invisible to CPython's recursion limit, so the C stack
  can run out first: 400 levels end in SIGSEGV with a 1 MiB stack (qiskit 2.6.2, CPython
  3.11) and in a ``RecursionError`` traceback with 8 MiB. The crash is in the dependency; the
  nesting limit keeps every input far from it (24 levels ran under a 1 MiB stack).
* Qiskit's Rust OpenQASM 2 lexer unwraps integer parses: a register size or index past
  2**64 ends in ``pyo3_runtime.PanicException`` (``ParseIntError { kind: PosOverflow }``),
  which derives from ``BaseException``, so ``except Exception`` does not stop it, and the
  panic also prints a Rust backtrace on stderr. The scan refuses such integers first; any
  other panic is still turned into a ``QasmLoadError``.
* Qiskit's OpenQASM 2 importer does not check the arity of the legacy custom instructions:
  ``rx q[0];`` raises ``TypeError: RXGate.__init__() missing 1 required positional argument``
  (at parse time at the top level, or only when the gate is expanded if it is in a gate
  body). The scan checks every call's parameter and qubit counts against the gate it names.
* Register sizes: ``qreg q[99999999999]`` makes Qiskit allocate before it refuses.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from qsim_topo.qiskit.errors import QasmLoadError

__all__ = [
    "DEFAULT_LIMITS",
    "QasmLimits",
    "QasmStats",
    "qasm_version",
    "read_qasm_text",
    "scan_qasm",
]


@dataclass(frozen=True)
class QasmLimits:
    """Bounds a program must satisfy before it is parsed (checked by :func:`scan_qasm`).

    Attributes:
        max_operations: operations after every gate call is expanded into its definition,
            register broadcasts counted (``h q;`` on a 5-qubit register is 5).
        max_nesting: levels of gate definitions calling gate definitions (a gate whose body
            holds only built-in gates is 1 level).
        max_qubits: qubits declared in all quantum registers together.
        max_clbits: bits declared in all classical registers together.
        max_bytes: size of the file (and of each included file).
    """

    max_operations: int = 1_000_000
    max_nesting: int = 24
    max_qubits: int = 1024
    max_clbits: int = 1 << 20
    max_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise QasmLoadError(f"QasmLimits.{f.name} must be a positive int, got {value!r}")


DEFAULT_LIMITS = QasmLimits()


@dataclass
class QasmStats:
    """What :func:`scan_qasm` found: the numbers the limits are checked on.

    Attributes:
        operations: expanded operation count of the program (saturates at
            ``max_operations + 1``).
        nesting: deepest gate-definition nesting a top-level statement reaches.
        qubits, clbits: declared register bits.
        gates: expanded operation count of each gate defined in the file or its includes.
    """

    operations: int = 0
    nesting: int = 0
    qubits: int = 0
    clbits: int = 0
    gates: dict[str, int] = dataclasses.field(default_factory=dict)


_VERSION_RE = re.compile(r"^\s*OPENQASM\s+(\d+)(?:\.(\d+))?\s*;", re.MULTILINE)
_COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_INCLUDE_RE = re.compile(r'^include\s+"([^"]*)"$')
_REG2_RE = re.compile(r"^(qreg|creg)\s+([A-Za-z_]\w*)\s*\[\s*(\d+)\s*\]$")
_REG3_RE = re.compile(
    r"^(qubit|bit)\s*(?:\[\s*(\d+)\s*\])?\s+([A-Za-z_]\w*)(?:\s*=.*)?$", re.DOTALL
)
_GATE_HEAD_RE = re.compile(r"^gate\s+([A-Za-z_]\w*)\s*(\((.*)\))?\s*(.*)$", re.DOTALL)
_IF_RE = re.compile(r"^if\s*\(")
_CALL_RE = re.compile(r"^([A-Za-z_]\w*)")
_BRACKET_INT_RE = re.compile(r"\[\s*(\d+)\s*\]")
_MODIFIER_RE = re.compile(r"^(?:(?:inv|pow\s*\([^)]*\)|n?ctrl(?:\s*\([^)]*\))?)\s*@\s*)+")
_KEYWORDS_NOT_CALLS = frozenset(
    {"OPENQASM", "include", "opaque", "qreg", "creg", "qubit", "bit", "gate", "defcalgrammar",
     "int", "uint", "float", "angle", "bool", "complex", "const", "input", "output", "let",
     "duration", "stretch", "def", "defcal", "extern", "return", "box", "pragma", "cal",
     "if", "else", "while", "for", "switch", "case", "default", "break", "continue", "end", "delay",
     "array", "mutable", "readonly"}
)
_ONE_OP = frozenset({"measure", "reset", "barrier", "U", "CX", "u", "cx", "gphase"})


def _strip_comments(text: str) -> str:
    """``text`` with comments blanked out, keeping every newline (line numbers stay right)."""
    return _COMMENT_RE.sub(lambda m: "\n" * m.group(0).count("\n") + " ", text)


def qasm_version(text: str) -> int:
    """The major OpenQASM version a program declares (2 or 3).

    Without a version statement (optional in OpenQASM 3, and missing from some real-world
    OpenQASM 2 files) a program that includes ``qelib1.inc`` or declares ``qreg``/``creg`` is
    taken as OpenQASM 2, anything else as OpenQASM 3.

    Raises:
        QasmLoadError: a version other than 2 or 3.
    """
    stripped = _strip_comments(text)
    match = _VERSION_RE.search(stripped)
    if match is None:
        return 2 if re.search(r"qelib1\.inc|\b[qc]reg\b", stripped) else 3
    major = int(match.group(1))
    if major not in (2, 3):
        raise QasmLoadError(f"unsupported OpenQASM version {match.group(1)}")
    return major


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses and brackets (empty: [])."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i
            start += 1
    parts.append(text[start:])
    parts = [p.strip() for p in parts]
    return [] if parts == [""] else parts


def _call_parts(statement: str) -> tuple[str, str | None, str] | None:
    """(callee, parameter text or None, argument text) of a gate call, or None."""
    m = _CALL_RE.match(statement)
    if m is None:
        return None
    name, rest = m.group(1), statement[m.end() :].lstrip()
    params: str | None = None
    if rest.startswith("("):
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                params, rest = rest[1:i], rest[i + 1 :]
                break
        else:
            return None  # unbalanced: the parser says where
    return name, params, rest.strip()


@dataclass
class _Gate:
    params: int
    qubits: int
    ops: int  # expanded operation count, saturated
    nesting: int


class _Scanner:
    """One pass over a program's statements (see :func:`scan_qasm`)."""

    def __init__(self, path: Path, version: int, limits: QasmLimits) -> None:
        self.path = path
        self.version = version
        self.limits = limits
        self.cap = limits.max_operations + 1
        self.stats = QasmStats()
        self.gates: dict[str, _Gate] = {}
        self.registers: dict[str, int] = {}
        self.includes = 0
        if version == 2:
            from qiskit import qasm2

            self.gates["U"] = _Gate(3, 1, 1, 0)
            self.gates["CX"] = _Gate(0, 2, 1, 0)
            for ci in qasm2.LEGACY_CUSTOM_INSTRUCTIONS:
                self.gates[ci.name] = _Gate(ci.num_params, ci.num_qubits, 1, 0)
        self.builtin = frozenset(self.gates)

    def fail(self, where: str, message: str) -> QasmLoadError:
        return QasmLoadError(f"{where}: {message}")

    def statements(self, text: str, where: str) -> Iterator[tuple[str, str, int]]:
        """(kind, text, line) for each statement; kind is ';', '{' (a block head) or '}'."""
        line, start = 1, 0
        for m in re.finditer(r"[;{}\n]", text):
            ch = m.group(0)
            if ch == "\n":
                line += 1
                continue
            stmt = text[start : m.start()]
            first = line - stmt.count("\n", len(stmt) - len(stmt.lstrip()))
            yield ch, " ".join(stmt.split()), first
            start = m.end()
        rest = " ".join(text[start:].split())
        if rest:
            yield ";", rest, line

    def scan(self, text: str, where: str) -> None:
        """Scan one file's comment-stripped ``text``; ``where`` names it in messages."""
        limits = self.limits
        for m in _BRACKET_INT_RE.finditer(text):
            value = int(m.group(1))
            if value > max(limits.max_qubits, limits.max_clbits):
                line = text.count("\n", 0, m.start()) + 1
                raise self.fail(
                    f"{where}:{line}",
                    f"register size or index {value} exceeds the limit "
                    f"({limits.max_qubits} qubits, {limits.max_clbits} clbits)",
                )
        # The stack of open blocks: a gate body (its _Gate and qubit names) or a plain block
        # (if/else/while/for/switch/case/def) whose statements count where it stands.
        stack: list[tuple[str, str, _Gate | None, int]] = []
        for kind, stmt, line in self.statements(text, where):
            at = f"{where}:{line}"
            gate = next((g for _, _, g, _ in reversed(stack) if g is not None), None)
            if kind == "{":
                head = _GATE_HEAD_RE.match(stmt)
                if head is not None and self.version in (2, 3):
                    params = _split_top(head.group(3) or "")
                    qubits = _split_top(head.group(4))
                    new = _Gate(len(params), len(qubits), 0, 0)
                    stack.append(("gate", head.group(1), new, line))
                else:
                    stack.append(("block", stmt, None, line))
                    if stmt:
                        self.statement(stmt, at, gate)  # 'if (c==1)' etc. count nothing
                continue
            if stmt:
                self.statement(stmt, at, gate)
            if kind == "}" and stack:
                what, name, body, _ = stack.pop()
                if what == "gate" and body is not None:
                    body.nesting += 1
                    if name in self.builtin:
                        pass  # a file redefining a built-in: the importer uses its own
                    else:
                        self.gates[name] = body
                        self.stats.gates[name] = body.ops
                    if body.nesting > limits.max_nesting:
                        raise self.fail(
                            at,
                            f"gate {name!r} nests gate definitions {body.nesting} deep, "
                            f"over the limit of {limits.max_nesting} (max_nesting)",
                        )

    def statement(self, stmt: str, at: str, gate: _Gate | None) -> None:
        limits, stats = self.limits, self.stats
        inc = _INCLUDE_RE.match(stmt)
        if inc is not None:
            self.include(inc.group(1), at)
            return
        reg = _REG2_RE.match(stmt) or (_REG3_RE.match(stmt) if self.version == 3 else None)
        if reg is not None:
            if reg.re is _REG2_RE:
                kind, name, size = reg.group(1), reg.group(2), int(reg.group(3))
            else:
                kind, name = reg.group(1), reg.group(3)
                size = int(reg.group(2)) if reg.group(2) is not None else 1
            self.registers[name] = size
            if kind in ("qreg", "qubit"):
                stats.qubits += size
                if stats.qubits > limits.max_qubits:
                    raise self.fail(
                        at, f"{stats.qubits} qubits declared, over the limit of "
                        f"{limits.max_qubits} (max_qubits)"
                    )
            else:
                stats.clbits += size
                if stats.clbits > limits.max_clbits:
                    raise self.fail(
                        at, f"{stats.clbits} classical bits declared, over the limit of "
                        f"{limits.max_clbits} (max_clbits)"
                    )
            return
        while _IF_RE.match(stmt):  # 'if (c==1) x q[0];' in OpenQASM 2
            depth = 0
            for i, ch in enumerate(stmt):
                depth += ch == "("
                depth -= ch == ")"
                if depth == 0 and ch == ")":
                    stmt = stmt[i + 1 :].strip()
                    break
            else:
                return
        if self.version == 3:
            stmt = _MODIFIER_RE.sub("", stmt)
            if "=" in stmt and "measure" in stmt:
                stmt = stmt[stmt.index("measure") :]
        parts = _call_parts(stmt)
        if parts is None:
            return
        name, params, args = parts
        if name in _KEYWORDS_NOT_CALLS:
            return
        callee = self.gates.get(name)
        if callee is not None and name not in _ONE_OP:
            n_params = len(_split_top(params or ""))
            n_qubits = len(_split_top(args))
            if (n_params, n_qubits) != (callee.params, callee.qubits) and self.version == 2:
                raise self.fail(
                    at,
                    f"gate {name!r} takes {callee.params} parameter(s) and {callee.qubits} "
                    f"qubit(s); {n_params} and {n_qubits} given",
                )
        user = callee is not None and name not in self.builtin
        ops = callee.ops if user and callee is not None else 1
        level = callee.nesting if user and callee is not None else 0
        if gate is not None:
            gate.ops = min(self.cap, gate.ops + ops)
            gate.nesting = max(gate.nesting, level)  # becomes 1 + this when the body closes
            return
        # A top-level call on whole registers broadcasts over their bits.
        broadcast = 1
        for arg in _split_top(args.replace("->", ",")):
            if "[" not in arg and arg in self.registers:
                broadcast = max(broadcast, self.registers[arg])
        stats.operations = min(self.cap, stats.operations + ops * broadcast)
        stats.nesting = max(stats.nesting, level)
        if stats.operations > limits.max_operations:
            raise self.fail(
                at,
                f"the program expands to more than {limits.max_operations} operations "
                f"(max_operations){f' at this call of {name!r}' if ops > 1 else ''}",
            )

    def include(self, name: str, at: str) -> None:
        if name in ("qelib1.inc", "stdgates.inc"):
            return  # the importer's own, known above (legacy custom instructions)
        target = self.path.parent / name
        if not target.is_file():
            return  # the importer reports a missing include
        self.includes += 1
        if self.includes > 64:
            raise self.fail(at, "more than 64 includes (an include cycle?)")
        text = read_qasm_text(target, self.limits)
        self.scan(_strip_comments(text), str(target))


def _read_at_most(f: BinaryIO, count: int) -> bytes:
    """Up to ``count`` bytes of ``f``, read in chunks of 1 MiB.

    ``f.read(count)`` allocates ``count`` bytes up front: a huge ``max_bytes`` overflowed.
    """
    chunks: list[bytes] = []
    size = 0
    while size < count:
        chunk = f.read(min(1 << 20, count - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_qasm_text(path: Path, limits: QasmLimits) -> str:
    """The UTF-8 text of ``path``, refused with a :class:`QasmLoadError` past ``max_bytes``."""
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise QasmLoadError(
                f"{path}: {size} bytes, over the limit of {limits.max_bytes} (max_bytes)"
            )
        # At most one byte past the limit: a device such as /dev/zero reports size 0 and never
        # ends, so the size alone cannot bound the read.
        with path.open("rb") as f:
            data = _read_at_most(f, limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            raise QasmLoadError(
                f"{path}: more than {limits.max_bytes} bytes, over the limit (max_bytes)"
            )
        # Newlines as read_text gives them (universal newlines): the scan counts lines by \n.
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise QasmLoadError(f"cannot read {path}: {exc}") from exc


def scan_qasm(
    text: str, *, path: str | Path = "<input>", limits: QasmLimits = DEFAULT_LIMITS
) -> QasmStats:
    """Check a program's size against ``limits`` without parsing or expanding it.

    A cheap pass over the text: gate definitions in the order written, each gate's expanded
    operation count and nesting depth computed from those of the gates it calls (memoised:
    linear in the text's length whatever the expansion), register declarations and integer
    indices; include files beside ``path`` other than ``qelib1.inc``/``stdgates.inc`` are
    scanned where they are included. It is not a parser: it only over-counts what it does not
    understand (an unknown statement counts as one operation) and leaves syntax errors to the
    importer.

    Returns:
        The numbers found (see :class:`QasmStats`).

    Raises:
        QasmLoadError: a limit is exceeded (the message names it and the line), or a call to a
            known gate has the wrong number of parameters or qubits (OpenQASM 2).
    """
    p = Path(path)
    scanner = _Scanner(p, qasm_version(text), limits)
    scanner.scan(_strip_comments(text), str(p))
    return scanner.stats
