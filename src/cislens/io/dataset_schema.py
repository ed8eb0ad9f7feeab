"""The in-memory dataset: :class:`Dataset`, :class:`GroundTruth` and their validation.

Part of :mod:`cislens.io.dataset` (which holds the HDF5 file and documents the layout); the
names here are re-exported there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cislens.io.hdf5 import (
    check_key_name,
)
from cislens.sequence.alphabet import N_CHANNELS
from cislens.sequence.onehot import check_one_hot
from cislens.utils.arrays import as_numpy

SPLITS = ("train", "valid", "test")
"""The split names a dataset may hold, in file order."""
LAYOUTS = ("N4L", "NL4", "NL14")
"""``N4L``: cislens files. ``NL4`` / ``NL14``: legacy files with X as (N, L, 4) / (N, L, 1, 4)."""
REQUIRED_COLUMNS = ("sequence", "split", "motif", "start", "end", "strand")
ROLES = ("rule", "decoy", "background")


@dataclass(eq=False)
class GroundTruth:
    """What the simulator planted: motif instances, the motifs, and the simulation config.

    Parameters
    ----------
    instances : pandas.DataFrame
        One row per embedded motif instance. Columns ``sequence`` (int, row within its split),
        ``split`` (str), ``motif`` (str, a key of ``motifs``), ``start`` (int, 0-based), ``end``
        (int, exclusive), ``strand`` ("+" or "-"), one bool column ``relevant_<task>`` per task
        (True when the instance is why that task's label is positive) and optionally ``role``
        ("rule", "decoy" or "background").
    motifs : dict of str to array (4, W)
        The probability matrices the simulator sampled from, channels A, C, G, T. A
        :class:`cislens.pwm.Motif` is accepted and replaced by its probabilities.
    config : str, optional
        The simulation config as JSON text.
    """

    instances: pd.DataFrame
    motifs: dict[str, np.ndarray]
    config: str | None = None

    def __post_init__(self):
        if not isinstance(self.instances, pd.DataFrame):
            raise TypeError(
                "GroundTruth.instances must be a pandas.DataFrame with one row per motif "
                f"instance; got {type(self.instances).__name__}."
            )
        if not isinstance(self.motifs, dict):
            raise TypeError(
                "GroundTruth.motifs must be a dict {motif name: (4, W) probabilities}; "
                f"got {type(self.motifs).__name__}."
            )
        self.motifs = {
            name: np.asarray(getattr(value, "probabilities", value), dtype=np.float64)
            for name, value in self.motifs.items()
        }

    def __repr__(self) -> str:
        return (
            f"GroundTruth(instances={len(self.instances)} rows, "
            f"motifs={list(self.motifs)}, config={'yes' if self.config else 'no'})"
        )


@dataclass(eq=False)
class Dataset:
    """Labelled one-hot sequences split into train / valid / test.

    Parameters
    ----------
    X : dict of str to array (N, 4, L)
        Split name -> one-hot sequences, channels A, C, G, T (float32 when loaded; int8 on disk).
    Y : dict of str to array (N, T)
        Split name -> float32 labels.
    task_names : list of str
        One name per label column (length T).
    ground_truth : GroundTruth, optional
        Planted motif instances, for simulated data.
    attrs : dict
        Free metadata stored as file attributes: ``cislens_version``, ``random_state``,
        ``preset``, ``config`` (JSON text), ...

    Examples
    --------
    >>> X = {"train": np.eye(4, dtype=np.float32)[None].repeat(3, 0)}
    >>> data = Dataset(X=X, Y={"train": np.array([[1.0], [0.0], [1.0]])}, task_names=["tf"])
    >>> data.splits, data.length, data.n_tasks
    (['train'], 4, 1)
    """

    X: dict[str, np.ndarray]
    Y: dict[str, np.ndarray]
    task_names: list[str]
    ground_truth: GroundTruth | None = None
    attrs: dict = field(default_factory=dict)

    @property
    def splits(self) -> list[str]:
        """The split names present, in the order train, valid, test."""
        known = [split for split in SPLITS if split in self.X]
        return known + [split for split in self.X if split not in SPLITS]

    @property
    def length(self) -> int:
        """The sequence length L."""
        if not self.X:
            raise ValueError("the dataset has no splits, so it has no length; add X['train'].")
        return int(self.X[self.splits[0]].shape[-1])

    @property
    def n_tasks(self) -> int:
        """The number of tasks T."""
        return len(self.task_names)

    def summary(self) -> str:
        """A text table: sequences per split and, per task, the positive fraction.

        The fraction counts labels > 0.5; for labels that are not all 0 / 1 the column shows the
        mean label instead (its header says so).

        Examples
        --------
        >>> X = {"train": np.eye(4, dtype=np.float32)[None].repeat(2, 0)}
        >>> print(Dataset(X, {"train": np.array([[1.0], [0.0]])}, ["tf"]).summary())
        split      n  tf (pos.)
        train      2       0.50
        """
        headers = []
        for index, task in enumerate(self.task_names):
            binary = all(
                np.isin(as_numpy(self.Y[s])[:, index], (0.0, 1.0)).all() for s in self.splits
            )
            headers.append((task, binary))
        names = [f"{task} ({'pos.' if binary else 'mean'})" for task, binary in headers]
        lines = ["split " + "".join(f"{'n':>6}") + "".join(f"  {name:>8}" for name in names)]
        for split in self.splits:
            labels = as_numpy(self.Y[split]).astype(np.float64)
            cells = []
            for index, (_, binary) in enumerate(headers):
                column = labels[:, index]
                value = (column > 0.5).mean() if binary else column.mean()
                cells.append(f"  {value:>{max(8, len(names[index]))}.2f}")
            lines.append(f"{split:<6}{len(labels):>6}" + "".join(cells))
        return "\n".join(lines)

    def __repr__(self) -> str:
        sizes = {split: int(self.X[split].shape[0]) for split in self.splits}
        length = self.length if self.X else None
        return (
            f"Dataset(splits={sizes}, length={length}, task_names={list(self.task_names)}, "
            f"ground_truth={'yes' if self.ground_truth is not None else 'no'})"
        )


def validate_dataset(dataset: Dataset) -> Dataset:
    """Check a :class:`Dataset` and return it unchanged.

    Checks: split names among train / valid / test, at least one split, the same splits in X and
    Y, each X a valid one-hot (N, 4, L) batch with N >= 1 and one L for all splits, each Y a
    finite (N, T) array with T == len(task_names), unique task names, and the ground truth
    (required columns, one ``relevant_<task>`` column per task, indices within their split,
    ``0 <= start < end <= L``, strands "+" / "-", known motifs with (4, W) probabilities).

    Raises
    ------
    TypeError, ValueError
        Naming the field, the expectation and what was found.

    Examples
    --------
    >>> X = {"test": np.eye(4, dtype=np.float32)[None]}
    >>> validate_dataset(Dataset(X, {"test": np.ones((1, 2))}, ["a"]))
    Traceback (most recent call last):
    ...
    ValueError: Y['test'] has 2 columns but task_names has 1 names (['a']); they must agree.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a cislens.io.Dataset; got {type(dataset).__name__}.")
    for attr_name in ("X", "Y"):
        if not isinstance(getattr(dataset, attr_name), dict):
            raise TypeError(
                f"Dataset.{attr_name} must be a dict {{split name: array}}; "
                f"got {type(getattr(dataset, attr_name)).__name__}."
            )
    if not dataset.X:
        raise ValueError("Dataset.X is empty; a dataset needs at least one split (e.g. 'train').")
    unknown = [split for split in list(dataset.X) + list(dataset.Y) if split not in SPLITS]
    if unknown:
        raise ValueError(
            f"split names must be among {SPLITS}; got {unknown[0]!r}. Rename the split."
        )
    if set(dataset.X) != set(dataset.Y):
        raise ValueError(
            f"Dataset.X and Dataset.Y must have the same splits; X has {sorted(dataset.X)} and "
            f"Y has {sorted(dataset.Y)}."
        )
    task_names = dataset.task_names
    if isinstance(task_names, str) or not all(isinstance(t, str) and t for t in task_names):
        raise TypeError(
            f"task_names must be a list of non-empty str; got {task_names!r}. "
            "Pass for example task_names=['task_0']."
        )
    if len(set(task_names)) != len(task_names) or not task_names:
        raise ValueError(f"task_names must be non-empty and unique; got {list(task_names)}.")
    length = None
    for split in dataset.splits:
        X = dataset.X[split]
        check_one_hot(X, name=f"X[{split!r}]", length=length)
        length = X.shape[2]
        Y = as_numpy(dataset.Y[split])
        if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
            raise ValueError(
                f"Y[{split!r}] must have shape (N, T) = ({X.shape[0]}, {len(task_names)}) to "
                f"match X[{split!r}]; got {tuple(Y.shape)}. Reshape 1-D labels with Y[:, None]."
            )
        if Y.shape[1] != len(task_names):
            raise ValueError(
                f"Y[{split!r}] has {Y.shape[1]} columns but task_names has {len(task_names)} "
                f"names ({list(task_names)}); they must agree."
            )
        if not np.issubdtype(Y.dtype, np.number) and Y.dtype != bool:
            raise TypeError(f"Y[{split!r}] must be numeric; got dtype {Y.dtype}.")
        if not np.isfinite(Y.astype(np.float64)).all():
            row = int(np.argwhere(~np.isfinite(Y.astype(np.float64)))[0][0])
            raise ValueError(f"Y[{split!r}] must be finite; row {row} has NaN or inf.")
    if dataset.ground_truth is not None:
        _validate_ground_truth(dataset, length)
    if not isinstance(dataset.attrs, dict):
        raise TypeError(f"Dataset.attrs must be a dict; got {type(dataset.attrs).__name__}.")
    return dataset


def _validate_ground_truth(dataset: Dataset, length: int | None) -> None:
    truth = dataset.ground_truth
    if not isinstance(truth, GroundTruth):
        raise TypeError(
            f"Dataset.ground_truth must be a GroundTruth or None; got {type(truth).__name__}."
        )
    table = truth.instances
    required = [*REQUIRED_COLUMNS, *(f"relevant_{task}" for task in dataset.task_names)]
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ValueError(
            f"ground_truth.instances lacks the columns {missing}; it needs {required} "
            "(plus optionally 'role')."
        )
    for name, matrix in truth.motifs.items():
        check_key_name(name, name="a ground_truth.motifs name")
        if matrix.ndim != 2 or matrix.shape[0] != N_CHANNELS or matrix.shape[1] == 0:
            raise ValueError(
                f"ground_truth.motifs[{name!r}] must have shape (4, W); got {matrix.shape}."
            )
        if not np.isfinite(matrix).all() or (matrix < 0).any():
            raise ValueError(f"ground_truth.motifs[{name!r}] must be finite and >= 0.")
        if np.abs(matrix.sum(axis=0) - 1).max() > 1e-3:
            raise ValueError(
                f"ground_truth.motifs[{name!r}] must be probabilities (columns summing to 1); "
                f"column sums are {np.round(matrix.sum(axis=0), 4).tolist()}."
            )
    if len(table) == 0:
        return
    for column in ("sequence", "start", "end"):
        if not pd.api.types.is_integer_dtype(table[column]):
            raise TypeError(
                f"ground_truth.instances[{column!r}] must hold ints; got dtype "
                f"{table[column].dtype}."
            )
    for column in [c for c in table.columns if str(c).startswith("relevant_")]:
        if not pd.api.types.is_bool_dtype(table[column]):
            raise TypeError(
                f"ground_truth.instances[{column!r}] must hold bools; got {table[column].dtype}."
            )
    bad_split = ~table["split"].isin(dataset.splits)
    if bad_split.any():
        row = int(np.flatnonzero(bad_split)[0])
        raise ValueError(
            f"ground_truth.instances row {row} has split {table['split'].iloc[row]!r}, not one "
            f"of the dataset's splits {dataset.splits}."
        )
    sizes = table["split"].map({s: dataset.X[s].shape[0] for s in dataset.splits})
    checks = [
        ((table["sequence"] < 0) | (table["sequence"] >= sizes), "sequence must index its split"),
        ((table["start"] < 0) | (table["start"] >= table["end"]), "0 <= start < end must hold"),
        (table["end"] > length, f"end must be <= L = {length}"),
        (~table["strand"].isin(["+", "-"]), "strand must be '+' or '-'"),
        (~table["motif"].isin(list(truth.motifs)), "motif must be a key of ground_truth.motifs"),
    ]
    if "role" in table.columns:
        checks.append((~table["role"].isin(ROLES), f"role must be one of {ROLES}"))
    for bad, rule in checks:
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"ground_truth.instances row {row} is invalid: {rule}; the row is "
                f"{table.iloc[row].to_dict()}."
            )


__all__ = [
    "LAYOUTS",
    "REQUIRED_COLUMNS",
    "ROLES",
    "SPLITS",
    "Dataset",
    "GroundTruth",
    "validate_dataset",
]
