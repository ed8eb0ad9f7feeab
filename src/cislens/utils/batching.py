"""Batch-size validation, batch slicing and batched prediction, shared by training, attribution
and GIA.

``batch_size`` always counts forward-pass rows, and results never depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from cislens.utils.validation import check_positive_int

DEFAULT_BATCH_SIZE = 128
"""The default ``batch_size`` of every inference call (predictions, attribution, GIA, ISM):
forward-pass rows per batch. Results never depend on it; it bounds memory. (Training's
``batch_size`` is an optimisation setting with its own default, in
:data:`cislens.train.defaults.TRAINING_DEFAULTS`.)"""


def check_batch_size(batch_size, *, name: str = "batch_size") -> int:
    """Validate a positive integer batch size (forward-pass rows) and return it as an int.

    Examples
    --------
    >>> check_batch_size(64)
    64
    >>> check_batch_size(0)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be a positive int; got 0.
    """
    return check_positive_int(batch_size, name, type_error=True)


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices covering ``range(n)`` in chunks of ``batch_size``.

    Examples
    --------
    >>> list(batch_slices(5, 2))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def predict_in_batches(
    model: Callable[[torch.Tensor], torch.Tensor],
    X,
    *,
    batch_size: int,
    device=None,
    dtype: torch.dtype = torch.float32,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    on_batch: Callable[[int], object] | None = None,
) -> torch.Tensor:
    """The outputs of ``model`` on the rows of ``X``, ``batch_size`` rows per forward pass.

    The one batched forward loop of cislens (prediction in training and evaluation, GIA, the
    reference outputs of ISM and integrated gradients). No gradients are recorded; the model
    is called as it is, so put it on ``device`` and in eval mode first (for example with
    :func:`cislens.attribution.borrowed_model`).

    Parameters
    ----------
    model : callable
        Maps a (B, ...) tensor to a (B, ...) tensor: a module, or a function around one.
    X : numpy.ndarray, torch.Tensor or array-like
        Inputs (N, ...); anything sliceable along the first axis (h5py, Zarr) is read one batch
        at a time.
    batch_size : int
        Rows per forward pass; the result does not depend on it.
    device : str, torch.device or None
        Where each batch goes (None: stays on the CPU).
    dtype : torch.dtype
        The dtype each batch is cast to (default float32).
    transform : callable, optional
        Applied to each batch's output on the device (select a target, check a shape...).
    on_batch : callable, optional
        Called with the number of rows of each finished batch (a progress bar's ``update``).

    Returns
    -------
    torch.Tensor
        The outputs of all rows, concatenated, on the CPU.

    Examples
    --------
    >>> import numpy as np
    >>> net = torch.nn.Linear(3, 2)
    >>> X = np.ones((5, 3))
    >>> out = predict_in_batches(net, X, batch_size=2)
    >>> out.shape, bool(torch.allclose(out, net(torch.ones(5, 3)).detach()))
    (torch.Size([5, 2]), True)
    """
    batch_size = check_batch_size(batch_size)
    parts = []
    with torch.no_grad():
        for rows in batch_slices(len(X), batch_size):
            batch = torch.as_tensor(X[rows]).to(device=device, dtype=dtype)
            out = model(batch)
            if transform is not None:
                out = transform(out)
            parts.append(out.detach().cpu())
            if on_batch is not None:
                on_batch(rows.stop - rows.start)
    return torch.cat(parts)


__all__ = ["batch_slices", "check_batch_size", "predict_in_batches"]
