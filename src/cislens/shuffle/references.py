"""Reference (baseline) makers for DeepLiftShap, integrated gradients and friends.

Every maker has the signature ``(X, n, random_state) -> (N, n, 4, L)``: ``n`` references per
sequence, the same array type as ``X`` (NumPy or torch, torch on ``X``'s device), dtype ``X``'s
floating dtype or float32 for integer/boolean input. This is the callable form accepted by the
``baselines=`` option of the attribution methods. :data:`REFERENCES` maps the names used by the
command line and configs to the makers; :func:`get_reference_function` looks one up.

- ``"zeros"``: all-zero columns (every position "N").
- ``"frequencies"``: every column equals a base-frequency vector, default (0.3, 0.2, 0.2, 0.3)
  (the GC-flat reference of the DeepLIFT genomics examples).
- ``"dinucleotide"``: uniform dinucleotide shuffles of each sequence (the genomics standard).
- ``"shuffle"``: uniform mononucleotide shuffles of each sequence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from cislens.sequence.onehot import check_one_hot
from cislens.shuffle.dinucleotide import dinucleotide_shuffle
from cislens.shuffle.mononucleotide import _check_n, shuffle
from cislens.utils.arrays import as_numpy
from cislens.utils.types import Array, ArrayLike, RandomState

DEFAULT_FREQUENCIES = (0.3, 0.2, 0.2, 0.3)
"""A, C, G, T frequencies of the default flat reference (40% GC)."""


def _filled_like(X, n: int, column: np.ndarray):
    """(N, n, 4, L) array whose every column is ``column``, of X's type and float dtype."""
    shape = (X.shape[0], n, 4, X.shape[2])
    if isinstance(X, torch.Tensor):
        dtype = X.dtype if X.is_floating_point() else torch.float32
        values = torch.as_tensor(column, dtype=torch.float64).to(dtype=dtype, device=X.device)
        return values.view(1, 1, 4, 1).expand(shape).contiguous()
    np_dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.dtype(np.float32)
    out = np.empty(shape, dtype=np_dtype)
    out[...] = column.astype(np_dtype).reshape(1, 1, 4, 1)
    return out


def zero_references(X: Array, n: int = 1, random_state: RandomState = None) -> Array:
    """All-zero references: ``n`` copies of an all-N sequence per input sequence.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        One-hot sequences, shape (N, 4, L).
    n : int
        References per sequence, default 1.
    random_state : None
        Accepted for the common reference signature; unused (the output is deterministic).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Zeros of shape (N, n, 4, L), the type of ``X``.

    Examples
    --------
    >>> from cislens import one_hot_encode
    >>> R = zero_references(one_hot_encode(["ACGT", "TTTT"]), n=2)
    >>> R.shape, float(R.abs().sum())
    (torch.Size([2, 2, 4, 4]), 0.0)
    """
    check_one_hot(X, name="X")
    n = _check_n(n)
    return _filled_like(X, n, np.zeros(4))


def frequency_references(
    X: Array,
    n: int = 1,
    random_state: RandomState = None,
    *,
    frequencies: ArrayLike = DEFAULT_FREQUENCIES,
) -> Array:
    """Flat references: every column equals the base-frequency vector ``frequencies``.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        One-hot sequences, shape (N, 4, L).
    n : int
        References per sequence, default 1 (they are all equal).
    random_state : None
        Accepted for the common reference signature; unused (the output is deterministic).
    frequencies : sequence of 4 floats
        A, C, G, T frequencies, non-negative and summing to 1 (within 1e-6). Default
        (0.3, 0.2, 0.2, 0.3).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape (N, n, 4, L), the type of ``X``.

    Raises
    ------
    ValueError
        ``frequencies`` not 4 finite non-negative numbers summing to 1.

    Examples
    --------
    >>> from cislens import one_hot_encode
    >>> R = frequency_references(one_hot_encode(["ACGTA"]))
    >>> R.shape
    torch.Size([1, 1, 4, 5])
    >>> [round(v, 2) for v in R[0, 0, :, 2].tolist()]
    [0.3, 0.2, 0.2, 0.3]
    """
    check_one_hot(X, name="X")
    n = _check_n(n)
    freqs = np.asarray(as_numpy(frequencies), dtype=np.float64)
    if freqs.shape != (4,):
        raise ValueError(
            f"frequencies must hold 4 values (A, C, G, T); got shape {freqs.shape}. "
            f"Pass for example frequencies={DEFAULT_FREQUENCIES}."
        )
    if not np.isfinite(freqs).all() or (freqs < 0).any():
        raise ValueError(
            f"frequencies must be finite and non-negative; got {freqs.tolist()}. "
            f"Pass base frequencies such as {DEFAULT_FREQUENCIES}."
        )
    if abs(freqs.sum() - 1.0) > 1e-6:
        raise ValueError(
            f"frequencies must sum to 1; got {freqs.tolist()} (sum {freqs.sum():.6g}). "
            "Divide them by their sum."
        )
    return _filled_like(X, n, freqs)


def dinucleotide_references(X: Array, n: int = 20, random_state: RandomState = None) -> Array:
    """Dinucleotide-shuffled references: :func:`~cislens.shuffle.dinucleotide_shuffle` of X.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        One-hot sequences, shape (N, 4, L).
    n : int
        Shuffles per sequence, default 20.
    random_state : int, numpy.random.Generator or None
        Seed, see :func:`~cislens.shuffle.dinucleotide_shuffle` for the seeding rule.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape (N, n, 4, L), the type of ``X``.

    Examples
    --------
    >>> from cislens import one_hot_encode
    >>> X = one_hot_encode(["ACGTTGCAACGT"])
    >>> R = dinucleotide_references(X, n=4, random_state=0)
    >>> R.shape
    torch.Size([1, 4, 4, 12])
    >>> bool((R.sum(-1) == X.sum(-1)[:, None]).all())  # base counts kept
    True
    """
    return dinucleotide_shuffle(X, n=n, random_state=random_state)


def shuffle_references(X: Array, n: int = 20, random_state: RandomState = None) -> Array:
    """Mononucleotide-shuffled references: :func:`~cislens.shuffle.shuffle` of X.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        One-hot sequences, shape (N, 4, L).
    n : int
        Shuffles per sequence, default 20.
    random_state : int, numpy.random.Generator or None
        Seed, see :func:`~cislens.shuffle.shuffle` for the seeding rule.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape (N, n, 4, L), the type of ``X``.

    Examples
    --------
    >>> from cislens import one_hot_encode
    >>> shuffle_references(one_hot_encode(["ACGTAC"]), n=3, random_state=0).shape
    torch.Size([1, 3, 4, 6])
    """
    return shuffle(X, n=n, random_state=random_state)


REFERENCES: dict[str, Callable] = {
    "zeros": zero_references,
    "frequencies": frequency_references,
    "dinucleotide": dinucleotide_references,
    "shuffle": shuffle_references,
}
"""Reference makers by name; each is ``(X, n, random_state) -> (N, n, 4, L)``."""


def get_reference_function(name: str) -> Callable:
    """Return the reference maker registered under ``name`` in :data:`REFERENCES`.

    Parameters
    ----------
    name : str
        One of ``"zeros"``, ``"frequencies"``, ``"dinucleotide"``, ``"shuffle"``.

    Returns
    -------
    callable
        ``(X, n, random_state) -> (N, n, 4, L)``.

    Raises
    ------
    ValueError
        Unknown name; the message lists the valid ones.

    Examples
    --------
    >>> get_reference_function("dinucleotide") is dinucleotide_references
    True
    >>> get_reference_function("gc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown reference 'gc'; valid names are 'dinucleotide', 'frequencies', ...
    """
    try:
        return REFERENCES[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(key) for key in sorted(REFERENCES))
        raise ValueError(f"unknown reference {name!r}; valid names are {valid}.") from None


__all__ = [
    "DEFAULT_FREQUENCIES",
    "REFERENCES",
    "dinucleotide_references",
    "frequency_references",
    "get_reference_function",
    "shuffle_references",
    "zero_references",
]
