"""Summaries of a sweep's rows: mean and 95% confidence interval over seeds, per configuration.

A mean never hides a vanished or exploded state: each configuration also carries how many
of its seeds ended with a zero or non-finite state and the smallest and largest norm.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.store import SUMMARY_METRICS

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


#: A printed column: its title, width, the summary keys whose means it shows (a column is left
#: out when every one of them is nan on every line of its table) and how a line's cell reads.
_Column = tuple[str, int, tuple[str, ...], Callable[[dict[str, Any]], str]]


def _pm_of(metric: str, fmt: str) -> Callable[[dict[str, Any]], str]:
    return lambda e: _pm(e[f"{metric}_mean"], e[f"{metric}_ci95"], fmt)


def _num_of(key: str, fmt: str) -> Callable[[dict[str, Any]], str]:
    return lambda e: format(e.get(key, math.nan), fmt)


def _ideal_xeb_cell(e: dict[str, Any]) -> str:
    return f"{e['xeb_ideal_mean_mean']:>7.3f}±{2 * e['xeb_ideal_std_mean']:<7.3f}"


_KEY_COLUMNS: tuple[_Column, ...] = (
    ("engine", -26, (), lambda e: format(e["engine_spec"], "<26.26")),
    ("q", 3, (), lambda e: str(e["qubits"])),
    ("kind", -9, (), lambda e: str(e["kind"])),
    ("D", 3, (), lambda e: str(e["depth"])),
    ("seeds", 5, (), lambda e: str(e["n_seeds"])),
)
_TAIL_COLUMNS: tuple[_Column, ...] = (
    ("time s", 8, ("wall_time_s_mean",), _num_of("wall_time_s_mean", ".3f")),
    ("t/t_exact", 9, ("time_ratio_mean",), _num_of("time_ratio_mean", ".3g")),
    ("flops", 6, ("flops_fraction_mean",), _num_of("flops_fraction_mean", ".3g")),
)
_NORM_COLUMN: _Column = ("norm mean [min, max]", 28, ("norm_mean",), _norm_cell)
#: The layer stack's table (dense and gate modes).
_LAYER_COLUMNS: tuple[_Column, ...] = (
    *_KEY_COLUMNS,
    ("F |0..0>", 22, ("state_fidelity_mean",), _pm_of("state_fidelity", ".6f")),
    ("F Haar-in", 22, ("haar_input_fidelity_mean",), _pm_of("haar_input_fidelity", ".6f")),
    ("F process", 10, ("process_fidelity_mean",), _num_of("process_fidelity_mean", ".4g")),
    (
        "err/layer",
        9,
        ("haar_input_fidelity_error_per_layer",),
        _num_of("haar_input_fidelity_error_per_layer", ".2e"),
    ),
    ("Frob raw", 19, ("frobenius_error_mean",), _pm_of("frobenius_error", ".3e")),
    (
        "Frob aligned",
        19,
        ("aligned_frobenius_error_mean",),
        _pm_of("aligned_frobenius_error", ".3e"),
    ),
    _NORM_COLUMN,
    ("XEB", 18, ("xeb_mean",), _pm_of("xeb", ".3f")),
    ("ideal XEB", 15, ("xeb_ideal_mean_mean", "xeb_ideal_std_mean"), _ideal_xeb_cell),
    *_TAIL_COLUMNS,
)
_LAYER_LEGEND = (
    "mean ± 95% CI half-width over seeds; err/layer = 1 - F_Haar^(1/D); ideal XEB = an exact "
    "sampler's mean ± 2 std for the same number of samples; t/t_exact = measured time over "
    "the exact engine's (median over layers) beside the declared flops fraction; depth D = "
    "D layers on a Haar-random P_0 (D engine products in dense mode)"
)
#: A circuit family's state (state mode).
_STATE_COLUMNS: tuple[_Column, ...] = (
    *_KEY_COLUMNS,
    ("F", 22, ("state_fidelity_mean",), _pm_of("state_fidelity", ".6f")),
    _NORM_COLUMN,
    ("XEB/ideal", 18, ("xeb_normalized_mean",), _pm_of("xeb_normalized", ".4f")),
    ("log-XEB", 18, ("log_xeb_mean",), _pm_of("log_xeb", ".4f")),
    ("TVD", 18, ("tvd_mean",), _pm_of("tvd", ".3e")),
    *_TAIL_COLUMNS,
)
_STATE_LEGEND = (
    "state mode, mean ± 95% CI half-width over seeds: F = |<psi_exact|psi_engine>|^2 over "
    "both norms; XEB/ideal = linear XEB of samples drawn from the engine's state, scored with "
    "the exact probabilities, over the exact state's own D sum p^2 - 1; log-XEB = log D + "
    "gamma + mean log p_exact(sample) (Boixo et al. 2018); TVD = total variation distance "
    "between the exact and engine output distributions over all outcomes; t/t_exact = measured "
    "time over the exact engine's beside the declared flops fraction; depth D = D cycles of "
    "the family, closed by its final layer"
)


def _shown(value: Any) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def _table(summary: list[dict[str, Any]], columns: tuple[_Column, ...], legend: str) -> list[str]:
    """Header, rule, one line per configuration, blank, legend; all-nan columns left out."""
    kept = [
        c for c in columns if not c[2] or any(_shown(e.get(k)) for e in summary for k in c[2])
    ]

    def cell(text: str, width: int) -> str:
        return format(text, f"<{-width}") if width < 0 else format(text, f">{width}")

    header = " ".join(cell(title, width) for title, width, _, _ in kept)
    lines = [header, "-" * len(header)]
    for e in summary:
        timed_out = f", {e['n_timed_out']} timed out" if e.get("n_timed_out") else ""
        failed = f" ({e['n_failed']} failed{timed_out})" if e["n_failed"] else ""
        diagnosed = (
            f" [{e['n_diagnosed']}/{e['n_seeds']} seeds with diagnostics]"
            if e.get("n_diagnosed")
            else ""
        )
        line = " ".join(cell(show(e), width) for _, width, _, show in kept)
        lines.append(f"{line}{failed}{diagnosed}")
    return [*lines, "", legend]


def format_summary(summary: list[dict[str, Any]]) -> str:
    """A readable table: mean ± 95% CI over seeds, one line per configuration.

    Layer-stack configurations (dense and gate modes) and state-mode ones (a circuit family's
    state) measure different things, so each gets its own table, columns and legend; a sweep
    holding both prints the layer-stack table first. A column whose value is nan on every
    line of its table is left out. The norm column shows the mean with [min, max] over seeds
    and, when any seed's state was zero or not finite, how many: a mean of 2 and 0 reads 1
    otherwise.
    """
    if not summary:
        return "no results stored"
    layer = [e for e in summary if e.get("mode") != "state"]
    state = [e for e in summary if e.get("mode") == "state"]
    lines: list[str] = []
    if layer:
        lines += _table(layer, _LAYER_COLUMNS, _LAYER_LEGEND)
    if state:
        lines += [""] if lines else []
        lines += _table(state, _STATE_COLUMNS, _STATE_LEGEND)
    return "\n".join(lines)
