"""The DNA alphabet and its one-hot channel order, defined once for all of cislens.

Channels are A, C, G, T (indices 0, 1, 2, 3). Complementing a base reverses the channel order,
so the reverse complement of a one-hot batch is a flip of both the channel and length axes.
"""

from __future__ import annotations

import numpy as np

ALPHABET = "ACGT"
"""Channel order of every one-hot array in cislens."""

N_CHANNELS = 4

# IUPAC ambiguity codes and the bases each stands for (upper case). "N" stands for any base.
IUPAC_CODES: dict[str, str] = {
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}

_COMPLEMENT_PAIRS = "ACGTRYSWKMBDHVN"
_COMPLEMENT_TARGET = "TGCAYRSWMKVHDBN"
STRING_COMPLEMENT = str.maketrans(
    _COMPLEMENT_PAIRS + _COMPLEMENT_PAIRS.lower(), _COMPLEMENT_TARGET + _COMPLEMENT_TARGET.lower()
)
"""``str.translate`` table complementing bases and IUPAC codes, preserving case."""

# Byte -> token lookup used by the encoder: 0..3 for ACGT, 4 for N, 5 for an IUPAC ambiguity
# code other than N, 255 for anything else (an error).
TOKEN_N = 4
TOKEN_AMBIGUOUS = 5
TOKEN_INVALID = 255


def _build_token_table() -> np.ndarray:
    table = np.full(256, TOKEN_INVALID, dtype=np.uint8)
    for index, base in enumerate(ALPHABET):
        table[ord(base)] = index
        table[ord(base.lower())] = index
    for code in IUPAC_CODES:
        value = TOKEN_N if code == "N" else TOKEN_AMBIGUOUS
        table[ord(code)] = value
        table[ord(code.lower())] = value
    return table


TOKEN_TABLE = _build_token_table()


def _build_fraction_table() -> np.ndarray:
    """Per-byte channel weights for ``ambiguous="fraction"`` (1/k on each of the k bases)."""
    table = np.zeros((256, N_CHANNELS), dtype=np.float32)
    for index, base in enumerate(ALPHABET):
        table[ord(base), index] = table[ord(base.lower()), index] = 1.0
    for code, bases in IUPAC_CODES.items():
        if code == "N":
            continue  # N stays an all-zero column in every mode
        for base in bases:
            weight = 1.0 / len(bases)
            table[ord(code), ALPHABET.index(base)] = weight
            table[ord(code.lower()), ALPHABET.index(base)] = weight
    return table


FRACTION_TABLE = _build_fraction_table()

__all__ = ["ALPHABET", "IUPAC_CODES", "N_CHANNELS", "STRING_COMPLEMENT"]
