"""State mode: fidelity-vs-depth of a circuit family's state, one chain of cycles per engine.

A chain is one (qubits, kind, engine, seed): the family's cycles 0, 1, ... are applied to
|0...0> twice, side by side:

* the **reference**, by the fast exact simulator (:func:`qsim_topo.sim.executor.execute`
  with the exact engine, fusion and the in-place kernels) in complex128 whatever the
  engine's precision, one ``execute`` per cycle continuing from the previous state. The
  engine under test never computes it.
* the **engine's state**, in the sweep's dtype, with one engine product per gate as written
  in the circuit: :func:`qsim_topo.sim.apply.apply_operator`, the product the backend makes
  for approximate engines (every engine, the exact one included, goes through it here, so
  the exact engine's rows test the reference path). The state's columns go to the engine in
  blocks of at most :data:`COLUMN_BLOCK` columns, one engine call each, so the engine's own
  temporaries are bounded by a block, not by the state; a random engine draws afresh per
  block. A k-qubit gate's product is therefore one call up to 20 + k qubits and 2^(n-k-20)
  calls above. The block is recorded in every row as ``column_block``.

At each requested depth d the family's ``closing(d)`` ops (RCS: the final single-qubit
layer; others: none) are applied to new arrays (never to the chain's states, which go on to
the next cycle); the closing products of the engine use an engine instance of their own,
seeded from (seed, d) for a random engine, so a depth's row does not depend on which other
depths were measured. Then the metrics (:func:`measure_states`): state fidelity and norm,
linear XEB of ``samples`` bitstrings drawn from the engine's state (after its digest commits
it, :mod:`qsim_topo.experiments.seeds`) scored with the exact probabilities, normalised by the
exact state's own expected value D sum p^2 - 1 (1 means "as good as an ideal sampler"),
log-XEB, TVD over the whole distribution, all chunked (:func:`qsim_topo.metrics.compare_states`,
:func:`qsim_topo.sim.measure.sample_outcomes`): never a full-size temporary.

Memory is checked before anything is allocated (:func:`state_chain_bytes`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from qsim_topo.circuit import GateOp, Program
from qsim_topo.engines.base import MatmulEngine, describe_engine, get_engine, resolve_engine
from qsim_topo.engines.checked import CheckedEngine
from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments import seeds
from qsim_topo.experiments.state_measure import REFERENCE_DTYPE as REFERENCE_DTYPE
from qsim_topo.experiments.state_measure import STATE_CONVENTION as STATE_CONVENTION
from qsim_topo.experiments.state_measure import StateReport as StateReport
from qsim_topo.experiments.state_measure import Work, measure_states
from qsim_topo.families import FAMILY_KINDS, circuit_family, make_family
from qsim_topo.sim.apply import apply_operator
from qsim_topo.sim.executor import execute
from qsim_topo.xp import array_namespace, check_memory, get_xp, resolve_device, synchronize

__all__ = [
    "COLUMN_BLOCK",
    "REFERENCE_DTYPE",
    "STATE_CONVENTION",
    "STATE_KINDS",
    "StateChainConfig",
    "StateFamily",
    "StateReport",
    "circuit_width",
    "iter_state_chain",
    "make_state_family",
    "state_chain_bytes",
]

#: The families' kinds and ``circuit`` (an OpenQASM file's gates as one cycle, repeated).
STATE_KINDS = (*FAMILY_KINDS, "circuit")
#: Up to this size a chain warms the exact simulator up (untimed) before its clocks start;
#: beyond it the compile time is small beside one cycle.
WARM_UP_MAX_QUBITS = 20
#: The most state columns one engine call gets (see the module docstring).
COLUMN_BLOCK = 2**20
#: Bytes of the exact in-place path's fixed workspace (sim.memory's bound, with some margin).
_EXACT_WORKSPACE = 256 * 2**20
#: Engine temporaries of one block, in blocks of the engine's operand (bf16 rounding, the
#: complex adapter's real parts, sampling masks): a generous bound.
_ENGINE_TEMPS = 8


class StateFamily(Protocol):
    """What a chain needs of a family (:mod:`qsim_topo.families`)."""

    @property
    def kind(self) -> str:
        """The family's kind (for messages)."""

    @property
    def n_qubits(self) -> int:
        """The width."""

    def cycle(self, index: int) -> list[GateOp]:
        """The ops of cycle ``index`` (0-based; the same ops whatever else was asked)."""

    def closing(self, depth: int) -> list[GateOp]:
        """The ops that finish a depth-``depth`` circuit after cycles 0..depth-1."""


def make_state_family(kind: str, qubits: int, seed: int, circuit: str | None) -> StateFamily:
    """The family of a state-mode chain: ``make_family`` or, for ``circuit``, ``circuit_family``.

    Raises:
        QsimTopoError: an unknown kind, a circuit file for another kind, a file of another
            width.
    """
    if kind not in STATE_KINDS:
        raise QsimTopoError(
            f"unknown state kind {kind!r}; expected one of {', '.join(STATE_KINDS)}"
        )
    if kind == "circuit":
        if circuit is None:
            raise QsimTopoError("kind 'circuit' needs a circuit file (--circuit FILE.qasm)")
        fam = circuit_family(circuit)
        if fam.n_qubits != qubits:
            raise QsimTopoError(
                f"the circuit {circuit} has {fam.n_qubits} qubits, not qubits={qubits}"
            )
        return fam
    return make_family(kind, qubits, seed)


def circuit_width(path: str | os.PathLike[str]) -> int:
    """The qubits of the circuit file ``path`` (its family's width).

    Raises:
        QsimTopoError (and subclasses): the file cannot be read as a circuit family.
    """
    return circuit_family(str(path)).n_qubits


@dataclass(frozen=True)
class StateChainConfig:
    """Every option of one state chain but its depths and family.

    Attributes:
        qubits: n; the states are (2^n,).
        kind: the family's kind (for the rows).
        engine: name or instance of the engine under test.
        engine_options: options to build ``engine`` by name; a random engine (one with a
            ``seed`` option) named without one gets ``derive_seed(seed, "engine")``, and the
            instance making depth d's closing products ``derive_seed(seed, "engine",
            b"closing", d)``. An instance is shared by the chain and the closings.
        seed: the experiment seed (the family's, and the sampling's through a derived stream).
        samples: bitstrings drawn for the XEB.
        device: ``"cpu" | "gpu" | "auto"``.
        dtype: complex64 or complex128: the engine's state (the reference is complex128).
        column_block: the most state columns per engine call.
    """

    qubits: int
    kind: str = "rcs"
    engine: str | MatmulEngine = "exact"
    engine_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    samples: int = 1000
    device: str = "cpu"
    dtype: Any = np.complex128
    column_block: int = COLUMN_BLOCK

    def __post_init__(self) -> None:
        if self.qubits < 1 or self.samples < 1 or self.column_block < 1:
            raise QsimTopoError(
                f"need qubits, samples and column_block >= 1; got qubits={self.qubits}, "
                f"samples={self.samples}, column_block={self.column_block}"
            )
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise QsimTopoError(f"seed must be a non-negative integer, got {self.seed!r}")
        dt = np.dtype(self.dtype)
        if dt not in (np.dtype(np.complex64), REFERENCE_DTYPE):
            raise QsimTopoError(f"dtype must be complex64 or complex128, got {dt}")
        object.__setattr__(self, "dtype", dt)
        object.__setattr__(self, "device", resolve_device(self.device))
        object.__setattr__(self, "engine_options", dict(self.engine_options or {}))

    def build_engine(self, *commitments: bytes) -> MatmulEngine:
        """The engine under test; a random engine named without a seed gets a derived one.

        ``commitments`` tell instances apart (the closing products of each depth).
        """
        options = dict(self.engine_options)
        if (
            isinstance(self.engine, str)
            and "seed" not in options
            and "seed" in describe_engine(self.engine).options
        ):
            options["seed"] = seeds.derive_seed(self.seed, seeds.ENGINE, *commitments)
        return resolve_engine(self.engine, **options)


def state_chain_bytes(
    qubits: int, dtype: Any, *, closing: bool = True, column_block: int = COLUMN_BLOCK
) -> int:
    """Peak bytes of a state chain: the largest of its phases (see the module docstring).

    R is the complex128 reference, E the engine's state, B one column block of a 2-qubit
    gate's operand with the engine's temporaries. Phases: an ``execute`` of a cycle copies
    the reference (2R + E); a gate's product holds the state, the product and the result
    (R + 3E + B); the closing of a depth holds the chain's states beside the closed ones,
    each made as a gate product (R + 4E + B, then 2R + 2E).
    """
    dim = 2**qubits
    ref = dim * REFERENCE_DTYPE.itemsize
    eng = dim * np.dtype(dtype).itemsize
    block = _ENGINE_TEMPS * min(dim, 4 * column_block) * np.dtype(dtype).itemsize
    phases = [2 * ref + eng, ref + 3 * eng + block]
    if closing:
        phases += [ref + 4 * eng + block, 2 * ref + 2 * eng]
    return max(phases) + _EXACT_WORKSPACE


def _apply_engine(
    engine: CheckedEngine, state: Any, ops: Sequence[GateOp], n: int, block: int
) -> tuple[Any, float]:
    """The state after ``ops``, one engine product per gate (new arrays), and the seconds."""
    xp = array_namespace(state)
    start = time.perf_counter()
    for op in ops:
        state = apply_operator(engine, state, op.matrix, op.qubits, n, max_columns=block)
    synchronize(xp)
    return state, time.perf_counter() - start


def _apply_exact(
    exact: MatmulEngine, state: Any, ops: Sequence[GateOp], n: int, device: str, name: str
) -> tuple[Any, float]:
    """The state after ``ops`` by the fast exact simulator (a new array), and the seconds."""
    if not ops:
        return state, 0.0
    start = time.perf_counter()
    result = execute(
        Program(name, n, 0, list(ops)),
        exact,
        device=device,
        dtype=REFERENCE_DTYPE,
        initial=state,
        final_on_device=True,
    )
    return result.final, time.perf_counter() - start


def iter_state_chain(
    config: StateChainConfig, depths: Sequence[int], family: StateFamily | None = None
) -> Iterator[StateReport]:
    """Yield one :class:`StateReport` per depth of ``depths`` (ascending), from one chain.

    ``family``: the circuits (default :func:`make_state_family` of the config's kind, qubits
    and seed; a circuit file needs it given). The depths, the engine and the memory are
    checked at this call, before anything is allocated.

    Raises:
        QsimTopoError (and subclasses): bad depths, engine or options, a family of another
            width, or a size that does not fit in memory (with required and available bytes).
    """
    wanted = sorted(set(int(d) for d in depths))
    if not wanted or wanted[0] < 1:
        raise QsimTopoError(f"need depth >= 1; got depth={list(depths)}")
    if config.qubits > 40:  # 2^n itself is beyond any machine: say so before the arithmetic
        raise QsimTopoError(
            f"a {config.qubits}-qubit state needs {2**config.qubits * 24} bytes of states "
            "(complex128 reference and engine state); no machine has that"
        )
    fam = family or make_state_family(config.kind, config.qubits, config.seed, None)
    if fam.n_qubits != config.qubits:
        raise QsimTopoError(f"the family has {fam.n_qubits} qubits, not {config.qubits}")
    need = state_chain_bytes(
        config.qubits,
        config.dtype,
        closing=bool(fam.closing(wanted[0])),
        column_block=config.column_block,
    )
    check_memory(
        need,
        config.device,
        f"a {config.qubits}-qubit state chain (complex128 reference, {config.dtype} engine "
        "state, their closed copies and one gate's product)",
    )
    under_test = CheckedEngine(config.build_engine())
    return _run(config, wanted, fam, under_test)


def _run(
    config: StateChainConfig, wanted: list[int], fam: StateFamily, under_test: CheckedEngine
) -> Iterator[StateReport]:
    n = config.qubits
    xp = get_xp(config.device)
    exact = get_engine("exact")
    ref = xp.zeros(2**n, dtype=REFERENCE_DTYPE)
    ref[0] = 1
    psi = xp.zeros(2**n, dtype=config.dtype)
    psi[0] = 1
    engine_s = exact_s = 0.0
    gates = 0
    if n <= WARM_UP_MAX_QUBITS:
        # Untimed: the first call of the exact simulator in a process compiles its kernels
        # (about 0.2 s), which would otherwise be billed to this chain's reference time.
        _apply_exact(exact, ref.copy(), fam.cycle(0), n, config.device, "warm-up")
    for depth in range(1, wanted[-1] + 1):
        ops = fam.cycle(depth - 1)
        # The reference goes first, and the engine gets private copies of the gate matrices
        # (apply_operator copies them), so an engine writing into them cannot reach it.
        ref, t = _apply_exact(exact, ref, ops, n, config.device, f"{fam.kind} cycle {depth - 1}")
        exact_s += t
        psi, t = _apply_engine(under_test, psi, ops, n, config.column_block)
        engine_s += t
        gates += len(ops)
        if depth not in wanted:
            continue
        closing = fam.closing(depth)
        closer = CheckedEngine(config.build_engine(b"closing", str(depth).encode()))
        ref_d, t_ref = _apply_exact(exact, ref, closing, n, config.device, f"{fam.kind} closing")
        psi_d, t_apx = _apply_engine(closer, psi, closing, n, config.column_block)
        work = Work(
            under_test.calls,
            under_test.exact_flops,
            under_test.engine_flops,
            engine_s,
            exact_s,
            gates,
        ).plus(closer, t_apx, t_ref, len(closing))
        report = measure_states(ref_d, psi_d, config, depth, work, under_test)
        del psi_d, ref_d
        yield report
