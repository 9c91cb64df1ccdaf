from __future__ import annotations

import numpy as np
import pytest

import qsim_topo
from qsim_topo.engines.base import (
    CheckedEngine,
    EngineBase,
    MatmulEngine,
    describe_engine,
    get_engine,
    register_engine,
    resolve_engine,
    unregister_engine,
)
from qsim_topo.errors import (
    ArgumentTypeError,
    EngineError,
    EngineOptionError,
    InvalidArgumentError,
    UnknownEngineError,
)


class _Scaled(EngineBase):
    """Test engine: exact product times a factor."""

    name = "test-scaled"
    family = "test"

    def __init__(self, *, factor: float = 2.0) -> None:
        super().__init__(factor=factor)
        if factor == 0:
            raise ValueError("factor must be non-zero")
        self.factor = factor

    def matmul(self, a, b, /):
        return (a @ b) * self.factor

    def flops_fraction(self, m, k, n):
        return 0.25


@pytest.fixture
def scaled_registered():
    register_engine("test-scaled", _Scaled)
    yield
    unregister_engine("test-scaled")


def test_public_api():
    assert "exact" in qsim_topo.available_engines()
    eng = qsim_topo.get_engine("exact")
    assert isinstance(eng, MatmulEngine) and eng.exact and eng.name == "exact"


def test_unknown_engine_lists_valid_names():
    with pytest.raises(UnknownEngineError) as info:
        get_engine("no-such-engine")
    assert "no-such-engine" in str(info.value) and "exact" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_duplicates_are_refused(scaled_registered):
    with pytest.raises(ValueError, match="already registered"):
        register_engine("test-scaled", _Scaled)
    register_engine("test-scaled", _Scaled, replace=True)


def test_bad_names_are_refused():
    for bad in ["", "a:b", "x=y", "with space"]:
        with pytest.raises(ValueError):
            register_engine(bad, _Scaled)


def test_options_are_checked(scaled_registered):
    eng = get_engine("test-scaled", factor=3.0)
    assert eng.options == {"factor": 3.0}
    with pytest.raises(EngineOptionError, match=r"no option 'ratio'.*factor"):
        get_engine("test-scaled", ratio=0.2)
    with pytest.raises(EngineOptionError, match="refused"):
        get_engine("test-scaled", factor=0)
    with pytest.raises(EngineOptionError, match="no option"):
        get_engine("exact", ratio=0.5)


def test_factory_that_builds_no_engine_is_refused():
    register_engine("test-bogus", lambda: object())
    try:
        with pytest.raises(EngineError, match="lacks the MatmulEngine"):
            get_engine("test-bogus")
    finally:
        unregister_engine("test-bogus")


def test_resolve_engine_passes_instances_through(scaled_registered):
    inst = _Scaled(factor=1.5)
    assert resolve_engine(inst) is inst
    with pytest.raises(EngineOptionError):
        resolve_engine(inst, factor=2.0)
    with pytest.raises(ArgumentTypeError):  # a wrong argument, not an engine that broke
        resolve_engine(object())  # type: ignore[arg-type]


def test_describe_engine(scaled_registered):
    info = describe_engine("test-scaled")
    assert info.family == "test" and info.exact is False
    assert info.options == {"factor": 2.0}
    assert info.summary.startswith("Test engine")


def test_checked_engine_counts_and_weights_flops(rng, scaled_registered):
    checked = CheckedEngine(get_engine("test-scaled"))
    a = rng.standard_normal((4, 6)) + 0j
    b = rng.standard_normal((6, 3)) + 0j
    out = checked.matmul(a, b)
    assert np.allclose(out, 2.0 * (a @ b))
    checked.matmul(a, b)
    assert checked.calls == 2
    assert checked.exact_flops == 2 * 4 * 6 * 3
    assert checked.total_flops_fraction == pytest.approx(0.25)
    # Products a kernel computed on the engine's behalf, several of one shape at once.
    checked.count_product(2, 2, 5, 3)
    assert checked.calls == 5
    assert checked.exact_flops == 2 * 4 * 6 * 3 + 3 * 2 * 2 * 5
    assert checked.total_flops_fraction == pytest.approx(0.25)


def test_engine_names_and_instances_of_the_wrong_type_are_argument_errors():
    from qsim_topo.engines.base import describe_engine, get_engine, resolve_engine

    for call in (lambda: get_engine([]), lambda: get_engine(3), lambda: describe_engine([])):
        with pytest.raises(ArgumentTypeError, match="engine name must be a string"):
            call()
    with pytest.raises(ArgumentTypeError, match="engine must be an engine name or a MatmulEngine"):
        resolve_engine(None)


_ODD_OPERANDS = [
    (2.5, "must be an array"),
    ([[1.0]], "must be an array"),
    (np.ones((4, 4), dtype=object), "numeric dtype"),
    (np.array(["ab"] * 4), "numeric dtype"),
    (np.array(1.0), "at least 1 axis"),
    (np.ones((3, 3), dtype=complex), "do not match"),
]


@pytest.mark.parametrize("name", ["exact", "bf16", "fp32", "cr-sampling", "topology", "lowrank"])
@pytest.mark.parametrize(("operand", "match"), _ODD_OPERANDS)
def test_every_engine_refuses_odd_operands_by_name(name, operand, match):
    # Were AttributeError ('float' has no 'shape'), IndexError or numpy's gufunc ValueError
    # from inside the engine.
    engine = get_engine(name)
    good = np.eye(4, dtype=complex)
    with pytest.raises(InvalidArgumentError, match=match) as info:
        engine.matmul(good, operand)
    assert f"{name}.matmul" in str(info.value)


@pytest.mark.parametrize("name", ["exact", "bf16", "cr-sampling", "pq"])
@pytest.mark.parametrize("dims", [(0, 4, 4), (4, 4.0, 4), (4, 4, "4"), (4, 4, -1)])
def test_flops_fraction_refuses_odd_sizes(name, dims):
    with pytest.raises(InvalidArgumentError, match="flops_fraction"):
        get_engine(name).flops_fraction(*dims)


def test_engines_take_float16_and_non_contiguous_operands():
    a = np.eye(4, dtype=np.float16)
    b = np.arange(32, dtype=complex).reshape(4, 8)[:, ::2]
    np.testing.assert_allclose(get_engine("exact").matmul(a, b), a.astype(complex) @ b)
