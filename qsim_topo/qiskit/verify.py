"""Verify an engine on an OpenQASM circuit: run it exactly and with the engine, compare.

:func:`load_qasm` reads OpenQASM 2 (``qiskit.qasm2.load`` with the legacy custom instructions,
so real-world files that use ``u1``/``cu1``/... and ``include "qelib1.inc"`` load, the file's
folder on the include path) or OpenQASM 3 (``qiskit.qasm3``, which needs the
``qiskit_qasm3_import`` package). :func:`verify_circuit` reports:

* ``state_fidelity``: |<exact|engine>|^2 of the final states of the circuit with its terminal
  measurements removed (None for a dynamic circuit: one the converter finds measuring or
  resetting before its end, a measurement whose clbit a later condition reads included);
  0 when the engine's final state is zero (or not finite), with the TVD 1, no XEB and a note;
* ``tvd``: total variation distance between the exact and the engine's distribution of the
  measured outcomes — computed from the two final states (``tvd_kind="exact"``) when the
  circuit's measurements are all terminal (all qubits when it measures none), else from
  ``shots`` sampled shots of each (``tvd_kind="sampled"``, noisy at the level sqrt(K/shots)
  for K outcomes; a dynamic circuit without clbits has every qubit measured at the end of
  each shot, noted in the report);
* ``xeb``: the linear XEB of ``shots`` outcomes sampled from the engine's distribution, scored
  with the exact probabilities, beside the mean and standard deviation an ideal sampler gets
  (None for circuits with mid-circuit measurement);
* ``norm``: the norm of the engine's final state (the exact one has norm 1), with the
  norm-drift diagnostic of the layer stack in ``diagnostics`` (fidelity, TVD and XEB are all
  normalised and blind to a state of norm 1e20 or 1e-20);
* the reference is built from :class:`~qsim_topo.engines.exact.ExactEngine` itself, never
  looked up by name, so no registered engine can stand in for it;
* the engine under test never sees ``seed``: a random engine (one with a ``seed`` option) not
  given a seed gets ``derive_seed(seed, "engine")``, a one-way derivation, the shots of
  dynamic circuits use ``derive_seed(seed, "shots")`` in both runs (common random numbers),
  and the XEB samples are drawn from a stream keyed by a digest of the engine's final state
  (:mod:`qsim_topo.experiments.seeds`); a report is reproducible from ``seed``;
* the engine's flops fraction and matmul calls, the wall times of both runs and their ratio,
  with a diagnostic when the engine took far more time than its declared fraction implies.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.exceptions import QiskitError

from qsim_topo.circuit import Program
from qsim_topo.engines.base import describe_engine
from qsim_topo.engines.exact import ExactEngine
from qsim_topo.errors import ArgumentTypeError, InvalidArgumentError, QsimTopoError
from qsim_topo.experiments import seeds
from qsim_topo.experiments.diagnostics import norm_drift, time_claim
from qsim_topo.metrics import (
    ideal_xeb_band,
    linear_xeb,
    sample_bitstrings,
    state_fidelity,
    total_variation_distance,
)
from qsim_topo.qiskit.backend import QsimTopoBackend
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.qiskit.errors import (
    QsimTopoBackendError,
    QsimTopoJobError,
    QsimTopoStateVanishedError,
    option_errors,
    qiskit_errors,
)
from qsim_topo.qiskit.execute import execute, marginal_probabilities
from qsim_topo.qiskit.options import DEVICES, PRECISIONS
from qsim_topo.qiskit.qasm import load_qasm as load_qasm  # moved; re-exported for callers
from qsim_topo.qiskit.qasm import qasm_version as qasm_version
from qsim_topo.sim.memory import MAX_SHOTS, check_shots_memory
from qsim_topo.validation import check_choice, check_int, check_mapping, describe

__all__ = ["VerifyReport", "load_qasm", "qasm_version", "verify_circuit", "verify_qasm"]

@dataclass
class VerifyReport:
    """The comparison of an engine against the exact engine on one circuit.

    Attributes:
        name, path, qasm_version: what was verified.
        num_qubits, num_clbits, size, depth: the circuit.
        engine, engine_options, shots, seed: the run.
        dynamic: whether shots split mid-circuit (mid-circuit measurement or reset).
        state_fidelity: see the module docstring; None when not defined.
        tvd, tvd_kind: total variation distance and ``"exact"`` or ``"sampled"``.
        xeb, xeb_ideal_mean, xeb_ideal_std: linear XEB of the engine's samples and the
            ideal-sampler band; None for dynamic circuits.
        measured_qubits: qubits whose outcomes form the distribution (static circuits).
        norm: the norm of the engine's final state (static circuits; NaN when the run
            stopped on a non-finite state; None for dynamic circuits).
        flops_fraction, matmul_calls: the engine's work; None when its run stopped because
            its state vanished (see ``notes``).
        exact_time_s, engine_time_s: simulation wall times; time_ratio: engine over exact.
        diagnostics: measurement artifacts found (norm drift, a compute claim the time
            contradicts), worded as the layer stack's.
        notes: what could not be computed, and why.
    """

    name: str
    path: str
    qasm_version: int
    num_qubits: int
    num_clbits: int
    size: int
    depth: int
    engine: str
    engine_options: dict[str, Any]
    shots: int
    seed: int
    dynamic: bool
    state_fidelity: float | None
    tvd: float
    tvd_kind: str
    xeb: float | None
    xeb_ideal_mean: float | None
    xeb_ideal_std: float | None
    measured_qubits: list[int]
    norm: float | None
    flops_fraction: float | None
    matmul_calls: int | None
    exact_time_s: float
    engine_time_s: float
    time_ratio: float
    diagnostics: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    execution_path: dict[str, str] = field(default_factory=dict)  # what ran the engine's run

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def _final_state(
    backend: QsimTopoBackend, program: Program, seed: int
) -> tuple[np.ndarray, dict[str, Any], float]:
    """The final state of ``program`` (no measurement left) on ``backend``'s engine.

    Returns (state, metadata with the engine's name, options, flops fraction and matmul calls,
    wall seconds). ``seed`` is the run's (executor's) seed; the engine's own seed, if any, is
    set in the backend's options by the caller.
    """
    config = backend.run_config(shots=1)
    engine, _ = config.seeded_engine(seed)
    start = time.perf_counter()
    run = execute(program, engine, shots=1, seed=seed, **config.execute_options())
    elapsed = time.perf_counter() - start
    assert run.final is not None  # a program without measurements
    meta = {
        "engine": run.engine,
        "engine_options": dict(run.engine_options),
        "flops_fraction": run.flops_fraction,
        "matmul_calls": run.matmul_calls,
        "execution_path": config.report()["execution_path"],
    }
    return np.asarray(run.final), meta, elapsed


def _sq_norm(state: np.ndarray) -> float:
    return float(np.vdot(state, state).real)


def _empirical(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()}


def verify_circuit(
    circuit: QuantumCircuit,
    *,
    engine: str = "exact",
    engine_options: dict[str, Any] | None = None,
    shots: int = 1024,
    seed: int = 0,
    device: str = "cpu",
    precision: str = "double",
    path: str = "",
    version: int = 0,
) -> VerifyReport:
    """Run ``circuit`` with the exact engine and with ``engine`` and compare them.

    Args:
        circuit: a circuit with every parameter bound.
        engine: the name of the engine under test.
        engine_options: its options (a random engine without ``seed`` gets a derived one).
        shots: samples for the XEB (and for the TVD of dynamic circuits).
        seed: the experiment seed; every draw comes from a stream derived from it (the shots
            of dynamic circuits from one stream shared by both runs: common random numbers).
        device: as for :class:`~qsim_topo.qiskit.backend.QsimTopoBackend`.
        precision: ``"double"`` or ``"single"``, as for the backend.
        path: the file the circuit came from, recorded in the report.
        version: its OpenQASM major version, recorded in the report.

    Raises:
        QsimTopoCircuitError, QsimTopoOptionError: the circuit or the options are refused
            (the options before any work; QsimTopoOptionTypeError for a wrong type).
    """
    with option_errors():
        if not isinstance(circuit, QuantumCircuit):
            raise ArgumentTypeError(f"circuit must be a QuantumCircuit, got {describe(circuit)}")
        if not isinstance(engine, str):
            raise ArgumentTypeError(f"engine must be an engine name, got {describe(engine)}")
        opts = check_mapping("engine_options", engine_options)
        shots = check_int("shots", shots, min=1, max=MAX_SHOTS)
        if seed is None:
            raise InvalidArgumentError("seed must be a non-negative integer, got None")
        seed = check_int("seed", seed, min=0)
        check_choice("device", device, DEVICES)
        check_choice("precision", precision, tuple(PRECISIONS))
        engine_info = describe_engine(engine)
    with qiskit_errors():
        check_shots_memory(shots, circuit.num_clbits, what=f"verifying {circuit.name!r}")
    if "seed" not in opts and "seed" in engine_info.options:
        opts["seed"] = seeds.derive_seed(seed, seeds.ENGINE)
    run_seed = seeds.derive_seed(seed, seeds.SHOTS)
    # The reference is the exact engine's class itself: no registry entry can stand in for it.
    exact = QsimTopoBackend(ExactEngine(), device=device, precision=precision)
    approx = QsimTopoBackend(engine, device=device, precision=precision, **opts)
    program = circuit_to_program(circuit)
    # Dynamic means what the converter says (a measurement or reset before the end, e.g. one
    # whose clbit a later condition reads), not what remove_final_measurements leaves.
    dynamic = program.is_dynamic
    notes: list[str] = []
    fidelity: float | None = None
    xeb = xeb_mean = xeb_std = None
    norm: float | None = None
    measured: list[int] = []
    if not dynamic:
        stripped = dataclasses.replace(program, terminal_measures=[])
        ref, _, exact_time = _final_state(exact, stripped, run_seed)
        start = time.perf_counter()
        try:
            out, meta, engine_time = _final_state(approx, stripped, run_seed)
            out_norm2 = _sq_norm(out)
        except QsimTopoStateVanishedError as exc:  # NaN/Inf: the exact results still count
            out, meta, engine_time, out_norm2 = None, {}, time.perf_counter() - start, math.nan
            stopped = str(exc)
        # The norm itself, not sqrt of the squared norm: a state of norm 1e200 is finite.
        norm = float(np.linalg.norm(out)) if out is not None else math.nan
        n = circuit.num_qubits
        measured = sorted({q for q, _ in program.terminal_measures}) or list(range(n))
        p_ref = marginal_probabilities(ref, measured, n)
        if out is not None and math.isfinite(out_norm2) and out_norm2 > 0.0:
            fidelity = state_fidelity(ref, out)
            p_out = marginal_probabilities(out, measured, n)
            tvd = total_variation_distance(p_ref, p_out)
            # sample_bitstrings draws from |amplitude|^2: sqrt(p) is a state with distribution p.
            # The stream is keyed by the engine's state: fixed only once the engine is done.
            sampling = seeds.derive_seed(seed, seeds.SAMPLING, seeds.array_digest(out))
            samples = sample_bitstrings(np.sqrt(p_out), shots, seed=sampling)
            xeb = linear_xeb(samples, p_ref)
            xeb_mean, xeb_std = ideal_xeb_band(p_ref, shots)
        else:
            fidelity, tvd = 0.0, 1.0
            xeb_mean, xeb_std = ideal_xeb_band(p_ref, shots)
            reason = (
                f"the engine's run stopped ({stopped})"
                if out is None
                else f"the engine's final state is {'zero' if out_norm2 == 0.0 else 'not finite'} "
                f"(squared norm {out_norm2})"
            )
            notes.append(
                f"{reason}: it has no distribution, so the state fidelity is 0, the TVD 1 and "
                "there is no XEB (nothing to sample)"
            )
        tvd_kind = "exact"
    else:
        sampled = circuit
        if circuit.num_clbits == 0:
            # Nothing is measured: compare the distribution of all qubits at the end of each
            # shot, as a static circuit without measurements does.
            sampled = circuit.measure_all(inplace=False)
            measured = list(range(circuit.num_qubits))
            notes.append(
                "the circuit has no classical bits: every qubit is measured at the end of each "
                "shot and those outcomes are compared"
            )
        t0 = time.perf_counter()
        ref_result = exact.run(sampled, shots=shots, seed_simulator=run_seed).result()
        t1 = time.perf_counter()
        try:
            out_result = approx.run(sampled, shots=shots, seed_simulator=run_seed).result()
        except QsimTopoJobError as exc:
            if not isinstance(exc.__cause__, QsimTopoStateVanishedError):
                raise
            out_result = None
            notes.append(
                f"the engine's run stopped: {exc.__cause__}: its shots have no outcomes, so "
                "the TVD is 1"
            )
        t2 = time.perf_counter()
        exact_time, engine_time = t1 - t0, t2 - t1
        tvd_kind = "sampled"
        if out_result is None:
            meta, tvd = {}, 1.0
        else:
            meta = dict(out_result.results[0].metadata)
            p_ref_d = _empirical(ref_result.get_counts(0))
            p_out_d = _empirical(out_result.get_counts(0))
            keys = sorted(set(p_ref_d) | set(p_out_d))
            tvd = total_variation_distance(
                [p_ref_d.get(k, 0.0) for k in keys], [p_out_d.get(k, 0.0) for k in keys]
            )
        notes.append(
            "mid-circuit measurement or reset: no single final state, so no state fidelity "
            f"or XEB; the TVD compares {shots} sampled shots of each run"
        )
    flops = float(meta["flops_fraction"]) if "flops_fraction" in meta else None
    time_ratio = engine_time / exact_time if exact_time > 0 else math.nan
    diagnostics = []
    if norm is not None:
        drift = norm_drift(norm)
        if drift is not None:
            diagnostics.append(drift)
    if flops is not None:
        claim = time_claim(time_ratio, flops, exact_time)
        if claim is not None:
            diagnostics.append(claim)
    return VerifyReport(
        name=circuit.name,
        path=path,
        qasm_version=version,
        num_qubits=circuit.num_qubits,
        num_clbits=circuit.num_clbits,
        size=circuit.size(),
        depth=circuit.depth(),
        engine=str(meta.get("engine", engine)),
        engine_options=dict(meta.get("engine_options", opts)),
        shots=shots,
        seed=seed,
        dynamic=dynamic,
        state_fidelity=fidelity,
        tvd=tvd,
        tvd_kind=tvd_kind,
        xeb=xeb,
        xeb_ideal_mean=xeb_mean,
        xeb_ideal_std=xeb_std,
        measured_qubits=measured,
        norm=norm,
        flops_fraction=flops,
        matmul_calls=int(meta["matmul_calls"]) if "matmul_calls" in meta else None,
        exact_time_s=exact_time,
        engine_time_s=engine_time,
        time_ratio=time_ratio,
        diagnostics=diagnostics,
        notes=notes,
        execution_path=dict(meta.get("execution_path", {})),
    )


def verify_qasm(path: str | Path, **kwargs: Any) -> VerifyReport:
    """:func:`load_qasm` then :func:`verify_circuit` (keyword arguments go to the latter).

    Raises:
        QsimTopoOptionTypeError: ``path`` is not a str or path.
        QasmLoadError: the file cannot be read or loaded.
        QsimTopoBackendError: any other error Qiskit raised (also a QsimTopoError).
    """
    if not isinstance(path, (str, os.PathLike)):
        with option_errors():
            raise ArgumentTypeError(f"path must be a file path, got {describe(path)}")
    try:
        circuit, version = load_qasm(path)
        return verify_circuit(circuit, path=str(path), version=version, **kwargs)
    except QsimTopoError:
        raise
    except QiskitError as exc:  # Qiskit's own, unwrapped: callers catch QsimTopoError alone
        raise QsimTopoBackendError(str(exc)) from exc
