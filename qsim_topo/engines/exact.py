"""The reference engine: ``a @ b`` in the inputs' own dtype."""

from __future__ import annotations

from typing import Any

from qsim_topo.engines.base import EngineBase, register_engine
from qsim_topo.xp import array_namespace

__all__ = ["ExactEngine"]


class ExactEngine(EngineBase):
    """Exact product ``a @ b`` (numpy/BLAS on CPU, cuBLAS on GPU), in the inputs' dtype.

    ``batched = True``: ``matmul`` also takes a stack ``b`` of shape (batch, k, n) and returns
    (batch, m, n) (one BLAS call per matrix of the stack), which the in-place state kernels use
    for blocks on contiguous qubits in the middle of the state. ``batched_pairs = True``: it
    also takes two stacks, (batch, m, k) and (batch, k, n), and returns ``a[i] @ b[i]``, which
    gate fusion uses to compose many small blocks in one call.
    """

    name = "exact"
    exact = True
    family = "exact"
    batched = True
    batched_pairs = True

    def __init__(self) -> None:
        super().__init__()

    def matmul(self, a: Any, b: Any, /) -> Any:
        """Return ``a @ b`` as a new array of dtype ``result_type(a, b)`` on the inputs' device."""
        return array_namespace(a, b).matmul(a, b)

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """Exactly the exact product's work: 1.0."""
        return 1.0


register_engine("exact", ExactEngine)
