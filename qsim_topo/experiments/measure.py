"""What a layer stack measures at one depth: :class:`LayerStackReport` and the measurement.

Every metric compares the engine's accumulated product with the exact one; the draws that
measure it (probe states, sampled bitstrings) come from streams keyed by the experiment seed
and a digest of the engine's output (:mod:`qsim_topo.experiments.seeds`).
"""

from __future__ import annotations

import math
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from qsim_topo import metrics
from qsim_topo._version import __version__
from qsim_topo.engines.base import options_for_report
from qsim_topo.engines.checked import CheckedEngine
from qsim_topo.experiments import seeds
from qsim_topo.experiments.diagnostics import diagnose
from qsim_topo.experiments.products import LayerStackProducts
from qsim_topo.sim.paths import execution_path

__all__ = ["CONVENTION", "LayerStackReport", "measure_products"]

#: How the stack is built and depth counted, recorded in every report and sweep row.
CONVENTION = "P0=haar; P_k=engine(L_k,P_k-1); depth=layers"


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
    execution_path: dict[str, str] = field(default_factory=dict)  # sim.paths.execution_path

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (floats stay floats; non-finite values are kept as floats)."""
        return asdict(self)


def _versions() -> dict[str, str]:
    return {"qsim_topo": __version__, "numpy": np.__version__, "python": platform.python_version()}


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


def measure_products(
    products: LayerStackProducts, under_test: CheckedEngine, config: Any
) -> LayerStackReport:
    """All metrics of one depth; the exact product is the only reference.

    ``config`` is the run's :class:`~qsim_topo.experiments.layer_stack.LayerStackConfig`.
    """
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
        execution_path=execution_path(config.device),
    )
    report.diagnostics = diagnose(report)
    return report
