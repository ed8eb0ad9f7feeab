"""Motif instances: CWM scanning of contribution tracks and FIMO-style PWM scanning.

**CWM scanning** (``method="cwm"``). Each pattern's CWM, trimmed to the positions with
``sum_b |CWM| >= trim x max`` (default 0.3), and its reverse complement slide over the projected
contributions ``X * hypothetical``. For every window two scores are computed:

- ``similarity``: cosine similarity of the window's contributions with the CWM;
- ``contribution``: the window's summed contribution, times the pattern's sign.

A window is a hit when both reach the pattern's thresholds. By default these are the 5%
quantiles of the same two scores over the pattern's own seqlets (computed at discovery time,
``Pattern.stats["similarity_threshold"]`` / ``["contribution_threshold"]``): a hit looks at
least as much like the motif, and carries at least as much importance, as 95% of the seqlets the
pattern was built from. Overlapping hits of one pattern are resolved greedily by similarity.

**PWM scanning** (``method="pwm"``). The patterns' PFMs (trimmed the same way), or any
:class:`cislens.pwm.Motif`, are scanned over the sequences with memelite's FIMO (log-odds
against a uniform background, exact p-values, both strands); hits have ``p_value < p_threshold``
(default 1e-4).

Both return one table with the columns :data:`HIT_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
import torch

from cislens.utils.types import ArrayLike

HIT_COLUMNS = (
    "example",
    "start",
    "end",
    "strand",
    "pattern",
    "score",
    "similarity",
    "contribution",
    "p_value",
)

if TYPE_CHECKING:  # annotations only: imported where used, when used
    from cislens.motifs.aggregate import Pattern
    from cislens.pwm.motif import Motif
"""Hit table columns: example (row of X), start / end (0-based, end exclusive), strand, pattern
(name), score (similarity for CWM hits, log-odds for PWM hits), similarity, contribution (CWM
hits; NaN for PWM hits) and p_value (PWM hits; NaN for CWM hits)."""


def _trimmed_cwm(pattern, trim):
    start, end = pattern.trim_bounds(trim)
    return pattern.contrib[:, start:end] * pattern.sign, start, end


def seqlet_scores(source, pattern, *, trim: float = 0.3):
    """Similarity and contribution of a pattern's own seqlets at their aligned positions."""
    from cislens.motifs.aggregate import member_tracks

    onehot, hyp = member_tracks(source, pattern)
    cwm, start, end = _trimmed_cwm(pattern, trim)
    window = (onehot * hyp)[:, :, start:end] * pattern.sign
    norms = np.linalg.norm(window.reshape(len(window), -1), axis=1) * np.linalg.norm(cwm)
    similarity = (window * cwm).sum(axis=(1, 2)) / np.where(norms > 0, norms, 1.0)
    return similarity, window.sum(axis=(1, 2))


def _scan_cwm(contrib, cwm, chunk=2048):
    """(N, 2, L - w + 1) similarity and contribution for the forward and reverse CWM."""
    weights = torch.as_tensor(np.stack([cwm, cwm[::-1, ::-1].copy()]), dtype=torch.float32)
    width = cwm.shape[1]
    ones = torch.ones(1, 1, width)
    norm_cwm = float(np.linalg.norm(cwm))
    sims, sums = [], []
    for lo in range(0, contrib.shape[0], chunk):
        block = torch.as_tensor(contrib[lo : lo + chunk], dtype=torch.float32)
        dot = torch.nn.functional.conv1d(block, weights)
        energy = torch.nn.functional.conv1d((block**2).sum(1, keepdim=True), ones)
        total = torch.nn.functional.conv1d(block.sum(1, keepdim=True), ones)
        norm = energy.clamp_min(0).sqrt() * norm_cwm
        sims.append((dot / torch.where(norm > 0, norm, torch.ones_like(norm))).numpy())
        sums.append(total.numpy())
    return np.concatenate(sims), np.concatenate(sums)


def _suppress(frame: pd.DataFrame) -> pd.DataFrame:
    """Greedy non-overlapping hits per (example, pattern), best similarity first."""
    keep = []
    frame = frame.sort_values(["example", "pattern", "score"], ascending=[True, True, False])
    for _, group in frame.groupby(["example", "pattern"], sort=False):
        taken: list = []
        for row in group.itertuples():
            if all(row.end <= s or row.start >= e for s, e in taken):
                taken.append((row.start, row.end))
                keep.append(row.Index)
    return frame.loc[keep]


def _empty_hits():
    return pd.DataFrame(
        {
            c: pd.Series(dtype=t)
            for c, t in zip(
                HIT_COLUMNS,
                (
                    "int64",
                    "int64",
                    "int64",
                    "str",
                    "str",
                    "float64",
                    "float64",
                    "float64",
                    "float64",
                ),
                strict=True,
            )
        }
    )


def call_instances(
    patterns: Sequence[Pattern | Motif],
    X: ArrayLike,
    attributions: ArrayLike | None = None,
    *,
    method: str = "cwm",
    trim: float = 0.3,
    similarity_threshold: float | None = None,
    contribution_threshold: float | None = None,
    p_threshold: float = 1e-4,
) -> pd.DataFrame:
    """Call motif instances in sequences.

    Parameters
    ----------
    patterns : list of Pattern (or of Motif for ``method="pwm"``)
        From :func:`discover_motifs` (``result.patterns``).
    X : array (N, 4, L)
        One-hot sequences.
    attributions : array (N, 4, L), optional
        Hypothetical or projected contributions (multiplied by X here, so either works).
        Required for ``method="cwm"``.
    method : {"cwm", "pwm"}
        Contribution-track scanning or FIMO-style sequence scanning (see the module docstring).
    trim : float
        CWM-energy trimming of the patterns (default 0.3).
    similarity_threshold, contribution_threshold : float, optional
        Override the per-pattern thresholds for ``method="cwm"`` (one value for all patterns).
    p_threshold : float
        FIMO p-value threshold for ``method="pwm"`` (default 1e-4).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HIT_COLUMNS`, sorted by example, start.

    Examples
    --------
    >>> from cislens.motifs.aggregate import Pattern
    >>> cwm = np.eye(4, dtype=np.float32)[[0, 1, 2, 3]].T
    >>> p = Pattern("toy", cwm, cwm, cwm, pd.DataFrame(), stats={
    ...     "similarity_threshold": 0.9, "contribution_threshold": 2.0})
    >>> X = np.zeros((1, 4, 12), dtype=np.float32); X[0, 0, :] = 1
    >>> X[0, :, 5:9] = cwm
    >>> hits = call_instances([p], X, X)
    >>> hits[["start", "end", "strand"]].values.tolist()
    [[5, 9, '+']]
    """
    X = np.asarray(getattr(X, "numpy", lambda: X)(), dtype=np.float32)
    if X.ndim != 3 or X.shape[1] != 4:
        raise ValueError(f"X must be (N, 4, L) one-hot; got shape {X.shape}.")
    if method not in ("cwm", "pwm"):
        raise ValueError(f"method must be 'cwm' or 'pwm'; got {method!r}.")
    patterns = list(patterns)
    if method == "pwm":
        return _call_pwm(patterns, X, trim=trim, p_threshold=p_threshold)
    if attributions is None:
        raise ValueError(
            "method='cwm' scans contribution tracks: pass attributions (N, 4, L), "
            "or use method='pwm' to scan the sequence alone."
        )
    attributions = np.asarray(
        getattr(attributions, "numpy", lambda: attributions)(), dtype=np.float32
    )
    if attributions.shape != X.shape:
        raise ValueError(
            f"attributions must have the shape of X {X.shape}; got {attributions.shape}."
        )
    contrib = attributions * X
    frames = []
    # method="cwm" takes Patterns (their CWMs and instance thresholds); Motifs are for "pwm"
    for pattern in cast("list[Pattern]", patterns):
        sim_thr = (
            similarity_threshold
            if similarity_threshold is not None
            else pattern.stats.get("similarity_threshold")
        )
        con_thr = (
            contribution_threshold
            if contribution_threshold is not None
            else pattern.stats.get("contribution_threshold")
        )
        if sim_thr is None or con_thr is None:
            raise ValueError(
                f"pattern {pattern.name!r} has no instance thresholds (patterns from "
                "discover_motifs have them); pass similarity_threshold and "
                "contribution_threshold."
            )
        cwm, _, _ = _trimmed_cwm(pattern, trim)
        sims, sums = _scan_cwm(contrib * pattern.sign, cwm)
        ex, strand, pos = np.nonzero((sims >= sim_thr) & (sums >= con_thr))
        width = cwm.shape[1]
        frames.append(
            pd.DataFrame(
                {
                    "example": ex.astype(np.int64),
                    "start": pos.astype(np.int64),
                    "end": (pos + width).astype(np.int64),
                    "strand": np.where(strand == 0, "+", "-"),
                    "pattern": pattern.name,
                    "score": sims[ex, strand, pos].astype(np.float64),
                    "similarity": sims[ex, strand, pos].astype(np.float64),
                    "contribution": sums[ex, 0, pos].astype(np.float64) * 1.0,
                    "p_value": np.nan,
                }
            )
        )
    hits = pd.concat(frames, ignore_index=True) if frames else _empty_hits()
    if hits.empty:
        return _empty_hits()
    hits = _suppress(hits)
    return hits.sort_values(["example", "start", "pattern"]).reset_index(drop=True)[
        list(HIT_COLUMNS)
    ]


def _call_pwm(patterns, X, *, trim, p_threshold):
    from memelite import fimo

    from cislens.pwm import Motif

    motifs = {}
    for item in patterns:
        motif = item if isinstance(item, Motif) else item.to_motif(kind="pfm", trim=trim)
        motifs[getattr(item, "name", motif.name)] = np.asarray(motif.probabilities)
    if not motifs:
        return _empty_hits()
    found = fimo(motifs, X, threshold=p_threshold)
    frames = [f for f in found if len(f)]
    if not frames:
        return _empty_hits()
    raw = pd.concat(frames, ignore_index=True)
    hits = pd.DataFrame(
        {
            "example": raw["sequence_name"].astype(np.int64),
            "start": raw["start"].astype(np.int64),
            "end": raw["end"].astype(np.int64),
            "strand": raw["strand"].astype(str),
            "pattern": raw["motif_name"].astype(str),
            "score": raw["score"].astype(np.float64),
            "similarity": np.nan,
            "contribution": np.nan,
            "p_value": raw["p-value"].astype(float),
        }
    )
    hits = _suppress(hits)
    return hits.sort_values(["example", "start", "pattern"]).reset_index(drop=True)[
        list(HIT_COLUMNS)
    ]


def instance_recovery(
    hits: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    motifs: Sequence[str] | None = None,
    min_overlap: float = 0.5,
) -> pd.DataFrame:
    """Precision and recall of hits against recorded instances, per motif.

    A hit and a true instance match when they are in the same sequence, name the same motif
    (``hits["motif"]`` versus ``truth["motif"]``) and overlap by at least ``min_overlap`` of the
    shorter of the two. Both tables need ``sequence``, ``start``, ``end`` and ``motif``.

    Examples
    --------
    >>> hits = pd.DataFrame({"sequence": [0, 0], "start": [10, 50], "end": [20, 60],
    ...                      "motif": ["A", "A"]})
    >>> truth = pd.DataFrame({"sequence": [0], "start": [12], "end": [22], "motif": ["A"]})
    >>> instance_recovery(hits, truth)[["precision", "recall"]].values.tolist()
    [[0.5, 1.0]]
    """
    motifs = sorted(set(truth["motif"]) | set(hits["motif"])) if motifs is None else motifs
    rows = []
    for motif in motifs:
        h = hits[hits["motif"] == motif]
        t = truth[truth["motif"] == motif]
        merged = h.reset_index().merge(t.reset_index(), on="sequence", suffixes=("_h", "_t"))
        overlap = np.minimum(merged["end_h"], merged["end_t"]) - np.maximum(
            merged["start_h"], merged["start_t"]
        )
        shorter = np.minimum(
            merged["end_h"] - merged["start_h"], merged["end_t"] - merged["start_t"]
        )
        ok = merged[overlap >= min_overlap * shorter]
        tp_hits = ok["index_h"].nunique()
        tp_truth = ok["index_t"].nunique()
        rows.append(
            {
                "motif": motif,
                "n_hits": len(h),
                "n_true": len(t),
                "precision": tp_hits / len(h) if len(h) else np.nan,
                "recall": tp_truth / len(t) if len(t) else np.nan,
            }
        )
    return pd.DataFrame(rows)


__all__ = ["HIT_COLUMNS", "call_instances", "instance_recovery", "seqlet_scores"]
