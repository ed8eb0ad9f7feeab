"""``BPNetLike``: a dilated residual convolution stack with one scalar head per task."""

from __future__ import annotations

import torch
from torch import nn

from cislens.models._base import SequenceModel, check_length, check_positive_int
from cislens.utils.types import RandomState
from cislens.utils.validation import check_choice, check_non_negative_int

_POOLINGS = ("mean", "max")


class BPNetLike(SequenceModel):
    """A BPNet-style body (Avsec et al. 2021) reduced to one scalar per task; any input length.

    Conv1d(4 -> n_filters, first_width, "same") + ReLU, then ``n_layers`` residual layers
    ``x = x + ReLU(Conv1d(x, width, dilation=2**i, "same"))`` for i = 1 .. n_layers, then a global
    pool over positions and, per task, its own Linear(n_filters -> 1); the T scalars are
    concatenated into (N, T) logits (like BPNet's count head, one per task).

    Parameters
    ----------
    n_tasks : int
        Number of outputs T.
    input_length : int or None
        Recorded for reference only; any length works (default None).
    n_filters : int
        Channels of every layer (default 64).
    n_layers : int
        Number of dilated residual layers (default 8; dilations 2, 4, ..., 256).
    first_width : int
        Width of the first convolution (default 21).
    width : int
        Width of the dilated convolutions (default 3).
    pooling : {"mean", "max"}
        Global pooling before the heads (default "mean", as BPNet's count head).
    random_state : int, numpy.random.Generator or None
        Seed of the weight initialisation.

    References
    ----------
    Avsec Z, Weilert M, Shrikumar A, et al. Base-resolution models of transcription-factor
    binding reveal soft motif syntax. Nat Genet 53, 354-366 (2021).

    Examples
    --------
    >>> model = BPNetLike(n_tasks=3, n_filters=8, n_layers=3, random_state=0).eval()
    >>> model(torch.zeros(2, 4, 75)).shape
    torch.Size([2, 3])
    >>> [layer.dilation[0] for layer in model.convs]
    [2, 4, 8]
    """

    name = "bpnet"
    fixed_length = False

    def __init__(
        self,
        n_tasks: int,
        input_length: int | None = None,
        *,
        n_filters: int = 64,
        n_layers: int = 8,
        first_width: int = 21,
        width: int = 3,
        pooling: str = "mean",
        random_state: RandomState = None,
    ) -> None:
        super().__init__()
        owner = "BPNetLike"
        check_choice(pooling, _POOLINGS, name="BPNetLike: pooling")
        check_non_negative_int(n_layers, "BPNetLike: n_layers")
        self.hparams = {
            "n_tasks": check_positive_int(n_tasks, "n_tasks", owner),
            "input_length": check_length(input_length, owner, required=False),
            "n_filters": check_positive_int(n_filters, "n_filters", owner),
            "n_layers": int(n_layers),
            "first_width": check_positive_int(first_width, "first_width", owner),
            "width": check_positive_int(width, "width", owner),
            "pooling": pooling,
        }
        h = self.hparams
        with torch.device("meta"):
            self.conv_in = nn.Conv1d(4, h["n_filters"], h["first_width"], padding="same")
            self.relu_in = nn.ReLU()
            self.convs = nn.ModuleList(
                nn.Conv1d(h["n_filters"], h["n_filters"], h["width"], dilation=2**i, padding="same")
                for i in range(1, h["n_layers"] + 1)
            )
            self.relus = nn.ModuleList(nn.ReLU() for _ in range(h["n_layers"]))
            self.pool = nn.AdaptiveAvgPool1d(1) if pooling == "mean" else nn.AdaptiveMaxPool1d(1)
            self.flatten = nn.Flatten()
            self.heads = nn.ModuleList(nn.Linear(h["n_filters"], 1) for _ in range(h["n_tasks"]))
        self._initialize(random_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu_in(self.conv_in(x))
        for conv, relu in zip(self.convs, self.relus, strict=True):
            x = x + relu(conv(x))
        features = self.flatten(self.pool(x))
        return torch.cat([head(features) for head in self.heads], 1)


__all__ = ["BPNetLike"]
