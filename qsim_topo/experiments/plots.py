"""PNG plots of a sweep summary (matplotlib, imported lazily: ``pip install 'qsim_topo[plot]'``)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.summary import flagged_cell

__all__ = ["PLOT_FILES", "write_plots"]

PLOT_FILES = ("fidelity_vs_depth.png", "frobenius_vs_depth.png", "xeb_vs_depth.png")


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise QsimTopoError(
            "plots need matplotlib (pip install 'qsim_topo[plot]'); the CSV and the table "
            "were written"
        ) from exc
    return plt


def _panels(summary: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return sorted({(e["qubits"], e["kind"]) for e in summary})


def _series(
    summary: list[dict[str, Any]], qubits: int, kind: str, metric: str
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for spec in sorted({e["engine_spec"] for e in summary}):
        pts = sorted(
            (e["depth"], e[f"{metric}_mean"], e[f"{metric}_ci95"])
            for e in summary
            if e["qubits"] == qubits
            and e["kind"] == kind
            and e["engine_spec"] == spec
            and e["n_seeds"] > 0
        )
        if pts:
            d, m, c = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
            out[spec] = (d, m, np.nan_to_num(c, nan=0.0))
    return out


def _flagged(summary: list[dict[str, Any]], qubits: int, kind: str, spec: str) -> np.ndarray:
    """Depths of (qubits, kind, spec) where a seed's state was zero or not finite."""
    return np.array(
        sorted(
            e["depth"]
            for e in summary
            if e["qubits"] == qubits
            and e["kind"] == kind
            and e["engine_spec"] == spec
            and e["n_seeds"] > 0
            and flagged_cell(e)
        ),
        dtype=float,
    )


FLAG_LABEL = "x: a seed's state was zero or not finite (the mean hides it)"


def _constant(value: float, _depth: float) -> float:
    return float(value)


def _mark_flagged(
    ax: Any, summary: list[dict[str, Any]], qubits: int, kind: str, y_of: Callable[[float], float]
) -> bool:
    """Overlay a red cross at each flagged cell of the panel; True when any was drawn."""
    drawn = False
    for spec in sorted({e["engine_spec"] for e in summary}):
        for depth in _flagged(summary, qubits, kind, spec):
            y = y_of(depth)
            if np.isfinite(y):
                ax.plot([depth], [y], "x", color="red", ms=11, mew=2.5, zorder=5)
                drawn = True
    return drawn


def _figure(plt: Any, n_panels: int, rows: int = 1) -> tuple[Any, Any]:
    fig, axes = plt.subplots(
        rows, n_panels, figsize=(5.2 * n_panels, 4.2 * rows), squeeze=False, constrained_layout=True
    )
    return fig, axes


def _finish(fig: Any, axes: Any, path: Path, title: str) -> None:
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=min(len(labels), 4),
            fontsize="small",
            title="engine",
        )
    fig.suptitle(title)
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:  # a full disk, a folder in the way: the caller prints one line
        raise QsimTopoError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_plots(summary: list[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the three PNGs (fidelity, Frobenius error and XEB vs depth) into ``out_dir``.

    One panel per (qubits, layer kind), one line per engine, error bars = 95% CI over seeds.
    A configuration where some seed's state was zero or not finite is marked with a red cross
    (at the bottom of the fidelity and XEB panels, at the top of the Frobenius one), since
    its mean hides that state. Returns the paths written.

    Raises:
        QsimTopoError: matplotlib is not installed.
    """
    plt = _pyplot()
    out = Path(out_dir)
    panels = _panels([e for e in summary if e["n_seeds"] > 0])
    if not panels:
        return []
    paths = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    specs = sorted({e["engine_spec"] for e in summary})
    color: Callable[[str], str] = lambda s: colors[specs.index(s) % len(colors)]  # noqa: E731

    # Fidelity: linear on top, infidelity on a log scale below (1.000000 hides everything).
    # State-mode rows measure the |0...0> input's state alone (no product, no Haar inputs).
    has_haar = any(np.isfinite(e.get("haar_input_fidelity_mean", np.nan)) for e in summary)
    fidelity_lines = [("haar_input_fidelity", "-"), ("state_fidelity", "--")]
    if not has_haar:
        fidelity_lines = [("state_fidelity", "-")]
    fig, axes = _figure(plt, len(panels), rows=2)
    for col, (q, kind) in enumerate(panels):
        top, bottom = axes[0][col], axes[1][col]
        for metric, style in fidelity_lines:
            for spec, (d, m, c) in _series(summary, q, kind, metric).items():
                lab = spec if metric == fidelity_lines[0][0] else None
                top.errorbar(
                    d, m, yerr=c, fmt="o" + style, color=color(spec), label=lab, capsize=3, ms=4
                )
                bottom.plot(d, np.clip(1.0 - m, 1e-17, None), "o" + style, color=color(spec), ms=4)
        top.set_title(f"{q} qubits, {kind} layers")
        top.set_ylabel("state fidelity")
        top.set_ylim(-0.02, 1.02)
        bottom.set_yscale("log")
        bottom.set_ylabel("1 - fidelity (log; clipped at 1e-17)")
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("depth D (layers)")
            ax.grid(True, alpha=0.3)
        _mark_flagged(top, summary, q, kind, lambda _d: 0.0)
    if has_haar:
        axes[0][0].plot([], [], "k-", label="solid: Haar-random inputs")
        axes[0][0].plot([], [], "k--", label="dashed: |0...0> input")
    if any(flagged_cell(e) for e in summary):
        axes[0][0].plot([], [], "x", color="red", ms=11, mew=2.5, label=FLAG_LABEL)
    _finish(fig, axes, out / PLOT_FILES[0], "State fidelity vs depth (mean, 95% CI over seeds)")
    plt.close(fig)
    paths.append(out / PLOT_FILES[0])

    # State-mode rows have no product, hence no Frobenius error: no such plot for them.
    if any(np.isfinite(e.get("frobenius_error_mean", np.nan)) for e in summary):
        paths.append(_frobenius_plot(plt, summary, panels, color, out))

    fig, axes = _figure(plt, len(panels))
    for col, (q, kind) in enumerate(panels):
        ax = axes[0][col]
        band = _series(summary, q, kind, "xeb_ideal_mean")
        std = _series(summary, q, kind, "xeb_ideal_std")
        if band:
            spec0 = next(iter(band))
            d, m, _ = band[spec0]
            s = std[spec0][1]
            ax.fill_between(
                d, m - 2 * s, m + 2 * s, color="0.85", label="ideal sampler, mean ± 2 std"
            )
        for spec, (d, m, c) in _series(summary, q, kind, "xeb").items():
            label = spec
            if np.isnan(m).any():  # a seed's state was exactly zero: nothing to sample
                label = f"{spec} (no XEB where a seed's state was zero)"
            ax.errorbar(d, m, yerr=c, fmt="o-", color=color(spec), label=label, capsize=3, ms=4)
        ax.axhline(0.0, color="0.5", lw=0.8)
        _mark_flagged(ax, summary, q, kind, lambda _d: 0.0)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{q} qubits, {kind} layers")
        ax.set_xlabel("depth D")
        ax.set_ylabel("linear XEB of sampled bitstrings")
        ax.grid(True, alpha=0.3)
    if any(flagged_cell(e) for e in summary):
        axes[0][0].plot([], [], "x", color="red", ms=11, mew=2.5, label=FLAG_LABEL)
    _finish(
        fig, axes, out / PLOT_FILES[2], "Linear XEB vs depth (shaded: what an exact sampler gets)"
    )
    plt.close(fig)
    paths.append(out / PLOT_FILES[2])
    return paths


def _frobenius_plot(
    plt: Any,
    summary: list[dict[str, Any]],
    panels: list[tuple[int, str]],
    color: Callable[[str], str],
    out: Path,
) -> Path:
    """The Frobenius-error PNG (raw and aligned, per panel); returns its path."""
    fig, axes = _figure(plt, len(panels))
    for col, (q, kind) in enumerate(panels):
        ax = axes[0][col]
        for metric, style in (("frobenius_error", "-"), ("aligned_frobenius_error", ":")):
            for spec, (d, m, c) in _series(summary, q, kind, metric).items():
                lab = spec if metric == "frobenius_error" else None
                ax.errorbar(
                    d,
                    np.clip(m, 1e-17, None),
                    yerr=c,
                    fmt="o" + style,
                    color=color(spec),
                    label=lab,
                    capsize=3,
                    ms=4,
                )
        ax.set_yscale("log")
        ax.set_xscale("log", base=2)
        _mark_flagged(ax, summary, q, kind, functools.partial(_constant, ax.get_ylim()[1]))
        ax.set_title(f"{q} qubits, {kind} layers")
        ax.set_xlabel("depth D")
        ax.set_ylabel("||P_approx - P_exact||_F / ||P_exact||_F")
        ax.grid(True, alpha=0.3)
    axes[0][0].plot([], [], "k-", label="solid: raw")
    axes[0][0].plot([], [], "k:", label="dotted: scale/phase aligned")
    if any(flagged_cell(e) for e in summary):
        axes[0][0].plot([], [], "x", color="red", ms=11, mew=2.5, label=FLAG_LABEL)
    _finish(fig, axes, out / PLOT_FILES[1], "Relative Frobenius error of the product vs depth")
    plt.close(fig)
    return out / PLOT_FILES[1]
