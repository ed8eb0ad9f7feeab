"""Make third-party models capturable where their forward pass uses what a capture cannot see.

The capture (:mod:`cislens.attribution.capture`) records torch calls on input-dependent tensors.
A few packages compute part of their forward pass inside ``torch.vmap``, whose batched calls the
capture refuses (naming the call). For those, this module offers an equal replacement that the
caller switches on for the duration of an attribution, leaving the package as it was afterwards.

- borzoi-pytorch: its attention computes the relative-position logits with
  ``fast_relative_shift``, a doubly vmapped ``einsum`` + ``as_strided``.
  :func:`borzoi_without_vmap` substitutes :func:`relative_shift`, the same selection written
  for the whole batch (equal to the vmapped version; tests check it).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def relative_shift(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """borzoi-pytorch's relative shift for a whole batch, without ``torch.vmap``.

    For queries ``a`` (B, H, n, d) and relative keys ``b`` (H, J, d), the logits
    ``a @ b^T`` (B, H, n, J) are read, per batch row and head, as borzoi-pytorch's
    ``fast_relative_shift`` reads them: element (i, j) of the result is element
    ``n - 1 + i * 2 * (n - 1) + j`` of that head's flattened logits.

    Examples
    --------
    >>> a, b = torch.ones(1, 1, 2, 3), torch.arange(9.0).reshape(1, 3, 3)
    >>> relative_shift(a, b).shape
    torch.Size([1, 1, 2, 2])
    """
    logits = torch.einsum("bhid,hjd->bhij", a, b).contiguous()
    batch, heads, n, width = logits.shape
    stride = (heads * n * width, n * width, 2 * (n - 1), 1)
    return logits.as_strided((batch, heads, n, n), stride, n - 1)


@contextmanager
def borzoi_without_vmap() -> Iterator[None]:
    """Within the block, borzoi-pytorch's attention uses :func:`relative_shift` (no vmap).

    Needed for DeepLIFT and fast ISM on borzoi-pytorch models; the package's own function is
    put back on exit, even on error.

    Examples
    --------
    >>> with borzoi_without_vmap():  # doctest: +SKIP
    ...     scores = deeplift_shap(borzoi, X, output="sum", target=0)
    """
    module = importlib.import_module("borzoi_pytorch.pytorch_borzoi_transformer")
    original = module.fast_relative_shift
    module.fast_relative_shift = relative_shift
    try:
        yield
    finally:
        module.fast_relative_shift = original


__all__ = ["borzoi_without_vmap", "relative_shift"]
