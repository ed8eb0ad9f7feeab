"""How far a preset's planted motif instances stand above the background: per motif, the
information content, the simulator's match threshold, the scores of the planted instances
and the best window of the sequences that carry none, and the auROC of a PWM max-scan
(a one-filter convolution + global max pool with the motif itself as the filter).

Usage::

    python benchmarks/motif_separability.py celltypes5 [--split test] [--task hepatocyte]

The preset is simulated with seed 0 (the data of ``train_presets.py``). Scores are log2-odds
in bits against the simulator's background composition, binned as the simulator bins them
(``cislens.simulate.matching``). Per motif it prints:

- ``IC``: total information content (bits) and the width;
- ``thr``: the match threshold in bits (and as a fraction of the best score) and its exact
  p-value per window and strand under the i.i.d. background; ``exp/kb``: the expected matches
  per 1 kb (both strands) at that p-value;
- the planted instances' scores (median, 5 %) and the best window of the sequences without a
  recorded instance (median, 95 %, 99 %, max), the margin ``min planted - max absent`` and the
  share of absent sequences whose best window is within 1 and 2 bits of the threshold;
- ``auROC``: the per-sequence best score for presence (the PWM as a conv filter + max pool),
  exact and with Gaussian noise of 1 and 2 bits added to it (a detector that is nearly the
  PWM), and ``near/kb``: the expected windows per 1 kb (both strands, i.i.d. background)
  within 2 bits below the threshold, which such a detector must rank below the instances.

With ``--task`` the task's rule is learnt by a small dense head (sklearn MLP, 16 ReLU units)
from the per-sequence best scores of the task's motifs on the training split, and scored on
``--split``: with all motifs, and with each motif left out, so the cost of a missing detector
is measured with exact detectors (what LabCNN's head can do when its channels are the PWMs).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from cislens.pwm import Motif
from cislens.simulate import simulate
from cislens.simulate.matching import build_match_model, score_distribution
from cislens.simulate.resolve import as_config
from cislens.train.evaluate import binary_metrics


def auroc(labels, scores) -> float:
    labels = np.asarray(labels, bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(binary_metrics(labels.astype(np.float32), np.asarray(scores, np.float64))[0])


def best_scores(X: np.ndarray, match, motif: int, batch: int = 2000) -> np.ndarray:
    """Each sequence's best binned window score of ``motif`` over both strands, in bits."""
    best = np.full(len(X), -np.inf)
    for strand in (0, 1):
        table = match.tables[2 * motif + strand][:, :4].T.astype(np.float32)  # (4, W) bins
        weight = torch.from_numpy(np.ascontiguousarray(table))[None]
        for i in range(0, len(X), batch):
            x = torch.from_numpy(np.ascontiguousarray(X[i : i + batch], dtype=np.float32))
            scores = F.conv1d(x, weight).amax(dim=(1, 2)).numpy()
            best[i : i + batch] = np.maximum(best[i : i + batch], scores)
    return best * match.bin_size


def near_windows(match, motif: int, bits: float, length: int) -> float:
    """Expected windows per ``length`` bp (both strands, i.i.d. background) scoring at least
    ``bits``: how many near-matches a detector must rank below the planted instances."""
    total = 0.0
    for strand in (0, 1):
        table = match.tables[2 * motif + strand][:, :4].T.astype(np.int64)
        low, pmf = score_distribution(table, match.composition)
        start = max(int(np.ceil(bits / match.bin_size)) - low, 0)
        total += float(pmf[start:].sum()) * (length - table.shape[1] + 1)
    return total


def motif_rows(data, split: str) -> tuple[list[dict], dict]:
    """One row per motif of the dataset (see the module docstring) and the best scores."""
    config = as_config(data.ground_truth.config)
    composition = np.asarray(data.attrs["background_composition"], dtype=np.float64)
    motifs = {m: Motif(m, np.asarray(data.ground_truth.motifs[m])) for m in config.motif_names}
    match = build_match_model(motifs, composition, config.scan)
    inst = data.ground_truth.instances
    inst = inst[inst["split"] == split]
    X, length = data.X[split], data.X[split].shape[2]
    rows, best = [], {}
    # a detector that is off by ~1 (2) bits rms: the same Gaussian draw for every motif
    noise = np.random.default_rng(0).normal(size=(1, len(X)))
    for k, name in enumerate(match.names):
        motif = motifs[name]
        best[name] = best_scores(X, match, k)
        planted = inst.loc[inst["motif"] == name]
        present = np.zeros(len(X), bool)
        present[planted["sequence"].to_numpy()] = True
        absent = best[name][~present]
        thr = match.threshold_bits(k, 0)
        top = float(match.tables[2 * k][:, :4].max(axis=1).sum() * match.bin_size)
        width = motif.width
        p = float(match.p_values[k].mean())
        rows.append(
            {
                "motif": name,
                "width": width,
                "ic_bits": round(float(motif.information_content(composition).sum()), 2),
                "threshold_bits": round(thr, 1),
                "threshold_of_best": round(thr / top, 2),
                "p_window": float(f"{p:.2g}"),
                "expected_per_kb": round(2 * p * (1000 - width + 1), 3),
                "planted_median": round(float(planted["score"].median()), 1),
                "planted_p05": round(float(planted["score"].quantile(0.05)), 1),
                "absent_median": round(float(np.median(absent)), 1),
                "absent_p95": round(float(np.quantile(absent, 0.95)), 1),
                "absent_p99": round(float(np.quantile(absent, 0.99)), 1),
                "absent_max": round(float(absent.max()), 1),
                "margin_bits": round(float(planted["score"].min() - absent.max()), 1),
                "absent_within_1bit": round(float((absent >= thr - 1).mean()), 3),
                "absent_within_2bit": round(float((absent >= thr - 2).mean()), 3),
                "auroc_pwm_max": round(auroc(present, best[name]), 4),
                "auroc_noise1": round(auroc(present, best[name] + noise[0]), 3),
                "auroc_noise2": round(auroc(present, best[name] + 2 * noise[0]), 3),
                "near_windows_per_kb": round(near_windows(match, k, thr - 2, 1000), 2),
                "present_fraction": round(float(present.mean()), 3),
                "length": length,
            }
        )
    return rows, best


def head_rows(data, split: str, task: str, seed: int = 0) -> list[dict]:
    """The task's rule learnt by a 16-unit ReLU head from exact PWM detectors (all motifs of
    the rule, and each one left out)."""
    from sklearn.neural_network import MLPClassifier

    config = as_config(data.ground_truth.config)
    t = data.task_names.index(task)
    names = sorted(config.tasks[t].rule.motifs())
    _, train_best = motif_rows_cached(data, "train")
    _, eval_best = motif_rows_cached(data, split)
    rows = []
    for left_out in [None, *names]:
        used = [m for m in names if m != left_out]
        features = {
            s: np.stack([b[m] for m in used], axis=1)
            for s, b in (("train", train_best), (split, eval_best))
        }
        head = MLPClassifier((16,), max_iter=500, random_state=seed)
        head.fit(features["train"], data.Y["train"][:, t])
        score = head.predict_proba(features[split])[:, 1]
        rows.append(
            {
                "task": task,
                "detectors": "+".join(used),
                "left_out": left_out or "-",
                "auroc": round(auroc(data.Y[split][:, t], score), 4),
            }
        )
    return rows


_CACHE: dict = {}


def motif_rows_cached(data, split: str):
    if split not in _CACHE:
        _CACHE[split] = motif_rows(data, split)
    return _CACHE[split]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--split", default="test")
    parser.add_argument("--task", action="append", default=[])
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the rows to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.process_time()
    data = simulate(args.preset, n=args.n, random_state=0)
    rows, _ = motif_rows_cached(data, args.split)
    keys = list(rows[0])
    print(" ".join(keys))
    for row in rows:
        print(" ".join(str(row[k]) for k in keys))
    heads = [r for task in args.task for r in head_rows(data, args.split, task)]
    for row in heads:
        print(f"head {row['task']}: detectors {row['detectors']:24s} auROC {row['auroc']:.4f}")
    cpu = round(time.process_time() - start, 1)
    print(f"cpu {cpu} load {os.getloadavg()}")
    if args.json:
        payload = {"motifs": rows, "heads": heads, "cpu_s": cpu, "argv": argv}
        with open(args.json, "w") as handle:
            json.dump(payload, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
