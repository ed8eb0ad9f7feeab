"""The shared argument checks (cislens.utils.validation): what they accept, what they return,
and the message of a refusal (parameter, expectation, value received, fix)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cislens.utils.validation import (
    check_bool,
    check_choice,
    check_dtype,
    check_fraction,
    check_int,
    check_non_negative_int,
    check_number,
    check_positive_int,
    is_int,
)


def test_integers_are_accepted_as_python_ints():
    for value in (1, np.int64(3), np.uint8(7)):
        out = check_positive_int(value, "n")
        assert out == int(value) and type(out) is int
    assert check_non_negative_int(0, "n_top") == 0
    assert check_int(5, "k", minimum=5) == 5
    assert check_positive_int(None, "n", allow_none=True) is None


@pytest.mark.parametrize("value", [0, -2, 1.5, 2.0, True, False, None, "3", np.float64(2)])
def test_non_positive_and_non_integers_are_refused_naming_the_value(value):
    with pytest.raises(ValueError) as info:
        check_positive_int(value, "n_steps")
    assert str(info.value) == f"n_steps must be a positive int; got {value!r}."


def test_message_parts_and_error_type():
    with pytest.raises(ValueError, match=r"^n_top \(--top\) must be an int >= 0; got -1\.$"):
        check_non_negative_int(-1, "n_top (--top)")
    with pytest.raises(ValueError, match=r"^k must be an int >= 3; got 2\.$"):
        check_int(2, "k", minimum=3)
    assert check_int(10, "zooms", minimum=0, maximum=10) == 10
    with pytest.raises(ValueError, match=r"^zooms must be an int in \[0, 10\]; got 11\.$"):
        check_int(11, "zooms", minimum=0, maximum=10)
    message = r"^threads must be a positive int or None \(free cores\); got 0\. Pass 4\.$"
    with pytest.raises(ValueError, match=message):
        check_positive_int(0, "threads", allow_none=True, detail=" (free cores)", fix="Pass 4.")
    # type_error: a wrong type is a TypeError, a wrong value still a ValueError
    with pytest.raises(TypeError, match="batch_size must be a positive int; got 'x'"):
        check_positive_int("x", "batch_size", type_error=True)
    with pytest.raises(ValueError):
        check_positive_int(0, "batch_size", type_error=True)


def test_numbers_and_ranges():
    assert check_number(3, "x") == 3.0 and type(check_number(3, "x")) is float
    assert check_fraction(0.0, "p") == 0.0 and check_fraction(1, "p") == 1.0
    with pytest.raises(ValueError, match=r"^p must be a number in \(0, 1\]; got 0\.0\.$"):
        check_fraction(0.0, "p", open_min=True)
    with pytest.raises(ValueError, match=r"^w must be a float >= 0; got -0\.5\.$"):
        check_number(-0.5, "w", minimum=0, what="a float")
    with pytest.raises(ValueError, match=r"^lr must be a number < 1; got 1\.$"):
        check_number(1, "lr", maximum=1, open_max=True)
    for bad in (float("nan"), float("inf"), True, "0.5", None):
        with pytest.raises(ValueError):
            check_number(bad, "x", minimum=0, maximum=1)
    assert check_number(None, "x", allow_none=True) is None


def test_choice_bool_dtype():
    assert check_choice("sum", ("sum", "mean"), name="merge") == "sum"
    with pytest.raises(ValueError) as info:
        check_choice("men", ("sum", "mean"), name="merge")
    assert str(info.value) == "merge must be one of 'sum', 'mean'; got 'men'. Did you mean 'mean'?"
    with pytest.raises(ValueError, match=r"merge must be one of 'sum', 'mean'; got 3\.$"):
        check_choice(3, ("sum", "mean"), name="merge")
    assert check_bool(np.bool_(True), name="flag") is True
    with pytest.raises(TypeError, match=r"flag must be True or False; got 1\."):
        check_bool(1, name="flag")
    assert check_dtype(torch.float64) is torch.float64
    with pytest.raises(TypeError, match="dtype must be a floating torch dtype"):
        check_dtype(torch.int64)
    assert is_int(np.int32(1)) and not is_int(True) and not is_int(1.0)
