"""Labelled one-hot datasets with optional simulation ground truth, and their HDF5 file.

A :class:`Dataset` holds per-split one-hot sequences ``X[split]`` (N, 4, L) and labels
``Y[split]`` (N, T), the task names, free metadata, and, for simulated data, a
:class:`GroundTruth` (the embedded motif instances and the motifs used). The on-disk layout is
documented in ``docs/formats.md`` ("Datasets").

Legacy lab files that store X as (N, L, 4) or (N, L, 1, 4) are read only when the layout is named
(``load_dataset(path, layout="NL4")``); cislens never guesses the layout from a shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from cislens.io.dataset_schema import (
    LAYOUTS,
    REQUIRED_COLUMNS,
    ROLES,
    SPLITS,
    Dataset,
    GroundTruth,
    validate_dataset,
)
from cislens.io.hdf5 import (
    as_path,
    attr_value,
    check_format,
    decode_attrs,
    encode_attrs,
    existing_file,
    from_json,
    hdf5_output,
    open_hdf5,
    read_table,
    to_json,
    write_table,
)
from cislens.sequence.alphabet import ALPHABET, N_CHANNELS
from cislens.utils.arrays import as_numpy
from cislens.utils.types import PathLike

FORMAT = "cislens-dataset"
FORMAT_VERSION = 1
# Root attributes owned by the format; they cannot be set through Dataset.attrs.
_RESERVED_ATTRS = ("format", "format_version", "alphabet", "layout", "task_names")


def save_dataset(path: PathLike, dataset: Dataset) -> Path:
    """Validate ``dataset`` and write it to the HDF5 file ``path`` (see ``docs/formats.md``).

    X is stored as int8 (N, 4, L), Y as float32 (N, T), gzip-compressed. ``attrs`` become root
    attributes: str, int, float and bool values as they are, anything else as JSON text (their
    names are listed in the ``json_attrs`` attribute so loading restores them).
    ``cislens_version`` defaults to the running version. The file is written to a temporary
    name and moved into place, so a failed save leaves no partial file; missing parent folders
    are created.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, os
    >>> X = {"train": np.eye(4, dtype=np.float32)[None].repeat(2, 0)}
    >>> data = Dataset(X, {"train": np.array([[1.0], [0.0]])}, ["tf"], attrs={"random_state": 0})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_dataset(os.path.join(folder, "data.h5"), data)
    ...     loaded = load_dataset(path)
    >>> loaded.X["train"].dtype, loaded.attrs["random_state"]
    (dtype('float32'), 0)
    """
    validate_dataset(dataset)
    path = as_path(path)
    attrs = encode_attrs(dataset.attrs, name="Dataset.attrs", reserved=_RESERVED_ATTRS)
    with hdf5_output(path) as handle:
        handle.attrs["format"] = FORMAT
        handle.attrs["format_version"] = FORMAT_VERSION
        handle.attrs["alphabet"] = ALPHABET
        handle.attrs["layout"] = "N4L"
        handle.attrs["task_names"] = to_json(list(dataset.task_names), name="task_names")
        for key, value in attrs.items():
            handle.attrs[key] = value
        for split in dataset.splits:
            X = as_numpy(dataset.X[split]).astype(np.int8)
            Y = as_numpy(dataset.Y[split]).astype(np.float32)
            handle.create_dataset(f"X_{split}", data=X, compression="gzip", shuffle=True)
            handle.create_dataset(f"Y_{split}", data=Y, compression="gzip", shuffle=True)
        if dataset.ground_truth is not None:
            _write_ground_truth(handle, dataset.ground_truth)
    return path


def _write_ground_truth(handle: h5py.File, truth: GroundTruth) -> None:
    group = handle.create_group("ground_truth")
    if truth.config is not None:
        group.attrs["config"] = str(truth.config)
    write_table(group.create_group("instances"), truth.instances, name="ground_truth.instances")
    motifs = group.create_group("motifs")
    motifs.attrs["names"] = to_json(list(truth.motifs), name="ground_truth.motifs names")
    for name, matrix in truth.motifs.items():
        motifs.create_dataset(name, data=np.asarray(matrix, dtype=np.float64))


def load_dataset(
    path: PathLike, *, layout: str = "N4L", splits: str | Sequence[str] | None = None
) -> Dataset:
    """Read a dataset written by :func:`save_dataset`, or a legacy lab file with a named layout.

    Parameters
    ----------
    path : str or pathlib.Path
        An HDF5 file.
    layout : {"N4L", "NL4", "NL14"}
        How X is stored. "N4L" (default) reads cislens datasets. "NL4" and "NL14" read legacy
        lab files (datasets ``X_<split>`` and ``Y_<split>``, or ``x_`` / ``y_``, no cislens
        attributes) whose X is (N, L, 4) or (N, L, 1, 4); they are transposed to (N, 4, L) and
        1-D labels become (N, 1). The layout is never guessed: a stored shape that does not match
        the named layout is an error.
    splits : list of str, optional
        The splits to load (default: all present). Ground-truth rows of other splits are dropped.

    Returns
    -------
    Dataset
        X float32 (N, 4, L), Y float32 (N, T). Legacy files get task names ``task_0``, ... and
        ``attrs["source_layout"]``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not a cislens dataset (or a legacy file of the named layout), a requested split is
        missing, or stored shapes are inconsistent.
    """
    if layout not in LAYOUTS:
        raise ValueError(
            f"layout must be one of {LAYOUTS}; got {layout!r}. 'N4L' reads cislens datasets; "
            "'NL4' / 'NL14' read legacy files with X stored as (N, L, 4) / (N, L, 1, 4)."
        )
    path = existing_file(path)
    with open_hdf5(path, what="cislens dataset") as handle:
        stored_layout = attr_value(handle.attrs.get("layout"))
        is_cislens = attr_value(handle.attrs.get("format")) == FORMAT
        if layout != "N4L" and is_cislens:
            raise ValueError(
                f"layout={layout!r} was named but '{path}' is a cislens dataset stored as "
                f"{stored_layout!r}; pass layout='N4L' (the default)."
            )
        if layout == "N4L":
            check_format(
                handle.attrs.get("format"),
                handle.attrs.get("format_version"),
                path=path,
                expected=FORMAT,
                supported_version=FORMAT_VERSION,
                hint=" If it is a legacy lab file with X stored as (N, L, 4) or (N, L, 1, 4), "
                "pass layout='NL4' or layout='NL14'.",
            )
            if stored_layout != "N4L" or attr_value(handle.attrs.get("alphabet")) != ALPHABET:
                raise ValueError(
                    f"'{path}' has layout {stored_layout!r} and alphabet "
                    f"{attr_value(handle.attrs.get('alphabet'))!r}; cislens datasets must be "
                    "'N4L' and 'ACGT'. The file is corrupted."
                )
        keys = _split_keys(handle, path, legacy=layout != "N4L")
        selected = _select_splits(keys, splits, path)
        X, Y = {}, {}
        for split in selected:
            x_key, y_key = keys[split]
            X[split] = _read_X(handle[x_key], layout, path, x_key)
            Y[split] = _read_Y(handle[y_key], path, y_key, X[split].shape[0])
        if layout == "N4L":
            task_names = from_json(handle.attrs.get("task_names"), name="task_names", path=path)
            attrs = decode_attrs(handle.attrs, path=path, reserved=_RESERVED_ATTRS)
            truth = _read_ground_truth(handle, path, selected) if "ground_truth" in handle else None
        else:
            task_names = [f"task_{i}" for i in range(Y[selected[0]].shape[1])]
            attrs = {"source_layout": layout}
            truth = None
    dataset = Dataset(X=X, Y=Y, task_names=task_names, ground_truth=truth, attrs=attrs)
    try:
        return validate_dataset(dataset)
    except (TypeError, ValueError) as error:
        raise ValueError(f"'{path}' holds an invalid dataset: {error}") from None


def _split_keys(handle: h5py.File, path: Path, *, legacy: bool) -> dict[str, tuple[str, str]]:
    keys = {}
    for split in SPLITS:
        prefixes = ("X", "x") if legacy else ("X",)
        for prefix in prefixes:
            x_key, y_key = f"{prefix}_{split}", f"{'Y' if prefix == 'X' else 'y'}_{split}"
            if x_key in handle:
                if y_key not in handle:
                    raise ValueError(f"'{path}' has {x_key} but no {y_key}; the file is corrupted.")
                keys[split] = (x_key, y_key)
                break
    if not keys:
        raise ValueError(
            f"'{path}' has no X_train / X_valid / X_test datasets (it holds {sorted(handle)}); "
            "it is not a dataset file."
        )
    return keys


def _select_splits(keys: dict, splits, path: Path) -> list[str]:
    if splits is None:
        return list(keys)
    if isinstance(splits, str):
        splits = [splits]
    missing = [split for split in splits if split not in keys]
    if missing or not list(splits):
        raise ValueError(
            f"splits must name splits present in '{path}' ({list(keys)}); got {list(splits)}."
        )
    return [split for split in SPLITS if split in splits]


def _read_X(dataset: h5py.Dataset, layout: str, path: Path, key: str) -> np.ndarray:
    expected = {"N4L": "(N, 4, L)", "NL4": "(N, L, 4)", "NL14": "(N, L, 1, 4)"}[layout]
    shape = dataset.shape
    ok = {
        "N4L": len(shape) == 3 and shape[1] == N_CHANNELS,
        "NL4": len(shape) == 3 and shape[2] == N_CHANNELS,
        "NL14": len(shape) == 4 and shape[2] == 1 and shape[3] == N_CHANNELS,
    }[layout]
    if not ok:
        other = [name for name in LAYOUTS if name != "N4L" and name != layout]
        hint = f" It may be layout={other[0]!r}." if layout != "N4L" else ""
        raise ValueError(
            f"'{path}': {key} has shape {shape}, but layout={layout!r} means {expected}.{hint}"
        )
    values = dataset[()].astype(np.float32)
    if layout == "NL14":
        values = values[:, :, 0, :]
    if layout != "N4L":
        values = np.ascontiguousarray(values.transpose(0, 2, 1))
    return values


def _read_Y(dataset: h5py.Dataset, path: Path, key: str, n: int) -> np.ndarray:
    values = dataset[()]
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != n:
        raise ValueError(
            f"'{path}': {key} has shape {dataset.shape}; expected (N, T) with N = {n} rows to "
            "match X. The file is corrupted."
        )
    return values.astype(np.float32)


def _read_ground_truth(handle: h5py.File, path: Path, splits: list[str]) -> GroundTruth:
    group = handle["ground_truth"]
    if "instances" not in group or "motifs" not in group:
        raise ValueError(
            f"'{path}': ground_truth must hold the groups 'instances' and 'motifs'; it holds "
            f"{sorted(group)}. The file is corrupted."
        )
    table = read_table(group["instances"], path=path, name="ground_truth/instances")
    if "split" in table.columns:
        table = table[table["split"].isin(splits)].reset_index(drop=True)
    motifs_group = group["motifs"]
    names = from_json(motifs_group.attrs.get("names"), name="motif names", path=path)
    missing = [name for name in names if name not in motifs_group]
    if missing:
        raise ValueError(f"'{path}': ground_truth/motifs lacks {missing}; the file is corrupted.")
    motifs = {name: motifs_group[name][()].astype(np.float64) for name in names}
    config = group.attrs.get("config")
    return GroundTruth(table, motifs, None if config is None else attr_value(config))


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LAYOUTS",
    "REQUIRED_COLUMNS",
    "ROLES",
    "SPLITS",
    "Dataset",
    "GroundTruth",
    "load_dataset",
    "save_dataset",
    "validate_dataset",
]
