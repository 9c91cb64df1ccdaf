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
from qsim_topo.errors import ArgumentTypeError, QsimTopoError
from qsim_topo.qiskit.errors import QsimTopoOptionError, option_errors
from qsim_topo.sim.memory import MAX_SHOTS
from qsim_topo.sim.paths import execution_path
from qsim_topo.validation import (
    check_bool,
    check_choice,
    check_int,
    check_mapping,
    check_seed,
    describe,
)
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
    """The boolean option ``name``."""
    return check_bool(name, values[name])


def _integer(values: dict[str, Any], name: str, low: int, high: int | None = None) -> int:
    """The integer option ``name`` in low..high (``high`` None: unbounded)."""
    return check_int(name, values[name], min=low, max=high)


class RunConfig:
    """Validated options of one run.

    Attributes:
        shots, memory, seed_simulator, method, device (resolved: ``"cpu"`` or ``"gpu"``),
        precision, dtype, engine_name, engine_options, engine (a built engine instance).

    Raises:
        QsimTopoOptionTypeError: an option of the wrong type (also a ``TypeError``).
        QsimTopoOptionError: an option value not allowed, an unknown engine or engine option.
    """

    def __init__(self, values: dict[str, Any]) -> None:
        with option_errors():
            self._validate(values)

    def _validate(self, values: dict[str, Any]) -> None:
        self.shots = check_int("shots", values["shots"], min=1, max=MAX_SHOTS)
        self.memory = check_bool("memory", values["memory"])
        self.seed_simulator: int | None = check_seed("seed_simulator", values["seed_simulator"])
        self.method = str(check_choice("method", values["method"], METHODS))
        self.device = resolve_device(check_choice("device", values["device"], DEVICES))
        self.precision = str(check_choice("precision", values["precision"], tuple(PRECISIONS)))
        self.dtype = np.dtype(PRECISIONS[self.precision])
        self.fusion_enable = _flag(values, "fusion_enable")
        self.fusion_max_qubit = _integer(values, "fusion_max_qubit", 1, MAX_FUSION_QUBITS)
        self.fusion_threshold = _integer(values, "fusion_threshold", 1)
        self.blocking_enable = _flag(values, "blocking_enable")
        self.blocking_qubits: int | None = (
            None
            if values["blocking_qubits"] is None
            else _integer(values, "blocking_qubits", 2, MAX_BLOCKING_QUBITS)
        )
        self.max_parallel_threads = _integer(
            values, "max_parallel_threads", 0, MAX_PARALLEL_THREADS
        )
        engine = values["engine"]
        self.engine_options = check_mapping("engine_options", values["engine_options"])
        if not isinstance(engine, (str, MatmulEngine)):
            raise ArgumentTypeError(
                f"engine must be an engine name or a MatmulEngine, got {describe(engine)}"
            )
        self.engine_name = engine if isinstance(engine, str) else engine.name
        self.engine: MatmulEngine = resolve_engine(engine, **self.engine_options)

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
