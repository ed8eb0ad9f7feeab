"""Shuffled DNA: mononucleotide and uniform dinucleotide shuffles, and attribution references.

- :func:`shuffle` -- independent uniform base permutations per sequence and per shuffle.
- :func:`dinucleotide_shuffle` -- exact-dinucleotide shuffles drawn uniformly (Altschul-Erikson /
  Kandel et al. with a Wilson-sampled last-exit tree), numba-compiled and parallel.
- Reference makers ``(X, n, random_state) -> (N, n, 4, L)`` for DeepLiftShap / IG baselines and
  the :data:`REFERENCES` registry with :func:`get_reference_function`.

All take one-hot (N, 4, L) NumPy arrays or torch tensors and return the same type; N (all-zero)
columns stay in place; shuffles depend only on ``random_state`` and each sequence's content.
"""

from cislens.shuffle.dinucleotide import dinucleotide_shuffle
from cislens.shuffle.mononucleotide import shuffle
from cislens.shuffle.references import (
    REFERENCES,
    dinucleotide_references,
    frequency_references,
    get_reference_function,
    shuffle_references,
    zero_references,
)

__all__ = [
    "REFERENCES",
    "dinucleotide_references",
    "dinucleotide_shuffle",
    "frequency_references",
    "get_reference_function",
    "shuffle",
    "shuffle_references",
    "zero_references",
]
