"""Train with the default settings on every preset and on own data; compare with the PWM baseline.

Usage::

    python benchmarks/train_presets.py                          # every preset, LabCNN + Basset
    python benchmarks/train_presets.py --presets spi1 tp53 --n 2000 --archs labcnn
    python benchmarks/train_presets.py --own-data                # 2,000 x 300 bp GATAAG, all archs
    python benchmarks/train_presets.py --simulate-only --n 10000  # simulation time per preset

For each preset and task: the test auROC of each architecture trained with the defaults that
``cislens train`` and ``cislens run`` use (``cislens.train.defaults``: nothing is tuned per
preset) and of the PWM scan baseline (the truth's motifs and rules,
``cislens.simulate.baseline``); ``ok`` is auROC >= baseline - 0.03. The own-data case is the
issue's "new user" data: 2,000 random 300 bp sequences, GATAAG planted at a random position in
half of them, labels = planted (70 / 10 / 20 split; target test auROC >= 0.85 with every
architecture). Times are CPU process time with ``--threads`` torch threads (default 1: the
benchmark machine is shared); the load average is recorded. Results and the command go to
``benchmarks/results/train_presets*.csv`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _memory import reset_peak_rss, status_kib

from cislens._version import __version__
from cislens.models import MODELS, build_model, get_model_class, save_model
from cislens.simulate import preset_names, simulate
from cislens.train import evaluate, fit_restarts
from cislens.train.defaults import default_model_args, training_settings

RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = 0.03
OWN_TARGET = 0.85


def own_data(seed: int = 0, n: int = 2000, length: int = 300, motif: str = "GATAAG"):
    """Random DNA, ``motif`` planted at a random position in half of the sequences; labels =
    planted. Returns (X_train, Y_train, X_valid, Y_valid, X_test, Y_test), split 70/10/20."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, length))
    y = np.zeros(n, np.float32)
    y[rng.permutation(n)[: n // 2]] = 1
    site = np.array(["ACGT".index(c) for c in motif])
    for i in np.flatnonzero(y):
        start = rng.integers(0, length - len(site) + 1)
        tokens[i, start : start + len(site)] = site
    X = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1)
    a, b = int(0.7 * n), int(0.8 * n)
    return X[:a], y[:a, None], X[a:b], y[a:b, None], X[b:], y[b:, None]


def train_default(
    arch: str, data, n_tasks: int, length: int, seed: int, model_args=None, train_args=None
):
    """Train ``arch`` with the shared defaults (``model_args`` / ``train_args`` override them,
    for experiments); (model, history, cpu seconds, peak MiB)."""
    settings = training_settings(get_model_class(arch), train_args or {}, n_train=len(data[0]))
    config = {
        "name": arch,
        "n_tasks": n_tasks,
        "input_length": length,
        **default_model_args(arch, length, len(data[0]), n_tasks=n_tasks, given=model_args),
        **(model_args or {}),
    }
    reset_peak_rss()
    base = status_kib("VmRSS")
    start = time.process_time()
    model, history, _ = fit_restarts(
        lambda s: build_model(config, random_state=s),
        data,
        restarts=settings["restarts"],
        selection_epochs=settings["selection_epochs"],
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        lr_candidates=settings.get("lr_candidates"),
        patience=settings["patience"] or None,
        monitor=settings["monitor"],
        lr_schedule=settings["lr_schedule"],
        reverse_complement=settings["reverse_complement"],
        random_state=seed,
        device="cpu",
    )
    cpu = time.process_time() - start
    peak = status_kib("VmHWM")
    peak_mib = None if peak is None or base is None else (peak - base) / 1024
    return model, history, cpu, peak_mib


def run_presets(args) -> pd.DataFrame:
    rows = []
    for preset in args.presets:
        dataset = simulate(preset, n=args.n, random_state=args.seed)
        data = (dataset.X["train"], dataset.Y["train"], dataset.X["valid"], dataset.Y["valid"])
        for arch in args.archs:
            model, history, cpu, peak = train_default(
                arch, data, dataset.n_tasks, dataset.length, args.seed, *args.overrides
            )
            if args.save_dir:
                save_model(
                    model, Path(args.save_dir) / f"{preset}_{arch}", training_summary=history
                )
            table = evaluate(
                model,
                dataset.X["test"],
                dataset.Y["test"],
                task_names=dataset.task_names,
                truth=dataset.ground_truth,
            )
            for _, row in table.iterrows():
                rows.append(
                    {
                        "preset": preset,
                        "n": sum(len(x) for x in dataset.X.values()),
                        "arch": arch,
                        "task": row["task"],
                        "auroc": row["auroc"],
                        "pwm_auroc": row["pwm_auroc"],
                        "ok": bool(row["auroc"] >= row["pwm_auroc"] - TOLERANCE),
                        "lr": history.params["lr"],
                        "lr_candidates": history.params.get("lr_candidates"),
                        "params": sum(p.numel() for p in model.parameters()),
                        "epochs": history.n_epochs,
                        "best_epoch": history.best_epoch,
                        "cpu_s": round(cpu, 1),
                        "peak_mib": peak,
                    }
                )
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def run_own(args) -> pd.DataFrame:
    data = own_data(args.seed)
    rows = []
    for arch in args.archs:
        model, history, cpu, peak = train_default(
            arch, data[:4], 1, data[0].shape[2], args.seed, *args.overrides
        )
        auroc = float(evaluate(model, data[4], data[5])["auroc"].iloc[0])
        rows.append(
            {
                "case": "own_gataag_2000x300",
                "arch": arch,
                "auroc": auroc,
                "ok": auroc >= OWN_TARGET,
                "lr": history.params["lr"],
                "params": sum(p.numel() for p in model.parameters()),
                "epochs": history.n_epochs,
                "best_epoch": history.best_epoch,
                "cpu_s": round(cpu, 1),
                "peak_mib": peak,
            }
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def run_simulate(args) -> pd.DataFrame:
    rows = []
    for preset in args.presets:
        wall, cpu = time.perf_counter(), time.process_time()
        simulate(preset, n=args.n, random_state=args.seed)
        rows.append(
            {
                "preset": preset,
                "n": args.n,
                "wall_s": round(time.perf_counter() - wall, 2),
                "cpu_s": round(time.process_time() - cpu, 2),
            }
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=preset_names())
    parser.add_argument(
        "--archs",
        nargs="+",
        default=None,
        help="default: labcnn basset (presets), every architecture (own data)",
    )
    parser.add_argument("--n", type=int, default=None, help="sequences per preset (scaled)")
    parser.add_argument("--own-data", action="store_true")
    parser.add_argument("--simulate-only", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument("--save-dir", default=None, help="save each model to SAVE_DIR/PRESET_ARCH")
    parser.add_argument(
        "--model-args", default="{}", help="JSON: override the default model arguments"
    )
    parser.add_argument(
        "--train-args", default="{}", help="JSON: override the default training settings"
    )
    args = parser.parse_args(argv)
    args.overrides = (json.loads(args.model_args), json.loads(args.train_args))
    torch.set_num_threads(args.threads)
    if args.archs is None:
        args.archs = sorted(MODELS) if args.own_data else ["labcnn", "basset"]
    start = time.perf_counter()
    if args.simulate_only:
        table, name = run_simulate(args), "simulate_presets"
    elif args.own_data:
        table, name = run_own(args), "train_own_data"
    else:
        table, name = run_presets(args), "train_presets"
    name += f"_{args.tag}" if args.tag else ""
    print(table.to_string(index=False))
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / f"{name}.csv", index=False)
    meta = {
        "command": "python benchmarks/train_presets.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "cislens_version": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "wall_s": round(time.perf_counter() - start, 1),
        "all_ok": bool(table["ok"].all()) if "ok" in table else None,
        "rows": table.to_dict(orient="records"),
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(meta, indent=1, default=float))
    print(f"wrote {RESULTS / name}.csv/.json; all ok: {meta['all_ok']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
