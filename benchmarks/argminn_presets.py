"""ARGMINN on the interpretable-architecture presets, next to a standard CNN trained the same way.

Usage::

    python benchmarks/argminn_presets.py                          # all ten presets, full size
    python benchmarks/argminn_presets.py --presets spi1,rest --n 4000 --out /tmp/argminn
    python benchmarks/argminn_presets.py --combine a.json b.json   # merge runs of parts
    python benchmarks/argminn_presets.py --cnn-from old.json      # ARGMINN only, CNN copied

For each preset (``spi1, tal_gata, e2f6_max, jund_tead, rest, spi1_ctcf``: 14,000 / 2,000 /
4,000 sequences of 500 bp; ``composite_pair``: 2,800 / 400 / 800 of 300 bp; ``tp53,
grhl2_nfya, nrf1_zeb1``: 7,000 / 1,000 / 2,000 of 500 bp) the dataset is simulated with
``--seed``, then

- **ARGMINN** (``cislens.argminn.ARGMINN`` with its defaults: 8 filters of 15 bp reading both
  strands, tokens with both strands' activations, token batch norm frozen once the regularisers
  start, 2 attention layers of 4 heads, 12 warm-up epochs (the first 6 with the training guide),
  a 10-epoch ramp of the overlap (1 -> 1e5) and L1 (1e-4 -> 1e-2) weights, 6 epochs at the
  final weights) and
- a **standard CNN** of similar size (the layout of the ARGMINN paper's baseline: 3
  convolutions of widths 10/5/5, max-pool 40, dense 10 -> 5 -> T; with ``--cnn-filters 43``
  filters per layer instead of the paper's 8, so it has 25,570 parameters to ARGMINN's 25,650)

are trained with the same ``cislens.train.fit_restarts`` call: ``--restarts`` seeds (default
4, derived from ``--seed``) race for ``--selection-epochs`` (default 5) epochs, the one with the
lowest validation loss is trained from the start for ``--epochs`` (default 28) epochs; Adam,
``--lr`` (default 3e-3: at 1e-3 ARGMINN's attention leaves its initial plateau too slowly to
find a second motif within the warm-up), batch 128, reverse-complement augmentation, best
validation-loss epoch kept (for ARGMINN only from the first epoch at the final regulariser
weights). The training time includes the race. Reported per preset: test auROC of both,
training time, the filter <-> motif matching of the passing filters (TOMTOM q < 0.05 against
JASPAR CORE vertebrates plus the simulated matrices, ``cislens.benchmark.benchmark_motifs``;
*one-to-one* = every motif the labels depend on (``rule_motifs``: the tasks' rules; a
distractor planted in both classes needs no filter) matched by exactly one passing filter and no
passing filter unmatched; ``one_to_one_units`` the same when a *composite* filter, one whose
separate informative runs (``parts``) match two rule motifs on their own, counts for both;
``statuses`` counts the readout's filter statuses: passing, redundant, silent, rare,
unspecific, faded), and the instance calls of
``argminn_instances`` on the test split against the recorded instances (overlap >= 50 % of the
shorter interval; hits of passing filters that match no simulated motif count as false
positives), with the default call rule (activation >= half the filter's maximum and above the
0.9 quantile of its best activation in dinucleotide-shuffled sequences) and with the
reference's (>= its mean positive activation; ``*_mean_rule`` columns). Training time is
reported as wall-clock seconds and as CPU seconds of the process
(``--threads`` torch threads, default 1; on a shared machine the CPU time is the fairer figure).
Results: a table on stdout and ``OUT.csv`` / ``OUT.json`` (default
``benchmarks/results/argminn_presets``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Before numpy/torch load: their BLAS / OpenMP pools otherwise keep a second thread busy beside
# the measured one (seen: ~900 CPU s of a spinning thread per preset, which slowed the other
# process and inflated the CPU-time figures). torch's own threads are set by --threads.
for _variable in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
):
    os.environ.setdefault(_variable, "1")

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from _argminn_readout import decoy_ranking, readout_columns  # noqa: E402
from torch import nn  # noqa: E402

PRESETS = (
    "spi1",
    "tal_gata",
    "e2f6_max",
    "jund_tead",
    "rest",
    "spi1_ctcf",
    "composite_pair",
    "tp53",
    "grhl2_nfya",
    "nrf1_zeb1",
)


class StandardCNN(nn.Module):
    """The ARGMINN paper's baseline CNN: conv 10/5/5 (8 filters), max-pool 40, dense 10/5."""

    def __init__(self, n_tasks: int, length: int, n_filters: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(4, n_filters, 10),
            nn.ReLU(),
            nn.Conv1d(n_filters, n_filters, 5),
            nn.ReLU(),
            nn.Conv1d(n_filters, n_filters, 5),
            nn.ReLU(),
            nn.MaxPool1d(40, 40),
            nn.Flatten(),
        )
        pooled = (length - 9 - 4 - 4) // 40
        self.head = nn.Sequential(
            nn.Linear(n_filters * pooled, 10),
            nn.ReLU(),
            nn.Linear(10, 5),
            nn.ReLU(),
            nn.Linear(5, n_tasks),
        )

    def forward(self, x):
        return self.head(self.body(x))


def _train(build, data, args):
    """Race and train one model; (model, test auROC, test logits, times, history, race)."""
    from cislens.train import fit_restarts, predict
    from cislens.train.evaluate import metrics_table

    start, cpu_start = time.perf_counter(), time.process_time()
    model, history, restarts = fit_restarts(
        build,
        data,
        restarts=args.restarts,
        selection_epochs=args.selection_epochs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=None,
        reverse_complement=True,
        random_state=args.seed,
    )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    logits = predict(model, data.X["test"])
    table = metrics_table(data.Y["test"], logits, data.task_names, ["binary"] * data.n_tasks)
    return (model, float(table["auroc"].mean()), logits, (seconds, cpu_seconds), history, restarts)


def run_preset(preset: str, args) -> dict:
    from cislens.argminn import ARGMINN
    from cislens.models import initialize_parameters
    from cislens.simulate import simulate

    # --cnn-from: the CNN row of an earlier run (same --seed and --n), not retrained; read
    # (and checked) before the training, so a mismatch fails at once.
    cnn_row = _earlier_cnn_row(args.cnn_from, preset, args) if args.cnn_from else None
    data = simulate(preset, n=args.n, random_state=args.seed)
    argminn, auroc, logits, seconds, history, restarts = _train(
        lambda seed: ARGMINN(
            n_tasks=data.n_tasks,
            input_length=data.length,
            random_state=seed,
            **json.loads(args.model_args),
        ),
        data,
        args,
    )
    argminn, auroc, logits, pruning = _pruned(argminn, auroc, logits, data, args)
    if args.save_models:  # before the CNN trains: a run stopped there keeps the ARGMINN
        from cislens.models import save_model

        save_model(argminn, Path(args.save_models) / preset, task_names=data.task_names)

    def build_cnn(seed):
        cnn = StandardCNN(data.n_tasks, data.length, n_filters=args.cnn_filters)
        initialize_parameters(cnn, random_state=seed)
        return cnn

    if cnn_row is None:
        cnn, cnn_auroc, _, *trained = _train(build_cnn, data, args)
        cnn_row = {
            "cnn_auroc": cnn_auroc,
            **_training_columns("cnn", cnn, *trained),
            "cnn_from": None,
        }
    return {
        "preset": preset,
        "argminn_auroc": auroc,
        "cnn_auroc": cnn_row["cnn_auroc"],
        "auroc_delta": auroc - cnn_row["cnn_auroc"],
        **readout_columns(argminn, data, args, preset),
        **decoy_ranking(logits, data, preset),
        **_training_columns("argminn", argminn, seconds, history, restarts),
        **pruning,
        **cnn_row,
    }


def _pruned(argminn, auroc, logits, data, args):
    """What ``cislens train`` does after training (``prune_redundant``, the model's default):
    ``(model, test auROC, test logits, prune_* columns)``, the model pruned and fine-tuned
    when it had redundant filters and its validation score held (``--no-prune``: as trained)."""
    from cislens.argminn import prune_after_training
    from cislens.train import predict
    from cislens.train.evaluate import metrics_table

    columns = {"prune_unpruned_auroc": auroc, "prune_applied": False, "prune_redundant": ""}
    cpu_start = time.process_time()
    result = None if args.no_prune else prune_after_training(argminn, data, random_state=args.seed)
    if result is None:
        return argminn, auroc, logits, {**columns, "prune_reason": "not run (--no-prune)"}
    if result.applied:
        argminn, logits = result.model, predict(result.model, data.X["test"])
        table = metrics_table(data.Y["test"], logits, data.task_names, ["binary"] * data.n_tasks)
        auroc = float(table["auroc"].mean())
    return (
        argminn,
        auroc,
        logits,
        {
            **columns,
            "prune_applied": result.applied,
            "prune_redundant": ";".join(f"filter_{k}" for k in result.redundant),
            "prune_valid_before": result.score_before,
            "prune_valid_zeroed": result.score_zeroed,
            "prune_valid_after": result.score_after,
            "prune_epochs": result.history.n_epochs if result.history else 0,
            "prune_cpu_s": time.process_time() - cpu_start,
            "prune_reason": result.reason,
        },
    )


def _training_columns(prefix, model, seconds, history, restarts) -> dict:
    """The ``<prefix>_*`` columns of one trained model: times, best epoch, size, race, curve."""
    from cislens.models import count_parameters

    return {
        f"{prefix}_train_s": seconds[0],
        f"{prefix}_train_cpu_s": seconds[1],
        f"{prefix}_best_epoch": history.best_epoch,
        f"{prefix}_params": count_parameters(model),
        f"{prefix}_restarts": restarts.to_dict(orient="records"),
        f"{prefix}_valid_auroc": [round(v, 4) for v in history.valid_auroc],
    }


def _earlier_cnn_row(path, preset, args) -> dict:
    """``--cnn-from``: the ``cnn_*`` columns of ``preset`` in an earlier run's JSON, which
    must have used the same ``--seed``, ``--n`` and CNN settings (checked)."""
    document = json.loads(Path(path).read_text())
    params = document["params"]
    parts = [params]
    while any(isinstance(p, list) for p in parts):  # --combine nests the parts' params
        parts = [q for p in parts for q in (p if isinstance(p, list) else [p])]
    for part in parts:
        for name in (
            "seed",
            "n",
            "cnn_filters",
            "epochs",
            "lr",
            "batch_size",
            "restarts",
            "selection_epochs",
        ):
            if part.get(name) != getattr(args, name):
                raise SystemExit(
                    f"--cnn-from {path}: its {name} was {part.get(name)!r}, this "
                    f"run's is {getattr(args, name)!r}; the CNN must be retrained."
                )
    for row in document["rows"]:
        if row["preset"] == preset:
            columns = {k: v for k, v in row.items() if k.startswith("cnn_")}
            return {**columns, "cnn_from": str(path)}
    raise SystemExit(f"--cnn-from {path}: no row for preset {preset!r}.")


def reread_rows(rows, args) -> list[dict]:
    """``--reread``: the readout columns of earlier rows again, from their saved ARGMINN models
    (``--save-models`` of that run) with the current readout code; training columns kept."""
    from cislens.models import load_model
    from cislens.simulate import simulate
    from cislens.train import predict

    updated = []
    for row in rows:
        data = simulate(row["preset"], n=args.n, random_state=args.seed)
        model = load_model(Path(args.save_models) / row["preset"])
        logits = predict(model, data.X["test"])
        # The saved model is the trained one; prune it as training now would (a model saved
        # after pruning has nothing redundant left, so this is then a no-op).
        model, auroc, logits, pruning = _pruned(model, row["argminn_auroc"], logits, data, args)
        updated.append(
            {
                **row,
                "argminn_auroc": auroc,
                "auroc_delta": auroc - row["cnn_auroc"],
                **pruning,
                **readout_columns(model, data, args, row["preset"]),
                **decoy_ranking(logits, data, row["preset"]),
                "reread": True,
            }
        )
        print(json.dumps({k: v for k, v in updated[-1].items() if k != "filters"}), flush=True)
    return updated


_START_LOAD = os.getloadavg()


def _command() -> str:
    """The command line of this run, with the load average when it started and now (recorded
    in the JSON so the results say how they were made)."""
    now = tuple(round(v, 2) for v in os.getloadavg())
    start = tuple(round(v, 2) for v in _START_LOAD)
    return f"python {' '.join(sys.argv)}  # load average at start {start}, at writing {now}"


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument(
        "--n", type=int, default=None, help="Sequences per dataset (default: the preset's 20,000)."
    )
    parser.add_argument("--epochs", type=int, default=28)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (both models)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--model-args",
        default="{}",
        help="ARGMINN hyperparameters as JSON, e.g. '{\"overlap_weight\": 1e4}'.",
    )
    parser.add_argument(
        "--cnn-filters",
        type=int,
        default=43,
        help="Filters per CNN layer (43: 25,570 parameters, ARGMINN's 25,650 "
        "with its default 2 layers; the paper's baseline used 8).",
    )
    parser.add_argument(
        "--restarts",
        type=int,
        default=4,
        help="Seeds raced for --selection-epochs epochs; the best (validation "
        "loss) is trained in full (both models; cislens.train.fit_restarts).",
    )
    parser.add_argument("--selection-epochs", type=int, default=5)
    parser.add_argument(
        "--cnn-from",
        default=None,
        metavar="JSON",
        help="Copy the CNN columns from an earlier run's JSON (same --seed, --n "
        "and CNN settings) instead of retraining it; rows say so in cnn_from.",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/argminn_presets")
    parser.add_argument(
        "--save-models",
        default=None,
        help="Folder for the trained ARGMINN checkpoints (one per preset).",
    )
    parser.add_argument(
        "--combine",
        nargs="+",
        default=None,
        metavar="JSON",
        help="Only merge the rows of earlier runs' JSON files into --out "
        "(to run the presets in several processes).",
    )
    parser.add_argument(
        "--reread",
        action="store_true",
        help="With --combine: recompute the readout columns from the models in "
        "--save-models (same --seed and --n as that run) instead of copying them.",
    )
    parser.add_argument(
        "--no-prune",
        action="store_true",
        help="Keep ARGMINN as trained: no removal of redundant filters "
        "(cislens.argminn.prune_redundant, which training does by default).",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from cislens._version import __version__

    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.combine:
        parts = [json.loads(Path(path).read_text()) for path in args.combine]
        rows = [row for part in parts for row in part["rows"]]
        if args.reread:
            rows = reread_rows(rows, args)
        document = {
            "cislens_version": __version__,
            "command": _command(),
            "params": [p["params"] for p in parts],
            "torch_threads": [p["torch_threads"] for p in parts],
            "rows": rows,
        }
        out.with_suffix(".json").write_text(json.dumps(document, indent=2, default=float))
    for preset in [] if args.combine else args.presets.split(","):
        row = run_preset(preset.strip(), args)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "filters"}), flush=True)
        document = {
            "cislens_version": __version__,
            "command": _command(),
            "params": vars(args),
            "torch_threads": torch.get_num_threads(),
            "rows": rows,
        }
        out.with_suffix(".json").write_text(json.dumps(document, indent=2, default=float))
        pd.DataFrame([{k: v for k, v in r.items() if k != "filters"} for r in rows]).to_csv(
            out.with_suffix(".csv"), index=False
        )
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "filters"} for r in rows])
    table.to_csv(out.with_suffix(".csv"), index=False)
    columns = [
        "preset",
        "argminn_auroc",
        "cnn_auroc",
        "auroc_delta",
        "n_passing",
        "one_to_one",
        "one_to_one_strict",
        "matches",
        "precision",
        "recall",
        "argminn_train_s",
        "argminn_train_cpu_s",
        "cnn_train_s",
    ]
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"one filter per motif or per inseparable unit (one_to_one_strict) on "
        f"{int(table.get('one_to_one_strict', table['one_to_one']).sum())}/{len(table)}; "
        f"one-to-one on {int(table['one_to_one'].sum())}/{len(table)} "
        f"({int(table.get('one_to_one_units', table['one_to_one']).sum())} counting readout "
        "units: composite filters, filters that read one unit); "
        f"auROC within 0.02 of the CNN on {int((table['auroc_delta'] >= -0.02).sum())}/"
        f"{len(table)}; precision >= 0.9 on {int((table['precision'] >= 0.9).sum())}/"
        f"{len(table)}"
    )
    return table


if __name__ == "__main__":
    main()
