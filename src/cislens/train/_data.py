"""Data plumbing for training and evaluation: accepted inputs, checks, batches, task types.

``fit`` accepts a :class:`cislens.io.dataset.Dataset` (its "train" and "valid" splits), a dict
with keys ``X_train``, ``Y_train``, ``X_valid``, ``Y_valid`` (optionally ``task_names``), or a
tuple ``(X_train, Y_train, X_valid, Y_valid)``. X is (N, 4, L) one-hot (any numeric or bool
dtype, NumPy or torch; upcast to float32 per batch), Y is (N, T) labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cislens.sequence.onehot import check_one_hot
from cislens.utils.arrays import as_numpy
from cislens.utils.batching import batch_slices, check_batch_size

TASK_TYPES = ("binary", "regression")
_KEYS = ("X_train", "Y_train", "X_valid", "Y_valid")


@dataclass(frozen=True)
class TrainingData:
    """Checked training and validation arrays (NumPy), and the task names when known."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_valid: np.ndarray
    Y_valid: np.ndarray
    task_names: list[str] | None = None

    @property
    def n_tasks(self) -> int:
        return int(self.Y_train.shape[1])

    @property
    def length(self) -> int:
        return int(self.X_train.shape[2])


def as_training_data(data) -> TrainingData:
    """Turn a ``Dataset``, a dict or a 4-tuple into checked :class:`TrainingData`."""
    task_names = None
    if hasattr(data, "X") and hasattr(data, "Y") and isinstance(data.X, Mapping):
        missing = [
            split for split in ("train", "valid") if split not in data.X or split not in data.Y
        ]
        if missing:
            raise ValueError(
                f"data (a Dataset) must have the splits 'train' and 'valid'; missing {missing} "
                f"(has {sorted(data.X)}). Create a validation split, e.g. with the simulator's "
                "defaults, or pass (X_train, Y_train, X_valid, Y_valid)."
            )
        arrays = (data.X["train"], data.Y["train"], data.X["valid"], data.Y["valid"])
        task_names = list(data.task_names) if data.task_names is not None else None
    elif isinstance(data, Mapping):
        missing = [key for key in _KEYS if key not in data]
        if missing:
            raise ValueError(
                f"data (a dict) must have the keys {list(_KEYS)}; missing {missing} "
                f"(got {sorted(data)})."
            )
        arrays = tuple(data[key] for key in _KEYS)
        task_names = list(data["task_names"]) if data.get("task_names") is not None else None
    elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        if len(data) != 4:
            raise ValueError(
                "data as a tuple must be (X_train, Y_train, X_valid, Y_valid); "
                f"got {len(data)} items."
            )
        arrays = tuple(data)
    else:
        raise TypeError(
            "data must be a cislens Dataset, a dict with keys X_train, Y_train, X_valid, Y_valid, "
            f"or a tuple of those 4 arrays; got {type(data).__name__}."
        )
    X_train = check_inputs(arrays[0], name="X_train")
    X_valid = check_inputs(arrays[2], name="X_valid", length=X_train.shape[2])
    Y_train = check_labels(arrays[1], X_train, name="Y_train")
    Y_valid = check_labels(arrays[3], X_valid, name="Y_valid", n_tasks=Y_train.shape[1])
    task_names = check_task_names(task_names, Y_train.shape[1])
    return TrainingData(X_train, Y_train, X_valid, Y_valid, task_names)


def check_inputs(X, *, name: str = "X", length: int | None = None, one_hot: bool = True):
    """Check a (N, 4, L) batch (strict one-hot unless ``one_hot=False``); return it as NumPy."""
    if one_hot:
        check_one_hot(X, name=name, length=length)
        return as_numpy(X)
    if not isinstance(X, (np.ndarray, torch.Tensor)):
        raise TypeError(
            f"{name} must be a numpy.ndarray or torch.Tensor of shape (N, 4, L); "
            f"got {type(X).__name__}."
        )
    values = as_numpy(X)
    if values.ndim != 3 or values.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4, L); got shape {tuple(values.shape)}.")
    if values.shape[0] == 0 or values.shape[2] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(values.shape)}); pass at least one row.")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return values


def check_labels(Y, X, *, name: str = "Y", n_tasks: int | None = None) -> np.ndarray:
    """Check labels (N, T) against their inputs X; return them as float32 NumPy."""
    if not isinstance(Y, (np.ndarray, torch.Tensor)):
        raise TypeError(
            f"{name} must be a numpy.ndarray or torch.Tensor of shape (N, T); got "
            f"{type(Y).__name__}."
        )
    values = as_numpy(Y)
    if values.ndim == 1:
        raise ValueError(
            f"{name} must have shape (N, T); got shape {tuple(values.shape)}. For a single task "
            "pass Y[:, None]."
        )
    if values.ndim != 2:
        raise ValueError(f"{name} must have shape (N, T); got shape {tuple(values.shape)}.")
    if values.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} has {values.shape[0]} rows but its inputs have {X.shape[0]} sequences; "
            "labels and sequences must be paired row by row."
        )
    if values.shape[1] == 0:
        raise ValueError(f"{name} has no tasks (shape {tuple(values.shape)}).")
    if n_tasks is not None and values.shape[1] != n_tasks:
        raise ValueError(
            f"{name} has {values.shape[1]} tasks but the training labels have {n_tasks}."
        )
    if values.dtype == bool:
        values = values.astype(np.float32)
    if not np.issubdtype(values.dtype, np.number):
        raise TypeError(f"{name} must be numeric; got dtype {values.dtype}.")
    values = values.astype(np.float32, copy=False)
    bad = ~np.isfinite(values)
    if bad.any():
        row, task = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite label(s) (first at row {row}, task "
            f"{task}); remove those rows or fill the labels before training."
        )
    return values


def check_task_names(task_names, n_tasks: int) -> list[str] | None:
    """Check that ``task_names`` (or None) has one unique string per task."""
    if task_names is None:
        return None
    if isinstance(task_names, str) or not isinstance(task_names, Sequence):
        raise TypeError(f"task_names must be a list of str; got {type(task_names).__name__}.")
    names = [str(name) for name in task_names]
    if len(names) != n_tasks:
        raise ValueError(
            f"task_names has {len(names)} names but the labels have {n_tasks} tasks; pass one name "
            "per column of Y."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"task_names must be unique; got {names}.")
    return names


def resolve_task_types(Y: np.ndarray, task_type=None) -> list[str]:
    """Per-task "binary" / "regression": detected from the labels (values in {0, 1} -> binary),
    or given as one string for all tasks or one per task."""
    n_tasks = Y.shape[1]
    is_binary = [bool(np.isin(Y[:, t], (0.0, 1.0)).all()) for t in range(n_tasks)]
    if task_type is None:
        return ["binary" if b else "regression" for b in is_binary]
    types = [task_type] * n_tasks if isinstance(task_type, str) else list(task_type)
    if len(types) != n_tasks:
        raise ValueError(
            f"task_type must be one string or one per task ({n_tasks}); got {len(types)} entries."
        )
    for t, (kind, binary) in enumerate(zip(types, is_binary, strict=True)):
        if kind not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES} or None; got {kind!r}.")
        if kind == "binary" and not binary:
            raise ValueError(
                f"task {t} was declared binary but its labels are not all 0 or 1; pass "
                "task_type='regression' for it, or binarise the labels."
            )
    return types


def batch_tensor(X: np.ndarray, index) -> torch.Tensor:
    """Rows ``index`` of ``X`` as a float32 CPU tensor."""
    return torch.from_numpy(np.ascontiguousarray(X[index], dtype=np.float32))


__all__ = [
    "TASK_TYPES",
    "TrainingData",
    "as_training_data",
    "batch_slices",
    "batch_tensor",
    "check_batch_size",
    "check_inputs",
    "check_labels",
    "check_task_names",
    "resolve_task_types",
]
