"""The cost of an attribution call, estimated from shapes and options before any work.

A method's cost is dominated by the rows it pushes through the model and by how long each row
is. :func:`estimate_cost` counts both without touching the model (microseconds), so every
registry call (:func:`cislens.attribution.attribute`, :func:`~cislens.attribution.attribution_set`,
``cislens attribute``, the Zarr engine) can state its cost up front and refuse a job past a
documented limit unless asked:

- ``forward_rows``: sequences of length L the model evaluates. ISM: ``N * (1 + 3 W)`` for a
  window of W positions (``start`` / ``end``); integrated gradients: ``N * B * n_steps`` for B
  references per example; DeepLIFT: ``N * 2 B`` (each input with each reference); DeepLiftShap:
  ``N * 2 n_shuffles``; gradient methods: ``N`` (``2 N`` for guided GradCAM). Gradient methods
  also run one backward pass per row.
- ``positions = forward_rows * L``: the bases pushed through the model, the measure of work the
  limit applies to (the work per row grows with L, so ISM grows with L squared).
- ``batch_bytes``: the input of one batch (``batch_size`` rows of (4, L) in ``dtype``), and
  ``result_bytes``: the returned map(s). Activations come on top and depend on the model.

The limit is :data:`DEFAULT_MAX_POSITIONS`: 1e10 positions, e.g. ISM on 3,000 sequences of
1 kb, DeepLiftShap (20 shuffles) on 250,000 of them, or ISM on one sequence of 58 kb. ISM on a
1 Mb sequence is 3e12 positions. ``max_positions=None`` lifts the limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cislens.errors import CislensError
from cislens.utils.types import ArrayLike

logger = logging.getLogger(__name__)

DEFAULT_MAX_POSITIONS = 10**10
"""Estimated bases through the model (forward rows x length) past which a call is refused."""

_SINGLE_PASS = {"saliency": 1, "grad_x_input": 1, "gradcam": 1, "guided_backprop": 1,
                "guided_gradcam": 2}  # fmt: skip


class CostLimitError(CislensError, ValueError):
    """An attribution call's estimated cost is over ``max_positions``; the message says both."""


@dataclass(frozen=True)
class CostEstimate:
    """What an attribution call will cost (see the module docstring for each field)."""

    method: str
    n: int
    length: int
    forward_rows: int
    positions: int
    batch_bytes: int
    result_bytes: int

    def summary(self) -> str:
        """One line: the method, the input, the rows, the positions and the memory."""
        return (
            f"{self.method} on {self.n:,} sequence(s) of {self.length:,} bp: an estimated "
            f"{self.forward_rows:,} forward rows ({self.positions:.1e} positions = rows x "
            f"length), {_bytes(self.batch_bytes)} per input batch, {_bytes(self.result_bytes)} "
            "of results"
        )


def _bytes(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _n_references(options: dict, default: int) -> int:
    baselines = options.get("baselines")
    if isinstance(baselines, (torch.Tensor, np.ndarray)):
        return int(baselines.shape[1]) if baselines.ndim == 4 else 1
    n_baselines = options.get("n_baselines")
    if isinstance(n_baselines, (int, np.integer)) and n_baselines > 0:
        return int(n_baselines)
    return default


def _rows_per_sequence(method: str, length: int, options: dict) -> int:
    if method == "ism":
        width = len(range(length)[slice(options.get("start", 0), options.get("end"))])
        return 1 + 3 * width
    if method == "integrated_gradients":
        return _n_references(options, 1) * int(options.get("n_steps", 50))
    if method == "deeplift":
        return 2 * _n_references(options, 1)
    if method == "deeplift_shap":
        return 2 * _n_references(options, int(options.get("n_shuffles", 20)))
    return _SINGLE_PASS.get(method, 1)


def estimate_cost(method: str, X: ArrayLike, **options: Any) -> CostEstimate:
    """Estimate the cost of ``attribute(model, X, method=method, **options)`` from shapes alone.

    Parameters
    ----------
    method : str
        A name in :data:`cislens.attribution.METHODS`.
    X : torch.Tensor, numpy.ndarray or tuple
        The sequences (N, 4, L), or just their shape.
    **options
        The call's options; ``start``, ``end``, ``n_steps``, ``n_shuffles``, ``baselines``,
        ``n_baselines``, ``batch_size``, ``dtype`` and ``hypothetical`` change the estimate.

    Returns
    -------
    CostEstimate

    Examples
    --------
    >>> cost = estimate_cost("ism", (1, 4, 1_000_000))
    >>> cost.forward_rows, cost.positions > DEFAULT_MAX_POSITIONS
    (3000001, True)
    >>> estimate_cost("deeplift_shap", (10, 4, 100), n_shuffles=5).forward_rows
    100
    """
    shape = tuple(X) if isinstance(X, tuple) else tuple(X.shape)
    if len(shape) != 3:
        raise ValueError(f"X must have shape (N, 4, L); got shape {shape}.")
    n, channels, length = (int(size) for size in shape)
    rows = n * _rows_per_sequence(method, length, options)
    dtype = options.get("dtype", torch.float32)
    itemsize = dtype.itemsize if isinstance(dtype, torch.dtype) else 4
    batch = min(int(options.get("batch_size", 128)), rows)
    maps = 2 if options.get("hypothetical") else 1
    batch_bytes = batch * channels * length * itemsize
    result_bytes = maps * n * channels * length * 4
    return CostEstimate(method, n, length, rows, rows * length, batch_bytes, result_bytes)


def check_cost(cost: CostEstimate, max_positions: float | None = DEFAULT_MAX_POSITIONS) -> None:
    """Log ``cost`` and raise :class:`CostLimitError` when it is over ``max_positions``.

    ``max_positions=None`` only logs. The message states the estimate, the limit and the ways
    to proceed.

    Examples
    --------
    >>> check_cost(estimate_cost("ism", (1, 4, 1_000_000)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cislens.attribution.cost.CostLimitError: ism on 1 sequence(s) of 1,000,000 bp: ...
    """
    logger.info("cost: %s", cost.summary())
    if max_positions is None:
        return
    if not isinstance(max_positions, (int, float, np.integer, np.floating)) or max_positions <= 0:
        raise ValueError(f"max_positions must be a positive number or None; got {max_positions!r}.")
    if cost.positions > max_positions:
        raise CostLimitError(
            f"{cost.summary()}; that is over the limit of max_positions={max_positions:.0e} "
            "(docs/run.md, 'Cost before work'). Pass --allow-long (cislens attribute) or "
            "max_positions=None to run it anyway, or make it smaller (fewer or shorter sequences, "
            "an ISM window with start / end, fewer n_steps / n_shuffles)."
        )


__all__ = ["DEFAULT_MAX_POSITIONS", "CostEstimate", "CostLimitError", "check_cost",
           "estimate_cost"]  # fmt: skip
