"""Output-subset ("topology") products: compute some output rows or columns, infer the rest.

This is a *reconstruction of the idea described* in public posts about a "Topology MatMul";
the original implementation is unpublished and this is not its author's code. As described,
the method computes a fraction of the output exactly — the "anchors" — and reconstructs the
remaining entries from them:

* ``axis=0``: anchors are output rows, ``C[j, :] = A[j, :] @ B`` for the anchor rows j;
  ``axis=1``: anchors are output columns, ``C[:, j] = A @ B[:, j]``.
* ``anchors="even"``: ``max(1, round(ratio * size))`` indices evenly spaced from 0 to
  ``size - 1`` (rounded ``linspace``); ``"random"``: that many distinct indices drawn with the
  engine's Generator.
* ``fill="interp"``: a non-anchor line is the linear interpolation between its two
  neighbouring anchors along the axis (lines before the first / after the last anchor copy it);
  ``"nearest"``: a copy of the nearest anchor (ties go to the lower index); ``"zero"``: zeros.

Nothing here is tuned to look good. Neighbouring rows of a product carry no relation in
general — for Haar-random unitaries interpolation is no better than a guess — so this is
expected to be a bad approximation there. An honest property to keep in mind when reading
metrics: with ``anchors="even"`` index 0 is always an anchor, so with ``axis=1`` the output
column 0 — the image of ``|0...0>`` — is exact (with ``axis=0``, row 0), and any metric that
only looks at ``|0...0>`` sees no error at all. The project's metrics are designed to expose
that (e.g. fidelity on Haar-random input states).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qsim_topo.engines.base import EngineBase, register_engine
from qsim_topo.engines.complex_adapter import (
    check_choice,
    check_ratio,
    exact_complex_flops,
    real_dtype_of,
)
from qsim_topo.xp import SeedLike, array_namespace, as_generator

__all__ = ["ANCHOR_MODES", "FILL_MODES", "TopologyEngine", "anchor_count", "even_anchors"]

ANCHOR_MODES = ("even", "random")
FILL_MODES = ("interp", "nearest", "zero")


def anchor_count(ratio: float, size: int) -> int:
    """Number of exactly computed lines: ``max(1, round(ratio * size))``, at most size."""
    return min(size, max(1, round(ratio * size)))


def even_anchors(count: int, size: int) -> np.ndarray:
    """``count`` distinct, evenly spaced indices in ``[0, size)``, starting at 0 (int64)."""
    if count == 1:
        return np.zeros(1, dtype=np.int64)
    return np.unique(np.rint(np.linspace(0, size - 1, count)).astype(np.int64))


def fill_plan(
    anchors: np.ndarray, size: int, fill: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Host plan of the reconstruction: line i = (1 - t_i) L[left_i] + t_i L[right_i].

    Args:
        anchors: sorted distinct anchor indices (c,).
        size: number of lines along the axis.
        fill: ``"interp"`` or ``"nearest"`` (``"zero"`` needs no plan).

    Returns:
        ``(left, right, t)``: (size,) int64 positions into the anchor list and (size,) float64
        weights; anchors get ``t = 0`` and left = their own position.
    """
    pos = np.arange(size)
    right = np.searchsorted(anchors, pos, side="left")  # first anchor >= i
    right = np.minimum(right, anchors.size - 1)
    left = np.where(anchors[right] > pos, np.maximum(right - 1, 0), right)
    lo, hi = anchors[left], anchors[right]
    span = hi - lo
    t = np.where(span > 0, (pos - lo) / np.where(span > 0, span, 1), 0.0)
    t = np.clip(t, 0.0, 1.0)  # before the first / after the last anchor: copy it
    if fill == "nearest":
        take_right = t > 0.5
        left = np.where(take_right, right, left)
        t = np.zeros(size)
    return left.astype(np.int64), right.astype(np.int64), t


class TopologyEngine(EngineBase):
    """Reconstruction of the described "Topology MatMul": exact anchor lines, the rest filled.

    Options:
        ratio: fraction of output rows (``axis=0``) or columns (``axis=1``) computed exactly.
        axis: 0 (rows) or 1 (columns).
        anchors: ``"even"`` (deterministic, includes index 0) or ``"random"``.
        fill: ``"interp"``, ``"nearest"`` or ``"zero"``.
        seed: seed of the Generator that draws random anchors (fresh ones on each call).
    """

    name = "topology"
    exact = False
    family = "topology"

    def __init__(
        self,
        *,
        ratio: float = 0.25,
        axis: int = 0,
        anchors: str = "even",
        fill: str = "interp",
        seed: SeedLike = None,
    ) -> None:
        super().__init__(ratio=ratio, axis=axis, anchors=anchors, fill=fill, seed=seed)
        self.ratio = check_ratio(ratio)
        self.axis: int = check_choice("axis", axis, (0, 1))
        self.anchors: str = check_choice("anchors", anchors, ANCHOR_MODES)
        self.fill: str = check_choice("fill", fill, FILL_MODES)
        self._rng = as_generator(seed)

    def choose_anchors(self, size: int) -> np.ndarray:
        """Sorted distinct anchor indices (host int64) for ``size`` lines along the axis."""
        count = anchor_count(self.ratio, size)
        if self.anchors == "even":
            return even_anchors(count, size)
        return np.sort(self._rng.choice(size, size=count, replace=False)).astype(np.int64)

    def matmul(self, a: Any, b: Any, /) -> Any:
        """Anchor lines of ``a @ b`` exactly, the others reconstructed (module docstring).

        ``a`` (m, k), ``b`` (k, n): numpy or cupy, real or complex; not modified. Returns a new
        (m, n) array of ``result_type(a, b)``.
        """
        xp = array_namespace(a, b)
        out_dtype = xp.result_type(a, b)
        m = a.shape[0]
        n = b.shape[1]
        size = m if self.axis == 0 else n
        if size == 0:
            return xp.zeros((m, n), dtype=out_dtype)
        anchors = self.choose_anchors(size)
        idx = xp.asarray(anchors)
        if self.axis == 0:
            lines = xp.matmul(a[idx, :], b).astype(out_dtype, copy=False)  # (c, n)
        else:
            lines = xp.matmul(a, b[:, idx]).astype(out_dtype, copy=False).T  # (c, m)
        full = self._fill(xp, lines, anchors, size, out_dtype)
        return full if self.axis == 0 else xp.ascontiguousarray(full.T)

    def _fill(self, xp: Any, lines: Any, anchors: np.ndarray, size: int, dtype: Any) -> Any:
        """(size, width) array: anchor lines in place, the others by ``self.fill``."""
        if self.fill == "zero":
            full = xp.zeros((size, lines.shape[1]), dtype=dtype)
            full[xp.asarray(anchors)] = lines
            return full
        left, right, t = fill_plan(anchors, size, self.fill)
        if self.fill == "nearest":
            return lines[xp.asarray(left)]
        real = real_dtype_of(dtype)
        tw = xp.asarray(t.astype(real))[:, None]
        full = lines[xp.asarray(left)] * (1 - tw) + lines[xp.asarray(right)] * tw
        full[xp.asarray(anchors)] = lines  # anchors exactly as computed
        return full.astype(dtype, copy=False)

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """Anchors ``8 c k width`` plus the fill, over ``8 m k n`` (complex operands).

        ``interp`` costs 6 real flops per reconstructed entry (two complex-by-real scalings and
        one complex add) plus ``3 size`` for the plan; ``nearest`` and ``zero`` only copy.
        """
        size, width = (m, n) if self.axis == 0 else (n, m)
        c = anchor_count(self.ratio, size)
        work = 8.0 * c * k * width
        if self.fill == "interp":
            work += 6.0 * (size - c) * width + 3.0 * size
        return work / exact_complex_flops(m, k, n)


register_engine("topology", TopologyEngine)
