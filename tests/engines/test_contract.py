"""The contract every registered engine keeps (built-ins and installed plug-ins alike).

Parametrised over ``qsim_topo.available_engines()`` with default options: shapes, dtypes and
devices of results, untouched inputs, reproducibility, finiteness, exactness of the exact
engine, the error window of each precision format, unbiasedness and the Drineas-Kannan-Mahoney
error law of the sampling engines, and errors that shrink as the budget grows.
"""

from __future__ import annotations

import numpy as np
import pytest

import qsim_topo
from qsim_topo.engines.base import CheckedEngine, EngineBase, describe_engine, get_engine
from qsim_topo.errors import NonFiniteResultError, QsimTopoError
from qsim_topo.xp import device_of, get_xp, to_numpy
from tests.conftest import devices

ENGINES = qsim_topo.available_engines()

# Relative Frobenius error window (lower, upper) on complex128 Gaussian operands of the
# shape below. Upper: the format's unit roundoff times a small factor; lower: proof that the
# rounding is really applied (an engine that secretly computed in float64 would fail).
PRECISION_WINDOWS = {
    "fp32": (1e-8, 1e-6),  # u = 2^-24 = 6e-8
    "tf32": (1e-4, 1e-3),  # u = 2^-11 = 4.9e-4
    "fp16": (1e-4, 1e-3),  # u = 2^-11
    "bf16": (1e-3, 1e-2),  # u = 2^-8 = 3.9e-3
    "3xtf32": (1e-9, 1e-6),  # float32 level
    "bf16x9": (1e-9, 1e-6),  # float32 level
    "bf16x3": (1e-6, 3e-5),  # 16 significant bits: about 2^-17, not float32 level
}

# Engines whose estimate is unbiased, E[engine(A, B)] = A @ B, with their option sets.
UNBIASED = [
    ("cr-sampling", {}),
    ("cr-sampling", {"replace": False}),
    ("cr-sampling", {"importance": False}),
    ("cr-sampling", {"replace": False, "importance": False}),
    ("sketch-gaussian", {}),
    ("sketch-srht", {}),
    ("countsketch", {}),
]

DTYPES = [
    (np.complex128, np.complex128),
    (np.complex64, np.complex64),
    (np.float64, np.float64),
    (np.complex64, np.complex128),
]


def _options(name: str) -> dict:
    return describe_engine(name).options


def _seeded(name: str, seed: int, **options):
    if "seed" in _options(name):
        options["seed"] = seed
    return get_engine(name, **options)


def _operands(rng, shape_a, shape_b, dta=np.complex128, dtb=np.complex128):
    def make(shape, dt):
        x = rng.standard_normal(shape)
        if np.issubdtype(dt, np.complexfloating):
            x = x + 1j * rng.standard_normal(shape)
        return x.astype(dt)

    return make(shape_a, dta), make(shape_b, dtb)


def _rel(x, ref) -> float:
    return float(np.linalg.norm(to_numpy(x) - ref) / np.linalg.norm(ref))


# --------------------------------------------------------------------------- shape/dtype/device


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize(("dta", "dtb"), DTYPES)
@pytest.mark.parametrize("name", ENGINES)
def test_result_shape_dtype_device_and_inputs_untouched(name, dta, dtb, device, rng):
    xp = get_xp(device)
    a_h, b_h = _operands(rng, (12, 40), (40, 10), dta, dtb)
    a, b = xp.asarray(a_h), xp.asarray(b_h)
    if xp is np:  # any write into an operand raises
        a.flags.writeable = False
        b.flags.writeable = False
    out = _seeded(name, 1).matmul(a, b)
    assert out.shape == (12, 10)
    assert out.dtype == np.result_type(a_h, b_h)
    assert device_of(out) == device
    assert np.array_equal(to_numpy(a), a_h) and np.array_equal(to_numpy(b), b_h)
    assert np.isfinite(to_numpy(out)).all()


@pytest.mark.parametrize("name", ENGINES)
def test_checked_engine_accepts_every_engine(name, rng):
    checked = CheckedEngine(_seeded(name, 2))
    a, b = _operands(rng, (16, 24), (24, 8))
    checked.matmul(a, b)  # raises EngineError/NonFiniteResultError on any breach
    assert checked.calls == 1
    frac = checked.flops_fraction(16, 24, 8)
    assert np.isfinite(frac) and frac > 0


@pytest.mark.parametrize("name", ENGINES)
def test_zero_operand_gives_finite_result(name, rng):
    a, b = _operands(rng, (8, 16), (16, 6))
    out = _seeded(name, 3).matmul(np.zeros_like(a), b)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", ENGINES)
def test_flops_fraction_positive_and_finite(name):
    engine = _seeded(name, 0)
    for m, k, n in [(1, 1, 1), (8, 3, 5), (64, 64, 64), (1024, 1024, 1024)]:
        frac = engine.flops_fraction(m, k, n)
        assert np.isfinite(frac) and frac > 0, (m, k, n, frac)


# --------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("name", ENGINES)
def test_same_seed_same_sequence(name, rng):
    """Same seed, same results call after call; no seed option: deterministic."""
    a, b = _operands(rng, (10, 32), (32, 7))
    first, second = _seeded(name, 11), _seeded(name, 11)
    for _ in range(3):
        assert np.array_equal(first.matmul(a, b), second.matmul(a, b))


# --------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("name", [n for n in ENGINES if describe_engine(n).exact])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_exact_engines_match_numpy(name, dtype, rng):
    a, b = _operands(rng, (20, 30), (30, 9), dtype, dtype)
    ref = a.astype(np.complex128) @ b.astype(np.complex128)
    tol = 1e-13 if dtype == np.complex128 else 1e-5
    assert _rel(get_engine(name).matmul(a, b), ref) < tol


@pytest.mark.parametrize("name", sorted(PRECISION_WINDOWS))
def test_precision_error_window(name, rng):
    lower, upper = PRECISION_WINDOWS[name]
    a, b = _operands(rng, (48, 64), (64, 40))
    err = _rel(get_engine(name).matmul(a, b), a @ b)
    assert lower < err < upper, f"{name}: relative error {err:.3e} not in ({lower}, {upper})"


def test_every_precision_engine_has_a_window():
    precision = [n for n in ENGINES if describe_engine(n).family == "precision"]
    assert sorted(precision) == sorted(PRECISION_WINDOWS)


# --------------------------------------------------------------------------- Gaussian inputs

# The quantum experiments only ever feed unitary operands. An engine exact on unitaries and
# wrong elsewhere would pass every one of them, so every engine is also held, on complex
# Gaussian (non-unitary) operands, to the accuracy window its family promises: the rms
# relative Frobenius error over a few calls lies in (lower, upper), both computed from the
# operands. Plug-ins must be exact or declare one of these families.
WINDOW_CALLS = 16


def _relative_tail(x: np.ndarray, rank: int) -> float:
    """sqrt(sum_{j > rank} sigma_j^2) / ||x||_F: the best rank-``rank`` relative error."""
    sv = np.linalg.svd(x, compute_uv=False)
    return float(np.sqrt(np.sum(sv[rank:] ** 2)) / np.linalg.norm(x))


def accuracy_window(name: str, engine, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(lower, upper) on the rms relative error of ``engine`` (built with default options).

    exact: rounding only. precision: the format's window (``PRECISION_WINDOWS``).
    sampling (cr-sampling, importance, with replacement): 0.5x..1.6x the exact DKM mean
    square error ((sum_i |A_i||B_i|)^2 - ||AB||^2) / c. sketch: between 0.2 (1/s - 1/K) and
    2.5 / s times ||A||^2 ||B||^2 / ||AB||^2 (K the padded inner size). lowrank: at least the
    best rank-r error of AB (Eckart-Young), at most twice the HMT bound
    sqrt(1 + r/(p-1)) tail_r(A) ||B||_2 / ||AB||. topology: below 2 (each line exact or a
    convex combination of exact lines). pq: below ||A||_F ||B||_2 / ||AB||_F (prototypes
    learned on A's rows quantise with at most A's energy).
    """
    try:
        registered = describe_engine(name)
        family, defaults = registered.family, registered.options
    except QsimTopoError:  # an engine under test that is not registered
        family, defaults = "plug-in", {}
    family = str(getattr(engine, "family", family))
    ab = a @ b
    k = a.shape[1]
    energy = float(np.sum(np.abs(a) ** 2) * np.sum(np.abs(b) ** 2) / np.sum(np.abs(ab) ** 2))
    options = {**defaults, **getattr(engine, "options", {})}
    ratio = float(options.get("ratio") or 1.0)
    if engine.exact or family == "exact":
        return 0.0, 1e-13
    if family == "precision":
        if name not in PRECISION_WINDOWS:
            pytest.fail(f"precision engine {name!r} has no window in PRECISION_WINDOWS")
        return PRECISION_WINDOWS[name]
    if family == "sampling":
        c = max(1, round(ratio * k))
        w = np.sqrt(np.sum(np.abs(a) ** 2, axis=0) * np.sum(np.abs(b) ** 2, axis=1)).sum()
        mse = (w**2 - np.sum(np.abs(ab) ** 2)) / (c * np.sum(np.abs(ab) ** 2))
        return float(np.sqrt(0.5 * mse)), float(np.sqrt(1.6 * mse))
    if family == "sketch":
        sk = max(1, round(ratio * k))
        padded = 1 << (k - 1).bit_length()
        return float(np.sqrt(0.2 * (1 / sk - 1 / padded) * energy)), float(
            np.sqrt(2.5 * energy / sk)
        )
    if family == "lowrank":
        r = max(1, min(min(a.shape), round(ratio * min(a.shape))))
        p = max(2, int(options.get("oversampling") or 2))
        hmt = np.sqrt(1 + r / (p - 1)) * _relative_tail(a, r) * np.linalg.norm(a)
        upper = 2 * hmt * np.linalg.norm(b, 2) / np.linalg.norm(ab)
        return _relative_tail(ab, r), float(upper)
    if family == "topology":
        return 0.0, 2.0
    if family == "pq":
        return 0.0, float(np.linalg.norm(a) * np.linalg.norm(b, 2) / np.linalg.norm(ab))
    pytest.fail(
        f"engine {name!r} of family {family!r} is approximate but promises no accuracy "
        "window: declare one of exact, precision, sampling, sketch, lowrank, topology, pq"
    )


def rms_relative_error(engine, a: np.ndarray, b: np.ndarray, calls: int = WINDOW_CALLS) -> float:
    truth = a @ b
    errs = [_rel(engine.matmul(a, b), truth) ** 2 for _ in range(calls)]
    return float(np.sqrt(np.mean(errs)))


@pytest.mark.parametrize("name", ENGINES)
def test_accuracy_on_gaussian_inputs_is_in_the_family_window(name, rng):
    a, b = _operands(rng, (48, 64), (64, 40))
    engine = _seeded(name, 21)
    lower, upper = accuracy_window(name, engine, a, b)
    err = rms_relative_error(engine, a, b)
    assert lower <= err <= upper, f"{name}: rms error {err:.3e} not in [{lower:.3e}, {upper:.3e}]"


class _UnitaryOnly(EngineBase):
    """Hostile: bf16-level on unitary operands (what every quantum report feeds it), 1%
    wrong on anything else. It declares itself a bf16 engine."""

    name = "bf16"
    family = "precision"

    def matmul(self, a, b, /):
        out = get_engine("bf16").matmul(a, b)
        gram = a.conj().T @ a
        if np.allclose(gram, np.eye(a.shape[1]), atol=1e-6):
            return out
        noise = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
        return out + 0.01 * np.linalg.norm(out) / np.sqrt(out.size) * noise


def test_an_engine_right_on_unitaries_only_fails_the_gaussian_window(rng):
    from qsim_topo.layers import haar_unitary

    cheat = _UnitaryOnly()
    u, v = haar_unitary(64, seed=1), haar_unitary(64, seed=2)
    lower, upper = accuracy_window("bf16", cheat, u, v)
    assert lower <= rms_relative_error(cheat, u, v, calls=1) <= upper  # unitaries: passes
    report = qsim_topo.run_layer_stack(5, 3, engine=cheat, seed=0, samples=50, haar_states=4)
    assert report.state_fidelity > 0.9999  # and the quantum report sees a good bf16 engine
    a, b = _operands(rng, (48, 64), (64, 40))
    lower, upper = accuracy_window("bf16", cheat, a, b)
    assert rms_relative_error(cheat, a, b, calls=1) > upper  # Gaussian: caught


def test_an_approximate_plugin_must_declare_a_family_with_a_window(rng):
    class Anonymous(EngineBase):
        name = "test-anonymous"
        family = "mystery"

        def matmul(self, a, b, /):
            return a @ b

    a, b = _operands(rng, (4, 6), (6, 3))
    with pytest.raises(pytest.fail.Exception, match="promises no accuracy window"):
        accuracy_window("test-anonymous", Anonymous(), a, b)


# --------------------------------------------------------------------------- unbiasedness


def _bias_statistic(estimates: np.ndarray, truth: np.ndarray) -> float:
    """N ||mean - truth||^2 / mean ||est - truth||^2: about 1 when unbiased.

    For independent estimates, E||mean - truth||^2 = MSE / N + ||bias||^2, while the
    denominator estimates MSE = variance + ||bias||^2; so a bias b inflates the statistic to
    about 1 + N ||b||^2 / MSE. The spread of the statistic under no bias is about
    sqrt(2 / dof) with dof the effective number of independent error directions (>= 10 here).
    """
    n = estimates.shape[0]
    mean = estimates.mean(axis=0)
    mse = float(np.mean(np.sum(np.abs(estimates - truth) ** 2, axis=(1, 2))))
    return n * float(np.sum(np.abs(mean - truth) ** 2)) / mse


BIAS_LIMIT = 3.0  # far in the tail of the unbiased statistic (mean 1, spread <~ 0.45)


def _estimates(name, options, a, b, seeds):
    engine = get_engine(name, seed=1234, **options)
    return np.stack([engine.matmul(a, b) for _ in range(seeds)])


@pytest.mark.parametrize(("name", "options"), UNBIASED)
def test_sampling_engines_are_unbiased(name, options, rng):
    a, b = _operands(rng, (6, 24), (24, 5))
    truth = a @ b
    est = _estimates(name, options, a, b, 2000)
    stat = _bias_statistic(est, truth)
    assert stat < BIAS_LIMIT, f"{name} {options}: bias statistic {stat:.2f}"
    # The same statistic flags a 10 % scale bias (relative errors here are about 2): the
    # test can fail.
    assert _bias_statistic(1.1 * est, truth) > BIAS_LIMIT


# --------------------------------------------------------------------------- DKM error law


def _mean_and_se(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def _squared_errors(engine, a, b, calls):
    truth = a @ b
    return np.array([np.sum(np.abs(engine.matmul(a, b) - truth) ** 2) for _ in range(calls)])


def _expected_mse(name: str, a, b, c: int, importance: bool = True) -> float:
    """Exact E||AB - estimate||_F^2 for c samples / sketch size c (complex A, B, real S).

    cr-sampling (DKM 2006, with replacement): (sum_i |A_i|^2 |B_i|^2 / p_i - ||AB||^2) / c.
    sketch-gaussian: (||A||^2 ||B||^2 + ||A conj(B)||^2) / c.
    countsketch: (||A||^2 ||B||^2 + ||A conj(B)||^2 - 2 sum_i |A_i|^2 |B_i|^2) / c.
    (|A_i| the i-th column norm of A, |B_i| the i-th row norm of B.)
    """
    na2 = np.sum(np.abs(a) ** 2, axis=0)
    nb2 = np.sum(np.abs(b) ** 2, axis=1)
    k = na2.size
    if name == "cr-sampling":
        w = np.sqrt(na2 * nb2)
        p = w / w.sum() if importance else np.full(k, 1 / k)
        return float((np.sum(na2 * nb2 / p) - np.sum(np.abs(a @ b) ** 2)) / c)
    cross = np.sum(np.abs(a @ b.conj()) ** 2)
    if name == "sketch-gaussian":
        return float((na2.sum() * nb2.sum() + cross) / c)
    assert name == "countsketch"
    return float((na2.sum() * nb2.sum() + cross - 2 * na2 @ nb2) / c)


@pytest.mark.parametrize("importance", [True, False])
def test_cr_sampling_error_matches_dkm_2006(importance, rng):
    """The empirical mean square error matches DKM's formula and, for p ∝ |A_i||B_i|, stays
    under the bound ||A||^2 ||B||^2 / c, within 4 standard errors of the mean."""
    a, b = _operands(rng, (16, 48), (48, 12))
    c = 12
    expected = _expected_mse("cr-sampling", a, b, c, importance)
    engine = get_engine("cr-sampling", ratio=c / 48, importance=importance, seed=5)
    mean, se = _mean_and_se(_squared_errors(engine, a, b, 600))
    assert abs(mean - expected) < 4 * se, (mean, expected, se)
    if importance:
        bound = np.sum(np.abs(a) ** 2) * np.sum(np.abs(b) ** 2) / c
        assert mean < bound + 4 * se


@pytest.mark.parametrize("name", ["sketch-gaussian", "countsketch"])
def test_sketch_error_matches_its_formula(name, rng):
    """Gaussian sketch and CountSketch: the exact MSE, at most 2 ||A||^2 ||B||^2 / s."""
    a, b = _operands(rng, (16, 48), (48, 12))
    s = 12
    expected = _expected_mse(name, a, b, s)
    engine = get_engine(name, ratio=s / 48, seed=6)
    mean, se = _mean_and_se(_squared_errors(engine, a, b, 600))
    assert abs(mean - expected) < 4 * se, (mean, expected, se)
    assert mean < 2 * np.sum(np.abs(a) ** 2) * np.sum(np.abs(b) ** 2) / s + 4 * se


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cr-sampling", "sketch-gaussian", "countsketch"])
def test_mean_square_error_follows_one_over_c(name, rng):
    """Across budgets c = 4..32 of k = 64 the MSE follows its 1/c formula (4 SE each)."""
    a, b = _operands(rng, (16, 64), (64, 12))
    for c in (4, 8, 16, 32):
        engine = get_engine(name, ratio=c / 64, seed=c)
        mean, se = _mean_and_se(_squared_errors(engine, a, b, 2000))
        expected = _expected_mse(name, a, b, c)
        assert abs(mean - expected) < 4 * se, (c, mean, expected, se)


def test_srht_error_within_sketch_bound(rng):
    """SRHT: E||AB - ASS^TB||^2 <= 2 ||A||^2 ||B||^2 / s; and about (1/s - 1/K) of it."""
    a, b = _operands(rng, (16, 48), (48, 12))  # padded to K = 64
    s = 12
    fafb = np.sum(np.abs(a) ** 2) * np.sum(np.abs(b) ** 2)
    engine = get_engine("sketch-srht", ratio=s / 48, seed=8)
    mean, se = _mean_and_se(_squared_errors(engine, a, b, 600))
    assert mean < 2 * fafb / s + 4 * se
    assert mean > 0.5 * (1 / s - 1 / 64) * fafb - 4 * se


# --------------------------------------------------------------------------- budget


@pytest.mark.parametrize("name", [n for n in ENGINES if "ratio" in _options(n)])
def test_error_shrinks_as_ratio_grows(name, rng):
    a, b = _operands(rng, (32, 64), (64, 24))
    truth = a @ b
    means = []
    for ratio in (0.125, 0.375, 0.875):
        engine = _seeded(name, 9, ratio=ratio)
        means.append(np.mean([_rel(engine.matmul(a, b), truth) for _ in range(12)]))
    assert means[0] > means[1] > means[2], means


# --------------------------------------------------------------------------- NaN guard


class _NaNEngine(EngineBase):
    """Test engine: the exact product with one entry replaced by NaN."""

    name = "test-nan"
    family = "test"

    def matmul(self, a, b, /):
        out = a @ b
        out[0, 0] = np.nan
        return out


def test_nan_from_an_engine_is_reported_by_name(rng):
    a, b = _operands(rng, (4, 4), (4, 4))
    with pytest.raises(NonFiniteResultError, match="test-nan"):
        CheckedEngine(_NaNEngine()).matmul(a, b)


@pytest.mark.parametrize("name", ENGINES)
def test_nan_input_is_never_silently_dropped(name, rng):
    """A NaN in an operand reaches the output, where the guard reports it."""
    a, b = _operands(rng, (8, 16), (16, 6))
    a[:, :] = np.nan  # every entry: whatever the engine samples, it sees NaN
    with pytest.raises(NonFiniteResultError, match="already held NaN"):
        CheckedEngine(_seeded(name, 4)).matmul(a, b)


# --------------------------------------------------------------------------- in the simulator


@pytest.mark.parametrize("name", ENGINES)
def test_every_engine_drives_the_layer_stack(name):
    """Each engine plugs into the simulator path (through its contract guard) end to end."""
    options = {"seed": 0} if "seed" in _options(name) else {}
    report = qsim_topo.run_layer_stack(
        3, 2, engine=name, engine_options=options, samples=50, haar_states=2
    )
    assert report.engine == name and report.matmul_calls == 2
    assert 0.0 <= report.state_fidelity <= 1.0 + 1e-9
    if describe_engine(name).exact:
        assert report.state_fidelity == pytest.approx(1.0, abs=1e-12)
