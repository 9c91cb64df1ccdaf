"""``QsimTopoBackend`` (a Qiskit ``BackendV2``) and ``QsimTopoProvider``.

Drop-in for ``AerSimulator`` in Qiskit code::

    from qsim_topo.qiskit import QsimTopoBackend
    backend = QsimTopoBackend()                       # exact engine, state vector
    counts = backend.run(transpile(qc, backend), shots=1000, seed_simulator=7).result().get_counts()
    backend = QsimTopoBackend(engine="bf16")          # an approximate engine (name + options)

The backend translates: circuits become :class:`~qsim_topo.circuit.Program` s
(:mod:`qsim_topo.qiskit.convert`), the core executor (:mod:`qsim_topo.sim.executor`) runs them
with the chosen engine, and its results become a ``qiskit.result.Result``
(:mod:`qsim_topo.qiskit.results`).

Run options (defaults in :meth:`QsimTopoBackend._default_options`): ``shots``, ``memory``,
``seed_simulator`` (None: unset — the backend's default, or a fresh random seed reported in the
result; circuit ``i`` of a run uses ``seed_simulator + i``, and an engine that takes a ``seed``
option not given explicitly is built with that same seed, reported as ``engine_seed`` in the
experiment's metadata, so a seeded run of a random engine is reproducible), ``engine``,
``engine_options`` (a dict), ``method`` (``"statevector"`` or ``"unitary"``), ``device``
(``"cpu" | "gpu" | "auto"``), ``precision`` (``"double"`` or ``"single"``), ``fusion_enable``
(True: runs of gates are fused into dense blocks before simulation, with exact engines — an
approximate engine always sees the circuit's own gates; the experiment's ``fusion`` metadata
says what happened), ``fusion_max_qubit`` (the widest fused block, 1..10) and
``fusion_threshold`` (fuse only circuits of at least this many qubits, default 10); Aer's names
and meaning. ``blocking_enable`` (default True) and ``blocking_qubits`` (2..14; default None:
12 for states of at most 16 qubits, 10 above)
borrow Aer's cache-blocking names for the tile pass: on the CPU with numba, fused
blocks of at most 2 qubits are grouped into tiles of ``blocking_qubits`` qubits, each applied
in one pass over the state; the ``fusion`` metadata reports ``blocking`` and ``passes``.
Without numba, or on a GPU, they have no effect. ``max_parallel_threads`` (Aer's name;
default 0: every core) caps the threads of the compiled CPU kernels of a run; the results do
not depend on it. A keyword that is an option of the chosen engine (e.g. ``ratio=0.2``) joins
``engine_options``; any other unknown keyword warns and is ignored, as with Qiskit's own
simulators; an invalid value raises :class:`~qsim_topo.qiskit.errors.QsimTopoOptionError`.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import numpy as np
from qiskit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.providers.exceptions import QiskitBackendNotFoundError
from qiskit.result import Result
from qiskit.transpiler import Target

from qsim_topo._version import __version__
from qsim_topo.circuit import BranchOp, GateOp, JumpOp, Program, SwitchOp
from qsim_topo.engines.base import MatmulEngine, is_builtin_exact
from qsim_topo.qiskit.convert import circuit_to_program
from qsim_topo.qiskit.errors import (
    QsimTopoCircuitError,
    QsimTopoOptionTypeError,
    option_errors,
    qiskit_errors,
)
from qsim_topo.qiskit.execute import check_program_memory, execute
from qsim_topo.qiskit.job import QsimTopoJob
from qsim_topo.qiskit.options import (
    DEVICES,
    MAX_FUSION_QUBITS,
    OPTION_NAMES,
    PRECISIONS,
    RunConfig,
    engine_option_names,
)
from qsim_topo.qiskit.results import experiment_result, job_result
from qsim_topo.qiskit.target import build_target
from qsim_topo.sim.executor import FUSION_THRESHOLD
from qsim_topo.sim.fusion import DEFAULT_FUSION_MAX_QUBITS
from qsim_topo.sim.kernels import DEFAULT_KERNELS
from qsim_topo.sim.memory import check_shots_memory, shots_bytes, simulation_bytes
from qsim_topo.validation import check_mapping, describe

__all__ = [
    "DEVICES",
    "MAX_FUSION_QUBITS",
    "PRECISIONS",
    "QsimTopoBackend",
    "QsimTopoProvider",
    "RunConfig",
]

# A job within all of these bounds is simulated in the caller's thread: it takes at most a few
# milliseconds, not much more than handing it to a job thread and back costs (two wake-ups:
# 0.2-0.3 ms at best, a few ms on a loaded machine).
INLINE_MAX_QUBITS = 16  # state width (method="unitary" counts 2n)
INLINE_MAX_OPS = 512  # ops over all circuits of the job
INLINE_MAX_WORK = 2**18  # complex multiply-adds of its gates over all circuits (~1 ms)
# The same bound where every circuit runs through the tile kernel (numba, fusion and blocking
# on, at least fusion_threshold qubits), which does several G multiply-adds/s: 16-qubit
# brickwork, depth 20 (2^25.2), executes in ~5-10 ms; inline, 13-16 qubit circuits gained
# 0.3-1 ms a run (minimum of 40, benchmarks/RESULTS.md, issue 23, night session).
INLINE_MAX_TILED_WORK = 2**26
INLINE_MAX_SHOTS = 2**14
_CONTROL_FLOW = (BranchOp, JumpOp, SwitchOp)


def _work(program: Program, unitary: bool) -> int:
    """Complex multiply-adds of the program's gates: 2^k per amplitude for a k-qubit gate."""
    amplitudes = 2 ** (2 * program.n_qubits if unitary else program.n_qubits)
    return sum(
        amplitudes * (len(op.matrix) if isinstance(op, GateOp) else 1) for op in program.ops
    )


def runs_inline(programs: Sequence[Program], config: RunConfig) -> bool:
    """Whether a job is small enough to simulate in the caller's thread.

    True for the CPU with one of qsim_topo's own exact engines
    (:func:`~qsim_topo.engines.base.is_builtin_exact`: a plug-in that declares itself exact
    may still be slow, and would hold up the caller's ``run()``), at most
    ``INLINE_MAX_SHOTS`` shots, and circuits totalling at most ``INLINE_MAX_OPS`` ops and
    ``INLINE_MAX_WORK`` multiply-adds (``INLINE_MAX_TILED_WORK`` when every circuit runs
    through the tile kernel) on states of at most ``INLINE_MAX_QUBITS`` qubits, none with
    mid-circuit measurement or reset (whose branches multiply the work) or control flow (a
    while loop may not end): those always go to the job threads. Even then the job runs
    inline only when its engine is not in use by
    another job (:meth:`~qsim_topo.qiskit.job.QsimTopoJob.try_run_now`).
    """
    if config.device != "cpu" or config.shots > INLINE_MAX_SHOTS:
        return False
    if not is_builtin_exact(config.engine):  # a plug-in's speed is unknown: never in run()
        return False
    unitary = config.method == "unitary"
    width = 2 if unitary else 1
    if sum(len(p.ops) for p in programs) > INLINE_MAX_OPS or not all(
        width * p.n_qubits <= INLINE_MAX_QUBITS
        and not p.is_dynamic
        and not any(isinstance(op, _CONTROL_FLOW) for op in p.ops)
        for p in programs
    ):
        return False
    tiled = (
        not unitary
        and config.fusion_enable
        and config.blocking_enable
        and DEFAULT_KERNELS.tiles_available("cpu")
        and all(p.n_qubits >= config.fusion_threshold for p in programs)
    )
    limit = INLINE_MAX_TILED_WORK if tiled else INLINE_MAX_WORK
    return sum(_work(p, unitary) for p in programs) <= limit


def _job_bytes(programs: Sequence[Program], config: RunConfig) -> int:
    """Estimated peak bytes of a job: its widest simulation and all its shots' results."""
    widest = max(
        (
            simulation_bytes(
                p.n_qubits, config.dtype, unitary=p.method == "unitary", inplace=config.engine.exact
            )
            for p in programs
            if p.n_qubits <= 60
        ),
        default=0,
    )
    clbits = max((p.n_clbits for p in programs), default=0)
    return widest + len(programs) * shots_bytes(config.shots, clbits, memory=config.memory)


class QsimTopoBackend(BackendV2):
    """A state-vector / unitary simulator whose every matrix product goes through an engine.

    Args:
        engine: engine name (see ``qsim-topo engines``) or a MatmulEngine instance.
        method: ``"statevector"`` (counts, memory, final state) or ``"unitary"`` (the circuit's
            unitary in ``result.get_unitary``).
        device: ``"cpu"``, ``"gpu"`` or ``"auto"`` (GPU when cupy sees one).
        precision: ``"double"`` (complex128) or ``"single"`` (complex64).
        name: the backend's name.
        provider: the provider that made it, if any.
        **engine_options: options of the engine (e.g. ``ratio=0.2``); a run option's name
            (``shots``, ``fusion_enable``, ...) sets that run option instead.

    Raises:
        QsimTopoOptionError: an unknown engine, a bad engine option or option value.
    """

    def __init__(
        self,
        engine: str | MatmulEngine = "exact",
        method: str = "statevector",
        device: str = "auto",
        precision: str = "double",
        *,
        name: str = "qsim_topo",
        provider: Any = None,
        **engine_options: Any,
    ) -> None:
        super().__init__(
            provider=provider,
            name=name,
            description="qsim_topo: state-vector simulation through pluggable matmul engines",
            backend_version=__version__,
        )
        self._target: Target | None = None
        run_options = {k: engine_options.pop(k) for k in list(engine_options) if k in OPTION_NAMES}
        # engine_options=... given by name: its entries join the engine options given one by one.
        explicit = run_options.pop("engine_options", None)
        with option_errors():
            explicit = check_mapping("engine_options", explicit)
        self.set_options(
            engine=engine,
            method=method,
            device=device,
            precision=precision,
            engine_options={**explicit, **engine_options},
            **run_options,
        )

    @classmethod
    def _default_options(cls) -> Options:
        return Options(
            shots=1024,
            memory=False,
            seed_simulator=None,
            engine="exact",
            engine_options={},
            method="statevector",
            device="auto",
            precision="double",
            fusion_enable=True,
            fusion_max_qubit=DEFAULT_FUSION_MAX_QUBITS,
            fusion_threshold=FUSION_THRESHOLD,
            blocking_enable=True,
            blocking_qubits=None,
            max_parallel_threads=0,
        )

    @property
    def target(self) -> Target:
        """The Target: every standard gate, unitary, measure, reset, delay, barrier, store.

        Control flow and the save instructions too; all on any qubits, without a coupling map.
        """
        if self._target is None:
            self._target = build_target()
        return self._target

    @property
    def max_circuits(self) -> None:
        """No limit on circuits per job."""
        return None

    # ------------------------------------------------------------------ options
    def _merged_options(self, overrides: dict[str, Any], *, stacklevel: int) -> dict[str, Any]:
        """The backend's options updated with ``overrides`` (None: keep the default)."""
        current = {k: self.options[k] for k in self.options}
        engine = overrides.get("engine")
        if engine is not None and not isinstance(engine, (str, MatmulEngine)):
            raise QsimTopoOptionTypeError(
                f"engine must be an engine name or a MatmulEngine, got {describe(engine)}"
            )
        engine_changed = engine is not None and engine != current["engine"]
        if engine_changed:
            current["engine"] = engine
            current["engine_options"] = {}
        engine_opts = dict(current["engine_options"] or {})
        option_names = engine_option_names(current["engine"])
        for key, value in overrides.items():
            if key == "engine":
                continue
            if key == "engine_options":
                with option_errors():
                    engine_opts.update(check_mapping("engine_options", value))
            elif key in OPTION_NAMES:
                if value is not None:
                    current[key] = value
            elif key in option_names:
                engine_opts[key] = value
            else:
                warnings.warn(
                    f"Option {key} is not used by this backend", UserWarning, stacklevel=stacklevel
                )
        current["engine_options"] = engine_opts
        return current

    def set_options(self, **fields: Any) -> None:
        """Update the default options (validated; engine options may be given by name)."""
        merged = self._merged_options(fields, stacklevel=3)
        config = RunConfig(merged)  # raises on an invalid value
        del config
        self._options.update_options(**merged)

    # ------------------------------------------------------------------ running
    def run_config(self, **options: Any) -> RunConfig:
        """The validated configuration of a run with ``options`` over the backend's defaults.

        Raises:
            QsimTopoOptionError: an invalid value, an unknown engine or engine option.
        """
        return RunConfig(self._merged_options(options, stacklevel=4))

    def _prepare(
        self, run_input: QuantumCircuit | Sequence[QuantumCircuit], config: RunConfig
    ) -> tuple[list[QuantumCircuit], list[Program]]:
        if isinstance(run_input, QuantumCircuit):
            circuits = [run_input]
        elif isinstance(run_input, (str, bytes)) or not isinstance(run_input, Iterable):
            raise QsimTopoCircuitError(  # list() raised "... object is not iterable"
                "run_input must be a QuantumCircuit or a list of them, got "
                f"{type(run_input).__name__}"
            )
        else:
            circuits = list(run_input)
        for c in circuits:
            if not isinstance(c, QuantumCircuit):
                raise QsimTopoCircuitError(
                    f"the backend runs QuantumCircuits, got {type(c).__name__}"
                )
        programs = [circuit_to_program(c, config.method) for c in circuits]
        for p in programs:
            check_program_memory(
                p, config.device, config.dtype, inplace=config.engine.exact, widen_final=True
            )
        if programs:  # every experiment keeps its counts (and memory) in the Result
            with qiskit_errors():
                check_shots_memory(
                    config.shots,
                    max(p.n_clbits for p in programs),
                    memory=config.memory,
                    experiments=len(programs),
                    what=f"a job of {len(programs)} circuit(s)",
                )
        return circuits, programs

    def run(
        self, run_input: QuantumCircuit | Sequence[QuantumCircuit], **options: Any
    ) -> QsimTopoJob:
        """Validate and convert the circuits now, then simulate them in a job thread.

        Args:
            run_input: a circuit or a list of circuits, all parameters bound.
            **options: run options overriding the backend's (see the module docstring).

        Returns:
            A submitted :class:`~qsim_topo.qiskit.job.QsimTopoJob` (already finished when
            :func:`runs_inline` holds and no other job was queued or running);
            ``job.result()`` is a
            ``qiskit.result.Result`` with one experiment per circuit, in order.

        Raises:
            QsimTopoOptionError: an invalid option value.
            QsimTopoCircuitError: a circuit that cannot run (unbound parameters, unsupported
                instruction, non-unitary matrix, too wide for memory).
        """
        config = self.run_config(**options)
        circuits, programs = self._prepare(run_input, config)
        base_seed = config.seed_simulator
        if base_seed is None:
            base_seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])

        def simulate(job_id: str, check_cancelled: Callable[[], None]) -> Result:
            start = time.perf_counter()
            experiments = []
            for i, (circuit, program) in enumerate(zip(circuits, programs, strict=True)):
                check_cancelled()  # a cancelled job stops between circuits
                seed = base_seed + i
                engine, engine_seed = config.seeded_engine(seed)
                run = execute(
                    program,
                    engine,
                    shots=config.shots,
                    seed=seed,
                    # results hold Statevector / Operator: complex128 whatever the precision
                    widen_final=True,
                    **config.execute_options(),
                )
                experiments.append(
                    experiment_result(
                        circuit,
                        program,
                        run,
                        shots=config.shots,
                        memory=config.memory,
                        seed=seed,
                        metadata={**config.report(), "engine_seed": engine_seed},
                    )
                )
            return job_result(
                experiments,
                backend_name=self.name,
                backend_version=self.backend_version,
                job_id=job_id,
                time_taken=time.perf_counter() - start,
                metadata={"engine": config.engine.name, "device": config.device},
            )

        job = QsimTopoJob(
            self,
            str(uuid.uuid4()),
            simulate,
            engine=config.engine,
            device=config.device,
            memory_bytes=_job_bytes(programs, config),
        )
        if not (runs_inline(programs, config) and job.try_run_now()):
            job.submit()
        return job


class QsimTopoProvider:
    """Hands out qsim_topo backends by name (Qiskit 2 has no provider base class).

    ``"qsim_topo"`` is the default (state vector); ``"qsim_topo_unitary"`` uses
    ``method="unitary"``. Keyword arguments of :meth:`get_backend` go to the backend.
    """

    _BACKENDS: ClassVar[dict[str, dict[str, Any]]] = {
        "qsim_topo": {},
        "qsim_topo_unitary": {"method": "unitary"},
    }

    def backends(self, name: str | None = None, **kwargs: Any) -> list[QsimTopoBackend]:
        """Backends whose name is ``name`` (all when None), built with ``kwargs``."""
        names = [n for n in self._BACKENDS if name is None or n == name]
        return [self._make(n, kwargs) for n in names]

    def get_backend(self, name: str | None = None, **kwargs: Any) -> QsimTopoBackend:
        """The backend called ``name`` (default ``"qsim_topo"``).

        Raises:
            QiskitBackendNotFoundError: no backend has that name.
        """
        name = "qsim_topo" if name is None else name
        if name not in self._BACKENDS:
            raise QiskitBackendNotFoundError(
                f"no qsim_topo backend named {name!r}; available: {', '.join(self._BACKENDS)}"
            )
        return self._make(name, kwargs)

    def _make(self, name: str, kwargs: dict[str, Any]) -> QsimTopoBackend:
        options = {**self._BACKENDS[name], **kwargs}
        return QsimTopoBackend(name=name, provider=self, **options)

    def __repr__(self) -> str:
        return "QsimTopoProvider()"
