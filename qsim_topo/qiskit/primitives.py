"""Native Sampler V2 and Estimator V2 primitives on the qsim_topo simulator.

Both bind each pub's parameter values over its shape (``BindingsArray.bind_all``; the
estimator broadcasts parameter sets against observables as ``StatevectorEstimator`` does) and
simulate every bound circuit through the chosen engine, straight from the executor (no
``Result`` round trip):

* :class:`SamplerV2` returns one ``BitArray`` per classical register, shape
  ``pub.shape + (shots,)``; mid-circuit measurement, reset and control flow are supported.
* :class:`EstimatorV2` computes expectation values ``<psi|O|psi> / <psi|psi>`` from the state
  vector when the precision is 0 (stds 0); with a precision ``p > 0`` each value gets Gaussian
  noise of standard deviation ``p`` and ``stds`` is ``p``. An approximate engine need not keep
  the norm: the raw ``<psi|psi>`` of each parameter set is in the pub result's metadata
  (``state_sq_norms``), and a zero state is an error naming the engine. Terminal measurements
  are dropped; mid-circuit measurements and resets (a measurement a later condition reads
  included) are refused.

An engine that takes a ``seed`` option not given explicitly is built, per parameter set, with
a seed drawn from the primitive's ``seed`` (reported as ``engine_seeds`` in the metadata, -1
where none was used), so a seeded primitive is reproducible with a random engine too.

The engine is chosen with ``engine=`` / ``engine_options=`` or by passing a configured
:class:`~qsim_topo.qiskit.backend.QsimTopoBackend` (its engine, device and precision are used).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    EstimatorPubLike,
    PrimitiveResult,
    PubResult,
    SamplerPubLike,
    SamplerPubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.primitives.primitive_job import PrimitiveJob
from qiskit.quantum_info import SparsePauliOp, Statevector

from qsim_topo.circuit import Program
from qsim_topo.errors import ArgumentTypeError
from qsim_topo.qiskit.backend import QsimTopoBackend
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.qiskit.errors import (
    QsimTopoCircuitError,
    QsimTopoOptionError,
    option_errors,
    qiskit_errors,
)
from qsim_topo.qiskit.execute import check_program_memory, execute
from qsim_topo.qiskit.options import RunConfig
from qsim_topo.sim.memory import MAX_SHOTS, check_shots_memory
from qsim_topo.validation import (
    check_int,
    check_mapping,
    check_real,
    check_seed,
    describe,
    is_integer,
)

__all__ = ["EstimatorV2", "SamplerV2"]

SeedLike = int | np.random.Generator | None


def _check_seed(seed: Any) -> SeedLike:
    """``seed`` as given: None, a numpy Generator or a non-negative integer."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    with option_errors():
        if not is_integer(seed):
            raise ArgumentTypeError(
                f"seed must be a non-negative integer, a numpy Generator or None, got "
                f"{describe(seed)}"
            )
        return check_seed("seed", seed)


def _make_backend(
    backend: QsimTopoBackend | None, engine: str | None, engine_options: dict[str, Any] | None
) -> QsimTopoBackend:
    with option_errors():
        if engine is not None and not isinstance(engine, str):
            raise ArgumentTypeError(
                f"engine must be an engine name or None, got {describe(engine)}"
            )
        engine_options = check_mapping("engine_options", engine_options)
    if backend is not None:
        if engine is not None or engine_options:
            raise QsimTopoOptionError("give either a backend or engine/engine_options, not both")
        if not isinstance(backend, QsimTopoBackend):
            raise QsimTopoOptionError(f"backend must be a QsimTopoBackend, got {backend!r}")
        return backend
    return QsimTopoBackend(engine=engine or "exact", **dict(engine_options or {}))


def _coerce_pubs(pubs: Any, coerce: Any, default: Any, what: str, form: str) -> list[Any]:
    """``pubs`` coerced one by one with Qiskit's ``coerce``; a bad one is an option error.

    Qiskit's coercion raises bare ``TypeError``/``ValueError`` (``object of type 'float' has
    no len()``, ``The length of pub must be 2, 3 or 4``, a complex parameter value) or its own
    ``ValueError`` subclasses: each becomes a :class:`QsimTopoOptionError` naming the pub.
    """
    from qiskit.exceptions import QiskitError

    refused = QsimTopoOptionError(f"pubs must be a list of {what} pubs ({form}), got "
                                  f"{describe(pubs)}")
    if isinstance(pubs, (str, bytes, QuantumCircuit)) or not isinstance(pubs, Iterable):
        raise refused
    try:
        items = list(pubs)
    except TypeError:  # an Iterable that does not iterate: a 0-d numpy array
        raise refused from None
    coerced = []
    for i, pub in enumerate(items):
        try:
            coerced.append(coerce(pub, default))
        except (
            AttributeError, TypeError, ValueError, IndexError, KeyError, OverflowError, QiskitError
        ) as exc:
            if isinstance(exc, QsimTopoOptionError):
                raise
            raise QsimTopoOptionError(
                f"pubs[{i}] is not a valid {what} pub ({form}): {describe(pub)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return coerced


def _seeds(seed: SeedLike, count: int) -> list[int]:
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return [int(s) for s in rng.integers(0, 2**63 - 1, size=count)]


class SamplerV2(BaseSamplerV2):
    """Sampler V2 on the qsim_topo simulator.

    Args:
        backend: a configured backend (engine, device, precision); default: a new one.
        engine: engine name (instead of ``backend``).
        engine_options: the engine's options (with ``engine``).
        default_shots: shots of a pub that does not say.
        seed: int, Generator or None (fresh randomness); an int gives reproducible samples.
    """

    def __init__(
        self,
        *,
        backend: QsimTopoBackend | None = None,
        engine: str | None = None,
        engine_options: dict[str, Any] | None = None,
        default_shots: int = 1024,
        seed: SeedLike = None,
    ) -> None:
        self._backend = _make_backend(backend, engine, engine_options)
        with option_errors():
            self._default_shots = check_int("default_shots", default_shots, min=1, max=MAX_SHOTS)
        self._seed = _check_seed(seed)

    @property
    def backend(self) -> QsimTopoBackend:
        """The backend whose engine and options are used."""
        return self._backend

    @property
    def default_shots(self) -> int:
        """Shots of a pub that does not give its own."""
        return self._default_shots

    @property
    def seed(self) -> SeedLike:
        """The seed given at construction."""
        return self._seed

    def run(
        self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None
    ) -> PrimitiveJob[PrimitiveResult[SamplerPubResult]]:
        """Sample every pub; returns a submitted job.

        Raises:
            QsimTopoCircuitError: a circuit that cannot run (checked before the job starts).
        """
        if shots is None:
            shots = self._default_shots
        with option_errors():
            shots = check_int("shots", shots, min=1, max=MAX_SHOTS)
        coerced = _coerce_pubs(
            pubs, SamplerPub.coerce, shots, "sampler", "circuit[, parameter values[, shots]]"
        )
        config = self._backend.run_config(
            shots=max((p.shots for p in coerced), default=1), method="statevector"
        )
        with qiskit_errors():  # every parameter set keeps its shots' bits in the result
            for pub in coerced:
                check_shots_memory(
                    pub.shots,
                    pub.circuit.num_clbits,
                    experiments=max(pub.parameter_values.size, 1),
                    what=f"a sampler pub of {max(pub.parameter_values.size, 1)} parameter set(s)",
                )
        for pub in coerced:  # fail fast on what does not depend on parameter values
            check_program_memory(
                circuit_to_program(_first_bound(pub.circuit, pub.parameter_values), "statevector"),
                config.device,
                config.dtype,
            )
        job = PrimitiveJob(self._run, coerced, config)
        job._submit()
        return job

    def _run(self, pubs: list[SamplerPub], config: RunConfig) -> PrimitiveResult[SamplerPubResult]:
        seeds = _seeds(self._seed, sum(max(p.parameter_values.size, 1) for p in pubs) + 1)
        results = []
        for pub in pubs:
            count = max(pub.parameter_values.size, 1)
            results.append(self._run_pub(pub, config, seeds[:count]))
            seeds = seeds[count:]
        return PrimitiveResult(results, metadata={"version": 2})

    def _run_pub(self, pub: SamplerPub, config: RunConfig, seeds: list[int]) -> SamplerPubResult:
        circuit = pub.circuit
        bound = pub.parameter_values.bind_all(circuit)
        regs = [(creg.name, [circuit.find_bit(b).index for b in creg]) for creg in circuit.cregs]
        arrays = {
            name: np.zeros((*bound.shape, pub.shots, (len(idx) + 7) // 8), dtype=np.uint8)
            for name, idx in regs
        }
        flops = []
        engine_seeds = np.full(bound.shape, -1, dtype=np.int64)
        for k, (index, bound_circuit) in enumerate(np.ndenumerate(bound)):
            program = circuit_to_program(bound_circuit, "statevector")
            engine, engine_seed = config.seeded_engine(seeds[k])
            if engine_seed is not None:
                engine_seeds[index] = engine_seed
            run = execute(
                program, engine, shots=pub.shots, seed=seeds[k],
                **config.execute_options(),
            )
            flops.append(run.flops_fraction)
            memory = np.array(run.memory, dtype=object)
            uniq, inverse = np.unique(memory, return_inverse=True)
            for name, idx in regs:
                nbytes = arrays[name].shape[-1]
                packed = np.zeros((uniq.size, nbytes), dtype=np.uint8)
                for u, value in enumerate(uniq.tolist()):
                    reg_value = 0
                    for j, bit in enumerate(idx):
                        reg_value |= ((value >> bit) & 1) << j
                    packed[u] = np.frombuffer(reg_value.to_bytes(nbytes, "big"), dtype=np.uint8)
                arrays[name][index] = packed[inverse.ravel()]
        meas = {name: BitArray(arrays[name], len(idx)) for name, idx in regs}
        return SamplerPubResult(
            DataBin(**meas, shape=pub.shape),
            metadata={
                "shots": pub.shots,
                "circuit_metadata": circuit.metadata,
                "engine": config.engine.name,
                "engine_seeds": engine_seeds,
                "flops_fraction": float(np.mean(flops)) if flops else 1.0,
            },
        )


def _first_bound(circuit: QuantumCircuit, parameter_values: Any) -> QuantumCircuit:
    """The circuit bound with its first parameter set (itself when it has no parameters)."""
    if not circuit.parameters:
        return circuit
    if parameter_values.size == 0:
        return circuit  # conversion reports the unbound parameters
    first = (0,) * len(parameter_values.shape)
    bound: QuantumCircuit = parameter_values.bind(circuit, first)
    return bound


class EstimatorV2(BaseEstimatorV2):
    """Estimator V2 on the qsim_topo simulator: exact expectation values at precision 0.

    Args:
        backend: a configured backend (engine, device, precision); default: a new one.
        engine: engine name (instead of ``backend``).
        engine_options: the engine's options (with ``engine``).
        default_precision: target precision of a pub that does not say (0: exact).
        seed: int, Generator or None; the noise added when the precision is positive.
    """

    def __init__(
        self,
        *,
        backend: QsimTopoBackend | None = None,
        engine: str | None = None,
        engine_options: dict[str, Any] | None = None,
        default_precision: float = 0.0,
        seed: SeedLike = None,
    ) -> None:
        self._backend = _make_backend(backend, engine, engine_options)
        with option_errors():
            self._default_precision = check_real("default_precision", default_precision, min=0)
        self._seed = _check_seed(seed)

    @property
    def backend(self) -> QsimTopoBackend:
        """The backend whose engine and options are used."""
        return self._backend

    @property
    def default_precision(self) -> float:
        """Precision of a pub that does not give its own (0: exact)."""
        return self._default_precision

    @property
    def seed(self) -> SeedLike:
        """The seed given at construction."""
        return self._seed

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        """Estimate every pub; returns a submitted job."""
        if precision is None:
            precision = self._default_precision
        with option_errors():
            precision = check_real("precision", precision, min=0)
        coerced = _coerce_pubs(
            pubs,
            EstimatorPub.coerce,
            precision,
            "estimator",
            "(circuit, observables[, parameter values[, precision]])",
        )
        config = self._backend.run_config(shots=1, method="statevector")
        for pub in coerced:
            _state_program(_first_bound(pub.circuit, pub.parameter_values), config)
        job = PrimitiveJob(self._run, coerced, config)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub], config: RunConfig) -> PrimitiveResult[PubResult]:
        rng = self._seed if isinstance(self._seed, np.random.Generator) else (
            np.random.default_rng(self._seed)
        )
        return PrimitiveResult(
            [self._run_pub(pub, config, rng) for pub in pubs], metadata={"version": 2}
        )

    def _run_pub(
        self, pub: EstimatorPub, config: RunConfig, rng: np.random.Generator
    ) -> PubResult:
        bound = pub.parameter_values.bind_all(pub.circuit)
        param_index = np.arange(bound.size, dtype=np.int64).reshape(bound.shape)
        bc_index, bc_obs = np.broadcast_arrays(param_index, pub.observables)
        # One engine seed per parameter set, drawn before any noise (a seeded estimator is
        # reproducible with a random engine too); used only when the engine takes a seed.
        seeds = _seeds(rng, max(bound.size, 1))
        states: dict[int, Statevector] = {}
        flops = []
        norms = np.ones(bound.shape, dtype=np.float64)
        engine_seeds = np.full(bound.shape, -1, dtype=np.int64)
        evs = np.zeros(bc_index.shape, dtype=np.float64)
        stds = np.zeros(bc_index.shape, dtype=np.float64)
        for index in np.ndindex(*bc_index.shape):
            k = int(bc_index[index])
            if k not in states:
                bound_circuit = bound.flat[k]
                program = _state_program(bound_circuit, config)
                engine, engine_seed = config.seeded_engine(seeds[k])
                if engine_seed is not None:
                    engine_seeds.flat[k] = engine_seed
                run = execute(
                    program, engine, shots=1, seed=0, widen_final=True,
                    **config.execute_options(),
                )
                assert run.final is not None  # a program without measurements
                flops.append(run.flops_fraction)
                data = run.final  # complex128, the run's own
                norm2 = float(np.vdot(data, data).real)
                if not math.isfinite(norm2) or norm2 <= 0.0:
                    raise QsimTopoCircuitError(
                        f"circuit {bound_circuit.name!r}: engine {engine.name!r} returned a "
                        f"state of squared norm {norm2}; no expectation value is defined"
                    )
                norms.flat[k] = norm2
                data /= math.sqrt(norm2)  # in place: no other reference to it
                states[k] = Statevector(data)
            observable = bc_obs[index]
            paulis, coeffs = zip(*observable.items(), strict=True)
            value = complex(states[k].expectation_value(SparsePauliOp(paulis, coeffs)))
            if abs(value.imag) > 1e-10 * max(1.0, abs(value.real)):
                raise QsimTopoCircuitError(
                    f"observable {observable} is not Hermitian: <psi|O|psi> = {value}"
                )
            ev = value.real
            if pub.precision > 0:
                ev = float(rng.normal(ev, pub.precision))
                stds[index] = pub.precision
            evs[index] = ev
        return PubResult(
            DataBin(evs=evs, stds=stds, shape=evs.shape),
            metadata={
                "target_precision": pub.precision,
                "circuit_metadata": pub.circuit.metadata,
                "engine": config.engine.name,
                "state_sq_norms": norms,
                "engine_seeds": engine_seeds,
                "flops_fraction": float(np.mean(flops)) if flops else 1.0,
            },
        )


def _state_program(circuit: QuantumCircuit, config: RunConfig) -> Program:
    """The program of ``circuit``, which must neither measure nor reset.

    As Qiskit's reference ``StatevectorEstimator`` (which raises "Cannot apply instruction
    with classical bits: measure"), a circuit with any measurement, terminal ones included, is
    refused: an expectation value is of the state before measurement, and silently dropping
    the measurements would estimate a different circuit than the one given.

    Raises:
        QsimTopoCircuitError: a measurement or reset, or a circuit that cannot run.
    """
    program = circuit_to_program(circuit, "statevector")
    if program.is_dynamic:
        raise QsimTopoCircuitError(
            f"circuit {circuit.name!r}: EstimatorV2 needs a pure state; mid-circuit "
            "measurements and resets (including a measurement whose result a later condition "
            "reads) are not supported"
        )
    if program.has_measurements:
        raise QsimTopoCircuitError(
            f"circuit {circuit.name!r}: EstimatorV2 cannot apply instructions with classical "
            "bits (measure), as Qiskit's StatevectorEstimator; remove the final measurements "
            "(circuit.remove_final_measurements()) to estimate on the state before them"
        )
    check_program_memory(program, config.device, config.dtype)
    return program
