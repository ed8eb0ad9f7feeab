"""One way to turn ``random_state`` into randomness, and to derive per-item seeds.

Every public function that draws random numbers takes ``random_state: int | numpy.random.Generator
| None`` and resolves it here. cislens never touches the global NumPy, Python or torch RNGs.
"""

from __future__ import annotations

import numpy as np

from cislens.utils.types import RandomState

_MASK64 = (1 << 64) - 1


def check_random_state(random_state: RandomState = None) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for ``random_state``.

    Parameters
    ----------
    random_state : int, numpy.random.Generator or None
        An int seeds a new generator; a Generator is returned as is (so the caller's stream
        advances); None draws fresh entropy from the operating system.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        For anything else (for example a legacy ``numpy.random.RandomState``).

    Examples
    --------
    >>> rng = check_random_state(0)
    >>> int(rng.integers(10)) == int(check_random_state(0).integers(10))
    True
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(
                f"random_state must be a non-negative int; got {random_state}. "
                "Pass a seed >= 0, a numpy.random.Generator, or None."
            )
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be an int, a numpy.random.Generator or None; "
        f"got {type(random_state).__name__}. Pass for example random_state=0."
    )


def check_random_state_arg(random_state) -> None:
    """Validate ``random_state`` for functions that accept it but draw no random numbers.

    Examples
    --------
    >>> check_random_state_arg(None); check_random_state_arg(3)
    >>> check_random_state_arg(-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: random_state must be a non-negative int; got -1. ...
    """
    if random_state is None or isinstance(random_state, np.random.Generator):
        return
    check_random_state(random_state)


def resolve_seed(random_state: RandomState = None) -> int:
    """Turn ``random_state`` into one 63-bit integer seed.

    An int is used as is (so the seed recorded in outputs is the one the user gave); a Generator
    contributes one draw; None draws fresh entropy.

    Examples
    --------
    >>> resolve_seed(7)
    7
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        check_random_state(random_state)  # validates the sign
        return int(random_state)
    rng = check_random_state(random_state)
    return int(rng.integers(0, 2**63 - 1))


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def derive_seed(seed: int, *keys: int) -> int:
    """Derive an independent 63-bit seed from ``seed`` and integer ``keys`` (e.g. an index).

    Used to give each example its own stream, so that results do not depend on batching.

    Examples
    --------
    >>> derive_seed(0, 1) == derive_seed(0, 1)
    True
    >>> derive_seed(0, 1) != derive_seed(0, 2)
    True
    """
    h = _splitmix64(int(seed) & _MASK64)
    for key in keys:
        h = _splitmix64(h ^ (int(key) & _MASK64))
    return h >> 1


__all__ = ["check_random_state", "derive_seed", "resolve_seed"]
