"""Does a mean pool let a trained LabCNN find the motifs it missed? A mechanism probe.

Usage::

    python benchmarks/labcnn_mean_pool_probe.py MODEL_DIR PRESET EPOCHS [--no-mean]

Loads a trained LabCNN (``train_presets.py --save-dir``), adds ``mean_pool`` (the new dense
columns start at 0, so the model's outputs are unchanged at the start) and trains it further
on the preset (seed 0, the data it was trained on) at lr 1e-3, printing every task's
validation auROC per epoch. ``--no-mean`` trains the same model further without the mean
(the control). On celltypes5 the default model has no REST and no HNF4A detector
(``labcnn_diagnose.py``): if the mean pool's gradient reaches them, neural and hepatocyte rise.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_probe import per_task_line

from cislens.models import build_model, load_model
from cislens.simulate import simulate
from cislens.train import evaluate, fit


def with_mean_pool(model):
    """A copy of ``model`` with ``mean_pool`` whose outputs equal ``model``'s."""
    hparams = {**model.hparams, "mean_pool": True}
    new = build_model({"name": "labcnn", **hparams}, random_state=0)
    state = model.state_dict()
    weight = state["dense.weight"]
    state["dense.weight"] = torch.cat([weight, torch.zeros_like(weight)], dim=1)
    new.load_state_dict(state)
    return new.eval()


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    model_dir, preset, epochs = argv[:3]
    model = load_model(model_dir)
    if "--no-mean" not in argv:
        model = with_mean_pool(model)
    data = simulate(preset, n=None, random_state=0)
    valid = data.X["valid"], data.Y["valid"]
    start = time.process_time()
    print(0, "start", per_task_line(model, *valid), flush=True)
    fit(
        model,
        data,
        epochs=int(epochs),
        lr=1e-3,
        batch_size=64,
        monitor="valid_auroc",
        lr_schedule="plateau",
        reverse_complement=True,
        patience=None,
        random_state=0,
        callback=lambda r: print(
            r["epoch"], round(r["train_loss"], 3), per_task_line(model, *valid), flush=True
        ),
    )
    table = evaluate(model, data.X["test"], data.Y["test"], truth=data.ground_truth)
    print("RESULT", argv, "test", [round(x, 3) for x in table["auroc"]], end=" ")
    print("cpu", round(time.process_time() - start, 1), "load", os.getloadavg())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
