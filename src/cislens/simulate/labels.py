"""Task labels recomputed from an instance table by the config's rules
(:func:`labels_from_instances`).

Kept out of :mod:`cislens.simulate.grammar` because it needs the whole config (the rules of
every task), and the config module itself imports the grammar: here the import runs one way.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from cislens.simulate.config import SimulationConfig
from cislens.simulate.grammar import Inst, evaluate_tasks
from cislens.simulate.resolve import as_config


class RuleLabels(NamedTuple):
    """Result of :func:`labels_from_instances`."""

    labels: np.ndarray
    """(N, T) float32 clean labels (before label noise)."""
    relevant: np.ndarray
    """(M, T) bool: instance row m is relevant to task t (rows in the table's order)."""


def labels_from_instances(
    instances: pd.DataFrame, config: SimulationConfig, *, n_sequences: int | None = None
) -> RuleLabels:
    """Recompute the clean labels of one split from its recorded instances and the rules.

    Parameters
    ----------
    instances : pandas.DataFrame
        Ground-truth rows of one split: columns ``sequence``, ``motif``, ``start``, ``end``,
        ``strand`` (a ``split`` column, if present, must hold one value).
    config : SimulationConfig, dict, or str
        The simulation config (a str is JSON text, e.g. ``dataset.ground_truth.config``, or a
        preset name).
    n_sequences : int, optional
        Number of sequences in the split (sequences without instances still get labels).
        Default: the largest ``sequence`` + 1.

    Returns
    -------
    RuleLabels
        ``labels`` (N, T) float32 and ``relevant`` (M, T) bool aligned with the table's rows.

    Examples
    --------
    >>> cfg = {"length": 50, "splits": {"train": 2}, "tasks": [{"name": "t", "rule": "CTCF"}]}
    >>> table = pd.DataFrame({"sequence": [1], "motif": ["CTCF"], "start": [3], "end": [18],
    ...                       "strand": ["+"]})
    >>> result = labels_from_instances(table, cfg, n_sequences=2)
    >>> result.labels[:, 0].tolist(), result.relevant[:, 0].tolist()
    ([0.0, 1.0], [True])
    """
    config = as_config(config)
    if not isinstance(instances, pd.DataFrame):
        raise TypeError(f"instances must be a pandas.DataFrame; got {type(instances).__name__}.")
    missing = [c for c in ("sequence", "motif", "start", "end", "strand") if c not in instances]
    if missing:
        raise ValueError(f"instances lacks the columns {missing}; pass ground_truth.instances.")
    if "split" in instances and instances["split"].nunique() > 1:
        raise ValueError(
            "instances holds several splits "
            f"{sorted(instances['split'].unique())}; pass one, e.g. "
            "table[table.split == 'test'], with n_sequences=len(dataset.X['test'])."
        )
    seq = instances["sequence"].to_numpy(dtype=np.int64)
    n = int(seq.max()) + 1 if n_sequences is None and len(seq) else int(n_sequences or 0)
    if len(seq) and (seq.min() < 0 or seq.max() >= n):
        raise ValueError(f"instances['sequence'] must lie in [0, n_sequences={n}).")
    rules = [task.rule for task in config.tasks]
    labels = np.zeros((n, len(rules)), dtype=np.float32)
    relevant = np.zeros((len(seq), len(rules)), dtype=bool)
    motif = instances["motif"].astype(str).to_numpy()
    start = instances["start"].to_numpy(dtype=np.int64)
    end = instances["end"].to_numpy(dtype=np.int64)
    strand = instances["strand"].astype(str).to_numpy()
    order = np.argsort(seq, kind="stable")
    bounds = np.searchsorted(seq[order], np.arange(n + 1))
    for i in range(n):
        rows = order[bounds[i] : bounds[i + 1]]
        insts = [Inst(int(r), motif[r], int(start[r]), int(end[r]), strand[r]) for r in rows]
        ok, rel = evaluate_tasks(rules, insts)
        labels[i] = ok
        for t, members in enumerate(rel):
            if members:
                relevant[list(members), t] = True
    return RuleLabels(labels, relevant)


__all__ = ["RuleLabels", "labels_from_instances"]
