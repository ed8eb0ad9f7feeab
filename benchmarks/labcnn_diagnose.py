"""Where a trained LabCNN fails on a preset: per-task errors by motif content, and which
channels detect which motif.

Usage::

    python benchmarks/labcnn_diagnose.py MODEL_DIR celltypes5 [--n N]

``MODEL_DIR`` is a checkpoint (``train_presets.py --save-dir``); the preset is simulated
again with seed 0 (the same data as the run that trained it) and only the test split is used.
Prints:

- per task, the test auROC of the model and the auROC of its positives against each kind of
  negative (grouped by which of the task's motifs they carry), so a miss is named: e.g. for
  ``RFX3 AND NOT REST``, positives against negatives carrying RFX3 and REST (the repressor is
  not suppressed) and against negatives without RFX3;
- per motif, the first-layer filter and the second-layer channel (after the global max pool)
  whose per-sequence maximum best separates sequences with the motif from those without
  (auROC), and the silent channels;
- per second-layer channel, the drop in every task's auROC when that channel is replaced by
  its mean (which tasks use it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import numpy as np
import torch

from cislens.models import load_model
from cislens.simulate import simulate
from cislens.train.evaluate import binary_metrics


def auroc(labels, scores) -> float:
    labels = np.asarray(labels, bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(binary_metrics(labels.astype(np.float32), np.asarray(scores, np.float64))[0])


def layer_maxima(model, X: np.ndarray, batch: int = 500):
    """(logits, first-layer max per filter, second-layer global max per channel) on ``X``."""
    seen: dict = {}
    hooks = [
        model.pool1.register_forward_pre_hook(lambda m, a: seen.__setitem__("c1", a[0])),
        model.pool2.register_forward_hook(lambda m, a, out: seen.__setitem__("c2", out)),
    ]
    if getattr(model, "mean2", None) is not None:
        hooks.append(model.mean2.register_forward_hook(lambda m, a, o: seen.__setitem__("m2", o)))
    out = {"logits": [], "c1": [], "c2": [], "m2": []}
    model.eval()
    with torch.no_grad():
        for i in range(0, len(X), batch):
            out["logits"].append(model(torch.from_numpy(X[i : i + batch])).numpy())
            out["c1"].append(seen["c1"].amax(dim=2).numpy())
            out["c2"].append(seen["c2"].amax(dim=2).numpy())
            out["m2"].append(seen["m2"].mean(dim=2).numpy() if "m2" in seen else np.zeros((0,)))
    for hook in hooks:
        hook.remove()
    result = {k: np.concatenate(v) for k, v in out.items() if k != "m2"}
    result["m2"] = np.concatenate(out["m2"]) if "m2" in seen else None
    return result


def head_logits(model, c2: np.ndarray, m2=None) -> np.ndarray:
    """The logits from the pooled second-layer features (global pool: one value per channel;
    with ``mean_pool`` the means ``m2`` follow the maxima)."""
    features = c2 if m2 is None else np.concatenate([c2, m2], axis=1)
    with torch.no_grad():
        h = model.relu3(model.dense(torch.from_numpy(features.astype(np.float32))))
        return model.out(h).numpy()


def task_report(name, motifs, y, score, presence) -> None:
    """Positives against negatives grouped by which of ``motifs`` they carry: each group's
    mean logit and the auROC of that group against all sequences of the other label."""
    print(f"\n== {name}: test auROC {auroc(y, score):.3f}; positives {int(y.sum())}")
    pos = y == 1
    for combo in itertools.product([0, 1], repeat=len(motifs)):
        carry = np.all([presence[m] == c for m, c in zip(motifs, combo, strict=True)], axis=0)
        label = "+".join(m for m, c in zip(motifs, combo, strict=True) if c) or "none"
        for group, mask in (("neg", ~pos & carry), ("pos", pos & carry)):
            if mask.sum() == 0:
                continue
            # positives score high: a group of negatives is ranked against all positives
            high, low = (pos, mask) if group == "neg" else (mask, ~pos)
            labels = np.r_[np.ones(high.sum()), np.zeros(low.sum())]
            a = auroc(labels, np.r_[score[high], score[low]])
            print(
                f"  {group} {label:24s} n={int(mask.sum()):5d} "
                f"mean logit {score[mask].mean():7.2f}  auROC vs the other label: {a:.3f}"
            )


def detector_report(motifs, presence, counts, acts) -> None:
    """The best first-layer filter and second-layer channel for each motif."""
    print("\n== detectors: best channel per motif (auROC of its per-sequence max for presence)")
    for m in motifs:
        line = f"  {m:6s} present in {presence[m].mean():.2f} "
        line += f"(mean count {counts[m][presence[m]].mean():.1f});"
        for layer in ("c1", "c2"):
            values = acts[layer]
            best = max(range(values.shape[1]), key=lambda c: auroc(presence[m], values[:, c]))
            line += f" {layer} #{best:2d} auROC {auroc(presence[m], values[:, best]):.3f}"
        print(line)


def channel_report(model, Y, motifs, presence, acts) -> None:
    """Silent second-layer channels, and each channel's use: the drop in every task's
    auROC when the channel's pooled features are replaced by their mean."""
    c2, m2 = acts["c2"], acts["m2"]
    silent = int((c2.max(axis=0) <= 1e-6).sum())
    print(f"\n== conv2 channels: {silent}/{c2.shape[1]} silent on {len(Y)} test sequences")
    base_logits = head_logits(model, c2, m2)
    base = [auroc(Y[:, t], base_logits[:, t]) for t in range(Y.shape[1])]
    for c in range(c2.shape[1]):
        ablated, ablated_mean = c2.copy(), None if m2 is None else m2.copy()
        ablated[:, c] = c2[:, c].mean()
        if m2 is not None:
            ablated_mean[:, c] = m2[:, c].mean()
        logits = head_logits(model, ablated, ablated_mean)
        drops = " ".join(
            f"{base[t] - auroc(Y[:, t], logits[:, t]):+.3f}" for t in range(Y.shape[1])
        )
        best = max(motifs, key=lambda m: auroc(presence[m], c2[:, c]))
        print(
            f"  ch {c:2d} max {c2[:, c].max():6.2f} best motif {best:6s} "
            f"{auroc(presence[best], c2[:, c]):.3f}  auROC drop per task {drops}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("preset")
    parser.add_argument("--n", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.process_time()
    model = load_model(args.model_dir)
    data = simulate(args.preset, n=args.n, random_state=0)
    X, Y = data.X["test"], data.Y["test"]
    inst = data.ground_truth.instances
    inst = inst[inst["split"] == "test"]
    motifs = list(data.ground_truth.motifs)
    rows = {m: inst.loc[inst.motif == m, "sequence"] for m in motifs}
    presence = {m: np.isin(np.arange(len(X)), rows[m]) for m in motifs}
    counts = {m: np.bincount(rows[m], minlength=len(X)) for m in motifs}
    acts = layer_maxima(model, X)
    print("model", model.hparams)
    config = json.loads(data.ground_truth.config)
    for t, name in enumerate(data.task_names):
        rule = json.dumps(config["tasks"][t]["rule"])
        used = [m for m in motifs if f'"{m}"' in rule]
        task_report(name, used, Y[:, t], acts["logits"][:, t], presence)
    detector_report(motifs, presence, counts, acts)
    channel_report(model, Y, motifs, presence, acts)
    print(f"cpu {time.process_time() - start:.1f} load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
