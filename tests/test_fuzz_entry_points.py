"""Property-based fuzzing of the public entry points (issue 19, item 7).

Each test replaces one argument of an entry point by a value of a random type (None, bools,
huge or negative integers, NaN, infinities, strings, lists, dicts, complex and numpy scalars)
and asserts: either a valid result, or a :class:`~qsim_topo.errors.QsimTopoError` (for the
Qiskit layer also a ``QiskitError``) whose message names the argument. Never a TypeError,
OverflowError, MemoryError or ZeroDivisionError from inside numpy.

Valid integers are drawn small (a few qubits, a few shots), so a run that is accepted stays
fast; past the documented caps, values are drawn huge to check the refusals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsim_topo.errors import InsufficientMemoryError, QsimTopoError
from qsim_topo.experiments.layer_stack import run_layer_stack
from qsim_topo.experiments.sweep import SweepSpec
from qsim_topo.sim.simulators import StatevectorSimulator, UnitarySimulator

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

HUGE_INTS = st.sampled_from([-1, 0, -(10**70), 2**31, 2**63, 10**70])
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 2.5, 1.0, 1e300]),
    st.text(max_size=4),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.complex_numbers(allow_nan=False, max_magnitude=10),
    st.sampled_from([np.int64(2), np.float64(2.5), np.bool_(True), np.array([1, 2]), object()]),
)


def small_ints(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(low, high), st.integers(low, high).map(np.int64))


def _assert_clear(exc: BaseException, names: tuple[str, ...]) -> None:
    """A QsimTopoError whose message names one of ``names`` (a memory refusal needs not)."""
    assert isinstance(exc, QsimTopoError), f"{type(exc).__name__}: {exc}"
    if isinstance(exc, InsufficientMemoryError):
        return
    message = str(exc)
    assert any(n in message for n in names), f"{message!r} names none of {names}"
    assert "\n" not in message or len(message) < 2000


LAYER_ARGS = {
    "qubits": (small_ints(1, 3), ("qubits",)),
    "depth": (small_ints(1, 3), ("depth",)),
    "samples": (small_ints(1, 50), ("samples",)),
    "haar_states": (small_ints(1, 4), ("haar_states",)),
    "seed": (small_ints(0, 10**6), ("seed",)),
    "engine_options": (st.just({}), ("engine_options", "option")),
    "kind": (st.sampled_from(["dense", "brickwork"]), ("kind",)),
    "mode": (st.sampled_from([None, "dense", "gate"]), ("mode",)),
    "device": (st.just("cpu"), ("device",)),
    "dtype": (st.sampled_from(["complex64", "complex128", np.complex64]), ("dtype",)),
    "engine": (st.sampled_from(["exact", "fp32"]), ("engine",)),
}


@FUZZ
@given(
    name=st.sampled_from(sorted(LAYER_ARGS)),
    value=st.one_of(JUNK, st.none()),
    data=st.data(),
)
def test_run_layer_stack_refuses_bad_arguments_clearly(name, value, data):
    args = {"qubits": 2, "depth": 1, "samples": 20, "haar_states": 2}
    # one argument fuzzed, maybe the others valid but random
    other = data.draw(st.sampled_from(sorted(LAYER_ARGS)))
    if other != name:
        args[other] = data.draw(LAYER_ARGS[other][0])
    args[name] = value
    if args.get("kind") == "brickwork" and args.get("qubits") == 1:
        args["qubits"] = 2
    try:
        report = run_layer_stack(args.pop("qubits"), args.pop("depth"), **args)
    except Exception as exc:
        _assert_clear(exc, LAYER_ARGS[name][1] + LAYER_ARGS[other][1])
    else:
        assert 0.0 <= report.state_fidelity <= 1.0 + 1e-9


H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
SIM_OPTIONS = {
    "device": ("device",),
    "dtype": ("dtype",),
    "check_unitary": ("check_unitary",),
    "fusion": ("fusion",),
    "fusion_max_qubits": ("fusion_max_qubits",),
    "fusion_threshold": ("fusion_threshold",),
    "tiles": ("tiles",),
    "tile_qubits": ("tile_qubits",),
    "engine": ("engine",),
}


@FUZZ
@given(name=st.sampled_from(sorted(SIM_OPTIONS)), value=JUNK, unitary=st.booleans())
def test_simulator_options_are_checked(name, value, unitary):
    cls = UnitarySimulator if unitary else StatevectorSimulator
    try:
        result = cls(**{name: value}).run([(H, (0,))], 1)
    except Exception as exc:
        _assert_clear(exc, SIM_OPTIONS[name] + ("option",))
    else:
        assert np.allclose(np.abs(np.asarray(result.data)).max(), 1 / np.sqrt(2))


@FUZZ
@given(
    name=st.sampled_from(["n_qubits", "shots", "seed", "matrix", "qubits", "initial"]),
    value=JUNK,
)
def test_simulator_run_arguments_are_checked(name, value):
    matrix, qubits = H, (0,)
    kwargs: dict = {}
    n_qubits = 1
    if name == "matrix":
        matrix = value
    elif name == "qubits":
        qubits = value
    elif name == "n_qubits":
        n_qubits = value
    else:
        kwargs[name] = value
    names = {"matrix": ("matrix",), "qubits": ("qubits", "qubit")}.get(name, (name,))
    try:
        StatevectorSimulator().run([(matrix, qubits)], n_qubits, **kwargs)
    except Exception as exc:
        _assert_clear(exc, (*names, "not unitary", "needs a", "shape"))


SWEEP_FIELDS = {
    "qubits": st.lists(small_ints(1, 4), min_size=1, max_size=3),
    "depths": st.lists(small_ints(1, 8), min_size=1, max_size=3),
    "kinds": st.lists(st.sampled_from(["dense", "brickwork"]), min_size=1, max_size=2),
    "engines": st.lists(st.sampled_from(["exact", "fp32", "cr-sampling:ratio=0.5"]), min_size=1),
    "seeds": st.lists(small_ints(0, 5), min_size=1, max_size=3),
    "samples": small_ints(1, 100),
    "haar_states": small_ints(1, 8),
    "device": st.just("cpu"),
    "precision": st.sampled_from(["double", "single"]),
    "mode": st.sampled_from([None, "dense", "gate"]),
}


@FUZZ
@given(
    name=st.sampled_from(sorted(SWEEP_FIELDS)),
    value=st.one_of(JUNK, st.lists(JUNK, max_size=3)),
    data=st.data(),
)
def test_sweep_spec_checks_every_field(name, value, data):
    fields = {k: data.draw(v) for k, v in SWEEP_FIELDS.items() if data.draw(st.booleans())}
    fields[name] = value
    try:
        spec = SweepSpec(**fields)
    except Exception as exc:
        _assert_clear(exc, (name, "engine", "brickwork"))
    else:
        assert spec.experiments() >= 1
        assert SweepSpec.from_json(spec.to_json()) == spec


BACKEND_OPTIONS = {
    "shots": small_ints(1, 50),
    "memory": st.booleans(),
    "seed_simulator": st.one_of(st.none(), small_ints(0, 100)),
    "method": st.sampled_from(["statevector", "unitary"]),
    "device": st.just("cpu"),
    "precision": st.sampled_from(["double", "single"]),
    "fusion_enable": st.booleans(),
    "fusion_max_qubit": small_ints(1, 5),
    "fusion_threshold": small_ints(1, 20),
    "blocking_enable": st.booleans(),
    "blocking_qubits": small_ints(2, 10),
    "engine": st.sampled_from(["exact", "fp32"]),
    "engine_options": st.just({}),
}


@pytest.fixture(scope="module")
def qiskit_bits():
    pytest.importorskip("qiskit")
    from qiskit import QuantumCircuit
    from qiskit.exceptions import QiskitError

    from qsim_topo.qiskit import QsimTopoBackend

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return QsimTopoBackend, qc, QiskitError


@FUZZ
@given(
    name=st.sampled_from(sorted(BACKEND_OPTIONS)),
    value=JUNK,
    at_run=st.booleans(),
    data=st.data(),
)
def test_backend_options_are_checked(qiskit_bits, name, value, at_run, data):
    backend_cls, qc, qiskit_error = qiskit_bits
    other = data.draw(st.sampled_from(sorted(BACKEND_OPTIONS)))
    options = {other: data.draw(BACKEND_OPTIONS[other]), name: value}
    if options.get("method") == "unitary":
        qc = qc.remove_final_measurements(inplace=False)
    try:
        if at_run:
            backend = backend_cls(device="cpu")
            result = backend.run(qc, **options).result(timeout=60)
        else:
            backend = backend_cls(**{"device": "cpu", **options})
            result = backend.run(qc).result(timeout=60)
    except Exception as exc:
        assert isinstance(exc, qiskit_error), f"{type(exc).__name__}: {exc}"
        _assert_clear(exc, (name, other, "option", "engine"))
    else:
        assert result.success
