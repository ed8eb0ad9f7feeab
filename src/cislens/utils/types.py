"""Type aliases of the public API: what a path, a seed or an array argument may be.

Examples
--------
>>> from pathlib import Path
>>> def stem(path: PathLike) -> str:
...     return Path(path).stem
>>> stem("data/x.h5")
'x'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:
    import torch

PathLike = str | os.PathLike[str]
"""A file or folder: a ``str`` or a ``pathlib.Path`` (any ``os.PathLike``)."""

RandomState = int | np.integer | np.random.Generator | None
"""A seed, a ``numpy.random.Generator`` (its stream advances) or None (fresh entropy)."""

Array = Union[np.ndarray, "torch.Tensor"]
"""A NumPy array or a torch tensor; functions that take either return the same kind."""

ArrayLike = Any
"""Anything ``numpy.asarray`` reads (lists, arrays, tensors)."""

Device = Union[str, "torch.device", None]
"""A device: ``"cpu"``, ``"cuda:0"``, a ``torch.device``, or None (cislens picks one)."""

TargetLike = int | np.integer | Callable[["torch.Tensor"], "torch.Tensor"] | None
"""Which model output to explain: an index, a callable mapping the (N, T) output to (N,), or
None (only for a model with a single output)."""

OutputSpec = int | str | Callable[..., Any] | tuple[Any, ...] | None
"""How to read a model's output (``output=``): an index or key of a tuple or dict output, a
callable, ``(index or key, head)``, or None (the model returns one (N, T) tensor)."""

Baselines = Union[str, np.ndarray, "torch.Tensor", Callable[..., Any]]
"""References: a name from ``cislens.shuffle.REFERENCES``, an array or tensor, or a callable
that makes them from the sequences."""

__all__ = [
    "Array",
    "ArrayLike",
    "Baselines",
    "Device",
    "OutputSpec",
    "PathLike",
    "RandomState",
    "TargetLike",
]
