"""The argument checks of qsim_topo.validation: types, ranges, messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsim_topo.errors import ArgumentTypeError, InvalidArgumentError, QsimTopoError
from qsim_topo.validation import (
    check_bool,
    check_choice,
    check_int,
    check_int_sequence,
    check_mapping,
    check_real,
    check_seed,
    describe,
)


def test_error_types_are_one_family():
    assert issubclass(ArgumentTypeError, InvalidArgumentError)
    assert issubclass(InvalidArgumentError, QsimTopoError) and issubclass(
        InvalidArgumentError, ValueError
    )
    assert issubclass(ArgumentTypeError, TypeError)


def test_check_int_accepts_python_and_numpy_integers_only():
    assert check_int("n", 3, min=1, max=5) == 3
    value = check_int("n", np.int64(4), min=1)
    assert value == 4 and type(value) is int
    for bad in (True, np.bool_(False), 2.0, "3", None, [1], 1 + 0j, math.nan):
        with pytest.raises(ArgumentTypeError, match=r"^n must be an integer in 1\.\.5, got "):
            check_int("n", bad, min=1, max=5)
    with pytest.raises(InvalidArgumentError, match=r"n must be an integer >= 1, got 0$"):
        check_int("n", 0, min=1)
    with pytest.raises(InvalidArgumentError, match=r"got ~1e\+70$"):
        check_int("n", 10**70, max=10)


def test_check_real_refuses_nan_inf_bools_and_strings():
    assert check_real("x", 2) == 2.0 and check_real("x", np.float32(0.5), min=0) == 0.5
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidArgumentError, match="x must be a finite real number"):
            check_real("x", bad)
    assert check_real("x", math.inf, finite=False) == math.inf
    for bad in (True, "1", None, 1j):
        with pytest.raises(ArgumentTypeError, match="x must be"):
            check_real("x", bad)
    with pytest.raises(InvalidArgumentError, match="> 0"):
        check_real("x", 0, min=0, min_inclusive=False)
    with pytest.raises(InvalidArgumentError, match="x must be"):
        check_real("x", 10**400)


def test_check_bool_choice_mapping_seed_sequence():
    assert check_bool("b", np.bool_(True)) is True
    with pytest.raises(ArgumentTypeError, match="b must be True or False, got 1 "):
        check_bool("b", 1)
    assert check_choice("c", "x", ("x", "y")) == "x"
    for bad in ([], {}, "z", 1, None):  # unhashable values too: no TypeError
        with pytest.raises(InvalidArgumentError, match="c must be one of 'x', 'y', got "):
            check_choice("c", bad, ("x", "y"))
    assert check_mapping("m", None) == {} and check_mapping("m", {"a": 1}) == {"a": 1}
    for bad in (0, "abc", [("a", 1)]):
        with pytest.raises(ArgumentTypeError, match="m must be a mapping"):
            check_mapping("m", bad)
    with pytest.raises(ArgumentTypeError, match="m keys must be strings"):
        check_mapping("m", {1: 2})
    assert check_seed("s", None) is None and check_seed("s", np.uint64(7)) == 7
    with pytest.raises(InvalidArgumentError):
        check_seed("s", -1)
    with pytest.raises(ArgumentTypeError):
        check_seed("s", 1.0)
    assert check_int_sequence("d", (np.int64(2), 3), min=1) == [2, 3]
    with pytest.raises(ArgumentTypeError, match=r"d\[1\] must be an integer"):
        check_int_sequence("d", [1, 2.5])
    with pytest.raises(ArgumentTypeError, match="d must be a sequence of integers"):
        check_int_sequence("d", "12")
    with pytest.raises(InvalidArgumentError, match="at least one"):
        check_int_sequence("d", [])


def test_describe_is_short_and_never_fails():
    class Broken:
        def __repr__(self):
            raise RuntimeError

    assert describe(Broken()) == "<unprintable> (Broken)"
    assert len(describe("x" * 1000)) < 80
