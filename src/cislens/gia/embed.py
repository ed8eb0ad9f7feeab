"""Patterns and how they are written into background sequences.

A *pattern* is what a GIA experiment embeds. :func:`as_pattern` accepts

- a DNA string of A, C, G, T and N (``"TGACTCA"``); ``N`` keeps the background base there;
- any other motif spec understood by :func:`cislens.pwm.jaspar.load_motif`: a JASPAR TF name
  or matrix ID (``"JUND"``, ``"MA0491.3"``), a MEME file (``"motifs.meme:NAME"``), an IUPAC
  consensus with degenerate letters (``"TGASTCA"``) or a :class:`cislens.pwm.Motif`; these
  embed their consensus, or one PWM sample per background with ``sample=True``;
- a one-hot array (4, W) (all-zero columns keep the background), or (N, 4, W): one pattern per
  background sequence.

Embedding **overwrites** (it does not insert) positions ``[position, position + W)``, as
tangermeme's ``substitute``; the default position centres the pattern:
``L // 2 - W // 2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch

from cislens.pwm.motif import Motif
from cislens.sequence.onehot import check_one_hot
from cislens.utils.arrays import as_numpy, like_input
from cislens.utils.random import resolve_seed
from cislens.utils.types import Array, ArrayLike, RandomState

STRANDS = ("+", "-")
_DNA = {"A": 0, "C": 1, "G": 2, "T": 3}

PatternLike = Union[str, Path, Motif, np.ndarray, torch.Tensor, "EmbedPattern"]
"""What :func:`as_pattern` reads: a DNA string, a motif spec (JASPAR name or ID, MEME file),
a :class:`~cislens.pwm.Motif`, a one-hot array or tensor (4, W), or an :class:`EmbedPattern`."""


@dataclass(frozen=True, eq=False)
class EmbedPattern:
    """A resolved pattern: a name, a fixed one-hot, and the motif it came from (if any).

    ``onehot`` is (4, W) (shared by all backgrounds) or (N, 4, W) (one per background); all-zero
    columns keep the background base. ``motif`` is set for PWM-derived patterns (needed for
    ``sample=True``).
    """

    name: str
    onehot: np.ndarray
    motif: Motif | None = None

    @property
    def width(self) -> int:
        """Number of positions W."""
        return int(self.onehot.shape[-1])

    def instances(
        self, n: int, *, strand: str = "+", sample: bool = False, random_state: RandomState = None
    ) -> np.ndarray:
        """The pattern to write into each of ``n`` backgrounds: (4, W) or (n, 4, W) float32.

        With ``sample=True`` each background gets its own draw from the PWM (reproducible with
        ``random_state``; draw ``i`` does not depend on ``n``).
        """
        check_strand(strand)
        if sample:
            if self.motif is None:
                raise ValueError(
                    f"sample=True needs a PWM, but pattern {self.name!r} is a fixed sequence; "
                    "pass a Motif, a JASPAR name or a MEME file, or use sample=False."
                )
            values = self.motif.sample(n, random_state=resolve_seed(random_state))
        else:
            values = self.onehot
            if values.ndim == 3 and values.shape[0] != n:
                raise ValueError(
                    f"pattern {self.name!r} holds one sequence per background ({values.shape[0]}) "
                    f"but there are {n} backgrounds; pass as many patterns as backgrounds."
                )
        values = np.asarray(values, dtype=np.float32)
        if strand == "-":
            values = values[..., ::-1, ::-1]
        return np.ascontiguousarray(values)


def check_strand(strand) -> str:
    """Validate a strand: "+" or "-"."""
    if strand not in STRANDS:
        raise ValueError(f"strand must be '+' or '-'; got {strand!r}.")
    return strand


def _from_string(text: str, name: str) -> EmbedPattern:
    onehot = np.zeros((4, len(text)), dtype=np.float32)
    for column, char in enumerate(text.upper()):
        if char in _DNA:
            onehot[_DNA[char], column] = 1.0
    return EmbedPattern(text.upper(), onehot)


def as_pattern(pattern: PatternLike, *, name: str = "pattern") -> EmbedPattern:
    """Resolve any accepted pattern spec into a :class:`EmbedPattern`.

    Parameters
    ----------
    pattern : str, Motif, array, tensor or EmbedPattern
        See the module docstring.
    name : str
        The parameter name used in error messages.

    Raises
    ------
    ValueError
        An unknown motif name (the JASPAR loader lists close matches), an empty pattern, or an
        array that is not one-hot (4, W) / (N, 4, W).

    Examples
    --------
    >>> p = as_pattern("TGANTCA")
    >>> p.width, p.onehot[:, 3].tolist()
    (7, [0.0, 0.0, 0.0, 0.0])
    >>> as_pattern(np.eye(4)).name
    'one-hot'
    """
    if isinstance(pattern, EmbedPattern):
        return pattern
    if isinstance(pattern, Motif):
        return EmbedPattern(pattern.name, pattern.consensus_one_hot(), pattern)
    if isinstance(pattern, (str, Path)):
        text = str(pattern).strip()
        if not text:
            raise ValueError(f"{name} must be a non-empty DNA string or motif spec; got {text!r}.")
        if isinstance(pattern, str) and set(text.upper()) <= set("ACGTN"):
            return _from_string(text, name)
        from cislens.pwm.jaspar import load_motif

        try:
            motif = load_motif(pattern)
        except (ValueError, FileNotFoundError, TypeError) as error:
            raise ValueError(f"{name} {text!r} could not be resolved: {error}") from None
        return EmbedPattern(motif.name, motif.consensus_one_hot(), motif)
    if isinstance(pattern, (np.ndarray, torch.Tensor)):
        values = as_numpy(pattern).astype(np.float32)
        if values.ndim == 2:
            check_one_hot(values[None], name=name)
            return EmbedPattern("one-hot", values)
        if values.ndim == 3:
            check_one_hot(values, name=name)
            return EmbedPattern("one-hot", values[0] if values.shape[0] == 1 else values)
        raise ValueError(
            f"{name} as an array must have shape (4, W) or (N, 4, W); got {values.shape}."
        )
    raise TypeError(
        f"{name} must be a DNA string, a motif spec (JASPAR name, MEME file, consensus), a Motif "
        f"or a one-hot array (4, W); got {type(pattern).__name__}."
    )


def default_position(length: int, width: int) -> int:
    """The centring start ``length // 2 - width // 2`` (tangermeme's convention)."""
    return length // 2 - width // 2


def check_position(position, *, width: int, length: int, name: str = "position", label="pattern"):
    """Validate that ``[position, position + width)`` lies inside a sequence of ``length``."""
    if width > length:
        raise ValueError(
            f"{label} is {width} bp, longer than the backgrounds ({length} bp); use longer "
            "backgrounds or a shorter pattern."
        )
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
        raise TypeError(f"{name} must be an int start (0-based); got {position!r}.")
    if not 0 <= position <= length - width:
        raise ValueError(
            f"{name} must be in [0, {length - width}] for a {width} bp {label} in {length} bp "
            f"backgrounds (the pattern must end by the last base); got {position}. Move it "
            "inside the sequence."
        )
    return int(position)


def write(X: np.ndarray, values: np.ndarray, position: int) -> None:
    """Overwrite ``X[:, :, position:position + W]`` in place with ``values``, keeping N columns.

    ``values`` is (4, W) or (N, 4, W); all-zero columns of ``values`` leave ``X`` unchanged.
    """
    width = values.shape[-1]
    window = X[:, :, position : position + width]
    keep = values.sum(axis=-2, keepdims=True) == 0
    window[...] = np.where(keep, window, values)


def embed(
    X: ArrayLike,
    pattern: PatternLike,
    *,
    position: int | None = None,
    strand: str = "+",
    sample: bool = False,
    random_state: RandomState = None,
) -> Array:
    """Write ``pattern`` into every sequence of ``X`` (a copy), overwriting its bases.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        Background one-hot sequences (N, 4, L).
    pattern : str, Motif, array or EmbedPattern
        What to embed (see :func:`as_pattern`): a DNA string, a motif spec, or a one-hot (4, W)
        or (N, 4, W).
    position : int, optional
        0-based start; default None centres the pattern (``L // 2 - W // 2``).
    strand : {"+", "-"}
        "-" embeds the reverse complement. Default "+".
    sample : bool
        Embed one PWM sample per background instead of the consensus (needs a PWM). Default
        False.
    random_state : int, numpy.random.Generator or None
        Seed of the PWM samples.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        (N, 4, L), the same type as ``X``, float32.

    Raises
    ------
    ValueError
        A pattern longer than the backgrounds, a position off either end, an unknown motif.

    Examples
    --------
    >>> from cislens.sequence import decode, one_hot_encode
    >>> decode(embed(one_hot_encode(["AAAAAAAA"]), "CGNG", position=2))
    ['AACGAGAA']
    >>> decode(embed(one_hot_encode(["AAAAAAAA"]), "CCG", strand="-"))
    ['AAACGGAA']
    """
    check_one_hot(X, name="X")
    values = as_numpy(X).astype(np.float32, copy=True)
    resolved = as_pattern(pattern)
    n, _, length = values.shape
    if position is None:
        check_position(0, width=resolved.width, length=length, label=f"pattern {resolved.name!r}")
        position = default_position(length, resolved.width)
    position = check_position(
        position, width=resolved.width, length=length, label=f"pattern {resolved.name!r}"
    )
    instances = resolved.instances(n, strand=strand, sample=sample, random_state=random_state)
    write(values, instances, position)
    return like_input(values, X)


__all__ = [
    "STRANDS",
    "EmbedPattern",
    "as_pattern",
    "check_position",
    "check_strand",
    "default_position",
    "embed",
    "write",
]
