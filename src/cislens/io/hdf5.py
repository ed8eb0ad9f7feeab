"""Small helpers shared by the cislens file formats: paths, atomic writes, JSON, HDF5 attributes.

Private: the public readers and writers live in :mod:`cislens.io.dataset`,
:mod:`cislens.io.attributions` and :mod:`cislens.pwm.meme`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from cislens._version import __version__
from cislens.utils.files import atomic_output
from cislens.utils.validation import check_positive_int

STRING_DTYPE = h5py.string_dtype(encoding="utf-8")
"""Variable-length UTF-8 strings, the one string type cislens writes to HDF5."""


def as_path(path, *, name: str = "path") -> Path:
    """Return ``path`` as a :class:`pathlib.Path`, rejecting anything that is not path-like.

    Examples
    --------
    >>> as_path("data.h5").name
    'data.h5'
    """
    if isinstance(path, (str, os.PathLike)) and str(path):
        return Path(path)
    raise TypeError(
        f"{name} must be a non-empty str or pathlib.Path; got {path!r} "
        f"({type(path).__name__}). Pass for example {name}='results/data.h5'."
    )


def existing_file(path, *, name: str = "path") -> Path:
    """Return ``path`` as a Path after checking that it is an existing file.

    Raises ``FileNotFoundError`` naming the path (and ``IsADirectoryError`` for a folder).

    Examples
    --------
    >>> existing_file("no/such/file.h5")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: path: no such file: 'no/such/file.h5'. Check the path and ...
    """
    resolved = as_path(path, name=name)
    if resolved.is_dir():
        raise IsADirectoryError(f"{name}: '{resolved}' is a folder; pass the path of a file.")
    if not resolved.exists():
        raise FileNotFoundError(
            f"{name}: no such file: '{resolved}'. Check the path and the working directory."
        )
    return resolved


def check_suffix(path: Path, valid: tuple[str, ...], *, name: str = "path") -> str:
    """Return the lower-case suffix of ``path``, which must be one of ``valid``.

    Examples
    --------
    >>> check_suffix(Path("a.H5"), (".h5", ".npz"))
    '.h5'
    """
    suffix = path.suffix.lower()
    if suffix not in valid:
        raise ValueError(
            f"{name} must end in one of {', '.join(valid)} (the suffix selects the format); "
            f"got '{path}'. Rename the file, for example '{path.with_suffix(valid[0])}'."
        )
    return suffix


@contextlib.contextmanager
def hdf5_output(path: Path) -> Iterator[h5py.File]:
    """Yield a new in-memory HDF5 file; write it to ``path`` atomically when the block succeeds.

    HDF5 is built in memory and written to disk by Python, through
    :func:`cislens.utils.files.atomic_output`, because HDF5 writing straight to a full disk
    fails in its C library: h5py reports the failure while freeing objects and the process can
    die with a segmentation fault (exit 139) instead of an :class:`OSError`. Here a full disk is
    an :class:`OSError` naming ``path``, and no file is left at ``path``. The cost is one copy of
    the (compressed) file in memory, next to the arrays being saved.
    """
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        yield handle
    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
        stream.write(buffer.getbuffer())


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def to_json(value, *, name: str) -> str:
    """Serialise ``value`` as JSON text; NumPy scalars and arrays become numbers and lists.

    Examples
    --------
    >>> to_json({"n_steps": np.int64(50)}, name="params")
    '{"n_steps": 50}'
    """
    try:
        return json.dumps(value, default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be JSON-serialisable (str, numbers, bools, None, lists and dicts with "
            f"str keys); {error}. Convert that value to one of these types."
        ) from None


def from_json(text, *, name: str, path) -> Any:
    """Parse JSON text read from ``path``; the error names the field and the file."""
    text = attr_value(text)
    try:
        return json.loads(text)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"'{path}': the {name} field must hold JSON text; it could not be parsed ({error}). "
            "The file is corrupted or was not written by cislens."
        ) from None


def attr_value(value):
    """Convert an HDF5 attribute value to plain Python (bytes -> str, NumPy scalar -> number).

    Examples
    --------
    >>> attr_value(b"ACGT"), attr_value(np.int64(3))
    ('ACGT', 3)
    """
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return attr_value(value.item())
    if isinstance(value, np.ndarray):
        return [attr_value(v) for v in value.tolist()]
    return value


def open_hdf5(path: Path, *, what: str) -> h5py.File:
    """Open an existing HDF5 file for reading, with a clear error when it is not HDF5."""
    if not h5py.is_hdf5(path):
        raise ValueError(
            f"'{path}' is not an HDF5 file, so it cannot be a {what}. Check the path; "
            "cislens writes these files with save functions in cislens.io."
        )
    try:
        return h5py.File(path, "r")
    except OSError as error:
        # HDF5's own message ("truncated file: eof = ...") names no file; a one-line error must.
        raise OSError(
            error.errno,
            f"cannot read this {what}: the HDF5 file is truncated or corrupted "
            f"({' '.join(str(error).split())}); write it again",
            str(path),
        ) from error


def check_format(
    found_format, found_version, *, path, expected: str, supported_version: int, hint: str = ""
) -> int:
    """Check the ``format`` / ``format_version`` attributes of a cislens file; return the version.

    Examples
    --------
    >>> check_format("cislens-dataset", 1, path="d.h5", expected="cislens-dataset",
    ...              supported_version=1)
    1
    """
    found_format = attr_value(found_format)
    if found_format != expected:
        what = (
            "has no 'format' attribute"
            if found_format is None
            else (f"has format {found_format!r}")
        )
        raise ValueError(
            f"'{path}' is not a {expected} file: it {what} (expected format={expected!r}).{hint}"
        )
    version = attr_value(found_version)
    check_positive_int(version, f"'{path}': format_version", fix="The file is corrupted.")
    if version > supported_version:
        raise ValueError(
            f"'{path}' uses {expected} format_version {version}, newer than the versions this "
            f"cislens reads (up to {supported_version}). Upgrade cislens to read it."
        )
    return version


def check_key_name(value: str, *, name: str) -> str:
    """Check that ``value`` can be an HDF5 dataset name (non-empty, no '/', not '.')."""
    if not isinstance(value, str) or not value or "/" in value or value == ".":
        raise ValueError(
            f"{name} must be a non-empty str without '/' (it becomes an HDF5 dataset name); "
            f"got {value!r}. Rename it."
        )
    return value


def encode_attrs(attrs: dict, *, name: str, reserved: tuple[str, ...]) -> dict:
    """Turn a metadata dict into HDF5 attribute values.

    str, int, float and bool values are stored as they are; anything else (lists, dicts, None)
    as JSON text, with the names of those keys listed in the ``json_attrs`` attribute so that
    :func:`decode_attrs` restores them. ``random_state`` must be an int (or None: not written).
    ``cislens_version`` defaults to the running version.

    Examples
    --------
    >>> encoded = encode_attrs({"random_state": 3, "sizes": [1, 2]}, name="attrs", reserved=())
    >>> encoded["random_state"], encoded["sizes"], encoded["json_attrs"]
    (3, '[1, 2]', '["sizes"]')
    """
    clashes = [key for key in attrs if key in (*reserved, "json_attrs")]
    if clashes:
        raise ValueError(
            f"{name} must not set {clashes}: the file format writes these itself. "
            f"Remove them from {name}."
        )
    out: dict = {"cislens_version": __version__}
    json_names = []
    for key, value in attrs.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{name} keys must be non-empty str; got {key!r}.")
        value = attr_value(value) if isinstance(value, np.generic) else value
        if key == "random_state" and value is None:
            continue
        if key == "random_state" and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(
                f"{name}['random_state'] must be the int seed or None; got {value!r}. "
                "Record the seed that was used (see cislens.utils.resolve_seed)."
            )
        if isinstance(value, (str, int, float, bool)):
            out[key] = value
        else:
            out[key] = to_json(value, name=f"{name}[{key!r}]")
            json_names.append(key)
    out["json_attrs"] = to_json(json_names, name="json_attrs")
    return out


def decode_attrs(attributes, *, path, reserved: tuple[str, ...]) -> dict:
    """Inverse of :func:`encode_attrs`: plain Python values, the ``reserved`` keys left out."""
    json_names = from_json(attributes.get("json_attrs", "[]"), name="json_attrs", path=path)
    out = {}
    for key, value in attributes.items():
        if key in (*reserved, "json_attrs"):
            continue
        value = attr_value(value)
        out[key] = from_json(value, name=key, path=path) if key in json_names else value
    return out


def _column_values(series, *, name: str) -> np.ndarray:
    import pandas as pd

    label = f"{name}[{series.name!r}]"
    if series.isna().any():
        row = int(np.flatnonzero(series.isna().to_numpy())[0])
        raise ValueError(f"{label} has a missing value in row {row}; fill it in before saving.")
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(series):
        return series.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(series):
        return series.to_numpy(dtype=np.float64)
    values = series.astype(object).to_numpy()
    if not all(isinstance(value, str) for value in values):
        raise TypeError(f"{label} must hold str, int, float or bool values; got {series.dtype}.")
    return values


def write_table(group: h5py.Group, frame, *, name: str) -> None:
    """Write a DataFrame as one dataset per column; the column order goes in ``columns``.

    bool columns are stored as bool, integer columns as int64, float columns as float64 and
    str columns as UTF-8 variable-length strings; missing values are refused. The index is not
    stored.
    """
    columns = [str(column) for column in frame.columns]
    for column in columns:
        check_key_name(column, name=f"a {name} column name")
    group.attrs["columns"] = to_json(columns, name=f"{name} columns")
    for column in frame.columns:
        values = _column_values(frame[column], name=name)
        if values.dtype.kind == "O":
            group.create_dataset(str(column), data=values, dtype=STRING_DTYPE)
        else:
            group.create_dataset(str(column), data=values)


def read_table(group: h5py.Group, *, path, name: str):
    """Read a table written by :func:`write_table` as a DataFrame (strings as ``str``)."""
    import pandas as pd

    columns = from_json(group.attrs.get("columns"), name=f"{name} columns", path=path)
    data = {}
    for column in columns:
        if column not in group:
            raise ValueError(f"'{path}': the {name} column '{column}' is missing; it is corrupted.")
        dataset = group[column]
        if h5py.check_string_dtype(dataset.dtype) is not None:
            data[column] = np.asarray(dataset.asstr()[()], dtype=object)
        else:
            data[column] = dataset[()]
    lengths = {len(values) for values in data.values()}
    if len(lengths) > 1:
        raise ValueError(f"'{path}': the {name} columns have different lengths {sorted(lengths)}.")
    return pd.DataFrame(data, columns=columns)


__all__ = [
    "STRING_DTYPE",
    "as_path",
    "atomic_output",
    "attr_value",
    "check_format",
    "check_key_name",
    "check_suffix",
    "decode_attrs",
    "encode_attrs",
    "existing_file",
    "from_json",
    "hdf5_output",
    "open_hdf5",
    "read_table",
    "to_json",
    "write_table",
]
