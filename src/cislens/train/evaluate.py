"""Predictions and per-task metrics of a model: :func:`predict` and :func:`evaluate`.

The metrics table (a ``pandas.DataFrame``, one row per task, written as CSV by
``cislens evaluate``) has the columns

============================  ================================================================
``task``                      task name
``task_type``                 "binary" or "regression"
``n``                         number of sequences
``positives_fraction``        fraction of labels equal to 1 (binary tasks; NaN otherwise)
``auroc``, ``auprc``          area under the ROC / precision-recall curve (scikit-learn's
                              ``roc_auc_score`` and ``average_precision_score``) of the logits;
                              NaN, with a warning, when the task has a single class
``accuracy``                  fraction correct with threshold 0.5 on the sigmoid (logit >= 0)
``pearson_r``, ``mse``        correlation and mean squared error (regression tasks; NaN
                              otherwise)
``pwm_auroc``, ``pwm_auprc``  only with ``truth`` (simulated data): the same metrics of the PWM
                              scan baseline, the truth's own motifs and rules
                              (:func:`cislens.simulate.baseline.pwm_baseline_scores`); a model
                              well below it underfits
============================  ================================================================
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from cislens.errors import CislensWarning
from cislens.train._data import (
    check_batch_size,
    check_inputs,
    check_labels,
    check_task_names,
    resolve_task_types,
)
from cislens.utils.batching import DEFAULT_BATCH_SIZE as INFERENCE_BATCH_SIZE
from cislens.utils.batching import predict_in_batches
from cislens.utils.device import resolve_device, using_model
from cislens.utils.types import ArrayLike, Device

if TYPE_CHECKING:  # annotations only
    from cislens.io.dataset_schema import GroundTruth

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = INFERENCE_BATCH_SIZE
"""Rows per forward pass of :func:`predict` / :func:`evaluate`: the one inference default,
:data:`cislens.utils.batching.DEFAULT_BATCH_SIZE`."""
METRIC_COLUMNS = [
    "task",
    "task_type",
    "n",
    "positives_fraction",
    "auroc",
    "auprc",
    "accuracy",
    "pearson_r",
    "mse",
]


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module; got {type(model).__name__}. Load a saved model "
            "with cislens.models.load_model(path)."
        )


def predict_array(
    model: nn.Module, X: np.ndarray, *, batch_size: int, device: torch.device, verbose=False
) -> np.ndarray:
    """Logits (N, T) of ``model`` in eval mode (no checks; ``model`` already on ``device``)."""

    def checked(out):
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"model must return a tensor of shape (N, T); got {shape}. Wrap profile or "
                "multi-output models so that they return one (N, T) tensor."
            )
        return out.float()

    with tqdm(total=len(X), disable=not verbose, desc="predict") as bar:
        logits = predict_in_batches(
            model, X, batch_size=batch_size, device=device, transform=checked, on_batch=bar.update
        )
    return logits.numpy()


def predict(
    model: nn.Module,
    X: ArrayLike,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    apply_sigmoid: bool = False,
    verbose: bool = False,
) -> np.ndarray:
    """Predict (N, T) outputs for a batch of sequences, in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        A model mapping (N, 4, L) to (N, T). Its device and train/eval mode are restored after.
    X : numpy.ndarray or torch.Tensor
        Inputs (N, 4, L); any numeric dtype (cast to float32 per batch). Not required to be
        strictly one-hot.
    batch_size : int
        Rows per forward pass (default 256); results do not depend on it.
    device : str, torch.device or None
        None (default): CUDA if available, else CPU.
    apply_sigmoid : bool
        Return sigmoid probabilities instead of logits (default False).
    verbose : bool
        Show a progress bar.

    Returns
    -------
    numpy.ndarray
        (N, T) float32 on the CPU.

    Examples
    --------
    >>> from cislens.models import DeepBind
    >>> model = DeepBind(n_tasks=2, filter_width=5, random_state=0)
    >>> predict(model, torch.zeros(3, 4, 20), apply_sigmoid=True).shape
    (3, 2)
    """
    _check_model(model)
    values = check_inputs(X, name="X", one_hot=False)
    batch_size = check_batch_size(batch_size)
    device = resolve_device(device)
    with using_model(model, device=device, training=False):
        logits = predict_array(model, values, batch_size=batch_size, device=device, verbose=verbose)
    if apply_sigmoid:
        return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    return logits


def binary_metrics(y: np.ndarray, logits: np.ndarray) -> tuple[float, float, float]:
    """(auROC, auPRC, accuracy) of one binary task; the AUCs are NaN when y has one class."""
    accuracy = float(np.mean((logits >= 0) == (y >= 0.5)))
    if np.unique(y).size < 2:
        return float("nan"), float("nan"), accuracy
    return (
        float(roc_auc_score(y, logits)),
        float(average_precision_score(y, logits)),
        accuracy,
    )


def metrics_table(
    Y: np.ndarray, logits: np.ndarray, task_names: list[str], task_types: list[str]
) -> pd.DataFrame:
    """The per-task metrics table (see the module docstring) without warnings."""
    rows = []
    for t, (name, kind) in enumerate(zip(task_names, task_types, strict=True)):
        y, z = Y[:, t], logits[:, t]
        row: dict[str, object] = dict.fromkeys(METRIC_COLUMNS, float("nan"))
        row.update(task=name, task_type=kind, n=len(y))
        if kind == "binary":
            row["positives_fraction"] = float(np.mean(y == 1))
            row["auroc"], row["auprc"], row["accuracy"] = binary_metrics(y, z)
        else:
            row["mse"] = float(np.mean((z.astype(np.float64) - y) ** 2))
            if np.std(y) > 0 and np.std(z) > 0:
                row["pearson_r"] = float(np.corrcoef(y, z)[0, 1])
        rows.append(row)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def _with_baseline(table, X, Y, truth, task_types) -> pd.DataFrame:
    """``table`` with the PWM scan baseline's auROC and auPRC per binary task."""
    from cislens.simulate.baseline import pwm_baseline_scores

    scores = pwm_baseline_scores(X, truth)
    if scores.shape[1] != Y.shape[1]:
        raise ValueError(
            f"truth has {scores.shape[1]} tasks but Y has {Y.shape[1]}; pass the ground truth of "
            "the dataset the labels come from."
        )
    table = table.copy()
    table["pwm_auroc"], table["pwm_auprc"] = float("nan"), float("nan")
    for t, kind in enumerate(task_types):
        if kind == "binary" and np.unique(Y[:, t]).size == 2:
            table.loc[t, "pwm_auroc"] = float(roc_auc_score(Y[:, t], scores[:, t]))
            table.loc[t, "pwm_auprc"] = float(average_precision_score(Y[:, t], scores[:, t]))
    return table


def default_task_names(model, n_tasks: int) -> list[str]:
    """The model's ``task_names`` when it has matching ones, else task_0, task_1, ..."""
    names = getattr(model, "task_names", None)
    if isinstance(names, (list, tuple)) and len(names) == n_tasks:
        return [str(name) for name in names]
    return [f"task_{t}" for t in range(n_tasks)]


def evaluate(
    model: nn.Module,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    task_names: Sequence[str] | None = None,
    task_type: str | Sequence[str] | None = None,
    truth: GroundTruth | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    verbose: bool = False,
) -> pd.DataFrame:
    """Per-task metrics of ``model`` on (X, Y): auROC, auPRC, accuracy, positives fraction.

    Parameters
    ----------
    model : torch.nn.Module
        A model mapping (N, 4, L) to (N, T) logits.
    X : numpy.ndarray or torch.Tensor
        One-hot inputs (N, 4, L).
    Y : numpy.ndarray or torch.Tensor
        Labels (N, T).
    task_names : list of str, optional
        Row labels; default the model's ``task_names`` or task_0, task_1, ...
    task_type : {"binary", "regression"}, list of those, or None
        None (default) detects binary tasks from labels in {0, 1}.
    truth : GroundTruth, optional
        ``dataset.ground_truth`` of simulated data: adds the columns ``pwm_auroc`` and
        ``pwm_auprc`` of the PWM scan baseline (see the module docstring).
    batch_size : int
        Rows per forward pass (default 256).
    device : str, torch.device or None
        None (default): CUDA if available, else CPU.
    verbose : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per task; columns ``task, task_type, n, positives_fraction, auroc, auprc,
        accuracy, pearson_r, mse`` (NaN where a metric does not apply).

    Warns
    -----
    CislensWarning
        When a binary task has a single class in Y (its auROC and auPRC are NaN).

    Examples
    --------
    >>> from cislens.models import DeepBind
    >>> from cislens.sequence import one_hot_encode
    >>> X = one_hot_encode(["ACGTACGTAC", "TTTTGGGGCC", "ACACACACAC", "GGGGGGGGGG"])
    >>> model = DeepBind(n_tasks=1, filter_width=4, random_state=0)
    >>> table = evaluate(model, X, np.array([[0.0], [1.0], [0.0], [1.0]]), task_names=["A"])
    >>> table[["task", "n", "positives_fraction"]].to_dict("records")
    [{'task': 'A', 'n': 4, 'positives_fraction': 0.5}]
    """
    _check_model(model)
    values = check_inputs(X, name="X")
    labels = check_labels(Y, values, name="Y")
    task_types = resolve_task_types(labels, task_type)
    names = check_task_names(task_names, labels.shape[1]) or default_task_names(
        model, labels.shape[1]
    )
    logits = predict(model, values, batch_size=batch_size, device=device, verbose=verbose)
    if logits.shape[1] != labels.shape[1]:
        raise ValueError(
            f"the model has {logits.shape[1]} outputs but Y has {labels.shape[1]} tasks; pass "
            "labels with one column per model output."
        )
    table = metrics_table(labels, logits, names, task_types)
    if truth is not None:
        table = _with_baseline(table, values, labels, truth, task_types)
    single = [
        name
        for name, kind, y in zip(names, task_types, labels.T, strict=True)
        if kind == "binary" and np.unique(y).size < 2
    ]
    if single:
        warnings.warn(
            f"task(s) {single} have a single class in Y (all 0 or all 1); their auROC and auPRC "
            "are undefined and reported as NaN.",
            CislensWarning,
            stacklevel=2,
        )
    return table


__all__ = ["METRIC_COLUMNS", "evaluate", "predict"]
