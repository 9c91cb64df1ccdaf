"""Tables, verdicts and JSON of noise-equivalence fits (``qsim-topo fit`` and ``report``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from qsim_topo.experiments.fit import P_FLOOR, ConfigFit, MetricFit

__all__ = ["fits_to_json", "format_fits", "verdict"]

_SHORT = {
    "state_fidelity": "F|0>",
    "haar_input_fidelity": "F Haar",
    "process_fidelity": "F proc",
    "xeb_normalised": "XEB/ideal",
}


def _pct(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.3g}%"


def _interval(value: float, lo: float, hi: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if math.isfinite(lo) and math.isfinite(hi) and hi > lo:
        return f"{_pct(value)} [{_pct(max(lo, 0.0))}, {_pct(hi)}]"
    return _pct(value)


def _p_text(m: MetricFit) -> str:
    if m.status == "saturated":
        return f">= {_pct(m.p_lo)}"
    if m.status == "insufficient":
        return "no data"
    if m.p < P_FLOOR:
        return f"< {P_FLOOR:.0e}"
    return _interval(m.p, m.p_lo, m.p_hi)


def verdict(cf: ConfigFit) -> str:
    """One sentence for ``cf``: why its fit is not validated, or what it behaves like.

    Only a fit validated by simulation reads 'behaves like p% depolarizing error per layer'.
    """
    m = cf.primary
    if m is None:
        return "nothing to fit"
    if cf.flags:
        return "not validated: the metrics disagree (" + "; ".join(cf.flags) + ")"
    if m.status == "saturated":
        return f"not validated: {m.metric} is at its floor at every depth ({m.note})"
    if m.status == "insufficient":
        return "not validated: no usable depth"
    if m.has_p() and m.p < P_FLOOR:
        return f"no measurable error: p < {P_FLOOR:.0e} per layer on every metric"
    if m.model == "coherent":
        return (
            f"not validated: the decay is coherent (1 - F ~ D^{m.exponent:.2f}; a depolarizing "
            "error gives D^1): no depolarizing p describes it"
        )
    if m.model != "depolarizing":
        if math.isfinite(m.exponent):
            return (
                f"not validated: the model check is undetermined (1 - F ~ D^k with k = "
                f"{m.exponent:.2f} [{m.exponent_lo:.2f}, {m.exponent_hi:.2f}] over seeds: "
                "neither 1, depolarizing, nor 2, coherent, is excluded)"
            )
        return (
            "not validated: the model check is undetermined (it needs two depths with "
            "0 < 1 - F <= 0.5, resolved beyond their CI)"
        )
    v = cf.validation
    if v is None:
        return "not validated: not simulated (`qsim-topo fit DIR` simulates and validates)"
    if not v.simulated:
        return "not validated: " + "; ".join(v.reasons)
    if not v.validated:
        more = f" (and {len(v.reasons) - 1} more)" if len(v.reasons) > 1 else ""
        return "not validated by simulation: " + v.reasons[0] + more
    text = (
        f"behaves like {_interval(m.p, m.p_lo, m.p_hi)} depolarizing error per layer "
        f"(from {m.metric}, validated by simulation)"
    )
    gate = cf.gate_error(m)
    if gate is not None and v.gate_fidelity_ok is not None:
        how = (
            "which 2-qubit depolarizing noise after each gate also reproduces"
            if v.gate_fidelity_ok
            else "but 2-qubit depolarizing noise after each gate does not reproduce the "
            "fidelity (" + v.gate_reasons[0] + ")"
        )
        text += f"; {_interval(*gate)} Pauli error per two-qubit gate, {how}"
    return text


def format_fits(fits: Sequence[ConfigFit]) -> str:
    """The fit table: one line per configuration and metric, then one verdict per configuration."""
    if not fits:
        return "no configuration to fit"
    head = (
        f"{'configuration':<34} {'metric':<9} {'seeds':>5} {'p per layer [95% CI]':>30} "
        f"{'Pauli err/layer':>15} {'err/2q gate':>11} {'A':>6} {'k':>5} {'model':<12}"
    )
    lines = ["noise equivalence: F(D) = A alpha^D + floor, p = 1 - alpha", head, "-" * len(head)]
    for cf in fits:
        for m in cf.metrics.values():
            r = cf.pauli_error(m)[0] if m.has_p() else math.nan
            g = cf.gate_error(m)
            k = f"{m.exponent:.2f}" if math.isfinite(m.exponent) else "-"
            a = f"{m.amplitude:.3f}" if math.isfinite(m.amplitude) else "-"
            lines.append(
                f"{cf.label:<34.34} {_SHORT.get(m.metric, m.metric):<9} {m.n_seeds:>5} "
                f"{_p_text(m):>30} {_pct(r):>15} {_pct(g[0]) if g else 'n/a':>11} {a:>6} "
                f"{k:>5} {m.model:<12}"
            )
    lines.append("")
    for cf in fits:
        lines.append(f"{cf.label}: {verdict(cf)}")
    simulators = {
        cf.validation.simulator for cf in fits if cf.validation and cf.validation.simulated
    }
    lines.append("")
    for simulator in sorted(simulators):
        lines.append(f"validation by simulation: {simulator}")
    lines.append(
        "p: global depolarizing parameter per layer (Aer's depolarizing_error(p, n)); Pauli "
        "error r = p (1 - 1/d^2); err/2q gate e = 1 - alpha^(1/g) for g two-qubit gates per "
        "layer (F ~ prod(1 - e_i), Arute et al. 2019); k: exponent of 1 - F ~ D^k (1 "
        "incoherent, 2 coherent). CI: Student-t over seeds."
    )
    return "\n".join(lines)


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def fits_to_json(fits: Sequence[ConfigFit]) -> list[dict[str, Any]]:
    """A JSON-ready list: one object per configuration (non-finite numbers become null)."""
    out = []
    for cf in fits:
        metrics = {}
        for name, m in cf.metrics.items():
            g = cf.gate_error(m)
            metrics[name] = {
                k: _clean(v)
                for k, v in {
                    "status": m.status,
                    "n_seeds": m.n_seeds,
                    "depths": list(m.depths),
                    "p": m.p,
                    "p_lo": m.p_lo,
                    "p_hi": m.p_hi,
                    "alpha": m.alpha,
                    "amplitude": m.amplitude,
                    "interval": m.interval,
                    "pauli_error": cf.pauli_error(m)[0] if m.has_p() else math.nan,
                    "gate_error": g[0] if g else None,
                    "exponent": m.exponent,
                    "model": m.model,
                    "note": m.note,
                }.items()
            }
        v = cf.validation
        out.append(
            {
                "config": cf.config,
                "gates_per_layer": cf.gates,
                "metrics": metrics,
                "flags": list(cf.flags),
                "validation": None
                if v is None
                else {
                    "simulated": v.simulated,
                    "validated": v.validated,
                    "metric": v.metric,
                    "p_layer": _clean(v.p_layer),
                    "reasons": list(v.reasons),
                    "p_gate": _clean(v.p_gate),
                    "gate_fidelity_ok": v.gate_fidelity_ok,
                    "gate_reasons": list(v.gate_reasons),
                    "table": [{k: _clean(x) for k, x in row.items()} for row in v.table],
                },
                "verdict": verdict(cf),
            }
        )
    return out
