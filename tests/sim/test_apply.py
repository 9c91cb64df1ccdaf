from __future__ import annotations

import numpy as np
import pytest

from qsim_topo.engines import CheckedEngine, get_engine
from qsim_topo.errors import NotUnitaryError, QsimTopoError
from qsim_topo.layers import haar_unitary
from qsim_topo.sim.apply import (
    apply_operator,
    check_unitary_matrices,
    check_unitary_matrix,
    n_qubits_of,
)
from qsim_topo.xp import get_xp, to_numpy
from tests.conftest import devices, embed


def _random_case(rng, n, k):
    qubits = tuple(int(q) for q in rng.choice(n, size=k, replace=False))
    matrix = haar_unitary(2**k, seed=rng)
    return matrix, qubits


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize(("n", "k"), [(n, k) for n in range(1, 7) for k in (1, 2, 3) if k <= n])
def test_state_matches_explicit_embedding(rng, device, n, k):
    xp = get_xp(device)
    for _ in range(4):
        matrix, qubits = _random_case(rng, n, k)
        psi = rng.standard_normal(2**n) + 1j * rng.standard_normal(2**n)
        psi_dev = xp.asarray(psi)
        out = apply_operator(CheckedEngine(get_engine("exact")), psi_dev, matrix, qubits, n)
        ref = embed(matrix, qubits, n) @ psi
        assert np.max(np.abs(to_numpy(out) - ref)) < 1e-12
        assert np.array_equal(to_numpy(psi_dev), psi)  # input untouched


@pytest.mark.parametrize(("n", "k"), [(n, k) for n in (2, 4, 6) for k in (1, 2, 3) if k <= n])
def test_operator_columns_match_explicit_embedding(rng, n, k):
    matrix, qubits = _random_case(rng, n, k)
    u = haar_unitary(2**n, seed=rng)
    out = apply_operator(get_engine("exact"), u, matrix, qubits, n)
    assert np.max(np.abs(out - embed(matrix, qubits, n) @ u)) < 1e-12


def test_matches_qiskit_operator(rng):
    qi = pytest.importorskip("qiskit.quantum_info")
    n = 5
    total = np.eye(2**n, dtype=complex)
    ref = qi.Operator(np.eye(2**n))
    for _ in range(12):
        k = int(rng.integers(1, 4))
        matrix, qubits = _random_case(rng, n, k)
        total = apply_operator(get_engine("exact"), total, matrix, qubits, n)
        ref = ref.compose(qi.Operator(matrix), qargs=list(qubits))
    assert np.max(np.abs(total - ref.data)) < 1e-12


def test_every_application_is_one_engine_product(rng):
    checked = CheckedEngine(get_engine("exact"))
    psi = np.zeros(16, dtype=complex)
    psi[0] = 1
    for k in (1, 2, 3, 4):
        matrix, qubits = _random_case(rng, 4, k)
        psi = apply_operator(checked, psi, matrix, qubits, 4)
    assert checked.calls == 4
    assert checked.exact_flops == sum(2**k * 2**k * 2 ** (4 - k) for k in (1, 2, 3, 4))


def test_complex64_state_keeps_its_dtype(rng):
    matrix, qubits = _random_case(rng, 3, 2)
    psi = np.zeros(8, dtype=np.complex64)
    psi[0] = 1
    out = apply_operator(get_engine("exact"), psi, matrix, qubits, 3)
    assert out.dtype == np.complex64
    assert np.max(np.abs(out - embed(matrix, qubits, 3)[:, 0])) < 1e-6


def test_bad_arguments_are_named():
    eng = get_engine("exact")
    psi = np.ones(8, dtype=complex)
    with pytest.raises(QsimTopoError, match="repeat"):
        apply_operator(eng, psi, np.eye(4), (1, 1), 3)
    with pytest.raises(QsimTopoError, match="outside the register"):
        apply_operator(eng, psi, np.eye(2), (3,), 3)
    with pytest.raises(QsimTopoError, match=r"\(4, 4\) matrix"):
        apply_operator(eng, psi, np.eye(2), (0, 1), 3)
    with pytest.raises(QsimTopoError, match="tensor of shape"):
        apply_operator(eng, np.ones(6, dtype=complex), np.eye(2), (0,), 3)
    with pytest.raises(QsimTopoError, match="power of two"):
        n_qubits_of(6)
    assert n_qubits_of(64) == 6


def test_check_unitary_matrix():
    check_unitary_matrix(haar_unitary(4, seed=0))
    with pytest.raises(NotUnitaryError, match="not unitary"):
        check_unitary_matrix(np.array([[1, 1], [0, 1]]))
    with pytest.raises(NotUnitaryError, match="square"):
        check_unitary_matrix(np.ones((2, 3)))
    with pytest.raises(NotUnitaryError, match="NaN"):
        check_unitary_matrix(np.array([[np.nan, 0], [0, 1]]))


@pytest.mark.parametrize("block", [1, 3, 8, 64])
def test_column_blocks_are_one_product_each_and_give_the_same_result(rng, block):
    n, k = 6, 2
    matrix, qubits = _random_case(rng, n, k)
    psi = rng.standard_normal((2**n, 2)) @ np.array([1, 1j])
    whole = apply_operator(get_engine("exact"), psi, matrix, qubits, n)
    checked = CheckedEngine(get_engine("exact"))
    blocked = apply_operator(checked, psi, matrix, qubits, n, max_columns=block)
    np.testing.assert_allclose(blocked, whole, atol=1e-13)
    assert checked.calls == -(-(2 ** (n - k)) // block)
    assert checked.exact_flops == 4 * 4 * 2 ** (n - k)
    with pytest.raises(QsimTopoError, match="max_columns"):
        apply_operator(checked, psi, matrix, qubits, n, max_columns=0)


def _single_verdict(matrix, what, atol):
    try:
        check_unitary_matrix(matrix, atol=atol, what=what)
    except NotUnitaryError as exc:
        return str(exc)
    return None


def test_check_unitary_matrices_decides_as_one_by_one():
    """The stacked screen raises what the first failing single check raises, for every mix
    of good matrices, near-threshold ones, NaN, non-square and large ones."""
    rng = np.random.default_rng(11)
    atol = 1e-8
    good = [haar_unitary(2**k, seed=rng) for k in (1, 2, 2, 3, 6)]
    # Other dtypes beside complex128 (the flat copy then takes numpy's conversion).
    good += [np.array([[0.0, 1.0], [1.0, 0.0]]), np.eye(4, dtype=np.int8)[[1, 0, 3, 2]]]
    near = haar_unitary(4, seed=rng) * (1 + 0.6 * atol / 2)  # within atol, above atol / 2
    past = haar_unitary(4, seed=rng) * (1 + 0.8 * atol)  # just past atol
    nan = np.array([[np.nan, 0], [0, 1]])
    shear = np.array([[1, 1], [0, 1]])
    wide = np.ones((2, 3))
    row = np.array([[1.0, 0.0, 0.0, 0.0]])  # as many entries as a 2x2, not square
    big = np.eye(64) * 2
    strings = np.array([["a", "b"], ["c", "d"]], dtype=object)
    bad = [near, past, nan, shear, wide, row, big, strings]
    assert _single_verdict(near, "x", atol) is None and _single_verdict(past, "x", atol)
    check_unitary_matrices([*good, near], [f"m{i}" for i in range(len(good) + 1)], atol=atol)
    # Each bad matrix alone among good ones, and followed by the others (the strings, last,
    # make the flat copy fail: then every matrix is checked alone).
    tails = [bad[j : j + k] for j in range(len(bad)) for k in (1, len(bad) - 1 - j, len(bad))]
    for tail in [t for t in tails if t]:
        for position in (0, 3, len(good)):
            mats = good[:position] + tail + good[position:]
            whats = [f"m{i}" for i in range(len(mats))]
            first = None
            for m, w in zip(mats, whats, strict=True):
                try:
                    first = _single_verdict(m, w, atol)
                except Exception as exc:  # the single check's own error on entries
                    first = type(exc)
                if first is not None:
                    break
            if first is None:
                check_unitary_matrices(mats, whats, atol=atol)
            elif isinstance(first, str):
                with pytest.raises(NotUnitaryError) as info:
                    check_unitary_matrices(mats, whats, atol=atol)
                assert str(info.value) == first
            else:
                with pytest.raises(first):
                    check_unitary_matrices(mats, whats, atol=atol)
    with pytest.raises(QsimTopoError, match="names"):
        check_unitary_matrices([good[0]], [])


def test_flat_matrices_reads_every_layout_and_dtype_row_major():
    """One dtype (joined as bytes) or several (concatenated): row-major entries, whatever the
    memory order, strides or byte order; entries that are no numbers raise."""
    from qsim_topo.sim.apply import flat_matrices

    base = np.arange(16, dtype=float).reshape(4, 4) + 1j * np.arange(16).reshape(4, 4)
    same = [np.asfortranarray(base), base.T, base[::2, ::2]]  # one dtype: joined as bytes
    flat, arrays = flat_matrices(same)
    assert flat.dtype == np.complex128 and len(arrays) == 3
    np.testing.assert_array_equal(flat, np.concatenate([base.ravel(), base.T.ravel(),
                                                        base[::2, ::2].ravel()]))
    flat, _ = flat_matrices([base.astype(">c16")])  # big-endian, one dtype
    np.testing.assert_array_equal(flat, base.ravel())
    flat, _ = flat_matrices([base.astype(">c16"), np.eye(2, dtype=bool)])  # several dtypes
    np.testing.assert_array_equal(flat, np.concatenate([base.ravel(), [1, 0, 0, 1]]))
    empty, arrays = flat_matrices([])
    assert empty.size == 0 and arrays == []
    with pytest.raises((TypeError, ValueError)):
        flat_matrices([np.array([["a", "b"], ["c", "d"]], dtype=object)])


def test_unitarity_screen_at_a_tolerance_below_its_rounding():
    """At atol ~0 the screen clears nothing on its own sums (they round differently from the
    single check's product): the single check decides, as one by one. An iterator of
    matrices is read once; an empty matrix is named."""
    c, s = -0.3920612447744176, 0.9199391177387416
    rotation = np.array([[c, s], [-s, c]], dtype=complex)
    for atol in (0.0, 1e-17, 1e-16, 1e-15):
        try:
            check_unitary_matrix(rotation, atol=atol, what="r")
            single = None
        except NotUnitaryError as exc:
            single = str(exc)
        if single is None:
            check_unitary_matrices([rotation], ["r"], atol=atol)
        else:
            with pytest.raises(NotUnitaryError) as info:
                check_unitary_matrices([rotation], ["r"], atol=atol)
            assert str(info.value) == single
    mats = [np.ones((2, 2)), np.array([["a", "b"], ["c", "d"]], dtype=object)]
    with pytest.raises(NotUnitaryError, match="m0 of shape"):
        check_unitary_matrices((m for m in mats), lambda i: f"m{i}")
    with pytest.raises(NotUnitaryError, match="non-empty"):
        check_unitary_matrices([np.zeros((0, 0))], ["e"])
