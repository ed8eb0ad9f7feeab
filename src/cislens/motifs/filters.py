"""First-layer convolution filters as motifs: PFMs of the subsequences that activate them.

The classic filter visualisation (Alipanahi et al. 2015; Koo & Eddy 2019): for filter k of the
first ``Conv1d`` layer, every input window whose activation exceeds ``threshold x`` (the
filter's largest activation over ``X``) is collected; the filter's PFM is the base frequency of
those windows, position by position. Padding columns (outside the sequence) count as unknown.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from cislens.pwm import Motif
from cislens.utils.types import ArrayLike, Device

logger = logging.getLogger(__name__)


def _first_conv(model: nn.Module, layer):
    if layer is not None:
        if isinstance(layer, str):
            modules = dict(model.named_modules())
            if layer not in modules:
                convs = [n for n, m in modules.items() if isinstance(m, nn.Conv1d)]
                raise ValueError(
                    f"layer {layer!r} is not a module of the model; its Conv1d layers are {convs}."
                )
            layer = modules[layer]
        if not isinstance(layer, nn.Conv1d):
            raise TypeError(f"layer must be an nn.Conv1d; got {type(layer).__name__}.")
        return layer
    for module in model.modules():
        if isinstance(module, nn.Conv1d):
            return module
    raise ValueError(
        "the model has no nn.Conv1d layer; filter_motifs needs a convolutional first layer."
    )


def filter_motifs(
    model: nn.Module,
    X: ArrayLike,
    *,
    layer: nn.Conv1d | str | None = None,
    threshold: float = 0.5,
    pseudocount: float = 0.0,
    min_sites: int = 1,
    batch_size: int = 256,
    device: Device = None,
) -> list[Motif]:
    """PFMs of a convolution layer's filters from the windows that activate them.

    Parameters
    ----------
    model : torch.nn.Module
        The model; its device and train/eval mode are restored afterwards.
    X : array or tensor (N, 4, L)
        One-hot sequences.
    layer : nn.Conv1d or str, optional
        The layer (or its name); default the first ``nn.Conv1d`` of ``model.modules()``.
        It must take the one-hot input directly (4 input channels).
    threshold : float
        A window counts when its activation exceeds ``threshold`` times the filter's maximum
        over X (default 0.5); filters whose maximum is <= 0 get no sites.
    pseudocount : float
        Pseudo-sites added per column, spread uniformly (default 0).
    min_sites : int
        Filters with fewer activating windows are left out (default 1).
    batch_size : int
        Sequences per forward pass.
    device : str or torch.device, optional
        Default: CUDA if available, else CPU.

    Returns
    -------
    list of Motif
        ``name`` "filter_<k>", ``counts`` the window counts (4, width); the number of sites is
        ``counts[:, 0].sum()`` (plus uncounted unknown columns).

    Examples
    --------
    >>> conv = nn.Conv1d(4, 1, 3, bias=False)
    >>> with torch.no_grad():
    ...     _ = conv.weight.copy_(torch.tensor([[[1., 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]]))
    >>> from cislens.sequence import one_hot_encode
    >>> motifs = filter_motifs(nn.Sequential(conv), one_hot_encode(["TTACGTT", "ACGAAAA"]))
    >>> motifs[0].consensus
    'ACG'
    """
    from cislens.utils.device import resolve_device, using_model

    conv = _first_conv(model, layer)
    if conv.in_channels != 4:
        raise ValueError(
            f"layer has {conv.in_channels} input channels; filter_motifs needs the "
            "first convolution (4 input channels, one-hot DNA)."
        )
    X = torch.as_tensor(np.asarray(getattr(X, "numpy", lambda: X)(), dtype=np.float32))
    if X.ndim != 3 or X.shape[1] != 4 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty (N, 4, L) one-hot array; got {tuple(X.shape)}.")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]; got {threshold!r}.")
    width, stride, dilation = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
    padding = conv.padding
    if isinstance(padding, str):
        padding = (dilation * (width - 1)) // 2 if padding == "same" else 0
    else:
        padding = padding[0]
    outputs = []
    resolved = resolve_device(device)
    handle = conv.register_forward_hook(lambda m, i, o: outputs.append(o.detach().cpu()))
    try:
        with using_model(model, device=resolved), torch.no_grad():
            for lo in range(0, X.shape[0], batch_size):
                model(X[lo : lo + batch_size].to(resolved))
    finally:
        handle.remove()
    activations = torch.cat(outputs).numpy()  # (N, K, L_out)
    padded = np.pad(X.numpy(), ((0, 0), (0, 0), (padding, padding)))
    motifs = []
    offsets = np.arange(width) * dilation
    for k in range(activations.shape[1]):
        act = activations[:, k]
        peak = float(act.max())
        if peak <= 0:
            continue
        rows, cols = np.nonzero(act > threshold * peak)
        if rows.size < min_sites:
            continue
        windows = padded[rows[:, None], :, cols[:, None] * stride + offsets[None]]  # (n, w, 4)
        counts = windows.sum(axis=0).T.astype(np.float64)
        if pseudocount == 0 and (counts.sum(axis=0) == 0).any():
            counts = counts + 1e-6
        motifs.append(
            Motif.from_counts(
                f"filter_{k}", counts, pseudocount=pseudocount, source="filter_motifs"
            )
        )
    logger.info("%d of %d filters have activating windows", len(motifs), activations.shape[1])
    return motifs


__all__ = ["filter_motifs"]
