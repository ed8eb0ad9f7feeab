"""Null (background) sequences for global importance analysis.

GIA measures ``E_{x ~ null}[f(x with pattern) - f(x)]``; the null decides what "typical
sequence" means. :func:`null_backgrounds` makes every null of the GIA paper
(Koo et al. 2021, ``generate_null_sequence_set``) from observed sequences ``X``:

==========================  ===================================================================
``profile``                 each position drawn independently from the per-position base
                            frequencies of ``X`` (mean one-hot, N columns ignored)
``shuffle``                 sequences of ``X`` with their bases shuffled (mononucleotide)
``dinucleotide_shuffle``    sequences of ``X`` shuffled keeping their dinucleotide counts
``negatives``               unshuffled sequences of ``X`` that ``model`` scores lowest (the
                            bottom ``quantile`` for ``target``): "sampled negatives"
``random``                  i.i.d. bases with GC content ``gc`` (default: that of ``X``, or 0.5)
==========================  ===================================================================

The result is always a float32 ``torch.Tensor`` (n, 4, L) on the CPU, reproducible with
``random_state``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch
from torch import nn

from cislens.attribution.heads import explained_model
from cislens.errors import CislensWarning
from cislens.sequence.onehot import check_one_hot
from cislens.utils.arrays import as_numpy
from cislens.utils.batching import DEFAULT_BATCH_SIZE
from cislens.utils.random import check_random_state, derive_seed, resolve_seed
from cislens.utils.types import ArrayLike, Device, OutputSpec, RandomState, TargetLike
from cislens.utils.validation import check_choice, check_positive_int

logger = logging.getLogger(__name__)

NULLS = ("profile", "shuffle", "dinucleotide_shuffle", "negatives", "random")
"""The null models :func:`null_backgrounds` knows."""

_NEEDS_X = ("profile", "shuffle", "dinucleotide_shuffle", "negatives")


def _check_n(n) -> int:
    return check_positive_int(n, "n", detail=" (number of background sequences)")


def _one_hot(tokens: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1))


def _profile(X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    frequencies = X.sum(axis=0).astype(np.float64)  # (4, L)
    totals = frequencies.sum(axis=0, keepdims=True)
    frequencies = np.where(totals > 0, frequencies / np.where(totals > 0, totals, 1), 0.25)
    cumulative = np.cumsum(frequencies, axis=0)
    draws = rng.random((n, 1, X.shape[2]))
    tokens = np.minimum((draws > cumulative[None]).sum(axis=1), 3)
    return _one_hot(tokens)


def _random(n: int, length: int, gc: float, rng: np.random.Generator) -> np.ndarray:
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return _one_hot(rng.choice(4, size=(n, length), p=p))


def _shuffled(X: np.ndarray, n: int, kind: str, seed: int) -> np.ndarray:
    from cislens.shuffle import dinucleotide_shuffle, shuffle

    maker = shuffle if kind == "shuffle" else dinucleotide_shuffle
    rng = np.random.default_rng(derive_seed(seed, 1))
    repeats = -(-n // X.shape[0])
    if repeats == 1:
        rows = np.sort(rng.choice(X.shape[0], size=n, replace=False))
        return np.asarray(maker(X[rows], n=1, random_state=seed))[:, 0]
    made = np.asarray(maker(X, n=repeats, random_state=seed)).reshape(-1, *X.shape[1:])
    return made[np.sort(rng.choice(made.shape[0], size=n, replace=False))]


def _negatives(X, n, model, target, quantile, batch_size, device, rng) -> np.ndarray:
    from cislens.gia._evaluate import predictions

    if model is None:
        raise ValueError(
            "null 'negatives' needs model= (it keeps the sequences the model scores lowest)."
        )
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], e.g. 0.25; got {quantile}.")
    scores = predictions(model, X, target=target, batch_size=batch_size, device=device)
    if scores.shape[1] != 1:
        raise ValueError(
            f"null 'negatives' ranks sequences by one output, but target={target!r} selects "
            f"{scores.shape[1]}; pass one int target."
        )
    order = np.argsort(scores[:, 0], kind="stable")
    pool = order[: max(1, int(np.floor(quantile * len(order))))]
    if n > pool.size:
        warnings.warn(
            f"null 'negatives': only {pool.size} sequences lie in the lowest {quantile:.0%} of "
            f"{len(order)}; returning {pool.size} backgrounds instead of n={n}. Pass more "
            "sequences or a larger quantile.",
            CislensWarning,
            stacklevel=3,
        )
        n = pool.size
    return X[np.sort(rng.choice(pool, size=n, replace=False))].astype(np.float32)


def _random_null(
    values: np.ndarray | None,
    n: int,
    length: int | None,
    gc: float | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """The "random" null: length from ``X`` or ``length=``, GC from ``X`` or ``gc=``."""
    if values is not None:
        if length is not None and length != values.shape[2]:
            raise ValueError(f"length={length} disagrees with X's length {values.shape[2]}.")
        length = values.shape[2]
    elif length is None:
        raise ValueError("null 'random' needs length= (or X to take the length from).")
    check_positive_int(length, "length")
    if gc is None:
        if values is not None and values.sum() > 0:
            gc = float(values[:, 1:3].sum() / values.sum())
        else:
            gc = 0.5
    if not 0.0 <= gc <= 1.0:
        raise ValueError(f"gc must be a fraction in [0, 1]; got {gc}.")
    return _random(n, int(length), float(gc), rng)


def null_backgrounds(
    kind: str,
    X: ArrayLike | None = None,
    *,
    n: int,
    length: int | None = None,
    model: nn.Module | None = None,
    target: TargetLike = None,
    gc: float | None = None,
    quantile: float = 0.25,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> torch.Tensor:
    """Draw ``n`` background sequences from a null model.

    Parameters
    ----------
    kind : {"profile", "shuffle", "dinucleotide_shuffle", "negatives", "random"}
        The null model (see the module docstring).
    X : array or tensor (M, 4, L), optional
        Observed sequences; required for every kind except "random".
    n : int
        Number of backgrounds. Shuffle nulls draw distinct sequences of ``X`` (several shuffles
        each when ``n > M``).
    length : int, optional
        Sequence length for "random" without ``X``.
    model : torch.nn.Module, optional
        Scores ``X`` for "negatives".
    target : int or callable, optional
        The output that ranks ``X`` for "negatives" (None only for a single-output model).
    gc : float, optional
        GC fraction for "random" (default: the GC content of ``X``, else 0.5).
    quantile : float
        "negatives" keeps the lowest-scoring ``quantile`` of ``X`` (default 0.25, the bottom
        quartile); if fewer than ``n`` sequences qualify, all of them are returned with a
        :class:`~cislens.errors.CislensWarning`.
    batch_size : int
        Forward-pass rows for "negatives" (default 256).
    device : str, torch.device or None
        Device for "negatives" (None: auto).
    random_state : int, numpy.random.Generator or None
        Seed.
    output, input_layout
        How "negatives" reads ``model`` when it does not map (N, 4, L) to one (N, T) tensor,
        as in :func:`cislens.gia.marginalize`.

    Returns
    -------
    torch.Tensor
        (n, 4, L) float32 one-hot on the CPU.

    Examples
    --------
    >>> bg = null_backgrounds("random", n=3, length=10, gc=1.0, random_state=0)
    >>> bg.shape, float(bg[:, [1, 2]].sum())
    (torch.Size([3, 4, 10]), 30.0)
    >>> from cislens.sequence import one_hot_encode
    >>> X = one_hot_encode(["ACGTACGTAC", "AAAACCCCGG"])
    >>> null_backgrounds("dinucleotide_shuffle", X, n=4, random_state=0).shape
    torch.Size([4, 4, 10])
    """
    check_choice(kind, NULLS, name="kind")
    n = _check_n(n)
    seed = resolve_seed(random_state)
    rng = check_random_state(derive_seed(seed, 0))
    values: np.ndarray | None = None
    if X is not None:
        check_one_hot(X, name="X")
        values = as_numpy(X).astype(np.float32)
    if kind == "random":
        out = _random_null(values, n, length, gc, rng)
    elif values is None:
        raise ValueError(
            f"null {kind!r} is built from observed sequences: pass X (M, 4, L); only 'random' "
            "works without them."
        )
    elif kind == "profile":
        out = _profile(values, n, rng)
    elif kind in ("shuffle", "dinucleotide_shuffle"):
        out = _shuffled(values, n, kind, seed)
    else:  # "negatives"
        if model is not None:
            model = explained_model(model, output=output, input_layout=input_layout)
        out = _negatives(values, n, model, target, quantile, batch_size, device, rng)
    logger.info("null %s: %d backgrounds of length %d", kind, out.shape[0], out.shape[2])
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


__all__ = ["NULLS", "null_backgrounds"]
