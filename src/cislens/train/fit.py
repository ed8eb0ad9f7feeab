"""Training: :func:`fit` trains a model on a dataset and returns a :class:`History`.

The epoch loop lives in :mod:`cislens.train._loop`, the argument checks in
:mod:`cislens.train._checks`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cislens.models import SequenceModel
from cislens.train._checks import (
    LR_SCHEDULES,
    MONITORS,
    OPTIMIZERS,
    check_task_types,
    pos_weights,
    probe_model,
    resolve_monitor,
    validate_args,
    warn_single_class_valid,
)
from cislens.train._data import (
    TrainingData,
    as_training_data,
    check_batch_size,
    resolve_task_types,
)
from cislens.train._loop import LoopSettings, train_loop
from cislens.train.defaults import TRAINING_DEFAULTS, epochs_for, lr_for
from cislens.train.denormals import denormals_flushed, flushing_denormals
from cislens.train.history import History
from cislens.utils.device import resolve_device, using_model
from cislens.utils.random import derive_seed, resolve_seed
from cislens.utils.types import Device, RandomState

if TYPE_CHECKING:  # annotations only
    from cislens.io.dataset import Dataset

# The one set of defaults (cislens.train.defaults) is shared with `cislens train` and `run`.
DEFAULT_EPOCHS = TRAINING_DEFAULTS["epochs"]  # None: epochs_for(n_train, batch_size)
DEFAULT_BATCH_SIZE = TRAINING_DEFAULTS["batch_size"]
DEFAULT_LR = TRAINING_DEFAULTS["lr"]
DEFAULT_PATIENCE = TRAINING_DEFAULTS["patience"]


def fit(
    model: nn.Module,
    data: Dataset | dict[str, Any] | tuple[Any, ...],
    *,
    epochs: int | None = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float | None = DEFAULT_LR,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    task_type: str | Sequence[str] | None = None,
    class_weight: str | None = "balanced",
    monitor: str = "valid_loss",
    patience: int | None = DEFAULT_PATIENCE,
    max_batches: int | None = None,
    reverse_complement: bool = False,
    lr_schedule: str | None = None,
    callback: Callable[[dict], None] | None = None,
    random_state: RandomState = None,
    device: Device = None,
    verbose: bool = False,
) -> History:
    """Train ``model`` in place; keep the weights of the best validation epoch.

    Binary tasks (labels in {0, 1}) use binary cross-entropy on the logits, with the positive
    class weighted by (1 - p) / p where p is its fraction in the training labels; regression
    tasks use the squared error; the loss is the mean over sequences and tasks. After each epoch
    the model is scored on the validation split; training stops when ``monitor`` has not improved
    for ``patience`` epochs, and the model is given the weights of its best epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (N, 4, L) to (N, T) logits. Its device and train/eval mode are restored at the end.
    data : Dataset, dict or tuple
        A ``cislens.io.dataset.Dataset`` (splits "train" and "valid"), a dict with keys
        ``X_train, Y_train, X_valid, Y_valid`` (and optionally ``task_names``), or a tuple
        ``(X_train, Y_train, X_valid, Y_valid)``. X is (N, 4, L) one-hot, Y is (N, T).
    epochs : int or None
        Maximum number of passes over the training data. None (default): chosen from the data
        size by :func:`cislens.train.defaults.epochs_for` (about 4,000 steps, 20 to 100 epochs).
    batch_size : int
        Training rows per step (default 64); validation uses the same size.
    lr : float or None
        Learning rate. None (default): :func:`cislens.train.defaults.lr_for` of the data size
        (1e-2 below 2,000 training sequences, else 3e-3).
    optimizer : {"adam", "adamw", "sgd"}
        Optimizer (SGD with momentum 0.9). Default "adam".
    weight_decay : float
        L2 penalty passed to the optimizer (default 0).
    task_type : {"binary", "regression"}, list of those, or None
        None (default) treats tasks whose labels are all 0 or 1 as binary.
    class_weight : {"balanced", None}
        "balanced" (default) weights positives of each binary task by (1 - p) / p.
    monitor : {"valid_loss", "valid_auprc", "valid_auroc", "auto"}
        What picks the best epoch and drives early stopping (default "valid_loss"). "auto" (the
        default of ``cislens train`` and ``run``): "valid_auroc" when a task is binary, else
        "valid_loss".
    patience : int or None
        Epochs without improvement before stopping (default 20); None never stops early.
    max_batches : int or None
        Limit the training steps per epoch (default None: the whole training split).
    reverse_complement : bool
        Augment: replace each training sequence by its reverse complement with probability 1/2
        (labels unchanged). Default False (``cislens train`` and ``run``: True).
    lr_schedule : {"plateau", "none"} or None
        "plateau": a linear warm-up of the learning rate over the first epoch, then halve it
        whenever ``monitor`` has not improved for half of ``patience`` epochs (10 when
        ``patience`` is None; never below lr / 64). None or "none" (default): constant ``lr``
        (``cislens train`` and ``run``: "plateau").
    callback : callable or None
        Called after each epoch with a dict (epoch, train_loss, valid_loss, valid_auroc,
        valid_auprc, time, best; regularization_loss for models with the hook below).
    random_state : int, numpy.random.Generator or None
        Seeds the shuffling, the augmentation and dropout. With the same model initialisation,
        data and seed, training on the CPU gives identical weights.
    device : str, torch.device or None
        None (default): CUDA if available, else CPU.
    verbose : bool
        Show a progress bar per epoch.

    Returns
    -------
    History
        Per-epoch losses and metrics, best epoch, timings and parameters.

    Raises
    ------
    ValueError, TypeError
        Bad data (wrong shapes, NaN labels, empty splits), a model whose outputs do not match
        the number of tasks or whose input length does not match the data, bad arguments.

    Notes
    -----
    Models with built-in regularisers (e.g. ARGMINN) define ``regularization_loss(epoch)``: a
    scalar tensor from the model's last training forward pass, added to every step's loss.
    ``train_loss`` stays the task loss; the epoch means of the regulariser are in
    ``history.params["regularization_loss"]``. When the model also defines
    ``regularization_settled_epoch`` (its regulariser weights change until then), earlier epochs
    are neither chosen as best nor counted for ``patience``. A model's ``on_epoch_start(epoch)``
    (if defined) is called before each training epoch, numbered from 1.

    Dropout draws from torch's global generator (``nn.Dropout`` takes no generator): ``fit``
    runs inside ``torch.random.fork_rng``, seeds that generator from ``random_state`` and the
    caller's generator state is restored afterwards. A final batch of one sequence is skipped
    when the model has batch-norm layers (they cannot train on a single example).

    On CPU, subnormal floats are flushed to zero while ``fit`` runs (``torch.set_flush_denormal``;
    the caller's setting is restored afterwards). Adam's moment estimates of a unit that no longer
    gets gradient (a dead ReLU filter, a filter switched off by ARGMINN's regularisers) decay
    geometrically into the subnormal range, where each optimizer step costs about 3 times as
    much CPU (measured with torch 2.13 on this project's x86 machines).

    Examples
    --------
    >>> import numpy as np
    >>> from cislens.models import DeepBind
    >>> rng = np.random.default_rng(0)
    >>> X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (40, 30))].transpose(0, 2, 1)
    >>> Y = (X[:, 0].sum(1, keepdims=True) > 7).astype(np.float32)
    >>> model = DeepBind(n_tasks=1, filter_width=4, random_state=0)
    >>> history = fit(model, (X[:30], Y[:30], X[30:], Y[30:]), epochs=2, batch_size=10,
    ...               random_state=0)
    >>> history.n_epochs, history.best_epoch in (1, 2)
    (2, True)
    """
    start_time = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    validate_args(
        epochs, lr, optimizer, weight_decay, class_weight, monitor, patience, max_batches, callback
    )
    if lr_schedule not in (None, *LR_SCHEDULES):
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES} or None; got {lr_schedule!r}.")
    batch_size = check_batch_size(batch_size)
    train_data = as_training_data(data)
    n_train = len(train_data.X_train)
    epochs = epochs_for(n_train, batch_size) if epochs is None else epochs
    lr = lr_for(n_train) if lr is None else lr
    device = resolve_device(device)
    seed = resolve_seed(random_state)
    params = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": float(lr),
        "optimizer": optimizer,
        "weight_decay": float(weight_decay),
        "task_type": task_type,
        "class_weight": class_weight,
        "monitor": monitor,
        "patience": patience,
        "max_batches": max_batches,
        "reverse_complement": bool(reverse_complement),
        "lr_schedule": lr_schedule or "none",
        "random_state": seed,
        "device": str(device),
        "n_train": n_train,
        "n_valid": len(train_data.X_valid),
        "input_length": train_data.length,
    }
    history = _new_history(model, train_data, params)
    settings = LoopSettings(
        device=device,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        patience=patience,
        max_batches=max_batches,
        reverse_complement=reverse_complement,
        lr_schedule=lr_schedule or "none",
        callback=callback,
        generator=torch.Generator().manual_seed(derive_seed(seed, 0)),
        verbose=verbose,
    )
    _train_seeded(model, train_data, history, settings, seed)
    if isinstance(model, SequenceModel):
        model.task_names = list(history.task_names)
    history.total_time = time.perf_counter() - start_time
    return history


def _new_history(model: nn.Module, data: TrainingData, params: dict) -> History:
    """Check the labels and the model against each other; an empty :class:`History`."""
    task_type, monitor = params["task_type"], params["monitor"]
    task_names = data.task_names or [f"task_{t}" for t in range(data.n_tasks)]
    task_types = resolve_task_types(data.Y_train, task_type)
    check_task_types(task_names, task_types, resolve_task_types(data.Y_valid, task_type))
    params["monitor"] = monitor = resolve_monitor(monitor, task_types)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters (requires_grad=True).")
    probe_model(model, data, torch.device(params["device"]))
    weights = pos_weights(data.Y_train, task_types, params["class_weight"], task_names)
    warn_single_class_valid(data.Y_valid, task_types, task_names)
    return History(
        monitor=monitor,
        task_names=task_names,
        task_types=task_types,
        pos_weight=weights,
        params=params,
    )


def _train_seeded(model, data: TrainingData, history: History, run: LoopSettings, seed) -> None:
    """Run the loop with torch's global generators seeded from ``seed`` (dropout draws from
    them) and restored afterwards, the model on ``run.device`` and denormals flushed."""
    device = run.device
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with (
        torch.random.fork_rng(devices=fork_devices),
        using_model(model, device=device, training=True),
        flushing_denormals(),
    ):
        torch.default_generator.manual_seed(derive_seed(seed, 1))
        if device.type == "cuda":
            torch.cuda.default_generators[device.index or 0].manual_seed(derive_seed(seed, 2))
        train_loop(model, data, history, run)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "DEFAULT_LR",
    "DEFAULT_PATIENCE",
    "LR_SCHEDULES",
    "MONITORS",
    "OPTIMIZERS",
    "denormals_flushed",
    "fit",
    "flushing_denormals",
]
