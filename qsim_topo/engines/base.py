"""The matmul-engine protocol and the engine registry.

The engine-spec parser (:mod:`qsim_topo.engines.spec`) and the contract guard
:class:`~qsim_topo.engines.checked.CheckedEngine` live in their own modules and are
re-exported here, where they used to be.

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

import functools
import inspect
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, ClassVar, Protocol, runtime_checkable

from qsim_topo.engines.checked import CheckedEngine as CheckedEngine
from qsim_topo.engines.spec import parse_engine_spec as parse_engine_spec
from qsim_topo.engines.spec import parse_option_value as parse_option_value
from qsim_topo.errors import (
    ArgumentTypeError,
    EngineError,
    EngineOptionError,
    UnknownEngineError,
)
from qsim_topo.validation import check_int, check_matmul_operands, describe

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
    "is_builtin_exact",
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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every subclass's own matmul and flops_fraction check their arguments first: a float,
        # a list, an object array or mismatched shapes raised AttributeError, IndexError or
        # numpy's ValueError deep inside the engine, a zero size a ZeroDivisionError.
        super().__init_subclass__(**kwargs)
        if "matmul" in cls.__dict__:
            cls.matmul = _checked_matmul(cls.__dict__["matmul"])  # type: ignore[method-assign]
        if "flops_fraction" in cls.__dict__:
            cls.flops_fraction = _checked_fraction(  # type: ignore[method-assign]
                cls.__dict__["flops_fraction"]
            )

    def matmul(self, a: Any, b: Any, /) -> Any:  # pragma: no cover - abstract
        """See :meth:`MatmulEngine.matmul`."""
        raise NotImplementedError

    def flops_fraction(self, m: int, k: int, n: int) -> float:
        """See :meth:`MatmulEngine.flops_fraction`; 1.0 unless a subclass says otherwise."""
        return 1.0

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


def _checked_matmul(matmul: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(matmul)
    def checked(self: EngineBase, a: Any, b: Any, /) -> Any:
        check_matmul_operands(f"{self.name or type(self).__name__}.matmul", a, b)
        return matmul(self, a, b)

    return checked


def _checked_fraction(fraction: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fraction)
    def checked(self: EngineBase, m: Any, k: Any, n: Any) -> float:
        where = f"{self.name or type(self).__name__}.flops_fraction"
        dims = [
            check_int(f"{where}: {label}", v, min=1)
            for label, v in zip("mkn", (m, k, n), strict=True)
        ]
        return fraction(self, *dims)

    return checked


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
    if not isinstance(name, str):
        raise ArgumentTypeError(f"engine name must be a string, got {describe(name)}")
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
        EngineError: a plug-in that fails to load, whose constructor raises anything but
            TypeError/ValueError (those are refused options), or that builds something that
            is no engine.

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
    except EngineError:
        raise
    except Exception as exc:  # a plug-in's constructor may raise anything: name who failed
        raise EngineError(
            f"engine {name!r} failed in its constructor: {type(exc).__name__}: {exc}"
        ) from exc
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
        raise ArgumentTypeError(
            f"engine must be an engine name or a MatmulEngine, got {describe(engine)}"
        )
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


def is_builtin_exact(engine: MatmulEngine) -> bool:
    """True for an exact engine defined by qsim_topo itself (plain ``xp.matmul``).

    Such an engine is trusted not to mutate its inputs and to be as fast as the kernels it
    stands for; a plug-in that declares itself exact is still watched (its products checked)
    and never run in a caller's thread.
    """
    while isinstance(engine, CheckedEngine):  # the wrapper forwards a plug-in's claims
        engine = engine.engine
    return bool(engine.exact) and type(engine).__module__.startswith("qsim_topo.engines.")


def options_for_report(engine: MatmulEngine) -> Mapping[str, Any]:
    """The options an engine was built with, when it keeps them (``EngineBase`` does)."""
    opts = getattr(engine, "options", None)
    return dict(opts) if isinstance(opts, Mapping) else {}
