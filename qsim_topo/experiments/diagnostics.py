"""Plain-language warnings for measurements that look good for the wrong reason.

Each rule compares two metrics that should agree for an honest approximation and names the
artifact when they do not. Where one side is a statistical estimate (the Haar-input probes),
a disagreement counts only beyond ``Z_SCORE`` standard errors of that estimator, computed from
the probes themselves, and the message states the gap in standard errors. Thresholds are
module constants so reports and tests share them.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

__all__ = ["diagnose", "norm_drift", "state_warnings", "time_claim", "xeb_band_warning"]

#: Raw Frobenius error this many times the aligned error (and above MIN_ERROR) means a scale
#: or phase factor dominates the error.
SCALE_RATIO = 10.0
MIN_ERROR = 1e-3
#: A gap between a measured value and an estimator's counts beyond this many standard errors.
Z_SCORE = 4.0
#: Fidelity gaps smaller than this are rounding, whatever their standard error (an exact
#: engine's probes agree to ~1e-16 with an even smaller spread).
MIN_GAP = 1e-9
#: |norm - 1| above this is reported as drift.
NORM_TOLERANCE = 1e-3
#: Fidelity under this with an XEB inside the ideal band: XEB does not certify fidelity.
XEB_FIDELITY = 0.9
#: Measured time over exact's above TIME_FACTOR * declared flops fraction + TIME_MARGIN, with
#: exact products of at least MIN_TIMED_S (per layer in the layer stack: below that, call
#: overheads are all a timer sees): the declared fraction is not what the engine spends.
#: Generous on purpose (timings are noisy, Python engines carry overheads): a flag for a second
#: look, not a verdict.
TIME_FACTOR = 3.0
TIME_MARGIN = 0.3
MIN_TIMED_S = 0.005


class _Report(Protocol):
    state_fidelity: float
    norm: float
    frobenius_error: float
    aligned_frobenius_error: float
    unitary_norm_ratio: float
    process_fidelity: float
    haar_states: int
    haar_input_fidelity: float
    haar_input_fidelity_se: float
    haar_input_fidelity_expected: float
    probe_excess: float
    probe_excess_se: float
    column0_log_z: float
    xeb: float
    xeb_ideal_mean: float
    xeb_ideal_std: float
    flops_fraction: float
    time_ratio: float
    exact_layer_time_s: float


def _in_se(gap: float, se: float) -> float:
    """``gap`` in standard errors (inf for a positive gap with a zero standard error)."""
    if se > 0:
        return gap / se
    return math.inf if gap > 0 else 0.0


def xeb_band_warning(xeb: float, mean: float, std: float, fidelity: float) -> str | None:
    """The warning that XEB does not certify fidelity (None when it does not apply).

    It applies when ``xeb`` lies within 2 standard deviations of an ideal sampler's mean
    (``mean``, ``std``: the closed-form band) while the state fidelity is under XEB_FIDELITY.
    """
    in_band = math.isfinite(xeb) and std > 0 and abs(xeb - mean) <= 2.0 * std
    if not in_band or fidelity >= XEB_FIDELITY:
        return None
    return (
        f"XEB {xeb:.3f} is inside the ideal-sampler band ({mean:.3f} +/- {2 * std:.3f}) "
        f"although the state fidelity is {fidelity:.4f}: XEB does not certify fidelity here"
    )


def norm_drift(norm: float) -> str | None:
    """The norm-drift warning for a final state of norm ``norm`` (None when within tolerance).

    A zero or non-finite norm is reported as such: fidelities are normalised and hide both.
    """
    if not math.isfinite(norm):
        return (
            f"the state's norm is {norm}: the engine's products overflowed or produced NaN, "
            "and nothing measured on this state means anything"
        )
    if norm == 0.0:
        return "the state vanished (norm 0): there is no distribution, fidelity 0 by convention"
    if abs(norm - 1.0) > NORM_TOLERANCE:
        return (
            f"norm drift: the state's norm is {norm:.6g}, not 1 (the engine does not preserve "
            "unitarity; fidelity is normalised and hides this)"
        )
    return None


def state_warnings(
    norm: float, xeb: float, xeb_ideal_mean: float, xeb_ideal_std: float, fidelity: float
) -> list[str]:
    """The warnings every row with a state has: norm drift, and an XEB that flatters it."""
    found = (norm_drift(norm), xeb_band_warning(xeb, xeb_ideal_mean, xeb_ideal_std, fidelity))
    return [w for w in found if w is not None]


def time_claim(time_ratio: float, flops_fraction: float, exact_time_s: float) -> str | None:
    """A warning when the measured time is far above what the declared fraction implies.

    Args:
        time_ratio: the engine's wall time over the exact engine's on the same products.
        flops_fraction: the engine's declared work over the exact products'.
        exact_time_s: the exact engine's time on what was timed (per layer for the layer
            stack; too little of it and nothing is said).
    """
    if not (math.isfinite(time_ratio) and math.isfinite(flops_fraction)):
        return None
    if exact_time_s < MIN_TIMED_S:
        return None
    limit = TIME_FACTOR * flops_fraction + TIME_MARGIN
    if time_ratio <= limit:
        return None
    return (
        f"compute claim: the engine declares {flops_fraction:.3g} of the exact work but took "
        f"{time_ratio:.3g}x the exact engine's time (more than {TIME_FACTOR:g} x the fraction "
        f"+ {TIME_MARGIN:g}; exact took {exact_time_s:.3g} s); the declared flops "
        "fraction may not be what it spends (timings are noisy: a flag, not a verdict)"
    )


def diagnose(r: _Report | Any) -> list[str]:
    """One line per artifact found in a layer-stack report (empty when none applies)."""
    out: list[str] = []
    if (
        r.frobenius_error > MIN_ERROR
        and r.frobenius_error > SCALE_RATIO * r.aligned_frobenius_error
    ):
        out.append(
            f"global scale/phase error: the product is right up to a complex factor "
            f"(raw Frobenius error {r.frobenius_error:.4g}, after aligning the factor "
            f"{r.aligned_frobenius_error:.3g}; norm ratio {r.unitary_norm_ratio:.4g})"
        )
    out += _column_zero(r)
    out += _probe_consistency(r)
    out += state_warnings(r.norm, r.xeb, r.xeb_ideal_mean, r.xeb_ideal_std, r.state_fidelity)
    claim = time_claim(r.time_ratio, r.flops_fraction, r.exact_layer_time_s)
    if claim is not None:
        out.append(claim)
    return out


def _column_zero(r: Any) -> list[str]:
    """|0...0> fidelity above the Haar-input estimate, beyond its standard error.

    Two conditions, both needed: the gap exceeds ``Z_SCORE`` standard errors of the probe
    estimator (SE = std / sqrt(n), and MIN_GAP), and the |0...0> input is atypical among
    single inputs: its log infidelity lies ``Z_SCORE`` prediction standard deviations below
    the probes'. The second keeps an honest engine's |0...0> fidelity, one draw from the same
    spread as any input's, from being flagged when the probes happen to average lower.
    """
    gap = r.state_fidelity - r.haar_input_fidelity
    se = r.haar_input_fidelity_se
    if not (math.isfinite(gap) and gap > MIN_GAP):
        return []
    z_probe = _in_se(gap, se) if math.isfinite(se) else math.nan
    z_log = r.column0_log_z
    if math.isfinite(z_probe) and z_probe <= Z_SCORE:
        return []
    if not math.isnan(z_log) and z_log <= Z_SCORE:
        return []
    if math.isnan(z_probe) and math.isnan(z_log) and gap <= 0.05:
        return []  # one probe: no standard error; only a gross gap counts
    probe_text = (
        f"{z_probe:.3g} standard errors (SE {se:.2g}) of the {r.haar_states}-probe estimate"
        if math.isfinite(se)
        else f"{r.haar_states} probe (no standard error)"
    )
    log_text = (
        f"; its log infidelity lies {z_log:.3g} standard deviations below a single probe's"
        if not math.isnan(z_log)
        else ""
    )
    return [
        f"only the |0...0> column is right: fidelity {r.state_fidelity:.6f} on |0...0> but "
        f"{r.haar_input_fidelity:.6f} on Haar-random inputs, a gap of {gap:.3g} = "
        f"{probe_text}{log_text}"
    ]


def _probe_consistency(r: Any) -> list[str]:
    """The probes fare better than the whole product implies, beyond their standard error.

    The Haar-input fidelity should agree with (d F_pro + 1)/(d + 1) from the process fidelity;
    the test runs on a per-probe statistic whose Haar mean is exactly 0 for any product
    (:meth:`~qsim_topo.metrics.HaarProbes.excess`), one-sided: probes that fare worse than the
    whole product are no artifact (and heavy-tailed output norms make that side noisy).
    """
    excess, se = r.probe_excess, r.probe_excess_se
    if not math.isfinite(excess) or r.haar_states < 2 or excess <= MIN_GAP:
        return []
    z = _in_se(excess, se) if math.isfinite(se) else math.inf
    if z <= Z_SCORE:
        return []
    return [
        f"the probe states are treated specially: Haar-input fidelity "
        f"{r.haar_input_fidelity:.6f} (SE {r.haar_input_fidelity_se:.2g}) but the process "
        f"fidelity {r.process_fidelity:.4g} implies (d F_pro + 1)/(d + 1) = "
        f"{r.haar_input_fidelity_expected:.6f}; the probes fare {excess:.3g} better than the "
        f"whole product, {z:.3g} standard errors (SE {se:.2g}) of the {r.haar_states}-probe "
        "estimate (an engine that predicted the probe states, or a draw of probability < 1e-4)"
    ]
