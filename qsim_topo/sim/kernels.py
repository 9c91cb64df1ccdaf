"""The kernel registry: every way to apply a block or a tile in place, and the choice of one.

A *kernel* overwrites a state (or a unitary's columns) with an operator applied to it, in
place, on behalf of an exact engine. The registered kernels (:data:`KERNELS`) are

* ``"gather"`` (numpy): small CPU tensors, one gather, product and scatter
  (:func:`~qsim_topo.sim.chunks.apply_gathered`);
* ``"chunks"`` (numpy, or cupy with cuBLAS products): the chunked product of
  :func:`~qsim_topo.sim.chunks.apply_chunked`;
* ``"numba-block"`` (numba): one compiled pass for a block on scattered qubits
  (:func:`~qsim_topo.sim.numba_kernels.apply_block_numba`);
* ``"cuda-block"`` (CUDA): one kernel pass on a GPU, for blocks of at most
  :data:`~qsim_topo.sim.gpu_kernels.MAX_KERNEL_QUBITS` qubits
  (:func:`~qsim_topo.sim.gpu_kernels.apply_block_gpu`);
* ``"numba-tile"`` (numba): a *sequence* of gates inside one tile of qubits in one
  cache-blocked pass (:func:`~qsim_topo.sim.numba_kernels.apply_sequence_numba`).

:class:`KernelPolicy` chooses among them: a small frozen strategy object, passed explicitly to
:func:`apply_inplace`, :func:`apply_tile` and the executor, instead of module switches. The
default policy (:data:`DEFAULT_KERNELS`) takes the numba kernels when numba loads and the numpy
ones otherwise; ``KernelPolicy(numba=False)`` is the numpy fallback; ``block=`` / ``tile=``
force one kernel (tests, benchmarks). Each call can record which kernel ran into a ``used``
dict, which the executor reports in its result's metadata. The registry itself
(:class:`BlockKernel`, :class:`TileKernel`, :data:`KERNELS`) lives in
:mod:`qsim_topo.sim.kernel_registry` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qsim_topo.engines.base import MatmulEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.sim.apply import check_qubits, sort_gate_qubits
from qsim_topo.sim.chunks import DEFAULT_CHUNK_BYTES, target_runs
from qsim_topo.sim.gpu_kernels import MAX_KERNEL_QUBITS
from qsim_topo.sim.kernel_registry import (
    KERNELS,
    BlockKernel,
    TileKernel,
    get_kernel,
    register_kernel,
    tensor_columns,
)
from qsim_topo.sim.numba_kernels import (
    numba_available,
    tile_fits,
)
from qsim_topo.xp import array_namespace, device_of

__all__ = [
    "DEFAULT_KERNELS",
    "GPU_CHUNK_BYTES",
    "KERNELS",
    "NUMBA_MIN_AMPLITUDES",
    "NUMPY_KERNELS",
    "SMALL_AMPLITUDES",
    "BlockKernel",
    "KernelPolicy",
    "TileKernel",
    "apply_inplace",
    "apply_tile",
    "get_kernel",
    "register_kernel",
]

NUMBA_MIN_AMPLITUDES = 2**13
"""Default of :attr:`KernelPolicy.numba_min_amplitudes`: smaller tensors take the numpy path,
as waking numba's parallel threads costs ~0.15 ms, more than numpy's whole block on a few
thousand amplitudes (measured: 5 qubits, numpy 46 us, a numba call after idle ~190 us; 14
qubits, numpy 0.73 ms, numba 0.19 ms)."""

SMALL_AMPLITUDES = 2**12
"""Default of :attr:`KernelPolicy.small_amplitudes`: CPU tensors of at most this many entries
(state amplitudes times columns) take the ``"gather"`` kernel (measured on 5 qubits: 8 us a
2-qubit gate, against 28 us by chunks, most of both being the engine call's checks)."""

GPU_CHUNK_BYTES = 16 * 2**20
"""Chunk size of the ``"chunks"`` kernel on a GPU (blocks wider than the CUDA kernel's): its
temporaries (3 chunks) stay inside the in-place workspace the memory check budgets."""


@dataclass(frozen=True)
class KernelPolicy:
    """Which kernel applies each block and tile (a strategy object, passed explicitly).

    Attributes:
        numba: use the numba kernels on the CPU when numba loads (False: the numpy fallback).
        small_amplitudes: CPU tensors of at most this many entries take ``"gather"``.
        numba_min_amplitudes: smaller CPU tensors never take a numba kernel.
        chunk_bytes: chunk size of ``"chunks"`` on the CPU (:data:`GPU_CHUNK_BYTES` on a GPU).
        block: a block kernel's name: every block goes to it (tests, benchmarks); None:
            chosen per block as described in :meth:`block_kernel`.
        tile: ``"numba-tile"`` or ``"per-gate"``: force the tile path; None: chosen per tile
            (:meth:`tile_kernel`).
    """

    numba: bool = True
    small_amplitudes: int = SMALL_AMPLITUDES
    numba_min_amplitudes: int = NUMBA_MIN_AMPLITUDES
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    block: str | None = None
    tile: str | None = None

    def uses_numba(self) -> bool:
        """True when this policy's numba kernels can run (asked for, and numba loads)."""
        return self.numba and numba_available()

    def family(self, device: str) -> str:
        """The kernel family on ``device``: ``"cuda"``, ``"numba"`` or ``"numpy"``.

        ``"numpy"`` is the fallback: numba not asked for, or not loadable.
        """
        if device == "gpu":
            return "cuda"
        return "numba" if self.uses_numba() else "numpy"

    def tiles_available(self, device: str) -> bool:
        """True when :func:`apply_tile` runs the cache-blocked tile kernel on ``device``."""
        if self.tile == "per-gate":
            return False
        return device == "cpu" and self.uses_numba()

    def block_kernel(
        self, tensor: Any, qubits: tuple[int, ...], n_qubits: int, device: str | None = None
    ) -> BlockKernel:
        """The kernel for a block on ``qubits`` of ``tensor``.

        ``"gather"`` for a CPU tensor of at most ``small_amplitudes`` entries; on a GPU,
        ``"cuda-block"`` up to its width and ``"chunks"`` (cuBLAS) beyond; on the CPU,
        ``"numba-block"`` when the targets form several runs of the index (numpy would gather
        and scatter every chunk) and the tensor has at least ``numba_min_amplitudes``
        entries; ``"chunks"`` otherwise. ``device``: the tensor's, when the caller knows it.
        """
        if self.block is not None:
            kernel = get_kernel(self.block)
            if not isinstance(kernel, BlockKernel):
                raise QsimTopoError(f"kernel {self.block!r} is not a block kernel")
            return kernel
        if device is None:
            device = "cpu" if type(tensor) is np.ndarray else device_of(tensor)
        if device == "gpu":
            name = "cuda-block" if len(qubits) <= MAX_KERNEL_QUBITS else "chunks"
        elif tensor.size <= self.small_amplitudes and type(tensor) is np.ndarray:
            name = "gather"
        elif (
            tensor.size >= self.numba_min_amplitudes
            and sum(t for _, t in target_runs(n_qubits, tuple(sorted(qubits)), 1)) > 1
            and self.uses_numba()
        ):
            name = "numba-block"
        else:
            name = "chunks"
        return KERNELS[name]  # type: ignore[return-value]

    def tile_kernel(self, tensor: Any, n_tile_qubits: int) -> TileKernel | None:
        """The tile kernel for a tile of ``n_tile_qubits`` on ``tensor``, or None (per gate).

        ``"numba-tile"`` on the CPU with numba, for a C-contiguous complex tensor whose tile
        fits the per-thread scratch bound (:func:`~qsim_topo.sim.numba_kernels.tile_fits`),
        whatever its size: a small one runs on the calling thread alone
        (:data:`~qsim_topo.sim.numba_kernels.SINGLE_THREAD_AMPLITUDES`), so there are no
        threads to wake.
        """
        if not self.tiles_available(device_of(tensor)):
            return None
        if not (
            tensor.flags.c_contiguous
            and tensor.dtype in (np.complex64, np.complex128)
            and tile_fits(tensor.itemsize, n_tile_qubits)
        ):
            return None
        return KERNELS["numba-tile"]  # type: ignore[return-value]


DEFAULT_KERNELS = KernelPolicy()
"""The default: numba kernels when numba loads, numpy otherwise, CUDA on a GPU."""

NUMPY_KERNELS = KernelPolicy(numba=False)
"""The numpy fallback, numba or not."""


def _record(used: dict[str, int] | None, name: str, count: int = 1) -> None:
    if used is not None:
        used[name] = used.get(name, 0) + count


def apply_inplace(
    engine: MatmulEngine,
    tensor: Any,
    matrix: Any,
    qubits: Sequence[int],
    n_qubits: int,
    *,
    kernels: KernelPolicy = DEFAULT_KERNELS,
    used: dict[str, int] | None = None,
) -> Any:
    """Overwrite ``tensor`` with ``(matrix on qubits) @ tensor``; returns ``tensor``.

    Args:
        engine: an exact engine (``engine.exact``); it does (or counts) every product.
            Callers with an approximate engine use :func:`~qsim_topo.sim.apply.apply_operator`,
            whose one product per gate does not depend on chunking.
        tensor: C-contiguous state (2^n,) or columns (2^n, m), m a power of two; complex64 or
            complex128, numpy or cupy. Modified in place (the caller owns it).
        matrix: (2^k, 2^k) operator, ``qubits[0]`` its least significant bit; cast to the
            tensor's dtype and device.
        qubits: k distinct qubits in 0..n-1.
        n_qubits: n.
        kernels: the policy that picks the kernel (:meth:`KernelPolicy.block_kernel`).
        used: when given, ``used[kernel name]`` is incremented.

    Raises:
        QsimTopoError: bad qubits, shapes, a non-contiguous tensor, an approximate engine or
            a forced kernel that cannot take this block.
    """
    if not engine.exact:
        raise QsimTopoError(
            f"apply_inplace chunks and reorients products, which changes an approximate "
            f"engine's result; engine {engine.name!r} must go through apply_operator"
        )
    xp = array_namespace(tensor)
    qs = check_qubits(qubits, n_qubits)
    k = len(qs)
    cols = tensor_columns(tensor)
    if (
        tensor.ndim not in (1, 2)
        or tensor.shape[0] != 2**n_qubits
        or cols & (cols - 1)
        or not tensor.flags.c_contiguous
    ):
        raise QsimTopoError(
            f"apply_inplace needs a C-contiguous (2^{n_qubits},) or (2^{n_qubits}, 2^j) "
            f"tensor, got shape {tensor.shape}"
        )
    mat = xp.asarray(matrix, dtype=tensor.dtype)
    if mat.shape != (2**k, 2**k):
        raise QsimTopoError(
            f"a {k}-qubit operator needs a ({2**k}, {2**k}) matrix, got {tuple(mat.shape)}"
        )
    device = "cpu" if type(tensor) is np.ndarray else device_of(tensor)
    kernel = kernels.block_kernel(tensor, qs, n_qubits, device)
    if kernel.device not in ("any", device) or (
        kernel.max_qubits is not None and k > kernel.max_qubits
    ):
        raise QsimTopoError(f"kernel {kernel.name!r} cannot apply a {k}-qubit block on {device}")
    chunk = GPU_CHUNK_BYTES if device == "gpu" else kernels.chunk_bytes
    kernel.apply(engine, tensor, mat, qs, n_qubits, chunk)
    _record(used, kernel.name)
    return tensor


def apply_tile(
    engine: MatmulEngine,
    tensor: Any,
    gates: Sequence[tuple[Any, Sequence[int]]],
    qubits: Sequence[int],
    n_qubits: int,
    *,
    zero_mask: int = 0,
    kernels: KernelPolicy = DEFAULT_KERNELS,
    used: dict[str, int] | None = None,
    gates_checked: bool = False,
) -> Any:
    """Overwrite ``tensor`` with ``G_m ... G_1 @ tensor``: the gates all act inside ``qubits``.

    With the tile kernel (:meth:`KernelPolicy.tile_kernel`: CPU, numba), one cache-blocked
    pass: the state is read and written once for the whole sequence. Otherwise each gate is
    one :func:`apply_inplace` with the same policy.

    Args:
        engine: an exact engine, as for :func:`apply_inplace`.
        tensor: as for :func:`apply_inplace`; modified in place (the caller owns it).
        gates: ``(matrix, gate_qubits)`` in application order; ``matrix`` (2^g, 2^g) with
            bit j on ``gate_qubits[j]``, every gate qubit in ``qubits``.
        qubits: the tile, distinct qubits in 0..n-1.
        n_qubits: n.
        zero_mask: bit q set when the caller knows qubit q is |0> (every row whose index has
            bit q set is exactly zero, e.g. no gate has acted on q since |0...0>): the tile
            kernel then skips the tiles holding only such rows, which the gates leave zero (a
            skipped +0.0 stays +0.0 where a product could have given -0.0; the values are the
            same). 0 (the default): nothing is assumed. The per-gate path ignores it. A wrong
            mask gives a wrong state.
        kernels: the kernel policy.
        used: when given, ``used[kernel name]`` is incremented per tile (tile kernel) or per
            gate (per-gate path).
        gates_checked: the caller guarantees that every gate is a numpy (2^g, 2^g) matrix on
            distinct ``gate_qubits`` inside ``qubits`` (in any order: the tile kernel sorts
            them): the per-gate checks are skipped (the executor, for the tiles its own passes
            made; ~1-2 us a gate). A false guarantee gives a wrong state.

    Returns:
        ``tensor``.

    Raises:
        QsimTopoError: bad qubits, a gate outside the tile, shapes, an approximate engine, a
            ``zero_mask`` that is not a mask of the n qubits.
    """
    tile = check_qubits(qubits, n_qubits)
    if (
        isinstance(zero_mask, bool)
        or not isinstance(zero_mask, (int, np.integer))
        or not 0 <= zero_mask < 1 << n_qubits
    ):
        raise QsimTopoError(
            f"zero_mask must be an integer bit mask of the {n_qubits} qubits, got {zero_mask!r}"
        )
    inside = set(tile)
    prepared: list[tuple[Any, tuple[int, ...]]] = (
        [(m, tuple(qs)) for m, qs in gates] if gates_checked else []
    )
    xp = array_namespace(tensor)
    for matrix, gate_qubits in () if gates_checked else gates:
        qs = tuple([int(q) for q in gate_qubits])
        k = len(qs)
        # The tile's qubits are valid, so distinct qubits inside it are too (check_qubits
        # names the problem otherwise); a fused gate's qubits are already ascending.
        if not (k and inside.issuperset(qs) and len(set(qs)) == k):
            qs = check_qubits(qs, n_qubits)
            raise QsimTopoError(f"gate on qubits {qs} is not inside the tile {tile}")
        mat = xp.asarray(matrix)
        if mat.shape != (1 << k, 1 << k):
            raise QsimTopoError(
                f"a {k}-qubit gate needs a ({1 << k}, {1 << k}) matrix, got {tuple(mat.shape)}"
            )
        if k > 1 and list(qs) != sorted(qs):
            mat, qs = sort_gate_qubits(mat, qs)
        prepared.append((mat, qs))
    if not prepared:
        return tensor
    kernel = None
    if engine.exact and tensor.ndim in (1, 2) and tensor.shape[0] == 2**n_qubits:
        kernel = kernels.tile_kernel(tensor, len(tile))
    if kernel is None:
        for matrix, qs in prepared:
            # validates what is left
            apply_inplace(engine, tensor, matrix, qs, n_qubits, kernels=kernels, used=used)
        return tensor
    cols = tensor_columns(tensor)
    if cols & (cols - 1):
        raise QsimTopoError(f"apply_tile needs a power-of-two column count, got {cols}")
    kernel.apply(engine, tensor, prepared, tuple(sorted(tile)), cols, int(zero_mask))
    _record(used, kernel.name)
    return tensor
