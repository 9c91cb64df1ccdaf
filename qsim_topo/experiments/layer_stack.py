"""The layer-stack experiment: accumulate P_D = L_D ... L_1 with an engine and measure it.

For a stack of D random layers, P_k = engine(L_k, P_{k-1}) from P_0 = I, so depth D means D
engine products in dense mode (each layer a (2^n, 2^n) matrix), or one product per gate in gate
mode. The same layers are accumulated twice, by the engine under test and by a separate exact
engine instance; only the exact one feeds the reference. The state is column 0 of P_D, that is
P_D applied to |0...0>.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from qsim_topo import metrics
from qsim_topo._version import __version__
from qsim_topo.engines.base import (
    CheckedEngine,
    MatmulEngine,
    options_for_report,
    resolve_engine,
)
from qsim_topo.engines.exact import ExactEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.diagnostics import diagnose
from qsim_topo.layers import LAYER_KINDS, layer_stack
from qsim_topo.sim.apply import apply_operator
from qsim_topo.sim.paths import execution_path
from qsim_topo.xp import check_memory, get_xp, resolve_device, synchronize

__all__ = [
    "MODES",
    "LayerStackProducts",
    "LayerStackReport",
    "accumulate_layer_stack",
    "iter_layer_products",
    "iter_layer_stack",
    "layer_stack_bytes",
    "run_layer_stack",
]

MODES = ("dense", "gate")
# Extra seeds are derived from the experiment seed with these tags, apart from the layer seeds.
_SAMPLING_TAG, _HAAR_STATES_TAG = 1, 2


@dataclass
class LayerStackReport:
    """Everything one layer-stack experiment measured.

    Field meanings:

    state_fidelity, overlap, norm: of the approximate state P_D|0...0> against the exact one
    (overlap = |<ref|approx>|^2 unnormalised; norm = ||approx state||).
    frobenius_error, aligned_frobenius_error, process_fidelity, unitary_norm_ratio: of the
    approximate product P_D against the exact one (ratio = ||P_approx||_F / ||P_ref||_F).
    haar_input_fidelity: mean state fidelity over ``haar_states`` Haar-random inputs.
    xeb: linear XEB of ``samples`` bitstrings drawn from the approximate state, scored with the
    exact probabilities; xeb_infinite: its infinite-sample value; xeb_ideal_mean/std: what an
    exact sampler gets with as many samples; log_xeb; tvd: between the two output distributions.
    flops_fraction: the engine's work over exact products'; matmul_calls: engine products.
    wall_time_s / exact_wall_time_s: seconds in the products (and gate-mode permutations) of
    the engine under test / of the exact engine. diagnostics: plain-language warnings.
    """

    qubits: int
    depth: int
    kind: str
    mode: str
    engine: str
    engine_options: dict[str, Any]
    seed: int | None
    device: str
    dtype: str
    samples: int
    haar_states: int
    state_fidelity: float
    overlap: float
    norm: float
    frobenius_error: float
    aligned_frobenius_error: float
    process_fidelity: float
    unitary_norm_ratio: float
    haar_input_fidelity: float
    xeb: float
    xeb_infinite: float
    xeb_ideal_mean: float
    xeb_ideal_std: float
    log_xeb: float
    tvd: float
    flops_fraction: float
    matmul_calls: int
    wall_time_s: float
    exact_wall_time_s: float
    diagnostics: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    execution_path: dict[str, str] = field(default_factory=dict)  # sim.paths.execution_path

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (floats stay floats; non-finite values are kept as floats)."""
        return asdict(self)


def layer_stack_bytes(qubits: int, kind: str, mode: str, dtype: Any = np.complex128) -> int:
    """Peak bytes of :func:`run_layer_stack`, estimated before anything is allocated.

    Two accumulated products, and the work of one step: a dense layer with its generation
    workspace (about four complex128 matrices) and one engine output, or in gate mode the
    permuted copy and the output of one gate product.
    """
    elems = 4**qubits
    item = np.dtype(dtype).itemsize
    products = elems * (16 + item)  # the complex128 reference and the engine's product
    if kind == "dense" or mode == "dense":
        return products + 4 * elems * 16 + elems * (16 + item)
    return products + 2 * elems * 16 + elems * item


def _versions() -> dict[str, str]:
    return {"qsim_topo": __version__, "numpy": np.__version__, "python": platform.python_version()}


def run_layer_stack(
    qubits: int,
    depth: int,
    *,
    kind: str = "dense",
    engine: str | MatmulEngine = "exact",
    engine_options: dict[str, Any] | None = None,
    seed: int | None = 0,
    samples: int = 1000,
    haar_states: int = 16,
    device: str = "cpu",
    dtype: Any = np.complex128,
    mode: str | None = None,
) -> LayerStackReport:
    """Run the layer-stack experiment and return its report.

    Args:
        qubits: n; the products are (2^n, 2^n).
        depth: D, the number of layers.
        kind: ``"dense"`` (one Haar unitary on all qubits per layer) or ``"brickwork"``.
        engine: name or instance of the engine under test.
        engine_options: options to build ``engine`` by name.
        seed: seeds the layers, the sampling and the Haar inputs (not the engine: random
            engines take their own ``seed`` option).
        samples: bitstrings drawn for the XEB.
        haar_states: random input states for the Haar-input fidelity.
        device: ``"cpu" | "gpu" | "auto"``.
        dtype: complex64 or complex128: the engine's products (the reference is complex128).
        mode: ``"dense"`` (a layer = one (2^n, 2^n) product) or ``"gate"`` (one product per
            gate). Default: dense for dense layers, gate for brickwork.

    Raises:
        QsimTopoError (and subclasses): bad arguments, unknown engine or options, or a size
            that would not fit in memory (checked before any allocation).
    """
    return next(
        iter_layer_stack(
            qubits,
            [depth],
            kind=kind,
            engine=engine,
            engine_options=engine_options,
            seed=seed,
            samples=samples,
            haar_states=haar_states,
            device=device,
            dtype=dtype,
            mode=mode,
        )
    )


def iter_layer_stack(
    qubits: int,
    depths: Sequence[int],
    *,
    kind: str = "dense",
    engine: str | MatmulEngine = "exact",
    engine_options: dict[str, Any] | None = None,
    seed: int | None = 0,
    samples: int = 1000,
    haar_states: int = 16,
    device: str = "cpu",
    dtype: Any = np.complex128,
    mode: str | None = None,
) -> Iterator[LayerStackReport]:
    """Yield one report per depth of ``depths`` (ascending), all from one chain of layers.

    Deeper depths reuse the shallower prefix: the stack is accumulated once up to the largest
    depth, and measured on the way. Each report equals what :func:`run_layer_stack` gives for
    that depth alone (same layers, same engine randomness, same sampling seeds); its times,
    calls and flops fraction count the products up to that depth. Arguments as in
    :func:`run_layer_stack`; everything is validated before the first layer is made.
    """
    wanted = sorted(set(int(d) for d in depths))
    if kind not in LAYER_KINDS:
        raise QsimTopoError(f"unknown kind {kind!r}; expected one of {', '.join(LAYER_KINDS)}")
    mode = mode or ("dense" if kind == "dense" else "gate")
    if mode not in MODES:
        raise QsimTopoError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    min_qubits = 2 if kind == "brickwork" else 1
    if qubits < min_qubits or not wanted or wanted[0] < 1 or samples < 1 or haar_states < 1:
        raise QsimTopoError(
            f"need qubits >= {min_qubits}, depth >= 1, samples >= 1 and haar_states >= 1; got "
            f"qubits={qubits}, depth={list(depths)}, samples={samples}, haar_states={haar_states}"
        )
    if seed is not None and (int(seed) != seed or seed < 0):
        raise QsimTopoError(f"seed must be a non-negative integer or None, got {seed!r}")
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.complex64), np.dtype(np.complex128)):
        raise QsimTopoError(f"dtype must be complex64 or complex128, got {dt}")
    dev = resolve_device(device)
    check_memory(
        layer_stack_bytes(qubits, kind, mode, dt),
        dev,
        f"a {qubits}-qubit {kind} layer stack (two {2**qubits}x{2**qubits} products)",
    )
    under_test = CheckedEngine(resolve_engine(engine, **(engine_options or {})))
    for products in iter_layer_products(
        qubits, wanted, kind=kind, mode=mode, engine=under_test, seed=seed, device=dev, dtype=dt
    ):
        yield _measure(
            products,
            under_test,
            qubits=qubits,
            kind=kind,
            mode=mode,
            seed=seed,
            samples=samples,
            haar_states=haar_states,
            device=dev,
            dtype=dt,
        )


def _measure(
    products: LayerStackProducts,
    under_test: CheckedEngine,
    *,
    qubits: int,
    kind: str,
    mode: str,
    seed: int | None,
    samples: int,
    haar_states: int,
    device: str,
    dtype: np.dtype,
) -> LayerStackReport:
    """All metrics of one depth; the exact product is the only reference."""
    p_ref, p_apx = products.reference, products.approx
    dim = 2**qubits
    psi_ref = p_ref[:, 0]
    psi_apx = p_apx[:, 0]
    ss_sampling = np.random.SeedSequence([0 if seed is None else seed, _SAMPLING_TAG])
    ss_haar = np.random.SeedSequence([0 if seed is None else seed, _HAAR_STATES_TAG])
    p_ideal = metrics.probabilities(psi_ref)
    band_mean, band_std = metrics.ideal_xeb_band(p_ideal, samples)
    try:
        p_approx = metrics.probabilities(psi_apx)
    except ValueError:  # the engine returned a zero state: nothing to sample
        p_approx = None
    if p_approx is not None:
        drawn = np.random.default_rng(ss_sampling).choice(dim, size=samples, p=p_approx)
        xeb = metrics.linear_xeb(drawn, p_ideal)
        xeb_inf = metrics.linear_xeb_from_probs(p_approx, p_ideal)
        lxeb = metrics.log_xeb(drawn, p_ideal)
        tvd = metrics.total_variation_distance(p_approx, p_ideal)
    else:
        xeb = xeb_inf = lxeb = float("nan")
        tvd = 1.0
    report = LayerStackReport(
        qubits=qubits,
        depth=products.depth,
        kind=kind,
        mode=mode,
        engine=under_test.name,
        engine_options=dict(options_for_report(under_test.engine)),
        seed=seed,
        device=device,
        dtype=str(dtype),
        samples=samples,
        haar_states=haar_states,
        state_fidelity=metrics.state_fidelity(psi_ref, psi_apx),
        overlap=metrics.overlap(psi_ref, psi_apx),
        norm=metrics.norm(psi_apx),
        frobenius_error=metrics.frobenius_error(p_ref, p_apx),
        aligned_frobenius_error=metrics.aligned_frobenius_error(p_ref, p_apx),
        process_fidelity=metrics.process_fidelity(p_ref, p_apx),
        unitary_norm_ratio=metrics.norm(p_apx) / metrics.norm(p_ref),
        haar_input_fidelity=metrics.haar_input_fidelity(
            p_ref, p_apx, n_states=haar_states, seed=np.random.default_rng(ss_haar)
        ),
        xeb=xeb,
        xeb_infinite=xeb_inf,
        xeb_ideal_mean=band_mean,
        xeb_ideal_std=band_std,
        log_xeb=lxeb,
        tvd=tvd,
        flops_fraction=products.flops_fraction,
        matmul_calls=products.matmul_calls,
        wall_time_s=products.wall_time_s,
        exact_wall_time_s=products.exact_wall_time_s,
        versions=_versions(),
        execution_path=execution_path(device),
    )
    report.diagnostics = diagnose(report)
    return report


@dataclass
class LayerStackProducts:
    """The two accumulated products P_D of a layer stack at one depth, and their cost so far.

    ``reference`` is complex128, computed by a separate exact engine; ``approx`` is in the
    requested dtype, computed by the engine under test. Both (2^n, 2^n) on the run's device;
    the caller may keep them but must not write to them while the iteration goes on. Times,
    calls and the flops fraction count the engine-under-test products up to ``depth``.
    """

    depth: int
    reference: Any
    approx: Any
    wall_time_s: float
    exact_wall_time_s: float
    matmul_calls: int = 0
    flops_fraction: float = 1.0


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
    """P_k = engine(L_k, P_{k-1}) from P_0 = I, for the engine and for a fresh exact engine.

    Yields the products at each depth of ``depths`` (ascending, >= 1). Each layer is generated
    once and fed to both accumulations (only one layer is held at a time). No validation or
    memory check here: :func:`iter_layer_stack` does both.
    """
    wanted = sorted(set(int(d) for d in depths))
    dev = resolve_device(device)
    dt = np.dtype(dtype)
    counted = engine if isinstance(engine, CheckedEngine) else CheckedEngine(engine)
    reference = CheckedEngine(ExactEngine())  # its own instance: never the engine under test
    xp = get_xp(dev)
    dim = 2**qubits
    # The reference is always complex128; the engine under test works in ``dtype``.
    p_ref = xp.eye(dim, dtype=np.complex128)
    p_apx = xp.eye(dim, dtype=dt)
    t_apx = t_ref = 0.0
    for layer in layer_stack(qubits, wanted[-1], kind, seed=seed, device=dev):
        if mode == "dense":
            steps = [(layer.matrix(), tuple(range(qubits)))]
        else:
            steps = [(op.matrix, op.qubits) for op in layer.ops]
        for matrix, qs in steps:
            # The reference goes first and the engine under test gets a private copy of the
            # layer: an engine that writes into its input cannot reach the reference.
            p_ref, dt_ref = _timed_apply(xp, reference, p_ref, matrix, qs, qubits, mode)
            p_apx, dt_apx = _timed_apply(
                xp, counted, p_apx, matrix.astype(dt, copy=True), qs, qubits, mode
            )
            t_apx += dt_apx
            t_ref += dt_ref
        del steps
        if layer.index + 1 in wanted:
            yield LayerStackProducts(
                depth=layer.index + 1,
                reference=p_ref,
                approx=p_apx,
                wall_time_s=t_apx,
                exact_wall_time_s=t_ref,
                matmul_calls=counted.calls,
                flops_fraction=counted.total_flops_fraction,
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
