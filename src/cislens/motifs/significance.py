"""The significance test every reported pattern passes: real patterns versus null patterns.

**Statistic.** For each seqlet of a pattern, the continuous Jaccard similarity of its aligned
L1-normalised ``[hypothetical ; contrib]`` window to the pattern built from the *other* seqlets
(leave-one-out). A real motif's seqlets resemble each other; a cluster of noise does not.

**Null.** The same seqlet windows are read from *null attribution tracks*: inside every seqlet
window, the columns (one-hot and hypothetical together) are randomly permuted, which keeps each
window's bases and contribution magnitudes but destroys their arrangement. These null seqlets go
through the same coarse and fine similarity, density adaptation, Leiden clustering and
aggregation as the real ones (so the null includes the selection effect of clustering), and the
leave-one-out similarities of all null-pattern seqlets are pooled.

**Test.** A pattern is reported when (a) a one-sided Mann-Whitney U test says its seqlets'
similarities exceed the pooled null ones at level ``alpha`` after a Bonferroni correction over
the patterns of the metacluster, and (b) its median similarity is above the null's 95th
percentile (an effect size: at least half of its seqlets look more like their pattern than 95%
of null seqlets look like theirs). Patterns that fail are kept in
``MotifDiscoveryResult.rejected`` with their statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from cislens.motifs.affinity import l1_tracks
from cislens.motifs.aggregate import Pattern, SeqletSource, member_tracks
from cislens.utils.random import check_random_state


def leave_one_out_similarity(onehot: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """Per-seqlet continuous Jaccard similarity to the mean of the other seqlets, (n,).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> motif = rng.normal(size=(1, 4, 10)).astype(np.float32)
    >>> X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (30, 10))].transpose(0, 2, 1)
    >>> same = leave_one_out_similarity(X, np.repeat(motif, 30, axis=0))
    >>> noise = leave_one_out_similarity(X, rng.normal(size=(30, 4, 10)).astype(np.float32))
    >>> bool(same.mean() > noise.mean())
    True
    """
    n = onehot.shape[0]
    if n < 2:
        return np.zeros(n)
    contrib = onehot * hyp
    loo_h = (hyp.sum(axis=0)[None] - hyp) / (n - 1)
    loo_c = (contrib.sum(axis=0)[None] - contrib) / (n - 1)
    a = l1_tracks(hyp, contrib).astype(np.float64)
    b = l1_tracks(loo_h, loo_c).astype(np.float64)
    num = (np.minimum(np.abs(a), np.abs(b)) * np.sign(a) * np.sign(b)).sum(axis=(1, 2))
    den = np.maximum(np.abs(a), np.abs(b)).sum(axis=(1, 2))
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def pattern_seqlet_similarity(source: SeqletSource, pattern: Pattern) -> np.ndarray:
    """:func:`leave_one_out_similarity` of a pattern's seqlets, read from ``source``."""
    onehot, hyp = member_tracks(source, pattern)
    return leave_one_out_similarity(onehot, hyp)


def permuted_source(source, seqlets: pd.DataFrame, *, random_state=None, pad: int | None = None):
    """Null tracks: columns permuted (one-hot and hypothetical together) within each seqlet.

    Only stretches around the seqlets (``pad`` bases on each side, default two seqlet widths)
    are copied (a :class:`cislens.motifs.source.WindowSource` over ``source``), so memory grows
    with the seqlets, not with the input; windows reaching further are read, unpermuted, from
    ``source``. Returns ``(null_source, null_seqlets)`` (the seqlets keep their examples).

    Examples
    --------
    >>> X = np.eye(4, dtype=np.float32)[np.arange(8) % 4].T[None].repeat(2, 0)
    >>> src = SeqletSource(X, X * 2)
    >>> table = pd.DataFrame({"example": [1], "start": [2], "end": [6]})
    >>> null, null_table = permuted_source(src, table, random_state=0, pad=2)
    >>> onehot, _, _ = null.windows([1], np.array([0]), [False], 8)
    >>> bool((onehot[0, :, :2] == X[1, :, :2]).all()), float(onehot[0, :, 2:6].sum())
    (True, 4.0)
    >>> bool((onehot[0, :, 2:6] == X[1, :, 2:6]).all())  # permuted
    False
    """
    from cislens.motifs.source import WindowSource

    rng = check_random_state(random_state)
    table = seqlets.copy()
    if pad is None:
        pad = 2 * int((table["end"] - table["start"]).max()) if len(table) else 0
    length = int(getattr(source, "length", None) or source.X.shape[2])
    null = WindowSource.from_source(source, table, pad=pad, length=length)
    examples = table["example"].to_numpy()
    starts, ends = table["start"].to_numpy(), table["end"].to_numpy()
    segments = null.locate(examples, starts, ends)
    # Same draws, in the same order, as permuting the full rows would take.
    for segment, start, end in zip(segments, starts, ends, strict=True):
        base = null.offsets[segment] - null.lo[segment]
        order = base + start + rng.permutation(end - start)
        null.X[:, base + start : base + end] = null.X[:, order]
        null.H[:, base + start : base + end] = null.H[:, order]
    return null, table


def test_patterns(
    source: SeqletSource, patterns: list[Pattern], null_values: np.ndarray, *, alpha: float = 0.01
) -> tuple[list[Pattern], list[Pattern]]:
    """Split ``patterns`` into (significant, rejected); write the figures into ``stats``."""
    null_values = np.asarray(null_values, dtype=np.float64)
    q95 = float(np.quantile(null_values, 0.95)) if null_values.size else -np.inf
    n_tests = max(len(patterns), 1)
    passed, failed = [], []
    for pattern in patterns:
        values = pattern_seqlet_similarity(source, pattern)
        if null_values.size >= 2 and values.size >= 2:
            p = float(mannwhitneyu(values, null_values, alternative="greater").pvalue)
        else:
            p = 0.0 if null_values.size < 2 else 1.0
        median = float(np.median(values)) if values.size else -np.inf
        pattern.stats.update(
            p_value=p,
            p_adjusted=min(1.0, p * n_tests),
            median_similarity=median,
            null_q95=q95,
            n_null=int(null_values.size),
        )
        significant = p * n_tests <= alpha and median > q95
        pattern.stats["significant"] = bool(significant)
        (passed if significant else failed).append(pattern)
    return passed, failed


__all__ = [
    "leave_one_out_similarity",
    "pattern_seqlet_similarity",
    "permuted_source",
    "test_patterns",
]
