"""Noise equivalence: the depolarizing error per layer that reproduces an engine's fidelity decay.

For each configuration of a sweep (every row field but the seed, the depth and the measured
values) and each metric that carries a decay, fit the global-depolarizing model

    F(D) = A * alpha^D + B,   i.e.  y(D) = (F(D) - B) / (1 - B) = A * alpha^D,

where B is the value a fully depolarized output gets: 1/d for the |0...0> and the Haar-input
state fidelities (d = 2^n), 1/d^2 for the process fidelity, 0 for the linear XEB normalised by
the ideal sampler's mean. Conventions (stated once, used everywhere):

- ``p = 1 - alpha``: the depolarizing parameter per layer (the channel rho -> (1-p) rho + p I/d,
  Qiskit Aer's ``depolarizing_error(p, n)``);
- ``r = p (1 - 1/d^2)``: the Pauli (process) error per layer (process fidelity 1 - r);
- ``e = 1 - alpha^(1/g)``: the error per two-qubit gate for layers of g two-qubit gates on
  average (brickwork; any kind whose layers are made of 2-qubit gates), from the digital error
  model F ~ prod(1 - e_i) of Arute et al. 2019; e is a Pauli error per gate (the 2-qubit
  depolarizing parameter with the same effect is 16/15 e).

Intervals are over seeds: each seed's curve is fitted alone (weighted linear least squares on
log y, i.e. least squares on y linearised) and the seeds' values give a Student-t 95%
interval; one seed falls back on the fit's covariance. Model checks: the exponent k of
``1 - y ~ c D^k`` (k near 1: incoherent, depolarizing-like; near 2: coherent, errors adding
in amplitude) and the residuals of both one-parameter models; metrics whose p intervals
exclude each other are flagged: no single p describes such an engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qsim_topo.experiments.fit_metrics import CONFIG_FIELDS as CONFIG_FIELDS
from qsim_topo.experiments.fit_metrics import FIT_METRICS as FIT_METRICS
from qsim_topo.experiments.fit_metrics import gates_per_layer as gates_per_layer
from qsim_topo.experiments.fit_metrics import metric_floor as metric_floor
from qsim_topo.experiments.fit_metrics import metric_value as metric_value
from qsim_topo.experiments.fit_metrics import t_interval as t_interval

__all__ = [
    "CONFIG_FIELDS",
    "FIT_METRICS",
    "ConfigFit",
    "MetricFit",
    "fit_rows",
    "gates_per_layer",
    "metric_floor",
    "metric_value",
    "t_interval",
]

#: y below this (2% of the way from the floor to 1) carries no usable decay information.
Y_MIN = 0.02
#: A p below this per layer is floating-point rounding, not an error model.
P_FLOOR = 1e-10
#: Exponent above which the decay is called coherent (midway between 1 and 2 on a log scale).
COHERENT_EXPONENT = 1.5
#: Two metrics disagree when their intervals are disjoint and p differs by more than this
#: fraction of the larger one (and by more than P_FLOOR).
DISAGREE_RELATIVE = 0.25


@dataclass
class MetricFit:
    """The fit of one metric of one configuration.

    status: ``fitted``; ``exact`` (y = 1 at every depth: p = 0); ``saturated`` (y at the floor
    at every depth: p is only bounded below, by ``p_lo``); ``insufficient`` (no usable point).
    alpha/p intervals: 95% over seeds (``interval`` says how they were obtained).
    exponent: k of 1 - y ~ c D^k on the mean curve's points with 1 - y <= 0.5 (nan when fewer
    than two such depths); model: ``coherent`` (k >= 1.5 and the seeds' interval of k above
    1), ``depolarizing`` (k < 1.5 and the interval below 2), else ``undetermined``; ``none``
    when p is below P_FLOOR.
    curve: (depth, mean y, CI half-width) of the data, for plots and tables.
    """

    metric: str
    status: str
    n_seeds: int
    depths: tuple[int, ...]
    alpha: float = math.nan
    alpha_lo: float = math.nan
    alpha_hi: float = math.nan
    amplitude: float = math.nan
    interval: str = ""
    exponent: float = math.nan
    exponent_lo: float = math.nan
    exponent_hi: float = math.nan
    sse_depolarizing: float = math.nan
    sse_coherent: float = math.nan
    model: str = "undetermined"
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    note: str = ""

    @property
    def p(self) -> float:
        """Depolarizing parameter per layer, 1 - alpha."""
        return 1.0 - self.alpha

    @property
    def p_lo(self) -> float:
        """Lower end of p's interval."""
        return 1.0 - self.alpha_hi

    @property
    def p_hi(self) -> float:
        """Upper end of p's interval."""
        return 1.0 - self.alpha_lo

    def has_p(self) -> bool:
        """True when p is determined (fitted or exact)."""
        return self.status in ("fitted", "exact")


@dataclass
class ConfigFit:
    """All metric fits of one configuration, the consistency flags, and (later) validation."""

    config: dict[str, Any]
    dim: int
    gates: float | None
    metrics: dict[str, MetricFit]
    flags: list[str] = field(default_factory=list)
    validation: Any = None  # a qsim_topo.experiments.noise.Validation, set by validate_fits
    rows: list[Mapping[str, Any]] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        """``engine q=n kind`` for tables."""
        engine = self.config.get("engine_spec", self.config.get("engine", "?"))
        return f"{engine} q={self.config.get('qubits')} {self.config.get('kind', '')}".strip()

    @property
    def consistent(self) -> bool:
        """No two metrics disagree on p."""
        return not self.flags

    @property
    def primary(self) -> MetricFit | None:
        """The headline fit: the first of FIT_METRICS that has a p, else the first fitted."""
        for name in FIT_METRICS:
            m = self.metrics.get(name)
            if m is not None and m.has_p():
                return m
        return next(iter(self.metrics.values()), None)

    def pauli_error(self, m: MetricFit) -> tuple[float, float, float]:
        """The Pauli error per layer r = p (1 - 1/d^2), and its interval."""
        f = 1.0 - 1.0 / self.dim**2
        return m.p * f, m.p_lo * f, m.p_hi * f

    def gate_error(self, m: MetricFit) -> tuple[float, float, float] | None:
        """The error per two-qubit gate e = 1 - alpha^(1/g) and its interval (None: no gates)."""
        gates = self.gates
        if gates is None or not m.has_p():
            return None

        def e(a: float) -> float:
            return 1.0 - max(a, 0.0) ** (1.0 / gates) if math.isfinite(a) else math.nan

        return e(m.alpha), e(m.alpha_hi), e(m.alpha_lo)


def _config_key(row: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    fields = [f for f in CONFIG_FIELDS if f in row]
    if "engine_spec" not in row and "engine" in row:
        fields.append("engine")
    return tuple((f, row[f]) for f in fields)


def _usable(row: Mapping[str, Any]) -> bool:
    return (
        row.get("status", "ok") == "ok"
        and isinstance(row.get("depth"), int)
        and isinstance(row.get("qubits"), int)
        and row["depth"] >= 1
    )


def _fit_seed(depths: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float] | None:
    """(alpha, amplitude, sigma of alpha, dof) of y = A alpha^D on the points above Y_MIN.

    Weighted linear least squares of ln y = ln A + D ln alpha with weights y^2 (least squares
    on y, linearised: sigma(ln y) = sigma(y) / y), solved in closed form so that errors of
    1e-15 keep their digits. A is free with three or more usable depths and fixed to 1 with
    fewer (F(0) = 1 exactly: no product has been taken). alpha <= 1 and A <= 1.5 (clipped).
    """
    keep = y > Y_MIN
    d, v = depths[keep].astype(np.float64), y[keep]
    if d.size == 0:
        return None
    ln_y = np.log(np.minimum(v, 1.5))
    w = v * v
    free = np.unique(d).size >= 3
    x = np.stack([np.ones_like(d), d], axis=1) if free else d[:, None]
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(x * sw[:, None], ln_y * sw, rcond=None)
    dof = d.size - x.shape[1]
    resid = (ln_y - x @ coef) * sw
    if dof >= 1:
        s2 = float(resid @ resid) / dof
        cov = s2 * np.linalg.inv((x * w[:, None]).T @ x)
        var = float(cov[-1, -1])
    else:
        var = math.nan
    ln_a = min(float(coef[0]), math.log(1.5)) if free else 0.0
    ln_alpha = min(float(coef[-1]), 0.0)
    alpha = math.exp(ln_alpha)
    return alpha, math.exp(ln_a), alpha * math.sqrt(var) if math.isfinite(var) else math.nan, dof


def _power_exponent(depths: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(k, SSE with k = 1, SSE with k = 2) of ln(1 - y) vs ln D on points with 0 < 1-y <= 0.5."""
    err = 1.0 - y
    keep = (err > 1e-15) & (err <= 0.5)
    d, e = depths[keep].astype(np.float64), err[keep]
    if np.unique(d).size < 2:
        return math.nan, math.nan, math.nan
    ld, le = np.log(d), np.log(e)
    k = float(np.polyfit(ld, le, 1)[0])
    r1 = le - ld
    r2 = le - 2 * ld
    return k, float(np.sum((r1 - r1.mean()) ** 2)), float(np.sum((r2 - r2.mean()) ** 2))


def _fit_metric(metric: str, dim: int, series: Mapping[int, Mapping[int, float]]) -> MetricFit:
    """Fit one metric; ``series`` maps seed -> {depth: value}."""
    floor = metric_floor(metric, dim)
    all_depths = sorted({d for s in series.values() for d in s})
    fit = MetricFit(
        metric=metric, status="insufficient", n_seeds=len(series), depths=tuple(all_depths)
    )
    per_depth: dict[int, list[float]] = {d: [] for d in all_depths}
    seed_y: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for seed, points in series.items():
        ds = np.array(sorted(points), dtype=np.int64)
        ys = np.array([(points[d] - floor) / (1.0 - floor) for d in ds])
        seed_y[seed] = (ds, ys)
        for d, v in zip(ds, ys, strict=True):
            per_depth[int(d)].append(float(v))
    for d in all_depths:
        mean, lo, hi = t_interval(per_depth[d])
        fit.curve.append((d, mean, (hi - lo) / 2 if math.isfinite(lo) else math.nan))
    ys_all = np.concatenate([v for _, v in seed_y.values()])
    if np.all(ys_all >= 1.0):
        fit.status, fit.model = "exact", "none"
        fit.alpha = fit.alpha_lo = fit.alpha_hi = fit.amplitude = 1.0
        fit.interval = "exact at every seed and depth"
        return fit
    fits = {s: _fit_seed(ds, ys) for s, (ds, ys) in seed_y.items()}
    good = {s: f for s, f in fits.items() if f is not None}
    if not good:
        fit.status = "saturated"
        dmin = min(all_depths)
        fit.alpha = fit.alpha_hi = Y_MIN ** (1.0 / dmin)
        fit.alpha_lo = 0.0
        fit.note = f"at the floor from depth {dmin}: p per layer >= {1 - fit.alpha:.3g}"
        return fit
    fit.status = "fitted"
    alphas = [f[0] for f in good.values()]
    fit.amplitude = float(np.mean([f[1] for f in good.values()]))
    if len(good) >= 2:
        fit.alpha, fit.alpha_lo, fit.alpha_hi = t_interval(alphas)
        fit.interval = f"Student-t 95% over {len(good)} seeds"
    else:
        alpha, _, sigma, dof = next(iter(good.values()))
        from scipy import stats

        t = float(stats.t.ppf(0.975, dof)) if dof >= 1 else math.nan
        fit.alpha, fit.alpha_lo, fit.alpha_hi = alpha, alpha - t * sigma, alpha + t * sigma
        fit.interval = "fit covariance (one seed)" if dof >= 1 else "none (one seed, no dof)"
    if math.isfinite(fit.alpha_lo):  # alpha is a decay factor: the interval stays in [0, 1]
        fit.alpha_lo, fit.alpha_hi = max(fit.alpha_lo, 0.0), min(fit.alpha_hi, 1.0)
    if len(good) < len(fits):
        fit.note = f"{len(fits) - len(good)} seed(s) at the floor at every depth left out"
    # Model check on the mean curve, and the exponent's spread over seeds.
    # Only depths whose error is resolved (1 - y beyond its CI) speak about the exponent.
    resolved = [c for c in fit.curve if not (math.isfinite(c[2]) and 1.0 - c[1] <= c[2])]
    d_mean = np.array([c[0] for c in resolved], dtype=np.int64)
    y_mean = np.array([c[1] for c in resolved])
    fit.exponent, fit.sse_depolarizing, fit.sse_coherent = _power_exponent(d_mean, y_mean)
    ks = [k for k in (_power_exponent(ds, ys)[0] for ds, ys in seed_y.values()) if math.isfinite(k)]
    if len(ks) >= 2:
        _, fit.exponent_lo, fit.exponent_hi = t_interval(ks)
    if fit.p < P_FLOOR:
        fit.model = "none"
    elif math.isfinite(fit.exponent):
        # The point estimate picks the side; the seeds' interval must exclude the other model.
        lo = fit.exponent_lo if math.isfinite(fit.exponent_lo) else fit.exponent
        hi = fit.exponent_hi if math.isfinite(fit.exponent_hi) else fit.exponent
        if fit.exponent >= COHERENT_EXPONENT and lo > 1.0:
            fit.model = "coherent"
        elif fit.exponent < COHERENT_EXPONENT and hi < 2.0:
            fit.model = "depolarizing"
    return fit


def _disagreements(fits: Mapping[str, MetricFit]) -> list[str]:
    flags = []
    names = [n for n in FIT_METRICS if n in fits and fits[n].status != "insufficient"]
    for i, a_name in enumerate(names):
        for b_name in names[i + 1 :]:
            a, b = fits[a_name], fits[b_name]
            lo_a, hi_a = _bounds(a)
            lo_b, hi_b = _bounds(b)
            disjoint = hi_a < lo_b or hi_b < lo_a
            pa = a.p if a.has_p() else lo_a
            pb = b.p if b.has_p() else lo_b
            gap = abs(pa - pb)
            if disjoint and gap > P_FLOOR and gap > DISAGREE_RELATIVE * max(pa, pb):
                flags.append(
                    f"{a_name} gives p = {_pct(a)} per layer but {b_name} gives {_pct(b)}: "
                    "no single depolarizing p describes this engine"
                )
    return flags


def _bounds(m: MetricFit) -> tuple[float, float]:
    if m.status == "saturated":
        return m.p_lo, 1.0
    lo = m.p_lo if math.isfinite(m.p_lo) else m.p
    hi = m.p_hi if math.isfinite(m.p_hi) else m.p
    return lo, hi


def _pct(m: MetricFit) -> str:
    if m.status == "saturated":
        return f">= {100 * m.p_lo:.3g}%"
    if math.isfinite(m.p_lo) and math.isfinite(m.p_hi) and m.p_hi > m.p_lo:
        return f"{100 * m.p:.3g}% [{100 * m.p_lo:.3g}, {100 * m.p_hi:.3g}]"
    return f"{100 * m.p:.3g}%"


def fit_rows(
    rows: Iterable[Mapping[str, Any]], metrics: Sequence[str] = FIT_METRICS
) -> list[ConfigFit]:
    """Fit every configuration of ``rows`` (a sweep store's rows, any mode).

    Rows need ``qubits``, ``depth`` (>= 1) and ``seed``; the latest row of each ``key`` counts
    and failed rows are skipped. Metrics absent from a configuration's rows are left out (a
    state-mode sweep without process fidelity is fitted on what it has). Returns one
    :class:`ConfigFit` per configuration, in a stable order.
    """
    for name in metrics:
        if name not in FIT_METRICS:
            raise ValueError(
                f"unknown fit metric {name!r}; expected one of {', '.join(FIT_METRICS)}"
            )
    latest: dict[Any, Mapping[str, Any]] = {}
    for i, row in enumerate(rows):
        latest[row.get("key", i)] = row
    groups: dict[tuple[tuple[str, Any], ...], list[Mapping[str, Any]]] = {}
    for row in latest.values():
        if _usable(row):
            groups.setdefault(_config_key(row), []).append(row)
    out = []
    for key in sorted(groups, key=lambda k: [(f, str(v)) for f, v in k]):
        members = groups[key]
        config = dict(key)
        qubits = int(config["qubits"])
        dim = 2**qubits
        fits: dict[str, MetricFit] = {}
        for name in metrics:
            series: dict[int, dict[int, float]] = {}
            for row in members:
                v = metric_value(row, name)
                if v is not None:
                    series.setdefault(int(row.get("seed") or 0), {})[int(row["depth"])] = v
            if series:
                fits[name] = _fit_metric(name, dim, series)
        if not fits:
            continue
        dmax = max(int(r["depth"]) for r in members)
        cf = ConfigFit(
            config=config,
            dim=dim,
            gates=gates_per_layer(
                qubits, str(config.get("kind", "dense")), dmax, mode=config.get("mode")
            ),
            metrics=fits,
            rows=members,
        )
        cf.flags = _disagreements(fits)
        out.append(cf)
    return out
