"""Instance calling on the simulated ``lab3`` test set: precision and recall against the truth.

Usage::

    python benchmarks/motifs_lab3.py --workdir /tmp/lab3_motifs          # simulate, train, discover
    python benchmarks/instances_lab3.py --workdir /tmp/lab3_motifs \\
        --out benchmarks/results/motifs_instances_lab3.json \\
        --figure benchmarks/results/motifs_instances_lab3.png

Reads what ``motifs_lab3.py`` cached in ``--workdir`` (``lab3.h5``, ``attributions.h5`` and
``motifs.h5``; the patterns are re-discovered when ``motifs.h5`` is missing). Each pattern is
named by its best TOMTOM match (JASPAR CORE vertebrates, q < 0.05). For each of CTCF, ARID3A
and MAFK, the attributed test sequences of that task are scanned with its pattern and the hits
are scored (:func:`cislens.motifs.instance_recovery`: same sequence, overlap >= half the
shorter) against the simulator's recorded instances of that motif in those sequences:

- CWM scanning (:func:`call_instances` ``method="cwm"``) of the contribution tracks, with both
  thresholds set to the ``q`` quantile of the pattern's own seqlets' similarity and
  contribution, for a sweep of ``q`` (the default is q = 0.05);
- FIMO-style PWM scanning (``method="pwm"``) of the sequence, for a sweep of p-value
  thresholds (the default is 1e-4).

The figure plots precision against recall for each motif and method, the defaults marked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

EXPECTED = {"CTCF": "MA0139", "ARID3A": "MA0151", "MAFK": "MA0496"}
QUANTILES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7)
P_VALUES = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6)


def _patterns_by_motif(work: Path, attr, seed: int) -> dict:
    """{task: pattern} for the expected motifs that some pattern matches best (q < 0.05)."""
    from cislens.motifs import annotate, discover_motifs, load_motifs, save_motifs

    path = work / "motifs.h5"
    if path.exists():
        result = load_motifs(path)
    else:
        result = discover_motifs(attr.X, attr.hypothetical, random_state=seed)
        save_motifs(path, result)
    matches = annotate(result.patterns, n_matches=1)
    found = {}
    for tf, prefix in EXPECTED.items():
        rows = matches[matches["target_id"].str.startswith(prefix) & (matches["q_value"] < 0.05)]
        if not rows.empty:
            found[tf] = result.pattern(rows.sort_values("q_value")["pattern"].iloc[0])
    return found


def sweep(work: Path, seed: int) -> pd.DataFrame:
    """One row per (motif, method, threshold): hits, true instances, precision, recall."""
    from cislens.io import load_attributions, load_dataset
    from cislens.motifs import call_instances, instance_recovery
    from cislens.motifs.aggregate import SeqletSource
    from cislens.motifs.instances import seqlet_scores

    attr = load_attributions(work / "attributions.h5")
    truth = load_dataset(work / "lab3.h5", splits=["test"]).ground_truth.instances
    truth = truth[truth["split"] == "test"]
    tasks = np.asarray(attr.params["tasks"])
    patterns = _patterns_by_motif(work, attr, seed)
    source = SeqletSource(attr.X, attr.hypothetical)
    rows = []
    for t, task in enumerate(attr.task_names):
        if task not in patterns:
            print(f"{task}: no pattern matches it; skipped", flush=True)
            continue
        pattern = patterns[task]
        members = np.flatnonzero(tasks == t)
        sequences = attr.example_index[members]
        true = truth[truth["sequence"].isin(sequences) & (truth["motif"] == task)]
        similarity, contribution = seqlet_scores(source, pattern)

        calls = []
        for q in QUANTILES:
            hits = call_instances(
                [pattern],
                attr.X[members],
                attr.hypothetical[members],
                method="cwm",
                similarity_threshold=float(np.quantile(similarity, q)),
                contribution_threshold=float(np.quantile(contribution, q)),
            )
            calls.append(("cwm", q, q == 0.05, hits))
        for p in P_VALUES:
            hits = call_instances([pattern], attr.X[members], method="pwm", p_threshold=p)
            calls.append(("pwm", p, p == 1e-4, hits))
        for method, threshold, default, hits in calls:
            hits = hits.assign(motif=task, sequence=sequences[hits["example"].to_numpy()])
            row = instance_recovery(hits, true, motifs=[task]).iloc[0].to_dict()
            row.update(method=method, threshold=threshold, default=default, pattern=pattern.name)
            rows.append(row)
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, path: str) -> None:
    """Precision against recall, one panel per motif, CWM and PWM sweeps, defaults marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    motifs = list(dict.fromkeys(table["motif"]))
    fig, axes = plt.subplots(1, len(motifs), figsize=(4 * len(motifs), 3.8), squeeze=False)
    for ax, motif in zip(axes[0], motifs, strict=True):
        for method, colour, label in (
            ("cwm", "tab:blue", "CWM scan (seqlet quantile)"),
            ("pwm", "tab:orange", "PWM scan (FIMO p-value)"),
        ):
            sub = table[(table["motif"] == motif) & (table["method"] == method)]
            ax.plot(sub["recall"], sub["precision"], "o-", color=colour, label=label, ms=3)
            default = sub[sub["default"]]
            ax.plot(default["recall"], default["precision"], "*", color=colour, ms=14)
            if (default["n_hits"] == 0).any():  # no precision to plot: say so
                ax.text(
                    0.03,
                    0.08 if method == "pwm" else 0.16,
                    f"{method.upper()} default: no hits",
                    color=colour,
                    fontsize=8,
                )
        ax.set(title=motif, xlabel="recall", xlim=(0, 1.02), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("precision")
    axes[0][0].legend(loc="lower left", fontsize=8)
    fig.suptitle("lab3 test set: instance calling vs recorded instances (star: default)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="lab3_motifs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the table as JSON here")
    parser.add_argument("--figure", help="write the precision-recall figure (PNG) here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    table = sweep(Path(args.workdir), args.seed)
    print(table.to_string(index=False))
    defaults = table[table["default"]][
        ["motif", "method", "n_hits", "n_true", "precision", "recall"]
    ]
    print("defaults\n" + defaults.to_string(index=False))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {
            "seconds": time.perf_counter() - start,
            "workdir": str(args.workdir),
            "defaults": defaults.to_dict(orient="records"),
            "sweep": table.to_dict(orient="records"),
        }
        Path(args.out).write_text(json.dumps(record, indent=1, default=float))
    if args.figure:
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        figure(table, args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
