"""The accumulation of a layer stack: P_k = engine(L_k, P_{k-1}) from a Haar-random P_0.

The convention: P_0 is a Haar-random unitary (drawn exactly, from a stream derived from the
experiment seed), and P_k = engine(L_k, P_{k-1}) for k = 1..D. Depth D therefore counts D
layers and, in dense mode, exactly D engine products, each of two Haar-random operands: no
product ever multiplies by the identity (which is exact in every number format and which a
row-sampling engine keeps or loses whole, so a first product L_1 @ I measures the harness, not
the engine). In gate mode each layer is one engine product per gate, applied to a Haar-random
accumulated product. The state P_D|0...0> is the circuit L_D ... L_1 applied to the
Haar-random input P_0|0...0>; every metric of the product is unchanged by the unitary P_0.

The same layers are accumulated twice, by the engine under test and by a separate
:class:`~qsim_topo.engines.exact.ExactEngine` instance built from the class (never looked up
by name, so a registry entry cannot stand in for it); only the exact one feeds the reference.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qsim_topo.engines.base import CheckedEngine, MatmulEngine
from qsim_topo.engines.exact import ExactEngine
from qsim_topo.experiments import seeds
from qsim_topo.layers import haar_unitary, layer_stack
from qsim_topo.sim.apply import apply_operator
from qsim_topo.xp import get_xp, resolve_device, synchronize

__all__ = [
    "LayerStackProducts",
    "accumulate_layer_stack",
    "initial_product",
    "iter_layer_products",
    "layer_stack_bytes",
]


def layer_stack_bytes(qubits: int, kind: str, mode: str, dtype: Any = np.complex128) -> int:
    """Peak bytes of a layer-stack run, estimated before anything is allocated.

    Two accumulated products, and the larger of: drawing the Haar-random P_0 or a dense layer
    (about four complex128 matrices) with one engine output, or in gate mode the permuted copy
    and the output of one gate product.
    """
    elems = 4**qubits
    item = np.dtype(dtype).itemsize
    products = elems * (16 + item)  # the complex128 reference and the engine's product
    draw = 4 * elems * 16 + elems * (16 + item)
    if kind == "dense" or mode == "dense":
        return products + draw
    return products + max(draw, 2 * elems * 16 + elems * item)


@dataclass
class LayerStackProducts:
    """The two accumulated products P_D of a layer stack at one depth, and their cost so far.

    ``reference`` is complex128, computed by a separate exact engine; ``approx`` is in the
    requested dtype, computed by the engine under test. Both (2^n, 2^n) on the run's device;
    the caller may keep them but must not write to them while the iteration goes on. Times,
    calls and the flops fraction count the engine-under-test products up to ``depth``;
    ``time_ratio`` is the median over layers of (engine time / exact time) of each layer, a
    statistic that one slow layer (a warm-up, a busy machine) does not move, and
    ``exact_layer_time_s`` the median exact time of a layer.
    """

    depth: int
    reference: Any
    approx: Any
    wall_time_s: float
    exact_wall_time_s: float
    matmul_calls: int = 0
    flops_fraction: float = 1.0
    time_ratio: float = float("nan")
    exact_layer_time_s: float = 0.0


def initial_product(qubits: int, seed: int | None, device: str) -> Any:
    """P_0: a complex128 Haar-random (2^n, 2^n) unitary from ``derive_seed(seed, INITIAL)``."""
    return haar_unitary(2**qubits, seed=seeds.derive_seed(seed, seeds.INITIAL), device=device)


def iter_layer_products(
    qubits: int,
    depths: Sequence[int],
    *,
    kind: str,
    mode: str,
    engine: MatmulEngine,
    seed: int | None,
    device: str,
    dtype: Any = np.complex128,
) -> Iterator[LayerStackProducts]:
    """P_k = engine(L_k, P_{k-1}) from the Haar-random P_0, for the engine and an exact one.

    Yields the products at each depth of ``depths`` (ascending, >= 1). Each layer is generated
    once and fed to both accumulations (only one layer is held at a time). The layers come
    from ``seed`` and P_0 from a stream derived from it (:func:`initial_product`). No
    validation or memory check here: the layer-stack runner does both.
    """
    wanted = sorted(set(int(d) for d in depths))
    dev = resolve_device(device)
    dt = np.dtype(dtype)
    counted = engine if isinstance(engine, CheckedEngine) else CheckedEngine(engine)
    reference = CheckedEngine(ExactEngine())  # its own instance: never the engine under test
    xp = get_xp(dev)
    # The reference is always complex128; the engine under test works in ``dtype``.
    p_ref = initial_product(qubits, seed, dev)
    p_apx = p_ref.astype(dt, copy=True)
    t_apx = t_ref = 0.0
    ratios: list[float] = []
    ref_times: list[float] = []
    for layer in layer_stack(qubits, wanted[-1], kind, seed=seed, device=dev):
        if mode == "dense":
            steps = [(layer.matrix(), tuple(range(qubits)))]
        else:
            steps = [(op.matrix, op.qubits) for op in layer.ops]
        layer_apx = layer_ref = 0.0
        for matrix, qs in steps:
            # The reference goes first and the engine under test gets a private copy of the
            # layer: an engine that writes into its input cannot reach the reference.
            p_ref, dt_ref = _timed_apply(xp, reference, p_ref, matrix, qs, qubits, mode)
            p_apx, dt_apx = _timed_apply(
                xp, counted, p_apx, matrix.astype(dt, copy=True), qs, qubits, mode
            )
            layer_apx += dt_apx
            layer_ref += dt_ref
        del steps
        t_apx += layer_apx
        t_ref += layer_ref
        ref_times.append(layer_ref)
        if layer_ref > 0:
            ratios.append(layer_apx / layer_ref)
        if layer.index + 1 in wanted:
            yield LayerStackProducts(
                depth=layer.index + 1,
                reference=p_ref,
                approx=p_apx,
                wall_time_s=t_apx,
                exact_wall_time_s=t_ref,
                matmul_calls=counted.calls,
                flops_fraction=counted.total_flops_fraction,
                time_ratio=float(np.median(ratios)) if ratios else float("nan"),
                exact_layer_time_s=float(np.median(ref_times)),
            )


def accumulate_layer_stack(
    qubits: int,
    depth: int,
    *,
    kind: str,
    mode: str,
    engine: MatmulEngine,
    seed: int | None,
    device: str,
    dtype: Any = np.complex128,
) -> LayerStackProducts:
    """The products at ``depth`` alone (see :func:`iter_layer_products`)."""
    return next(
        iter_layer_products(
            qubits,
            [depth],
            kind=kind,
            mode=mode,
            engine=engine,
            seed=seed,
            device=device,
            dtype=dtype,
        )
    )


def _timed_apply(
    xp: Any,
    engine: MatmulEngine,
    product: Any,
    matrix: Any,
    qubits: tuple[int, ...],
    n_qubits: int,
    mode: str,
) -> tuple[Any, float]:
    synchronize(xp)
    start = time.perf_counter()
    if mode == "dense":
        out = engine.matmul(matrix, product)
    else:
        out = apply_operator(engine, product, matrix, qubits, n_qubits)
    synchronize(xp)
    return out, time.perf_counter() - start
