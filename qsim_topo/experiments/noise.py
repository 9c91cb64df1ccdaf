"""Depolarizing noise simulated exactly on density matrices, and the validation of a fit with it.

The channel is written here in numpy (no engine is involved: everything is exact complex128),
and checked against Qiskit Aer's density-matrix method with ``depolarizing_error`` in the tests
(``qsim_topo.qiskit.noise``), so a fit can be validated without the qiskit extra.

Validation: a fitted p per layer is simulated on the same circuits as the sweep (the layers are
regenerated from qubits, kind and seed; the ideal XEB mean stored in each row is compared with
the regenerated circuit's, so a sweep whose circuits cannot be regenerated is refused, never
compared with other circuits). At every depth the model's state fidelity, normalised XEB and
total variation distance from the ideal distribution are compared with the engine's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qsim_topo.experiments.fit import ConfigFit, MetricFit
from qsim_topo.experiments.fit_metrics import metric_value, t_interval
from qsim_topo.experiments.products import initial_product
from qsim_topo.layers import LAYER_KINDS, Layer, layer_stack

__all__ = [
    "MAX_QUBITS",
    "Validation",
    "apply_unitary",
    "depolarize",
    "depolarized_density_matrix",
    "simulate_depolarizing",
    "validate_fits",
]

#: Density matrices are 4^n complex128 entries: 16 MiB at 10 qubits.
MAX_QUBITS = 10
#: The model may miss the engine's infidelity (1 - F, 1 - XEB) by this fraction beyond the
#: statistical intervals.
RELATIVE_SLACK = 0.10
#: TVDs from the ideal distribution must agree within this factor.
TVD_FACTOR = 2.0


def apply_unitary(m: np.ndarray, u: np.ndarray, qubits: Sequence[int], n: int) -> np.ndarray:
    """``U_full @ m`` for a k-qubit ``u`` (2^k, 2^k) on ``qubits`` of an (2^n, X) array ``m``.

    Little-endian as everywhere in the package: qubits[0] is the least significant bit of u's
    index. Returns a new complex128 array; ``m`` is not modified.
    """
    k = len(qubits)
    cols = m.shape[1]
    t = np.asarray(m, dtype=np.complex128).reshape((2,) * n + (cols,))
    # Tensor axis i holds qubit n-1-i; u's input axis k+j holds qubit qubits[k-1-j].
    in_axes = [n - 1 - qubits[k - 1 - j] for j in range(k)]
    ut = np.asarray(u, dtype=np.complex128).reshape((2,) * (2 * k))
    out = np.tensordot(ut, t, axes=(list(range(k, 2 * k)), in_axes))
    out = np.moveaxis(out, list(range(k)), in_axes)
    return np.ascontiguousarray(out).reshape(2**n, cols)


def _conjugate(rho: np.ndarray, u: np.ndarray, qubits: Sequence[int], n: int) -> np.ndarray:
    left = apply_unitary(rho, u, qubits, n)  # U rho
    return apply_unitary(left.conj().T, u, qubits, n).conj().T  # (U (U rho)^dag)^dag = U rho U^dag


def depolarize(rho: np.ndarray, lam: float, qubits: Sequence[int], n: int) -> np.ndarray:
    """(1 - lam) rho + lam Tr_qubits(rho) (x) I/2^k: Aer's ``depolarizing_error(lam, k)``."""
    if lam == 0.0:
        return rho
    k = len(qubits)
    if k == n:
        out = (1.0 - lam) * rho
        out[np.diag_indices_from(out)] += lam * np.trace(rho) / 2**n
        return out
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    rows = list(letters[:n])
    cols = list(letters[n : 2 * n])
    axes = {n - 1 - q for q in qubits}
    traced_cols = [rows[i] if i in axes else cols[i] for i in range(n)]
    reduced_out = "".join(c for i, c in enumerate(rows) if i not in axes) + "".join(
        c for i, c in enumerate(cols) if i not in axes
    )
    reduced = np.einsum(
        f"{''.join(rows)}{''.join(traced_cols)}->{reduced_out}", rho.reshape((2,) * 2 * n)
    )
    deltas = [f"{rows[i]}{cols[i]}" for i in sorted(axes)]
    eye = np.eye(2, dtype=np.complex128)
    full = np.einsum(
        f"{reduced_out},{','.join(deltas)}->{''.join(rows)}{''.join(cols)}",
        reduced,
        *([eye] * k),
    ).reshape(2**n, 2**n)
    return (1.0 - lam) * rho + (lam / 2**k) * full


def depolarized_density_matrix(
    layers: Iterable[Layer], n: int, *, p_layer: float = 0.0, p_gate: float = 0.0
) -> np.ndarray:
    """The density matrix rho_D of ``layers`` from |0...0>, (2^n, 2^n) complex128.

    Each gate of each layer, then ``depolarize(p_gate)`` on its qubits; after the layer,
    ``depolarize(p_layer)`` on all n qubits.
    """
    rho = np.zeros((2**n, 2**n), dtype=np.complex128)
    rho[0, 0] = 1.0
    for layer in layers:
        for op in layer.ops:
            rho = _conjugate(rho, op.matrix, op.qubits, n)
            rho = depolarize(rho, p_gate, op.qubits, n)
        rho = depolarize(rho, p_layer, tuple(range(n)), n)
    return rho


@dataclass
class ModelPoint:
    """What the depolarized model gives at one depth for one seed."""

    fidelity: float
    xeb_normalised: float
    tvd: float
    xeb_ideal_mean: float


def simulate_depolarizing(
    qubits: int,
    kind: str,
    seed: int,
    depths: Sequence[int],
    models: Sequence[tuple[float, float]],
) -> list[dict[int, ModelPoint]]:
    """For each (p_layer, p_gate) of ``models``: {depth: ModelPoint} of that noise.

    ``p_gate``: 2-qubit depolarizing (Aer's ``depolarizing_error(p_gate, k)``) after each gate
    on its qubits; ``p_layer``: global depolarizing after each layer. The layers are
    ``layer_stack(qubits, max(depths), kind, seed=seed)``, those of a sweep's chain, applied to
    the chain's input state P_0|0...0> (:func:`~qsim_topo.experiments.products.initial_product`);
    they are generated once and shared by all the models.
    """
    n, dim = qubits, 2**qubits
    wanted = set(depths)
    # The sweep's state is P_D ... P_1 P_0|0...0>: its input is column 0 of the Haar P_0.
    psi = np.ascontiguousarray(initial_product(qubits, seed, "cpu")[:, :1])
    rhos = [np.outer(psi, psi.conj()) for _ in models]
    out: list[dict[int, ModelPoint]] = [{} for _ in models]
    for layer in layer_stack(qubits, max(depths), kind, seed=seed):
        for op in layer.ops:
            psi = apply_unitary(psi, op.matrix, op.qubits, n)
            rhos = [
                depolarize(_conjugate(r, op.matrix, op.qubits, n), p_gate, op.qubits, n)
                for r, (_, p_gate) in zip(rhos, models, strict=True)
            ]
        rhos = [
            depolarize(r, p_layer, tuple(range(n)), n)
            for r, (p_layer, _) in zip(rhos, models, strict=True)
        ]
        depth = layer.index + 1
        if depth in wanted:
            ideal = np.abs(psi[:, 0]) ** 2
            ideal_mean = dim * float(ideal @ ideal) - 1.0
            for i, rho in enumerate(rhos):
                probs = np.clip(np.real(np.diag(rho)), 0.0, None)
                fid = float(np.real(psi[:, 0].conj() @ rho @ psi[:, 0]))
                xeb = dim * float(probs @ ideal) - 1.0
                out[i][depth] = ModelPoint(
                    fidelity=fid,
                    xeb_normalised=xeb / ideal_mean if ideal_mean > 0 else math.nan,
                    tvd=0.5 * float(np.abs(probs - ideal).sum()),
                    xeb_ideal_mean=ideal_mean,
                )
    return out


@dataclass
class Validation:
    """The comparison of a fitted p with its simulation at every depth.

    ``table`` rows: depth, and for fidelity / xeb (normalised) / tvd the engine's mean, its CI
    half-width, and the model's mean over the same seeds. ``validated`` only when every
    comparison passes; ``reasons`` says what failed (or why nothing was simulated).

    For layers of two-qubit gates the per-gate figure is simulated too: 2-qubit depolarizing
    ``p_gate = 16/15 e`` after every gate (Pauli error e per gate), its fidelity in the table
    as ``fidelity_gate_model``; ``gate_fidelity_ok`` is None when there is no gate figure.
    """

    metric: str
    p_layer: float
    simulated: bool
    table: list[dict[str, float]] = field(default_factory=list)
    fidelity_ok: bool = False
    xeb_ok: bool = False
    tvd_ok: bool = False
    reasons: list[str] = field(default_factory=list)
    p_gate: float = math.nan
    gate_fidelity_ok: bool | None = None
    gate_reasons: list[str] = field(default_factory=list)
    simulator: str = "exact density-matrix channel (numpy; checked against Qiskit Aer in tests)"

    @property
    def validated(self) -> bool:
        """Simulated, and the model reproduces fidelity, XEB and TVD at every depth."""
        return self.simulated and self.fidelity_ok and self.xeb_ok and self.tvd_ok


def _why_not_simulated(cf: ConfigFit, fit: MetricFit | None, max_qubits: int) -> str | None:
    qubits = int(cf.config["qubits"])
    kind = str(cf.config.get("kind", ""))
    if fit is None or not fit.has_p():
        return "no fitted p to simulate"
    if qubits > max_qubits:
        return f"{qubits} qubits: validation simulates density matrices up to {max_qubits}"
    if kind not in LAYER_KINDS:
        return f"layers of kind {kind!r} cannot be regenerated for a simulation"
    return None


def _engine_series(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[int, int], dict[str, float]]:
    out: dict[tuple[int, int], dict[str, float]] = {}
    for row in rows:
        key = (int(row.get("seed") or 0), int(row["depth"]))
        values = {
            "fidelity": metric_value(row, "state_fidelity"),
            "xeb_normalised": metric_value(row, "xeb_normalised"),
            "tvd": metric_value(row, "tvd"),
            "xeb_ideal_mean": metric_value(row, "xeb_ideal_mean"),
        }
        out[key] = {k: v for k, v in values.items() if v is not None}
    return out


def _compare(
    v: Validation,
    fit: MetricFit,
    engine: Mapping[tuple[int, int], Mapping[str, float]],
    model: Mapping[tuple[int, int], ModelPoint],
) -> None:
    """Fill ``v`` from the engine's and the model's values per (seed, depth)."""
    half_alpha = (fit.alpha_hi - fit.alpha_lo) / 2 if math.isfinite(fit.alpha_lo) else 0.0
    alpha = fit.alpha
    fid_ok = xeb_ok = tvd_ok = True
    for depth in sorted({d for _, d in model}):
        seeds = sorted(s for s, d in model if d == depth)
        row: dict[str, float] = {"depth": float(depth)}
        # How far the model moves across the fit's interval of alpha, at this depth.
        band = depth * max(alpha, 0.0) ** (depth - 1) * half_alpha
        for name in ("fidelity", "xeb_normalised", "tvd"):
            eng = [engine[(s, depth)][name] for s in seeds if name in engine.get((s, depth), {})]
            mod = [getattr(model[(s, depth)], name) for s in seeds]
            if not eng:
                row[f"{name}_engine"] = row[f"{name}_ci"] = math.nan
                row[f"{name}_model"] = float(np.mean(mod))
                continue
            e_mean, lo, hi = t_interval(eng)
            ci = (hi - lo) / 2 if math.isfinite(lo) else 0.0
            m_mean = float(np.mean(mod))
            row[f"{name}_engine"], row[f"{name}_ci"], row[f"{name}_model"] = e_mean, ci, m_mean
            if name == "tvd":
                small = max(e_mean, m_mean) <= 1e-9
                ok = small or (
                    e_mean <= TVD_FACTOR * m_mean + ci and m_mean <= TVD_FACTOR * e_mean + ci
                )
                if not ok:
                    tvd_ok = False
                    v.reasons.append(
                        f"depth {depth}: the engine's output distribution is {e_mean:.3g} from "
                        f"the ideal one (TVD), the model's {m_mean:.3g}: the error is not a "
                        "mixture like depolarizing noise"
                    )
                continue
            tol = max(ci, band) + RELATIVE_SLACK * abs(1.0 - m_mean) + 1e-9
            if abs(e_mean - m_mean) > tol:
                label = "state fidelity" if name == "fidelity" else "normalised XEB"
                v.reasons.append(
                    f"depth {depth}: {label} {e_mean:.6g} (engine) vs {m_mean:.6g} (model), "
                    f"beyond the tolerance {tol:.2g}"
                )
                if name == "fidelity":
                    fid_ok = False
                else:
                    xeb_ok = False
        v.table.append(row)
    v.fidelity_ok, v.xeb_ok, v.tvd_ok = fid_ok, xeb_ok, tvd_ok


def _compare_gate_model(
    v: Validation,
    fit: MetricFit,
    engine: Mapping[tuple[int, int], Mapping[str, float]],
    model: Mapping[tuple[int, int], ModelPoint],
) -> None:
    """The engine's state fidelity against the per-gate model's, with _compare's tolerance."""
    half_alpha = (fit.alpha_hi - fit.alpha_lo) / 2 if math.isfinite(fit.alpha_lo) else 0.0
    ok = True
    for row in v.table:
        depth = int(row["depth"])
        fids = [p.fidelity for (s, d), p in model.items() if d == depth]
        m_mean = float(np.mean(fids))
        row["fidelity_gate_model"] = m_mean
        e_mean, ci = row["fidelity_engine"], row["fidelity_ci"]
        if not math.isfinite(e_mean):
            continue
        band = depth * max(fit.alpha, 0.0) ** (depth - 1) * half_alpha
        tol = max(ci, band) + RELATIVE_SLACK * abs(1.0 - m_mean) + 1e-9
        if abs(e_mean - m_mean) > tol:
            ok = False
            v.gate_reasons.append(
                f"depth {depth}: state fidelity {e_mean:.6g} (engine) vs {m_mean:.6g} "
                f"(2-qubit depolarizing {v.p_gate:.3g} after each gate), beyond {tol:.2g}"
            )
    v.gate_fidelity_ok = ok


def validate_fits(fits: Sequence[ConfigFit], *, max_qubits: int = MAX_QUBITS) -> None:
    """Simulate each fit's headline p on its own circuits and set ``fit.validation``.

    Configurations sharing qubits, kind and seeds share the generated layers. A configuration
    that cannot be simulated gets a Validation with ``simulated=False`` and the reason.
    """
    if max_qubits > MAX_QUBITS:
        raise ValueError(f"max_qubits must be <= {MAX_QUBITS}, got {max_qubits}")
    todo: dict[tuple[int, str], list[ConfigFit]] = {}
    for cf in fits:
        fit = cf.primary
        reason = _why_not_simulated(cf, fit, max_qubits)
        metric = fit.metric if fit is not None else ""
        p = fit.p if fit is not None and fit.has_p() else math.nan
        cf.validation = Validation(metric=metric, p_layer=p, simulated=False)
        if reason is not None:
            cf.validation.reasons.append(reason)
        else:
            todo.setdefault((int(cf.config["qubits"]), str(cf.config["kind"])), []).append(cf)
    for (qubits, kind), group in todo.items():
        engines = [_engine_series(cf.rows) for cf in group]
        seeds = sorted({s for e in engines for s, _ in e})
        depths = sorted({d for e in engines for _, d in e})
        # Per configuration: the layer model, and the per-gate model where there are gates.
        noise: list[tuple[float, float]] = []
        owner: list[int] = []
        for j, cf in enumerate(group):
            primary = cf.primary
            assert primary is not None
            noise.append((max(cf.validation.p_layer, 0.0), 0.0))
            owner.append(j)
            gate = cf.gate_error(primary) if kind != "dense" else None
            if gate is not None and math.isfinite(gate[0]):
                cf.validation.p_gate = min(16.0 / 15.0 * max(gate[0], 0.0), 16.0 / 15.0)
                noise.append((0.0, cf.validation.p_gate))
                owner.append(j)
        models: list[dict[tuple[int, int], ModelPoint]] = [{} for _ in noise]
        for seed in seeds:
            for i, points in enumerate(simulate_depolarizing(qubits, kind, seed, depths, noise)):
                for depth, point in points.items():
                    if (seed, depth) in engines[owner[i]]:
                        models[i][(seed, depth)] = point
        for j, (cf, engine) in enumerate(zip(group, engines, strict=True)):
            mine = [models[i] for i in range(len(noise)) if owner[i] == j]
            model = mine[0]
            gate_model = mine[1] if len(mine) > 1 else {}
            v = cf.validation
            mismatch = [
                key
                for key, point in model.items()
                if "xeb_ideal_mean" in engine[key]
                and not math.isclose(
                    engine[key]["xeb_ideal_mean"], point.xeb_ideal_mean, rel_tol=1e-6, abs_tol=1e-9
                )
            ]
            if mismatch:
                v.reasons.append(
                    f"the circuits regenerated from (qubits, kind, seed) are not the sweep's "
                    f"(ideal XEB mean differs at seed/depth {mismatch[0]}): not simulated"
                )
                continue
            v.simulated = True
            primary = cf.primary
            assert primary is not None
            _compare(v, primary, engine, model)
            if math.isfinite(v.p_gate):
                _compare_gate_model(v, primary, engine, gate_model)
