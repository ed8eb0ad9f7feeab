"""One non-redundant motif set from several discovery runs (folds, tasks, seeds, tools).

:func:`merge_motif_sets` pools the patterns of several :class:`MotifDiscoveryResult` objects
(cislens runs, or modisco-lite runs read with :func:`cislens.motifs.load_modisco_h5`) and keeps
one pattern per group of similar ones. Similarity is :func:`cislens.motifs.pattern_similarity`:
the continuous Jaccard similarity of one pattern's core (positions with CWM energy >= ``trim``
x max) slid along the other's ``[hCWM ; CWM]`` track, both strands, best of both directions.
It is 1 for identical patterns; on the planted-motif tests the same motif found by cislens and
by modisco-lite scores about 0.95 and two different 10-mers about 0.35, so the default
``threshold=0.7`` sits between them.

Greedy and order-free: patterns are visited by decreasing seqlet count (ties: run order, then
pattern order); a pattern joins the first kept pattern of its metacluster it matches at
``>= threshold``, else it is kept. The kept pattern is the one with most seqlets; every member
is listed in its provenance, ``stats["provenance"]``: ``[{"run", "pattern", "n_seqlets",
"similarity"}, ...]`` (similarity to the kept pattern, 1.0 for itself).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cislens._version import __version__
from cislens.motifs.aggregate import PATTERN_SEQLET_COLUMNS, pattern_similarity
from cislens.motifs.discover import MotifDiscoveryResult

PROVENANCE_COLUMNS = ("merged", "run", "pattern", "n_seqlets", "similarity")
"""Columns of :func:`provenance_table`."""


def _check_runs(results, labels):
    results = list(results)
    if not results:
        raise ValueError("results is empty; pass at least one MotifDiscoveryResult to merge.")
    for i, result in enumerate(results):
        if not isinstance(result, MotifDiscoveryResult):
            raise TypeError(
                f"results[{i}] must be a MotifDiscoveryResult (load_motifs / load_modisco_h5); "
                f"got {type(result).__name__}."
            )
    labels = [f"run{i}" for i in range(len(results))] if labels is None else list(labels)
    if len(labels) != len(results) or len(set(labels)) != len(labels):
        raise ValueError(
            f"labels must be {len(results)} distinct names, one per result; got {labels}."
        )
    return results, labels


def merge_motif_sets(
    results: Sequence[MotifDiscoveryResult],
    *,
    labels: Sequence[str] | None = None,
    threshold: float = 0.7,
    min_overlap: float = 0.7,
    trim: float = 0.3,
) -> MotifDiscoveryResult:
    """Merge the patterns of several runs into one non-redundant set, keeping provenance.

    Parameters
    ----------
    results : sequence of MotifDiscoveryResult
        The runs (at least one).
    labels : sequence of str, optional
        A distinct name per run, used in the provenance (default ``run0``, ``run1``, ...).
    threshold : float
        Patterns with :func:`pattern_similarity` ``>= threshold`` are one motif (0 < t <= 1).
    min_overlap, trim : float
        As in :func:`pattern_similarity`.

    Returns
    -------
    MotifDiscoveryResult
        The kept patterns, renamed ``pos_<i>`` / ``neg_<i>`` by decreasing seqlet count, each a
        copy of its run's pattern with ``stats["provenance"]`` and ``stats["source"]``
        (``"run:pattern"``); ``seqlets`` lists the kept patterns' aligned seqlet windows
        (``example, start, end, strand, metacluster, pattern, run``; examples index that
        run's inputs; no ``score``, which belongs to called seqlets); ``params`` records the
        runs and settings.

    Examples
    --------
    >>> import pandas as pd
    >>> from cislens.motifs import Pattern
    >>> w = np.eye(4)[:, [0, 1, 2, 3, 0, 1]]
    >>> table = pd.DataFrame({"example": [0], "start": [0], "end": [6], "strand": ["+"]})
    >>> run = MotifDiscoveryResult([Pattern("pos_0", w, w, w, table)], table)
    >>> merged = merge_motif_sets([run, run], labels=["a", "b"])
    >>> len(merged.patterns), [p["run"] for p in merged.patterns[0].stats["provenance"]]
    (1, ['a', 'b'])
    """
    results, labels = _check_runs(results, labels)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}.")
    pool = [
        (label, order, pattern)
        for label, result in zip(labels, results, strict=True)
        for order, pattern in enumerate(result.patterns)
    ]
    rank = {id(p): (-p.n_seqlets, labels.index(label), order) for label, order, p in pool}
    pool.sort(key=lambda item: rank[id(item[2])])
    kept: list = []  # [label, pattern, provenance]
    for label, _, pattern in pool:
        entry = {"run": label, "pattern": pattern.name, "n_seqlets": int(pattern.n_seqlets)}
        best, best_sim = None, -np.inf
        for group in kept:
            if group[1].metacluster != pattern.metacluster:
                continue
            sim = pattern_similarity(group[1], pattern, min_overlap=min_overlap, trim=trim)
            if sim >= threshold and sim > best_sim:
                best, best_sim = group, sim
        if best is None:
            kept.append([label, pattern, [{**entry, "similarity": 1.0}]])
        else:
            best[2].append({**entry, "similarity": round(float(best_sim), 6)})
    return _merged_result(kept, labels, threshold, min_overlap, trim)


def _merged_result(kept, labels, threshold, min_overlap, trim) -> MotifDiscoveryResult:
    patterns, tables, counts = [], [], {"pos": 0, "neg": 0}
    for label, pattern, provenance in kept:
        merged = copy.copy(pattern)
        merged.name = f"{pattern.metacluster}_{counts[pattern.metacluster]}"
        counts[pattern.metacluster] += 1
        merged.seqlets = pattern.seqlets.copy()
        merged.stats = {
            **pattern.stats,
            "source": f"{label}:{pattern.name}",
            "provenance": provenance,
        }
        patterns.append(merged)
        table = merged.seqlets[list(PATTERN_SEQLET_COLUMNS)].copy()
        table["metacluster"] = pattern.metacluster
        table["pattern"] = merged.name
        table["run"] = label
        tables.append(table)
    patterns.sort(key=lambda p: (p.metacluster != "pos", int(p.name.split("_")[1])))
    columns = [*PATTERN_SEQLET_COLUMNS, "metacluster", "pattern", "run"]
    seqlets = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    params = {
        "merged_runs": list(labels),
        "threshold": threshold,
        "min_overlap": min_overlap,
        "trim": trim,
        "similarity": "pattern_similarity (continuous Jaccard of cores)",
    }
    empty = None if patterns else "none of the merged runs has a pattern"
    return MotifDiscoveryResult(
        patterns, seqlets, params=params, cislens_version=__version__, empty_reason=empty
    )


def provenance_table(result: MotifDiscoveryResult) -> pd.DataFrame:
    """One row per (merged pattern, member): ``merged, run, pattern, n_seqlets, similarity``.

    Examples
    --------
    >>> import pandas as pd
    >>> from cislens.motifs import Pattern
    >>> w = np.eye(4)[:, [0, 1, 2, 3, 0, 1]]
    >>> table = pd.DataFrame({"example": [0], "start": [0], "end": [6], "strand": ["+"]})
    >>> run = MotifDiscoveryResult([Pattern("pos_0", w, w, w, table)], table)
    >>> provenance_table(merge_motif_sets([run, run]))["run"].tolist()
    ['run0', 'run1']
    """
    rows = [
        {"merged": p.name, **entry}
        for p in result.patterns
        for entry in p.stats.get("provenance", [])
    ]
    return pd.DataFrame(rows, columns=list(PROVENANCE_COLUMNS))


__all__ = ["PROVENANCE_COLUMNS", "merge_motif_sets", "provenance_table"]
