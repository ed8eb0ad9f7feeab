"""A tiny PRNG for numba kernels: splitmix64 seeding and xoshiro256**.

The shuffles run inside ``numba.njit`` functions, one stream per (sequence, shuffle) pair, so
they cannot use NumPy's global generator (numba's ``np.random`` is global per thread) and should
not pay for a ``numpy.random.Generator`` per stream. This module holds:

- :func:`seed_for` -- the per-stream seed ``derive_seed(base_seed, sequence_hash, j)``, computed
  exactly like :func:`cislens.utils.random.derive_seed` (a splitmix64 chain), so a stream depends
  only on the user's seed, the sequence's content and the shuffle index;
- :func:`hash_tokens` -- a 64-bit hash (FNV-1a, then a splitmix64 finaliser) of a token row;
- :func:`seed_state` / :func:`next_u64` -- xoshiro256** (Blackman & Vigna, 2018), a 256-bit
  state seeded from four splitmix64 outputs;
- :func:`randbelow` -- an exactly unbiased uniform integer in ``[0, n)`` for ``n < 2**32``
  (Lemire's multiply-and-reject method on the top 32 bits of a draw).

All functions are ``@njit`` and work on ``numpy.uint64`` scalars and a length-4 ``uint64``
state array. Every shift amount and constant is a ``uint64`` so numba never promotes to float.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO32 = np.uint64(1 << 32)
_S1 = np.uint64(1)
_S5 = np.uint64(5)
_S7 = np.uint64(7)
_S9 = np.uint64(9)
_S17 = np.uint64(17)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_S45 = np.uint64(45)
_S64 = np.uint64(64)


@njit(cache=True)
def splitmix64(x):
    """The splitmix64 output function of state ``x`` (the state is advanced before mixing)."""
    z = np.uint64(x) + _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True)
def seed_for(base_seed, sequence_hash, j):
    """``derive_seed(base_seed, sequence_hash, j)`` of :mod:`cislens.utils.random`, in numba."""
    h = splitmix64(np.uint64(base_seed))
    h = splitmix64(h ^ np.uint64(sequence_hash))
    h = splitmix64(h ^ np.uint64(j))
    return h >> _S1


@njit(cache=True)
def hash_tokens(row):
    """64-bit hash of a 1-D ``uint8`` token row (FNV-1a, then splitmix64 of hash xor length)."""
    h = _FNV_OFFSET
    for k in range(row.shape[0]):
        h = (h ^ np.uint64(row[k])) * _FNV_PRIME
    return splitmix64(h ^ np.uint64(row.shape[0]))


@njit(cache=True)
def seed_state(state, seed):
    """Fill the 4-word xoshiro256** ``state`` from ``seed`` with a splitmix64 stream."""
    x = np.uint64(seed)
    for k in range(4):
        state[k] = splitmix64(x)
        x = x + _GOLDEN


@njit(cache=True)
def _rotl(x, k):
    return (x << k) | (x >> (_S64 - k))


@njit(cache=True)
def next_u64(state):
    """Advance xoshiro256** and return its next 64-bit output."""
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    result = _rotl(s1 * _S5, _S7) * _S9
    t = s1 << _S17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, _S45)
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return result


@njit(cache=True)
def randbelow(state, n):
    """A uniform integer in ``[0, n)`` for ``1 <= n < 2**32``, exactly unbiased.

    Lemire (2019), "Fast random integer generation in an interval": multiply a 32-bit draw by
    ``n``, keep the high word, and reject the few low words below ``2**32 mod n``.
    """
    bound = np.uint64(n)
    m = (next_u64(state) >> _S32) * bound
    low = m & _LOW32
    if low < bound:
        threshold = (_TWO32 - bound) % bound
        while low < threshold:
            m = (next_u64(state) >> _S32) * bound
            low = m & _LOW32
    return np.int64(m >> _S32)


@njit(cache=True)
def permute_inplace(values, lo, hi, state):
    """Fisher-Yates shuffle of ``values[lo:hi]`` in place: every permutation equally likely."""
    for k in range(hi - 1, lo, -1):
        r = lo + randbelow(state, k - lo + 1)
        tmp = values[k]
        values[k] = values[r]
        values[r] = tmp


__all__ = [
    "hash_tokens",
    "next_u64",
    "permute_inplace",
    "randbelow",
    "seed_for",
    "seed_state",
    "splitmix64",
]
