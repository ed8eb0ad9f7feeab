"""Mononucleotide shuffles of one-hot DNA, and the plumbing shared with the dinucleotide shuffle.

:func:`shuffle` permutes the bases of each sequence uniformly at random, an independent
permutation per sequence and per shuffle (tangermeme's ``ersatz.shuffle`` applies one shared
permutation to the whole batch, which makes a poor null). It keeps each sequence's base counts
and nothing else.

The private helpers here (argument checks, the token -> one-hot writer, the output type rule) are
also used by :mod:`cislens.shuffle.dinucleotide`, so both shuffles validate and return alike.

Seeding rule (both shuffles): shuffle ``j`` of a sequence is drawn from its own xoshiro256**
stream seeded with ``derive_seed(resolve_seed(random_state), hash(tokens), j)``, where ``hash``
is a 64-bit hash of the sequence's tokens. A sequence's shuffles therefore do not depend on its
position in the batch, on the other sequences, on chunking, or on ``n`` (the first ``k`` of
``n=20`` shuffles equal the ``n=k`` shuffles); identical sequences get identical shuffles.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from cislens.sequence.onehot import check_one_hot, tokens_from_one_hot
from cislens.shuffle._prng import hash_tokens, permute_inplace, seed_for, seed_state
from cislens.utils.random import resolve_seed
from cislens.utils.threads import torch_threads_kept
from cislens.utils.types import Array, RandomState
from cislens.utils.validation import check_positive_int

_TOKEN_N = 4


# ----------------------------------------------------------------------------------------------
# Shared argument checks and output conversion
# ----------------------------------------------------------------------------------------------


def _check_n(n, *, name: str = "n") -> int:
    """Return ``n`` as an int after checking it is a positive integer."""
    return check_positive_int(
        n, name, detail=" (the number of shuffles per sequence)", fix=f"Pass for example {name}=20."
    )


def _window_index(value, name: str, default: int, length: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int or None; got {type(value).__name__} {value!r}. "
            f"Pass an integer position (Python slice semantics) or None."
        )
    index = int(value)
    if index < 0:
        index += length
    if not 0 <= index <= length:
        raise ValueError(
            f"{name} must lie in [-L, L] = [{-length}, {length}] for sequences of length "
            f"L={length}; got {name}={value}. Pass a position inside the sequence, or None "
            f"for the {'start' if name == 'start' else 'end'} of the sequence."
        )
    return index


def _resolve_window(start, end, length: int) -> tuple[int, int]:
    """Resolve ``start``/``end`` (Python slice semantics, negatives count from the end)."""
    lo = _window_index(start, "start", 0, length)
    hi = _window_index(end, "end", length, length)
    if lo >= hi:
        raise ValueError(
            f"start must be less than end so that the window [start, end) is not empty; got "
            f"start={start}, end={end} (positions {lo} and {hi} for L={length}). Pass "
            f"start < end, or None for both to shuffle whole sequences."
        )
    return lo, hi


def _prepare(X, n, random_state, start, end):
    """Validate the shared arguments; return (tokens, n, base_seed as uint64, lo, hi)."""
    check_one_hot(X, name="X")
    n = _check_n(n)
    tokens = np.ascontiguousarray(tokens_from_one_hot(X))
    lo, hi = _resolve_window(start, end, tokens.shape[1])
    base_seed = np.uint64(resolve_seed(random_state))
    return tokens, n, base_seed, lo, hi


@njit(parallel=True, cache=True)
def _write_one_hot(tokens, out):
    """Set ``out[i, j, t, k] = 1`` for every token ``t = tokens[i, j, k] < 4`` (out is zeros)."""
    for i in prange(tokens.shape[0]):
        for j in range(tokens.shape[1]):
            for k in range(tokens.shape[2]):
                t = tokens[i, j, k]
                if t < _TOKEN_N:
                    out[i, j, t, k] = 1.0


def _output_from_tokens(tokens: np.ndarray, X):
    """(N, n, L) tokens -> (N, n, 4, L) one-hot of the same type as ``X``.

    The dtype is ``X``'s floating dtype, or float32 when ``X`` is not floating (int, bool).
    Torch output lives on ``X``'s device.
    """
    shape = (tokens.shape[0], tokens.shape[1], 4, tokens.shape[2])
    if isinstance(X, torch.Tensor):
        dtype = X.dtype if X.is_floating_point() else torch.float32
        np_dtype = np.float64 if dtype == torch.float64 else np.float32
        out = np.zeros(shape, dtype=np_dtype)
        _write_one_hot(tokens, out)
        return torch.from_numpy(out).to(device=X.device, dtype=dtype)
    out_dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.dtype(np.float32)
    np_dtype = np.float64 if out_dtype == np.float64 else np.float32
    out = np.zeros(shape, dtype=np_dtype)
    _write_one_hot(tokens, out)
    return out if out.dtype == out_dtype else out.astype(out_dtype)


# ----------------------------------------------------------------------------------------------
# The mononucleotide shuffle
# ----------------------------------------------------------------------------------------------


@njit(parallel=True, cache=True)
def _shuffle_tokens(tokens, n, base_seed, lo, hi):
    """(N, L) tokens -> (N, n, L) tokens, ACGT positions in [lo, hi) permuted per (i, j)."""
    n_seqs, length = tokens.shape
    out = np.empty((n_seqs, n, length), dtype=np.uint8)
    for i in prange(n_seqs):
        row = tokens[i]
        seq_hash = hash_tokens(row)
        state = np.empty(4, dtype=np.uint64)
        positions = np.empty(hi - lo, dtype=np.int64)
        m = 0
        for k in range(lo, hi):
            if row[k] != _TOKEN_N:
                positions[m] = k
                m += 1
        letters = np.empty(m, dtype=np.uint8)
        for j in range(n):
            seed_state(state, seed_for(base_seed, seq_hash, j))
            for a in range(m):
                letters[a] = row[positions[a]]
            permute_inplace(letters, 0, m, state)
            out[i, j, :] = row
            for a in range(m):
                out[i, j, positions[a]] = letters[a]
    return out


def shuffle(
    X: Array,
    *,
    n: int = 20,
    random_state: RandomState = None,
    start: int | None = None,
    end: int | None = None,
) -> Array:
    """Mononucleotide shuffles: permute each sequence's bases uniformly at random.

    Every sequence and every shuffle gets its own independent uniform permutation of the bases
    inside ``[start, end)``; base counts are kept exactly, dinucleotide counts are not (use
    :func:`~cislens.shuffle.dinucleotide_shuffle` for that).

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        One-hot sequences, shape (N, 4, L), channels A, C, G, T; all-zero columns are N.
    n : int
        Number of shuffles per sequence, default 20.
    random_state : int, numpy.random.Generator or None
        Seed. An int is used as the base seed; a Generator contributes one draw; None draws
        fresh entropy (non-reproducible).
    start, end : int, optional
        Shuffle only positions ``[start, end)`` (Python slice semantics; negative values count
        from the end). Positions outside are copied unchanged. Default: the whole sequence.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape (N, n, 4, L), the same type as ``X`` (torch on ``X``'s device); dtype is ``X``'s
        floating dtype, or float32 for integer or boolean input.

    Raises
    ------
    TypeError, ValueError
        ``X`` not a valid one-hot batch (wrong shape, NaN, values other than 0/1); ``n`` not a
        positive int; ``start``/``end`` outside ``[-L, L]`` or ``start >= end``.

    Notes
    -----
    - **N positions stay in place**; only the A/C/G/T positions inside the window are permuted
      among themselves.
    - **Seeding rule**: shuffle ``j`` of a sequence uses a xoshiro256** stream seeded with
      ``derive_seed(resolve_seed(random_state), hash(tokens), j)``, where ``hash`` is a 64-bit
      hash of the sequence's tokens. The output for a sequence therefore does not depend on its
      position in the batch, on the other sequences, on chunking, or on ``n`` (the first ``k``
      shuffles are the same for every ``n >= k``). Identical sequences get identical shuffles.
      No global RNG is touched.

    Examples
    --------
    >>> from cislens import decode, one_hot_encode
    >>> X = one_hot_encode(["AACGTNAC"])
    >>> S = shuffle(X, n=3, random_state=0)
    >>> S.shape
    torch.Size([1, 3, 4, 8])
    >>> [s[5] for s in decode(S[0])]  # the N stays in place
    ['N', 'N', 'N']
    >>> sorted(decode(S[0])[0]) == sorted("AACGTNAC")
    True
    """
    tokens, n, base_seed, lo, hi = _prepare(X, n, random_state, start, end)
    with torch_threads_kept():  # numba's OpenMP layer resets torch's threads
        return _output_from_tokens(_shuffle_tokens(tokens, n, base_seed, lo, hi), X)


__all__ = ["shuffle"]
