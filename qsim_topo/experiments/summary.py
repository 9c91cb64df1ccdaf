"""Summaries of a sweep's rows: mean and 95% confidence interval over seeds, per configuration."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "GROUP_FIELDS",
    "SUMMARY_METRICS",
    "format_summary",
    "mean_ci",
    "summarize",
    "write_csv",
]

#: A configuration: every field of a row but the seed (and the measured values).
GROUP_FIELDS = (
    "qubits",
    "kind",
    "mode",
    "engine_spec",
    "dtype",
    "device",
    "samples",
    "haar_states",
    "depth",
)
SUMMARY_METRICS = (
    "state_fidelity",
    "haar_input_fidelity",
    "frobenius_error",
    "aligned_frobenius_error",
    "process_fidelity",
    "norm",
    "xeb",
    "xeb_infinite",
    "xeb_ideal_mean",
    "xeb_ideal_std",
    "tvd",
    "flops_fraction",
    "wall_time_s",
    "exact_wall_time_s",
)


def mean_ci(values: Iterable[float | None], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval (nan with one value)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2 or not np.all(np.isfinite(v)):
        return mean, math.nan
    from scipy import stats

    t = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1))
    return mean, t * float(v.std(ddof=1)) / math.sqrt(v.size)


def summarize(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per configuration (``GROUP_FIELDS``), over the latest row of each experiment.

    Keys: the group fields, ``n_seeds`` (ok rows), ``n_failed``, ``<metric>_mean`` and
    ``<metric>_ci95`` for each of ``SUMMARY_METRICS``, and the estimated error per layer
    ``1 - F^(1/D)`` of the mean |0...0> and Haar-input fidelities.
    """
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest[row["key"]] = row
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in latest.values():
        groups.setdefault(tuple(row.get(f) for f in GROUP_FIELDS), []).append(row)
    out = []
    for key in sorted(groups, key=lambda k: (*(str(x) for x in k[:-1]), k[-1])):
        members = groups[key]
        ok = [r for r in members if r.get("status") == "ok"]
        entry: dict[str, Any] = dict(zip(GROUP_FIELDS, key, strict=True))
        entry["n_seeds"] = len(ok)
        entry["n_failed"] = len(members) - len(ok)
        for metric in SUMMARY_METRICS:
            mean, ci = mean_ci(r.get(metric) for r in ok)
            entry[f"{metric}_mean"] = mean
            entry[f"{metric}_ci95"] = ci
        depth = entry["depth"]
        for metric in ("state_fidelity", "haar_input_fidelity"):
            f = entry[f"{metric}_mean"]
            entry[f"{metric}_error_per_layer"] = (
                1.0 - f ** (1.0 / depth) if math.isfinite(f) and f > 0 else math.nan
            )
        out.append(entry)
    return out


def write_csv(summary: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write the summary as CSV (one row per configuration), atomically."""
    if not summary:
        return
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    os.replace(tmp, path)


def _pm(mean: float, ci: float, fmt: str) -> str:
    if not math.isfinite(mean):
        return str(mean)
    if not math.isfinite(ci):
        return format(mean, fmt)
    return f"{format(mean, fmt)}±{format(ci, '.1e')}"


def format_summary(summary: list[dict[str, Any]]) -> str:
    """A readable table: mean ± 95% CI over seeds, one line per configuration."""
    if not summary:
        return "no results stored"
    header = (
        f"{'engine':<26} {'q':>3} {'kind':<9} {'D':>3} {'seeds':>5} "
        f"{'F |0..0>':>22} {'F Haar-in':>22} {'err/layer':>9} {'Frob raw':>19} "
        f"{'Frob aligned':>19} {'norm':>8} {'XEB':>18} {'ideal XEB':>15} {'time s':>8}"
    )
    lines = [header, "-" * len(header)]
    for e in summary:
        failed = f" ({e['n_failed']} failed)" if e["n_failed"] else ""

        def pm(metric: str, fmt: str, e: dict[str, Any] = e) -> str:
            return _pm(e[f"{metric}_mean"], e[f"{metric}_ci95"], fmt)

        lines.append(
            f"{e['engine_spec']:<26.26} {e['qubits']:>3} {e['kind']:<9} {e['depth']:>3} "
            f"{e['n_seeds']:>5} {pm('state_fidelity', '.6f'):>22} "
            f"{pm('haar_input_fidelity', '.6f'):>22} "
            f"{e['haar_input_fidelity_error_per_layer']:>9.2e} "
            f"{pm('frobenius_error', '.3e'):>19} {pm('aligned_frobenius_error', '.3e'):>19} "
            f"{e['norm_mean']:>8.4f} {pm('xeb', '.3f'):>18} "
            f"{e['xeb_ideal_mean_mean']:>7.3f}±{2 * e['xeb_ideal_std_mean']:<7.3f} "
            f"{e['wall_time_s_mean']:>8.3f}{failed}"
        )
    lines.append("")
    lines.append(
        "mean ± 95% CI half-width over seeds; err/layer = 1 - F_Haar^(1/D); ideal XEB = an exact "
        "sampler's mean ± 2 std for the same number of samples"
    )
    return "\n".join(lines)
