"""Chunked Zarr stores that remember how they were made and which chunks are finished.

A store is a Zarr v3 group (a directory). Its ``cislens`` attribute records the format, the
cislens version, the task's parameters, the random_state, the model's identity and the input's
identity; a run that finds an existing store compares them with its own and refuses to resume
when any differs (the error names each difference). Row blocks of ``chunk_size`` rows are the
unit of work: every array is chunked along its first axis by ``chunk_size`` and a worker writes
whole chunks only, so no two workers ever touch the same Zarr chunk file.

Completion markers: the uint8 array ``completed`` (one entry per row block, Zarr chunks of one
entry) is set to 1 for block ``i`` only after every data array of block ``i`` has been written.
A worker killed half-way leaves its marker at 0, and a restart recomputes (and overwrites) the
block. Zarr's local store also writes each chunk file to a temporary name and renames it, so a
chunk file itself is never half-written. The layout is documented in ``docs/scale.md`` and
``docs/formats.md`` ("Chunked Zarr stores").
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cislens._version import __version__
from cislens.errors import ConfigError
from cislens.scale._deps import require
from cislens.utils.types import PathLike

if TYPE_CHECKING:
    import pandas as pd

MARKERS = "completed"
"""Name of the per-block completion-marker array."""
# Keys recorded for information only: a store moved to another folder, or inputs read from
# another mount point, can still be resumed.
_INFORMATIONAL = frozenset({"created", "path", "genome", "spec", "weights", "runtime"})


def _differences(old, new, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            if key in _INFORMATIONAL:
                continue
            name = f"{prefix}.{key}" if prefix else key
            if key not in old or key not in new:
                found.append(
                    f"{name}: store has {old.get(key, '(absent)')!r}, this run has "
                    f"{new.get(key, '(absent)')!r}"
                )
            else:
                found.extend(_differences(old[key], new[key], name))
        return found
    if old != new:
        return [f"{prefix}: store has {old!r}, this run has {new!r}"]
    return []


def _stored_record(path: Path, format_name: str):
    zarr = require("zarr")
    try:
        group = zarr.open_group(str(path), mode="r+")
        stored = dict(group.attrs).get("cislens")
    except Exception as error:  # zarr raises several types for "not a group"
        raise ConfigError(
            f"--out {str(path)!r} exists but is not a Zarr store ({error}); choose another "
            "output path."
        ) from None
    if not isinstance(stored, dict) or stored.get("format") != format_name:
        raise ConfigError(
            f"--out {str(path)!r} exists but is not a {format_name!r} store written by "
            "cislens; choose another output path."
        )
    return group, stored


def open_store(
    path, *, metadata: dict, arrays: dict, n_chunks: int, initialize=None, overwrite=False
):
    """Create the store at ``path``, or reopen it after checking that ``metadata`` matches.

    Parameters
    ----------
    path : str or Path
        The store directory (conventionally ``*.zarr``).
    metadata : dict
        JSON-ready description of the run; must hold ``format``. Stored as the group attribute
        ``cislens`` with ``cislens_version`` and ``created`` added.
    arrays : dict
        ``name -> (shape, chunks, dtype, fill_value)`` of the data arrays to create.
    n_chunks : int
        Number of row blocks (length of the ``completed`` marker array).
    initialize : callable, optional
        ``initialize(group)`` writes what is known before any block runs (example ids). It runs
        on a temporary directory that is renamed to ``path`` only once it returns, so a store is
        never found half-created.
    overwrite : bool
        Replace an existing store of this format (whatever its settings) by a new, empty one;
        the old one is removed only once the new one is in place. Anything at ``path`` that is
        not a cislens store of this format is still refused.

    Returns
    -------
    (zarr.Group, numpy.ndarray of bool)
        The group opened for writing, and which blocks are already complete.

    Raises
    ------
    ConfigError
        ``path`` holds a store written with different settings (each difference is named), or
        something that is not a cislens store of this format.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "s.zarr")
    >>> meta = {"format": "demo", "random_state": 0}
    >>> arrays = {"x": ((4, 2), (2, 2), "float32", 0.0)}
    >>> group, done = open_store(path, metadata=meta, arrays=arrays, n_chunks=2)
    >>> done.tolist()
    [False, False]
    >>> open_store(path, metadata={"format": "demo", "random_state": 1}, arrays=arrays,
    ...            n_chunks=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cislens.errors.ConfigError: refusing to resume ...: random_state: store has 0, this run has 1...
    """
    zarr = require("zarr")
    path = Path(path)
    record = {**metadata, "cislens_version": __version__}
    replacing = path.exists() and overwrite
    if replacing:
        _stored_record(path, metadata["format"])  # never delete what is not our store
    elif path.exists():
        group, stored = _stored_record(path, metadata["format"])
        found = _differences(stored, record)
        if found:
            raise ConfigError(
                f"refusing to resume {str(path)!r}: it was written with different settings: "
                + "; ".join(found)
                + ". Re-run with the store's settings, pass --overwrite (overwrite=True) to "
                "replace the store and start over, or write to a new --out."
            )
        missing = [name for name in [*arrays, MARKERS] if name not in group]
        if missing:
            raise ConfigError(f"the store {str(path)!r} lacks the arrays {missing}; it is damaged.")
        return group, np.asarray(group[MARKERS][:]) == 1
    record["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    # Leftovers of a run killed while creating this store are incomplete by construction.
    for leftover in path.parent.glob(f".{path.name}.creating-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    temporary = path.with_name(f".{path.name}.creating-{os.getpid()}")
    try:
        group = zarr.open_group(str(temporary), mode="w")
        for name, (shape, chunks, dtype, fill) in arrays.items():
            group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill)
        group.create_array(MARKERS, shape=(n_chunks,), chunks=(1,), dtype="uint8", fill_value=0)
        if initialize is not None:
            initialize(group)
        group.attrs["cislens"] = record
        path.parent.mkdir(parents=True, exist_ok=True)
        if replacing:  # the old store goes only once the new one is complete
            old = path.with_name(f".{path.name}.replaced-{os.getpid()}")
            os.replace(path, old)
            os.replace(temporary, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temporary, path)
    finally:  # an interrupted creation leaves no temporary folder (gone already on success)
        shutil.rmtree(temporary, ignore_errors=True)
    return zarr.open_group(str(path), mode="r+"), np.zeros(n_chunks, dtype=bool)


def write_block(group, index: int, start: int, stop: int, values: dict) -> None:
    """Write rows ``[start, stop)`` of each array in ``values``, then mark block ``index`` done.

    The marker is written last: if any write fails (or the process dies) the block stays
    unmarked and a resumed run recomputes it.
    """
    for name, block in values.items():
        group[name][start:stop] = block
    group[MARKERS][index] = 1


WINDOW_ARRAYS = ("window_chrom", "window_start", "window_end", "window_strand")
"""Arrays of a store made from BED + genome: each row's window in the genome (see
:func:`cislens.sequence.windows.bed_windows`); the group attribute ``genome_chroms`` lists the
genome's ``[name, length]`` pairs in file order."""


def write_windows(group, windows, sizes: dict, chunk_size: int) -> None:
    """Record the rows' genome windows and the chromosome lengths in a new store's ``group``."""
    n = len(windows)
    columns = {
        "window_chrom": (windows["chrom"].astype(str).to_numpy(), str, ""),
        "window_start": (windows["start"].to_numpy(np.int64), "int64", 0),
        "window_end": (windows["end"].to_numpy(np.int64), "int64", 0),
        "window_strand": (windows["strand"].astype(str).to_numpy(), str, ""),
    }
    for name, (values, dtype, fill) in columns.items():
        group.create_array(name, shape=(n,), chunks=(chunk_size,), dtype=dtype, fill_value=fill)
        group[name][:] = values
    group.attrs["genome_chroms"] = [[str(k), int(v)] for k, v in sizes.items()]


def read_windows(path: PathLike) -> tuple[pd.DataFrame, dict[str, int]]:
    """The genome windows of the store's rows (a DataFrame, columns of
    :data:`cislens.sequence.windows.WINDOW_COLUMNS`) and the genome's chromosome lengths.

    Raises
    ------
    ValueError
        The store's input was not BED + genome (no genome coordinates to map to).
    """
    import pandas as pd

    zarr = require("zarr")
    group = zarr.open_group(str(path), mode="r")
    if any(name not in group for name in WINDOW_ARRAYS):
        kind = dict(group.attrs).get("cislens", {}).get("input", {}).get("kind")
        raise ValueError(
            f"{str(path)!r} holds no genome coordinates (its input is {kind!r}; stores written "
            "from --bed + --genome by this version have them); genome tracks and hit BED files "
            "need a run from BED intervals and a genome FASTA."
        )
    windows = pd.DataFrame(
        {
            "chrom": np.asarray(group["window_chrom"][:].tolist(), dtype=object),
            "start": np.asarray(group["window_start"][:]),
            "end": np.asarray(group["window_end"][:]),
            "strand": np.asarray(group["window_strand"][:].tolist(), dtype=object),
            "name": np.asarray(group["example_ids"][:].tolist(), dtype=object),
        }
    )
    sizes = {str(k): int(v) for k, v in dict(group.attrs)["genome_chroms"]}
    return windows, sizes


def read_metadata(path: PathLike) -> dict:
    """The ``cislens`` record of a store: format, version, parameters, seed, model and input.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "s.zarr")
    >>> _ = open_store(path, metadata={"format": "demo"}, arrays={}, n_chunks=1)
    >>> read_metadata(path)["format"]
    'demo'
    """
    zarr = require("zarr")
    stored = dict(zarr.open_group(str(path), mode="r").attrs).get("cislens")
    if not isinstance(stored, dict):
        raise ValueError(f"{str(path)!r} is not a cislens Zarr store (no 'cislens' attribute).")
    return stored


def completed_blocks(path: PathLike) -> np.ndarray:
    """Boolean mask of the row blocks of the store at ``path`` that are finished."""
    zarr = require("zarr")
    return np.asarray(zarr.open_group(str(path), mode="r")[MARKERS][:]) == 1


__all__ = [
    "MARKERS",
    "WINDOW_ARRAYS",
    "completed_blocks",
    "open_store",
    "read_metadata",
    "read_windows",
    "write_block",
    "write_windows",
]
