"""TOMTOM annotation of patterns against a motif database (memelite's TOMTOM, no MEME binary).

Each query (a :class:`Pattern`'s PFM trimmed to the positions with ``sum_b |CWM| >= trim x max``,
or any :class:`cislens.pwm.Motif`) is compared to every database motif with memelite's TOMTOM
(negated Euclidean column score, complete scoring, both strands). Per query, q-values are the
Benjamini-Hochberg adjustment of its p-values over the whole database; the ``n_matches`` best
targets are reported.
"""

from __future__ import annotations

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
)


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


def _query(item, trim):
    from cislens.pwm import Motif

    if isinstance(item, Motif):
        return item.name, np.asarray(item.probabilities)
    motif = item.to_motif(kind="pfm", trim=trim)
    return item.name, np.asarray(motif.probabilities)


def annotate(patterns, *, database=None, n_matches: int = 3, trim: float = 0.3) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MATCH_COLUMNS` (rank 1 = best; strand "-": the target matches the
        reverse complement of the query).

    Examples
    --------
    >>> from cislens.pwm import Motif
    >>> from cislens.pwm.jaspar import load_jaspar_motif
    >>> db = [load_jaspar_motif(n, release="JASPAR2024") for n in ("CTCF", "MAFK", "GATA1",
    ...       "SPI1", "REST", "TEAD1", "MAX", "E2F6", "JUND", "TAL1::TCF3")] * 3
    >>> query = load_jaspar_motif("MAFK", release="JASPAR2024")
    >>> annotate([query], database=db, n_matches=1)["target_name"].tolist()
    ['MAFK']
    """
    from memelite import tomtom

    motifs = load_database(database)
    queries = [_query(item, trim) for item in patterns]
    if not queries:
        return pd.DataFrame({c: [] for c in MATCH_COLUMNS})
    targets = [np.asarray(m.probabilities) for m in motifs]
    p_values, _, offsets, overlaps, strands = tomtom(
        [q for _, q in queries], targets, n_nearest=None, n_jobs=1
    )[:5]
    rows = []
    for i, (name, _) in enumerate(queries):
        q_values = benjamini_hochberg(p_values[i])
        order = np.argsort(p_values[i], kind="stable")[:n_matches]
        for rank, j in enumerate(order, start=1):
            rows.append(
                {
                    "pattern": name,
                    "rank": rank,
                    "target_id": motifs[j].matrix_id or motifs[j].name,
                    "target_name": motifs[j].name,
                    "p_value": float(p_values[i, j]),
                    "q_value": float(q_values[j]),
                    "offset": int(offsets[i, j]),
                    "overlap": int(overlaps[i, j]),
                    "strand": "-" if strands[i, j] else "+",
                }
            )
    return pd.DataFrame(rows, columns=list(MATCH_COLUMNS))


__all__ = ["MATCH_COLUMNS", "annotate", "benjamini_hochberg"]
