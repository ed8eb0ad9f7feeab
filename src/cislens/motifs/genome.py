"""Motif hits in genome coordinates: BED6+ files for bedtools and genome browsers.

Instance calls (:func:`cislens.motifs.call_instances`, an ARGMINN's
:func:`cislens.argminn.argminn_instances`, or Fi-NeMo's ``hits.tsv``) give positions inside the
model's input windows. When the windows were cut from BED intervals of a genome, each window's
place is known (:func:`cislens.sequence.windows.bed_windows`, or the ``window_*`` arrays of a
Zarr store), and :func:`hits_to_bed` maps every hit back: on a ``+`` window, position ``p`` is base
``window_start + p``; a ``-`` window was read reverse-complemented, so ``[s, e)`` is
``[window_end - e, window_end - s)`` and the hit's strand flips.

The BED file (:data:`HITS_BED_COLUMNS`, tab-separated, one ``#`` header line that bedtools and
browsers skip, sorted by chromosome in genome order then start) has:

``chrom, start, end`` 0-based, end-exclusive genome coordinates; ``name`` the motif (pattern)
name; ``score`` an integer 0-1000 for browsers: ``round(1000 x similarity)`` for CWM and Fi-NeMo
hits, ``round(100 x -log10 p)`` (at most 1000) for PWM hits, ``round(1000 x attention)`` for
ARGMINN instances; ``strand`` on the genome; then ``match_id``, ``match_name`` and
``match_q_value`` (the motif's best TOMTOM match, e.g. JASPAR, when an annotation is given),
``row`` (the window's row in the input, i.e. the BED line's interval), ``window`` (the interval's
name) and every other column of the hit table (``hit_score``, ``similarity``, ``contribution``,
``p_value``, ...). Hits that reach beyond the chromosome (N padding) are left out, with a warning.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cislens.sequence.windows import to_genome

logger = logging.getLogger(__name__)

HITS_BED_COLUMNS = (
    "chrom",
    "start",
    "end",
    "name",
    "score",
    "strand",
    "match_id",
    "match_name",
    "match_q_value",
    "row",
    "window",
)
"""The fixed leading columns of a hits BED file; the hit table's other columns follow."""
# Fi-NeMo's hits.tsv columns (finemo.data_io.HITS_DTYPES) that locate a hit.
_FINEMO_PLACE = ("chr", "start", "end", "start_untrimmed", "end_untrimmed", "strand", "peak_id")


def _bed_score(hits: pd.DataFrame) -> np.ndarray:
    score = np.zeros(len(hits))
    for column, scale in (("attention", 1000.0), ("similarity", 1000.0)):
        if column in hits:
            values = hits[column].to_numpy(np.float64)
            score = np.where(np.isfinite(values), scale * values, score)
    if "p_value" in hits:
        p = hits["p_value"].to_numpy(np.float64)
        with np.errstate(divide="ignore"):
            score = np.where(np.isfinite(p), 100.0 * -np.log10(np.maximum(p, 1e-300)), score)
    return np.clip(np.round(score), 0, 1000).astype(np.int64)


def _best_matches(annotation) -> pd.DataFrame:
    if annotation is None or len(annotation) == 0:
        return pd.DataFrame(columns=["match_id", "match_name", "match_q_value"])
    best = annotation[annotation["rank"] == 1].drop_duplicates("pattern").set_index("pattern")
    return pd.DataFrame({"match_id": best["target_id"].astype(str),
                         "match_name": best["target_name"].astype(str),
                         "match_q_value": best["q_value"].astype(float)})  # fmt: skip


def hits_to_bed(hits: pd.DataFrame, windows: pd.DataFrame, *, sizes=None, annotation=None):
    """Map a hit table (``example``, ``start``, ``end``, ``strand``, ``pattern``) to the genome.

    Parameters
    ----------
    hits : pandas.DataFrame
        Window coordinates; ``example`` is the window's row in ``windows``.
    windows : pandas.DataFrame
        :func:`cislens.sequence.windows.bed_windows` or
        :func:`cislens.scale.store.read_windows`.
    sizes : dict, optional
        Chromosome lengths (genome order): hits off a chromosome are dropped, rows sorted by it.
    annotation : pandas.DataFrame, optional
        :func:`cislens.motifs.annotate`'s table: the best match of each pattern is added.

    Returns
    -------
    pandas.DataFrame
        :data:`HITS_BED_COLUMNS`, then the hit table's other columns.

    Examples
    --------
    >>> w = pd.DataFrame({"chrom": ["c1"], "start": [100], "end": [120], "strand": ["-"],
    ...                   "name": ["peak"]})
    >>> hits = pd.DataFrame({"example": [0], "start": [2], "end": [8], "strand": ["+"],
    ...                      "pattern": ["CTCF"], "similarity": [0.9]})
    >>> hits_to_bed(hits, w)[["chrom", "start", "end", "name", "score", "strand"]].values.tolist()
    [['c1', 112, 118, 'CTCF', 900, '-']]
    """
    rows = hits["example"].to_numpy(np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(windows)):
        raise ValueError(
            f"hits name window rows up to {rows.max()} but there are {len(windows)} windows; "
            "were they called on these inputs?"
        )
    chrom, start, end, strand = to_genome(windows, rows, hits["start"], hits["end"],
                                          hits["strand"])  # fmt: skip
    frame = pd.DataFrame({"chrom": chrom, "start": start, "end": end,
                          "name": hits["pattern"].astype(str).to_numpy(),
                          "score": _bed_score(hits), "strand": strand})  # fmt: skip
    matches = _best_matches(annotation).reindex(frame["name"])
    for column in ("match_id", "match_name", "match_q_value"):
        frame[column] = matches[column].to_numpy()
    frame["row"] = rows
    frame["window"] = windows["name"].to_numpy()[rows] if len(rows) else []
    rest = hits.drop(columns=["example", "start", "end", "strand", "pattern"])
    rest = rest.rename(columns={"score": "hit_score"}).reset_index(drop=True)
    frame = pd.concat([frame, rest], axis=1)
    return _in_genome(frame, sizes)


def _in_genome(frame: pd.DataFrame, sizes) -> pd.DataFrame:
    if sizes is None:
        return frame.sort_values(["chrom", "start", "end", "name"], kind="stable",
                                 ignore_index=True)  # fmt: skip
    limits = frame["chrom"].map(sizes).to_numpy(np.float64)
    inside = (frame["start"] >= 0) & (frame["end"] <= limits)
    if not inside.all():
        logger.warning(
            "%d hits reach into the N padding beyond a chromosome end; they are "
            "not written to the BED file.",
            int((~inside).sum()),
        )
    frame = frame[inside].copy()
    frame["_rank"] = frame["chrom"].map({name: i for i, name in enumerate(sizes)})
    frame = frame.sort_values(["_rank", "start", "end", "name"], kind="stable")
    return frame.drop(columns="_rank").reset_index(drop=True)


def read_finemo_hits(path) -> pd.DataFrame:
    """Fi-NeMo's ``hits.tsv`` (``finemo call-hits``) as a hit table for :func:`hits_to_bed`.

    Fi-NeMo run on windows without peak coordinates writes ``chr`` as NA and window
    coordinates in ``start`` / ``end`` (its trimmed motif) with the window's row in ``peak_id``;
    those become ``example``, ``start``, ``end``; ``motif_name`` becomes ``pattern`` and
    ``hit_similarity`` ``similarity``; its other columns are kept.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "hits.tsv"
    >>> _ = path.write_text("chr\\tstart\\tend\\tstart_untrimmed\\tend_untrimmed\\tmotif_name\\t"
    ...     "hit_similarity\\tstrand\\tpeak_id\\nNA\\t5\\t11\\t3\\t13\\tpos_0\\t0.8\\t-\\t2\\n")
    >>> read_finemo_hits(path)[["example", "start", "end", "strand", "pattern"]].values.tolist()
    [[2, 5, 11, '-', 'pos_0']]
    """
    raw = pd.read_csv(path, sep="\t", quoting=3, keep_default_na=False)
    missing = [c for c in (*_FINEMO_PLACE, "motif_name") if c not in raw.columns]
    if missing:
        raise ValueError(f"{path} is not a Fi-NeMo hits.tsv: it lacks the columns {missing}.")
    located = ~raw["chr"].astype(str).isin(["NA", ""])
    if located.any():
        raise ValueError(
            f"{path}: Fi-NeMo wrote genome coordinates (chr {raw['chr'].iloc[0]!r}) already, so "
            "its own hits.bed is in genome coordinates; convert only hits called on windows "
            "without peak coordinates (chr NA, window positions with peak_id = row)."
        )
    hits = pd.DataFrame({"example": raw["peak_id"].astype(np.int64),
                         "start": raw["start"].astype(np.int64),
                         "end": raw["end"].astype(np.int64),
                         "strand": raw["strand"].astype(str),
                         "pattern": raw["motif_name"].astype(str)})  # fmt: skip
    if "hit_similarity" in raw:
        hits["similarity"] = raw["hit_similarity"].astype(float)
    rest = raw.drop(columns=[*_FINEMO_PLACE, "motif_name", "hit_similarity"], errors="ignore")
    return pd.concat([hits, rest.reset_index(drop=True)], axis=1)


def hit_summary(bed: pd.DataFrame) -> pd.DataFrame:
    """Per motif: hits, windows with a hit, hits per strand, mean / median BED score, match.

    Examples
    --------
    >>> bed = pd.DataFrame({"name": ["A", "A", "B"], "score": [900, 700, 500],
    ...                     "strand": ["+", "-", "+"], "row": [0, 0, 3]})
    >>> hit_summary(bed)[["motif", "n_hits", "n_windows", "mean_score"]].values.tolist()
    [['A', 2, 1, 800.0], ['B', 1, 1, 500.0]]
    """
    rows = []
    for motif, group in bed.groupby("name", sort=True):
        row = {"motif": motif, "n_hits": len(group), "n_windows": group["row"].nunique(),
               "n_plus": int((group["strand"] == "+").sum()),
               "n_minus": int((group["strand"] == "-").sum()),
               "mean_score": float(group["score"].mean()),
               "median_score": float(group["score"].median())}  # fmt: skip
        for column in ("hit_score", "contribution", "similarity"):
            if column in group and group[column].notna().any():
                row[f"mean_{column}"] = float(group[column].mean())
        for column in ("match_id", "match_name", "match_q_value"):
            if column in group:
                row[column] = group[column].iloc[0]
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["motif", "n_hits", "n_windows"])


def call_store_instances(patterns, store, *, chunk_size: int = 1024, **options) -> pd.DataFrame:
    """:func:`cislens.motifs.call_instances` over a Zarr attribution store, chunk by chunk.

    Scans the store's ``hypothetical`` scores (or its projected ``attributions`` when it has
    none); ``example`` in the result is the row in the store. ``options`` go to
    ``call_instances`` (``method``, ``p_threshold``, ...).
    """
    import zarr

    from cislens.motifs.instances import call_instances
    from cislens.motifs.source import iter_chunks

    group = zarr.open_group(str(store), mode="r")
    done = np.asarray(group["completed"][:]) if "completed" in group else np.ones(1)
    if not done.all():
        raise ValueError(f"the Zarr store '{store}' has {int((done == 0).sum())} unfinished row "
                         "blocks; resume the run that writes it first.")  # fmt: skip
    scores = group["hypothetical"] if "hypothetical" in group else group["attributions"]
    frames = []
    for (start, X), (_, H) in zip(iter_chunks(group["sequences"], chunk_size),
                                  iter_chunks(scores, chunk_size), strict=True):  # fmt: skip
        hits = call_instances(patterns, X, H, **options)
        hits["example"] += start
        frames.append(hits)
    return pd.concat(frames, ignore_index=True)


def write_hits_bed(bed: pd.DataFrame, path) -> None:
    """Write :func:`hits_to_bed`'s table as BED6+ (a ``#`` header line, tabs, atomic)."""
    from cislens.utils.files import atomic_open

    with atomic_open(path, "w") as stream:
        stream.write("#" + "\t".join(map(str, bed.columns)) + "\n")
        bed.to_csv(stream, sep="\t", header=False, index=False, na_rep=".")


__all__ = ["HITS_BED_COLUMNS", "call_store_instances", "hit_summary", "hits_to_bed",
           "read_finemo_hits", "write_hits_bed"]  # fmt: skip
