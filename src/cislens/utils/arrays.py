"""Conversion between NumPy arrays and torch tensors at function boundaries."""

from __future__ import annotations

import numpy as np
import torch

from cislens.utils.types import Array, ArrayLike


def as_numpy(X: ArrayLike) -> np.ndarray:
    """Return ``X`` as a NumPy array (a detached CPU copy for tensors, a view when possible).

    Examples
    --------
    >>> as_numpy(torch.zeros(2, 3)).shape
    (2, 3)
    """
    if isinstance(X, torch.Tensor):
        return X.detach().cpu().numpy()
    return np.asarray(X)


def like_input(out: np.ndarray, X: ArrayLike) -> Array:
    """Return ``out`` as a torch tensor when ``X`` is one, else as a NumPy array.

    Examples
    --------
    >>> type(like_input(np.zeros(2), torch.zeros(2))).__name__
    'Tensor'
    """
    if isinstance(X, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(out))
    return out


__all__ = ["as_numpy", "like_input"]
