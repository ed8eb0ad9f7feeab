"""One training run with chosen settings, printing the validation auROC of every epoch.

Usage::

    python benchmarks/train_probe.py own basset '{"pool_sizes": [3, 4, 15]}' '{"lr": 0.01}' 25
    python benchmarks/train_probe.py rest labcnn '{}' '{"lr": 0.003, "patience": null}' 60

The first argument is ``own`` (the issue's 2,000 x 300 bp GATAAG data of
``train_presets.own_data``) or a preset (simulated at its full size, seed 0); then the
architecture, JSON model arguments (over ``default_model_args``), JSON ``fit`` arguments and
the maximum epochs. Settings not given: batch 64, plateau schedule, reverse-complement
augmentation, monitor valid auROC, patience None (the whole run, to see a late exit from the
flat phase). Prints ``epoch train_loss valid_auroc`` lines, then the test auROC (and the PWM
baseline on presets), the CPU seconds (1 torch thread) and the load average. The experiments
behind ``cislens.train.defaults`` are logged in ``benchmarks/results/train_probes.txt``.

With ``--task=NAME`` only that task of a multi-task preset is trained (alone). With
``--per-task`` (a sixth argument) each epoch line also shows the validation auROC of
every task and, for LabCNN, the first- and second-layer channels that are silent (never above
0 on 500 validation sequences: a silent ReLU channel before a global max pool gets no
gradient again), e.g. ``python benchmarks/train_probe.py celltypes5 labcnn '{}' '{}' 10
--per-task``.

With ``--plant=M1,M2`` (LabCNN on a preset) first-layer filters 0, 1, ... start as the
log-odds of the preset's motifs M1, M1's reverse complement, M2, ... (centred in the filter,
against the simulator's background composition) instead of random weights: does the model
keep and use a detector it was given (the motif is then not to be *found*, only kept)? The
2026-12-05 REST run planted the forward strand only (filter 0).

With ``--seed=N`` the model's initialisation and ``fit`` use seed N instead of 0 (the seeds
of LabCNN's default race are ``cislens.train.restart_seeds(0, 3)``).
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

from cislens.models import build_model
from cislens.simulate import simulate
from cislens.train import evaluate, fit
from cislens.train.defaults import default_model_args
from cislens.train.evaluate import binary_metrics, predict_array


def silent_channels(model, X) -> str:
    """LabCNN's first- and second-layer channels never above 0 on ``X`` (eval mode)."""
    if not hasattr(model, "relu2"):
        return ""
    seen = {}
    layers = {"conv1": model.pool1, "conv2": model.pool2}  # pools see the activations
    handles = [
        layer.register_forward_pre_hook(lambda m, args, n=n: seen.__setitem__(n, args[0]))
        for n, layer in layers.items()
    ]
    with torch.no_grad():
        model.eval()
        model(torch.from_numpy(X))
        model.train()
    for handle in handles:
        handle.remove()
    # exp activations are never 0: count a channel as silent when its maximum is below 1e-6
    counts = [int((a.amax(dim=(0, 2)) <= 1e-6).sum()) for a in seen.values()]
    return f"silent {counts[0]}/{seen['conv1'].shape[1]} {counts[1]}/{seen['conv2'].shape[1]}"


def per_task_line(model, X_valid, Y_valid) -> str:
    """Validation auROC of every task and LabCNN's silent channels."""
    logits = predict_array(model, X_valid, batch_size=256, device="cpu")
    aurocs = [
        round(binary_metrics(Y_valid[:, t], logits[:, t])[0], 3) for t in range(Y_valid.shape[1])
    ]
    return f"tasks {aurocs} {silent_channels(model, X_valid[:500])}"


def plant_motifs(model, truth, names: list[str], composition) -> None:
    """First-layer filters 0.. of a LabCNN start as the log-odds (natural log) of ``names``,
    each motif followed by its reverse complement (a filter reads one strand)."""
    from cislens.pwm import Motif

    width = model.conv1.weight.shape[2]
    motifs = [Motif(name, truth.motifs[name]) for name in names]
    motifs = [m for motif in motifs for m in (motif, motif.reverse_complement())]
    with torch.no_grad():
        for i, motif in enumerate(motifs):
            table = np.maximum(motif.log_odds(composition), -10.0)
            if table.shape[1] > width:  # a longer motif keeps its central columns
                cut = (table.shape[1] - width) // 2
                table = table[:, cut : cut + width]
            left = (width - table.shape[1]) // 2
            weight = torch.zeros(4, width)
            weight[:, left : left + table.shape[1]] = torch.from_numpy(table * np.log(2.0))
            model.conv1.weight[i] = weight
            model.conv1.bias[i] = 0.0


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    per_task = "--per-task" in argv
    only = [a.split("=", 1)[1] for a in argv if a.startswith("--task=")]
    plant = [a.split("=", 1)[1].split(",") for a in argv if a.startswith("--plant=")]
    seed = int(next((a.split("=", 1)[1] for a in argv if a.startswith("--seed=")), 0))
    argv = [a for a in argv if not a.startswith(("--task=", "--plant=", "--seed="))]
    case, arch, model_args, fit_args, epochs = [a for a in argv if a != "--per-task"]
    if case == "own":
        arrays = own_data(0)
        data, test, n_tasks, length, truth = arrays[:4], arrays[4:], 1, 300, None
        valid = arrays[2:4]
    else:
        dataset = simulate(case, n=None, random_state=0)
        data, test = dataset, (dataset.X["test"], dataset.Y["test"])
        n_tasks, length, truth = dataset.n_tasks, dataset.length, dataset.ground_truth
        valid = dataset.X["valid"], dataset.Y["valid"]
        if only:  # one task of a multi-task preset, alone (no PWM baseline column)
            t = dataset.task_names.index(only[0])
            X, Y = dataset.X, {k: v[:, [t]] for k, v in dataset.Y.items()}
            data = X["train"], Y["train"], X["valid"], Y["valid"]
            test, valid, n_tasks, truth = (X["test"], Y["test"]), data[2:], 1, None
    config = {"name": arch, "n_tasks": n_tasks, "input_length": length}
    n_train = len(data[0]) if isinstance(data, tuple) else len(data.X["train"])
    given = json.loads(model_args)
    config.update(default_model_args(arch, length, n_train, n_tasks, given), **given)
    model = build_model(config, random_state=seed)
    if plant:
        composition = dataset.attrs["background_composition"]
        plant_motifs(model, dataset.ground_truth, plant[0], composition)
    options = {
        "batch_size": 64,
        "monitor": "valid_auroc",
        "lr_schedule": "plateau",
        "reverse_complement": True,
        "patience": None,
        "random_state": seed,
        **json.loads(fit_args),
    }
    start = time.process_time()
    history = fit(
        model,
        data,
        epochs=int(epochs),
        callback=lambda r: print(
            r["epoch"],
            round(r["train_loss"], 3),
            round(r["valid_auroc"], 3),
            per_task_line(model, *valid) if per_task else "",
            flush=True,
        ),
        **options,
    )
    table = evaluate(model, *test, truth=truth)
    print(
        "RESULT",
        " ".join(argv),
        "test",
        [round(x, 3) for x in table["auroc"]],
        "pwm",
        [round(x, 3) for x in table.get("pwm_auroc", [])],
        "best",
        history.best_epoch,
        "cpu",
        round(time.process_time() - start, 1),
        "load",
        os.getloadavg(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
