"""The circuit IR: validation names the bad op, trailing measurements are deferred soundly."""

from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.circuit import (
    BitCondition,
    BranchOp,
    ClassicalMemory,
    GateOp,
    JumpOp,
    MeasureOp,
    PhaseOp,
    Program,
    RegisterCondition,
    ResetOp,
    SaveOp,
    SwitchOp,
    check_program,
    defer_terminal_measures,
    gate,
)
from qsim_topo.errors import CircuitError, QsimTopoError

H = gate("h", 0)


def test_gate_builds_standard_ops():
    op = gate("cx", (0, 2))
    assert op.qubits == (0, 2) and op.name == "cx" and op.matrix.shape == (4, 4)
    assert not op.matrix.flags.writeable
    assert gate("rz", 1, 0.5).qubits == (1,)
    with pytest.raises(CircuitError, match="acts on 2 qubit"):
        gate("cx", 0)


def test_classical_memory_and_conditions():
    memory = ClassicalMemory()
    memory.set_bit(3, 1)
    memory.set_bit(0, True)
    assert memory.bits == 0b1001 and memory.get_bit(3) == 1
    assert memory.get_register((3, 0)) == 0b11
    copy = memory.copy()
    copy.set_bit(3, 0)
    assert memory.get_bit(3) == 1
    assert BitCondition(0, 1)(memory) and not BitCondition(1, 1)(memory)
    assert RegisterCondition((0, 1, 3), 0b101)(memory)


@pytest.mark.parametrize(
    "program,message",
    [
        (Program("p", 0, 0, []), "n_qubits must be a positive integer"),
        (Program("p", 2, -1, []), "n_clbits"),
        (Program("p", 2, 0, [], method="density"), "unknown method"),
        (Program("p", 2, 0, [GateOp(np.eye(2), (2,))]), r"op 0 \(GateOp\): qubits \[2\]"),
        (Program("p", 2, 0, [GateOp(np.eye(4), (1, 1))]), "repeats a qubit"),
        (Program("p", 2, 0, [H, GateOp(np.eye(2), (0, 1))]), r"op 1 .* needs a \(4, 4\)"),
        (Program("p", 2, 0, [GateOp(np.ones((2, 2)), (0,))]), "not unitary"),
        (Program("p", 2, 1, [MeasureOp(0, 1)]), "clbit 1 is outside the 1 clbits"),
        (Program("p", 2, 1, [MeasureOp(0, 0)], method="unitary"), "cannot measure"),
        (Program("p", 2, 0, [JumpOp(5)]), r"jump target 5 is outside 0..1"),
        (Program("p", 2, 0, [SwitchOp(lambda m: 0, {0: 7})]), "jump target 7"),
        (Program("p", 2, 0, [SaveOp("unitary", "u")]), "saves a unitary"),
        (Program("p", 2, 0, ["h"]), "not an op of qsim_topo.circuit"),
        (Program("p", 2, 1, [], [(0, 3)]), "terminal measure: clbit 3"),
    ],
)
def test_check_program_names_the_problem(program, message):
    with pytest.raises(CircuitError, match=message):
        check_program(program)
    assert issubclass(CircuitError, QsimTopoError)


def test_check_program_accepts_a_dynamic_program():
    ops = [H, MeasureOp(0, 0), BranchOp(BitCondition(0), 4), gate("x", 1), ResetOp(0)]
    check_program(Program("p", 2, 1, ops))


def test_trailing_measurements_are_deferred():
    ops = [H, gate("cx", (0, 1)), PhaseOp(0.1), MeasureOp(0, 0), MeasureOp(1, 1)]
    out = defer_terminal_measures(Program("p", 2, 2, ops))
    assert out.terminal_measures == [(0, 0), (1, 1)] and len(out.ops) == 3
    assert not out.is_dynamic and out.has_measurements


def test_measurements_followed_by_gates_or_control_stay():
    # The qubit is acted on afterwards: the measurement stays.
    ops = [H, MeasureOp(0, 0), gate("x", 0)]
    assert defer_terminal_measures(Program("p", 1, 1, ops)).ops == ops
    # Control flow after it may read the bit.
    ops = [H, MeasureOp(0, 0), BranchOp(BitCondition(0), 3), gate("x", 1)]
    assert defer_terminal_measures(Program("p", 2, 1, ops)).ops == ops


def test_a_measurement_a_jump_skips_is_not_deferred():
    # if (c0) { measure q1 -> c1 }: on the other path q1 is not measured.
    ops = [H, MeasureOp(0, 0), BranchOp(BitCondition(0), 4), MeasureOp(1, 1)]
    program = Program("p", 2, 2, ops)
    assert defer_terminal_measures(program).ops == ops
    # A jump that lands on the measurement itself runs it on every path: deferred, and the
    # jump renumbered to the op that now stands there.
    ops = [H, MeasureOp(0, 0), BranchOp(BitCondition(0), 3), MeasureOp(1, 1), gate("x", 0)]
    out = defer_terminal_measures(Program("p", 2, 2, ops))
    assert out.terminal_measures == [(1, 1)] and len(out.ops) == 4
    assert out.ops[2].target == 3 and out.ops[3] is ops[4]


def test_the_fast_gate_screen_defers_odd_but_valid_ops_to_the_full_check():
    """Qubits as a set, a shape that is an array: the screen passes them on to the full check,
    which decides as it always did (here: valid), instead of raising on its own."""

    class Shaped:
        shape = np.array([2, 2])
        dtype = np.dtype(complex)

    ops = [GateOp(np.eye(2), {0}), GateOp(Shaped(), (1,))]
    check_program(Program("odd", 2, 0, ops), check_unitary=False)
    with pytest.raises(CircuitError, match="repeats a qubit"):
        check_program(Program("dup", 3, 0, [GateOp(np.eye(8), (1, 1, 2))]), check_unitary=False)


@pytest.mark.parametrize(
    "ops,message",
    [
        ([H, GateOp(np.eye(2), (2,))], r"op 1 \(GateOp\): qubits \[2\]"),
        ([H, GateOp(np.eye(2), (-1,))], r"qubits \[-1\]"),
        ([H, GateOp(np.eye(4), (1, 1))], r"op 1 .*repeats a qubit"),
        ([GateOp(np.eye(4), (0, 1)), GateOp(np.eye(4), (0, 0))], r"op 1 .*repeats a qubit"),
        ([H, GateOp(np.eye(2), (0, 1))], r"op 1 .* needs a \(4, 4\)"),
        ([GateOp(np.eye(4), (1,))], r"op 0 .* needs a \(2, 2\)"),
        ([H, GateOp(np.eye(2), (0.0,))], r"qubits \[0.0\]"),
        ([H, GateOp(np.eye(2), (2**70,))], r"qubits \[1180591620717411303424\]"),
    ],
)
def test_the_whole_list_gate_screen_leaves_every_error_to_the_full_check(ops, message):
    """A straight list of 1- and 2-qubit gates is screened at once (check_unitary=False); any
    op it cannot pass sends the program through the op-by-op check, which names it."""
    with pytest.raises(CircuitError, match=message):
        check_program(Program("p", 2, 1, ops), check_unitary=False)
    # The valid part alone passes, by the screen; terminal measures are still checked.
    check_program(Program("p", 2, 1, [H, gate("cx", (1, 0))], [(1, 0)]), check_unitary=False)
    with pytest.raises(CircuitError, match="terminal measure: clbit 3"):
        check_program(Program("p", 2, 1, [H], [(0, 3)]), check_unitary=False)
    with pytest.raises(CircuitError, match="cannot measure"):
        check_program(Program("p", 2, 1, [H], [(0, 0)], method="unitary"), check_unitary=False)


def test_the_whole_list_gate_screen_takes_wide_gates():
    ccx = gate("ccx", (0, 1, 2))
    check_program(Program("p", 3, 0, [H, ccx, gate("cx", (2, 1))]), check_unitary=False)
    with pytest.raises(CircuitError, match=r"op 1 .*repeats a qubit"):
        check_program(Program("p", 3, 0, [H, GateOp(np.eye(8), (0, 2, 0))]), check_unitary=False)
    with pytest.raises(CircuitError, match=r"op 1 .* needs a \(8, 8\)"):
        check_program(Program("p", 3, 0, [H, GateOp(np.eye(4), (0, 1, 2))]), check_unitary=False)
    with pytest.raises(CircuitError, match="acts on no qubit"):
        check_program(Program("p", 3, 0, [H, GateOp(np.eye(1), ())]), check_unitary=False)


@pytest.mark.parametrize("check_unitary", [False, True])
def test_a_matrix_of_no_numbers_is_named(check_unitary):
    """Datetime, structured, string or dtype-less matrices: a CircuitError naming the op, from
    the screens and the full check alike (not numpy's promotion error deep in the packing)."""
    odd = [
        np.zeros((2, 2), dtype="datetime64[s]"),
        np.zeros((2, 2), dtype=[("a", float)]),
        np.array([["1", "0"], ["0", "1"]]),
        np.eye(2, dtype=object),
    ]
    for matrix in odd:
        for ops in ([GateOp(matrix, (0,))], [H, GateOp(matrix, (1,))]):
            message = r"op \d \(GateOp\): the matrix must hold numbers"
            with pytest.raises(CircuitError, match=message):
                check_program(Program("p", 2, 0, ops), check_unitary=check_unitary)
