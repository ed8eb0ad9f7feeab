"""Guided backpropagation and guided GradCAM.

Guided backprop (Springenberg et al.) is the input gradient with every ``nn.ReLU`` module's
backward pass replaced: the gradient passes only where the ReLU's forward input was positive
*and* the incoming gradient is positive, ``relu(grad) * 1[input > 0]`` (captum
``GuidedBackprop``). Other layers, including other nonlinearities, keep their ordinary gradient.

Guided GradCAM multiplies the guided-backprop map (N, 4, L) by the upsampled GradCAM map
(N, 1, L) of a convolutional layer, computed with ``relu=True`` (captum ``GuidedGradCam``).

The override is installed with forward hooks on the ``nn.ReLU`` modules that are removed in
``finally``; nothing is written onto the user's modules. ReLUs called as functions
(``torch.relu``, ``F.relu``, ``Tensor.relu``) cannot be overridden that way, so they are
detected during the forward pass and raise :class:`~cislens.errors.UnsupportedModelError`
instead of giving a silently ordinary gradient.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from cislens.attribution._common import prepare_inputs
from cislens.attribution._docs import shared_parameters
from cislens.attribution.gradcam import gradcam_maps
from cislens.attribution.gradients import (
    DEFAULT_BATCH_SIZE,
    _per_example_gradients,
    finish,
)
from cislens.attribution.heads import explained_model
from cislens.errors import UnsupportedModelError
from cislens.utils.random import check_random_state_arg
from cislens.utils.types import ArrayLike, Device, OutputSpec, RandomState, TargetLike
from cislens.utils.validation import check_dtype

_FUNCTIONAL_RELUS = {torch.relu, torch.relu_, F.relu, F.relu_, torch.Tensor.relu}
_FUNCTIONAL_RELUS.add(torch.Tensor.relu_)


class _GuidedReLU(torch.autograd.Function):
    """ReLU forward; backward ``relu(grad) * 1[input > 0]``."""

    @staticmethod
    def forward(ctx, x):
        out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0).to(grad.dtype)


class _FunctionalReluGuard(TorchFunctionMode):
    """Raise when a ReLU is called as a function outside an ``nn.ReLU`` module."""

    def __init__(self, depth: list[int]):
        super().__init__()
        self.depth = depth

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _FUNCTIONAL_RELUS and self.depth[0] == 0:
            raise UnsupportedModelError(
                f"guided backprop found a functional ReLU ({getattr(func, '__name__', func)}) "
                "called outside an nn.ReLU module; its gradient cannot be guided. Use nn.ReLU "
                "modules in the model's forward."
            )
        return func(*args, **(kwargs or {}))


@contextmanager
def guided_relus(model: nn.Module):
    """Within the block, every ``nn.ReLU`` of ``model`` backpropagates the guided gradient.

    Hooks are removed on exit, even on error; functional ReLUs raise during the forward pass.
    """
    depth = [0]

    def enter(module, inputs):
        depth[0] += 1

    def leave(module, inputs, output):
        depth[0] -= 1
        return _GuidedReLU.apply(inputs[0])

    handles = []
    try:
        for module in model.modules():
            if isinstance(module, nn.ReLU):
                handles.append(module.register_forward_pre_hook(enter))
                handles.append(module.register_forward_hook(leave))
        with _FunctionalReluGuard(depth):
            yield model
    finally:
        for handle in handles:
            handle.remove()


@shared_parameters
def guided_backprop(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> torch.Tensor:
    """Guided backpropagation: the input gradient with guided ReLU backward passes.

    Parameters
    ----------
    model : torch.nn.Module
        Maps one-hot (N, 4, L) to outputs (N, T); its ReLUs must be ``nn.ReLU`` modules.
        Borrowed in eval mode and restored afterwards (hooks removed).
    {X}
    {target}
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
        Shape (N, 4, L), float32, on the CPU: the guided gradient on all four channels (like
        :func:`~cislens.attribution.saliency`, it is not multiplied by the input).

    Raises
    ------
    ValueError, TypeError
        Invalid ``X``, ``target``, ``batch_size``.
    cislens.errors.UnsupportedModelError
        The model calls a ReLU as a function.

    References
    ----------
    Springenberg JT, Dosovitskiy A, Brox T, Riedmiller M. Striving for simplicity: the all
    convolutional net. ICLR workshop (2015).

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv1d(4, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 1))
    >>> X = torch.eye(4)[torch.tensor([[0, 1, 2, 3, 0, 1]])].transpose(1, 2)
    >>> guided_backprop(net, X).shape
    torch.Size([1, 4, 6])
    """
    model = explained_model(model, output=output, input_layout=input_layout)
    check_dtype(dtype)
    check_random_state_arg(random_state)
    X = prepare_inputs(X, dtype=dtype)
    grads = _per_example_gradients(
        model,
        X,
        target,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        verbose=verbose,
        desc="guided_backprop",
        backward_rules=guided_relus,
    )
    return finish(grads)


@shared_parameters
def guided_gradcam(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    layer: nn.Module | str | None = None,
    interpolation: str = "linear",
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> torch.Tensor:
    """Guided GradCAM: guided backprop times the upsampled, rectified GradCAM map.

    Parameters
    ----------
    model : torch.nn.Module
        Maps one-hot (N, 4, L) to outputs (N, T); its ReLUs must be ``nn.ReLU`` modules.
    {X}
    {target}
    layer : torch.nn.Module, str or None
        The GradCAM layer (default: the last ``nn.Conv1d``), see
        :func:`~cislens.attribution.gradcam`.
    interpolation : {"linear", "nearest"}
        Upsampling of the GradCAM map (default "linear"; captum's ``GuidedGradCam`` default is
        "nearest").
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
        Shape (N, 4, L), float32, on the CPU: ``guided_backprop * relu(GradCAM)`` on all four
        channels.

    Raises
    ------
    ValueError, TypeError, cislens.errors.UnsupportedModelError
        As :func:`guided_backprop` and :func:`~cislens.attribution.gradcam`.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv1d(4, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 1))
    >>> X = torch.eye(4)[torch.tensor([[0, 1, 2, 3, 0, 1]])].transpose(1, 2)
    >>> guided_gradcam(net, X).shape
    torch.Size([1, 4, 6])
    """
    model = explained_model(model, output=output, input_layout=input_layout)
    check_dtype(dtype)
    check_random_state_arg(random_state)
    X = prepare_inputs(X, dtype=dtype)
    maps = gradcam_maps(
        model,
        X,
        target,
        layer=layer,
        relu=True,
        interpolation=interpolation,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        verbose=verbose,
        desc="guided_gradcam (map)",
    )
    grads = _per_example_gradients(
        model,
        X,
        target,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        verbose=verbose,
        desc="guided_gradcam (guided backprop)",
        backward_rules=guided_relus,
    )
    return finish(grads * maps[:, None, :])


__all__ = ["guided_backprop", "guided_gradcam", "guided_relus"]
