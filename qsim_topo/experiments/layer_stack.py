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

import math
import platform
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from qsim_topo import metrics
from qsim_topo._version import __version__
from qsim_topo.engines.base import (
    CheckedEngine,
    MatmulEngine,
    describe_engine,
    options_for_report,
    resolve_engine,
)
from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments import seeds
from qsim_topo.experiments.diagnostics import diagnose
from qsim_topo.experiments.products import LayerStackProducts as LayerStackProducts
from qsim_topo.experiments.products import accumulate_layer_stack as accumulate_layer_stack
from qsim_topo.experiments.products import iter_layer_products as iter_layer_products
from qsim_topo.experiments.products import layer_stack_bytes as layer_stack_bytes
from qsim_topo.layers import LAYER_KINDS
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
    "run_layer_stack",
    "run_layer_stack_config",
]

MODES = ("dense", "gate")
#: How the stack is built and depth counted, recorded in every report and sweep row.
CONVENTION = "P0=haar; P_k=engine(L_k,P_k-1); depth=layers"


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
    engine_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = 0
    samples: int = 1000
    haar_states: int = 16
    device: str = "cpu"
    dtype: Any = np.complex128
    mode: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise QsimTopoError(
                f"unknown kind {self.kind!r}; expected one of {', '.join(LAYER_KINDS)}"
            )
        mode = self.mode or ("dense" if self.kind == "dense" else "gate")
        if mode not in MODES:
            raise QsimTopoError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        object.__setattr__(self, "mode", mode)
        min_qubits = 2 if self.kind == "brickwork" else 1
        if self.qubits < min_qubits or self.samples < 1 or self.haar_states < 1:
            raise QsimTopoError(
                f"need qubits >= {min_qubits}, samples >= 1 and haar_states >= 1; got "
                f"qubits={self.qubits}, samples={self.samples}, haar_states={self.haar_states}"
            )
        if self.seed is not None and (
            isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0
        ):
            raise QsimTopoError(f"seed must be a non-negative integer or None, got {self.seed!r}")
        dt = np.dtype(self.dtype)
        if dt not in (np.dtype(np.complex64), np.dtype(np.complex128)):
            raise QsimTopoError(f"dtype must be complex64 or complex128, got {dt}")
        object.__setattr__(self, "dtype", dt)
        object.__setattr__(self, "device", resolve_device(self.device))
        object.__setattr__(self, "engine_options", dict(self.engine_options or {}))

    def build_engine(self) -> MatmulEngine:
        """The engine under test; a random engine named without a seed gets a derived one."""
        options = dict(self.engine_options)
        if (
            isinstance(self.engine, str)
            and "seed" not in options
            and "seed" in describe_engine(self.engine).options
        ):
            options["seed"] = seeds.derive_seed(self.seed, seeds.ENGINE)
        return resolve_engine(self.engine, **options)


@dataclass
class LayerStackReport:
    """Everything one layer-stack experiment measured.

    Field meanings:

    state_fidelity, overlap, norm: of the approximate state P_D|0...0> against the exact one
    (overlap = |<ref|approx>|^2 unnormalised; norm = ||approx state||).
    frobenius_error, aligned_frobenius_error, process_fidelity, unitary_norm_ratio: of the
    approximate product P_D against the exact one (ratio = ||P_approx||_F / ||P_ref||_F).
    haar_input_fidelity, haar_input_fidelity_se: mean state fidelity over ``haar_states``
    Haar-random inputs and its standard error (sample std / sqrt(n)).
    haar_input_fidelity_expected: (d F_pro + 1) / (d + 1), what the process fidelity implies.
    probe_excess, probe_excess_se: how much better the probes fare than that, from a per-probe
    statistic of exact mean 0 for any product (:meth:`~qsim_topo.metrics.HaarProbes.excess`),
    and its standard error: the consistency test of the probes against the whole product.
    column_fidelity_mean, column_fidelity_std: over the basis inputs |j>, j != 0 (every
    column of the products); column0_log_z: how far the |0...0> input's log infidelity lies
    below the probes' log infidelities, in standard deviations of one more probe
    (std * sqrt(1 + 1/n)): large when |0...0> is treated specially, about a t variable when
    it is an input like any other.
    xeb: linear XEB of ``samples`` bitstrings drawn from the approximate state, scored with the
    exact probabilities; xeb_infinite: its infinite-sample value; xeb_ideal_mean/std: what an
    exact sampler gets with as many samples; log_xeb; tvd: between the two output distributions.
    flops_fraction: the engine's declared work over exact products'; matmul_calls: engine
    products. wall_time_s / exact_wall_time_s: seconds in the products (and gate-mode
    permutations) of the engine under test / of the exact engine; time_ratio: the median over
    layers of their ratio, the measured counterpart of the declared flops fraction;
    exact_layer_time_s: the median exact time of one layer (what the ratio is measured on).
    convention: how the stack was built and depth counted (:data:`CONVENTION`).
    diagnostics: plain-language warnings.
    """

    qubits: int
    depth: int
    kind: str
    mode: str
    engine: str
    engine_options: dict[str, Any]
    seed: int | None
    device: str
    dtype: str
    samples: int
    haar_states: int
    state_fidelity: float
    overlap: float
    norm: float
    frobenius_error: float
    aligned_frobenius_error: float
    process_fidelity: float
    unitary_norm_ratio: float
    haar_input_fidelity: float
    haar_input_fidelity_se: float
    haar_input_fidelity_expected: float
    probe_excess: float
    probe_excess_se: float
    column_fidelity_mean: float
    column_fidelity_std: float
    column0_log_z: float
    xeb: float
    xeb_infinite: float
    xeb_ideal_mean: float
    xeb_ideal_std: float
    log_xeb: float
    tvd: float
    flops_fraction: float
    matmul_calls: int
    wall_time_s: float
    exact_wall_time_s: float
    exact_layer_time_s: float
    time_ratio: float
    convention: str = CONVENTION
    diagnostics: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (floats stay floats; non-finite values are kept as floats)."""
        return asdict(self)


def _versions() -> dict[str, str]:
    return {"qsim_topo": __version__, "numpy": np.__version__, "python": platform.python_version()}


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
    config = LayerStackConfig(
        qubits,
        kind=kind,
        engine=engine,
        engine_options=engine_options or {},
        seed=seed,
        samples=samples,
        haar_states=haar_states,
        device=device,
        dtype=dtype,
        mode=mode,
    )
    return next(run_layer_stack_config(config, [depth]))


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
        engine_options=engine_options or {},
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
    wanted = sorted(set(int(d) for d in depths))
    if not wanted or wanted[0] < 1:
        raise QsimTopoError(f"need depth >= 1; got depth={list(depths)}")
    check_memory(
        layer_stack_bytes(config.qubits, config.kind, str(config.mode), config.dtype),
        config.device,
        f"a {config.qubits}-qubit {config.kind} layer stack (two {2**config.qubits}x"
        f"{2**config.qubits} products)",
    )
    under_test = CheckedEngine(config.build_engine())
    return _run(config, wanted, under_test)


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
        yield _measure(products, under_test, config)


def _column_stats(p_ref: Any, p_apx: Any) -> tuple[float, float]:
    """Mean and std of the fidelities of the basis inputs |j>, j != 0."""
    fids = metrics.column_fidelities(p_ref, p_apx)
    if fids.size < 3 or not np.all(np.isfinite(fids)):
        return math.nan, math.nan
    return float(np.mean(fids[1:])), float(np.std(fids[1:], ddof=1))


def _column0_log_z(state_fidelity: float, probe_fidelities: np.ndarray) -> float:
    """|0...0>'s log10 infidelity below the probes', in prediction standard deviations."""
    n = probe_fidelities.size
    if n < 2 or not (np.all(np.isfinite(probe_fidelities)) and math.isfinite(state_fidelity)):
        return math.nan
    # Infidelities below 1e-18 are rounding (and 0 is common): clip so the log stays finite.
    logs = np.log10(np.maximum(1.0 - probe_fidelities, 1e-18))
    own = math.log10(max(1.0 - state_fidelity, 1e-18))
    gap = float(np.mean(logs)) - own
    spread = float(np.std(logs, ddof=1)) * math.sqrt(1.0 + 1.0 / n)
    if spread > 0:
        return gap / spread
    return math.inf if gap > 0 else 0.0


def _measure(
    products: LayerStackProducts, under_test: CheckedEngine, config: LayerStackConfig
) -> LayerStackReport:
    """All metrics of one depth; the exact product is the only reference."""
    p_ref, p_apx = products.reference, products.approx
    dim = 2**config.qubits
    psi_ref = p_ref[:, 0]
    psi_apx = p_apx[:, 0]
    # Commit, then challenge: the draws are keyed by the engine's output, fixed before them.
    committed = seeds.array_digest(p_apx)
    ss_sampling = seeds.derive_seed(config.seed, seeds.SAMPLING, committed)
    ss_probes = seeds.derive_seed(config.seed, seeds.PROBES, committed)
    p_ideal = metrics.probabilities(psi_ref)
    band_mean, band_std = metrics.ideal_xeb_band(p_ideal, config.samples)
    try:
        p_approx = metrics.probabilities(psi_apx)
    except ValueError:  # the engine returned a zero state: nothing to sample
        p_approx = None
    if p_approx is not None:
        drawn = np.random.default_rng(ss_sampling).choice(dim, size=config.samples, p=p_approx)
        xeb = metrics.linear_xeb(drawn, p_ideal)
        xeb_inf = metrics.linear_xeb_from_probs(p_approx, p_ideal)
        lxeb = metrics.log_xeb(drawn, p_ideal)
        tvd = metrics.total_variation_distance(p_approx, p_ideal)
    else:
        xeb = xeb_inf = lxeb = float("nan")
        tvd = 1.0
    probes = metrics.haar_probes(
        p_ref, p_apx, n_states=config.haar_states, seed=np.random.default_rng(ss_probes)
    )
    process_fid = metrics.process_fidelity(p_ref, p_apx)
    f_expected = metrics.average_fidelity_from_process(process_fid, dim)
    excess, excess_se = probes.excess(f_expected)
    col_mean, col_std = _column_stats(p_ref, p_apx)
    state_fid = metrics.state_fidelity(psi_ref, psi_apx)
    t_apx, t_ref = products.wall_time_s, products.exact_wall_time_s
    report = LayerStackReport(
        qubits=config.qubits,
        depth=products.depth,
        kind=config.kind,
        mode=str(config.mode),
        engine=under_test.name,
        engine_options=dict(options_for_report(under_test.engine)),
        seed=config.seed,
        device=config.device,
        dtype=str(config.dtype),
        samples=config.samples,
        haar_states=config.haar_states,
        state_fidelity=state_fid,
        overlap=metrics.overlap(psi_ref, psi_apx),
        norm=metrics.norm(psi_apx),
        frobenius_error=metrics.frobenius_error(p_ref, p_apx),
        aligned_frobenius_error=metrics.aligned_frobenius_error(p_ref, p_apx),
        process_fidelity=process_fid,
        unitary_norm_ratio=metrics.norm(p_apx) / metrics.norm(p_ref),
        haar_input_fidelity=probes.fidelity,
        haar_input_fidelity_se=probes.fidelity_se,
        haar_input_fidelity_expected=f_expected,
        probe_excess=excess,
        probe_excess_se=excess_se,
        column_fidelity_mean=col_mean,
        column_fidelity_std=col_std,
        column0_log_z=_column0_log_z(state_fid, probes.fidelities),
        xeb=xeb,
        xeb_infinite=xeb_inf,
        xeb_ideal_mean=band_mean,
        xeb_ideal_std=band_std,
        log_xeb=lxeb,
        tvd=tvd,
        flops_fraction=products.flops_fraction,
        matmul_calls=products.matmul_calls,
        wall_time_s=t_apx,
        exact_wall_time_s=t_ref,
        exact_layer_time_s=products.exact_layer_time_s,
        time_ratio=products.time_ratio,
        versions=_versions(),
    )
    report.diagnostics = diagnose(report)
    return report
