"""Why Beluga does not learn one planted 6-mer from 1,400 sequences (issue #21 item 2).

Trains ``DeepSEABeluga`` variants on ``train_presets.own_data(seed)`` (2,000 x 300 bp, GATAAG in
half) with ``fit`` and prints, every ``EVERY`` epochs, the validation auROC and what the
first stage does: the fraction of positions active after the first stage (ReLU of conv1b > 0
on 200 validation sequences), the top-1 % share of the first activation (how sparse it is) and
how many first-layer filters have GATAAG / CTTATC in their consensus. Usage::

    SEEDS=0,1 EPOCHS=40 python benchmarks/beluga_probe.py NAME MODEL_ARGS [FIT_ARGS]

``MODEL_ARGS`` are JSON arguments of ``DeepSEABeluga`` over the published class default (not
over ``default_model_args``); ``FIT_ARGS`` JSON over the small-data settings (lr 1e-2, batch
64, plateau schedule, reverse-complement augmentation, monitor validation auROC, patience 20).
Prints ``RESULT name seed test-auROC best-epoch epochs cpu-s params load``. The results are
in ``benchmarks/results/train_probes_h_beluga.txt``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_presets import own_data

from cislens.models import DeepSEABeluga
from cislens.train import evaluate, fit

MOTIFS = ("GATAAG", "CTTATC")


def first_stage(model: DeepSEABeluga, X: np.ndarray) -> str:
    """Active fraction after stage 1, sparsity of the first activation, motif filters."""
    seen = {}
    conv = model.conv
    first_act = conv.exp1a if hasattr(conv, "exp1a") else conv.relu1a
    hooks = [
        first_act.register_forward_hook(lambda m, i, o: seen.__setitem__("a", o)),
        conv.relu1b.register_forward_hook(lambda m, i, o: seen.__setitem__("b", o)),
    ]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.from_numpy(X))
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    active_b = float((seen["b"] > 0).float().mean())
    a = seen["a"].flatten(1)  # share of the activation mass in its top 1 % entries
    k = max(1, a.shape[1] // 100)
    top_share = float((a.topk(k, dim=1).values.sum(1) / a.sum(1).clamp_min(1e-12)).mean())
    weights = conv.conv1a.weight.detach().numpy()
    consensus = ["".join("ACGT"[i] for i in w.argmax(0)) for w in weights]
    motif_filters = sum(any(m in c for m in MOTIFS) for c in consensus)
    return f"active1b {active_b:.2f} top1%share {top_share:.3f} motif_filters {motif_filters}"


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    name, model_args = argv[0], json.loads(argv[1])
    fit_args = json.loads(argv[2]) if len(argv) > 2 else {}
    seeds = [int(s) for s in os.environ.get("SEEDS", "0").split(",")]
    epochs, every = int(os.environ.get("EPOCHS", "40")), int(os.environ.get("EVERY", "3"))
    for seed in seeds:
        X_tr, Y_tr, X_va, Y_va, X_te, Y_te = own_data(seed)
        model = DeepSEABeluga(1, 300, random_state=seed, **model_args)
        print(name, seed, "start", first_stage(model, X_va[:200]), flush=True)

        def report(r, model=model, X=X_va[:200]):
            if r["epoch"] % every == 0:
                line = first_stage(model, X)
                print(r["epoch"], round(r["train_loss"], 3), round(r["valid_auroc"], 3), line)

        options = {
            "lr": 1e-2,
            "batch_size": 64,
            "monitor": "valid_auroc",
            "lr_schedule": "plateau",
            "reverse_complement": True,
            "patience": 20,
            **fit_args,
        }
        start = time.process_time()
        history = fit(
            model,
            (X_tr, Y_tr, X_va, Y_va),
            epochs=epochs,
            callback=report,
            random_state=seed,
            **options,
        )
        auroc = float(evaluate(model, X_te, Y_te)["auroc"].iloc[0])
        print(
            "RESULT",
            name,
            seed,
            round(auroc, 3),
            history.best_epoch,
            history.n_epochs,
            round(time.process_time() - start, 1),
            sum(p.numel() for p in model.parameters()),
            os.getloadavg(),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
