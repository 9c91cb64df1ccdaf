"""Run options of the backend: validated once per run into a :class:`RunConfig`.

The option names and meanings are Qiskit Aer's where Aer has them (``shots``, ``memory``,
``seed_simulator``, ``method``, ``device``, ``precision``, ``fusion_enable``,
``fusion_max_qubit``, ``fusion_threshold``, ``blocking_enable``, ``blocking_qubits``: those two
drive the core's tile pass; ``max_parallel_threads``, 0 for every core); ``engine`` and
``engine_options`` are ours. A bad value is a
:class:`~qsim_topo.qiskit.errors.QsimTopoOptionError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qsim_topo.circuit import METHODS
from qsim_topo.engines.base import MatmulEngine, describe_engine, resolve_engine
from qsim_topo.errors import QsimTopoError
from qsim_topo.qiskit.errors import QsimTopoOptionError
from qsim_topo.sim.paths import execution_path
from qsim_topo.xp import resolve_device

__all__ = [
    "DEVICES",
    "MAX_BLOCKING_QUBITS",
    "MAX_FUSION_QUBITS",
    "MAX_SHOTS",
    "OPTION_NAMES",
    "PRECISIONS",
    "RunConfig",
    "engine_option_names",
]

DEVICES = ("cpu", "gpu", "auto")
PRECISIONS = {"double": np.complex128, "single": np.complex64}
MAX_SHOTS = 10**9
OPTION_NAMES = (
    "shots",
    "memory",
    "seed_simulator",
    "engine",
    "engine_options",
    "method",
    "device",
    "precision",
    "fusion_enable",
    "fusion_max_qubit",
    "fusion_threshold",
    "blocking_enable",
    "blocking_qubits",
    "max_parallel_threads",
)
MAX_FUSION_QUBITS = 10
MAX_BLOCKING_QUBITS = 14
MAX_PARALLEL_THREADS = 4096


def _flag(values: dict[str, Any], name: str) -> bool:
    """The boolean option ``name``; QsimTopoOptionError for anything but a bool."""
    value = values[name]
    if not isinstance(value, (bool, np.bool_)):
        raise QsimTopoOptionError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _integer(values: dict[str, Any], name: str, low: int, high: int | None = None) -> int:
    """The integer option ``name`` in low..high; with ``high`` None, low is 1 (positive)."""
    value = values[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < low
        or (high is not None and value > high)
    ):
        want = f"an integer in {low}..{high}" if high is not None else "a positive integer"
        raise QsimTopoOptionError(f"{name} must be {want}, got {value!r}")
    return int(value)


class RunConfig:
    """Validated options of one run.

    Attributes:
        shots, memory, seed_simulator, method, device (resolved: ``"cpu"`` or ``"gpu"``),
        precision, dtype, engine_name, engine_options, engine (a built engine instance).
    """

    def __init__(self, values: dict[str, Any]) -> None:
        shots = values["shots"]
        if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)):
            raise QsimTopoOptionError(f"shots must be an integer, got {shots!r}")
        if not 1 <= int(shots) <= MAX_SHOTS:
            raise QsimTopoOptionError(f"shots must be in 1..{MAX_SHOTS}, got {shots}")
        self.shots = int(shots)
        if not isinstance(values["memory"], (bool, np.bool_)):
            raise QsimTopoOptionError(f"memory must be True or False, got {values['memory']!r}")
        self.memory = bool(values["memory"])
        seed = values["seed_simulator"]
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise QsimTopoOptionError(
                    f"seed_simulator must be a non-negative integer or None, got {seed!r}"
                )
            seed = int(seed)
        self.seed_simulator: int | None = seed
        if values["method"] not in METHODS:
            raise QsimTopoOptionError(
                f"method must be one of {', '.join(METHODS)}, got {values['method']!r}"
            )
        self.method = str(values["method"])
        if values["device"] not in DEVICES:
            raise QsimTopoOptionError(
                f"device must be one of {', '.join(DEVICES)}, got {values['device']!r}"
            )
        try:
            self.device = resolve_device(values["device"])
        except QsimTopoError as exc:
            raise QsimTopoOptionError(str(exc)) from exc
        if values["precision"] not in PRECISIONS:
            raise QsimTopoOptionError(
                f"precision must be 'double' or 'single', got {values['precision']!r}"
            )
        self.precision = str(values["precision"])
        self.dtype = np.dtype(PRECISIONS[self.precision])
        self.fusion_enable = _flag(values, "fusion_enable")
        self.fusion_max_qubit = _integer(values, "fusion_max_qubit", 1, MAX_FUSION_QUBITS)
        self.fusion_threshold = _integer(values, "fusion_threshold", 1)
        self.blocking_enable = _flag(values, "blocking_enable")
        self.blocking_qubits = _integer(values, "blocking_qubits", 2, MAX_BLOCKING_QUBITS)
        self.max_parallel_threads = _integer(
            values, "max_parallel_threads", 0, MAX_PARALLEL_THREADS
        )
        engine = values["engine"]
        engine_options = values["engine_options"]
        if engine_options is None:
            engine_options = {}
        if not isinstance(engine_options, dict):
            raise QsimTopoOptionError(f"engine_options must be a dict, got {engine_options!r}")
        self.engine_options = dict(engine_options)
        if not isinstance(engine, (str, MatmulEngine)):
            raise QsimTopoOptionError(f"engine must be a name or a MatmulEngine, got {engine!r}")
        self.engine_name = engine if isinstance(engine, str) else engine.name
        try:
            self.engine: MatmulEngine = resolve_engine(engine, **self.engine_options)
        except QsimTopoError as exc:
            raise QsimTopoOptionError(str(exc)) from exc

    def execute_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~qsim_topo.sim.executor.execute` set by these options.

        Aer's ``blocking_*`` names become the executor's ``tiles`` and ``tile_qubits``,
        ``max_parallel_threads`` its ``max_threads``.
        """
        return {
            "device": self.device,
            "dtype": self.dtype,
            "fusion": self.fusion_enable,
            "fusion_max_qubits": self.fusion_max_qubit,
            "fusion_threshold": self.fusion_threshold,
            "tiles": self.blocking_enable,
            "tile_qubits": self.blocking_qubits,
            "max_threads": self.max_parallel_threads,
        }

    def report(self) -> dict[str, Any]:
        """The options that go into each experiment's metadata."""
        return {"method": self.method, "device": self.device, "precision": self.precision,
                "execution_path": execution_path(self.device)}

    @property
    def derives_engine_seed(self) -> bool:
        """True when the engine takes a ``seed`` option and none was given explicitly.

        Such an engine is rebuilt per run with a seed derived from the run's seed
        (:meth:`seeded_engine`), so that a seeded run is reproducible end to end.
        """
        if not isinstance(self.engine_name, str) or self.engine_options.get("seed") is not None:
            return False
        return "seed" in engine_option_names(self.engine_name)

    def seeded_engine(self, seed: int) -> tuple[MatmulEngine, int | None]:
        """The engine for a run whose seed is ``seed``, and the engine seed it was given.

        When :attr:`derives_engine_seed`, a new engine built with ``seed=seed``; otherwise the
        configured engine and its own seed option (None when it has none or it is unset).
        """
        if not self.derives_engine_seed:
            own = self.engine_options.get("seed")
            return self.engine, int(own) if isinstance(own, (int, np.integer)) else None
        seed = int(seed) % 2**63
        try:
            engine = resolve_engine(self.engine_name, **{**self.engine_options, "seed": seed})
        except QsimTopoError as exc:
            raise QsimTopoOptionError(str(exc)) from exc
        return engine, seed


def engine_option_names(engine: Any) -> set[str]:
    """The options the engine called ``engine`` takes (empty for an instance or unknown name)."""
    if not isinstance(engine, str):
        return set()
    try:
        info = describe_engine(engine)
    except QsimTopoError:  # an unknown name: RunConfig reports it with the valid names
        return set()
    return set(info.options) if info.error is None else set()
