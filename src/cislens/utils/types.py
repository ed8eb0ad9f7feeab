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

__all__ = ["Array", "ArrayLike", "PathLike", "RandomState"]
