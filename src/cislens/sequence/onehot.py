"""One-hot encoding of DNA: (N, 4, L) arrays in A, C, G, T order.

Conventions (see ``docs/formats.md``):

- ``one_hot_encode`` always returns a batch of shape (N, 4, L).
- ``N`` (and ``n``) becomes an all-zero column; ``decode`` turns an all-zero column back into "N".
- IUPAC ambiguity codes (R, Y, S, W, K, M, B, D, H, V) become an all-zero column by default
  (``ambiguous="n"``), like N: the base is unknown to the model. ``ambiguous="fraction"`` spreads
  the column over the bases the code stands for (R -> 0.5 A + 0.5 G); such arrays are not binary
  and ``check_one_hot`` rejects them. ``ambiguous="error"`` refuses them.
- Any other character raises ``ValueError`` naming the sequence index, position and character.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NoReturn

import numpy as np
import torch
from numpy.typing import DTypeLike

from cislens.sequence.alphabet import (
    ALPHABET,
    FRACTION_TABLE,
    N_CHANNELS,
    STRING_COMPLEMENT,
    TOKEN_AMBIGUOUS,
    TOKEN_INVALID,
    TOKEN_N,
    TOKEN_TABLE,
)
from cislens.utils.arrays import as_numpy, like_input
from cislens.utils.types import Array
from cislens.utils.validation import check_choice, check_positive_int

_AMBIGUOUS_MODES = ("n", "fraction", "error")
_DECODE_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)


def _as_sequence_list(seqs) -> list[str]:
    if isinstance(seqs, (str, bytes)):
        seqs = [seqs]
    if not isinstance(seqs, Iterable):
        raise TypeError(
            f"seqs must be a str or a list of str; got {type(seqs).__name__}. "
            "Pass for example one_hot_encode(['ACGT', 'TTGA'])."
        )
    out = []
    for index, seq in enumerate(seqs):
        if isinstance(seq, bytes):
            seq = seq.decode("ascii", errors="replace")
        if not isinstance(seq, str):
            raise TypeError(
                f"seqs[{index}] must be a str; got {type(seq).__name__}. "
                "Pass DNA sequences as strings of A, C, G, T (and N)."
            )
        out.append(seq)
    if not out:
        raise ValueError("seqs is empty; pass at least one sequence.")
    return out


def _fit_length(seq: str, length: int) -> str:
    """Centre ``seq`` in a window of ``length``: trim both ends, or pad both ends with N.

    When the difference is odd, the extra base is trimmed from (or padded on) the right.
    """
    diff = len(seq) - length
    if diff > 0:
        left = diff // 2
        return seq[left : left + length]
    if diff < 0:
        left = (-diff) // 2
        return "N" * left + seq + "N" * (-diff - left)
    return seq


def one_hot_encode(
    seqs: str | Sequence[str],
    *,
    length: int | None = None,
    ambiguous: str = "n",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Encode DNA strings as a one-hot batch of shape (N, 4, L), channels A, C, G, T.

    Parameters
    ----------
    seqs : str or sequence of str
        One sequence or a list of sequences. Lower case is accepted. All must have the same length
        unless ``length`` is given.
    length : int, optional
        Target length. Longer sequences are trimmed and shorter ones padded with N, both centred
        (the odd base goes to the right). Default None: lengths must already be equal.
    ambiguous : {"n", "fraction", "error"}
        How IUPAC ambiguity codes other than N are encoded: an all-zero column (default), the
        column spread over the bases the code stands for, or a ``ValueError``.
    dtype : torch.dtype
        Output dtype, default ``torch.float32``.

    Returns
    -------
    torch.Tensor
        Shape (N, 4, L).

    Raises
    ------
    ValueError
        Empty input, an empty sequence, unequal lengths without ``length``, or an invalid character
        (the message names the sequence index, the position and the character).

    Examples
    --------
    >>> X = one_hot_encode(["ACGTN", "aaccg"])
    >>> X.shape
    torch.Size([2, 4, 5])
    >>> X[0, :, 4].tolist()
    [0.0, 0.0, 0.0, 0.0]
    >>> one_hot_encode("ACGTACGT", length=4)[0].argmax(0).tolist()
    [2, 3, 0, 1]
    """
    check_choice(ambiguous, _AMBIGUOUS_MODES, name="ambiguous")
    seq_list = _as_sequence_list(seqs)
    if length is not None:
        length = check_positive_int(length, "length")
        seq_list = [_fit_length(seq, length) for seq in seq_list]
    for index, seq in enumerate(seq_list):
        if len(seq) == 0:
            raise ValueError(f"seqs[{index}] is empty; every sequence needs at least one base.")
    expected = len(seq_list[0])
    for index, seq in enumerate(seq_list):
        if len(seq) != expected:
            raise ValueError(
                f"sequences must all have the same length; seqs[0] has {expected} bases but "
                f"seqs[{index}] has {len(seq)}. Pass length=... to centre-trim or N-pad them."
            )

    try:
        raw = "".join(seq_list).encode("ascii")
    except UnicodeEncodeError:
        raw = None
    if raw is None:
        _raise_invalid_character(seq_list)
    codes = np.frombuffer(raw, dtype=np.uint8).reshape(len(seq_list), expected)
    tokens = TOKEN_TABLE[codes]
    if (tokens == TOKEN_INVALID).any():
        _raise_invalid_character(seq_list)
    if ambiguous == "error" and (tokens == TOKEN_AMBIGUOUS).any():
        seq_index, position = np.argwhere(tokens == TOKEN_AMBIGUOUS)[0]
        char = seq_list[seq_index][position]
        raise ValueError(
            f"seqs[{seq_index}] has the IUPAC ambiguity code {char!r} at position {position} and "
            "ambiguous='error'; pass ambiguous='n' (all-zero column) or 'fraction'."
        )

    if ambiguous == "fraction":
        onehot = FRACTION_TABLE[codes].transpose(0, 2, 1)
    else:
        onehot = np.zeros((len(seq_list), N_CHANNELS, expected), dtype=np.float32)
        seq_idx, pos_idx = np.nonzero(tokens < N_CHANNELS)
        onehot[seq_idx, tokens[seq_idx, pos_idx], pos_idx] = 1.0
    return torch.from_numpy(np.ascontiguousarray(onehot)).to(dtype)


def _raise_invalid_character(seq_list: list[str]) -> NoReturn:
    for seq_index, seq in enumerate(seq_list):
        for position, char in enumerate(seq):
            if ord(char) > 255 or TOKEN_TABLE[ord(char)] == TOKEN_INVALID:
                raise ValueError(
                    f"seqs[{seq_index}] has the invalid character {char!r} at position "
                    f"{position}; only A, C, G, T, N and IUPAC codes (any case) are allowed."
                )
    raise AssertionError("unreachable: an invalid byte was flagged but not found")


def check_one_hot(
    X: Array, *, name: str = "X", allow_N: bool = True, length: int | None = None
) -> Array:
    """Validate a one-hot batch and return it unchanged.

    Checks: a NumPy array or torch tensor of shape (N, 4, L) with N >= 1 and L >= 1, finite
    values in {0, 1}, and at most one 1 per column (exactly one when ``allow_N=False``).

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        The batch to check.
    name : str
        The parameter name used in error messages.
    allow_N : bool
        Whether all-zero columns (unknown bases) are allowed.
    length : int, optional
        The required sequence length L.

    Returns
    -------
    The input ``X``.

    Raises
    ------
    TypeError, ValueError
        With a message naming ``name``, the expectation and what was received.

    Examples
    --------
    >>> X = check_one_hot(one_hot_encode(["ACGT"]))
    >>> check_one_hot(torch.ones(1, 4, 3))
    Traceback (most recent call last):
    ...
    ValueError: X must have at most one 1 per column (position); column 0 of sequence 0 sums to 4.0.
    """
    if not isinstance(X, (np.ndarray, torch.Tensor)):
        raise TypeError(
            f"{name} must be a numpy.ndarray or torch.Tensor of shape (N, 4, L); "
            f"got {type(X).__name__}. Use cislens.one_hot_encode to build one from strings."
        )
    if X.ndim != 3 or X.shape[1] != N_CHANNELS:
        hint = ""
        if X.ndim == 3 and X.shape[2] == N_CHANNELS:
            hint = " It looks like (N, L, 4): transpose it with X.transpose(1, 2) (torch)."
        elif X.ndim == 2 and X.shape[0] == N_CHANNELS:
            hint = " For a single sequence, add a batch axis: X[None]."
        raise ValueError(
            f"{name} must have shape (N, 4, L) with channels {', '.join(ALPHABET)}; "
            f"got shape {tuple(X.shape)}.{hint}"
        )
    if X.shape[0] == 0 or X.shape[2] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(X.shape)}); pass at least one base.")
    if length is not None and X.shape[2] != length:
        raise ValueError(f"{name} must have length L={length}; got L={X.shape[2]}.")
    values = as_numpy(X)
    if values.dtype == bool:
        values = values.astype(np.int8)
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        seq, _, pos = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(
            f"{name} contains NaN or infinite values (first at sequence {seq}, position {pos})."
        )
    binary = (values == 0) | (values == 1)
    if not binary.all():
        seq, channel, pos = np.argwhere(~binary)[0]
        raise ValueError(
            f"{name} must contain only 0 and 1; sequence {seq}, channel {ALPHABET[channel]}, "
            f"position {pos} is {values[seq, channel, pos]!r}."
        )
    column_sums = values.sum(axis=1)
    if (column_sums > 1).any():
        seq, pos = np.argwhere(column_sums > 1)[0]
        raise ValueError(
            f"{name} must have at most one 1 per column (position); column {pos} of sequence "
            f"{seq} sums to {float(column_sums[seq, pos])}."
        )
    if not allow_N and (column_sums == 0).any():
        seq, pos = np.argwhere(column_sums == 0)[0]
        raise ValueError(
            f"{name} must not contain unknown bases (all-zero columns); sequence {seq} has one "
            f"at position {pos}. Replace N bases or pass sequences without them."
        )
    return X


def tokens_from_one_hot(X: Array) -> np.ndarray:
    """Return (N, L) uint8 tokens: 0..3 for A, C, G, T and 4 for an all-zero column (N).

    Examples
    --------
    >>> tokens_from_one_hot(one_hot_encode(["ACGTN"])).tolist()
    [[0, 1, 2, 3, 4]]
    """
    values = as_numpy(X)
    tokens = values.argmax(axis=1).astype(np.uint8)
    tokens[values.sum(axis=1) == 0] = TOKEN_N
    return tokens


def one_hot_from_tokens(tokens: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Inverse of :func:`tokens_from_one_hot`: (N, L) tokens -> (N, 4, L) one-hot (NumPy).

    Examples
    --------
    >>> one_hot_from_tokens(np.array([[0, 4]]))[0].tolist()
    [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    """
    tokens = np.asarray(tokens)
    eye = np.concatenate([np.eye(N_CHANNELS, dtype=dtype), np.zeros((1, N_CHANNELS), dtype)])
    return np.ascontiguousarray(eye[tokens].transpose(0, 2, 1))


def decode(X: Array) -> list[str]:
    """Decode a one-hot batch (N, 4, L) into strings; an all-zero column becomes "N".

    Examples
    --------
    >>> decode(one_hot_encode(["ACGTN", "ttgca"]))
    ['ACGTN', 'TTGCA']
    """
    check_one_hot(X)
    tokens = tokens_from_one_hot(X)
    letters = _DECODE_LETTERS[tokens]
    return [row.tobytes().decode("ascii") for row in letters]


def reverse_complement(X: Array) -> str | list[str] | Array:
    """Reverse-complement a one-hot batch (N, 4, L), a string, or a list of strings.

    For one-hot input this flips the channel and length axes (ACGT order makes the complement a
    channel reversal); NumPy in, NumPy out; torch in, torch out. Strings keep their case and
    complement IUPAC codes too.

    Examples
    --------
    >>> reverse_complement("AACGTn")
    'nACGTT'
    >>> decode(reverse_complement(one_hot_encode(["AACG"])))
    ['CGTT']
    """
    if isinstance(X, str):
        return X.translate(STRING_COMPLEMENT)[::-1]
    if isinstance(X, (list, tuple)) and all(isinstance(s, str) for s in X):
        return [s.translate(STRING_COMPLEMENT)[::-1] for s in X]
    if isinstance(X, torch.Tensor):
        if X.ndim != 3 or X.shape[1] != N_CHANNELS:
            raise ValueError(f"X must have shape (N, 4, L); got {tuple(X.shape)}.")
        return X.flip(1, 2)
    values = np.asarray(X)
    if values.ndim != 3 or values.shape[1] != N_CHANNELS:
        raise ValueError(f"X must have shape (N, 4, L); got {tuple(values.shape)}.")
    return like_input(values[:, ::-1, ::-1].copy(), X)


__all__ = [
    "check_one_hot",
    "decode",
    "one_hot_encode",
    "one_hot_from_tokens",
    "reverse_complement",
    "tokens_from_one_hot",
]
