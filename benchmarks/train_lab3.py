"""Train the classic LabCNN on the simulated ``lab3`` preset and report per-task test auROC.

Usage::

    python benchmarks/train_lab3.py                      # simulate lab3, train, evaluate
    python benchmarks/train_lab3.py --epochs 30 --out lab3_labcnn.json
    python benchmarks/train_lab3.py --data lab3.h5       # use a saved dataset instead

Acceptance target: test auROC >= 0.90 on each of the three tasks (CTCF, ARID3A, MAFK), training
on 2 CPU cores in under 10 minutes. The script prints the per-task table, the simulation,
training and evaluation times, and whether the targets are met; ``--out`` also writes them as
JSON together with the parameters, the seed and the versions. On a machine shared with other
jobs pass ``--threads 1`` (two OpenMP threads fighting other processes for two cores can be ten
times slower).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from cislens._version import __version__
from cislens.models import LabCNN, count_parameters, save_model
from cislens.train import evaluate, fit, format_epoch

TARGET_AUROC = 0.90
TIME_LIMIT_S = 600.0


def load_data(args):
    """The dataset and the seconds it took (simulation or file read)."""
    start = time.perf_counter()
    if args.data:
        from cislens.io.dataset import load_dataset

        dataset = load_dataset(args.data)
    else:
        from cislens.simulate import simulate

        dataset = simulate("lab3", n=args.n, random_state=args.seed)
    return dataset, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="dataset HDF5 (default: simulate the lab3 preset)")
    parser.add_argument("--n", type=int, default=None, help="sequences to simulate (preset)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--pool", default="max", choices=["max", "subsample"])
    parser.add_argument("--rc-augment", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    parser.add_argument("--save-model", help="also save the trained checkpoint to this directory")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    dataset, data_time = load_data(args)
    cpu_start = time.process_time()
    print(f"data: {dataset!r} ({data_time:.1f}s)")
    print(dataset.summary())
    model = LabCNN(
        n_tasks=dataset.n_tasks,
        input_length=dataset.length,
        pool=args.pool,
        random_state=args.seed,
    )
    print(
        f"LabCNN: {count_parameters(model):,} parameters, torch threads {torch.get_num_threads()}"
    )
    history = fit(
        model,
        dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        reverse_complement=args.rc_augment,
        random_state=args.seed,
        device="cpu",
        callback=lambda record: print(format_epoch(record), flush=True),
    )
    start = time.perf_counter()
    table = evaluate(
        model, dataset.X["test"], dataset.Y["test"], task_names=dataset.task_names, device="cpu"
    )
    eval_time = time.perf_counter() - start
    cpu_time = time.process_time() - cpu_start
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    passed_auroc = bool((table["auroc"] >= TARGET_AUROC).all())
    passed_time = history.total_time < TIME_LIMIT_S
    print(
        f"training {history.total_time:.1f}s for {history.n_epochs} epochs (best "
        f"{history.best_epoch}); evaluation {eval_time:.1f}s"
    )
    print(
        f"auROC >= {TARGET_AUROC} on every task: {'PASS' if passed_auroc else 'FAIL'}; "
        f"training < {TIME_LIMIT_S:.0f}s: {'PASS' if passed_time else 'FAIL'}"
    )
    if args.save_model:
        save_model(
            model,
            args.save_model,
            task_names=dataset.task_names,
            training_summary={"history": history.to_dict()},
        )
    if args.out:
        record = {
            "benchmark": "train_lab3",
            "cislens_version": __version__,
            "torch_version": torch.__version__,
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "args": vars(args),
            "data_attrs": {k: v for k, v in dataset.attrs.items() if k != "config"},
            "data_time_s": data_time,
            "train_time_s": history.total_time,
            "eval_time_s": eval_time,
            "cpu_time_s": cpu_time,
            "history": history.to_dict(),
            "test_metrics": table.to_dict("records"),
            "passed_auroc": passed_auroc,
            "passed_time": passed_time,
        }
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, default=str)
        print(f"wrote {args.out}")
    return 0 if passed_auroc and passed_time else 1


if __name__ == "__main__":
    sys.exit(main())
