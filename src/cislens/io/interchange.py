"""Arrays in the layouts that modisco-lite and Fi-NeMo read, and plain-array stores.

- modisco-lite (``modisco motifs -s sequences.npz -a scores.npz``) and Fi-NeMo
  (``finemo extract-regions-modisco-fmt -s ... -a ...``) read one array per ``.npz`` file under
  the key ``arr_0`` (what ``numpy.savez(path, array)`` writes), shape (N, 4, L), channels A C G
  T: the one-hot sequences in one file, the hypothetical (or projected) scores in the other.
  :func:`save_modisco_arrays` writes the pair, :func:`load_modisco_arrays` reads it back.
- Fi-NeMo's regions file (``finemo call-hits -r regions.npz``) holds ``sequences`` (int8
  (N, 4, L)) and ``contributions`` ((N, 4, L) hypothetical, or (N, L) projected), plus, when
  genome coordinates are known, ``chr``, ``chr_id``, ``start``, ``peak_id`` and ``peak_name``.
  :func:`save_finemo_regions` writes it, :func:`load_finemo_regions` reads it.
- ChromBPNet's contribution h5 (``raw/seq``, ``shap/seq``, ``projected_shap/seq``, (N, 4, L)),
  read by ``finemo extract-regions-chrombpnet-h5`` and ``modisco motifs -i``:
  :func:`save_chrombpnet_h5`.
- :func:`load_plain_arrays` reads an ``.npz`` / ``.h5`` holding ``sequences`` and
  ``hypothetical`` (the layout of a Zarr attribution store), as ``cislens motifs -a`` documents.

Every layout is described in ``docs/formats.md`` ("Interchange with modisco-lite and
Fi-NeMo"). Nothing is unpickled: npz files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from cislens.io.hdf5 import as_path, atomic_output, existing_file, open_hdf5
from cislens.sequence.onehot import check_one_hot
from cislens.utils.arrays import as_numpy

FINEMO_COORDINATES = ("chr", "chr_id", "start", "peak_id", "peak_name")
"""Optional keys of a Fi-NeMo regions file: one entry per region."""


def _scores_array(values, X, *, name: str) -> np.ndarray:
    values = np.asarray(as_numpy(values), dtype=np.float32)
    if values.shape != X.shape:
        raise ValueError(f"{name} must have the shape of X, {X.shape}; got {values.shape}.")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values; they cannot be exported.")
    return values


def _onehot_array(X) -> np.ndarray:
    X = np.asarray(as_numpy(X), dtype=np.float32)
    check_one_hot(X, name="X")
    return X


def _save_npz(path: Path, **arrays) -> Path:
    with atomic_output(path) as temporary, open(temporary, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


def save_modisco_arrays(sequences_path, scores_path, X, scores) -> tuple[Path, Path]:
    """Write the ``modisco motifs -s/-a`` inputs: two npz files, each with one ``arr_0``.

    Parameters
    ----------
    sequences_path, scores_path : str or Path
        The ``.npz`` files to write (one-hot sequences, scores).
    X : array (N, 4, L)
        One-hot sequences, A C G T (stored as int8).
    scores : array (N, 4, L)
        Hypothetical contribution scores (float32); modisco-lite multiplies them by ``X``
        itself. Projected scores are accepted too (Fi-NeMo's ``-M pp`` mode reads them).

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The two paths written.

    Examples
    --------
    >>> import tempfile
    >>> X = np.eye(4, dtype=np.float32)[None].repeat(2, 0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     s, a = save_modisco_arrays(f"{folder}/s.npz", f"{folder}/a.npz", X, 0.5 * X)
    ...     np.load(s)["arr_0"].shape, np.load(a)["arr_0"].dtype
    ((2, 4, 4), dtype('float32'))
    """
    X = _onehot_array(X)
    scores = _scores_array(scores, X, name="scores")
    sequences_path, scores_path = as_path(sequences_path), as_path(scores_path)
    for path, name in ((sequences_path, "sequences_path"), (scores_path, "scores_path")):
        if path.suffix != ".npz":
            raise ValueError(f"{name} must end in .npz (modisco-lite reads arr_0); got '{path}'.")
    _save_npz(sequences_path, arr_0=X.astype(np.int8))
    _save_npz(scores_path, arr_0=scores)
    return sequences_path, scores_path


def _read_single(path: Path, *, what: str) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"'{path}' could not be read as .npy / .npz ({error}).") from None
    if isinstance(archive, np.ndarray):
        return archive
    with archive:
        if "arr_0" not in archive.files:
            raise ValueError(
                f"'{path}' has no 'arr_0' array (it holds {sorted(archive.files)}); {what} for "
                "modisco-lite are saved with numpy.savez(path, array)."
            )
        return archive["arr_0"]


def load_modisco_arrays(sequences_path, scores_path):
    """Read a modisco-lite input pair (``arr_0`` in each npz, or ``.npy`` files).

    Returns
    -------
    types.SimpleNamespace
        ``X`` (float32 (N, 4, L), checked one-hot), ``hypothetical`` (float32 (N, 4, L)) and
        ``attributions`` (``X * hypothetical``), the fields ``cislens motifs`` reads.

    Examples
    --------
    >>> import tempfile
    >>> X = np.eye(4, dtype=np.float32)[None].repeat(2, 0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     paths = save_modisco_arrays(f"{folder}/s.npz", f"{folder}/a.npz", X, 2 * X)
    ...     loaded = load_modisco_arrays(*paths)
    >>> float(loaded.attributions.sum())
    16.0
    """
    sequences_path = existing_file(sequences_path, name="sequences_path")
    scores_path = existing_file(scores_path, name="scores_path")
    X = np.asarray(_read_single(sequences_path, what="sequences"), dtype=np.float32)
    if X.ndim != 3 or X.shape[1] != 4:
        raise ValueError(
            f"'{sequences_path}' holds shape {X.shape}; modisco-lite inputs are (N, 4, L). An "
            "(N, L, 4) array must be transposed with numpy.transpose(X, (0, 2, 1)) first."
        )
    check_one_hot(X, name=f"'{sequences_path}'")
    hypothetical = _scores_array(
        _read_single(scores_path, what="scores"), X, name=f"the scores in '{scores_path}'"
    )
    return SimpleNamespace(X=X, hypothetical=hypothetical, attributions=X * hypothetical)


def save_finemo_regions(path, X, contributions, *, coordinates: dict | None = None) -> Path:
    """Write a Fi-NeMo regions file (``finemo call-hits -r``).

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file to write.
    X : array (N, 4, L)
        One-hot sequences (stored as int8 ``sequences``).
    contributions : array (N, 4, L) or (N, L)
        Hypothetical scores (for ``call-hits -M hh`` / ``ph``) or projected ones; (N, 4, L)
        arrays are stored as given, so ``-M pp`` multiplies them by the sequence itself.
    coordinates : dict, optional
        Genome coordinates, one entry per region: ``chr`` (str), ``chr_id`` (int), ``start``
        (int, the region's first base), ``peak_id`` (int), ``peak_name`` (str). All five or none.

    Examples
    --------
    >>> import tempfile
    >>> X = np.eye(4, dtype=np.float32)[None].repeat(2, 0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_finemo_regions(f"{folder}/regions.npz", X, X)
    ...     sorted(np.load(path).files)
    ['contributions', 'sequences']
    """
    X = _onehot_array(X)
    contributions = np.asarray(as_numpy(contributions), dtype=np.float32)
    if contributions.shape not in (X.shape, (X.shape[0], X.shape[2])):
        raise ValueError(
            f"contributions must be (N, 4, L) = {X.shape} or (N, L) = {(X.shape[0], X.shape[2])};"
            f" got {contributions.shape}."
        )
    arrays = {"sequences": X.astype(np.int8), "contributions": contributions}
    if coordinates is not None:
        missing = [key for key in FINEMO_COORDINATES if key not in coordinates]
        if missing:
            raise ValueError(f"coordinates needs all of {FINEMO_COORDINATES}; missing {missing}.")
        for key in FINEMO_COORDINATES:
            values = np.asarray(coordinates[key])
            if values.shape != (X.shape[0],):
                raise ValueError(
                    f"coordinates[{key!r}] must have one entry per region ({X.shape[0]}); got "
                    f"shape {values.shape}."
                )
            arrays[key] = values.astype("U") if key in ("chr", "peak_name") else values
    path = as_path(path)
    if path.suffix != ".npz":
        raise ValueError(f"path must end in .npz (Fi-NeMo reads npz regions); got '{path}'.")
    return _save_npz(path, **arrays)


def load_finemo_regions(path):
    """Read a Fi-NeMo regions file (``finemo extract-regions-*`` output).

    Returns
    -------
    types.SimpleNamespace
        ``X`` float32 (N, 4, L), ``contributions`` float32 ((N, 4, L) or (N, L)) and
        ``coordinates`` (a dict of the coordinate arrays, or None when the file has none).
    """
    path = existing_file(path)
    with np.load(path, allow_pickle=False) as archive:
        missing = [key for key in ("sequences", "contributions") if key not in archive.files]
        if missing:
            raise ValueError(
                f"'{path}' has no {missing} (it holds {sorted(archive.files)}); it is not a "
                "Fi-NeMo regions file."
            )
        X = archive["sequences"].astype(np.float32)
        contributions = archive["contributions"].astype(np.float32)
        coordinates = None
        if all(key in archive.files for key in FINEMO_COORDINATES):
            coordinates = {key: archive[key] for key in FINEMO_COORDINATES}
    check_one_hot(X, name=f"the sequences in '{path}'")
    return SimpleNamespace(X=X, contributions=contributions, coordinates=coordinates)


def save_chrombpnet_h5(path, X, hypothetical) -> Path:
    """Write a ChromBPNet-style contribution h5: ``raw/seq``, ``shap/seq``, ``projected_shap/seq``.

    All three (N, 4, L): the one-hot sequences (int8), the hypothetical scores and the projected
    ones (``X * hypothetical``), float32. Read by ``finemo extract-regions-chrombpnet-h5 -c`` and
    by ``modisco motifs -i`` (its legacy h5 input).

    Examples
    --------
    >>> import tempfile, h5py
    >>> X = np.eye(4, dtype=np.float32)[None].repeat(2, 0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_chrombpnet_h5(f"{folder}/contribs.h5", X, X)
    ...     with h5py.File(path) as handle:
    ...         handle["raw/seq"].dtype, handle["shap/seq"].shape
    (dtype('int8'), (2, 4, 4))
    """
    from cislens.io.hdf5 import hdf5_output

    X = _onehot_array(X)
    hypothetical = _scores_array(hypothetical, X, name="hypothetical")
    path = as_path(path)
    with hdf5_output(path) as handle:
        options = {"compression": "gzip", "shuffle": True}
        handle.create_dataset("raw/seq", data=X.astype(np.int8), **options)
        handle.create_dataset("shap/seq", data=hypothetical, **options)
        handle.create_dataset("projected_shap/seq", data=X * hypothetical, **options)
    return path


def load_plain_arrays(path):
    """Read an ``.npz`` / ``.h5`` with arrays ``sequences`` and ``hypothetical`` (N, 4, L).

    The layout of a Zarr attribution store, in one file; ``attributions`` is read when present,
    else computed as ``sequences * hypothetical``.

    Examples
    --------
    >>> import tempfile
    >>> X = np.eye(4, dtype=np.float32)[None].repeat(2, 0)
    >>> folder = tempfile.TemporaryDirectory()
    >>> np.savez(f"{folder.name}/pooled.npz", sequences=X, hypothetical=X)
    >>> load_plain_arrays(f"{folder.name}/pooled.npz").X.shape
    (2, 4, 4)
    >>> folder.cleanup()
    """
    path = existing_file(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    else:
        with open_hdf5(path, what="HDF5 array file") as handle:
            arrays = {key: handle[key][()] for key in handle if hasattr(handle[key], "shape")}
    missing = [key for key in ("sequences", "hypothetical") if key not in arrays]
    if missing:
        raise ValueError(
            f"'{path}' has no array(s) {missing} (it has {sorted(arrays)}); expected a cislens "
            "attribution store or arrays 'sequences' (one-hot, N x 4 x L) and 'hypothetical'."
        )
    X = np.asarray(arrays["sequences"], dtype=np.float32)
    check_one_hot(X, name=f"the sequences in '{path}'")
    hypothetical = _scores_array(arrays["hypothetical"], X, name=f"'hypothetical' in '{path}'")
    attributions = arrays.get("attributions")
    attributions = (
        X * hypothetical
        if attributions is None
        else _scores_array(attributions, X, name=f"'attributions' in '{path}'")
    )
    return SimpleNamespace(X=X, hypothetical=hypothetical, attributions=attributions)


__all__ = [
    "FINEMO_COORDINATES",
    "load_finemo_regions",
    "load_modisco_arrays",
    "load_plain_arrays",
    "save_chrombpnet_h5",
    "save_finemo_regions",
    "save_modisco_arrays",
]
