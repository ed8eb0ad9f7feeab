"""GradCAM for 1-D convolutional DNA models.

For a convolutional layer with activations ``A`` (C channels x L' positions) and the target
scalar y (Selvaraju et al.; captum ``LayerGradCam``):

1. channel weights ``alpha_c = mean_l dy/dA[c, l]``;
2. the map ``G[l] = sum_c alpha_c A[c, l]``, optionally passed through ReLU (``relu=True``);
3. upsampled from L' to the input length L with ``torch.nn.functional.interpolate`` (linear by
   default, as captum's ``LayerAttribution.interpolate`` with ``interpolate_mode="linear"``).

The map has one value per position, so the hypothetical scores give every base of a position
that value and the projected scores (the default) put it on the observed base.

Caveat: the upsampling stretches L' onto L without regard to receptive fields. With unpadded
convolutions, pooling or strides, output position l covers input positions [l*s, l*s + RF), so
the stretched map can be shifted by up to half a receptive field; GradCAM is a coarse,
region-level explanation, not a base-resolution one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cislens.attribution._common import batch_slices, check_batch_size, prepare_inputs
from cislens.attribution._docs import shared_parameters
from cislens.attribution.gradients import (
    DEFAULT_BATCH_SIZE,
    finish,
    progress,
    running_model,
    selected_output,
)
from cislens.attribution.heads import ExplainedModel, explained_model
from cislens.errors import UnsupportedModelError
from cislens.utils.random import check_random_state_arg
from cislens.utils.types import ArrayLike, Device, OutputSpec, RandomState, TargetLike
from cislens.utils.validation import check_bool, check_choice, check_dtype

INTERPOLATIONS = ("linear", "nearest")
"""The values of ``gradcam(interpolation=...)``."""


def resolve_layer(model: nn.Module, layer) -> tuple[str, nn.Module]:
    """Return ``(qualified name, module)`` of the layer GradCAM reads.

    ``layer`` is a submodule of ``model``, its qualified name (``"conv2"``, ``"body.3"``), or
    None: the model's ``gradcam_layer`` attribute when it names one (LabCNN's ``"conv2"``:
    with task towers its last ``nn.Conv1d`` modules are the 1 x 1 heads, one position long),
    else the last ``nn.Conv1d`` in registration order.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv1d(4, 8, 3), nn.ReLU(), nn.Conv1d(8, 2, 3))
    >>> resolve_layer(net, None)[0], resolve_layer(net, "0")[0]
    ('2', '0')
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    if isinstance(model, ExplainedModel):  # layers are named as in the user's own model
        model = model.model
    named = list(model.named_modules())
    convs = [name for name, module in named if isinstance(module, nn.Conv1d)]
    if layer is None and isinstance(getattr(model, "gradcam_layer", None), str):
        layer = model.gradcam_layer
    if layer is None:
        if not convs:
            raise ValueError(
                "layer=None picks the last nn.Conv1d of the model, but it has none; pass "
                "layer= a module or the qualified name of a layer with (N, C, L') outputs."
            )
        name = convs[-1]
        return name, model.get_submodule(name)
    if isinstance(layer, str):
        try:
            return layer, model.get_submodule(layer)
        except AttributeError:
            raise ValueError(
                f"layer {layer!r} is not a submodule of the model; its convolutions are {convs}."
            ) from None
    if isinstance(layer, nn.Module):
        for name, module in named:
            if module is layer:
                return name, module
        raise ValueError(
            f"layer {type(layer).__name__} is not a submodule of the model; pass one of its "
            f"own modules or a qualified name such as {convs[-1:] or ['conv1']}."
        )
    raise TypeError(
        f"layer must be a torch.nn.Module, a qualified name (str) or None; got "
        f"{type(layer).__name__}."
    )


def layer_gradcam(
    model: nn.Module, x: torch.Tensor, target, layer: nn.Module, name: str, *, relu: bool
) -> torch.Tensor:
    """The GradCAM map (B, L') of one batch at ``layer``, before upsampling.

    The hook capturing the layer's output is removed before returning, even on error.
    """
    captured: list[torch.Tensor] = []

    def keep_output(module, inputs, output):
        captured.append(output)

    handle = layer.register_forward_hook(keep_output)
    try:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)  # so the graph exists even for frozen weights
            y = selected_output(model, x, target)
            if len(captured) != 1:
                raise UnsupportedModelError(
                    f"GradCAM layer {name!r} ran {len(captured)} times in one forward pass; "
                    "it needs a layer that runs exactly once. Pick another layer."
                )
            activations = captured[0]
            if not isinstance(activations, torch.Tensor) or activations.ndim != 3:
                shape = getattr(activations, "shape", type(activations).__name__)
                raise ValueError(
                    f"GradCAM layer {name!r} must output (N, C, L') activations; got {shape}."
                )
            if not y.requires_grad:
                grads = torch.zeros_like(activations)
            else:
                (grads,) = torch.autograd.grad(y.sum(), activations, allow_unused=True)
                if grads is None:
                    grads = torch.zeros_like(activations)
        weights = grads.mean(dim=2, keepdim=True)
        cam = (weights * activations.detach()).sum(dim=1)
        return cam.clamp(min=0) if relu else cam
    finally:
        handle.remove()


def upsample(cam: torch.Tensor, length: int, interpolation: str) -> torch.Tensor:
    """Stretch maps (B, L') to (B, L) with ``F.interpolate`` (``align_corners=False``)."""
    if cam.shape[-1] == length:
        return cam
    options = {"align_corners": False} if interpolation == "linear" else {}
    return F.interpolate(cam[:, None], size=length, mode=interpolation, **options)[:, 0]


def gradcam_maps(
    model, X, target, *, layer, relu, interpolation, batch_size, device, dtype, verbose, desc
) -> torch.Tensor:
    """Upsampled GradCAM maps (N, L) in ``dtype`` on the CPU."""
    batch_size = check_batch_size(batch_size)
    check_choice(interpolation, INTERPOLATIONS, name="interpolation")
    relu = check_bool(relu, name="relu")
    name, module = resolve_layer(model, layer)
    maps = torch.empty(X.shape[0], X.shape[2], dtype=dtype)
    with running_model(model, target, device=device, dtype=dtype) as (net, dev, resolved):
        with progress(X.shape[0], verbose=verbose, desc=desc) as bar:
            for rows in batch_slices(X.shape[0], batch_size):
                batch = X[rows].to(device=dev, dtype=dtype)
                cam = layer_gradcam(net, batch, resolved, module, name, relu=relu)
                maps[rows] = upsample(cam, X.shape[2], interpolation).to("cpu", dtype)
                bar.update(rows.stop - rows.start)
    return maps


@shared_parameters
def gradcam(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    layer: nn.Module | str | None = None,
    relu: bool = False,
    interpolation: str = "linear",
    hypothetical: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> torch.Tensor:
    """GradCAM at a convolutional layer, upsampled to the input length.

    Parameters
    ----------
    {model}
    {X}
    {target}
    layer : torch.nn.Module, str or None
        The layer whose output (N, C, L') is explained: a submodule, its qualified name, or None
        (default) for the model's last ``nn.Conv1d``. It must run once per forward pass.
    relu : bool
        Keep only the positive part of the map (the original GradCAM; default False, signed,
        as captum's ``relu_attributions=False``).
    interpolation : {"linear", "nearest"}
        How the map is upsampled from L' to L (default "linear").
    hypothetical : bool
        False (default): the map on the observed base (``map * X``). True: the map broadcast
        over all four channels.
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
        Invalid ``X``, ``target``, ``layer`` (not in the model, no Conv1d, output not 3-D).
    cislens.errors.UnsupportedModelError
        The layer runs more than once per forward pass.

    References
    ----------
    Selvaraju RR et al. Grad-CAM: visual explanations from deep networks via gradient-based
    localization. ICCV (2017).

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv1d(4, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 1))
    >>> X = torch.eye(4)[torch.tensor([[0, 1, 2, 3, 0, 1]])].transpose(1, 2)
    >>> H = gradcam(net, X, hypothetical=True)
    >>> H.shape, bool((H[:, 0] == H[:, 3]).all())
    (torch.Size([1, 4, 6]), True)
    """
    model = explained_model(model, output=output, input_layout=input_layout)
    check_dtype(dtype)
    check_random_state_arg(random_state)
    hypothetical = check_bool(hypothetical, name="hypothetical")
    X = prepare_inputs(X, dtype=dtype)
    maps = gradcam_maps(
        model,
        X,
        target,
        layer=layer,
        relu=relu,
        interpolation=interpolation,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        verbose=verbose,
        desc="gradcam",
    )
    H = maps[:, None, :].expand_as(X)
    return finish(H if hypothetical else H * X)


__all__ = ["INTERPOLATIONS", "gradcam", "resolve_layer"]
