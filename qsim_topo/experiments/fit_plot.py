"""F vs D of noise-equivalence fits: data, fitted curves and hardware reference lines (PNG).

matplotlib is imported lazily (the ``plot`` extra).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.fit import ConfigFit
from qsim_topo.experiments.fit_metrics import metric_floor

__all__ = ["write_fit_plot"]


def write_fit_plot(
    fits: Sequence[ConfigFit],
    path: str | os.PathLike[str],
    *,
    metric: str = "state_fidelity",
    references: Sequence[tuple[str, float]] = (),
) -> Path:
    """Write F vs D with fitted curves and hardware reference lines to ``path`` (PNG).

    One panel per (qubits, kind): ``metric`` vs depth per engine, its fitted curve
    F = A alpha^D (1 - B) + B, and for each (label, e) of ``references`` the curve of a device
    with Pauli error e per two-qubit gate, (1 - e)^(g D) (1 - B) + B, with g the layer's
    two-qubit gates (n/2 for dense layers, which have no gate decomposition: said in the
    legend). Log y axis. Returns the path written.

    Raises:
        QsimTopoError: matplotlib is missing, or no configuration carries ``metric``.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise QsimTopoError(
            "the fit plot needs matplotlib (pip install 'qsim_topo[plot]')"
        ) from exc
    panels = sorted(
        {
            (int(cf.config["qubits"]), str(cf.config.get("kind", "")))
            for cf in fits
            if metric in cf.metrics
        }
    )
    if not panels:
        raise QsimTopoError(f"no configuration carries {metric!r}: nothing to plot")
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.4 * len(panels), 6.4), squeeze=False, constrained_layout=True
    )
    for ax, (qubits, kind) in zip(axes[0], panels, strict=True):
        floor = metric_floor(metric, 2**qubits)
        dmax = 1
        for cf in fits:
            m = cf.metrics.get(metric)
            if m is None or (int(cf.config["qubits"]), str(cf.config.get("kind", ""))) != (
                qubits,
                kind,
            ):
                continue
            d = np.array([c[0] for c in m.curve], dtype=float)
            f = np.array([c[1] for c in m.curve]) * (1 - floor) + floor
            err = np.nan_to_num(np.array([c[2] for c in m.curve]) * (1 - floor))
            # A log axis cannot show a bar reaching below zero: the lower bar stops at F/10.
            yerr = np.vstack([np.minimum(err, 0.9 * np.abs(f)), err])
            dmax = max(dmax, int(d.max()))
            engine = str(cf.config.get("engine_spec", cf.config.get("engine", "?")))
            line = ax.errorbar(d, f, yerr=yerr, fmt="o", ms=4, capsize=2, label=engine)
            if m.has_p() and math.isfinite(m.amplitude):
                dd = np.linspace(0, d.max(), 100)
                ax.plot(
                    dd,
                    m.amplitude * m.alpha**dd * (1 - floor) + floor,
                    "-",
                    color=line[0].get_color(),
                    lw=1,
                )
        cf_gates: float | None = None
        for cf in fits:
            if (int(cf.config["qubits"]), str(cf.config.get("kind", ""))) == (qubits, kind):
                cf_gates = cf.gates
        g = cf_gates if cf_gates is not None else qubits / 2
        dd = np.linspace(0, dmax, 100)
        for label, e in references:
            note = "" if cf_gates is not None else f", {g:g} gates/layer assumed"
            ax.plot(
                dd,
                (1 - e) ** (g * dd) * (1 - floor) + floor,
                "--",
                lw=1.2,
                label=f"{label} (e={100 * e:.3g}%/2q gate{note})",
            )
        ax.set_yscale("log")
        ax.set_xlabel("depth D (layers)")
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(f"{qubits} qubits, {kind}")
        ax.axhline(floor, color="grey", lw=0.6, ls=":")
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.suptitle("noise equivalence: data (points, 95% CI), fitted A alpha^D (lines)")
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
