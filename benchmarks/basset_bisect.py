"""Bisect why Basset cannot learn one planted 6-mer from 1,400 sequences (issue #21 item 2).

Small 1-3 block convolution nets between DeepBind (one convolution, global max: learns) and
Basset (three blocks with batch norm: memorises), trained on ``train_presets.own_data`` with
the small-data defaults (lr 1e-2, batch 64, plateau schedule, reverse-complement augmentation,
monitor validation auROC, patience 20, 40 epochs). Usage::

    LR=0.01 SEEDS=0,1,2 python benchmarks/basset_bisect.py 1blk_nobn 3blk_bn 3blk_exp64

Prints ``RESULT name lr seed test-auROC best-epoch epochs cpu-s`` and every third validation
auROC. The results are in ``benchmarks/results/train_probes_h_basset.txt``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_presets import own_data

from cislens.models import initialize_parameters
from cislens.models.basset import Exponential
from cislens.train import evaluate, fit


class Net(nn.Module):
    """Blocks of Conv1d (-> BatchNorm) -> activation -> MaxPool (0: global), then a dense head."""

    def __init__(self, blocks, hidden=32, bn=True, dense_bn=False, dropout=0.5, act1="relu"):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 4
        for filters, width, pool in blocks:
            layers.append(nn.Conv1d(channels, filters, width))
            if bn:
                layers.append(nn.BatchNorm1d(filters))
            layers.append(Exponential() if act1 == "exp" and channels == 4 else nn.ReLU())
            layers.append(nn.AdaptiveMaxPool1d(1) if pool == 0 else nn.MaxPool1d(pool))
            channels = filters
        self.conv = nn.Sequential(*layers)
        with torch.no_grad():
            n_features = self.conv(torch.zeros(2, 4, 300)).numel() // 2
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(n_features, hidden)]
        if dense_bn:
            head.append(nn.BatchNorm1d(hidden))
        head += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)]
        self.dense = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(x))


B1 = [(32, 19, 0)]
B2 = [(32, 19, 3), (32, 11, 0)]
B3 = [(32, 19, 3), (32, 11, 4), (32, 7, 0)]
B3_64 = [(64, 19, 3), (32, 11, 4), (32, 7, 0)]
VARIANTS = {
    "1blk_bn": {"blocks": B1},
    "1blk_nobn": {"blocks": B1, "bn": False},
    "2blk_bn": {"blocks": B2},
    "2blk_nobn": {"blocks": B2, "bn": False},
    "3blk_bn": {"blocks": B3},
    "3blk_nobn": {"blocks": B3, "bn": False},
    "3blk_exp": {"blocks": B3, "act1": "exp"},
    "3blk_exp64": {"blocks": B3_64, "act1": "exp"},
    "3blk_exp64_dbn": {"blocks": B3_64, "act1": "exp", "dense_bn": True},
}


def run(name: str, lr: float, seed: int, epochs: int = 40) -> None:
    X, Y, Xv, Yv, Xt, Yt = own_data(0)
    model = initialize_parameters(Net(**VARIANTS[name]), random_state=seed)
    start, valid = time.process_time(), []
    history = fit(
        model,
        (X, Y, Xv, Yv),
        epochs=epochs,
        batch_size=64,
        lr=lr,
        monitor="valid_auroc",
        lr_schedule="plateau",
        reverse_complement=True,
        patience=20,
        random_state=seed,
        callback=lambda r: valid.append(round(r["valid_auroc"], 2)),
    )
    test = float(evaluate(model, Xt, Yt)["auroc"].iloc[0])
    cpu = time.process_time() - start
    print("RESULT", name, "lr", lr, "seed", seed, "test", round(test, 3), "best",
          history.best_epoch, "ep", len(valid), "cpu", round(cpu, 1), "valid", valid[::3],
          flush=True)  # fmt: skip


if __name__ == "__main__":
    torch.set_num_threads(1)
    rate = float(os.environ.get("LR", "0.01"))
    for variant in sys.argv[1:]:
        for s in os.environ.get("SEEDS", "0").split(","):
            run(variant, rate, int(s))
