"""Sampler/Estimator V2: Qiskit's Backend* primitives on our backend, and our native ones,
against StatevectorSampler/StatevectorEstimator."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.circuit.library import efficient_su2
from qiskit.circuit.random import random_circuit
from qiskit.exceptions import QiskitError
from qiskit.primitives import (
    BackendEstimatorV2,
    BackendSamplerV2,
    BaseEstimatorV2,
    BaseSamplerV2,
    StatevectorEstimator,
    StatevectorSampler,
)
from qiskit.quantum_info import SparsePauliOp, Statevector

from qsim_topo.qiskit import (
    EstimatorV2,
    QsimTopoBackend,
    QsimTopoCircuitError,
    QsimTopoOptionError,
    SamplerV2,
)
from tests.qiskit.qiskit_helpers import mixing_circuit, two_sample_chi2_pvalue

P_MIN = 1e-4


def _ansatz() -> QuantumCircuit:
    return efficient_su2(3, reps=1)


def _observables():
    return [
        [SparsePauliOp("ZZI")],
        [SparsePauliOp(["XIX", "IYI", "ZZZ"], [0.5, -1.5, 2.0])],
    ]


def _params(circuit, shape, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(-np.pi, np.pi, size=(*shape, circuit.num_parameters))


def test_native_primitives_subclass_the_v2_bases():
    assert isinstance(SamplerV2(), BaseSamplerV2)
    assert isinstance(EstimatorV2(), BaseEstimatorV2)


@pytest.mark.parametrize("make", ["native", "backend"])
def test_estimators_match_statevector_estimator(make):
    circuit = _ansatz()
    values = _params(circuit, (4,), 1)  # broadcast: observables (2, 1) x parameters (4,)
    pub = (circuit, _observables(), values)
    ref = StatevectorEstimator().run([pub]).result()[0]
    if make == "native":
        ours = EstimatorV2().run([pub]).result()[0]
        np.testing.assert_allclose(ours.data.evs, ref.data.evs, atol=1e-10, rtol=0)
        np.testing.assert_array_equal(ours.data.stds, 0.0)
        assert ours.metadata["target_precision"] == 0.0
    else:
        estimator = BackendEstimatorV2(backend=QsimTopoBackend(device="cpu"),
                                       options={"seed_simulator": 3})
        ours = estimator.run([pub], precision=0.02).result()[0]
        assert ours.data.evs.shape == ref.data.evs.shape == (2, 4)
        # shot noise: 2500 shots per term, errors well within 6 standard deviations
        assert np.all(np.abs(ours.data.evs - ref.data.evs) < 6 * np.maximum(ours.data.stds, 0.02))


def test_native_estimator_precision_adds_seeded_noise():
    circuit = _ansatz()
    pub = (circuit, _observables(), _params(circuit, (3,), 2))
    exact = EstimatorV2().run([pub]).result()[0].data.evs
    noisy1 = EstimatorV2(seed=5).run([pub], precision=0.05).result()[0]
    noisy2 = EstimatorV2(seed=5).run([pub], precision=0.05).result()[0]
    np.testing.assert_array_equal(noisy1.data.evs, noisy2.data.evs)
    np.testing.assert_array_equal(noisy1.data.stds, 0.05)
    deviation = noisy1.data.evs - exact
    assert 0 < np.max(np.abs(deviation)) < 6 * 0.05


def test_native_estimator_binds_multi_dimensional_parameter_shapes():
    theta, phi = Parameter("theta"), Parameter("phi")
    qc = QuantumCircuit(2)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    qc.rz(phi, 1)
    qc.h(1)
    values = np.stack(np.meshgrid(np.linspace(0, 3, 3), np.linspace(-1, 1, 4), indexing="ij"), -1)
    pub = (qc, SparsePauliOp(["ZZ", "XX"], [1.0, -0.5]), values)  # (3, 4) x one observable
    ref = StatevectorEstimator().run([pub]).result()[0].data.evs
    ours = EstimatorV2().run([pub]).result()[0].data.evs
    assert ours.shape == (3, 4)
    np.testing.assert_allclose(ours, ref, atol=1e-10, rtol=0)


def _measured_ansatz():
    circuit = _ansatz()
    circuit.measure_all()
    return circuit


@pytest.mark.parametrize("make", ["native", "backend"])
def test_samplers_match_statevector_sampler(make):
    circuit = _measured_ansatz()
    values = _params(circuit, (2, 2), 3)
    shots = 4000
    ref = StatevectorSampler(seed=11).run([(circuit, values)], shots=shots).result()[0]
    if make == "native":
        sampler = SamplerV2(seed=7)
    else:
        sampler = BackendSamplerV2(backend=QsimTopoBackend(device="cpu"),
                                   options={"seed_simulator": 7})
    ours = sampler.run([(circuit, values)], shots=shots).result()[0]
    assert ours.data.meas.shape == (2, 2) and ours.data.meas.num_shots == shots
    for index in np.ndindex(2, 2):
        a, b = ours.data.meas[index].get_counts(), ref.data.meas[index].get_counts()
        assert two_sample_chi2_pvalue(a, b) > P_MIN, (index, a, b)


def test_native_sampler_registers_and_dynamic_circuits():
    q = QuantumRegister(2, "q")
    first, second = ClassicalRegister(1, "first"), ClassicalRegister(9, "second")
    qc = QuantumCircuit(q, first, second)
    qc.h(0)
    qc.measure(0, first[0])
    with qc.if_test((first, 1)):
        qc.x(1)
    qc.measure(1, second[8])
    qc.measure(0, second[0])
    result = SamplerV2(seed=1).run([qc], shots=1000).result()[0]
    f = result.data.first.array[:, 0]
    s = result.data.second.get_int_counts()
    assert result.data.second.num_bits == 9
    # second = q1 << 8 | q0 with q1 == q0 == first on every shot
    ints = result.data.second.array.astype(np.int64)
    values = (ints[:, 0] << 8) | ints[:, 1]
    np.testing.assert_array_equal(values, f.astype(np.int64) * 257)
    assert set(s) == {0, 257}


def test_native_sampler_is_reproducible_and_takes_engine_options():
    circuit = _measured_ansatz()
    values = _params(circuit, (3,), 4)
    a = SamplerV2(seed=3).run([(circuit, values)], shots=50).result()[0].data.meas
    b = SamplerV2(seed=3).run([(circuit, values)], shots=50).result()[0].data.meas
    assert a == b
    sampler = SamplerV2(engine="exact")
    assert sampler.backend.options.engine == "exact"
    with pytest.raises(QsimTopoOptionError):
        SamplerV2(backend=QsimTopoBackend(), engine="exact")
    with pytest.raises(QsimTopoOptionError, match="unknown engine"):
        EstimatorV2(engine="no-such-engine")


def test_estimator_refuses_mid_circuit_measurement():
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.h(0)
    with pytest.raises(Exception, match="mid-circuit measurements"):
        EstimatorV2().run([(qc, SparsePauliOp("Z"))])


# ------------------------------------------------------------------ review findings
# (moved from test_qiskit_review_fixes.py) The estimator refuses what it cannot represent,
# normalises an approximate engine's state, names a vanished one; random engines are seeded.
def _feed_forward() -> QuantumCircuit:
    qc = QuantumCircuit(2, 1)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    return qc


def test_estimator_refuses_a_measurement_a_later_condition_reads():
    qc = _feed_forward()
    with pytest.raises(Exception):  # noqa: B017 - the reference refuses too, with its own type
        StatevectorEstimator().run([(qc, "ZI")]).result()
    with pytest.raises(QsimTopoCircuitError, match="mid-circuit"):
        EstimatorV2().run([(qc, "ZI")]).result()


def test_estimator_refuses_terminal_measurements_like_the_reference():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.ry(0.4, 1)
    ref_circuit = qc.copy()
    qc.measure([0, 1], [0, 1])
    obs = SparsePauliOp(["ZZ", "XI", "IZ"], [1.0, 0.5, -0.25])
    with pytest.raises(QiskitError, match="classical bits"):
        StatevectorEstimator().run([(qc, obs)]).result()
    with pytest.raises(QsimTopoCircuitError, match="classical bits"):
        EstimatorV2().run([(qc, obs)])
    # Without the measurements, the estimate is the reference's.
    ref = StatevectorEstimator().run([(ref_circuit, obs)]).result()[0].data.evs
    ours = EstimatorV2().run([(ref_circuit, obs)]).result()[0].data.evs
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    measured = ref_circuit.measure_all(inplace=False)
    measured.remove_final_measurements()
    ours = EstimatorV2().run([(measured, obs)]).result()[0].data.evs
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_estimator_normalises_an_approximate_engines_state():
    qc = random_circuit(4, 5, seed=2)
    estimator = EstimatorV2(engine="sketch-gaussian", engine_options={"ratio": 0.5, "seed": 1})
    res = estimator.run([(qc, ["IIII", "ZIII"])]).result()[0]
    ref = StatevectorEstimator().run([(qc, "IIII")]).result()[0].data.evs
    assert res.data.evs[0] == pytest.approx(float(ref), abs=1e-12)  # <I> = 1
    assert abs(res.data.evs[1]) <= 1.0 + 1e-12  # a normalised state's <Z> is in [-1, 1]
    norm2 = float(res.metadata["state_sq_norms"])
    assert norm2 > 0 and abs(norm2 - 1.0) > 1e-6  # the raw norm is reported, not hidden


def test_estimator_zero_state_is_an_error_naming_the_engine():
    qc = QuantumCircuit(2)
    qc.x(0)
    assert Statevector(qc).is_valid()  # the true state is not zero
    estimator = EstimatorV2(engine="topology", engine_options={"fill": "zero", "ratio": 0.1})
    with pytest.raises(QsimTopoCircuitError, match=r"topology.*squared norm 0"):
        estimator.run([(qc, "ZI")]).result()


def test_primitives_seed_random_engines():
    qc = mixing_circuit()
    ests = [
        EstimatorV2(engine="cr-sampling", engine_options={"ratio": 0.5}, seed=4)
        .run([(qc, "ZZI")]).result()[0].data.evs
        for _ in range(2)
    ]
    assert float(ests[0]) == float(ests[1])
    measured = qc.measure_all(inplace=False)
    samples = [
        SamplerV2(engine="cr-sampling", engine_options={"ratio": 0.5}, seed=4)
        .run([measured], shots=100).result()[0].data.meas.get_counts()
        for _ in range(2)
    ]
    assert samples[0] == samples[1]


def test_primitive_arguments_are_checked_up_front(monkeypatch):
    from qsim_topo.qiskit.errors import QsimTopoOptionTypeError

    qc = QuantumCircuit(1)
    qc.h(0)
    qc.measure_all()
    for make, match in [
        (lambda: SamplerV2(default_shots=2.5), "default_shots must be an integer"),
        (lambda: SamplerV2(seed="a"), "seed must be"),
        (lambda: SamplerV2(seed=True), "seed must be"),
        (lambda: SamplerV2().run([qc], shots="1"), "shots must be an integer"),
        (lambda: EstimatorV2().run([], precision=[]), "precision must be a finite real"),
        (lambda: EstimatorV2(engine=3), "engine must be an engine name"),
        (lambda: EstimatorV2(engine_options=0), "engine_options must be a mapping"),
    ]:
        with pytest.raises(QsimTopoOptionTypeError, match=match):
            make()
    for make, match in [
        (lambda: SamplerV2(seed=-1), "seed must be"),
        (lambda: SamplerV2().run([qc], shots=0), "shots must be an integer in 1"),
        (lambda: EstimatorV2(default_precision=float("nan")), "default_precision must be"),
        (lambda: EstimatorV2(default_precision=-1), "default_precision must be"),
    ]:
        with pytest.raises(QsimTopoOptionError, match=match):
            make()
    monkeypatch.setattr("qsim_topo.xp.available_memory", lambda device: 8 * 2**30)
    with pytest.raises(QsimTopoCircuitError, match="1000000000 shots needs about"):
        SamplerV2().run([qc], shots=10**9)
    counts = SamplerV2(seed=np.int64(3)).run([qc], shots=np.int64(10)).result()[0]
    assert counts.data.meas.num_shots == 10


def _bell(measure: bool) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    if measure:
        qc.measure_all()
    return qc


@pytest.mark.parametrize(
    "pubs",
    [
        2.5,  # not a list
        "pub",
        np.array(2),  # iterable by type, not by value: "iteration over a 0-d array"
        [2.5],  # Qiskit: "object of type 'float' has no len()" (TypeError)
        [(None,)],
        [(_bell(True), [1.0, 2.0])],  # values for a circuit without parameters (ValueError)
        [(_bell(True), None, "many")],  # Qiskit: "shots must be an integer" (TypeError)
        [(_bell(True), None, -3)],
        [(3, None)],  # Qiskit: "'int' object has no attribute 'parameters'" (AttributeError)
    ],
)
def test_sampler_refuses_bad_pubs_with_an_option_error(pubs):
    with pytest.raises(QsimTopoOptionError, match="pub") as info:
        SamplerV2(seed=1).run(pubs)
    assert isinstance(info.value, QiskitError)


@pytest.mark.parametrize(
    "pubs",
    [
        3,
        [1.5],
        [(_bell(False),)],  # "The length of pub must be 2, 3 or 4" (ValueError)
        [(_bell(False), SparsePauliOp("ZZ"), [1.0, 2.0])],  # values, no parameters
        [(_bell(False), SparsePauliOp("ZZ"), None, "x")],
        [(_bell(False), "not a pauli")],
    ],
)
def test_estimator_refuses_bad_pubs_with_an_option_error(pubs):
    with pytest.raises(QsimTopoOptionError, match="pub") as info:
        EstimatorV2(seed=1).run(pubs)
    assert isinstance(info.value, QiskitError)
