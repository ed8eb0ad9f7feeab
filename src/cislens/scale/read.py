"""Read a Zarr attribution store (written by :func:`cislens.scale.attribute_to_zarr`) as an
:class:`~cislens.io.AttributionSet`, the type the HDF5 / npz reader returns.

The arrays stay in the store: :class:`ZarrAttributionSet` holds the Zarr arrays themselves, read
chunk by chunk by whoever indexes them (motif discovery streams them, ``docs/scale.md``), so a
genome-scale store is never loaded whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cislens.io import AttributionSet
from cislens.scale._deps import require
from cislens.scale.store import MARKERS

SEQUENCES = "sequences"
"""The store's one-hot array (N, 4, L), int8."""


@dataclass(repr=False)
class ZarrAttributionSet(AttributionSet):
    """An :class:`~cislens.io.AttributionSet` whose ``X``, ``attributions`` and
    ``hypothetical`` are Zarr arrays (read lazily; index them like NumPy arrays, e.g.
    ``result.X[0:100]``). ``attributions`` is None for a store that holds only hypothetical
    scores. Only the shapes are checked on opening; the values are checked by the writer."""

    def __post_init__(self):
        shape = tuple(self.X.shape)
        if len(shape) != 3 or shape[1] != 4:
            raise ValueError(
                f"X ('{SEQUENCES}') must be one-hot (N, 4, L); the store has shape {shape}."
            )
        for name in ("attributions", "hypothetical"):
            values = getattr(self, name)
            if values is not None and tuple(values.shape) != shape:
                raise ValueError(
                    f"{name} must have the shape of X {shape}; the store has "
                    f"{tuple(values.shape)}. The store is damaged; write it again."
                )
        if isinstance(self.target, np.integer):
            self.target = int(self.target)
        if self.example_index is not None:
            self.example_index = np.asarray(self.example_index)


def load_zarr_attributions(path) -> ZarrAttributionSet:
    """Open a Zarr attribution store read-only.

    Parameters
    ----------
    path : str or Path
        The store (a directory, conventionally ``*.zarr``).

    Returns
    -------
    ZarrAttributionSet
        Method, target, random_state and parameters from the store's ``cislens`` record (a
        store without one, written by other tools, reads as method "zarr").

    Raises
    ------
    ValueError
        The store has no ``sequences`` array, or its ``completed`` markers show row blocks that
        are not written yet.

    Examples
    --------
    >>> scores = load_zarr_attributions("attr.zarr")  # doctest: +SKIP
    >>> scores.X[:10].shape  # doctest: +SKIP
    (10, 4, 1000)
    """
    zarr = require("zarr")
    group = zarr.open_group(str(path), mode="r")
    names = set(group.array_keys())
    if SEQUENCES not in names:
        raise ValueError(
            f"the Zarr store '{path}' has no array '{SEQUENCES}' (it has {sorted(names)}); an "
            "attribution store holds the one-hot sequences (N x 4 x L) beside the scores. "
            "Write it with `cislens attribute --out attr.zarr`."
        )
    if MARKERS in names:
        done = np.asarray(group[MARKERS][:])
        if not done.all():
            raise ValueError(
                f"the Zarr store '{path}' is unfinished: {int((done == 0).sum())} of {done.size} "
                "row blocks are not written yet; resume the run that writes it first."
            )
    record = dict(group.attrs).get("cislens")
    record = record if isinstance(record, dict) else {}
    return ZarrAttributionSet(
        X=group[SEQUENCES],
        attributions=group["attributions"] if "attributions" in names else None,
        hypothetical=group["hypothetical"] if "hypothetical" in names else None,
        method=str(record.get("method") or "zarr"),
        target=record.get("target"),
        params=dict(record.get("params") or {}),
        random_state=record.get("random_state"),
        cislens_version=str(record.get("cislens_version", "unknown")),
        example_index=group["example_index"][:] if "example_index" in names else None,
    )


__all__ = ["ZarrAttributionSet", "load_zarr_attributions"]
