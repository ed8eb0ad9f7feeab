"""The pipeline's ``motifs`` stage: discovery on the pooled hypothetical scores of one method,
first-layer filter motifs, JASPAR annotation and CWM instance calls (``motifs.h5``,
``motifs.meme``, ``modisco.h5``, ``filters.csv``, ``matches.csv``, ``hits.csv``)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cislens.pipeline.stages import MOTIF_METHOD
from cislens.run_folder import RunFolder

logger = logging.getLogger(__name__)


def motif_stage(
    stages,
    params,
    model,
    dataset,
    sets,
    *,
    motif_method=MOTIF_METHOD,
    annotate_matches=True,
    filters=True,
    device=None,
    verbose=False,
):
    """Discover motifs on ``motif_method``'s hypothetical scores (all tasks pooled), summarise the
    first-layer filters, match both against JASPAR, and call CWM instances."""
    from cislens.motifs import (
        annotate,
        call_instances,
        discover_motifs,
        export_modisco_h5,
        load_motifs,
        save_motifs,
        write_patterns_meme,
    )

    folder: RunFolder = stages.folder
    if stages.done("motifs", params, *RunFolder.MOTIF_FILES):
        discovery = load_motifs(folder / RunFolder.MOTIFS)
        matches = folder.read_table(RunFolder.MATCHES)
        hits = folder.read_table(RunFolder.HITS)
        stages.finish("motifs")
        return discovery, matches, hits
    X, hyp, _ = pooled(sets.get(motif_method, []))
    if X is None:
        raise ValueError(
            f"motif discovery needs {motif_method!r} among the methods, with at "
            "least one explained sequence."
        )
    discovery = discover_motifs(X, hyp, random_state=params["random_state"], verbose=verbose)
    save_motifs(folder / RunFolder.MOTIFS, discovery)
    # The same patterns for MEME-reading tools and for modisco-lite / Fi-NeMo.
    write_patterns_meme(folder / RunFolder.MOTIFS_MEME, discovery.patterns, allow_empty=True)
    export_modisco_h5(folder / RunFolder.MODISCO, discovery, X, hyp)
    table = pd.DataFrame(columns=["filter", "n_sites", "consensus"])
    if filters:
        table = _filter_table(model, dataset, annotate_matches, device)
    folder.write_table(RunFolder.FILTERS, table)
    if annotate_matches:
        matches = annotate(discovery.patterns, n_matches=3)
    else:
        matches = pd.DataFrame(columns=["pattern", "target_name", "q_value"])
    folder.write_table(RunFolder.MATCHES, matches)
    if discovery.patterns:
        hits = call_instances(discovery.patterns, X, hyp)
    else:
        from cislens.motifs import HIT_COLUMNS

        hits = pd.DataFrame(columns=list(HIT_COLUMNS))
    folder.write_table(RunFolder.HITS, hits)
    stages.finish("motifs", params)
    return discovery, matches, hits


def _filter_table(model, dataset, annotate_matches, device):
    from cislens.motifs import annotate, filter_motifs

    try:
        found = filter_motifs(model, dataset.X["test"][:2000], device=device)
    except (TypeError, ValueError) as error:
        # A user model without a first Conv1d on the one-hot input has no filter motifs.
        logger.info("motifs: no first-layer filter motifs (%s)", error)
        found = []
    table = pd.DataFrame(
        {
            "filter": [f.name for f in found],
            "n_sites": [int(f.counts[:, 0].sum()) if f.counts is not None else 0 for f in found],
            "consensus": [f.consensus for f in found],
        }
    )
    matches = annotate(found, n_matches=1) if found and annotate_matches else pd.DataFrame()
    if len(matches):
        best = matches.set_index("pattern")
        table["best_match"] = table["filter"].map(best["target_name"])
        table["q_value"] = table["filter"].map(best["q_value"])
        if "note" in best:
            table["note"] = table["filter"].map(best["note"])
    return table


def pooled(results):
    """Concatenate the X, hypothetical scores and example indices of several sets."""
    if not results:
        return None, None, None
    X = np.concatenate([r.X for r in results])
    hyp = np.concatenate([r.hypothetical for r in results])
    index = np.concatenate([np.asarray(r.example_index) for r in results])
    return X, hyp, index


def trimmed(pattern, fraction: float = 0.3) -> np.ndarray:
    """The pattern's PFM trimmed to the columns with |CWM| >= fraction * max."""
    energy = np.abs(pattern.contrib).sum(0)
    keep = np.flatnonzero(energy >= fraction * energy.max()) if energy.max() > 0 else []
    if len(keep) == 0:
        return pattern.sequence
    return pattern.sequence[:, keep[0] : keep[-1] + 1]


__all__ = ["motif_stage", "pooled", "trimmed"]
