"""The matmul-engine protocol, the engine registry and the contract guard.

Every matrix product the simulators perform goes through an object satisfying
:class:`MatmulEngine`. Engines are built by name with keyword options::

    engine = get_engine("exact")
    engine = get_engine("cr-sampling", ratio=0.2, seed=7)   # approximate engines: own issue

Third-party packages add engines through the ``qsim_topo.engines`` entry-point group: each entry
point's name is the engine name and its object a factory (usually the class) called with the
options. Entry points are read lazily, the first time a name is not found among the built-ins or
the list of engines is asked for.
"""

from __future__ import annotations

import inspect
import json
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar, Protocol, runtime_checkable

from qsim_topo.errors import (
    EngineError,
    EngineOptionError,
    NonFiniteResultError,
    UnknownEngineError,
)
from qsim_topo.xp import array_namespace

__all__ = [
    "BUILTIN_ENGINES",
    "ENTRY_POINT_GROUP",
    "CheckedEngine",
    "EngineBase",
    "EngineInfo",
    "MatmulEngine",
    "available_engines",
    "describe_engine",
    "get_engine",
    "options_for_report",
    "parse_engine_spec",
    "parse_option_value",
    "register_engine",
    "resolve_engine",
    "unregister_engine",
]

ENTRY_POINT_GROUP = "qsim_topo.engines"

#: The names of the engines qsim_topo itself ships. They are reserved: neither
#: :func:`register_engine` (even with ``replace=True``) nor an entry-point plug-in can put
#: another factory under one of them, and :func:`unregister_engine` refuses to remove them,
#: so ``get_engine("exact")`` is always the package's exact engine. (The references of every
#: experiment are built from :class:`~qsim_topo.engines.exact.ExactEngine` directly anyway.)
BUILTIN_ENGINES = frozenset(
    {
        "exact",
        "fp32",
        "tf32",
        "fp16",
        "bf16",
        "3xtf32",
        "bf16x3",
        "bf16x9",
        "cr-sampling",
        "sketch-gaussian",
        "sketch-srht",
        "countsketch",
        "lowrank",
        "topology",
        "pq",
    }
)
_BUILTIN_MODULE_PREFIX = "qsim_topo.engines."


@runtime_checkable
class MatmulEngine(Protocol):
    """What the simulators need from a matrix-multiplication engine.

    Attributes:
        name: the registry key, e.g. ``"exact"``.
        exact: True when ``matmul`` equals ``a @ b`` up to the dtype's rounding. The simulator
            then may apply gates with its own kernels instead of calling ``matmul`` (the engine
            composes fused blocks only); an engine that must see every product says False.

    """

    @property
    def name(self) -> str:
        """The registry key."""
        ...

    @property
    def exact(self) -> bool:
        """True when ``matmul`` equals ``a @ b`` up to the dtype's rounding."""
        ...

    def matmul(self, a: Any, b: Any, /) -> Any:
        """Return (an approximation of) ``a @ b``.

        Contract: ``a`` is (m, k), ``b`` is (k, n), both numpy or both cupy arrays. The result is
        a new (m, n) array on the same device with dtype ``result_type(a, b)``; neither input is
        modified and the caller owns the result.
        """
        ...

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """The engine's work on an (m, k) @ (k, n) product as a fraction of the exact product's.

        Overheads (sampling probabilities, sketches, fills, training) are included.
        """
        ...


class EngineBase:
    """Convenience base class: options kept for reports, ``repr`` and a default fraction.

    Subclasses set ``name``, ``exact`` and ``family`` as class attributes, take their options as
    keyword-only ``__init__`` arguments and call ``super().__init__(**options)`` with them.
    """

    name: ClassVar[str] = ""
    exact: ClassVar[bool] = False
    family: ClassVar[str] = "other"

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = dict(options)

    def matmul(self, a: Any, b: Any, /) -> Any:  # pragma: no cover - abstract
        """See :meth:`MatmulEngine.matmul`."""
        raise NotImplementedError

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """See :meth:`MatmulEngine.flops_fraction`; 1.0 unless a subclass says otherwise."""
        return 1.0

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


# --------------------------------------------------------------------------- registry

EngineFactory = Callable[..., MatmulEngine]


@dataclass
class _Entry:
    factory: EngineFactory | None
    entry_point: metadata.EntryPoint | None = None
    load_error: str | None = None

    def load(self, name: str) -> EngineFactory:
        if self.factory is None:
            assert self.entry_point is not None
            try:
                self.factory = self.entry_point.load()
            except Exception as exc:  # a broken plug-in must not take the others down
                raise EngineError(
                    f"engine {name!r} comes from the entry point {self.entry_point.value!r}, "
                    f"which failed to load: {type(exc).__name__}: {exc}"
                ) from exc
        return self.factory


_REGISTRY: dict[str, _Entry] = {}
_LOCK = threading.Lock()
_entry_points_loaded = False


def register_engine(name: str, factory: EngineFactory, *, replace: bool = False) -> None:
    """Register ``factory`` (a class or callable taking keyword options) under ``name``.

    A name of :data:`BUILTIN_ENGINES` can be registered once, by qsim_topo's own engine
    modules, and never replaced.

    Raises:
        ValueError: ``name`` is already registered and ``replace`` is False, or ``name`` is a
            built-in engine's name (whatever ``replace`` says).

    """
    if not isinstance(name, str) or not name or any(c in name for c in ":=, "):
        raise ValueError(f"engine names are non-empty strings without ':=, ', got {name!r}")
    with _LOCK:
        if name in BUILTIN_ENGINES and (
            name in _REGISTRY
            or not str(getattr(factory, "__module__", "")).startswith(_BUILTIN_MODULE_PREFIX)
        ):
            raise ValueError(
                f"{name!r} is the name of a built-in qsim_topo engine and cannot be replaced "
                "or shadowed; register the engine under a name of its own"
            )
        if name in _REGISTRY and not replace:
            raise ValueError(f"an engine named {name!r} is already registered")
        _REGISTRY[name] = _Entry(factory)


def unregister_engine(name: str) -> None:
    """Remove ``name`` from the registry (for tests and plug-in reloads); missing names pass.

    Raises:
        ValueError: ``name`` is a built-in engine's (those cannot be removed).

    """
    if name in BUILTIN_ENGINES:
        raise ValueError(f"{name!r} is a built-in qsim_topo engine and cannot be unregistered")
    with _LOCK:
        _REGISTRY.pop(name, None)


def _load_entry_points(*, force: bool = False) -> None:
    """Add every engine declared in the ``qsim_topo.engines`` group that is not yet known.

    A plug-in whose name clashes with a registered engine is skipped (built-ins win), and
    one named like a built-in engine is never loaded, even before the built-ins register;
    either way a :class:`RuntimeWarning` names it.
    """
    global _entry_points_loaded
    with _LOCK:
        if _entry_points_loaded and not force:
            return
        _entry_points_loaded = True
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in BUILTIN_ENGINES or ep.name in _REGISTRY:
                warnings.warn(
                    f"the entry point {ep.value!r} declares an engine named {ep.name!r}, which "
                    "is already taken"
                    + (" by a built-in engine" if ep.name in BUILTIN_ENGINES else "")
                    + "; it is ignored",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            _REGISTRY[ep.name] = _Entry(None, entry_point=ep)


def available_engines() -> list[str]:
    """Sorted names of every engine: built-ins and those declared through entry points."""
    _load_entry_points()
    return sorted(_REGISTRY)


def _lookup(name: str) -> EngineFactory:
    if name not in _REGISTRY:
        _load_entry_points()
    entry = _REGISTRY.get(name)
    if entry is None:
        raise UnknownEngineError(
            f"unknown engine {name!r}; available engines: {', '.join(available_engines())}"
        )
    return entry.load(name)


def _option_names(factory: EngineFactory) -> tuple[dict[str, Any], bool]:
    """(option -> default, accepts **kwargs) read from the factory's signature (cached)."""
    try:
        cached = _OPTION_CACHE.get(factory)
    except TypeError:  # an unhashable factory
        cached = None
    if cached is not None:
        return dict(cached[0]), cached[1]
    result = _read_option_names(factory)
    try:
        _OPTION_CACHE[factory] = result
    except TypeError:
        pass
    return dict(result[0]), result[1]


_OPTION_CACHE: dict[Any, tuple[dict[str, Any], bool]] = {}


def _read_option_names(factory: EngineFactory) -> tuple[dict[str, Any], bool]:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}, True
    opts: dict[str, Any] = {}
    var_kw = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            opts[p.name] = None if p.default is p.empty else p.default
    return opts, var_kw


def get_engine(name: str, **options: Any) -> MatmulEngine:
    """Build the engine registered as ``name`` with keyword ``options``.

    Raises:
        UnknownEngineError: no such engine (the message lists the valid names).
        EngineOptionError: an option the engine does not take, or a value it refuses.
        EngineError: a plug-in that fails to load or builds something that is no engine.

    """
    factory = _lookup(name)
    known, var_kw = _option_names(factory)
    unknown = sorted(set(options) - set(known))
    if unknown and not var_kw:
        valid = ", ".join(known) if known else "none"
        raise EngineOptionError(
            f"engine {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {valid}"
        )
    try:
        engine = factory(**options)
    except EngineOptionError:
        raise
    except (TypeError, ValueError) as exc:
        raise EngineOptionError(f"engine {name!r} refused its options {options}: {exc}") from exc
    if not isinstance(engine, MatmulEngine):
        raise EngineError(
            f"engine {name!r} built a {type(engine).__name__}, which lacks the MatmulEngine "
            "attributes (name, exact, matmul, flops_fraction)"
        )
    return engine


def resolve_engine(engine: str | MatmulEngine, **options: Any) -> MatmulEngine:
    """An engine instance from a name (built with ``options``) or an instance (returned as is)."""
    if isinstance(engine, str):
        return get_engine(engine, **options)
    if options:
        raise EngineOptionError("options can only be given with an engine name, not an instance")
    if not isinstance(engine, MatmulEngine):
        raise EngineError(f"{engine!r} is not a MatmulEngine")
    return engine


@dataclass(frozen=True)
class EngineInfo:
    """What ``qsim-topo engines`` prints about one engine."""

    name: str
    family: str
    exact: bool | None
    options: dict[str, Any]
    summary: str
    error: str | None = None


def describe_engine(name: str) -> EngineInfo:
    """Family, exactness, options with defaults and the first docstring line of an engine."""
    try:
        factory = _lookup(name)
    except EngineError as exc:
        return EngineInfo(name, "?", None, {}, "", error=str(exc))
    opts, _ = _option_names(factory)
    doc = inspect.getdoc(factory) or ""
    exact = getattr(factory, "exact", None)
    return EngineInfo(
        name=name,
        family=str(getattr(factory, "family", "plug-in")),
        exact=exact if isinstance(exact, bool) else None,
        options=opts,
        summary=doc.splitlines()[0] if doc else "",
    )


# --------------------------------------------------------------------------- specs


def parse_option_value(text: str) -> Any:
    """Parse an option value given as text.

    JSON literals (numbers, true/false/null, quoted strings, lists) and Python's True, False
    and None become Python values; anything else stays the string itself.
    """
    lowered = text.strip()
    if lowered in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[lowered]
    try:
        return json.loads(lowered)
    except ValueError:
        return text


def parse_engine_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name:key=value,key=value"`` into the name and a dict of parsed options.

    Raises:
        EngineOptionError: an option without ``=``.

    """
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise EngineOptionError(f"engine option {item!r} in {spec!r} is not key=value")
        options[key.strip()] = parse_option_value(value)
    return name.strip(), options


# --------------------------------------------------------------------------- contract guard


@dataclass
class CheckedEngine:
    """Wraps an engine: checks every product against the contract and counts the work.

    Each call checks the operand shapes, that the result has shape (m, n), the inputs' dtype
    and device, and that it is finite (a single reduction: NaN and Inf propagate into the sum).
    With ``check_inputs`` (the default) it also checks that the engine left its operands
    unchanged, by comparing a fingerprint taken before and after: about 1024 evenly strided
    entries of each operand, first and last included. That catches engines that rewrite their
    inputs (rounding, scaling, in-place products) at a cost independent of the size; the
    contract suite checks every entry of every registered engine.
    With ``check_finite=False`` the per-product finiteness reduction is skipped (an extra
    read of every product); callers doing so check the final state instead.
    :meth:`count_product` records a product that a kernel computed on the engine's behalf
    (the in-place GPU pass of an exact engine).
    ``calls`` counts products, ``exact_flops`` the m*k*n multiply-adds an exact product would
    do and ``engine_flops`` the same weighted by the engine's ``flops_fraction``.
    """

    engine: MatmulEngine
    check_inputs: bool = True
    check_finite: bool = True
    calls: int = 0
    exact_flops: float = 0.0
    engine_flops: float = 0.0
    _shapes: dict[tuple[int, int, int], float] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The wrapped engine's name."""
        return self.engine.name

    @property
    def exact(self) -> bool:
        """Whether the wrapped engine is exact."""
        return self.engine.exact

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """The wrapped engine's fraction (cached per shape)."""
        key = (m, k, n)
        frac = self._shapes.get(key)
        if frac is None:
            frac = float(self.engine.flops_fraction(m, k, n))
            self._shapes[key] = frac
        return frac

    @property
    def total_flops_fraction(self) -> float:
        """The engine's work over all calls so far as a fraction of exact products' work."""
        return self.engine_flops / self.exact_flops if self.exact_flops else 1.0

    def matmul(self, a: Any, b: Any, /) -> Any:
        """``engine.matmul(a, b)`` with the contract checked; raises EngineError on breach."""
        xp = array_namespace(a, b)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise EngineError(f"matmul operands of shapes {a.shape} and {b.shape} do not chain")
        m, k = a.shape
        n = b.shape[1]
        before = (_fingerprint(a), _fingerprint(b)) if self.check_inputs else None
        out = self.engine.matmul(a, b)
        if before is not None and not (
            _same(xp, before[0], _fingerprint(a)) and _same(xp, before[1], _fingerprint(b))
        ):
            raise EngineError(
                f"engine {self.name!r} modified its input operands, which the MatmulEngine "
                "contract forbids (the caller's arrays, e.g. a shared layer, would be corrupted)"
            )
        want_dtype = xp.result_type(a, b)
        if getattr(out, "shape", None) != (m, n) or out.dtype != want_dtype:
            raise EngineError(
                f"engine {self.name!r} returned {getattr(out, 'shape', type(out))} "
                f"{getattr(out, 'dtype', '')} for a ({m}, {k}) @ ({k}, {n}) product of "
                f"{want_dtype}; expected shape ({m}, {n}) and dtype {want_dtype}"
            )
        if array_namespace(out) is not xp:
            raise EngineError(f"engine {self.name!r} returned its result on another device")
        if self.check_finite and not bool(xp.isfinite(out.sum())):
            self._raise_non_finite(xp, a, b, out)
        self.count_product(m, k, n)
        return out

    def matmul_stack(self, a: Any, b: Any, /) -> Any:
        """``a @ b[i]`` for each matrix of the stack ``b`` (batch, k, n): (batch, m, n).

        One call of the wrapped engine when it declares ``batched = True`` (the exact engine),
        else one checked :meth:`matmul` per matrix of the stack.
        """
        xp = array_namespace(a, b)
        if a.ndim != 2 or b.ndim != 3 or a.shape[1] != b.shape[1]:
            raise EngineError(f"matmul operands of shapes {a.shape} and {b.shape} do not chain")
        if not getattr(self.engine, "batched", False):
            return xp.stack([self.matmul(a, b[i]) for i in range(b.shape[0])])
        batch, k, n = b.shape
        m = a.shape[0]
        out = self.engine.matmul(a, b)
        want_dtype = xp.result_type(a, b)
        if getattr(out, "shape", None) != (batch, m, n) or out.dtype != want_dtype:
            raise EngineError(
                f"engine {self.name!r} returned {getattr(out, 'shape', type(out))} for a stacked "
                f"({m}, {k}) @ ({batch}, {k}, {n}) product; expected ({batch}, {m}, {n}) "
                f"{want_dtype}"
            )
        if self.check_finite and not bool(xp.isfinite(out.sum())):
            self._raise_non_finite(xp, a, b, out)
        self.count_product(m, k, n * batch)
        return out

    def count_product(self, m: int, k: int, n: int, times: int = 1) -> None:
        """Count ``times`` (m, k) @ (k, n) products in ``calls`` and the flop totals.

        A kernel calling this on the engine's behalf counts the nominal work of its products,
        including any part it could skip (zeros it knew would stay zero).
        """
        self.calls += times
        work = float(m) * k * n * times
        if work:  # an empty product has no work and no meaningful fraction
            self.exact_flops += work
            self.engine_flops += work * self.flops_fraction(m, k, n)

    def _raise_non_finite(self, xp: Any, a: Any, b: Any, out: Any) -> None:
        bad = int(xp.count_nonzero(~xp.isfinite(out)))
        if bad == 0:
            raise NonFiniteResultError(
                f"engine {self.name!r} returned a result whose sum overflows ({out.shape})"
            )
        inputs_ok = bool(xp.isfinite(a).all()) and bool(xp.isfinite(b).all())
        origin = "from finite inputs" if inputs_ok else "(its inputs already held NaN/Inf)"
        raise NonFiniteResultError(
            f"engine {self.name!r} produced {bad} NaN/Inf entries of {out.size} {origin}"
        )


_FINGERPRINT_ENTRIES = 1024


def _fingerprint(x: Any) -> Any:
    """A copy of about 1024 evenly strided entries of ``x``, its last entry included."""
    flat = x.reshape(-1)
    step = max(1, flat.size // _FINGERPRINT_ENTRIES)
    return flat[::step].copy(), flat[-1:].copy()


def _same(xp: Any, a: Any, b: Any) -> bool:
    return all(bool(xp.array_equal(x, y, equal_nan=True)) for x, y in zip(a, b, strict=True))


def options_for_report(engine: MatmulEngine) -> Mapping[str, Any]:
    """The options an engine was built with, when it keeps them (``EngineBase`` does)."""
    opts = getattr(engine, "options", None)
    return dict(opts) if isinstance(opts, Mapping) else {}
