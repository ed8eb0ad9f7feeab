"""From clusters of seqlets to patterns: alignment, CWM / hCWM / PFM, trimming, merging.

A cluster becomes a :class:`Pattern` in four steps (:func:`aggregate_seqlets`):

1. **Seed.** The seqlet with the largest total ``|contribution|``.
2. **Align.** Every seqlet is aligned to the seed (continuous Jaccard of the L1-normalised
   ``[hypothetical ; contrib]`` tracks over all offsets with at least ``min_overlap`` of the
   seqlet overlapping, both strands unless ``revcomp=False``), then realigned once to the
   average of that first alignment. Each aligned seqlet is re-read from its sequence over the
   whole pattern frame (positions that fall off the sequence are masked), so patterns can grow
   past the seqlet flanks.
3. **Average.** Per position, over the seqlets covering it: the PFM (mean one-hot), the CWM
   (mean projected contribution) and the hCWM (mean hypothetical contribution).
4. **Trim.** Ends covered by fewer than ``support_frac`` of the seqlets are cut; then the
   ``trim_width``-bp window with the largest summed information content of the PFM (KL against
   the metacluster's base composition, in bits) is kept. Seqlets whose final window leaves their
   sequence are dropped from the pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cislens.motifs.affinity import align_to_target, l1_tracks, min_overlap_positions

if TYPE_CHECKING:  # annotations only: imported where used, when used
    from cislens.pwm.motif import Motif

PATTERN_SEQLET_COLUMNS = ("example", "start", "end", "strand")


@dataclass(eq=False)
class Pattern:
    """A motif pattern: its seqlets, aligned, and their averages.

    Attributes
    ----------
    name : str
        ``"pos_0"``, ``"neg_1"``, ... (metacluster and rank by seqlet count).
    sequence : array (4, W)
        PFM: per-position base frequencies of the aligned seqlets (columns sum to 1).
    contrib : array (4, W)
        CWM: mean projected contribution.
    hypothetical : array (4, W)
        hCWM: mean hypothetical contribution.
    seqlets : pandas.DataFrame
        One row per seqlet: ``example``, ``start``, ``end`` (the pattern's window in the
        sequence, end exclusive, width W) and ``strand`` ("-": the pattern reads the reverse
        complement of the window).
    metacluster : str
        "pos" or "neg".
    stats : dict
        Significance and instance-calling figures (``p_value``, ``median_similarity``,
        ``null_q95``, ``similarity_threshold``, ``contribution_threshold``, ...).
    """

    name: str
    sequence: np.ndarray
    contrib: np.ndarray
    hypothetical: np.ndarray
    seqlets: pd.DataFrame
    metacluster: str = "pos"
    stats: dict = field(default_factory=dict)

    @property
    def n_seqlets(self) -> int:
        """The number of seqlets."""
        return len(self.seqlets)

    @property
    def width(self) -> int:
        """Pattern width W."""
        return int(self.sequence.shape[1])

    @property
    def sign(self) -> int:
        """+1 for the positive metacluster, -1 for the negative one."""
        return 1 if self.metacluster == "pos" else -1

    def information_content(
        self, background: Sequence[float] = (0.25, 0.25, 0.25, 0.25)
    ) -> np.ndarray:
        """Per-position information content of the PFM in bits, (W,)."""
        return information_content(self.sequence, background)

    def trim_bounds(self, threshold: float = 0.3) -> tuple[int, int]:
        """``(start, end)`` of the positions with ``sum_b |CWM| >= threshold * max``."""
        energy = np.abs(self.contrib).sum(axis=0)
        keep: np.ndarray | list = (
            np.flatnonzero(energy >= threshold * energy.max()) if energy.max() > 0 else []
        )
        if len(keep) == 0:
            return 0, self.width
        return int(keep[0]), int(keep[-1] + 1)

    def to_motif(
        self, *, kind: str = "pfm", trim: float | None = 0.3, pseudocount: float = 1e-3
    ) -> Motif:
        """The pattern as a :class:`cislens.pwm.Motif`.

        ``kind``: "pfm" (base frequencies), "cwm-pfm" (softmax of the CWM), "hcwm-pfm" (softmax
        of the hCWM). ``trim``: keep the positions with CWM energy >= trim x max (None: all).
        """
        from cislens.pwm import Motif

        start, end = self.trim_bounds(trim) if trim is not None else (0, self.width)
        if kind == "pfm":
            matrix = self.sequence + pseudocount
        elif kind in ("cwm-pfm", "hcwm-pfm"):
            values = (self.contrib if kind == "cwm-pfm" else self.hypothetical) * self.sign
            matrix = np.exp(values - values.max(axis=0, keepdims=True))
        else:
            raise ValueError(f"kind must be 'pfm', 'cwm-pfm' or 'hcwm-pfm'; got {kind!r}.")
        matrix = matrix[:, start:end]
        return Motif(self.name, matrix / matrix.sum(axis=0), source="cislens.motifs")

    def __repr__(self) -> str:
        from cislens.sequence.alphabet import ALPHABET

        start, end = self.trim_bounds()
        consensus = "".join(ALPHABET[i] for i in self.sequence[:, start:end].argmax(axis=0))
        return (
            f"Pattern({self.name!r}, n_seqlets={self.n_seqlets}, width={self.width}, "
            f"core={consensus!r})"
        )


def information_content(pfm, background=(0.25, 0.25, 0.25, 0.25), pseudocount=1e-3):
    """``sum_b p_b log2(p_b / bg_b)`` per column of a (4, W) frequency matrix.

    Examples
    --------
    >>> information_content(np.array([[1.0, 0.25], [0, 0.25], [0, 0.25], [0, 0.25]])).round(2)
    array([1.97, 0.  ])
    """
    p = np.asarray(pfm, dtype=np.float64) + pseudocount
    p = p / p.sum(axis=0, keepdims=True)
    bg = np.asarray(background, dtype=np.float64)[:, None]
    return (p * np.log2(p / bg)).sum(axis=0)


@dataclass
class SeqletSource:
    """The arrays patterns are read from: one-hot X (N, 4, L) and hypothetical H (N, 4, L)."""

    X: np.ndarray
    H: np.ndarray

    def windows(self, example, gstart, rc, width):
        """Aligned windows: one-hot, hypothetical (n, 4, width) and coverage mask (n, width)."""
        example = np.asarray(example, dtype=np.int64)
        length = self.X.shape[2]
        steps = np.arange(width)
        positions = np.where(
            np.asarray(rc)[:, None], gstart[:, None] + width - 1 - steps, gstart[:, None] + steps
        )
        mask = (positions >= 0) & (positions < length)
        clipped = np.clip(positions, 0, length - 1)
        rows = example[:, None]
        onehot = self.X[rows, :, clipped].transpose(0, 2, 1)  # (n, 4, width)
        hyp = self.H[rows, :, clipped].transpose(0, 2, 1)
        return (*oriented(onehot, hyp, np.asarray(rc, dtype=bool), mask), mask)


def oriented(onehot, hyp, flip, mask):
    """Windows read at their positions, as new float32 arrays: channels of the ``flip`` rows
    reversed (the reverse complement), positions outside the sequence (``~mask``) zeroed.

    The reversal and the masking are skipped when no row needs them (multiplying by a mask of
    ones and taking the unflipped branch change nothing), so the usual case makes one copy of
    each array instead of three: discovery reads windows for tens of thousands of seqlets.
    The copies keep the memory layout of the gathered values (``astype``'s order "K"), as the
    three copies did, so sums over them add in the same order.
    """
    if flip.any():
        onehot = np.where(flip[:, None, None], onehot[:, ::-1], onehot)
        hyp = np.where(flip[:, None, None], hyp[:, ::-1], hyp)
    if not mask.all():
        onehot = onehot * mask[:, None]
        hyp = hyp * mask[:, None]
    return onehot.astype(np.float32), hyp.astype(np.float32)


def _means(onehot, hyp, mask):
    coverage = mask.sum(axis=0).astype(np.float64)
    denominator = np.maximum(coverage, 1.0)
    pfm = onehot.sum(axis=0) / denominator
    cwm = (onehot * hyp).sum(axis=0) / denominator
    hcwm = hyp.sum(axis=0) / denominator
    return pfm, cwm, hcwm, coverage


def _place(seqlet_start, seqlet_width, offset, rc, frame_width):
    """Genomic start of a frame of width F given a seqlet placed at ``offset`` in the frame."""
    return np.where(rc, seqlet_start + seqlet_width - frame_width + offset, seqlet_start - offset)


def aggregate_seqlets(
    source: SeqletSource,
    seqlets: pd.DataFrame,
    data: np.ndarray,
    *,
    name: str = "pattern",
    metacluster: str = "pos",
    min_overlap: float = 0.7,
    revcomp: bool = True,
    support_frac: float = 0.2,
    trim_width: int = 30,
    background=(0.25, 0.25, 0.25, 0.25),
) -> Pattern | None:
    """Align the seqlets of one cluster and average them into a :class:`Pattern`.

    Parameters
    ----------
    source : SeqletSource
        The one-hot and hypothetical arrays the seqlets come from.
    seqlets : pandas.DataFrame
        Columns ``example``, ``start``, ``end`` (all of one width W0) and ``score``.
    data : array (n, 8, W0)
        Their L1-normalised ``[hypothetical ; contrib]`` tracks (:func:`l1_tracks`).
    min_overlap, revcomp, support_frac, trim_width, background
        See the module docstring.

    Returns
    -------
    Pattern or None
        None when no seqlet is left after trimming.
    """
    n = len(seqlets)
    if n == 0:
        return None
    starts = seqlets["start"].to_numpy(np.int64)
    width0 = int(seqlets["end"].iloc[0] - seqlets["start"].iloc[0])
    examples = seqlets["example"].to_numpy(np.int64)
    seed = int(np.argmax(np.abs(seqlets["score"].to_numpy())))
    target = data[seed]
    for _ in range(2):  # align to the seed, then once more to the average of that alignment
        _, offset, rc = align_to_target(target, data, min_overlap=min_overlap, revcomp=revcomp)
        lo, hi = int(offset.min()), int((offset + width0).max())
        offset = offset - lo
        frame = hi - lo
        gstart = _place(starts, width0, offset, rc, frame)
        onehot, hyp, mask = source.windows(examples, gstart, rc, frame)
        pfm, cwm, hcwm, coverage = _means(onehot, hyp, mask)
        supported = np.flatnonzero(coverage >= max(support_frac * n, 1.0))
        first, last = int(supported[0]), int(supported[-1] + 1)
        target = l1_tracks(hcwm[None, :, first:last], cwm[None, :, first:last])[0]
    # Trim: supported region, then the IC-best window.
    ic = information_content(pfm[:, first:last], background)
    window = min(trim_width, last - first)
    sums = np.convolve(ic, np.ones(window), mode="valid")
    best = first + int(np.argmax(sums))
    final_start, final_width = best, window
    new_gstart = np.where(rc, gstart + frame - final_start - final_width, gstart + final_start)
    onehot, hyp, mask = source.windows(examples, new_gstart, rc, final_width)
    inside = mask.all(axis=1)
    key = pd.Series(examples * 10_000_019 + new_gstart)
    unique = ~key.duplicated().to_numpy()
    keep = inside & unique
    if not keep.any():
        return None
    onehot, hyp, mask = onehot[keep], hyp[keep], mask[keep]
    pfm, cwm, hcwm, _ = _means(onehot, hyp, mask)
    table = pd.DataFrame(
        {
            "example": examples[keep],
            "start": new_gstart[keep],
            "end": new_gstart[keep] + final_width,
            "strand": np.where(rc[keep], "-", "+"),
        }
    )
    pattern = Pattern(name, pfm, cwm, hcwm, table, metacluster=metacluster)
    pattern.stats["source_rows"] = seqlets.index.to_numpy()[keep]
    return pattern


def pattern_tracks(pattern: Pattern) -> np.ndarray:
    """L1-normalised ``[hCWM ; CWM]`` of a pattern: (8, W)."""
    return l1_tracks(pattern.hypothetical[None], pattern.contrib[None])[0]


def pattern_similarity(
    a: Pattern, b: Pattern, *, min_overlap: float = 0.7, revcomp: bool = True, trim: float = 0.3
) -> float:
    """Similarity of two patterns: the core of one aligned within the other, best of both ways.

    The core of a pattern (its positions with ``sum_b |CWM| >= trim x max``) slides along the
    other pattern's whole ``[hCWM ; CWM]`` track (at least ``min_overlap`` of the core
    overlapping, both strands unless ``revcomp=False``); the continuous Jaccard similarity of the
    best alignment is taken, and the larger of the two directions is returned. Using cores keeps
    the flanks (which are noise) from diluting the similarity.
    """
    best = -1.0
    for x, y in ((a, b), (b, a)):
        start, end = x.trim_bounds(trim)
        core = pattern_tracks(x)[:, start:end]
        sim, _, _ = align_to_target(
            pattern_tracks(y), core[None], min_overlap=min_overlap, revcomp=revcomp
        )
        best = max(best, float(sim[0]))
    return best


def member_tracks(source: SeqletSource, pattern: Pattern):
    """One-hot and hypothetical (n, 4, W) windows of a pattern's seqlets, in its orientation."""
    table = pattern.seqlets
    return source.windows(
        table["example"].to_numpy(),
        table["start"].to_numpy(),
        (table["strand"] == "-").to_numpy(),
        pattern.width,
    )[:2]


__all__ = [
    "PATTERN_SEQLET_COLUMNS",
    "Pattern",
    "SeqletSource",
    "aggregate_seqlets",
    "information_content",
    "member_tracks",
    "min_overlap_positions",
    "oriented",
    "pattern_similarity",
    "pattern_tracks",
]
