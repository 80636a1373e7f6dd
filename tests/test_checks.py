"""scratchnet._checks: the one home of argument validators."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scratchnet._checks import check_nonnegative, check_positive, check_positive_int, check_real


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_check_positive_int_accepts_integers_from_one(value):
    assert check_positive_int("n", value) == int(value)
    assert type(check_positive_int("n", value)) is int


@pytest.mark.parametrize("value", [0, -1, 1.0, True, "3", None])
def test_check_positive_int_refuses_others_by_name(value):
    with pytest.raises(ValueError, match=rf"n: expected a positive integer, got {value!r}"):
        check_positive_int("n", value)


def test_check_positive_int_may_allow_none():
    assert check_positive_int("n", None, allow_none=True) is None


@pytest.mark.parametrize("value", [0, -1e-9, math.inf, math.nan, True, "1"])
def test_check_positive_refuses_zero_negative_infinite_nan_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"h: expected a positive number"):
        check_positive("h", value)
    assert check_positive("h", 1e-300) == 1e-300


def test_check_nonnegative_accepts_zero_and_names_what_it_expected():
    assert check_nonnegative("lam", 0) == 0.0
    with pytest.raises(ValueError, match=r"lam: expected a number >= 0 or a name, got -1"):
        check_nonnegative("lam", -1, expected="a number >= 0 or a name")


def test_check_real_intervals_and_types():
    assert check_real("m", 0.0, low=0.0, high=1.0, low_open=False) == 0.0
    with pytest.raises(ValueError, match=r"m: expected a finite number in \[0.0, 1.0\), got 1.0"):
        check_real("m", 1.0, low=0.0, high=1.0, low_open=False)
    with pytest.raises(TypeError, match=r"m: expected a real number, got bool True"):
        check_real("m", True, low=0.0)
