"""The one validation layer: generic checks whose errors name the value, what was expected,
what was found and the fix. Domain checks (a one-hot batch, a motif, a model's output) stay in
their packages (:func:`cislens.sequence.onehot.check_one_hot`, ...).

Two families:

- **Config values** (:func:`mapping`, :func:`integer`, :func:`choice`, ...): take ``where``, the
  dotted path of the value (``"tasks[1].rule.spacing"``), put it first in the message and raise
  :class:`~cislens.errors.ConfigError`.
- **Arguments of the Python API** (``check_*``): take ``name``, the parameter (as the user wrote
  it: ``"chunk_size (--chunk-size)"``), and raise ``ValueError`` (``TypeError`` where the type
  is wrong and the caller says so), with messages such as
  ``"n_steps must be a positive int; got 0."``.

Examples
--------
>>> check_positive_int(3, "n_steps")
3
>>> check_positive_int(0, "n_steps")
Traceback (most recent call last):
...
ValueError: n_steps must be a positive int; got 0.
>>> check_choice("simpson", ("gausslegendre", "uniform"), name="quadrature")
Traceback (most recent call last):
...
ValueError: quadrature must be one of 'gausslegendre', 'uniform'; got 'simpson'.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cislens.errors import ConfigError


def fail(where: str, message: str) -> ConfigError:
    """A ``ConfigError`` whose message starts with the field path."""
    return ConfigError(f"{where}: {message}" if where else message)


def describe(value) -> str:
    """A short description of a received value for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def mapping(value, where: str, *, what: str = "a mapping") -> Mapping:
    if not isinstance(value, Mapping):
        raise fail(where, f"expected {what}; got {describe(value)}.")
    for key in value:
        if not isinstance(key, str):
            raise fail(where, f"keys must be strings; got {describe(key)}.")
    return value


def check_keys(value: Mapping, allowed, where: str) -> None:
    """Reject keys not in ``allowed``, suggesting the closest valid key."""
    allowed = list(allowed)
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise fail(
                f"{where}.{key}" if where else key,
                f"unknown field; valid fields here are {allowed}.{hint}",
            )


def string(value, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise fail(where, f"expected a non-empty string; got {describe(value)}.")
    return value.strip() if not allow_empty else value


def choice(value, options, where: str) -> str:
    options = list(options)
    if not isinstance(value, str) or value not in options:
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise fail(where, f"expected one of {options}; got {describe(value)}.{hint}")
    return value


def integer(value, where: str, *, minimum=None, maximum=None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise fail(where, f"expected an integer; got {describe(value)}.")
    if minimum is not None and value < minimum:
        raise fail(where, f"expected an integer >= {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise fail(where, f"expected an integer <= {maximum}; got {value}.")
    return int(value)


def number(
    value, where: str, *, minimum=None, maximum=None, open_min=False, open_max=False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(where, f"expected a number; got {describe(value)}.")
    value = float(value)
    if not math.isfinite(value):
        raise fail(where, f"expected a finite number; got {value}.")
    low_bad = minimum is not None and (value <= minimum if open_min else value < minimum)
    high_bad = maximum is not None and (value >= maximum if open_max else value > maximum)
    if low_bad or high_bad:
        low = "(" if open_min else "["
        high = ")" if open_max else "]"
        lo = "-inf" if minimum is None else f"{minimum:g}"
        hi = "inf" if maximum is None else f"{maximum:g}"
        raise fail(where, f"expected a number in {low}{lo}, {hi}{high}; got {value:g}.")
    return value


def fraction(value, where: str) -> float:
    return number(value, where, minimum=0.0, maximum=1.0)


def sequence(value, where: str, *, what: str = "a list") -> list:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise fail(where, f"expected {what}; got {describe(value)}.")
    return list(value)


def int_pair(value, where: str, *, minimum=None) -> tuple[int, int]:
    """``[low, high]`` with low <= high (inclusive unless the caller says otherwise)."""
    items = sequence(value, where, what="a list [min, max] of two integers")
    if len(items) != 2:
        raise fail(where, f"expected [min, max] (two integers); got {describe(value)}.")
    low = integer(items[0], f"{where}[0]", minimum=minimum)
    high = integer(items[1], f"{where}[1]", minimum=minimum)
    if low > high:
        raise fail(where, f"min must be <= max; got [{low}, {high}].")
    return low, high


def boolean(value, where: str) -> bool:
    """``true`` or ``false`` (a YAML bool; 0 / 1 and strings are refused)."""
    if not isinstance(value, bool):
        raise fail(where, f"expected true or false; got {describe(value)}.")
    return value


def path(value, where: str, base: Path) -> Path:
    """A non-empty path string, ``~`` expanded, relative paths resolved against ``base``."""
    text = string(value, where)
    result = Path(text).expanduser()
    return result if result.is_absolute() else base / result


def names(value, where: str) -> list[str]:
    """A non-empty list of unique, non-empty strings."""
    items = sequence(value, where, what="a list of names")
    result = [string(item, f"{where}[{i}]") for i, item in enumerate(items)]
    if not result or len(set(result)) != len(result):
        raise fail(where, f"expected a non-empty list of unique names; got {result}.")
    return result


# ---------------------------------------------------------------------------------------------
# Arguments of the Python API


def is_int(value) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_expectation(minimum: int, maximum: int | None = None) -> str:
    if maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    return {0: "an int >= 0", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")


def check_int(
    value,
    name: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    allow_none: bool = False,
    detail: str = "",
    fix: str = "",
    type_error: bool = False,
) -> Any:
    """Return ``value`` as an ``int`` (or ``None`` where allowed) after checking it.

    The message reads ``"{name} must be {expectation}{ or None}{detail}; got {value!r}.{fix}"``,
    where the expectation is "a positive int" (``minimum=1``), "an int >= 0" (``minimum=0``),
    "an int >= m", or "an int in [m, M]" with a ``maximum``. Bools and non-integers raise
    ``ValueError`` (``TypeError`` with ``type_error=True``).

    Examples
    --------
    >>> check_int(0, "n_top", minimum=0)
    0
    >>> check_int(None, "epochs", allow_none=True, detail=" (chosen from the data size)")
    >>> check_int(2.5, "n", detail=" (shuffles per sequence)")
    Traceback (most recent call last):
    ...
    ValueError: n must be a positive int (shuffles per sequence); got 2.5.
    """
    if value is None and allow_none:
        return None
    expected = _int_expectation(minimum, maximum) + (" or None" if allow_none else "") + detail
    fix = f" {fix}" if fix else ""
    if not is_int(value):
        error = TypeError if type_error else ValueError
        raise error(f"{name} must be {expected}; got {value!r}.{fix}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {expected}; got {value!r}.{fix}")
    return int(value)


def check_positive_int(value, name: str, **options) -> Any:
    """:func:`check_int` with ``minimum=1`` ("must be a positive int")."""
    return check_int(value, name, minimum=1, **options)


def check_non_negative_int(value, name: str, **options) -> Any:
    """:func:`check_int` with ``minimum=0`` ("must be an int >= 0")."""
    return check_int(value, name, minimum=0, **options)


def _range_text(minimum, maximum, open_min: bool, open_max: bool) -> str:
    if maximum is None and minimum is not None:
        return f"{'>' if open_min else '>='} {minimum:g}"
    if minimum is None and maximum is not None:
        return f"{'<' if open_max else '<='} {maximum:g}"
    lo = "-inf" if minimum is None else f"{minimum:g}"
    hi = "inf" if maximum is None else f"{maximum:g}"
    return f"in {'(' if open_min else '['}{lo}, {hi}{')' if open_max else ']'}"


def check_number(
    value,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_min: bool = False,
    open_max: bool = False,
    allow_none: bool = False,
    what: str = "a number",
    detail: str = "",
    fix: str = "",
) -> Any:
    """Return ``value`` as a finite ``float`` in the given range (``None`` where allowed).

    The message reads ``"{name} must be {what} {range}{ or None}{detail}; got {value!r}.{fix}"``
    with the range as ``>= 0``, ``< 1`` or ``in (0, 1]``.

    Examples
    --------
    >>> check_number(0.5, "alpha", minimum=0, maximum=1, open_min=True, open_max=True)
    0.5
    >>> check_number(1.0, "alpha", minimum=0, maximum=1, open_min=True, open_max=True)
    Traceback (most recent call last):
    ...
    ValueError: alpha must be a number in (0, 1); got 1.0.
    >>> check_number(-1, "l1_weight", minimum=0, what="a float")
    Traceback (most recent call last):
    ...
    ValueError: l1_weight must be a float >= 0; got -1.
    """
    if value is None and allow_none:
        return None
    bounds = _range_text(minimum, maximum, open_min, open_max)
    expected = f"{what} {bounds}" if bounds != "in [-inf, inf]" else what
    expected += (" or None" if allow_none else "") + detail
    fix = f" {fix}" if fix else ""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{name} must be {expected}; got {value!r}.{fix}")
    number_ = float(value)
    low_bad = minimum is not None and (number_ <= minimum if open_min else number_ < minimum)
    high_bad = maximum is not None and (number_ >= maximum if open_max else number_ > maximum)
    if not math.isfinite(number_) or low_bad or high_bad:
        raise ValueError(f"{name} must be {expected}; got {value!r}.{fix}")
    return number_


def check_fraction(value, name: str, **options) -> Any:
    """:func:`check_number` in [0, 1] (open ends with ``open_min`` / ``open_max``)."""
    return check_number(value, name, minimum=0.0, maximum=1.0, **options)


def check_choice(value, choices, *, name: str) -> Any:
    """Return ``value`` if it is one of ``choices``; otherwise raise naming the valid ones.

    Examples
    --------
    >>> check_choice("sum", ("sum", "mean"), name="merge")
    'sum'
    """
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(choice) for choice in choices)
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f" Did you mean {close[0]!r}?" if close and isinstance(value, str) else ""
        raise ValueError(f"{name} must be one of {valid}; got {value!r}.{hint}")
    return value


def check_bool(value, *, name: str) -> bool:
    """Return ``value`` if it is a bool (or NumPy bool); raise a ``TypeError`` otherwise.

    Examples
    --------
    >>> check_bool(1, name="hypothetical")
    Traceback (most recent call last):
    ...
    TypeError: hypothetical must be True or False; got 1.
    """
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def check_dtype(dtype) -> Any:
    """Validate a compute ``dtype`` option (a floating torch dtype) and return it."""
    import torch

    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"dtype must be a floating torch dtype such as torch.float32 or torch.float64; "
            f"got {dtype!r}."
        )
    return dtype
