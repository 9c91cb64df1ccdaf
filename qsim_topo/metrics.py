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

from typing import Any

import numpy as np

from qsim_topo.xp import SeedLike, array_namespace, as_generator, random_normal, to_numpy

__all__ = [
    "aligned_frobenius_error",
    "frobenius_error",
    "haar_input_fidelity",
    "ideal_xeb_band",
    "linear_xeb",
    "linear_xeb_from_probs",
    "log_xeb",
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


def haar_input_fidelity(
    ref_u: Any, approx_u: Any, *, n_states: int = 16, seed: SeedLike = None
) -> float:
    """Mean state fidelity of ``approx_u |psi>`` against ``ref_u |psi>`` over Haar-random |psi>.

    The |0...0> input alone reads only column 0 of the operator and can hide every other
    error; random inputs cannot be dodged. States are drawn seeded, on the operators' device;
    the products are exact (``xp.matmul``), not the engine's.
    """
    if n_states < 1:
        raise ValueError(f"n_states must be >= 1, got {n_states}")
    _same_shape(ref_u, approx_u)
    xp = array_namespace(ref_u, approx_u)
    rng = as_generator(seed)
    d = ref_u.shape[1]
    psi = random_normal(xp, rng, (d, n_states)) + 1j * random_normal(xp, rng, (d, n_states))
    psi = psi.astype(xp.result_type(ref_u, approx_u, np.complex64), copy=False)
    out_ref = xp.matmul(ref_u, psi)
    out_apx = xp.matmul(approx_u, psi)
    num = xp.abs(xp.sum(out_ref.conj() * out_apx, axis=0)) ** 2
    den = xp.sum(xp.abs(out_ref) ** 2, axis=0) * xp.sum(xp.abs(out_apx) ** 2, axis=0)
    if not bool(xp.isfinite(num).all()) or not bool(xp.isfinite(den).all()):
        return float("nan")  # NaN/Inf in an operator: no fidelity, not a fidelity of 0
    safe = xp.where(den > 0, den, 1.0)
    fid = xp.where(den > 0, num / safe, 0.0)
    return float(xp.mean(xp.minimum(fid, 1.0)))


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
