from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import get_engine
from qsim_topo.engines.pq import PQEngine, kmeans
from qsim_topo.errors import EngineOptionError
from qsim_topo.xp import get_xp, to_numpy
from tests.conftest import devices


@pytest.mark.parametrize("device", devices())
def test_kmeans_finds_separated_clusters(device):
    xp = get_xp(device)
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = rng.integers(0, 3, 300)
    points = centres[labels] + 0.1 * rng.standard_normal((300, 2))
    x = xp.asarray(points[None, :, :])  # one subspace
    found = to_numpy(kmeans(xp, x, 3, 10, np.random.default_rng(1)))[0]
    order = np.argsort(found[:, 0] + 2 * found[:, 1])
    np.testing.assert_allclose(found[order], centres, atol=0.05)


def test_exact_when_rows_take_few_values(rng):
    """A with only K distinct rows is encoded without loss: PQ is then exact."""
    protos = rng.standard_normal((4, 24))
    a = protos[rng.integers(0, 4, 50)]
    a[:4] = protos  # every prototype present
    b = rng.standard_normal((24, 7))
    out = get_engine("pq", codebooks=6, centroids=4, iterations=10, seed=0).matmul(a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-10, atol=1e-10)


def test_more_centroids_means_less_error(rng):
    a = rng.standard_normal((64, 32))
    b = rng.standard_normal((32, 16))
    truth = a @ b

    def err(centroids):
        e = get_engine("pq", codebooks=8, centroids=centroids, seed=1)
        return np.mean([np.linalg.norm(e.matmul(a, b) - truth) for _ in range(5)])

    assert err(4) > err(16) > err(64)
    assert err(64) < 1e-10 * np.linalg.norm(truth)  # K = m: every row is its own centroid


def test_complex_through_the_adapter(rng):
    a = rng.standard_normal((40, 16)) + 1j * rng.standard_normal((40, 16))
    b = rng.standard_normal((16, 6)) + 1j * rng.standard_normal((16, 6))
    for mode in ("4m", "3m"):
        out = get_engine("pq", centroids=40, complex_mode=mode, seed=0).matmul(a, b)
        assert out.dtype == np.complex128
        np.testing.assert_allclose(out, a @ b, rtol=1e-10, atol=1e-10)


def test_fresh_randomness_and_reproducible_sequence(rng):
    a = rng.standard_normal((50, 20))
    b = rng.standard_normal((20, 5))
    e1, e2 = get_engine("pq", centroids=4, seed=2), get_engine("pq", centroids=4, seed=2)
    s1 = [e1.matmul(a, b) for _ in range(3)]
    s2 = [e2.matmul(a, b) for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(s1, s2, strict=True))
    assert not np.array_equal(s1[0], s1[1])


def test_codebooks_larger_than_k(rng):
    a = rng.standard_normal((10, 3))
    b = rng.standard_normal((3, 4))
    out = get_engine("pq", codebooks=16, centroids=10, seed=0).matmul(a, b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "options",
    [{"codebooks": 0}, {"centroids": 0}, {"iterations": -1}, {"complex_mode": "x"},
     {"ratio": 0.5}],
)
def test_options_are_validated(options):
    with pytest.raises(EngineOptionError):
        get_engine("pq", **options)


def test_flops_fraction_counts_training():
    m = k = n = 1024
    base = PQEngine(codebooks=16, centroids=16, iterations=5)
    frac = base.flops_fraction(m, k, n)
    # lookups m n C and tables 2 K k n are small; the Lloyd iterations dominate
    lookups = (m * n * 16 + 2 * 16 * k * n) / (2 * m * k * n)
    assert frac > lookups
    assert PQEngine(iterations=20).flops_fraction(m, k, n) > frac
    assert PQEngine(iterations=0).flops_fraction(m, k, n) < frac
    assert PQEngine(complex_mode="3m").flops_fraction(m, k, n) < frac
