"""cislens: explain what a DNA sequence model has learned about the cis-regulatory code.

One-hot DNA is (N, 4, L) in A, C, G, T order; models map (N, 4, L) -> (N, T); attributions have
the shape of the input. See README.md for a tour and docs/ for the file formats.
"""

from cislens._version import __version__
from cislens.errors import CislensError, CislensWarning, ConfigError, UnsupportedModelError
from cislens.io import (
    AttributionSet,
    Dataset,
    GroundTruth,
    load_attributions,
    load_dataset,
    save_attributions,
    save_dataset,
)
from cislens.pwm import Motif, read_meme, write_meme
from cislens.sequence import (
    ALPHABET,
    check_one_hot,
    decode,
    one_hot_encode,
    reverse_complement,
)
from cislens.shuffle import dinucleotide_shuffle

__all__ = [
    "ALPHABET",
    "AttributionSet",
    "CislensError",
    "CislensWarning",
    "ConfigError",
    "Dataset",
    "GroundTruth",
    "Motif",
    "UnsupportedModelError",
    "__version__",
    "check_one_hot",
    "decode",
    "dinucleotide_shuffle",
    "load_attributions",
    "load_dataset",
    "one_hot_encode",
    "read_meme",
    "reverse_complement",
    "save_attributions",
    "save_dataset",
    "write_meme",
]
