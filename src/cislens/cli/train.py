"""Model subcommands: ``cislens train`` (fit and save a checkpoint) and ``cislens evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cislens.cli._app import app, echo, state
from cislens.train.defaults import TRAINING_DEFAULTS
from cislens.utils.batching import DEFAULT_BATCH_SIZE

# The one set of defaults (cislens.train.defaults), shared with `cislens run` and fit.
_EPOCHS, _BATCH_SIZE, _LR, _PATIENCE = (
    TRAINING_DEFAULTS[key] for key in ("epochs", "batch_size", "lr", "patience")
)
_EVAL_BATCH_SIZE = DEFAULT_BATCH_SIZE  # inference rows per pass, as in cislens.train.evaluate


def _parse_model_args(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"--model-args must be a JSON object such as '{{\"dropout\": 0.2}}'; got {text!r} "
            f"({error})."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"--model-args must be a JSON object; got {type(value).__name__}.")
    return value


def _parse_lr_candidates(text: str | None) -> list[float] | None:
    """``--lr-candidates 3e-3,1e-3``: learning rates > 0 that race (None when not given)."""
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0 < value < 10 for value in values):
        raise ValueError(
            f"--lr-candidates must be learning rates in (0, 10) separated by commas, such as "
            f"'3e-3,1e-3'; got {text!r}."
        )
    return values


def _baseline_truth(dataset):
    """The ground truth for the PWM baseline column (simulated data with its config), or None."""
    truth = dataset.ground_truth
    return truth if truth is not None and truth.config else None


def _format_table(table) -> str:
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="nan")


# The options of `cislens train`, kept here so that the command's signature reads as a list.
_TRAIN_OPTIONS = {
    "data": typer.Option(..., "--data", help="Dataset HDF5 (from `cislens simulate`)."),
    "model": typer.Option(
        ..., "--model", help="Architecture: labcnn, deepbind, basset, beluga, bpnet or argminn."
    ),
    "out": typer.Option(..., "--out", "-o", help="Checkpoint directory to write."),
    "model_args": typer.Option(
        None, "--model-args", help="Hyperparameters as JSON, e.g. '{\"dropout\": 0.2}'."
    ),
    "epochs": typer.Option(
        None,
        "--epochs",
        help="Maximum epochs (default: from the data size, about 4,000 steps, "
        "20 to 100 epochs; argminn: 28).",
    ),
    "batch_size": typer.Option(
        None, "--batch-size", help=f"Sequences per step (default {_BATCH_SIZE}; argminn: 128)."
    ),
    "lr": typer.Option(
        None,
        "--lr",
        help="Learning rate, Adam (default: 1e-2 below 2,000 training sequences, "
        "else 3e-3; argminn: 3e-3).",
    ),
    "lr_candidates": typer.Option(
        None,
        "--lr-candidates",
        help="Learning rates that race with the seeds, e.g. '3e-3,1e-3' (not with --lr); the "
        "best pair after --selection-epochs trains in full (default: none).",
    ),
    "patience": typer.Option(
        None,
        "--patience",
        help=f"Epochs without improvement before stopping (0: never; default {_PATIENCE}).",
    ),
    "monitor": typer.Option(
        None,
        "--monitor",
        help="valid_loss, valid_auprc, valid_auroc or auto (default: "
        "valid_auroc when a task is binary, else valid_loss; argminn: valid_loss).",
    ),
    "max_batches": typer.Option(None, "--max-batches", help="Limit steps per epoch."),
    "rc_augment": typer.Option(
        None,
        "--rc-augment/--no-rc-augment",
        help="Reverse-complement augmentation, p = 1/2 per sequence (default on).",
    ),
    "lr_schedule": typer.Option(
        None, "--lr-schedule", help="plateau (warm-up, then halve on a plateau; default) or none."
    ),
    "threads": typer.Option(
        None,
        "--threads",
        help="Torch CPU threads (default: torch's count, at most the free "
        "cores: cores minus the load average).",
    ),
    "restarts": typer.Option(
        None,
        "--restarts",
        help="Seeds raced for --selection-epochs epochs; the best (by "
        "--monitor) trains in full (default 1; argminn: 4).",
    ),
    "selection_epochs": typer.Option(
        None,
        "--selection-epochs",
        help="Epochs of each restart before they are compared (default 4; argminn: 5).",
    ),
    "seed": typer.Option(0, "--seed", help="Seed of initialisation, shuffling, dropout."),
    "device": typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: auto)."),
}


def _model_config(model: str, dataset, model_args: str | None):
    """The architecture class and the config dict that builds it for ``dataset``."""
    from cislens.models import get_model_class
    from cislens.train.defaults import default_model_args

    hyperparameters = _parse_model_args(model_args)
    for key in ("name", "n_tasks"):
        if key in hyperparameters:
            raise ValueError(f"--model-args must not set {key!r}: it comes from --model / --data.")
    architecture = get_model_class(model)
    # Hyperparameters left out that depend on the input length (cislens.train.defaults).
    config = {
        "input_length": dataset.length,
        **default_model_args(
            architecture.name,
            dataset.length,
            len(dataset.X["train"]),
            n_tasks=dataset.n_tasks,
            given=hyperparameters,
        ),
        **hyperparameters,
    }
    config.update(name=model, n_tasks=dataset.n_tasks)
    return architecture, config


def _announce(model: str, data: Path, dataset, settings: dict, restarts, default_race) -> None:
    """Say what will be trained, and why the race was turned off if it was."""
    if restarts is None and settings["restarts"] < default_race:  # it did not fit --epochs
        echo(
            f"--epochs {settings['epochs']} leaves no room for {model}'s default race of "
            f"{default_race} seeds over {settings['selection_epochs']} epochs; training one seed "
            "(pass --restarts to choose)"
        )
    echo(
        f"training {model} on {data} ({dataset.X['train'].shape[0]} train sequences, "
        f"{dataset.n_tasks} tasks, {dataset.length} bp)"
    )
    rates = settings.get("lr_candidates") or []
    if settings["restarts"] > 1 or len(rates) > 1:
        echo(
            f"racing {settings['restarts']} seeds"
            + (f" x learning rates {rates}" if rates else "")
            + f" for {settings['selection_epochs']} epochs "
            f"each, then training the best for {settings['epochs']}"
        )


def _save(net, history, race, *, model: str, out: Path, data: Path, dataset, settings) -> None:
    """Write the checkpoint, history.csv and restarts.csv; report the race and the best epoch."""
    from cislens.models import save_model
    from cislens.utils.files import new_output_dir, write_table

    summary = {
        "history": history.to_dict(),
        "init_random_state": history.params["random_state"],  # the race's winner
        "data": {
            "path": str(data),
            "preset": dataset.attrs.get("preset"),
            "random_state": dataset.attrs.get("random_state"),
        },
    }
    # A folder this command creates is removed again if any of its files cannot be written.
    with new_output_dir(out):
        save_model(net, out, task_names=dataset.task_names, training_summary=summary)
        write_table(history.to_frame(), Path(out) / "history.csv", index=False)
        if len(race) > 1:
            write_table(race, Path(out) / "restarts.csv", index=False)
    if len(race) > 1:
        chosen = race[race["chosen"]].iloc[0]
        echo(
            f"restart {chosen['restart']} (seed {chosen['seed']}, lr {chosen['lr']:g}) won "
            "the race: "
            f"{history.monitor} {chosen[history.monitor]:.4f} after "
            f"{settings['selection_epochs']} epochs"
        )
    echo(
        f"saved {model} to {out} (best epoch {history.best_epoch} of {history.n_epochs}, "
        f"{history.monitor} {history.best_score:.4f}, {history.total_time:.0f}s)"
    )


def _test_metrics(net, dataset, out: Path, *, batch_size: int, device) -> None:
    """Score the test split (when there is one), write metrics_test.csv and print it."""
    from cislens.train import evaluate
    from cislens.utils.files import write_table

    if "test" not in dataset.X:
        return
    table = evaluate(
        net,
        dataset.X["test"],
        dataset.Y["test"],
        task_names=dataset.task_names,
        truth=_baseline_truth(dataset),
        batch_size=batch_size,
        device=device,
    )
    write_table(table, Path(out) / "metrics_test.csv", index=False)
    echo("test metrics:\n" + _format_table(table))


@app.command()
def train(
    data: Path = _TRAIN_OPTIONS["data"],
    model: str = _TRAIN_OPTIONS["model"],
    out: Path = _TRAIN_OPTIONS["out"],
    model_args: str = _TRAIN_OPTIONS["model_args"],
    epochs: int = _TRAIN_OPTIONS["epochs"],
    batch_size: int = _TRAIN_OPTIONS["batch_size"],
    lr: float = _TRAIN_OPTIONS["lr"],
    lr_candidates: str = _TRAIN_OPTIONS["lr_candidates"],
    patience: int = _TRAIN_OPTIONS["patience"],
    monitor: str = _TRAIN_OPTIONS["monitor"],
    max_batches: int = _TRAIN_OPTIONS["max_batches"],
    rc_augment: bool = _TRAIN_OPTIONS["rc_augment"],
    lr_schedule: str = _TRAIN_OPTIONS["lr_schedule"],
    threads: int = _TRAIN_OPTIONS["threads"],
    restarts: int = _TRAIN_OPTIONS["restarts"],
    selection_epochs: int = _TRAIN_OPTIONS["selection_epochs"],
    seed: int = _TRAIN_OPTIONS["seed"],
    device: str = _TRAIN_OPTIONS["device"],
) -> None:
    """Train a model on a dataset's train split, early-stopping on valid; save a checkpoint.

    Writes OUT/weights.safetensors, OUT/config.json (with the training summary) and
    OUT/history.csv; when the dataset has a test split, also prints the test metrics and writes
    OUT/metrics_test.csv. With --restarts > 1, also OUT/restarts.csv (the race of the seeds).
    """
    from cislens.argminn import prune_after_training
    from cislens.io.dataset import load_dataset
    from cislens.models import build_model
    from cislens.train import fit_restarts, format_epoch
    from cislens.train.defaults import training_settings
    from cislens.utils.files import check_output_dir
    from cislens.utils.threads import check_threads, using_threads

    check_output_dir(out)  # a regular file in the way is reported before training, not after
    dataset = load_dataset(data)
    architecture, config = _model_config(model, dataset, model_args)
    # An option left out takes the architecture's own training default, then the generic one
    # (cislens.train.defaults, shared with `cislens run`).
    given = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "lr_candidates": _parse_lr_candidates(lr_candidates),
        "restarts": restarts,
        "selection_epochs": selection_epochs,
        "patience": patience,
        "monitor": monitor,
        "reverse_complement": rc_augment,
        "lr_schedule": lr_schedule,
    }
    settings = training_settings(architecture, given, n_train=len(dataset.X["train"]))
    check_threads(threads, "--threads")
    default_race = architecture.training_defaults.get("restarts", 1)
    _announce(model, data, dataset, settings, restarts, default_race)
    with using_threads(threads) as n_threads:
        net, history, race = fit_restarts(
            lambda restart_seed: build_model(config, random_state=restart_seed),
            dataset,
            restarts=settings["restarts"],
            selection_epochs=settings["selection_epochs"],
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            lr=settings["lr"],
            lr_candidates=settings["lr_candidates"],
            monitor=settings["monitor"],
            patience=settings["patience"] if settings["patience"] > 0 else None,
            max_batches=max_batches,
            reverse_complement=settings["reverse_complement"],
            lr_schedule=settings["lr_schedule"],
            callback=lambda record: echo(format_epoch(record)),
            random_state=seed,
            device=device,
            verbose=state.verbose,
        )
        pruned = prune_after_training(
            net, dataset, random_state=seed, device=device, verbose=state.verbose
        )
    if pruned is not None:  # ARGMINN: the filters read twice removed, the model fine-tuned
        echo(pruned.summary())
        net = pruned.model
        history.params["pruning"] = pruned.to_dict()
    history.params["threads"] = n_threads
    _save(net, history, race, model=model, out=out, data=data, dataset=dataset, settings=settings)
    _test_metrics(net, dataset, out, batch_size=settings["batch_size"], device=device)


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Option(
        ..., "--model", help="Checkpoint directory, or module.py:ClassName with --weights."
    ),
    data: Path = typer.Option(..., "--data", help="Dataset HDF5."),
    split: str = typer.Option("test", "--split", help="Split to score: train, valid or test."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the table as CSV here."),
    weights: Path = typer.Option(
        None, "--weights", help="State dict (.safetensors or torch file) for a class spec."
    ),
    model_args: str = typer.Option(
        None, "--model-args", help="Constructor arguments (JSON) for a class spec."
    ),
    batch_size: int = typer.Option(_EVAL_BATCH_SIZE, "--batch-size", help="Rows per pass."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: auto)."),
) -> None:
    """Per-task auROC, auPRC, accuracy and positives fraction of a model on one split.

    On simulated data (a dataset from `cislens simulate`), also the auROC and auPRC of the PWM
    scan baseline (the truth's motifs and rules): a model well below it underfits.
    """
    from cislens.io.dataset import load_dataset
    from cislens.models import load_model_from_spec
    from cislens.train import evaluate
    from cislens.utils.files import check_output_dir, write_table

    if out is not None:
        check_output_dir(Path(out).parent)
    net = load_model_from_spec(model, weights=weights, model_args=_parse_model_args(model_args))
    dataset = load_dataset(data)
    if split not in dataset.X:
        raise ValueError(f"--split {split!r} is not in {data}; it has {dataset.splits}.")
    model_tasks = getattr(net, "task_names", None)
    if model_tasks is not None and list(model_tasks) != list(dataset.task_names):
        raise ValueError(
            f"the model was trained on tasks {list(model_tasks)} but {data} has tasks "
            f"{list(dataset.task_names)}; evaluate it on data with the same tasks in that order."
        )
    table = evaluate(
        net,
        dataset.X[split],
        dataset.Y[split],
        task_names=dataset.task_names,
        truth=_baseline_truth(dataset),
        batch_size=batch_size,
        device=device,
        verbose=state.verbose,
    )
    typer.echo(_format_table(table))  # the result itself: printed even with --quiet
    if out is not None:
        write_table(table, out, index=False)
        echo(f"wrote {out}")
