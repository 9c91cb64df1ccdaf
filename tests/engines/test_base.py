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
    parse_engine_spec,
    parse_option_value,
    register_engine,
    resolve_engine,
    unregister_engine,
)
from qsim_topo.errors import (
    EngineError,
    EngineOptionError,
    NonFiniteResultError,
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
    with pytest.raises(EngineError):
        resolve_engine(object())  # type: ignore[arg-type]


def test_describe_engine(scaled_registered):
    info = describe_engine("test-scaled")
    assert info.family == "test" and info.exact is False
    assert info.options == {"factor": 2.0}
    assert info.summary.startswith("Test engine")


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.2", 0.2), ("3", 3), ("true", True), ("False", False), ("null", None),
     ("rows", "rows"), ('"1"', "1"), ("[1, 2]", [1, 2])],
)
def test_parse_option_value(text, value):
    assert parse_option_value(text) == value


def test_parse_engine_spec():
    assert parse_engine_spec("exact") == ("exact", {})
    assert parse_engine_spec("topology:ratio=0.2,axis=1,fill=interp") == (
        "topology", {"ratio": 0.2, "axis": 1, "fill": "interp"}
    )
    with pytest.raises(EngineOptionError):
        parse_engine_spec("topology:ratio")


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


class _Broken(EngineBase):
    name = "test-broken"

    def __init__(self, *, mode: str = "nan") -> None:
        super().__init__(mode=mode)
        self.mode = mode

    def matmul(self, a, b, /):
        out = a @ b
        if self.mode == "nan":
            out[0, 0] = np.nan
        elif self.mode == "inf":
            out[-1, -1] = np.inf
        elif self.mode == "shape":
            out = out[:-1]
        elif self.mode == "dtype":
            out = out.astype(np.complex64)
        return out


@pytest.mark.parametrize("mode", ["nan", "inf"])
def test_non_finite_results_raise_naming_the_engine(rng, mode):
    checked = CheckedEngine(_Broken(mode=mode))
    a = rng.standard_normal((3, 3)) + 0j
    with pytest.raises(NonFiniteResultError, match=r"test-broken.*1 NaN/Inf.*from finite inputs"):
        checked.matmul(a, a)


def test_non_finite_inputs_are_named_as_such(rng):
    a = rng.standard_normal((3, 3)) + 0j
    a[1, 1] = np.nan
    with pytest.raises(NonFiniteResultError, match="inputs already held NaN"):
        CheckedEngine(get_engine("exact")).matmul(a, a)


@pytest.mark.parametrize("mode", ["shape", "dtype"])
def test_contract_breaches_raise(rng, mode):
    a = rng.standard_normal((3, 3)) + 0j
    with pytest.raises(EngineError, match="expected shape"):
        CheckedEngine(_Broken(mode=mode)).matmul(a, a)


def test_operands_that_do_not_chain(rng):
    with pytest.raises(EngineError, match="do not chain"):
        CheckedEngine(get_engine("exact")).matmul(np.ones((2, 3)), np.ones((2, 3)))


@pytest.mark.parametrize("shape", [(0, 3, 2), (3, 0, 2), (3, 2, 0)])
def test_empty_products_pass_through_every_engine(shape):
    from qsim_topo import available_engines

    m, k, n = shape
    for name in available_engines():
        checked = CheckedEngine(get_engine(name))
        out = checked.matmul(np.ones((m, k), dtype=complex), np.ones((k, n), dtype=complex))
        assert out.shape == (m, n), name
        assert np.all(out == 0), name  # an empty inner dimension sums to zero
        assert checked.calls == 1 and checked.total_flops_fraction == 1.0
