"""The core executor: Program in, result out, without any front end."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from qsim_topo.circuit import BitCondition, BranchOp, MeasureOp, Program, ResetOp, gate
from qsim_topo.engines import get_engine
from qsim_topo.errors import CircuitError, StateVanishedError
from qsim_topo.sim.executor import apply_matrix, execute, marginal_probabilities
from qsim_topo.sim.kernels import NUMPY_KERNELS

EXACT = get_engine("exact")


def _ghz(n):
    return [gate("h", 0)] + [gate("cx", (q, q + 1)) for q in range(n - 1)]


def test_ghz_state_and_samples():
    n = 5
    run = execute(Program("ghz", n, 0, _ghz(n)), EXACT)
    want = np.zeros(2**n)
    want[0] = want[-1] = 2**-0.5
    np.testing.assert_allclose(run.final, want, atol=1e-12)
    sampled = execute(
        Program("ghz", n, n, _ghz(n), [(q, q) for q in range(n)]), EXACT, shots=300, seed=4
    )
    assert set(sampled.memory) == {0, 2**n - 1} and sampled.final is None


def test_initial_state_is_copied_and_used():
    psi = np.array([0, 1, 0, 0], dtype=complex)
    keep = psi.copy()
    run = execute(Program("p", 2, 0, [gate("x", 0)]), EXACT, initial=psi)
    np.testing.assert_allclose(run.final, [1, 0, 0, 0])
    assert np.array_equal(psi, keep)
    with pytest.raises(CircuitError, match=r"initial value has shape \(3,\), expected \(4,\)"):
        execute(Program("p", 2, 0, []), EXACT, initial=np.ones(3))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_shots_are_refused(bad):
    with pytest.raises(CircuitError, match="shots"):
        execute(Program("p", 1, 0, []), EXACT, shots=bad)


def test_feed_forward_and_reset():
    ops = [gate("x", 0), MeasureOp(0, 0), BranchOp(BitCondition(0), 4), gate("x", 1), ResetOp(0)]
    run = execute(Program("ff", 2, 1, ops), EXACT, shots=5, seed=0)
    assert run.memory == [1] * 5 and run.branches == 1


def test_a_vanished_state_is_a_state_vanished_error():
    with pytest.raises(StateVanishedError, match="squared norm 0"):
        execute(Program("p", 1, 1, [MeasureOp(0, 0)]), EXACT, initial=np.zeros(2), shots=2)
    with pytest.raises(StateVanishedError):
        marginal_probabilities(np.zeros(4, complex), [0], 2)


def test_apply_matrix_counts_the_kernel_that_ran():
    state = np.zeros(8, complex)
    state[0] = 1
    used: dict[str, int] = {}
    apply_matrix(EXACT, state, gate("h", 0).matrix, (0,), 3, kernels=NUMPY_KERNELS, used=used)
    assert used == {"gather": 1}
    out = apply_matrix(get_engine("fp32"), state, gate("h", 1).matrix, (1,), 3, used=used)
    assert out is not state and used == {"gather": 1, "apply_operator": 1}


def test_numpy_kernels_when_numba_cannot_load():
    """With numba unimportable, the numpy kernels run and the result says so."""
    code = (
        "import sys\n"
        "sys.modules['numba'] = None  # import numba raises ImportError\n"
        "import numpy as np\n"
        "from qsim_topo.circuit import Program, gate\n"
        "from qsim_topo.engines import get_engine\n"
        "from qsim_topo.sim.executor import execute\n"
        "ops = [gate('h', q) for q in range(15)] + [gate('cx', (0, 14))]\n"
        "run = execute(Program('p', 15, 0, ops), get_engine('exact'), fusion_threshold=1)\n"
        "assert abs(np.vdot(run.final, run.final) - 1) < 1e-12\n"
        "print(run.kernel_family, sorted(run.kernels), run.fusion['blocking'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["numpy", "['chunks']", "False"]


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_results_do_not_depend_on_the_thread_limit(dtype):
    """max_threads 1 and 2: the same final state, bit for bit, and the same shots."""
    rng = np.random.default_rng(21)
    n = 16
    ops = []
    for layer in range(6):
        for q in range(layer % 2, n - 1, 2):
            ops.append(gate("u", q, *rng.uniform(0, 2 * np.pi, 3)))
            ops.append(gate("cx", (q, q + 1)))
    states = [
        execute(Program("t", n, 0, ops), EXACT, dtype=dtype, max_threads=t).final
        for t in (1, 2)
    ]
    np.testing.assert_array_equal(states[0], states[1])
    measured = Program("m", n, n, ops, [(q, q) for q in range(0, n, 3)])
    memories = [
        execute(measured, EXACT, dtype=dtype, shots=3000, seed=9, max_threads=t).memory
        for t in (1, 2, 0)
    ]
    assert memories[0] == memories[1] == memories[2]
    assert len(set(memories[0])) > 10


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_thread_limits_are_refused(bad):
    with pytest.raises(CircuitError, match="max_threads"):
        execute(Program("h", 1, 0, [gate("h", 0)]), EXACT, max_threads=bad)


def test_the_thread_limit_is_restored():
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    execute(Program("h", 12, 0, [gate("h", q) for q in range(12)]), EXACT, max_threads=1)
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, complex(0, np.nan)])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_a_final_state_with_nan_or_inf_is_refused(bad, dtype):
    initial = np.full(8, 0.25, dtype=dtype)
    initial[3] = bad
    with pytest.raises(StateVanishedError, match="NaN or Inf"):
        execute(Program("p", 3, 0, []), EXACT, initial=initial, dtype=dtype)


def test_a_finite_state_whose_sum_overflows_is_accepted():
    initial = np.full(4, 1e38, dtype=np.complex64)  # finite; their float32 sum is inf
    run = execute(Program("p", 2, 0, [gate("z", 0)]), EXACT, initial=initial,
                  dtype=np.complex64, fusion=False)
    assert np.isfinite(run.final).all()


@pytest.mark.parametrize("qubits", [(1, 1, 2), (0, 0), (9,) * 9])
def test_execute_refuses_an_unchecked_gate_that_repeats_a_qubit(qubits):
    """A hand-built Program that nobody checked: execute checks it before any kernel sees it
    (a repeated qubit once reached the compiled tile kernel: a wrong state or a crash)."""
    from qsim_topo.circuit import GateOp, Program
    from qsim_topo.errors import CircuitError

    n = 10
    h = np.array([[1, 1], [1, -1]], dtype=np.complex128) / np.sqrt(2)
    ops = [GateOp(h, (q,)) for q in range(n)]
    dim = 2 ** len(qubits)
    ops.append(GateOp(np.eye(dim, dtype=np.complex128), qubits))
    with pytest.raises(CircuitError, match="repeats a qubit"):
        execute(Program("dup", n, 0, ops), get_engine("exact"))
