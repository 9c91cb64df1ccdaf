"""Chains: the unit of work of a sweep, one (qubits, kind, engine, seed) measured at depths.

A chain accumulates its layers once and yields one store row per depth as soon as it is
measured; a failure becomes ``failed`` rows for the depths not yet measured.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from qsim_topo.engines.spec import parse_engine_spec
from qsim_topo.experiments.layer_stack import (
    CONVENTION,
    LayerStackConfig,
    run_layer_stack_config,
)
from qsim_topo.experiments.state_chain import (
    COLUMN_BLOCK,
    STATE_CONVENTION,
    StateChainConfig,
    iter_state_chain,
    make_state_family,
)

__all__ = ["ChainTask", "experiment_key", "failed_row", "run_chain", "run_chain_to_list"]


@dataclass(frozen=True)
class ChainTask:
    """One chain: a configuration and seed, measured at ``depths`` (ascending)."""

    qubits: int
    kind: str
    mode: str
    engine: str  # canonical spec
    seed: int
    depths: tuple[int, ...]
    samples: int
    haar_states: int
    device: str  # resolved: "cpu" or "gpu"
    dtype: str
    circuit: str | None = None  # state mode, kind "circuit": the QASM file
    circuit_sha256: str | None = None  # of its bytes (in the key: an edited file is new)

    def config(self, depth: int) -> dict[str, Any]:
        """The full configuration of the experiment at ``depth`` (what its key hashes).

        It includes the layer-stack convention, so rows measured under another convention
        (such as the former P_0 = I) are not taken for this one's. State-mode rows carry the
        state convention, the column block and, for a circuit file, its sha256 (the keys of
        the other modes are unchanged).
        """
        name, options = parse_engine_spec(self.engine)
        extra: dict[str, Any] = {}
        if self.mode == "state":
            extra = {"convention": STATE_CONVENTION, "column_block": COLUMN_BLOCK}
            if self.circuit_sha256 is not None:
                extra["circuit_sha256"] = self.circuit_sha256
        config = {
            "convention": CONVENTION,
            "qubits": self.qubits,
            "depth": depth,
            "kind": self.kind,
            "mode": self.mode,
            "engine": name,
            "engine_spec": self.engine,
            "engine_options": options,
            "seed": self.seed,
            "samples": self.samples,
            "haar_states": self.haar_states,
            "device": self.device,
            "dtype": self.dtype,
            **extra,
        }
        if self.mode == "state":
            # State chains draw no Haar probe states: the option must not split their keys.
            del config["haar_states"]
        return config


def experiment_key(config: dict[str, Any]) -> str:
    """A stable hash of an experiment's configuration (the store's row key)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_chain(task: ChainTask) -> Iterator[dict[str, Any]]:
    """Run one chain and yield one row per depth, as soon as each is measured.

    A random engine without an explicit ``seed`` option gets a seed derived one-way from the
    experiment's (never the experiment seed itself, from which the measurement draws
    derive), so every row is reproducible. An exception is recorded in a ``failed`` row for
    each depth not yet measured; it does not propagate, so the sweep goes on.
    """
    name, options = parse_engine_spec(task.engine)
    done: set[int] = set()
    try:
        if task.mode == "state":
            yield from _state_rows(task, name, options, done)
            return
        config = LayerStackConfig(
            task.qubits,
            kind=task.kind,
            mode=task.mode,
            engine=name,
            engine_options=options,
            seed=task.seed,
            samples=task.samples,
            haar_states=task.haar_states,
            device=task.device,
            dtype=task.dtype,
        )
        for report in run_layer_stack_config(config, task.depths):
            done.add(report.depth)
            yield _ok_row(task, report.depth, report.to_dict())
    except Exception as exc:  # recorded, never lost: the sweep goes on
        message = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
        for depth in task.depths:
            if depth not in done:
                yield failed_row(task, depth, message)


def _state_rows(
    task: ChainTask, name: str, options: dict[str, Any], done: set[int]
) -> Iterator[dict[str, Any]]:
    """The rows of a state-mode chain (:mod:`qsim_topo.experiments.state_chain`)."""
    config = StateChainConfig(
        task.qubits,
        kind=task.kind,
        engine=name,
        engine_options=options,
        seed=task.seed,
        samples=task.samples,
        device=task.device,
        dtype=task.dtype,
    )
    family = make_state_family(task.kind, task.qubits, task.seed, task.circuit)
    for report in iter_state_chain(config, task.depths, family):
        done.add(report.depth)
        yield _ok_row(task, report.depth, report.to_dict(), circuit=task.circuit)


def _ok_row(task: ChainTask, depth: int, result: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The ``ok`` store row of ``task`` at ``depth`` from a report's ``to_dict()``."""
    result["engine_options_resolved"] = result.pop("engine_options")
    row_config = task.config(depth)
    return {
        "key": experiment_key(row_config),
        "status": "ok",
        "error": None,
        "finished_at": _now(),
        **extra,
        **result,
        **row_config,
    }


def failed_row(task: ChainTask, depth: int, message: str) -> dict[str, Any]:
    """The ``failed`` store row of ``task`` at ``depth``, with ``message`` as its error."""
    config = task.config(depth)
    return {
        "key": experiment_key(config),
        "status": "failed",
        "error": message,
        "finished_at": _now(),
        **config,
    }


def run_chain_to_list(task: ChainTask) -> list[dict[str, Any]]:
    """All rows of a chain at once (for executors that return whole results)."""
    return list(run_chain(task))
