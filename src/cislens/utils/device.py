"""One helper to resolve ``device=None`` (auto), and one to borrow a model on a device.

Every function that runs a model takes ``device: str | torch.device | None``. ``None`` means
auto: CUDA when it is available, else the CPU. Inputs stay on the CPU; each batch moves to the
device and results come back on the CPU. :func:`using_model` moves a model and sets its
train/eval mode for the duration of a ``with`` block, then puts both back as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return the ``torch.device`` to run on.

    Parameters
    ----------
    device : str, torch.device or None
        ``None`` (default) picks ``"cuda"`` when available, else ``"cpu"``. Anything else is
        passed to ``torch.device`` and checked to be usable.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        When the device string is not understood, or names CUDA on a machine without it.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device(None).type in {"cpu", "cuda"}
    True
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a str, a torch.device or None (auto); got {type(device).__name__}. "
            "Pass for example device='cpu' or device='cuda:0'."
        )
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ValueError(
            f"device must name a torch device such as 'cpu', 'cuda' or 'cuda:1'; got {device!r} "
            f"({error}). Pass device=None to pick automatically."
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={str(device)!r} was requested but CUDA is not available on this machine; "
                "pass device='cpu' or device=None (auto)."
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={str(device)!r} does not exist; this machine has "
                f"{torch.cuda.device_count()} CUDA device(s). Pass an index below that."
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but MPS is not available; pass device='cpu'."
        )
    return resolved


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); the CPU for a stateless model.

    Examples
    --------
    >>> model_device(nn.Linear(2, 1))
    device(type='cpu')
    """
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


@contextmanager
def using_model(
    model: nn.Module, *, device: torch.device, training: bool = False
) -> Iterator[nn.Module]:
    """Move ``model`` to ``device`` and set its mode; restore both on exit (even on error).

    Parameters
    ----------
    model : torch.nn.Module
        The model to borrow.
    device : torch.device
        Where to run it (resolve it first with :func:`resolve_device`).
    training : bool
        Train mode inside the block when True, eval mode (default) otherwise.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 1)).train()
    >>> with using_model(net, device=torch.device("cpu")) as m:
    ...     m.training
    False
    >>> net.training
    True
    """
    original_device = model_device(model)
    modes = {module: module.training for module in model.modules()}
    try:
        model.to(device)
        model.train(training)
        yield model
    finally:
        model.to(original_device)
        for module, mode in modes.items():
            module.training = mode


__all__ = ["model_device", "resolve_device", "using_model"]
