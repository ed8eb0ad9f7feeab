"""Helpers that read config values and raise ``ConfigError`` naming the field.

Every helper takes ``where``, the dotted path of the value (``"tasks[1].rule.spacing"``), and
puts it first in the message, followed by what was expected, what was found and the fix.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from pathlib import Path

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
