"""Property-based fuzzing of OpenQASM loading: mutated real QASMBench files.

The error contract of :func:`qsim_topo.qiskit.qasm.load_qasm`: a mutated file either loads or
raises QasmLoadError (a QsimTopoError and a QiskitError) with a message; never another
exception type (a Rust PanicException derives from BaseException), a crash or a hang. Seeded
(``derandomize``), bounded examples and per-example deadlines keep the whole file well under a
minute on CI's two cores.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit.exceptions import QiskitError

from qsim_topo.errors import QsimTopoError
from qsim_topo.qiskit.errors import QasmLoadError
from qsim_topo.qiskit.qasm import load_qasm
from tests.qiskit.qiskit_helpers import QASMBENCH

# Small seeds: files that load in milliseconds, so many mutations fit in the budget.
SEEDS = [
    "small/adder_n4/adder_n4.qasm",
    "small/wstate_n3/wstate_n3.qasm",
    "small/ipea_n2/ipea_n2.qasm",
    "small/qec_sm_n5/qec_sm_n5.qasm",
    "small/teleportation_n3/teleportation_n3.qasm",
    "small/pea_n5/pea_n5.qasm",
]

# Tokens a hostile or careless edit puts in: huge numbers, broken syntax, nesting.
TOKENS = [
    "99999999999", "99999999999999999999999", "-1", "0", "1.5", "1e308", "nan", "pi/0",
    "(", ")", "[", "]", "{", "}", ";", ",", "->", "==", "qreg", "creg", "gate", "opaque",
    "measure", "reset", "barrier", "if", "U", "CX", "rx", "cu1", "ccx", "q", "c", "q[0]",
    "\x00", "\n", "OPENQASM 3.0;", 'include "qelib1.inc";', "//", "/*",
]

needs_corpus = pytest.mark.skipif(not QASMBENCH.is_dir(), reason="no QASMBench corpus")
WHILE_QASM3 = Path(__file__).resolve().parents[2] / "circuits" / "while.qasm"
QASM3_TOKENS = [*TOKENS, "qubit", "bit", "while", "for", "int[8]", "def", "ctrl @", "inv @",
                "pow(2) @", "measure", "reset", "qubit[99999999999999999999]"]


@st.composite
def mutated(draw: st.DrawFn, base: str | None = None) -> str:
    text = base if base is not None else (QASMBENCH / draw(st.sampled_from(SEEDS))).read_text()
    tokens = QASM3_TOKENS if base is not None else TOKENS
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace_token", "insert", "delete_line", "dup_line",
                                     "swap_digits", "truncate"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if kind == "replace_token":
            words = lines[i].split(" ")
            j = draw(st.integers(0, len(words) - 1))
            words[j] = draw(st.sampled_from(tokens))
            lines[i] = " ".join(words)
        elif kind == "insert":
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + draw(st.sampled_from(tokens)) + lines[i][pos:]
        elif kind == "delete_line" and len(lines) > 1:
            del lines[i]
        elif kind == "dup_line":
            lines.insert(i, lines[i] * draw(st.integers(1, 3)))
        elif kind == "swap_digits":
            lines[i] = "".join(
                draw(st.sampled_from("0123456789")) if ch.isdigit() else ch for ch in lines[i]
            )
        elif kind == "truncate":
            lines = lines[: i + 1]
    return "\n".join(lines)


def _assert_contract(path: Path) -> None:
    try:
        load_qasm(path)
    except QasmLoadError as exc:
        assert isinstance(exc, QsimTopoError) and isinstance(exc, QiskitError)
        assert str(exc).strip(), "a QasmLoadError must say what is wrong"


FUZZ = settings(
    max_examples=150,
    deadline=2000,  # per example: a mutant that hangs fails here instead of stalling CI
    derandomize=True,  # seeded: CI runs the same examples every time
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@needs_corpus
@FUZZ
@given(text=mutated())
def test_mutated_qasmbench_files_load_or_raise_qasm_load_error(tmp_path, text):
    path = tmp_path / "mutant.qasm"
    path.write_text(text, encoding="utf-8")
    _assert_contract(path)


@pytest.mark.skipif(
    importlib.util.find_spec("qiskit_qasm3_import") is None, reason="needs qiskit_qasm3_import"
)
@FUZZ
@given(text=mutated(base=WHILE_QASM3.read_text()))
def test_mutated_openqasm3_files_load_or_raise_qasm_load_error(tmp_path, text):
    path = tmp_path / "mutant.qasm"
    path.write_text(text, encoding="utf-8")
    _assert_contract(path)


@st.composite
def gate_bomb(draw: st.DrawFn) -> str:
    """Gate definitions calling the previous one k times, n levels: k**n operations."""
    k, n = draw(st.integers(1, 6)), draw(st.integers(1, 80))
    width = draw(st.integers(1, 3))
    qa = ",".join(f"a{j}" for j in range(width))
    lines = ['OPENQASM 2.0;', 'include "qelib1.inc";', f"gate g0 {qa} {{ x a0; }}"]
    for i in range(1, n + 1):
        lines.append(f"gate g{i} {qa} {{ " + " ".join([f"g{i - 1} {qa};"] * k) + " }")
    lines += [f"qreg q[{width}];", f"g{n} " + ",".join(f"q[{j}]" for j in range(width)) + ";"]
    return "\n".join(lines)


@settings(max_examples=40, deadline=2000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=gate_bomb())
def test_gate_bombs_load_fast_or_are_refused_with_the_limit(tmp_path, text):
    path = tmp_path / "bomb.qasm"
    path.write_text(text, encoding="utf-8")
    try:
        circuit, _ = load_qasm(path)
    except QasmLoadError as exc:
        assert "max_operations" in str(exc) or "max_nesting" in str(exc)
    else:
        assert circuit.num_qubits >= 1
