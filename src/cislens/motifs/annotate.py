"""TOMTOM annotation of patterns against a motif database (memelite's TOMTOM, no MEME binary).

Each query (a :class:`Pattern`'s PFM trimmed to the positions with ``sum_b |CWM| >= trim x max``,
or any :class:`cislens.pwm.Motif`) is compared to every database motif with memelite's TOMTOM
(negated Euclidean column score, complete scoring, both strands). q-values are the
Benjamini-Hochberg adjustment over every (query, database segment) test of the call; the
``n_matches`` best targets of each query are reported. A match is significant at q < 0.05.

Calibration (issue 21)
----------------------
TOMTOM's null treats the target columns an alignment meets as independent draws from all
database columns. Runs of near-uniform columns break that: the 8-10 flat spacer columns of the
long CTCF profiles (MA1929.2, MA1930.2), or the spacers of nuclear-receptor dimers, are close
(in Euclidean distance) to *any* weakly informative query column, so a flat query aligned to
such a run beats the null at every column. Before this rule, 32 of 32 filters of an untrained
LabCNN on random DNA, 300 of 300 of an untrained Basset and 143 of 200 random Dirichlet(1) PWMs
got a match with q < 0.05, almost all CTCF (MA1929.2 alone gave p < 0.01 to 97 % of random
PWMs). Measured one at a time on those three sets: cutting the targets (rule 1) leaves 5, 48
and 10 queries with a per-query q < 0.05 (flat queries still fit the null imperfectly);
pooling the q-values over the whole call as well leaves 0, 0 and 0 (smallest q 0.15, 0.13,
0.39); pooling alone leaves 32, 300 and 162. Rule 2 is a second guard (alone it removes every
untrained filter and ~83 % of random PWMs):

1. **Targets are cut into informative segments.** Each database motif is split at runs of
   ``>= 2`` columns below ``min_column_bits`` (0.5 bits); each piece loses its flanks below
   0.5 bits but one flank column of at least ``FLANK_BITS`` (0.25) on each side, and pieces
   narrower than 4 columns are left out. A match names the motif it came from (by its best
   segment); ``offset`` and ``overlap`` refer to the segment. Every segment is a test.
2. **Queries with too little information are not annotated.** The query's flanks below
   ``FLANK_BITS`` are trimmed; it is annotated only with at least ``min_bits`` (6) bits in
   total and ``min_strong_columns`` (3) columns of at least 0.75 bits. A query that fails gets
   one row (rank 1, empty target, NaN p- and q-value) whose ``note`` says why.

With both, the untrained models, 5 x 200 random PWMs and column-shuffled JASPAR motifs give no
match with q < 0.05, and the JASPAR motifs of the lab3 preset (CTCF, ARID3A, MAFK), also with
10 % uniform mixed in or as PFMs of 20 sampled sites, still match their own names at rank 1
(tests/test_annotation_calibration.py). Diluted further (20 % uniform) ARID3A, a 6-column motif,
falls under the information gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cislens.motifs.database import load_database

MATCH_COLUMNS = (
    "pattern",
    "rank",
    "target_id",
    "target_name",
    "p_value",
    "q_value",
    "offset",
    "overlap",
    "strand",
    "note",
)

if TYPE_CHECKING:  # annotations only: imported where used, when used
    from cislens.motifs.aggregate import Pattern
    from cislens.pwm.motif import Motif


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg q-values of a 1-D array of p-values.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=np.float64)
    n = p.size
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


MIN_COLUMN_BITS = 0.5
FLANK_BITS = 0.25
STRONG_COLUMN_BITS = 0.75
MIN_BITS = 6.0
MIN_STRONG_COLUMNS = 3
_MAX_FLAT_RUN = 1  # a run of this many flat columns stays inside a segment; a longer one cuts
_MIN_SEGMENT = 4


def _bits(pfm) -> np.ndarray:
    from cislens.motifs.aggregate import information_content

    return information_content(pfm)


def informative_segments(pfm, *, min_column_bits: float = MIN_COLUMN_BITS) -> list[tuple]:
    """Column ranges of a PFM that TOMTOM's independent-column null describes fairly.

    The PFM is cut at every run of more than one column below ``min_column_bits``; each piece
    keeps at most one flank column below it, of at least ``FLANK_BITS`` (see the module
    docstring for why).

    Parameters
    ----------
    pfm : array (4, W)
        Column frequencies.
    min_column_bits : float
        A column below this information content (bits) is flat (default 0.5).

    Returns
    -------
    list of (int, int)
        ``(start, end)`` half-open ranges at least 4 columns wide, left to right.

    Examples
    --------
    >>> sharp, flat = np.eye(4)[:, [0]], np.full((4, 1), 0.25)
    >>> informative_segments(np.hstack([flat] + [sharp] * 4 + [flat] * 3 + [sharp] * 5))
    [(1, 5), (8, 13)]
    """
    bits = _bits(pfm)
    keep = np.flatnonzero(bits >= min_column_bits)
    if keep.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(keep) > _MAX_FLAT_RUN + 1)
    starts = np.concatenate([[keep[0]], keep[cuts + 1]])
    ends = np.concatenate([keep[cuts], [keep[-1]]]) + 1
    # One weak flank column (>= FLANK_BITS) stays: cutting it shortens true alignments (MAFK's
    # first column has 0.3 bits) while the flat runs that break the null are far below it.
    starts = np.where(
        (starts > 0) & (bits[np.maximum(starts - 1, 0)] >= FLANK_BITS), starts - 1, starts
    )
    last = bits.size - 1
    ends = np.where((ends <= last) & (bits[np.minimum(ends, last)] >= FLANK_BITS), ends + 1, ends)
    pairs = zip(starts, ends, strict=True)
    return [(int(a), int(b)) for a, b in pairs if b - a >= _MIN_SEGMENT]


def query_information(pfm, *, flank_bits: float = FLANK_BITS):
    """A query PFM without its flanks below ``flank_bits`` (0.25), its bits and strong columns.

    Strong columns have at least 0.75 bits.

    Examples
    --------
    >>> pfm = np.hstack([np.full((4, 2), 0.25), np.eye(4)[:, [0, 1, 2]]])
    >>> core, bits, strong = query_information(pfm)
    >>> core.shape, round(bits, 1), strong
    ((4, 3), 5.9, 3)
    """
    pfm = np.asarray(pfm, dtype=np.float64)
    bits = _bits(pfm)
    keep = np.flatnonzero(bits >= flank_bits)
    if keep.size == 0:
        return pfm[:, :0], 0.0, 0
    lo, hi = keep[0], keep[-1] + 1
    strong = int((bits[lo:hi] >= STRONG_COLUMN_BITS).sum())
    return pfm[:, lo:hi], float(bits[lo:hi].sum()), strong


def _query(item, trim):
    from cislens.pwm import Motif

    if isinstance(item, Motif):
        return item.name, np.asarray(item.probabilities)
    motif = item.to_motif(kind="pfm", trim=trim)
    return item.name, np.asarray(motif.probabilities)


def _targets(motifs, min_column_bits):
    """Informative segments of every database motif, with the index of the motif each is from."""
    segments, owners = [], []
    for j, motif in enumerate(motifs):
        pfm = np.asarray(motif.probabilities, dtype=np.float64)
        for lo, hi in informative_segments(pfm, min_column_bits=min_column_bits):
            segments.append(pfm[:, lo:hi])
            owners.append(j)
    return segments, np.asarray(owners, dtype=np.int64)


def _unannotated(name, bits, strong, min_bits, min_strong_columns):
    note = (
        f"too little information: {bits:.1f} bits, {strong} columns of >= "
        f"{STRONG_COLUMN_BITS:g} bits (annotation needs >= {min_bits:g} bits and >= "
        f"{min_strong_columns} such columns)"
    )
    return {
        "pattern": name,
        "rank": 1,
        "target_id": "",
        "target_name": "",
        "p_value": np.nan,
        "q_value": np.nan,
        "offset": -1,
        "overlap": 0,
        "strand": "",
        "note": note,
    }


def annotate(
    patterns: Sequence[Pattern | Motif],
    *,
    database: str | Sequence[Motif] | None = None,
    n_matches: int = 3,
    trim: float = 0.3,
    min_bits: float = MIN_BITS,
    min_strong_columns: int = MIN_STRONG_COLUMNS,
    min_column_bits: float = MIN_COLUMN_BITS,
) -> pd.DataFrame:
    """Best database matches of each pattern, with TOMTOM p- and q-values.

    Parameters
    ----------
    patterns : list of Pattern or Motif
        Queries (``result.patterns``, or motifs such as :func:`filter_motifs` output).
    database : None, str or list of Motif
        None or "jaspar": JASPAR CORE vertebrates (newest release in pyjaspar);
        "jaspar:JASPAR2024"; a MEME file path; or a list of motifs.
    n_matches : int
        Matches reported per query (default 3).
    trim : float
        CWM-energy trimming of the patterns' PFMs (default 0.3).
    min_bits, min_strong_columns : float, int
        A query (after trimming its flanks below ``FLANK_BITS``, 0.25) is annotated only with at
        least ``min_bits`` bits in total (default 6) and ``min_strong_columns`` columns of at
        least 0.75 bits (default 3); otherwise it gets one row whose ``note`` says why.
    min_column_bits : float
        Columns below this (bits) are flat: runs of two or more cut database motifs into
        segments, whose flanks below it are trimmed (default 0.5). See the module docstring.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MATCH_COLUMNS` (rank 1 = best; strand "-": the target matches the
        reverse complement of the query; ``offset``/``overlap`` are relative to the target's
        informative segment; ``note`` is empty for a match).

    Examples
    --------
    >>> from cislens.pwm import Motif
    >>> from cislens.pwm.jaspar import load_jaspar_motif
    >>> db = [load_jaspar_motif(n, release="JASPAR2024") for n in ("CTCF", "MAFK", "GATA1",
    ...       "SPI1", "REST", "TEAD1", "MAX", "E2F6", "JUND", "TAL1::TCF3")] * 3
    >>> query = load_jaspar_motif("MAFK", release="JASPAR2024")
    >>> annotate([query], database=db, n_matches=1)["target_name"].tolist()
    ['MAFK']
    >>> flat = Motif("flat", np.full((4, 12), 0.25))
    >>> annotate([flat], database=db)["note"].str.startswith("too little information").tolist()
    [True]
    """
    motifs = load_database(database)
    queries, rows = [], []
    for position, item in enumerate(patterns):
        name, pfm = _query(item, trim)
        core, bits, strong = query_information(pfm)
        if bits < min_bits or strong < min_strong_columns:
            note = _unannotated(name, bits, strong, min_bits, min_strong_columns)
            rows.append((position, [note]))
        else:
            queries.append((position, name, core))
    targets, owners = _targets(motifs, min_column_bits)
    if queries and targets:
        rows += _match_rows(queries, targets, owners, motifs, n_matches)
    flat = [row for _, group in sorted(rows, key=lambda r: r[0]) for row in group]
    return pd.DataFrame(flat, columns=list(MATCH_COLUMNS))


def _match_rows(queries, targets, owners, motifs, n_matches):
    from memelite import tomtom

    p_values, _, offsets, overlaps, strands = tomtom(
        [q for _, _, q in queries], targets, n_nearest=None, n_jobs=1
    )[:5]
    out = []
    # One family of tests: every (query, segment) pair of the call. Per-query q-values would let
    # about 5 % of null queries through at q < 0.05, however well calibrated each p-value is.
    q_all = benjamini_hochberg(p_values.ravel()).reshape(p_values.shape)
    for i, (position, name, _) in enumerate(queries):
        q_values = q_all[i]
        rows, seen = [], set()
        # A motif cut into several segments is reported once, by its best segment.
        for j in np.argsort(p_values[i], kind="stable"):
            owner = int(owners[j])
            if owner in seen:
                continue
            seen.add(owner)
            rows.append(
                {
                    "pattern": name,
                    "rank": len(rows) + 1,
                    "target_id": motifs[owner].matrix_id or motifs[owner].name,
                    "target_name": motifs[owner].name,
                    "p_value": float(p_values[i, j]),
                    "q_value": float(q_values[j]),
                    "offset": int(offsets[i, j]),
                    "overlap": int(overlaps[i, j]),
                    "strand": "-" if strands[i, j] else "+",
                    "note": "",
                }
            )
            if len(rows) == n_matches:
                break
        out.append((position, rows))
    return out


__all__ = [
    "MATCH_COLUMNS",
    "annotate",
    "benjamini_hochberg",
    "informative_segments",
    "query_information",
]
