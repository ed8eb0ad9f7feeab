"""Argument and model checks of :func:`cislens.train.fit`, and the class weights."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from cislens.errors import CislensWarning
from cislens.models import SequenceModel
from cislens.train._data import TrainingData, batch_tensor
from cislens.utils.device import using_model
from cislens.utils.validation import check_positive_int

OPTIMIZERS = ("adam", "adamw", "sgd")
MONITORS = {"valid_loss": "min", "valid_auprc": "max", "valid_auroc": "max"}
LR_SCHEDULES = ("plateau", "none")


def validate_args(
    epochs, lr, optimizer, weight_decay, class_weight, monitor, patience, max_batches, callback
) -> None:
    """Raise ``ValueError`` / ``TypeError`` naming the first bad argument of ``fit``."""
    check_positive_int(epochs, "epochs", allow_none=True, detail=" (chosen from the data size)")
    if lr is not None and (
        isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf
    ):
        raise ValueError(f"lr must be a positive float or None (from the data size); got {lr!r}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {optimizer!r}.")
    if not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a float >= 0; got {weight_decay!r}.")
    if class_weight not in ("balanced", None):
        raise ValueError(f"class_weight must be 'balanced' or None; got {class_weight!r}.")
    if monitor not in MONITORS and monitor != "auto":
        raise ValueError(f"monitor must be one of {sorted(MONITORS)} or 'auto'; got {monitor!r}.")
    check_positive_int(patience, "patience", allow_none=True, detail=" (no early stop)")
    check_positive_int(max_batches, "max_batches", allow_none=True, detail=" (all)")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}.")


def check_task_types(task_names, task_types, valid_types) -> None:
    """A task binary in the training labels must be binary in the validation labels too."""
    for t, (kind, valid_kind) in enumerate(zip(task_types, valid_types, strict=True)):
        if kind == "binary" and valid_kind != "binary":
            raise ValueError(
                f"task {task_names[t]!r} is binary in Y_train but Y_valid has values other than "
                "0 and 1; make the labels consistent or pass task_type='regression'."
            )


def resolve_monitor(monitor: str, task_types) -> str:
    """``"auto"``: the validation auROC when a task is binary, else the validation loss."""
    if monitor == "auto":
        monitor = "valid_auroc" if "binary" in task_types else "valid_loss"
    if monitor != "valid_loss" and "binary" not in task_types:
        raise ValueError(f"monitor={monitor!r} needs at least one binary task; use 'valid_loss'.")
    return monitor


def probe_model(model: nn.Module, data: TrainingData, device) -> None:
    """Run two training sequences through the model to check its input and output shapes;
    warn when the model never reads the sequences' last bases (``unseen_bases``)."""
    expected = data.n_tasks
    if isinstance(model, SequenceModel) and model.n_tasks != expected:
        raise ValueError(
            f"the model has n_tasks={model.n_tasks} outputs but the labels have {expected} tasks; "
            f"build the model with n_tasks={expected}."
        )
    if (
        isinstance(model, SequenceModel)
        and model.fixed_length
        and (model.input_length != data.length)
    ):
        raise ValueError(
            f"the model was built for input_length={model.input_length} but the training "
            f"sequences have length {data.length}; build it with input_length={data.length}."
        )
    with using_model(model, device=device, training=False), torch.no_grad():
        try:
            out = model(batch_tensor(data.X_train, slice(0, 2)).to(device))
        except RuntimeError as error:
            raise ValueError(
                f"the model failed on training input of shape (2, 4, {data.length}): {error}"
            ) from error
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != expected:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"the model must return (N, T) with T={expected} (the number of label columns); it "
            f"returned {shape} for 2 sequences."
        )
    unseen = getattr(model, "unseen_bases", 0)
    if unseen:  # Basset / Beluga with the published pools at a length they do not divide
        warnings.warn(
            f"{type(model).__name__} reads only the first {data.length - unseen} of "
            f"{data.length} bp: its pools drop the last {unseen} bases, so a motif there is "
            "invisible and their attributions will be exactly 0; build it with pool_ceil=True "
            "(cislens train and run do where it is needed).",
            CislensWarning,
            stacklevel=4,
        )


def pos_weights(Y: np.ndarray, task_types, class_weight, task_names) -> list[float]:
    """(1 - p) / p per binary task under ``class_weight="balanced"``, else 1.0; warns about
    tasks with a single class in ``Y`` (they get 1.0)."""
    weights = []
    empty = []
    for t, kind in enumerate(task_types):
        if kind != "binary" or class_weight is None:
            weights.append(1.0)
            continue
        positives = float(np.mean(Y[:, t]))
        if positives in (0.0, 1.0):
            empty.append(task_names[t])
            weights.append(1.0)
        else:
            weights.append((1.0 - positives) / positives)
    if empty:
        warnings.warn(
            f"task(s) {empty} have a single class in Y_train; they cannot be learned and get no "
            "class weighting.",
            CislensWarning,
            stacklevel=4,
        )
    return weights


def warn_single_class_valid(Y_valid: np.ndarray, task_types, task_names) -> None:
    """Warn about binary tasks with a single class in the validation labels (NaN metrics)."""
    single_valid = [
        name
        for name, kind, y in zip(task_names, task_types, Y_valid.T, strict=True)
        if kind == "binary" and np.unique(y).size < 2
    ]
    if single_valid:
        warnings.warn(
            f"task(s) {single_valid} have a single class in Y_valid; their validation auROC and "
            "auPRC are NaN and left out of the averages.",
            CislensWarning,
            stacklevel=4,
        )
