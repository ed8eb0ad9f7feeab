"""Information content of ARGMINN filter PFMs: per column, the trimmed core, the separate
informative blocks (:mod:`cislens.argminn.readout` and :mod:`cislens.argminn.units` use them)."""

from __future__ import annotations

import numpy as np


def information_content(pfm: np.ndarray, *, pseudocount: float = 0.001) -> np.ndarray:
    """IC per column (bits): KL divergence of ``pfm`` (4, W) to a uniform background.

    Examples
    --------
    >>> information_content(np.array([[1.0, 0.25], [0, 0.25], [0, 0.25], [0, 0.25]])).round(2)
    array([1.97, 0.  ])
    """
    p = (np.asarray(pfm, dtype=np.float64) + pseudocount) / (1.0 + 4 * pseudocount)
    return (p * np.log2(p / 0.25)).sum(0)


def trim_span(ic, trim_ic: float, *, max_gap: int = 2) -> tuple[int, int]:
    """The informative core ``[start, end)`` of a filter: columns with IC >= ``trim_ic``,
    joined across gaps of at most ``max_gap`` columns, the run with the most total IC.

    A 15 bp filter can hold a motif plus a few informative columns of a neighbour at a fixed
    spacing; keeping the richest run (not first-to-last informative column) keeps the motif.

    Examples
    --------
    >>> trim_span(np.array([0.0, 1.5, 1.8, 0.1, 1.2, 0.0, 0.0, 0.0, 1.9, 0.0]), 0.3)
    (1, 5)
    >>> trim_span(np.zeros(4), 0.3)
    (0, 0)
    """
    keep = np.flatnonzero(np.asarray(ic) >= trim_ic)
    if keep.size == 0:
        return 0, 0
    breaks = np.flatnonzero(np.diff(keep) > max_gap + 1)
    starts = np.concatenate([[keep[0]], keep[breaks + 1]])
    ends = np.concatenate([keep[breaks], [keep[-1]]]) + 1
    totals = [float(np.sum(ic[a:b])) for a, b in zip(starts, ends, strict=True)]
    best = int(np.argmax(totals))
    return int(starts[best]), int(ends[best])


def informative_runs(
    ic, *, gap_ic: float = 0.1, min_length: int = 4, min_mean_ic: float = 1.0
) -> list[tuple[int, int]]:
    """The separate informative blocks ``[start, end)`` of a filter, left to right: runs of
    columns with IC >= ``gap_ic`` bits (a column below it carries no information, a spacer),
    kept when at least ``min_length`` columns long with a mean IC of at least ``min_mean_ic``.

    A filter with two blocks reads two pieces of sequence at a fixed distance: a composite of
    two motifs (SOX2, 1 bp, POU5F1), a gapped motif, or a motif and part of a neighbour.
    Unlike :func:`trim_span`, a one-column spacer splits (weak columns above ``gap_ic`` do not).

    Examples
    --------
    >>> informative_runs(np.array([1.5, 1.8, 1.2, 1.9, 0.02, 1.9, 1.8, 1.7, 1.6]))
    [(0, 4), (5, 9)]
    >>> informative_runs(np.array([1.5, 1.8, 0.2, 1.9, 0.0, 0.0, 1.9, 1.8]))
    [(0, 4)]
    """
    ic = np.asarray(ic, dtype=float)
    keep = np.flatnonzero(ic >= gap_ic)
    if keep.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(keep) > 1)
    starts = np.concatenate([[keep[0]], keep[breaks + 1]])
    ends = np.concatenate([keep[breaks], [keep[-1]]]) + 1
    return [
        (int(a), int(b))
        for a, b in zip(starts, ends, strict=True)
        if b - a >= min_length and ic[a:b].mean() >= min_mean_ic
    ]


__all__ = ["information_content", "informative_runs", "trim_span"]
