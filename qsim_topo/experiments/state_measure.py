"""What a state chain measures at one depth: :class:`StateReport` and :func:`measure_states`.

The engine's state psi is compared with the exact reference over the whole distribution, chunk
by chunk (:func:`qsim_topo.metrics.compare_states`); the XEB bitstrings are drawn from psi
(:func:`qsim_topo.sim.measure.sample_outcomes`, chunked) with a stream keyed by the
experiment seed and psi's digest, so they are fixed only once psi exists
(:mod:`qsim_topo.experiments.seeds`).
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
from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments import seeds
from qsim_topo.experiments.diagnostics import state_warnings
from qsim_topo.sim.measure import sample_outcomes
from qsim_topo.sim.paths import execution_path
from qsim_topo.xp import array_namespace, to_numpy

__all__ = [
    "REFERENCE_DTYPE",
    "STATE_CONVENTION",
    "StateReport",
    "Work",
    "diagnose_state",
    "measure_states",
]

#: How a state-mode row was made, recorded in every row (and hashed into its key).
STATE_CONVENTION = (
    "state: ref=execute(exact, complex128) per cycle; engine=apply_operator per gate; "
    "depth=cycles+closing(depth)"
)
#: The families' kinds (qsim_topo.families.FAMILY_KINDS) and ``circuit`` (a QASM file's cycle).
#: The reference state's dtype, whatever the engine's.
REFERENCE_DTYPE = np.dtype(np.complex128)


@dataclass
class StateReport:
    """What a state chain measured at one depth.

    state_fidelity: |<ref|psi>|^2 / (||ref||^2 ||psi||^2); overlap: |<ref|psi>|^2 unnormalised;
    norm: ||psi|| of the engine's state psi. xeb: linear XEB D mean(p(x)) - 1 of ``samples``
    bitstrings x drawn from psi, p the exact probabilities; xeb_ideal_mean / xeb_ideal_std:
    what an exact sampler gets (D sum p^2 - 1, and its spread with as many samples);
    xeb_normalized: xeb / xeb_ideal_mean (1: as good as ideal; nan when the ideal value is
    0); xeb_infinite: D sum(p q) - 1, the infinite-sample XEB of psi's distribution q;
    log_xeb: log D + gamma + mean(log p(x)); tvd: 0.5 sum |p - q| over all 2^n outcomes.
    flops_fraction / matmul_calls: the engine's declared work over exact products' and its
    calls, for cycles 0..depth-1 and this depth's closing. wall_time_s / exact_wall_time_s:
    seconds of the engine's gate products / of the reference simulator over the same ops;
    time_ratio: their ratio, a cost against the fast fused simulator (not like-for-like
    products, so no compute-claim diagnostic is drawn from it). gates: ops applied.
    """

    qubits: int
    depth: int
    kind: str
    mode: str
    engine: str
    engine_options: dict[str, Any]
    seed: int
    device: str
    dtype: str
    reference_dtype: str
    samples: int
    column_block: int
    gates: int
    state_fidelity: float
    overlap: float
    norm: float
    xeb: float
    xeb_normalized: float
    xeb_infinite: float
    xeb_ideal_mean: float
    xeb_ideal_std: float
    log_xeb: float
    tvd: float
    flops_fraction: float
    matmul_calls: int
    wall_time_s: float
    exact_wall_time_s: float
    time_ratio: float
    convention: str = STATE_CONVENTION
    diagnostics: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    execution_path: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class Work:
    """Counters of the engine's products and both sides' times up to some point."""

    calls: int = 0
    exact_flops: float = 0.0
    engine_flops: float = 0.0
    engine_s: float = 0.0
    exact_s: float = 0.0
    gates: int = 0

    def plus(self, engine: CheckedEngine, engine_s: float, exact_s: float, gates: int) -> Work:
        """These counters plus ``engine``'s products and the given seconds and gates."""
        return Work(
            self.calls + engine.calls,
            self.exact_flops + engine.exact_flops,
            self.engine_flops + engine.engine_flops,
            self.engine_s + engine_s,
            self.exact_s + exact_s,
            self.gates + gates,
        )


def _versions() -> dict[str, str]:
    return {"qsim_topo": __version__, "numpy": np.__version__, "python": platform.python_version()}


def measure_states(
    ref: Any, psi: Any, config: Any, depth: int, work: Work, engine: CheckedEngine
) -> StateReport:
    """All metrics of the engine's state ``psi`` against the exact ``ref`` at ``depth``.

    The bitstrings are drawn from psi with a stream keyed by the experiment seed and psi's
    digest (fixed only once psi exists); every sum is chunked.
    """
    n = config.qubits
    dim = 2**n
    cmp = metrics.compare_states(ref, psi)
    committed = seeds.array_digest(psi)
    rng = np.random.default_rng(seeds.derive_seed(config.seed, seeds.SAMPLING, committed))
    ideal_mean = dim * cmp.collision - 1.0
    ideal_std = dim * math.sqrt(max(cmp.cube - cmp.collision**2, 0.0) / config.samples)
    try:
        drawn = sample_outcomes(psi, list(range(n)), n, config.samples, rng)
    except QsimTopoError:  # a zero or non-finite state: nothing to sample
        xeb = lxeb = xeb_norm = float("nan")
    else:
        picked = to_numpy(ref[array_namespace(ref).asarray(drawn)])
        p_at = np.abs(picked.astype(np.complex128)) ** 2 / cmp.ref_norm2
        xeb = metrics.linear_xeb_of_probs(p_at, dim)
        lxeb = metrics.log_xeb_of_probs(p_at, dim)
        xeb_norm = xeb / ideal_mean if ideal_mean != 0.0 else float("nan")
    fraction = work.engine_flops / work.exact_flops if work.exact_flops else 1.0
    report = StateReport(
        qubits=n,
        depth=depth,
        kind=config.kind,
        mode="state",
        engine=engine.name,
        engine_options=dict(options_for_report(engine.engine)),
        seed=config.seed,
        device=config.device,
        dtype=str(config.dtype),
        reference_dtype=str(REFERENCE_DTYPE),
        samples=config.samples,
        column_block=config.column_block,
        gates=work.gates,
        state_fidelity=cmp.fidelity,
        overlap=abs(cmp.inner) ** 2 / cmp.ref_norm2,
        norm=math.sqrt(cmp.approx_norm2),
        xeb=xeb,
        xeb_normalized=xeb_norm,
        xeb_infinite=dim * cmp.cross - 1.0,
        xeb_ideal_mean=ideal_mean,
        xeb_ideal_std=ideal_std,
        log_xeb=lxeb,
        tvd=cmp.tvd,
        flops_fraction=fraction,
        matmul_calls=work.calls,
        wall_time_s=work.engine_s,
        exact_wall_time_s=work.exact_s,
        time_ratio=work.engine_s / work.exact_s if work.exact_s > 0 else float("nan"),
        versions=_versions(),
        execution_path=execution_path(config.device),
    )
    report.diagnostics = diagnose_state(report)
    return report


def diagnose_state(r: StateReport) -> list[str]:
    """Plain-language warnings of a state row: norm drift, an XEB that flatters the state."""
    return state_warnings(r.norm, r.xeb, r.xeb_ideal_mean, r.xeb_ideal_std, r.state_fidelity)
