"""Batch-size validation and batch slicing, shared by training, attribution and GIA.

``batch_size`` always counts forward-pass rows, and results never depend on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from cislens.utils.validation import check_positive_int


def check_batch_size(batch_size, *, name: str = "batch_size") -> int:
    """Validate a positive integer batch size (forward-pass rows) and return it as an int.

    Examples
    --------
    >>> check_batch_size(64)
    64
    >>> check_batch_size(0)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be a positive int; got 0.
    """
    return check_positive_int(batch_size, name, type_error=True)


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices covering ``range(n)`` in chunks of ``batch_size``.

    Examples
    --------
    >>> list(batch_slices(5, 2))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


__all__ = ["batch_slices", "check_batch_size"]
