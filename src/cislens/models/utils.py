"""Small helpers on models: parameter counts."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (shared tensors counted once).

    Parameters
    ----------
    model : torch.nn.Module
        Any model.
    trainable_only : bool
        Count only parameters with ``requires_grad`` (default False: all).

    Returns
    -------
    int

    Examples
    --------
    >>> count_parameters(nn.Linear(80, 128))
    10368
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["count_parameters"]
