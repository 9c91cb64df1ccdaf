"""Chunked measurement statistics against whole-array numpy references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from qsim_topo.errors import QsimTopoError
from qsim_topo.sim import measure
from qsim_topo.sim.measure import marginal_probabilities, qubit_weights, sample_outcomes


@pytest.fixture(params=[4, 2**18])
def chunk(request, monkeypatch):
    """Tiny chunks exercise the chunk arithmetic; the default covers the one-chunk case."""
    monkeypatch.setattr(measure, "CHUNK_AMPLITUDES", request.param)
    return request.param


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    """The compiled kernels (where numba loads) and the numpy code they replace."""
    if request.param == "numpy":
        monkeypatch.setattr(measure, "_numba", lambda: None)
    elif measure._numba() is None:
        pytest.skip("numba cannot load here")
    return request.param


def _state(rng, n):
    psi = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
    return psi / np.linalg.norm(psi)


def _reference_marginal(psi, qubits, n):
    p = (np.abs(psi) ** 2).reshape((2,) * n)
    drop = tuple(n - 1 - q for q in range(n) if q not in qubits)
    return np.sum(p, axis=drop).ravel() if drop else p.ravel()


def test_marginals_match_reference(rng, chunk, path):
    n = 7
    psi = _state(rng, n)
    for qubits in [[0], [6], [1, 4], [0, 2, 3, 6], list(range(7)), [5, 6]]:
        np.testing.assert_allclose(
            marginal_probabilities(psi, qubits, n), _reference_marginal(psi, qubits, n), atol=1e-14
        )


def test_qubit_weights_match_reference(rng, chunk, path):
    n = 6
    psi = _state(rng, n) * 1.5  # unnormalised: weights are raw squared norms
    for q in range(n):
        p = _reference_marginal(psi, [q], n)
        np.testing.assert_allclose(qubit_weights(psi, q, n), p, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("qubits", [list(range(6)), [1, 3, 4]])
def test_samples_follow_the_distribution(rng, chunk, qubits, dtype, path):
    n = 6
    psi = _state(rng, n).astype(dtype)
    p = _reference_marginal(psi, qubits, n)
    draws = sample_outcomes(psi, qubits, n, 200_000, np.random.default_rng(5))
    counts = np.bincount(draws, minlength=p.size)
    assert counts.size == p.size
    chi2 = stats.chisquare(counts, p * counts.sum())
    assert chi2.pvalue > 1e-4


def test_sampling_is_seeded(rng, chunk, path):
    psi = _state(rng, 5)
    a = sample_outcomes(psi, list(range(5)), 5, 100, np.random.default_rng(3))
    b = sample_outcomes(psi, list(range(5)), 5, 100, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_sampling_never_returns_zero_amplitudes(chunk, path):
    n = 5
    for index in (0, 7, 31):
        psi = np.zeros(2**n, dtype=complex)
        psi[index] = 1j
        draws = sample_outcomes(psi, list(range(n)), n, 1000, np.random.default_rng(0))
        assert set(draws.tolist()) == {index}


def test_zero_and_nan_states_refused(chunk, path):
    with pytest.raises(QsimTopoError, match="squared norm"):
        sample_outcomes(np.zeros(8, dtype=complex), [0, 1, 2], 3, 10, np.random.default_rng(0))
    bad = np.full(8, np.nan, dtype=complex)
    with pytest.raises(QsimTopoError, match="squared norm"):
        marginal_probabilities(bad, [0], 3)


def test_one_chunk_draws_are_the_inverse_cdf(rng, monkeypatch):
    """The numpy code, a state within one chunk: each draw is the first index whose cumulative
    weight passes u * total (a zero-weight tail is never drawn), u the generator's uniforms."""
    monkeypatch.setattr(measure, "_numba", lambda: None)
    n = 6
    psi = _state(rng, n)
    psi[-5:] = 0
    weights = np.abs(psi) ** 2
    u = np.random.default_rng(11).random(5000)
    want = np.minimum(
        np.searchsorted(np.cumsum(weights), u * weights.sum(), side="right"), 2**n - 6
    )
    got = sample_outcomes(psi, list(range(n)), n, 5000, np.random.default_rng(11))
    np.testing.assert_array_equal(got, want)


def _compiled():
    kernels = measure._numba()
    if kernels is None:
        pytest.skip("numba cannot load here")
    return kernels


def _block_weights(kernels, x):
    """The walk's own weight of each of its blocks of ``x`` (the state's floats), read back
    through it: one chunk per block, no points, so each chunk's total is its one block's sum
    (the kernel's vectorised sum, whose order Python cannot reproduce)."""
    block = kernels.BLOCK
    blocks = -(-(x.size // 2) // block)
    totals = np.empty(blocks)
    none = np.zeros(blocks, dtype=np.int64)
    kernels.poisson_walk(
        x, block, np.ones(blocks, dtype=bool), np.arange(blocks, dtype=np.int64) * block,
        np.zeros(blocks), np.zeros(blocks), np.empty(0), 1.0, none, none,
        np.zeros(blocks, dtype=bool), np.empty(0, dtype=np.int64), none.copy(), totals,
        np.empty(blocks, dtype=np.int64), np.empty(blocks), np.empty(blocks),
    )
    return totals.tolist()


def _reference_points(f, block_weights, spacings, scale):
    """Where a chunk's points go (``f``: its floats, re and im of each amplitude;
    ``block_weights``: the kernel's sums of its blocks): running weights summed as the kernel
    sums them (block weights in order, amplitudes in order inside a block), each point at the
    first amplitude whose running weight exceeds it; points past the chunk's weight dropped."""
    block = measure._numba().BLOCK
    w = [f[2 * i] * f[2 * i] + f[2 * i + 1] * f[2 * i + 1] for i in range(len(f) // 2)]
    out, pos, j, acc = [], 0.0, 0, 0.0
    nxt = scale * spacings[0]
    for b in range(0, len(w), block):
        ws = w[b : b + block]
        bw = block_weights[b // block]
        run, inner = [], acc
        for v in ws:
            inner += v
            run.append(inner)
        while nxt < acc + bw:
            k = sum(r <= nxt for r in run)
            if k == len(ws):  # rounding: the block's last nonzero amplitude
                k = max(i for i, v in enumerate(ws) if v > 0)
            out.append(b + k)
            pos = nxt
            j += 1
            nxt = pos + scale * spacings[j]
        acc += bw
    return out, acc


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("budget", [None, 3])
def test_poisson_walk_points_are_the_inverse_cdf(rng, dtype, budget):
    """The compiled walk against a Python reference of the same sums, over 8 chunks (one of
    zero weight, one with a zero tail); with a budget of 3 spacings per call, the walk stops
    and goes on from where it stopped, and must find the same points as in one call."""
    kernels = _compiled()
    n, chunk, chunks = 10, 128, 8
    psi = _state(rng, n).astype(dtype)
    psi[2 * chunk : 3 * chunk] = 0
    psi[6 * chunk - 37 : 6 * chunk] = 0
    psi[-3:] = 0
    x = psi.view(np.float32 if dtype == np.complex64 else np.float64)
    f = x.astype(np.float64).tolist()
    bws = _block_weights(kernels, x)
    per = chunk // kernels.BLOCK
    # The block sums are sums of the squares: to rounding, whatever their order.
    np.testing.assert_allclose(
        bws, (np.abs(psi.astype(np.complex128)) ** 2).reshape(-1, kernels.BLOCK).sum(axis=1),
        rtol=1e-13,
    )
    scale = 1.0 / 30.0  # about 30 points per unit weight: ~4 per chunk
    streams = [rng.standard_exponential(200) for _ in range(chunks)]
    want, want_totals = [], []
    for c in range(chunks):
        pts, total = _reference_points(
            f[2 * c * chunk : 2 * (c + 1) * chunk], bws[c * per : (c + 1) * per], streams[c],
            scale,
        )
        want.append([c * chunk + i for i in pts])
        want_totals.append(total)
    got: list[list[int]] = [[] for _ in range(chunks)]
    active = np.ones(chunks, dtype=bool)
    first = np.arange(chunks, dtype=np.int64) * chunk
    acc0 = np.zeros(chunks)
    pos0 = np.zeros(chunks)
    taken = np.zeros(chunks, dtype=np.int64)
    known = np.zeros(chunks, dtype=bool)
    totals = np.empty(chunks)
    used = np.zeros(chunks, dtype=np.int64)
    stop = (np.empty(chunks, dtype=np.int64), np.empty(chunks), np.empty(chunks))
    for _ in range(100):
        size = np.where(active, 200 if budget is None else budget, 0)
        hi = np.cumsum(size)
        lo = hi - size
        spacings = np.concatenate(
            [streams[c][taken[c] : taken[c] + size[c]] for c in range(chunks)]
        )
        out = np.empty(spacings.size, dtype=np.int64)
        kernels.poisson_walk(
            x, chunk, active, first, acc0, pos0, spacings, scale, lo, hi, known, out, used,
            totals, *stop,
        )
        for c in np.flatnonzero(active):
            got[c] += out[lo[c] : lo[c] + used[c]].tolist()
        taken += size
        known[:] = True
        active = stop[0] >= 0
        if not active.any():
            break
        first, acc0, pos0 = stop[0].copy(), stop[1].copy(), stop[2].copy()
    assert not active.any()
    assert got == want
    np.testing.assert_array_equal(totals, want_totals)
    assert sum(len(p) for p in got) > 20 and not got[2]


def test_one_pass_sampling_paths_follow_the_distribution(monkeypatch):
    """The compiled sampler's other paths: norms off by more than the tolerance (the points
    drawn again), one within it (kept), budgets far too small (every chunk goes on from
    where it stopped), too few points (more rounds), a state whose weight sits where the
    budget guess reads nothing."""
    _compiled()
    n = 12
    gen = np.random.default_rng(21)
    base = _state(gen, n)
    base[-(2**n) // 4 :] = 0  # the last amplitudes are zero
    sparse = np.zeros(2**n, dtype=complex)
    sparse[[1, 2**10 + 3, 2**10 + 5, 3001]] = [0.5, 0.5j, -0.5, 0.5]  # 2^10-amplitude chunks
    real_round = measure._poisson_round
    thin = np.random.default_rng(0)

    def half_round(*args):
        """Keep each point of a round with probability 1/2 (whatever its value): still
        independent draws, but too few of them, so the sampler adds rounds."""
        points = real_round(*args)
        return None if points is None else points[thin.random(points.size) < 0.5]

    tiny = ("_budgets", lambda mean: np.full(mean.shape, 2, dtype=np.int64))
    cases = [
        (base * 1.5, None),  # dropped after the pass, drawn again
        (base * 1e3, None),  # dropped before any chunk goes on with its points
        (base * 0.5, None),
        (base * (1 + 2e-4), None),  # kept
        (base, tiny),
        (base, ("_poisson_round", half_round)),
        (sparse, None),
    ]
    for psi, patch in cases:
        with monkeypatch.context() as m:
            if patch is not None:
                m.setattr(measure, *patch)
            draws = sample_outcomes(psi, list(range(n)), n, 20_000, np.random.default_rng(3))
        p = np.abs(psi) ** 2
        p /= p.sum()
        assert draws.size == 20_000 and p[draws].min() > 0
        counts = np.bincount(draws >> 6, minlength=64)
        expected = p.reshape(64, -1).sum(axis=1) * draws.size
        keep = expected > 0
        assert counts[~keep].sum() == 0
        assert stats.chisquare(counts[keep], expected[keep]).pvalue > 1e-4


def test_sampling_is_independent_of_the_thread_count():
    """The same seed gives the same draws on 1 and 2 threads (the chunks, not the threads,
    split the work)."""
    _compiled()
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread here")
    n = 14
    psi = _state(np.random.default_rng(6), n).astype(np.complex64)
    before = numba.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            numba.set_num_threads(threads)
            got.append(sample_outcomes(psi, list(range(n)), n, 10_000, np.random.default_rng(1)))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(got[0], got[1])


@pytest.mark.parametrize("count", [0, 1, 7])
@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_few_shots(count, scale, path):
    psi = _state(np.random.default_rng(2), 8) * scale
    draws = sample_outcomes(psi, list(range(8)), 8, count, np.random.default_rng(0))
    assert draws.shape == (count,) and draws.dtype == np.int64
    assert ((draws >= 0) & (draws < 2**8)).all()


def test_sorted_uniforms_are_uniform_order_statistics():
    u, shots = measure.sorted_uniforms(np.random.default_rng(2), 100_000)
    assert np.all(np.diff(u) >= 0) and 0 <= u[0] and u[-1] < 1
    np.testing.assert_array_equal(np.sort(shots), np.arange(100_000))
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # Shot order is random: the uniforms the shots receive are uncorrelated with the shot index.
    per_shot = np.empty_like(u)
    per_shot[shots] = u
    assert abs(np.corrcoef(per_shot, np.arange(u.size))[0, 1]) < 0.02


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_many_shots_of_a_large_state_follow_the_distribution(dtype, path):
    """Many chunks (2^14 amplitudes, 64 chunks of the compiled walk) and 10^5 shots."""
    n = 14
    gen = np.random.default_rng(8)
    psi = _state(gen, n).astype(dtype)
    psi[: 2**n // 3] = 0  # a third of the chunks carry no weight
    p = np.abs(psi.astype(np.complex128)) ** 2
    p /= p.sum()
    draws = sample_outcomes(psi, list(range(n)), n, 100_000, np.random.default_rng(9))
    assert p[draws].min() > 0
    # Chi-square over 64 groups of consecutive outcomes (enough expected counts per cell).
    counts = np.bincount(draws >> 8, minlength=64)
    expected = p.reshape(64, -1).sum(axis=1) * draws.size
    keep = expected > 0
    assert counts[~keep].sum() == 0
    assert stats.chisquare(counts[keep], expected[keep]).pvalue > 1e-4


def test_subset_marginal_builds_no_state_sized_temporary(path):
    """Measuring 8 of 20 qubits: the extra memory is far below the 16 MiB state."""
    import tracemalloc

    n = 20
    psi = _state(np.random.default_rng(4), n)
    qubits = [0, 3, 5, 9, 12, 15, 17, 19]
    want = _reference_marginal(psi, qubits, n)
    tracemalloc.start()
    try:
        got = marginal_probabilities(psi, qubits, n)
        draws = sample_outcomes(psi, qubits, n, 1000, np.random.default_rng(0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(got, want, atol=1e-14)
    assert draws.min() >= 0 and draws.max() < 2**8
    # numpy: float64 chunk temporaries of 2^18 amplitudes (4 MiB); a full |psi|^2 is 8 MiB.
    budget = psi.nbytes // 2 if path == "numpy" else psi.nbytes // 32
    assert peak < budget, f"peak {peak} bytes for a {psi.nbytes}-byte state"


def test_a_state_of_tiny_norm_is_still_sampled_exactly():
    """A squared norm of ~1e-315 overflows the one-pass sampler's rate: the chunked draws take
    over (the review's reproducer raised deep in numpy). Uniform state: every outcome, none
    outside, roughly equal counts."""
    state = np.full(8, 1e-158, dtype=np.complex128).reshape(2, 2, 2)
    draws = sample_outcomes(state, [0, 1, 2], 3, 8000, np.random.default_rng(0))
    counts = np.bincount(draws, minlength=8)
    assert draws.size == 8000 and counts.size == 8
    assert counts.min() > 800 and counts.max() < 1200


def _shuffled(kernels, pool, key):
    out = np.empty_like(pool)
    kernels.shuffle(pool, np.asarray(key, dtype=np.uint64), out)
    return out


def test_shuffle_is_a_uniform_permutation():
    """The compiled scatter shuffle: a permutation of its input, fixed by its key; over many
    keys each of the 24 orders of 4 elements equally often, and in a longer pool (several
    elements per bucket, so the in-bucket Fisher-Yates matters) one element's position and
    the order of two neighbours uniform."""
    kernels = _compiled()
    gen = np.random.default_rng(5)
    pool = np.arange(4, dtype=np.int64) * 10
    seen = {}
    for _ in range(12_000):
        got = _shuffled(kernels, pool, gen.integers(0, 2**64, size=2, dtype=np.uint64))
        seen[tuple(got.tolist())] = seen.get(tuple(got.tolist()), 0) + 1
    assert sorted(seen) == sorted(itertools.permutations(pool.tolist()))
    assert stats.chisquare(list(seen.values())).pvalue > 1e-4
    pool = np.arange(1000, dtype=np.int64)
    where = np.zeros(100, dtype=np.int64)
    before = rises = 0
    keys = gen.integers(0, 2**64, size=(4000, 2), dtype=np.uint64)
    for key in keys:
        got = _shuffled(kernels, pool, key)
        np.testing.assert_array_equal(np.sort(got), pool)
        pos = np.argsort(got)
        where[pos[500] // 10] += 1
        before += pos[500] < pos[501]
        rises += np.count_nonzero(np.diff(got) > 0)
    assert stats.chisquare(where).pvalue > 1e-4
    assert abs(before - 2000) < 4 * np.sqrt(1000)
    # Ascents of a uniform permutation of 1000: mean 999 / 2, variance 1001 / 12 each (a
    # bucket left in pool order would add ~15 a permutation).
    assert abs(rises - 4000 * 999 / 2) < 5 * np.sqrt(4000 * 1001 / 12)
    np.testing.assert_array_equal(
        _shuffled(kernels, pool, keys[0]), _shuffled(kernels, pool, keys[0])
    )
    for n in (0, 1, 63, 65):  # empty, tiny and uneven segments
        small = np.arange(n, dtype=np.int64)
        np.testing.assert_array_equal(np.sort(_shuffled(kernels, small, keys[1])), small)


def test_shuffle_is_independent_of_the_thread_count():
    kernels = _compiled()
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread here")
    pool = np.random.default_rng(3).integers(0, 2**40, size=100_003)
    before = numba.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            numba.set_num_threads(threads)
            got.append(_shuffled(kernels, pool, [123, 456]))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(got[0], got[1])
    assert not np.array_equal(got[0], pool)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_states_smaller_than_a_block_follow_the_distribution(n, path):
    """States of fewer amplitudes than one block of the walk (and 32, two blocks): the last,
    short block is summed and searched like a full one."""
    psi = _state(np.random.default_rng(n), n)
    psi[0] = 0  # a zero amplitude first: never drawn
    p = np.abs(psi) ** 2
    p /= p.sum()
    draws = sample_outcomes(psi, list(range(n)), n, 50_000, np.random.default_rng(7))
    counts = np.bincount(draws, minlength=2**n)
    assert counts.size == 2**n and counts[0] == 0
    assert stats.chisquare(counts[1:], p[1:] * draws.size).pvalue > 1e-4
