"""Small shared helpers: randomness, devices, array conversion."""

from cislens.utils.arrays import as_numpy, like_input
from cislens.utils.random import check_random_state, derive_seed, resolve_seed

__all__ = ["as_numpy", "check_random_state", "derive_seed", "like_input", "resolve_seed"]
