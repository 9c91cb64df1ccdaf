"""The layer-stack experiment: accumulate P_D = L_D ... L_1 P_0 with an engine and measure it.

P_0 is a Haar-random unitary and P_k = engine(L_k, P_{k-1}) (see
:mod:`qsim_topo.experiments.products`): depth D means D layers, so D engine products in dense
mode (each layer a (2^n, 2^n) matrix), or one product per gate in gate mode, every one of them
with two Haar-random operands. The same layers are accumulated by a separate exact engine,
the only source of the reference. The state is column 0 of P_D, that is P_D applied to
|0...0>.

The engine under test never sees the experiment seed: a random engine built by name without
a ``seed`` option gets a one-way derived seed of its own, and the probe states and sampled
bitstrings come from streams keyed by the experiment seed and a digest of the engine's output
(:mod:`qsim_topo.experiments.seeds`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qsim_topo.engines.base import (
    CheckedEngine,
    MatmulEngine,
    describe_engine,
    resolve_engine,
)
from qsim_topo.errors import ArgumentTypeError, InvalidArgumentError
from qsim_topo.experiments import seeds
from qsim_topo.experiments.measure import CONVENTION as CONVENTION
from qsim_topo.experiments.measure import LayerStackReport as LayerStackReport
from qsim_topo.experiments.measure import measure_products
from qsim_topo.experiments.products import LayerStackProducts as LayerStackProducts
from qsim_topo.experiments.products import accumulate_layer_stack as accumulate_layer_stack
from qsim_topo.experiments.products import iter_layer_products as iter_layer_products
from qsim_topo.experiments.products import layer_stack_bytes as layer_stack_bytes
from qsim_topo.layers import LAYER_KINDS
from qsim_topo.validation import (
    check_choice,
    check_int,
    check_int_sequence,
    check_mapping,
    check_seed,
    describe,
)
from qsim_topo.xp import check_memory, resolve_device

__all__ = [
    "CONVENTION",
    "MODES",
    "LayerStackConfig",
    "LayerStackProducts",
    "LayerStackReport",
    "accumulate_layer_stack",
    "iter_layer_products",
    "iter_layer_stack",
    "layer_stack_bytes",
    "measurement_bytes",
    "run_layer_stack",
    "run_layer_stack_config",
]

MODES = ("dense", "gate")
DEVICES = ("cpu", "gpu", "auto")
# Absolute caps, far beyond what memory allows, so that absurd values are refused with a
# clear message before any size arithmetic: 4**30 amplitudes is 16 EiB of complex128.
MAX_QUBITS = 30
MAX_DEPTH = 10**6
MAX_SAMPLES = 10**9
MAX_HAAR_STATES = 10**6


@dataclass(frozen=True)
class LayerStackConfig:
    """Every option of one layer-stack run but its depths, validated on construction.

    Attributes:
        qubits: n; the products are (2^n, 2^n).
        kind: ``"dense"`` (one Haar unitary on all qubits per layer) or ``"brickwork"``.
        engine: name or instance of the engine under test.
        engine_options: options to build ``engine`` by name. A random engine (one with a
            ``seed`` option) built by name without one gets ``derive_seed(seed, "engine")``.
        seed: seeds the layers; P_0, the probe states and the sampling come from streams
            derived from it (never handed to the engine).
        samples: bitstrings drawn for the XEB.
        haar_states: random input states for the Haar-input fidelity.
        device: ``"cpu" | "gpu" | "auto"``; resolved to ``"cpu"`` or ``"gpu"``.
        dtype: complex64 or complex128: the engine's products (the reference is complex128).
        mode: ``"dense"`` (a layer = one (2^n, 2^n) product) or ``"gate"`` (one product per
            gate). None: dense for dense layers, gate for brickwork; resolved on construction.

    Raises:
        QsimTopoError: a bad value (checked before anything is allocated).
    """

    qubits: int
    kind: str = "dense"
    engine: str | MatmulEngine = "exact"
    engine_options: Mapping[str, Any] | None = field(default_factory=dict)
    seed: int | None = 0
    samples: int = 1000
    haar_states: int = 16
    device: str = "cpu"
    dtype: Any = np.complex128
    mode: str | None = None

    def __post_init__(self) -> None:
        kind = check_choice("kind", self.kind, LAYER_KINDS)
        object.__setattr__(self, "kind", kind)
        mode = "dense" if kind == "dense" else "gate"
        if self.mode is not None:
            mode = check_choice("mode", self.mode, MODES)
        object.__setattr__(self, "mode", mode)
        min_qubits = 2 if kind == "brickwork" else 1
        object.__setattr__(self, "qubits", check_int("qubits", self.qubits, min=min_qubits,
                                                     max=MAX_QUBITS))
        object.__setattr__(self, "samples", check_int("samples", self.samples, min=1,
                                                      max=MAX_SAMPLES))
        object.__setattr__(self, "haar_states", check_int("haar_states", self.haar_states,
                                                          min=1, max=MAX_HAAR_STATES))
        object.__setattr__(self, "seed", check_seed("seed", self.seed))
        if not isinstance(self.engine, (str, MatmulEngine)):
            raise ArgumentTypeError(
                f"engine must be an engine name or a MatmulEngine, got {describe(self.engine)}"
            )
        try:
            dt = np.dtype(self.dtype)
        except TypeError:
            dt = None
        if dt not in (np.dtype(np.complex64), np.dtype(np.complex128)):
            raise InvalidArgumentError(
                f"dtype must be complex64 or complex128, got {describe(self.dtype)}"
            )
        object.__setattr__(self, "dtype", dt)
        check_choice("device", self.device, DEVICES)
        object.__setattr__(self, "device", resolve_device(self.device))
        object.__setattr__(
            self, "engine_options", check_mapping("engine_options", self.engine_options)
        )

    def build_engine(self) -> MatmulEngine:
        """The engine under test; a random engine named without a seed gets a derived one."""
        options = dict(self.engine_options or {})
        if (
            isinstance(self.engine, str)
            and "seed" not in options
            and "seed" in describe_engine(self.engine).options
        ):
            options["seed"] = seeds.derive_seed(self.seed, seeds.ENGINE)
        return resolve_engine(self.engine, **options)


def run_layer_stack(
    qubits: int,
    depth: int,
    *,
    kind: str = "dense",
    engine: str | MatmulEngine = "exact",
    engine_options: dict[str, Any] | None = None,
    seed: int | None = 0,
    samples: int = 1000,
    haar_states: int = 16,
    device: str = "cpu",
    dtype: Any = np.complex128,
    mode: str | None = None,
) -> LayerStackReport:
    """Run the layer-stack experiment and return its report.

    Args:
        qubits: n; the products are (2^n, 2^n).
        depth: D, the number of layers (D engine products in dense mode).
        kind: ``"dense"`` or ``"brickwork"`` layers.
        engine: name or instance of the engine under test.
        engine_options: options to build ``engine`` by name (a random engine without a
            ``seed`` gets one derived from ``seed``, never ``seed`` itself).
        seed: the experiment seed (layers; P_0, probes and sampling through derived streams).
        samples: bitstrings drawn for the XEB.
        haar_states: random input states for the Haar-input fidelity.
        device: ``"cpu" | "gpu" | "auto"``.
        dtype: complex64 or complex128: the engine's products (the reference is complex128).
        mode: ``"dense"`` or ``"gate"`` products (default: by ``kind``).

    See :class:`LayerStackConfig` for the details.

    Raises:
        QsimTopoError (and subclasses): bad arguments, unknown engine or options, or a size
            that would not fit in memory (checked before any allocation).
    """
    depth = check_int("depth", depth, min=1, max=MAX_DEPTH)
    return next(
        iter_layer_stack(
            qubits,
            [depth],
            kind=kind,
            engine=engine,
            engine_options=engine_options,
            seed=seed,
            samples=samples,
            haar_states=haar_states,
            device=device,
            dtype=dtype,
            mode=mode,
        )
    )


def iter_layer_stack(
    qubits: int,
    depths: Sequence[int],
    *,
    kind: str = "dense",
    engine: str | MatmulEngine = "exact",
    engine_options: dict[str, Any] | None = None,
    seed: int | None = 0,
    samples: int = 1000,
    haar_states: int = 16,
    device: str = "cpu",
    dtype: Any = np.complex128,
    mode: str | None = None,
) -> Iterator[LayerStackReport]:
    """Yield one report per depth of ``depths`` (ascending), all from one chain of layers.

    Arguments as in :func:`run_layer_stack`; see :func:`run_layer_stack_config`.
    """
    config = LayerStackConfig(
        qubits,
        kind=kind,
        engine=engine,
        engine_options=engine_options,
        seed=seed,
        samples=samples,
        haar_states=haar_states,
        device=device,
        dtype=dtype,
        mode=mode,
    )
    return run_layer_stack_config(config, depths)


def run_layer_stack_config(
    config: LayerStackConfig, depths: Sequence[int]
) -> Iterator[LayerStackReport]:
    """Yield one report per depth of ``depths`` (ascending), all from one chain of layers.

    Deeper depths reuse the shallower prefix: the stack is accumulated once up to the largest
    depth, and measured on the way. Each report equals what :func:`run_layer_stack` gives for
    that depth alone (same layers, same engine randomness, same measurement draws); its times,
    calls and flops fraction count the products up to that depth. The depths, the engine and
    the memory are checked before the first layer is made (eagerly, at this call).

    Raises:
        QsimTopoError (and subclasses): as :func:`run_layer_stack`.
    """
    if not isinstance(config, LayerStackConfig):
        raise ArgumentTypeError(f"config must be a LayerStackConfig, got {describe(config)}")
    wanted = sorted(set(check_int_sequence("depth", depths, min=1, max=MAX_DEPTH)))
    check_memory(
        layer_stack_bytes(config.qubits, config.kind, str(config.mode), config.dtype)
        + measurement_bytes(config.qubits, config.samples, config.haar_states),
        config.device,
        f"a {config.qubits}-qubit {config.kind} layer stack (two {2**config.qubits}x"
        f"{2**config.qubits} products, {config.samples} samples, {config.haar_states} "
        "Haar probe states)",
    )
    under_test = CheckedEngine(config.build_engine())
    return _run(config, wanted, under_test)


def measurement_bytes(qubits: int, samples: int, haar_states: int) -> int:
    """Bytes the measurement adds at its peak: the samples and the Haar probe states.

    Drawing ``samples`` indices takes about three 8-byte arrays of that length; the probes are
    ``haar_states`` complex128 states of 2^n amplitudes, about four such blocks at once.
    """
    return 24 * samples + 4 * 16 * haar_states * 2**qubits


def _run(
    config: LayerStackConfig, wanted: list[int], under_test: CheckedEngine
) -> Iterator[LayerStackReport]:
    for products in iter_layer_products(
        config.qubits,
        wanted,
        kind=config.kind,
        mode=str(config.mode),
        engine=under_test,
        seed=config.seed,
        device=config.device,
        dtype=config.dtype,
    ):
        yield measure_products(products, under_test, config)


