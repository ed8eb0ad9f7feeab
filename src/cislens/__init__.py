"""cislens: explain what a DNA sequence model has learned about the cis-regulatory code.

One-hot DNA is (N, 4, L) in A, C, G, T order; models map (N, 4, L) -> (N, T); attributions have
the shape of the input. See README.md for a tour and docs/ for the file formats.
"""

from cislens._version import __version__
from cislens.errors import CislensError, CislensWarning, ConfigError, UnsupportedModelError
from cislens.sequence import (
    ALPHABET,
    check_one_hot,
    decode,
    one_hot_encode,
    reverse_complement,
)

__all__ = [
    "ALPHABET",
    "CislensError",
    "CislensWarning",
    "ConfigError",
    "UnsupportedModelError",
    "__version__",
    "check_one_hot",
    "decode",
    "one_hot_encode",
    "reverse_complement",
]
