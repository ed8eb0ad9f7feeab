"""Attribution maps with the inputs and settings that produced them, in HDF5 or npz files.

An :class:`AttributionSet` keeps the one-hot inputs ``X`` (N, 4, L), the projected
``attributions`` (N, 4, L), optionally the ``hypothetical`` scores (N, 4, L), and everything needed
to reproduce them: the method name, the target, the method parameters, the random_state and the
cislens version. :func:`save_attributions` picks the format from the suffix (``.h5`` / ``.hdf5``
or ``.npz``); both are documented in ``docs/formats.md`` ("Attribution store"). npz files are read
with ``allow_pickle=False``: nothing is ever unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cislens._version import __version__
from cislens.io.hdf5 import (
    as_path,
    atomic_output,
    attr_value,
    check_format,
    check_suffix,
    existing_file,
    from_json,
    hdf5_output,
    open_hdf5,
    to_json,
)
from cislens.sequence.onehot import check_one_hot
from cislens.utils.arrays import as_numpy
from cislens.utils.types import PathLike

FORMAT = "cislens-attributions"
FORMAT_VERSION = 1
SUFFIXES = (".h5", ".hdf5", ".npz")
"""File suffixes :func:`save_attributions` and :func:`load_attributions` accept."""
_ARRAYS = ("X", "attributions", "hypothetical", "example_index")
_METADATA = ("method", "target", "params", "random_state", "cislens_version", "task_names")


@dataclass(eq=False)
class AttributionSet:
    """Attributions for a batch of sequences, with the settings that produced them.

    Arrays given as torch tensors (on any device) are converted to NumPy on construction.

    Parameters
    ----------
    X : array (N, 4, L)
        The one-hot inputs (float32 in memory, int8 on disk).
    attributions : array (N, 4, L)
        Projected attribution scores (float32), ``hypothetical * X`` for methods that have one.
    method : str
        The attribution method's registry name, e.g. "deeplift_shap".
    hypothetical : array (N, 4, L), optional
        Hypothetical scores for all four bases (float32).
    target : int, str or None
        The output explained: an index, a label for a callable target, or None (single output).
    params : dict
        The method's settings (reference, n_shuffles, n_steps, ...), JSON-serialisable. NumPy
        scalars and arrays and tuples are saved as JSON numbers and lists.
    random_state : int, optional
        The seed the method used.
    cislens_version : str
        The version that computed the attributions (default: the running version).
    example_index : array (N,), optional
        Which rows of the source data these are (int64).
    task_names : list of str, optional
        The model's task names.

    Examples
    --------
    >>> X = np.eye(4, dtype=np.float32)[None].repeat(2, 0)
    >>> result = AttributionSet(X=X, attributions=0.5 * X, method="ism", target=0)
    >>> result.n_examples, result.length, result.attributions.dtype
    (2, 4, dtype('float32'))
    """

    X: np.ndarray
    attributions: np.ndarray
    method: str
    hypothetical: np.ndarray | None = None
    target: int | str | None = None
    params: dict = field(default_factory=dict)
    random_state: int | None = None
    cislens_version: str = __version__
    example_index: np.ndarray | None = None
    task_names: list[str] | None = None

    def __post_init__(self):
        self.X = _float_array(self.X)
        self.attributions = _float_array(self.attributions)
        if self.hypothetical is not None:
            self.hypothetical = _float_array(self.hypothetical)
        if self.example_index is not None:
            self.example_index = np.asarray(as_numpy(self.example_index))
        if isinstance(self.random_state, np.integer):
            self.random_state = int(self.random_state)
        if isinstance(self.target, np.integer):
            self.target = int(self.target)
        if self.task_names is not None and not isinstance(self.task_names, str):
            self.task_names = list(self.task_names)
        validate_attribution_set(self)

    @property
    def n_examples(self) -> int:
        """The number of sequences N."""
        return int(self.X.shape[0])

    @property
    def length(self) -> int:
        """The sequence length L."""
        return int(self.X.shape[2])

    def __repr__(self) -> str:
        return (
            f"AttributionSet(method={self.method!r}, target={self.target!r}, "
            f"shape={tuple(self.X.shape)}, hypothetical={self.hypothetical is not None}, "
            f"random_state={self.random_state!r})"
        )


def _float_array(values) -> np.ndarray:
    return np.asarray(as_numpy(values), dtype=np.float32)


def validate_attribution_set(attribution_set: AttributionSet) -> AttributionSet:
    """Check shapes, dtypes and metadata of an :class:`AttributionSet`; return it unchanged.

    Raises
    ------
    TypeError, ValueError
        Naming the field, the expectation and what was found.
    """
    result = attribution_set
    check_one_hot(result.X, name="X")
    shape = tuple(result.X.shape)
    for name in ("attributions", "hypothetical"):
        values = getattr(result, name)
        if values is None:
            continue
        if tuple(values.shape) != shape:
            raise ValueError(
                f"{name} must have the shape of X {shape}; got {tuple(values.shape)}. "
                "Attributions are (N, 4, L) like the one-hot input."
            )
        if not np.isfinite(values).all():
            seq, channel, pos = np.argwhere(~np.isfinite(values))[0]
            raise ValueError(
                f"{name} must be finite; sequence {seq}, channel {channel}, position {pos} "
                f"is {values[seq, channel, pos]}."
            )
    if not isinstance(result.method, str) or not result.method:
        raise TypeError(f"method must be a non-empty str; got {result.method!r}.")
    target = result.target
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, str))):
        raise TypeError(
            f"target must be an int, a str label (for a callable target) or None; got "
            f"{target!r} ({type(target).__name__})."
        )
    if not isinstance(result.params, dict):
        raise TypeError(f"params must be a dict; got {type(result.params).__name__}.")
    seed = result.random_state
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(
            f"random_state must be the int seed that was used, or None; got {seed!r}. "
            "Record an int (see cislens.utils.resolve_seed), not a Generator."
        )
    if not isinstance(result.cislens_version, str):
        raise TypeError(f"cislens_version must be a str; got {result.cislens_version!r}.")
    index = result.example_index
    if index is not None:
        if index.shape != (shape[0],) or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(
                f"example_index must be an int array of shape (N,) = ({shape[0]},); got dtype "
                f"{index.dtype} and shape {index.shape}."
            )
        if (index < 0).any():
            raise ValueError("example_index must hold row numbers >= 0.")
    names = result.task_names
    if names is not None and (
        isinstance(names, str) or not all(isinstance(name, str) for name in names)
    ):
        raise TypeError(f"task_names must be a list of str or None; got {names!r}.")
    return result


def _metadata(result: AttributionSet) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": result.method,
        "target": result.target,
        "params": result.params,
        "random_state": result.random_state,
        "cislens_version": result.cislens_version,
        "task_names": result.task_names,
    }


def save_attributions(path: PathLike, attribution_set: AttributionSet) -> Path:
    """Write an :class:`AttributionSet` to ``path``; the suffix picks the format.

    ``.h5`` / ``.hdf5``: HDF5 datasets ``X`` (int8), ``attributions`` and ``hypothetical``
    (float32, gzip), ``example_index`` (int64), and root attributes ``method``, ``target``,
    ``params`` (JSON), ``random_state``, ``cislens_version``, ``task_names`` (JSON), ``format``,
    ``format_version``. ``.npz``: the same arrays under the same names, plus ``metadata``, the
    JSON text of those attributes. The file is written under a temporary name and moved into
    place; missing parent folders are created.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        An unknown suffix (the message lists the valid ones), or arrays whose shapes disagree.
    TypeError
        ``params`` that are not JSON-serialisable.

    Examples
    --------
    >>> import tempfile, os
    >>> X = np.eye(4, dtype=np.float32)[None].repeat(2, 0)
    >>> result = AttributionSet(X=X, attributions=X, method="ism", params={"n": 1})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_attributions(os.path.join(folder, "attr.npz"), result)
    ...     loaded = load_attributions(path)
    >>> loaded.method, loaded.params, bool((loaded.attributions == X).all())
    ('ism', {'n': 1}, True)
    """
    if not isinstance(attribution_set, AttributionSet):
        raise TypeError(
            "attribution_set must be a cislens.io.AttributionSet; got "
            f"{type(attribution_set).__name__}."
        )
    path = as_path(path)
    suffix = check_suffix(path, SUFFIXES)
    validate_attribution_set(attribution_set)
    metadata = _metadata(attribution_set)
    params_json = to_json(metadata["params"], name="params")
    arrays: dict[str, Any] = {
        "X": attribution_set.X.astype(np.int8),
        "attributions": attribution_set.attributions.astype(np.float32),
        "hypothetical": attribution_set.hypothetical,
        "example_index": attribution_set.example_index,
    }
    arrays = {key: value for key, value in arrays.items() if value is not None}
    if "example_index" in arrays:
        arrays["example_index"] = arrays["example_index"].astype(np.int64)
    if suffix == ".npz":
        with atomic_output(path) as temporary, open(temporary, "wb") as handle:
            text = to_json(metadata, name="attribution metadata")
            np.savez_compressed(handle, metadata=np.array(text), **arrays)
    else:
        with hdf5_output(path) as handle:
            for key, value in arrays.items():
                options = {"compression": "gzip", "shuffle": True} if value.ndim == 3 else {}
                handle.create_dataset(key, data=value, **options)
            for key, value in metadata.items():
                if key == "params":
                    handle.attrs[key] = params_json
                elif key == "task_names" and value is not None:
                    handle.attrs[key] = to_json(value, name="task_names")
                elif value is not None:
                    handle.attrs[key] = value
    return path


def load_attributions(path: PathLike) -> AttributionSet:
    """Read an :class:`AttributionSet` written by :func:`save_attributions`.

    Arrays come back as float32 (``X``, ``attributions``, ``hypothetical``) and int64
    (``example_index``); ``params`` is the parsed JSON (lists where tuples or arrays were saved).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        An unknown suffix, a file that is not a cislens attribution file, a newer format version,
        missing arrays or shapes that disagree.
    """
    path = existing_file(path)
    suffix = check_suffix(path, SUFFIXES)
    if suffix == ".npz":
        arrays, metadata = _read_npz(path)
    else:
        arrays, metadata = _read_hdf5(path)
    check_format(
        metadata.get("format"),
        metadata.get("format_version"),
        path=path,
        expected=FORMAT,
        supported_version=FORMAT_VERSION,
    )
    for key in ("X", "attributions"):
        if key not in arrays:
            raise ValueError(
                f"'{path}' has no '{key}' array (it holds {sorted(arrays)}); the file is corrupted."
            )
    if "method" not in metadata:
        raise ValueError(f"'{path}' does not record the attribution method; it is corrupted.")
    try:
        return AttributionSet(
            X=arrays["X"],
            attributions=arrays["attributions"],
            hypothetical=arrays.get("hypothetical"),
            example_index=arrays.get("example_index"),
            **{key: metadata[key] for key in _METADATA if metadata.get(key) is not None},
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"'{path}' holds an invalid attribution set: {error}") from None


def _read_npz(path: Path) -> tuple[dict, dict]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"'{path}' could not be read as an npz archive ({error}); it is not a cislens "
            "attribution file."
        ) from None
    with archive:
        if not hasattr(archive, "files"):
            raise ValueError(f"'{path}' is a single .npy array, not a cislens attribution file.")
        if "metadata" not in archive.files:
            raise ValueError(
                f"'{path}' is not a cislens-attributions file: it has no 'metadata' entry (it "
                f"holds {archive.files}). Save attributions with cislens.io.save_attributions."
            )
        try:
            arrays = {key: archive[key] for key in archive.files if key in _ARRAYS}
            text = archive["metadata"]
        except ValueError as error:
            raise ValueError(
                f"'{path}' holds pickled objects, which cislens never loads ({error}); it is "
                "not a cislens attribution file."
            ) from None
    metadata = from_json(str(text[()]) if text.ndim == 0 else text, name="metadata", path=path)
    if not isinstance(metadata, dict):
        raise ValueError(f"'{path}': metadata must be a JSON object; the file is corrupted.")
    return arrays, metadata


def _read_hdf5(path: Path) -> tuple[dict, dict]:
    with open_hdf5(path, what="cislens attribution file") as handle:
        arrays = {key: handle[key][()] for key in _ARRAYS if key in handle}
        metadata = {key: attr_value(value) for key, value in handle.attrs.items()}
    for key in ("params", "task_names"):
        if key in metadata:
            metadata[key] = from_json(metadata[key], name=key, path=path)
    return arrays, metadata


__all__ = [
    "SUFFIXES",
    "AttributionSet",
    "load_attributions",
    "save_attributions",
    "validate_attribution_set",
]
