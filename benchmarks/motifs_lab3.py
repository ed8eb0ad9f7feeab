"""Motif discovery on the simulated ``lab3`` preset: are CTCF, ARID3A and MAFK recovered?

Usage::

    python benchmarks/motifs_lab3.py --workdir /tmp/lab3_motifs            # everything
    python benchmarks/motifs_lab3.py --workdir /tmp/lab3_motifs --prepare-only
    python benchmarks/motifs_lab3.py --workdir /tmp/lab3_motifs --out lab3_motifs.json

Steps (each cached in ``--workdir``, so reruns start where they left off):

1. simulate ``lab3`` (``--n`` sequences, default the full preset) with ``--seed``;
2. train :class:`cislens.models.LabCNN` with :func:`cislens.train.fit` (``--epochs``) and report
   the per-task test auROC;
3. DeepLiftShap hypothetical contributions (20 dinucleotide shuffles) for ``--per-task`` test
   positives of each task, each explained with its own task as the target; the three sets are
   concatenated into one attribution store ``attributions.h5``;
4. :func:`cislens.motifs.discover_motifs`, then :func:`cislens.motifs.annotate` against JASPAR
   CORE vertebrates; the instance caller is scored against the recorded test instances.

Acceptance: each of CTCF (MA0139), ARID3A (MA0151) and MAFK (MA0496) is the best TOMTOM match
(q < 0.05) of some positive pattern, with at most 2 further patterns.
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


def prepare(args) -> dict:
    """Simulate, train and attribute (cached). Returns timings and auROCs."""
    import torch

    from cislens.attribution import deeplift_shap
    from cislens.io import AttributionSet, load_dataset, save_attributions, save_dataset
    from cislens.models import LabCNN, load_model, save_model
    from cislens.simulate import simulate
    from cislens.train import evaluate, fit

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    info: dict = {}
    data_path = work / "lab3.h5"
    t0 = time.perf_counter()
    if data_path.exists():
        dataset = load_dataset(data_path)
    else:
        dataset = simulate("lab3", n=args.n, random_state=args.seed)
        save_dataset(data_path, dataset)
    info["simulate_s"] = time.perf_counter() - t0
    model_path = work / "model"
    t0 = time.perf_counter()
    if (model_path / "config.json").exists():
        model = load_model(model_path)
    else:
        model = LabCNN(n_tasks=dataset.n_tasks, input_length=dataset.length, random_state=args.seed)
        fit(
            model,
            dataset,
            epochs=args.epochs,
            batch_size=100,
            random_state=args.seed,
            device="cpu",
            callback=lambda r: print({k: r[k] for k in list(r)[:6]}, flush=True),
        )
        save_model(model, model_path, task_names=dataset.task_names)
    model.eval()
    info["train_s"] = time.perf_counter() - t0
    table = evaluate(
        model, dataset.X["test"], dataset.Y["test"], task_names=dataset.task_names, device="cpu"
    )
    info["test_auroc"] = dict(zip(table["task"], table["auroc"].round(4).tolist(), strict=True))
    print(table.to_string(index=False))
    attr_path = work / "attributions.h5"
    t0 = time.perf_counter()
    if not attr_path.exists():
        X_test = torch.as_tensor(dataset.X["test"])
        Y_test = dataset.Y["test"]
        X_parts, H_parts, index_parts, task_parts = [], [], [], []
        for t, task in enumerate(dataset.task_names):
            rows = np.flatnonzero(Y_test[:, t] > 0.5)[: args.per_task]
            hyp = deeplift_shap(
                model,
                X_test[rows],
                target=t,
                n_shuffles=20,
                hypothetical=True,
                random_state=args.seed,
                batch_size=256,
                device="cpu",
            )
            X_parts.append(X_test[rows].numpy())
            H_parts.append(hyp.numpy())
            index_parts.append(rows)
            task_parts.append(np.full(len(rows), t))
            print(f"attributed {len(rows)} {task} positives", flush=True)
        X = np.concatenate(X_parts)
        H = np.concatenate(H_parts)
        attr = AttributionSet(
            X=X,
            attributions=H * X,
            hypothetical=H,
            method="deeplift_shap",
            target="per-task",
            params={"n_shuffles": 20, "tasks": np.concatenate(task_parts).tolist()},
            random_state=args.seed,
            example_index=np.concatenate(index_parts),
            task_names=dataset.task_names,
        )
        save_attributions(attr_path, attr)
    info["attribution_s"] = time.perf_counter() - t0
    return info


def discover_and_score(args, info: dict) -> dict:
    """Discovery, annotation and instance calling on the cached inputs."""
    from cislens.io import load_attributions, load_dataset
    from cislens.motifs import (
        annotate,
        call_instances,
        discover_motifs,
        instance_recovery,
        jaspar_database,
        save_motifs,
    )

    work = Path(args.workdir)
    attr = load_attributions(work / "attributions.h5")
    t0 = time.perf_counter()
    result = discover_motifs(attr.X, attr.hypothetical, random_state=args.seed, verbose=True)
    info["discover_s"] = time.perf_counter() - t0
    save_motifs(work / "motifs.h5", result)
    print(result.summary())
    database = jaspar_database()
    matches = annotate(result.patterns, database=database, n_matches=3)
    print(matches.to_string(index=False))
    best = matches[matches["rank"] == 1]
    recovered = {}
    for tf, prefix in EXPECTED.items():
        rows = best[best["target_id"].str.startswith(prefix) & (best["q_value"] < 0.05)]
        recovered[tf] = (
            None
            if rows.empty
            else {
                "pattern": rows["pattern"].iloc[0],
                "q_value": float(rows["q_value"].iloc[0]),
                "target": f"{rows['target_id'].iloc[0]} {rows['target_name'].iloc[0]}",
                "n_seqlets": int(result.pattern(rows["pattern"].iloc[0]).n_seqlets),
            }
        )
    hit_patterns = {r["pattern"] for r in recovered.values() if r}
    extra = [p.name for p in result.patterns if p.name not in hit_patterns]
    info.update(
        n_seqlets=len(result.seqlets),
        n_patterns=len(result.patterns),
        recovered=recovered,
        extra_patterns=extra,
        best_matches=best[["pattern", "target_id", "target_name", "p_value", "q_value"]].to_dict(
            orient="records"
        ),
    )
    passed = all(recovered.values()) and len(extra) <= 2
    info["acceptance"] = "PASS" if passed else "FAIL"
    print(json.dumps({k: info[k] for k in ("recovered", "extra_patterns")}, indent=1))

    # Instance calling on the attributed test sequences, scored against the recorded instances.
    # Each attributed row explains one task; its truth is that task's motif instances there.
    dataset = load_dataset(work / "lab3.h5", splits=["test"])
    truth = dataset.ground_truth.instances
    truth = truth[truth["split"] == "test"]
    tasks = np.asarray(attr.params["tasks"])
    pattern_of = {tf: r["pattern"] for tf, r in recovered.items() if r}
    for method, key in (("cwm", "instance_recovery"), ("pwm", "instance_recovery_pwm")):
        tables = []
        t0 = time.perf_counter()
        for t, task in enumerate(attr.task_names):
            if task not in pattern_of:
                continue
            rows = np.flatnonzero(tasks == t)
            pattern = result.pattern(pattern_of[task])
            scores = attr.hypothetical[rows] if method == "cwm" else None
            hits = call_instances([pattern], attr.X[rows], scores, method=method)
            hits["motif"] = task
            hits["sequence"] = attr.example_index[rows][hits["example"].to_numpy()]
            sub = truth[truth["sequence"].isin(attr.example_index[rows]) & (truth["motif"] == task)]
            tables.append(instance_recovery(hits, sub, motifs=[task]))
        info[key + "_s"] = time.perf_counter() - t0
        table = pd.concat(tables, ignore_index=True)
        info[key] = table.to_dict(orient="records")
        print(method, "instances\n", table.to_string(index=False))
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="lab3_motifs")
    parser.add_argument("--n", type=int, default=None, help="sequences to simulate")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--per-task", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    info = prepare(args)
    if not args.prepare_only:
        info = discover_and_score(args, info)
    print(json.dumps(info, indent=1, default=str))
    if args.out:
        Path(args.out).write_text(json.dumps(info, indent=1, default=str))
    return 0 if args.prepare_only or info.get("acceptance") == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
