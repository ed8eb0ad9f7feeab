"""Score discovered motifs and their instance calls against a simulation's planted motifs.

A simulated motif is **recovered** when some discovered pattern matches its generating matrix
with TOMTOM q < ``q_threshold`` (0.05). The matrices are compared against a database (JASPAR
CORE vertebrates by default) to which the truth matrices are added as ``truth:<name>``, so the
q-values are corrected over a realistic number of targets. For each simulated motif the table
gives the best pattern, its q-value, ``pattern_rank`` (1-based position of that pattern in the
discovery order, i.e. by seqlet count) and ``match_rank`` (rank of the truth matrix among that
pattern's database matches; its own JASPAR entry, an identical matrix, can tie with it). A
pattern is **spurious** when it matches no simulated motif at q < ``q_threshold``.

Instance calls (``hits`` from :func:`cislens.motifs.call_instances`) are labelled with the
simulated motif their pattern recovers and scored with
:func:`cislens.motifs.instance_recovery` (overlap >= 50 % of the shorter interval).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cislens.utils.reprs import compact_repr
from cislens.utils.types import ArrayLike

if TYPE_CHECKING:  # annotations only
    from cislens.io.dataset_schema import GroundTruth
    from cislens.motifs.aggregate import Pattern
    from cislens.pwm.motif import Motif

MOTIF_COLUMNS = ("motif", "recovered", "pattern", "q_value", "pattern_rank", "match_rank")
"""Columns of :attr:`MotifBenchmark.motifs`."""


@dataclass
class MotifBenchmark:
    """What :func:`benchmark_motifs` returns.

    Attributes
    ----------
    motifs : pandas.DataFrame
        One row per simulated motif, columns :data:`MOTIF_COLUMNS`.
    n_spurious : int
        Patterns that match no simulated motif.
    pattern_truth : dict
        Pattern name -> the simulated motif it matches best (only patterns that match one).
    instances : pandas.DataFrame
        Per simulated motif: ``motif, n_hits, n_true, precision, recall`` (empty without hits).
    matches : pandas.DataFrame
        The TOMTOM matches used (:data:`cislens.motifs.MATCH_COLUMNS`).
    """

    __repr__ = compact_repr

    motifs: pd.DataFrame
    n_spurious: int
    pattern_truth: dict = field(default_factory=dict)
    instances: pd.DataFrame = field(default_factory=pd.DataFrame)
    matches: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n_recovered(self) -> int:
        """How many simulated motifs were recovered."""
        return int(self.motifs["recovered"].sum())


def _pattern_name(item) -> str:
    return str(getattr(item, "name", item))


def benchmark_motifs(
    patterns: Sequence[Pattern | Motif],
    truth: GroundTruth,
    *,
    database: str | Sequence[Motif] | None = None,
    q_threshold: float = 0.05,
    n_matches: int = 10,
    hits: pd.DataFrame | None = None,
    split: str | None = "test",
    example_index: ArrayLike | None = None,
) -> MotifBenchmark:
    """Recovery of the simulated motifs by discovered patterns, and instance-call accuracy.

    Parameters
    ----------
    patterns : list of Pattern or Motif
        Discovered patterns (``result.patterns``), in discovery order.
    truth : cislens.io.GroundTruth
        ``motifs`` (name -> (4, W) probabilities) and ``instances``.
    database : None, str or list of Motif
        Extra TOMTOM targets (see :func:`cislens.motifs.annotate`); None: JASPAR CORE
        vertebrates; ``[]``: only the truth matrices.
    q_threshold : float
        TOMTOM q-value for a match (default 0.05).
    n_matches : int
        Matches kept per pattern (default 10).
    hits : pandas.DataFrame, optional
        Instance calls (``example, start, end, pattern``).
    split : str or None
        Split whose recorded instances the hits are compared with (default "test").
    example_index : array, optional
        Row in ``split`` of each ``hits["example"]`` (default: the example number itself).

    Returns
    -------
    MotifBenchmark

    Examples
    --------
    >>> from cislens.io import GroundTruth
    >>> from cislens.pwm.jaspar import load_jaspar_motif
    >>> mafk = load_jaspar_motif("MAFK", release="JASPAR2024")
    >>> ctcf = load_jaspar_motif("CTCF", release="JASPAR2024")
    >>> truth = GroundTruth(pd.DataFrame(), {"MAFK": mafk.probabilities})
    >>> bench = benchmark_motifs([mafk, ctcf], truth, database=[ctcf] * 25)
    >>> bench.motifs[["motif", "recovered", "pattern"]].values.tolist(), bench.n_spurious
    ([['MAFK', True, 'MAFK']], 1)
    """
    from cislens.motifs import annotate
    from cislens.motifs.database import load_database
    from cislens.pwm import Motif

    patterns = list(patterns)
    targets = [
        Motif(name, np.asarray(matrix, dtype=float), matrix_id=f"truth:{name}")
        for name, matrix in truth.motifs.items()
    ]
    extra = [] if isinstance(database, list) and not database else load_database(database)
    matches = annotate(patterns, database=list(extra) + targets, n_matches=max(int(n_matches), 1))
    order = {_pattern_name(p): i + 1 for i, p in enumerate(patterns)}
    truth_rows = matches[matches["target_id"].astype(str).str.startswith("truth:")].copy()
    truth_rows["motif"] = truth_rows["target_id"].astype(str).str[len("truth:") :]
    good = truth_rows[truth_rows["q_value"] < q_threshold]
    pattern_truth = {}
    for name, group in good.groupby("pattern", sort=False):
        pattern_truth[str(name)] = str(group.sort_values("p_value").iloc[0]["motif"])
    rows = []
    for motif in truth.motifs:
        candidates = truth_rows[truth_rows["motif"] == motif]
        if candidates.empty:
            rows.append(
                {
                    "motif": motif,
                    "recovered": False,
                    "pattern": "",
                    "q_value": np.nan,
                    "pattern_rank": np.nan,
                    "match_rank": np.nan,
                }
            )
            continue
        best = candidates.sort_values(["q_value", "p_value"], kind="stable").iloc[0]
        rows.append(
            {
                "motif": motif,
                "recovered": bool(best["q_value"] < q_threshold),
                "pattern": str(best["pattern"]),
                "q_value": float(best["q_value"]),
                "pattern_rank": order.get(str(best["pattern"]), np.nan),
                "match_rank": int(best["rank"]),
            }
        )
    table = pd.DataFrame(rows, columns=list(MOTIF_COLUMNS))
    n_spurious = sum(1 for p in patterns if _pattern_name(p) not in pattern_truth)
    instances = pd.DataFrame(columns=["motif", "n_hits", "n_true", "precision", "recall"])
    if hits is not None:
        instances = _instance_scores(hits, truth, pattern_truth, split, example_index)
    return MotifBenchmark(table, n_spurious, pattern_truth, instances, matches)


def _instance_scores(hits, truth, pattern_truth, split, example_index):
    from cislens.motifs import instance_recovery

    known = truth.instances
    if split is not None and "split" in known.columns:
        known = known[known["split"] == split]
    hits = hits[hits["pattern"].astype(str).isin(pattern_truth)].copy()
    examples = hits["example"].to_numpy(dtype=int)
    if example_index is not None:
        index = np.asarray(example_index)
        scanned = np.unique(index)
        examples = index[examples] if len(examples) else examples
    else:
        scanned = None
    hits["sequence"] = examples
    hits["motif"] = hits["pattern"].astype(str).map(pattern_truth)
    if scanned is not None:
        known = known[known["sequence"].isin(scanned)]
    if "role" in known.columns:
        known = known[known["role"].astype(str) != "background"]
    return instance_recovery(
        hits[["sequence", "start", "end", "motif"]],
        known[["sequence", "start", "end", "motif"]],
        motifs=list(truth.motifs),
    )


__all__ = ["MOTIF_COLUMNS", "MotifBenchmark", "benchmark_motifs"]
