"""Honest metrics: pure functions of arrays (numpy or cupy) returning Python floats.

Conventions: ``ref`` is the exact result, computed by the exact engine, never by the engine
under test; ``approx`` is the engine's. States are (d,) vectors, operators (d, d) matrices.
Probabilities are 1-D float arrays summing to one. Nothing here calls a matmul engine: these are
measurements, made exactly (numpy/cupy matmul in the arrays' dtype).

Why several metrics: a pure global scale error c*U gives state fidelity 1 with a Frobenius
error |c - 1| (so "fidelity 1.000000 while the matrix is 110% wrong" is a scale error); an
operator exact on column 0 only keeps |0...0> exact at any depth (``haar_input_fidelity``
exposes it); a linear XEB near 1 does not mean fidelity near 1 (compare with
``ideal_xeb_band``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from qsim_topo.xp import SeedLike, array_namespace, as_generator, random_normal, to_numpy

__all__ = [
    "HaarProbes",
    "StateComparison",
    "aligned_frobenius_error",
    "average_fidelity_from_process",
    "column_fidelities",
    "compare_states",
    "expected_haar_overlap",
    "frobenius_error",
    "haar_input_fidelity",
    "haar_probes",
    "ideal_xeb_band",
    "linear_xeb",
    "linear_xeb_from_probs",
    "linear_xeb_of_probs",
    "log_xeb",
    "log_xeb_of_probs",
    "norm",
    "overlap",
    "probabilities",
    "process_fidelity",
    "sample_bitstrings",
    "state_fidelity",
    "total_variation_distance",
]

_EULER_GAMMA = 0.5772156649015329


def _same_shape(a: Any, b: Any) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"cannot compare arrays of shapes {tuple(a.shape)} and {tuple(b.shape)}")


def _vdot(a: Any, b: Any) -> complex:
    """<a|b> = sum(conj(a) * b) over all entries (a Frobenius inner product for matrices)."""
    _same_shape(a, b)
    xp = array_namespace(a, b)
    return complex(xp.vdot(a.ravel(), b.ravel()))


def norm(x: Any) -> float:
    """The 2-norm of a state, or the Frobenius norm of a matrix."""
    xp = array_namespace(x)
    return float(xp.linalg.norm(x.ravel()))


def overlap(ref: Any, approx: Any) -> float:
    """The raw squared overlap |<ref|approx>|^2, not normalised.

    With a normalised ``ref`` this is ``state_fidelity * norm(approx)**2``: an engine that
    shrinks or inflates the state shows it here while the fidelity stays blind to it.
    """
    return abs(_vdot(ref, approx)) ** 2


def state_fidelity(ref: Any, approx: Any) -> float:
    """|<ref|approx>|^2 / (||ref||^2 ||approx||^2), in [0, 1]; 0.0 if either state is zero."""
    nr, na = norm(ref), norm(approx)
    if nr == 0.0 or na == 0.0:
        return 0.0
    return min(overlap(ref, approx) / (nr * nr * na * na), 1.0)


def frobenius_error(ref: Any, approx: Any) -> float:
    """||approx - ref||_F / ||ref||_F (raw: a global scale or phase counts as error).

    Raises:
        ValueError: shapes differ, or the reference is zero (the relative error is undefined).
    """
    _same_shape(ref, approx)
    nr = norm(ref)
    if nr == 0.0:
        raise ValueError("the reference is zero: a relative error is undefined")
    return norm(approx - ref) / nr


def aligned_frobenius_error(ref: Any, approx: Any) -> float:
    """Min over complex c of ||c approx - ref||_F / ||ref||_F.

    The optimal c is <approx, ref> / ||approx||^2. The residual is computed directly (not as
    sqrt(1 - F)) so small errors keep their digits. Equals 1.0 when ``approx`` is zero.
    """
    _same_shape(ref, approx)
    if norm(ref) == 0.0:
        raise ValueError("the reference is zero: a relative error is undefined")
    na2 = norm(approx) ** 2
    if na2 == 0.0:
        return 1.0
    c = _vdot(approx, ref) / na2
    return norm(c * approx - ref) / norm(ref)


def process_fidelity(ref: Any, approx: Any) -> float:
    """|tr(ref^dagger approx)|^2 / (||ref||_F^2 ||approx||_F^2), in [0, 1].

    For unitaries of dimension d this is the usual |tr(U^dagger V)|^2 / d^2.
    """
    return state_fidelity(ref, approx)  # the same normalised Frobenius inner product


@dataclass(frozen=True)
class HaarProbes:
    """Per-probe measurements of an operator pair on Haar-random unit input states psi.

    Attributes:
        fidelities: (n,) float64: |<U psi|A psi>|^2 / (||U psi||^2 ||A psi||^2) per probe.
        overlaps: (n,) float64: the unnormalised X = |<U psi|A psi>|^2.
        out_norms: (n,) float64: Y = ||A psi||^2.
    """

    fidelities: np.ndarray
    overlaps: np.ndarray
    out_norms: np.ndarray

    @property
    def n(self) -> int:
        """The number of probes."""
        return int(self.fidelities.size)

    @property
    def fidelity(self) -> float:
        """The mean fidelity over the probes (the Haar-input fidelity estimate)."""
        return float(np.mean(self.fidelities))

    @property
    def fidelity_se(self) -> float:
        """Standard error of :attr:`fidelity`: sample std / sqrt(n) (nan for one probe)."""
        return _se(self.fidelities)

    def excess(self, expected_fidelity: float) -> tuple[float, float]:
        """How much better the probes fare than ``expected_fidelity`` implies, and its SE.

        With F_e = (d F_pro + 1)/(d + 1) (:func:`average_fidelity_from_process`), the
        per-probe W = X - F_e Y has Haar mean exactly 0 for any operator A and unitary U
        (E[X] and E[Y] are known in closed form, :func:`expected_haar_overlap`), unlike the
        mean fidelity, a mean of ratios. Returns (mean W / mean Y, SE of W / mean Y), in
        fidelity units: an honest engine's excess lies within a few SE of 0; an engine that
        knew the probes shows a large positive excess.
        """
        scale = float(np.mean(self.out_norms))
        if not (math.isfinite(scale) and scale > 0):
            return math.nan, math.nan
        w = self.overlaps - expected_fidelity * self.out_norms
        return float(np.mean(w)) / scale, _se(w) / scale


def _se(values: np.ndarray) -> float:
    if values.size < 2 or not np.all(np.isfinite(values)):
        return math.nan
    return float(np.std(values, ddof=1) / math.sqrt(values.size))


def haar_probes(
    ref_u: Any, approx_u: Any, *, n_states: int = 16, seed: SeedLike = None
) -> HaarProbes:
    """Fidelity and unnormalised overlap of ``approx_u`` against ``ref_u`` on random inputs.

    ``n_states`` Haar-random unit states psi (normalised complex Gaussians) are drawn from
    ``seed`` on the operators' device; the products are exact (``xp.matmul``), never the
    engine's. A probe whose approximate output is zero has fidelity 0; NaN/Inf in an operator
    gives NaN fidelities (no fidelity, not a fidelity of 0).

    Raises:
        ValueError: ``n_states`` < 1 or the shapes differ.
    """
    if n_states < 1:
        raise ValueError(f"n_states must be >= 1, got {n_states}")
    _same_shape(ref_u, approx_u)
    xp = array_namespace(ref_u, approx_u)
    rng = as_generator(seed)
    d = ref_u.shape[1]
    psi = random_normal(xp, rng, (d, n_states)) + 1j * random_normal(xp, rng, (d, n_states))
    psi = psi / xp.linalg.norm(psi, axis=0, keepdims=True)
    psi = psi.astype(xp.result_type(ref_u, approx_u, np.complex64), copy=False)
    out_ref = xp.matmul(ref_u, psi)
    out_apx = xp.matmul(approx_u, psi)
    num = xp.abs(xp.sum(out_ref.conj() * out_apx, axis=0)) ** 2
    den = xp.sum(xp.abs(out_ref) ** 2, axis=0) * xp.sum(xp.abs(out_apx) ** 2, axis=0)
    overlaps = np.asarray(to_numpy(num), dtype=np.float64)
    out_norms = np.asarray(to_numpy(xp.sum(xp.abs(out_apx) ** 2, axis=0)), dtype=np.float64)
    if not bool(xp.isfinite(num).all()) or not bool(xp.isfinite(den).all()):
        nan = np.full(n_states, np.nan)
        return HaarProbes(nan, nan, nan)
    safe = xp.where(den > 0, den, 1.0)
    fid = xp.minimum(xp.where(den > 0, num / safe, 0.0), 1.0)
    return HaarProbes(np.asarray(to_numpy(fid), dtype=np.float64), overlaps, out_norms)


def haar_input_fidelity(
    ref_u: Any, approx_u: Any, *, n_states: int = 16, seed: SeedLike = None
) -> float:
    """Mean state fidelity of ``approx_u |psi>`` against ``ref_u |psi>`` over Haar-random |psi>.

    The |0...0> input alone reads only column 0 of the operator and can hide every other
    error; random inputs cannot be dodged unless the engine can predict them (the experiments
    draw them from a stream keyed by a digest of the engine's output). Same draws and products
    as :func:`haar_probes`, whose :attr:`HaarProbes.fidelity_se` gives the standard error.
    """
    return haar_probes(ref_u, approx_u, n_states=n_states, seed=seed).fidelity


def expected_haar_overlap(ref_u: Any, approx_u: Any) -> float:
    """The exact Haar mean of |<U psi|A psi>|^2 over unit psi, for a unitary ``ref_u`` U.

    With M = U^dagger A: E|<psi|M|psi>|^2 = (|tr M|^2 + ||M||_F^2) / (d (d + 1)), and
    ||M||_F = ||A||_F for unitary U. Exact for any A (not only near-unitary ones), so the
    probes' mean overlap (:attr:`HaarProbes.overlap`) can be tested against it within its
    standard error. For A = c U this is |c|^2 (and the mean fidelity is 1).
    """
    _same_shape(ref_u, approx_u)
    d = ref_u.shape[0]
    trace = _vdot(ref_u, approx_u)
    return (abs(trace) ** 2 + norm(approx_u) ** 2) / (d * (d + 1))


def average_fidelity_from_process(process_fid: float, dim: int) -> float:
    """(d F_pro + 1) / (d + 1): the Haar-average fidelity a process fidelity implies.

    For a non-unitary product it is exactly the ratio of the Haar means of the overlap
    |<U psi|A psi>|^2 and of the output norm ||A psi||^2 (see :func:`expected_haar_overlap`
    and :meth:`HaarProbes.excess`), and close to the mean fidelity when ||A psi|| varies
    little over inputs.
    """
    return (dim * process_fid + 1.0) / (dim + 1.0)


def column_fidelities(ref: Any, approx: Any) -> np.ndarray:
    """The state fidelity of every column j: the operators applied to basis input |j>.

    Returns a (d,) float64 numpy array; a zero column of either operator has fidelity 0, a
    non-finite one NaN. Column 0 is the |0...0> input.
    """
    _same_shape(ref, approx)
    xp = array_namespace(ref, approx)
    num = xp.abs(xp.sum(ref.conj() * approx, axis=0)) ** 2
    den = xp.sum(xp.abs(ref) ** 2, axis=0) * xp.sum(xp.abs(approx) ** 2, axis=0)
    num = np.asarray(to_numpy(num), dtype=np.float64)
    den = np.asarray(to_numpy(den), dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fid = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    fid[~(np.isfinite(num) & np.isfinite(den))] = np.nan
    return np.minimum(fid, 1.0)


def probabilities(state: Any) -> np.ndarray:
    """|state|^2 normalised to sum 1, as a float64 numpy array.

    Raises:
        ValueError: the state is zero or not finite.

    """
    p = np.abs(to_numpy(state).astype(np.complex128, copy=False)) ** 2
    total = float(p.sum())
    if not np.isfinite(total) or total <= 0.0:
        raise ValueError(f"cannot take probabilities of a state with squared norm {total}")
    return p / total


def sample_bitstrings(state: Any, shots: int, *, seed: SeedLike = None) -> np.ndarray:
    """Draw ``shots`` basis indices (int64) from |state|^2 (normalised first), seeded."""
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    p = probabilities(state)
    return as_generator(seed).choice(p.size, size=int(shots), p=p).astype(np.int64)


def linear_xeb(samples: Any, ideal_probs: Any) -> float:
    """Linear cross-entropy benchmark 2^n * mean(p_ideal(x)) - 1 over the samples x.

    ``ideal_probs`` has length 2^n and comes from the exact state.
    """
    p = np.asarray(to_numpy(ideal_probs), dtype=np.float64)
    s = _checked_samples(samples, p.size)
    return float(p.size * p[s].mean() - 1.0)


def _checked_samples(samples: Any, dim: int) -> np.ndarray:
    s = np.asarray(samples, dtype=np.int64)
    if s.size == 0:
        raise ValueError("XEB needs at least one sample")
    if s.min() < 0 or s.max() >= dim:
        raise ValueError(f"samples must be basis indices in 0..{dim - 1}")
    return s


def linear_xeb_from_probs(approx_probs: Any, ideal_probs: Any) -> float:
    """The infinite-sample linear XEB: 2^n * sum(p_approx * p_ideal) - 1."""
    pa = np.asarray(to_numpy(approx_probs), dtype=np.float64)
    pi = np.asarray(to_numpy(ideal_probs), dtype=np.float64)
    return float(pi.size * np.dot(pa, pi) - 1.0)


def log_xeb(samples: Any, ideal_probs: Any) -> float:
    """Logarithmic XEB: log(2^n) + gamma + mean(log p_ideal(x)) (Boixo et al. 2018).

    About 1 for an ideal sampler on a Porter-Thomas distribution and 0 for a uniform one.
    Returns ``-inf`` when a sample has ideal probability 0 (an impossible outcome was drawn).
    """
    p = np.asarray(to_numpy(ideal_probs), dtype=np.float64)
    ps = p[_checked_samples(samples, p.size)]
    if np.any(ps <= 0.0):
        return float("-inf")
    return float(np.log(p.size) + _EULER_GAMMA + np.mean(np.log(ps)))


def total_variation_distance(p: Any, q: Any) -> float:
    """0.5 * sum |p - q| of two distributions of equal length."""
    a = np.asarray(to_numpy(p), dtype=np.float64)
    b = np.asarray(to_numpy(q), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"distributions of shapes {a.shape} and {b.shape} differ")
    return float(0.5 * np.abs(a - b).sum())


def ideal_xeb_band(ideal_probs: Any, shots: int) -> tuple[float, float]:
    """Mean and standard deviation of the linear XEB an exact sampler gets with ``shots`` samples.

    Closed form: with D = 2^n and x ~ p, XEB = D * mean(p(x)) - 1 has mean D * sum(p^2) - 1
    and standard deviation D * sqrt((sum(p^3) - sum(p^2)^2) / shots).
    """
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    p = np.asarray(to_numpy(ideal_probs), dtype=np.float64)
    s2 = float(np.dot(p, p))
    s3 = float(np.dot(p * p, p))
    return p.size * s2 - 1.0, float(p.size * np.sqrt(max(s3 - s2 * s2, 0.0) / shots))


#: Amplitudes per chunk of :func:`compare_states` (a few MiB of float64 temporaries).
COMPARE_CHUNK = 2**18


@dataclass(frozen=True)
class StateComparison:
    """Whole-vector statistics of an approximate state against the exact one (one pass).

    With p = |ref|^2 / ||ref||^2 and q = |approx|^2 / ||approx||^2 (q = 0 when approx is 0):

    Attributes:
        inner: <ref|approx> (complex).
        ref_norm2, approx_norm2: ||ref||^2 and ||approx||^2.
        tvd: 0.5 * sum |p - q| (1.0 when approx is zero).
        collision: sum p^2 (D * collision - 1 is an ideal sampler's expected linear XEB).
        cube: sum p^3 (for the ideal sampler's XEB spread, :func:`ideal_xeb_band`).
        cross: sum p q (D * cross - 1 is the approximate sampler's infinite-sample XEB).
    """

    inner: complex
    ref_norm2: float
    approx_norm2: float
    tvd: float
    collision: float
    cube: float
    cross: float

    @property
    def fidelity(self) -> float:
        """|<ref|approx>|^2 / (||ref||^2 ||approx||^2), in [0, 1]; 0.0 for a zero state."""
        if self.ref_norm2 == 0.0 or self.approx_norm2 == 0.0:
            return 0.0
        return min(abs(self.inner) ** 2 / (self.ref_norm2 * self.approx_norm2), 1.0)


def compare_states(ref: Any, approx: Any, *, chunk: int = COMPARE_CHUNK) -> StateComparison:
    """:class:`StateComparison` of two (d,) states, computed ``chunk`` amplitudes at a time.

    Never builds a full-size temporary (no (d,) probability array, no widened copy of a
    complex64 state): each chunk is widened to complex128/float64 on its own, so the peak is a
    few chunks. Two passes: the norms, then everything normalised. numpy or cupy.

    Raises:
        ValueError: shapes differ, ``chunk`` < 1, or ``ref`` is zero or not finite.
    """
    _same_shape(ref, approx)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    xp = array_namespace(ref, approx)
    r_flat, a_flat = ref.reshape(-1), approx.reshape(-1)
    spans = [(s, min(s + chunk, r_flat.size)) for s in range(0, r_flat.size, chunk)]

    def pieces(lo: int, hi: int) -> tuple[Any, Any]:
        r = r_flat[lo:hi].astype(xp.complex128)
        a = a_flat[lo:hi].astype(xp.complex128)
        return r, a

    inner = 0j
    nr2 = na2 = 0.0
    for lo, hi in spans:
        r, a = pieces(lo, hi)
        inner += complex(xp.vdot(r, a))
        nr2 += float(xp.sum(r.real**2 + r.imag**2))
        na2 += float(xp.sum(a.real**2 + a.imag**2))
    if not math.isfinite(nr2) or nr2 <= 0.0:
        raise ValueError(f"the reference state has squared norm {nr2}")
    if not math.isfinite(na2):
        nan = float("nan")
        return StateComparison(complex(nan, nan), nr2, na2, nan, nan, nan, nan)
    tvd = collision = cube = cross = 0.0
    for lo, hi in spans:
        r, a = pieces(lo, hi)
        p = (r.real**2 + r.imag**2) / nr2
        q = (a.real**2 + a.imag**2) / na2 if na2 > 0 else xp.zeros_like(p)
        tvd += float(xp.sum(xp.abs(p - q)))
        collision += float(xp.sum(p * p))
        cube += float(xp.sum(p * p * p))
        cross += float(xp.sum(p * q))
    return StateComparison(inner, nr2, na2, 0.5 * tvd if na2 > 0 else 1.0, collision, cube, cross)


def linear_xeb_of_probs(sample_probs: Any, dim: int) -> float:
    """Linear XEB D * mean(p_ideal(x)) - 1 from the ideal probabilities of the drawn samples.

    What :func:`linear_xeb` computes, given p_ideal(x) of each sample x instead of the whole
    distribution (so a 2^n state needs no 2^n probability array).
    """
    ps = np.asarray(to_numpy(sample_probs), dtype=np.float64)
    if ps.size == 0:
        raise ValueError("XEB needs at least one sample")
    return float(dim * ps.mean() - 1.0)


def log_xeb_of_probs(sample_probs: Any, dim: int) -> float:
    """Logarithmic XEB log(D) + gamma + mean(log p_ideal(x)), from the samples' probabilities.

    The convention of :func:`log_xeb` (Boixo et al. 2018, Nature Physics 14, 595: the
    cross-entropy difference with the uniform distribution, about 1 for an ideal sampler of a
    Porter-Thomas distribution and 0 for a uniform one); ``-inf`` when a sample has ideal
    probability 0.
    """
    ps = np.asarray(to_numpy(sample_probs), dtype=np.float64)
    if ps.size == 0:
        raise ValueError("XEB needs at least one sample")
    if np.any(ps <= 0.0):
        return float("-inf")
    return float(np.log(dim) + _EULER_GAMMA + np.mean(np.log(ps)))
