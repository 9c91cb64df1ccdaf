"""Bounded work: up-front time estimates and calls run in a child process killed at a limit.

The estimate is deliberately optimistic (a fast machine, no overhead but a small per-product
cost), so a refusal means the work would take longer than the limit on any machine: a
layer stack of depth 10^9 is refused at once, a slow-but-feasible one is not.

A time limit that must hold even when an engine never returns cannot be enforced inside the
process running the engine (a thread cannot be stopped); :func:`call_with_time_limit` runs
the call in a fresh (spawned) process and kills it at the limit.
"""

from __future__ import annotations

import importlib
import math
import pickle
import time
from collections.abc import Callable, Mapping
from typing import Any

from qsim_topo.errors import ExperimentTimeoutError, QsimTopoError

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "OPTIMISTIC_FLOPS_PER_S",
    "OPTIMISTIC_SECONDS_PER_PRODUCT",
    "call_with_time_limit",
    "check_estimate",
    "layer_stack_seconds",
    "state_chain_seconds",
]

#: The default limit, in seconds, of one experiment of a sweep (and the ceiling that
#: ``qsim-topo layers`` checks its estimate against when no ``--time-limit`` is given).
DEFAULT_TIME_LIMIT = 3600.0
#: Real floating-point operations per second of a fast machine (about one GPU's worth).
OPTIMISTIC_FLOPS_PER_S = 1e13
#: The least time one engine product takes, whatever its size (a Python call and a check).
OPTIMISTIC_SECONDS_PER_PRODUCT = 2e-6


def layer_stack_seconds(qubits: int, depth: int, kind: str, mode: str) -> float:
    """An optimistic estimate of the seconds a layer stack of ``depth`` layers takes.

    Dense mode: ``depth`` (2^n x 2^n) @ (2^n x 2^n) complex products, twice (the engine and the
    exact reference), 8 real flops per complex multiply-add. Gate mode: about n/2 two-qubit
    gates per layer, each a (4 x 4) @ (4 x 4^n / 4) product, twice. The measurement (a few
    more products) is not counted.
    """
    # Saturating float arithmetic (inf, never OverflowError or a 2**huge integer): callers
    # may estimate before they check the range.
    dim = 2.0**qubits if qubits < 1024 else math.inf
    layers = float(depth) if depth < 10**300 else math.inf
    if kind == "dense" or mode == "dense":
        products = 2.0 * layers
        flops = products * 8.0 * dim * dim * dim
    else:
        gates = float(max(1, qubits // 2)) if qubits < 10**300 else math.inf
        products = 2.0 * layers * gates
        flops = products * 8.0 * 4.0 * dim * dim
    return flops / OPTIMISTIC_FLOPS_PER_S + products * OPTIMISTIC_SECONDS_PER_PRODUCT


def state_chain_seconds(qubits: int, cycles: int) -> float:
    """An optimistic estimate of the seconds ``cycles`` cycles of a state chain take.

    A cycle of the families has at most about ``1.5 n`` gates (a single-qubit layer and a
    two-qubit pattern); each is applied twice (the engine's product and the exact reference),
    at most 4 complex multiply-adds (8 real flops each) per amplitude. The measurements are
    not counted.
    """
    gates = 2.0 * cycles * 1.5 * qubits
    flops = gates * 8.0 * 4.0 * float(2**qubits)
    return flops / OPTIMISTIC_FLOPS_PER_S + gates * OPTIMISTIC_SECONDS_PER_PRODUCT


def check_estimate(estimate: float, limit: float, what: str, hint: str = "") -> None:
    """Refuse work whose optimistic ``estimate`` (seconds) already exceeds ``limit``.

    Raises:
        QsimTopoError: ``estimate > limit``; the message gives both and names ``what``.

    """
    if estimate > limit:
        raise QsimTopoError(
            f"{what} would take at least an estimated {estimate:.3g} s > time limit "
            f"{limit:g} s (estimate at {OPTIMISTIC_FLOPS_PER_S:.0e} flop/s)"
            + (f"; {hint}" if hint else "")
        )


def check_time_limit(limit: float | None, name: str = "time limit") -> float | None:
    """``limit`` as a float, None kept; refuses a non-positive or non-finite value."""
    if limit is None:
        return None
    value = float(limit)
    if not math.isfinite(value) or value <= 0:
        raise QsimTopoError(f"{name} must be a positive number of seconds, got {limit!r}")
    return value


def call_with_time_limit(
    fn: Callable[..., Any], kwargs: Mapping[str, Any], limit: float, what: str
) -> Any:
    """``fn(**kwargs)`` in a spawned child process, killed when it runs past ``limit`` seconds.

    ``fn`` must be importable by name (a module-level function) and ``kwargs`` and its result
    picklable. The child is a fresh interpreter: it finds engines that qsim_topo ships or
    that a package declares through the entry-point group, not ones registered at run time
    with :func:`~qsim_topo.engines.base.register_engine` in this process. The child's
    exception is raised here again: as itself when it survives pickling, otherwise as a
    :class:`QsimTopoError` (or the nearest qsim_topo class that can be rebuilt from the
    message) with the same message.

    Raises:
        ExperimentTimeoutError: the call ran past ``limit`` (the child is killed).
        QsimTopoError: the child died without an answer (killed, out of memory).

    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # a fresh interpreter: no forked BLAS threads or locks
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, fn, dict(kwargs)), daemon=True)
    child.start()
    sender.close()
    try:
        if not _poll(receiver, limit):
            raise ExperimentTimeoutError(
                f"{what} timed out after {limit:g} s (the time limit); its process was stopped"
            )
        try:
            kind, payload = receiver.recv()
        except EOFError:
            child.join(5)
            raise QsimTopoError(
                f"{what}: its process died without an answer (exit code {child.exitcode})"
            ) from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    if kind == "ok":
        return payload
    if kind == "exception":
        raise payload
    module, qualname, message = payload
    raise _rebuild(module, qualname, message)


def _poll(receiver: Any, limit: float) -> bool:
    """``receiver.poll(limit)`` in slices: one poll's timeout has a platform maximum."""
    deadline = time.monotonic() + limit
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bool(receiver.poll(0))
        if receiver.poll(min(left, 3600.0)):
            return True


def _child(sender: Any, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    try:
        result: tuple[str, Any] = ("ok", fn(**kwargs))
    except BaseException as exc:  # everything goes back to the parent, which decides
        try:
            pickle.loads(pickle.dumps(exc))
            result = ("exception", exc)
        except Exception:  # an exception whose class cannot be rebuilt by pickle
            result = ("described", (type(exc).__module__, type(exc).__qualname__, str(exc)))
    try:
        sender.send(result)
    except Exception as exc:  # an unpicklable result: say so rather than die silently
        sender.send(("described", ("builtins", "RuntimeError", f"unpicklable result: {exc}")))
    finally:
        sender.close()


def _rebuild(module: str, qualname: str, message: str) -> BaseException:
    """The nearest qsim_topo error class of ``module.qualname`` built from ``message``."""
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        cls = None
    if isinstance(cls, type) and issubclass(cls, QsimTopoError):
        for klass in cls.__mro__:
            if isinstance(klass, type) and issubclass(klass, QsimTopoError):
                try:
                    return klass(message)
                except TypeError:  # a constructor with other arguments: try its base
                    continue
    return QsimTopoError(f"{qualname}: {message}")
