"""Summaries of a sweep's rows: mean and 95% confidence interval over seeds, per configuration.

A mean never hides a vanished or exploded state: each configuration also carries how many
of its seeds ended with a zero or non-finite state and the smallest and largest norm.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from qsim_topo.errors import QsimTopoError

__all__ = [
    "GROUP_FIELDS",
    "SUMMARY_METRICS",
    "flagged_cell",
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
    "haar_input_fidelity_expected",
    "norm",
    "xeb",
    "xeb_infinite",
    "xeb_ideal_mean",
    "xeb_ideal_std",
    "xeb_normalized",
    "log_xeb",
    "tvd",
    "flops_fraction",
    "wall_time_s",
    "exact_wall_time_s",
    "time_ratio",
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

    Keys: the group fields, ``n_seeds`` (ok rows), ``n_failed`` (every other row, timed-out
    ones included), ``n_timed_out`` (rows stopped at the time limit), ``<metric>_mean`` and
    ``<metric>_ci95`` for each of ``SUMMARY_METRICS`` (a metric a row lacks, as rows of older
    versions do, is left out of its mean), the estimated error per layer ``1 - F^(1/D)`` of
    the mean |0...0> and Haar-input fidelities, and what a mean would hide: ``n_zero_state``
    and ``n_nonfinite_state`` (ok rows whose final state has norm 0, or a NaN/Inf norm),
    ``norm_min`` and ``norm_max`` (over all ok rows, NaN included as NaN), and
    ``n_diagnosed`` (ok rows with at least one diagnostic).
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
        entry["n_timed_out"] = sum(1 for r in members if r.get("status") == "timed_out")
        for metric in SUMMARY_METRICS:
            mean, ci = mean_ci(r.get(metric) for r in ok)
            entry[f"{metric}_mean"] = mean
            entry[f"{metric}_ci95"] = ci
        norms = np.asarray(
            [r["norm"] if r.get("norm") is not None else math.nan for r in ok], dtype=np.float64
        )
        entry["n_zero_state"] = int(np.count_nonzero(norms == 0.0))
        entry["n_nonfinite_state"] = int(np.count_nonzero(~np.isfinite(norms)))
        if norms.size and np.isnan(norms).any():
            entry["norm_min"] = entry["norm_max"] = math.nan
        else:
            entry["norm_min"] = float(norms.min()) if norms.size else math.nan
            entry["norm_max"] = float(norms.max()) if norms.size else math.nan
        entry["n_diagnosed"] = sum(1 for r in ok if r.get("diagnostics"))
        depth = entry["depth"]
        for metric in ("state_fidelity", "haar_input_fidelity"):
            f = entry[f"{metric}_mean"]
            entry[f"{metric}_error_per_layer"] = (
                1.0 - f ** (1.0 / depth) if math.isfinite(f) and f > 0 else math.nan
            )
        out.append(entry)
    return out


def write_csv(summary: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write the summary as CSV (one row per configuration), atomically.

    Raises:
        QsimTopoError: the file cannot be written (a full disk, a folder in its place); the
            previous file, if any, is left as it was.

    """
    if not summary:
        return
    tmp = f"{os.fspath(path)}.tmp"
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
            writer.writeheader()
            writer.writerows(summary)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise QsimTopoError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc


def _pm(mean: float, ci: float, fmt: str) -> str:
    if not math.isfinite(mean):
        return str(mean)
    if not math.isfinite(ci):
        return format(mean, fmt)
    return f"{format(mean, fmt)}±{format(ci, '.1e')}"


def _norm_cell(e: dict[str, Any]) -> str:
    """'mean [min, max]' of the norm, with the zero / non-finite counts when there are any."""
    lo, hi = e.get("norm_min", math.nan), e.get("norm_max", math.nan)
    text = f"{e['norm_mean']:.4g} [{lo:.3g}, {hi:.3g}]"
    marks = []
    if e.get("n_zero_state"):
        marks.append(f"{e['n_zero_state']} zero")
    if e.get("n_nonfinite_state"):
        marks.append(f"{e['n_nonfinite_state']} non-finite")
    return text + (f" ({', '.join(marks)})" if marks else "")


def flagged_cell(e: dict[str, Any]) -> bool:
    """True when a configuration had a zero or non-finite state in some seed."""
    return bool(e.get("n_zero_state") or e.get("n_nonfinite_state"))


def format_summary(summary: list[dict[str, Any]]) -> str:
    """A readable table: mean ± 95% CI over seeds, one line per configuration.

    The norm column shows the mean with [min, max] over seeds and, when any seed's state was
    zero or not finite, how many: a mean of 2 and 0 reads 1 otherwise.
    """
    if not summary:
        return "no results stored"
    header = (
        f"{'engine':<26} {'q':>3} {'kind':<9} {'D':>3} {'seeds':>5} "
        f"{'F |0..0>':>22} {'F Haar-in':>22} {'F process':>10} {'err/layer':>9} "
        f"{'Frob raw':>19} {'Frob aligned':>19} {'norm mean [min, max]':>28} {'XEB':>18} "
        f"{'ideal XEB':>15} {'time s':>8} {'t/t_exact':>9} {'flops':>6}"
    )
    lines = [header, "-" * len(header)]
    for e in summary:
        timed_out = f", {e['n_timed_out']} timed out" if e.get("n_timed_out") else ""
        failed = f" ({e['n_failed']} failed{timed_out})" if e["n_failed"] else ""
        diagnosed = (
            f" [{e['n_diagnosed']}/{e['n_seeds']} seeds with diagnostics]"
            if e.get("n_diagnosed")
            else ""
        )

        def pm(metric: str, fmt: str, e: dict[str, Any] = e) -> str:
            return _pm(e[f"{metric}_mean"], e[f"{metric}_ci95"], fmt)

        lines.append(
            f"{e['engine_spec']:<26.26} {e['qubits']:>3} {e['kind']:<9} {e['depth']:>3} "
            f"{e['n_seeds']:>5} {pm('state_fidelity', '.6f'):>22} "
            f"{pm('haar_input_fidelity', '.6f'):>22} "
            f"{e['process_fidelity_mean']:>10.4g} "
            f"{e['haar_input_fidelity_error_per_layer']:>9.2e} "
            f"{pm('frobenius_error', '.3e'):>19} {pm('aligned_frobenius_error', '.3e'):>19} "
            f"{_norm_cell(e):>28} {pm('xeb', '.3f'):>18} "
            f"{e['xeb_ideal_mean_mean']:>7.3f}±{2 * e['xeb_ideal_std_mean']:<7.3f} "
            f"{e['wall_time_s_mean']:>8.3f} {e.get('time_ratio_mean', math.nan):>9.3g} "
            f"{e['flops_fraction_mean']:>6.3g}{failed}{diagnosed}"
        )
    lines.append("")
    lines.append(
        "mean ± 95% CI half-width over seeds; err/layer = 1 - F_Haar^(1/D); ideal XEB = an exact "
        "sampler's mean ± 2 std for the same number of samples; t/t_exact = measured time over "
        "the exact engine's (median over layers) beside the declared flops fraction; depth D = "
        "D layers on a Haar-random P_0 (D engine products in dense mode)"
    )
    return "\n".join(lines)
