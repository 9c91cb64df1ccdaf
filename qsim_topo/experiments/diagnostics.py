"""Plain-language warnings for measurements that look good for the wrong reason.

Each rule compares two metrics that should agree for an honest approximation and names the
artifact when they do not. Thresholds are module constants so reports and tests share them.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

__all__ = ["diagnose"]

#: Raw Frobenius error this many times the aligned error (and above MIN_ERROR) means a scale
#: or phase factor dominates the error.
SCALE_RATIO = 10.0
MIN_ERROR = 1e-3
#: |0...0>-fidelity minus Haar-input fidelity above this: the |0...0> column is special.
COLUMN_GAP = 0.05
#: |norm - 1| above this is reported as drift.
NORM_TOLERANCE = 1e-3
#: Fidelity under this with an XEB inside the ideal band: XEB does not certify fidelity.
XEB_FIDELITY = 0.9


class _Report(Protocol):
    state_fidelity: float
    norm: float
    frobenius_error: float
    aligned_frobenius_error: float
    unitary_norm_ratio: float
    haar_input_fidelity: float
    xeb: float
    xeb_ideal_mean: float
    xeb_ideal_std: float


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
    if r.state_fidelity - r.haar_input_fidelity > COLUMN_GAP:
        out.append(
            f"only the |0...0> column is right: fidelity {r.state_fidelity:.6f} on |0...0> "
            f"but {r.haar_input_fidelity:.6f} on Haar-random inputs"
        )
    if math.isfinite(r.norm) and abs(r.norm - 1.0) > NORM_TOLERANCE:
        out.append(
            f"norm drift: the state's norm is {r.norm:.6g}, not 1 (the engine does not "
            "preserve unitarity; fidelity is normalised and hides this)"
        )
    in_band = (
        math.isfinite(r.xeb)
        and r.xeb_ideal_std > 0
        and abs(r.xeb - r.xeb_ideal_mean) <= 2.0 * r.xeb_ideal_std
    )
    if in_band and r.state_fidelity < XEB_FIDELITY:
        out.append(
            f"XEB {r.xeb:.3f} is inside the ideal-sampler band "
            f"({r.xeb_ideal_mean:.3f} +/- {2 * r.xeb_ideal_std:.3f}) although the state "
            f"fidelity is {r.state_fidelity:.4f}: XEB does not certify fidelity here"
        )
    return out
