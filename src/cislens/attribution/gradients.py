"""Input-gradient attributions: saliency and gradient x input, with optional gradient correction.

Both explain one scalar per example (``target``) with the gradient ``g = d f / d x`` taken at the
input itself:

- :func:`saliency` returns ``g`` on all four channels (captum ``Saliency(abs=False)``).
- :func:`grad_x_input` returns ``x * g`` (captum ``InputXGradient``): DeepLIFT with an all-zero
  reference and gradient multipliers. Its hypothetical form (``hypothetical=True``) is ``g``.

``gradient_correction=True`` subtracts the per-position mean over the four bases from ``g``
(Majdandzic et al.): the component of the gradient that points off the one-hot simplex, which a
one-hot input can never move along, is removed.

This module also holds the plumbing shared by the gradient-based methods of this package
(:mod:`~cislens.attribution.integrated_gradients`, :mod:`~cislens.attribution.gradcam`,
:mod:`~cislens.attribution.guided`) and by :mod:`~cislens.attribution.ism`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cislens.attribution._common import (
    Target,
    batch_slices,
    borrowed_model,
    check_batch_size,
    count_outputs,
    prepare_inputs,
    resolve_target,
)
from cislens.attribution._docs import shared_parameters
from cislens.attribution.heads import explained_model
from cislens.utils.batching import DEFAULT_BATCH_SIZE as INFERENCE_BATCH_SIZE
from cislens.utils.random import check_random_state_arg
from cislens.utils.types import ArrayLike, Device, OutputSpec, RandomState, TargetLike
from cislens.utils.validation import check_bool, check_dtype

DEFAULT_BATCH_SIZE = INFERENCE_BATCH_SIZE
"""Forward-pass rows per batch for every method of this package (``batch_size=``); the one
inference default of :data:`cislens.utils.batching.DEFAULT_BATCH_SIZE`."""


# ---------------------------------------------------------------------------------------------
# Shared plumbing


class LazyTarget:
    """``target`` resolved against the model on the first output it sees.

    The number of outputs is read from the first real forward pass, so no extra pass is spent
    on finding it; an invalid ``target`` raises there, before any further work.
    """

    def __init__(self, target):
        self.target = target
        self.resolved: Target | None = None

    def select(self, output) -> torch.Tensor:
        if self.resolved is None:
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"the model must return one tensor of shape (N, T); it returned "
                    f"{type(output).__name__}. Wrap it so that it returns one scalar per task."
                )
            self.resolved = resolve_target(self.target, count_outputs(output))
        return self.resolved.select(output)


@contextmanager
def running_model(
    model: nn.Module, target, *, device=None, dtype=torch.float32
) -> Iterator[tuple[nn.Module, torch.device, LazyTarget]]:
    """Borrow ``model`` (eval mode, ``device``, ``dtype``) and wrap ``target`` to be resolved.

    Everything is restored on exit (see :func:`~cislens.attribution._common.borrowed_model`).
    """
    if callable(target) or target is None:
        pass
    elif not isinstance(target, (int, np.integer)) or isinstance(target, bool):
        resolve_target(target, 1)  # raises the TypeError for a wrong type before any work
    with borrowed_model(model, device=device, dtype=dtype) as (net, dev):
        yield net, dev, LazyTarget(target)


def selected_output(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """The (B,) scalars ``target`` picks from ``model(x)``."""
    return target.select(model(x))


def input_gradients(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """Gradient of each example's target scalar with respect to its own input row.

    ``x`` is a (B, 4, L) batch on the model's device; the sum over the batch is differentiated,
    which gives per-example gradients for any model without cross-example coupling (eval mode).
    The user's parameters are not touched: no ``.grad`` is accumulated on them.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        y = selected_output(model, x, target)
        if not y.requires_grad:
            return torch.zeros_like(x)
        (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    if grad is None:
        return torch.zeros_like(x)
    return grad.detach()


def row_batches(counts: Sequence[int], batch_size: int) -> Iterator[list[tuple[int, int, int]]]:
    """Split the rows of several examples into batches of at most ``batch_size`` rows.

    Example ``i`` owns ``counts[i]`` rows, in order. Each batch is a list of segments
    ``(example, start, stop)`` (rows ``start:stop`` of that example); every batch but the last
    holds exactly ``batch_size`` rows.

    Examples
    --------
    >>> list(row_batches([3, 2], 2))
    [[(0, 0, 2)], [(0, 2, 3), (1, 0, 1)], [(1, 1, 2)]]
    """
    batch: list[tuple[int, int, int]] = []
    free = batch_size
    for example, count in enumerate(counts):
        start = 0
        while start < count:
            stop = min(count, start + free)
            batch.append((example, start, stop))
            free -= stop - start
            start = stop
            if free == 0:
                yield batch
                batch, free = [], batch_size
    if batch:
        yield batch


def progress(total: int, *, verbose: bool, desc: str):
    """A tqdm progress bar over forward rows, shown only when ``verbose``."""
    return tqdm(total=total, disable=not verbose, desc=desc, unit="rows", leave=False)


def finish(values: torch.Tensor) -> torch.Tensor:
    """Attributions as returned to users: float32 on the CPU, contiguous."""
    return values.detach().to(device="cpu", dtype=torch.float32).contiguous()


def _per_example_gradients(
    model, X, target, *, batch_size, device, dtype, verbose, desc, backward_rules=None
) -> torch.Tensor:
    """Input gradients (N, 4, L) of the target for every example, in ``dtype`` on the CPU.

    ``backward_rules``, if given, maps the borrowed model to a context manager that is active
    while each batch's gradient is taken (guided backprop swaps the ReLU backward rule there).
    """
    batch_size = check_batch_size(batch_size)
    grads = torch.empty_like(X)
    with running_model(model, target, device=device, dtype=dtype) as (net, dev, resolved):
        with progress(X.shape[0], verbose=verbose, desc=desc) as bar:
            for rows in batch_slices(X.shape[0], batch_size):
                batch = X[rows].to(device=dev, dtype=dtype)
                rules = nullcontext() if backward_rules is None else backward_rules(net)
                with rules:
                    grads[rows] = input_gradients(net, batch, resolved).to("cpu", dtype)
                bar.update(rows.stop - rows.start)
    return grads


def correct_gradients(grads: torch.Tensor) -> torch.Tensor:
    """Subtract the per-position mean over the four bases (Majdandzic et al. correction).

    Examples
    --------
    >>> g = torch.tensor([[[1.0], [2.0], [3.0], [6.0]]])
    >>> correct_gradients(g)[0, :, 0].tolist()
    [-2.0, -1.0, 0.0, 3.0]
    """
    return grads - grads.mean(dim=1, keepdim=True)


# ---------------------------------------------------------------------------------------------
# Public methods


@shared_parameters
def saliency(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    gradient_correction: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> torch.Tensor:
    """Saliency: the gradient of the target output with respect to the input, on all 4 channels.

    Signed (captum ``Saliency`` with ``abs=False``). Taking absolute values, if wanted, is left to
    the caller; the sign is what says which base helps.

    Parameters
    ----------
    {model}
    {X}
    {target}
    gradient_correction : bool
        Subtract the per-position mean over the four bases from the gradient (default False).
    {batch_size}
    {device}
    {random_state_unused}
    {verbose}
    {dtype}
    {output}
    {input_layout}

    Returns
    -------
    torch.Tensor
        Shape (N, 4, L), float32, on the CPU: ``d target / d X``.

    Raises
    ------
    ValueError, TypeError
        Invalid ``X``, ``target`` (None on a multi-output model, out of range), ``batch_size``.

    References
    ----------
    Simonyan K, Vedaldi A, Zisserman A. Deep inside convolutional networks (2013).
    Majdandzic A, Rajesh C, Koo PK. Correcting gradient-based interpretations of deep neural
    networks for genomics. Genome Biology 24, 109 (2023).

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv1d(4, 1, 3), nn.Flatten(), nn.Linear(4, 1))
    >>> X = torch.eye(4)[torch.tensor([[0, 1, 2, 3, 0, 1]])].transpose(1, 2)
    >>> saliency(net, X).shape
    torch.Size([1, 4, 6])
    >>> bool(saliency(net, X, gradient_correction=True).sum(1).abs().max() < 1e-6)
    True
    """
    model = explained_model(model, output=output, input_layout=input_layout)
    check_dtype(dtype)
    check_random_state_arg(random_state)
    gradient_correction = check_bool(gradient_correction, name="gradient_correction")
    X = prepare_inputs(X, dtype=dtype)
    grads = _per_example_gradients(
        model,
        X,
        target,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        verbose=verbose,
        desc="saliency",
    )
    if gradient_correction:
        grads = correct_gradients(grads)
    return finish(grads)


@shared_parameters
def grad_x_input(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    hypothetical: bool = False,
    gradient_correction: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> torch.Tensor:
    """Gradient x input: ``X * d target / d X`` (captum ``InputXGradient``).

    The hypothetical scores are the gradient itself (the projection ``H = g - sum_b g_b r_b`` of
    an all-zero reference ``r``), and the projected scores ``hypothetical * X`` keep the gradient
    of the observed base at each position.

    Parameters
    ----------
    {model}
    {X}
    {target}
    hypothetical : bool
        False (default): projected scores ``g * X``. True: the gradient on all four channels.
    gradient_correction : bool
        Use the corrected gradient ``g - mean_b g`` (per position) in both forms (default False).
    {batch_size}
    {device}
    {random_state_unused}
    {verbose}
    {dtype}
    {output}
    {input_layout}

    Returns
    -------
    torch.Tensor
        Shape (N, 4, L), float32, on the CPU.

    Raises
    ------
    ValueError, TypeError
        Invalid ``X``, ``target``, ``batch_size``.

    Examples
    --------
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    >>> X = torch.eye(4)[torch.tensor([[0, 1, 3]])].transpose(1, 2)
    >>> attr = grad_x_input(net, X)
    >>> bool(torch.allclose(attr, X * net[1].weight.view(1, 4, 3)))
    True
    """
    model = explained_model(model, output=output, input_layout=input_layout)
    check_dtype(dtype)
    check_random_state_arg(random_state)
    hypothetical = check_bool(hypothetical, name="hypothetical")
    gradient_correction = check_bool(gradient_correction, name="gradient_correction")
    X = prepare_inputs(X, dtype=dtype)
    grads = _per_example_gradients(
        model,
        X,
        target,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        verbose=verbose,
        desc="grad_x_input",
    )
    if gradient_correction:
        grads = correct_gradients(grads)
    return finish(grads if hypothetical else grads * X)


__all__ = ["correct_gradients", "grad_x_input", "saliency"]
