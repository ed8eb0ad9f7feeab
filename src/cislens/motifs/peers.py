"""Reading what modisco-lite and Fi-NeMo write: ``modisco motifs`` results and ``call-hits`` hits.

- :func:`load_modisco_h5` turns a modisco-lite results file (``pos_patterns/pattern_<i>``,
  ``neg_patterns/pattern_<i>`` with (W, 4) ``sequence``, ``contrib_scores``,
  ``hypothetical_contribs`` and ``seqlets/{start, end, example_idx, is_revcomp}``) into a
  :class:`MotifDiscoveryResult`, so cislens annotates, scans, merges and exports modisco-lite's
  patterns like its own. cislens's own ``modisco.h5`` export reads back the same way.
- :func:`load_finemo_hits` reads Fi-NeMo's ``hits.tsv`` / ``hits_unique.tsv`` into a table
  with cislens's hit columns next to Fi-NeMo's own.

Both layouts are described in ``docs/formats.md`` ("Interchange with modisco-lite and Fi-NeMo").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cislens.io.hdf5 import existing_file, open_hdf5
from cislens.motifs.aggregate import PATTERN_SEQLET_COLUMNS, Pattern
from cislens.motifs.discover import MotifDiscoveryResult
from cislens.utils.types import PathLike

MODISCO_GROUPS = {"pos_patterns": "pos", "neg_patterns": "neg"}
FINEMO_HIT_COLUMNS = (
    "chr",
    "start",
    "end",
    "start_untrimmed",
    "end_untrimmed",
    "motif_name",
    "hit_coefficient",
    "hit_coefficient_global",
    "hit_similarity",
    "hit_correlation",
    "hit_importance",
    "hit_importance_sq",
    "strand",
    "peak_name",
    "peak_id",
)
"""The columns of Fi-NeMo's ``hits.tsv`` (``finemo call-hits``)."""


def _pattern_index(name: str) -> int:
    try:
        return int(name.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return 1 << 30  # unknown names last, in file order


def _read_modisco_pattern(group, metacluster: str, index: int, source: str) -> Pattern:
    for key in ("sequence", "contrib_scores", "hypothetical_contribs"):
        if key not in group:
            raise ValueError(f"{source}: pattern '{group.name}' has no '{key}' dataset.")
    sequence = group["sequence"][()].astype(np.float64).T  # modisco-lite stores (W, 4)
    if sequence.ndim != 2 or sequence.shape[0] != 4:
        raise ValueError(f"{source}: '{group.name}/sequence' is {sequence.T.shape}, not (W, 4).")
    seqlets = pd.DataFrame({column: [] for column in ("example", "start", "end", "strand")})
    if "seqlets" in group:
        sub = group["seqlets"]
        seqlets = pd.DataFrame(
            {
                "example": sub["example_idx"][()].astype(np.int64),
                "start": sub["start"][()].astype(np.int64),
                "end": sub["end"][()].astype(np.int64),
                "strand": np.where(sub["is_revcomp"][()].astype(bool), "-", "+"),
            }
        )
    return Pattern(
        f"{metacluster}_{index}",
        sequence,
        group["contrib_scores"][()].astype(np.float64).T,
        group["hypothetical_contribs"][()].astype(np.float64).T,
        seqlets,
        metacluster=metacluster,
        stats={"modisco_name": group.name.strip("/").replace("/", ".")},
    )


def load_modisco_h5(path: PathLike) -> MotifDiscoveryResult:
    """Read a modisco-lite ``modisco motifs`` results file as a :class:`MotifDiscoveryResult`.

    Patterns are named ``pos_<i>`` / ``neg_<i>`` in modisco-lite's order (``pattern_<i>``);
    ``stats["modisco_name"]`` keeps the original name (``pos_patterns.pattern_0``, as Fi-NeMo
    calls it). Arrays come back as (4, W). The seqlet table lists every pattern's seqlets
    (``example, start, end, strand, metacluster, pattern``; modisco-lite stores no score).
    ``params`` records ``source: modisco-lite``.

    Raises
    ------
    ValueError
        A file with neither ``pos_patterns`` nor ``neg_patterns``, or a pattern missing arrays.
    """
    path = existing_file(path)
    patterns = []
    with open_hdf5(path, what="modisco-lite results file") as handle:
        groups = [name for name in MODISCO_GROUPS if name in handle]
        if not groups:
            raise ValueError(
                f"'{path}' has neither 'pos_patterns' nor 'neg_patterns' (it has "
                f"{sorted(handle)}); it is not a modisco-lite results file."
            )
        for group_name in groups:
            metacluster = MODISCO_GROUPS[group_name]
            names = sorted(handle[group_name], key=_pattern_index)
            for i, name in enumerate(names):
                patterns.append(
                    _read_modisco_pattern(handle[group_name][name], metacluster, i, str(path))
                )
    tables = []
    for pattern in patterns:
        table = pattern.seqlets.copy()
        table["metacluster"] = pattern.metacluster
        table["pattern"] = pattern.name
        tables.append(table)
    columns = [*PATTERN_SEQLET_COLUMNS, "metacluster", "pattern"]
    seqlets = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    return MotifDiscoveryResult(
        patterns, seqlets[columns], params={"source": "modisco-lite", "path": str(path)}
    )


def load_finemo_hits(path: PathLike) -> pd.DataFrame:
    """Read Fi-NeMo's ``hits.tsv`` (or ``hits_unique.tsv``) with cislens's hit columns added.

    Added columns: ``example`` (= ``peak_id``, the region's row), ``pattern`` (=
    ``motif_name``), ``score`` (= ``hit_coefficient_global``) and ``similarity`` (=
    ``hit_similarity``). ``start`` / ``end`` stay as Fi-NeMo wrote them: genome coordinates
    when the regions had peaks, positions within the region (``chr`` = NA) otherwise.

    Examples
    --------
    >>> import io
    >>> text = "\\t".join(FINEMO_HIT_COLUMNS) + "\\nNA\\t5\\t12\\t3\\t14\\tpos_patterns.pattern_0"
    >>> text += "\\t0.5\\t0.6\\t0.9\\t0.9\\t1.0\\t1.0\\t+\\tNA\\t2\\n"
    >>> hits = load_finemo_hits(io.StringIO(text))
    >>> hits[["example", "start", "pattern", "score"]].values.tolist()
    [[2, 5, 'pos_patterns.pattern_0', 0.6]]
    """
    source = path if hasattr(path, "read") else existing_file(path)
    table = pd.read_csv(source, sep="\t", keep_default_na=False, na_values=["NA", ""])
    missing = [c for c in ("start", "end", "motif_name", "peak_id", "strand") if c not in table]
    if missing:
        raise ValueError(
            f"'{path}' has no column(s) {missing} (it has {list(table.columns)}); it is not a "
            "Fi-NeMo hits table."
        )
    table.insert(0, "example", table["peak_id"].astype(np.int64))
    table["pattern"] = table["motif_name"].astype(str)
    if "hit_coefficient_global" in table:
        table["score"] = table["hit_coefficient_global"].astype(np.float64)
    if "hit_similarity" in table:
        table["similarity"] = table["hit_similarity"].astype(np.float64)
    return table


__all__ = ["FINEMO_HIT_COLUMNS", "load_finemo_hits", "load_modisco_h5"]
