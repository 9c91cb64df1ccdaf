"""The kernel registry: :class:`BlockKernel` and :class:`TileKernel`, :data:`KERNELS` by name.

The built-in kernels (``"gather"``, ``"chunks"``, ``"numba-block"``, ``"cuda-block"``,
``"numba-tile"``; described in :mod:`qsim_topo.sim.kernels`) are registered on import;
:class:`~qsim_topo.sim.kernels.KernelPolicy` chooses among them. Re-exported by
:mod:`qsim_topo.sim.kernels`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qsim_topo.engines.base import MatmulEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.sim.apply import sort_gate_qubits
from qsim_topo.sim.chunks import apply_chunked, apply_gathered
from qsim_topo.sim.gpu_kernels import MAX_KERNEL_QUBITS, apply_block_gpu
from qsim_topo.sim.numba_kernels import (
    apply_block_numba,
    apply_sequence_numba,
    numba_available,
)

__all__ = [
    "KERNELS",
    "BlockKernel",
    "TileKernel",
    "get_kernel",
    "register_kernel",
    "tensor_columns",
]


@dataclass(frozen=True)
class BlockKernel:
    """A kernel that applies one block.

    ``apply(engine, tensor, matrix, qubits, n_qubits, chunk_bytes)`` overwrites ``tensor``
    (C-contiguous (2^n,) or (2^n, cols), cols a power of two) with ``(matrix on qubits) @
    tensor``; ``matrix`` is (2^k, 2^k) in the tensor's dtype and namespace, bit j on
    ``qubits[j]`` (distinct, any order). ``family`` is ``"numpy"``, ``"numba"`` or ``"cuda"``;
    ``device`` the device of the tensors it takes (``"cpu"``, ``"gpu"`` or ``"any"``);
    ``max_qubits`` the widest block it takes (None: any).
    """

    name: str
    family: str
    device: str
    apply: Callable[[MatmulEngine, Any, Any, tuple[int, ...], int, int], None]
    max_qubits: int | None = None

    def available(self) -> bool:
        """True when the kernel can run here (numba loads, for the numba family)."""
        return self.family != "numba" or numba_available()


@dataclass(frozen=True)
class TileKernel:
    """A kernel that applies a sequence of gates inside one tile of qubits in one pass.

    ``apply(engine, tensor, gates, tile, cols, zero_mask)``: ``gates`` are ``(matrix,
    qubits)`` with distinct qubits inside ``tile`` (ascending), in any order, numpy matrices
    of any numeric dtype (cast to the tensor's); see :func:`apply_tile` for ``zero_mask``.
    """

    name: str
    family: str
    device: str
    apply: Callable[
        [MatmulEngine, Any, list[tuple[Any, tuple[int, ...]]], tuple[int, ...], int, int], None
    ]

    def available(self) -> bool:
        """True when the kernel can run here (numba loads, for the numba family)."""
        return self.family != "numba" or numba_available()


KERNELS: dict[str, BlockKernel | TileKernel] = {}
"""Every registered kernel by name."""


def register_kernel(kernel: BlockKernel | TileKernel) -> None:
    """Add ``kernel`` to :data:`KERNELS`; a name already taken is refused (QsimTopoError)."""
    if kernel.name in KERNELS:
        raise QsimTopoError(f"a kernel named {kernel.name!r} is already registered")
    KERNELS[kernel.name] = kernel


def get_kernel(name: str) -> BlockKernel | TileKernel:
    """The kernel registered as ``name``; QsimTopoError listing the names otherwise."""
    try:
        return KERNELS[name]
    except KeyError:
        raise QsimTopoError(
            f"unknown kernel {name!r}; registered: {', '.join(sorted(KERNELS))}"
        ) from None


def _gather(
    engine: MatmulEngine, tensor: Any, mat: Any, qs: tuple[int, ...], n: int, chunk: int
) -> None:
    apply_gathered(engine, tensor, mat, qs, n)


def _chunks(
    engine: MatmulEngine, tensor: Any, mat: Any, qs: tuple[int, ...], n: int, chunk: int
) -> None:
    apply_chunked(engine, tensor, mat, qs, n, chunk_bytes=chunk)


def tensor_columns(tensor: Any) -> int:
    """Columns of a (2^n,) state (1) or a (2^n, cols) tensor (cols)."""
    return 1 if tensor.ndim == 1 else int(tensor.shape[1])


def _numba_block(
    engine: MatmulEngine, tensor: Any, mat: Any, qs: tuple[int, ...], n: int, chunk: int
) -> None:
    mat, qs = sort_gate_qubits(mat, qs)
    apply_block_numba(engine, tensor, mat, qs, tensor_columns(tensor))


def _cuda_block(
    engine: MatmulEngine, tensor: Any, mat: Any, qs: tuple[int, ...], n: int, chunk: int
) -> None:
    if len(qs) > MAX_KERNEL_QUBITS:
        raise QsimTopoError(
            f"the CUDA block kernel takes at most {MAX_KERNEL_QUBITS} qubits, got {len(qs)}"
        )
    mat, qs = sort_gate_qubits(mat, qs)
    apply_block_gpu(engine, tensor, mat, qs, n, tensor_columns(tensor))


def _numba_tile(
    engine: MatmulEngine,
    tensor: Any,
    gates: list[tuple[Any, tuple[int, ...]]],
    tile: tuple[int, ...],
    cols: int,
    zero_mask: int,
) -> None:
    apply_sequence_numba(engine, tensor, gates, tile, cols, zero_mask)


for _kernel in (
    BlockKernel("gather", "numpy", "cpu", _gather),
    BlockKernel("chunks", "numpy", "any", _chunks),
    BlockKernel("numba-block", "numba", "cpu", _numba_block),
    BlockKernel("cuda-block", "cuda", "gpu", _cuda_block, MAX_KERNEL_QUBITS),
    TileKernel("numba-tile", "numba", "cpu", _numba_tile),
):
    register_kernel(_kernel)
