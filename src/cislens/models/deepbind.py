"""``DeepBind``: one convolution layer, global max and average pooling, a small MLP."""

from __future__ import annotations

import torch
from torch import nn

from cislens.models._base import (
    SequenceModel,
    check_length,
    check_positive_int,
    check_rate,
)
from cislens.utils.types import RandomState


class DeepBind(SequenceModel):
    """A DeepBind-like model (Alipanahi et al. 2015); works for any input length.

    Conv1d(4 -> n_filters, filter_width, unpadded) + ReLU, then global max pooling and global
    average pooling over positions, concatenated (2 x n_filters features), then
    Linear(-> n_hidden) + ReLU + Dropout + Linear(-> T).

    Parameters
    ----------
    n_tasks : int
        Number of outputs T.
    input_length : int or None
        Recorded for reference only; any length >= ``filter_width`` works (default None).
    n_filters : int
        Number of motif detectors (default 16).
    filter_width : int
        Convolution width (default 24).
    n_hidden : int
        Hidden units of the MLP (default 32).
    dropout : float
        Dropout rate before the output layer (default 0.5).
    random_state : int, numpy.random.Generator or None
        Seed of the weight initialisation.

    References
    ----------
    Alipanahi B, Delong A, Weirauch MT, Frey BJ. Predicting the sequence specificities of DNA-
    and RNA-binding proteins by deep learning. Nat Biotechnol 33, 831-838 (2015).

    Examples
    --------
    >>> model = DeepBind(n_tasks=2, random_state=0).eval()
    >>> model(torch.zeros(3, 4, 50)).shape, model(torch.zeros(3, 4, 101)).shape
    (torch.Size([3, 2]), torch.Size([3, 2]))
    """

    name = "deepbind"
    fixed_length = False

    def __init__(
        self,
        n_tasks: int,
        input_length: int | None = None,
        *,
        n_filters: int = 16,
        filter_width: int = 24,
        n_hidden: int = 32,
        dropout: float = 0.5,
        random_state: RandomState = None,
    ) -> None:
        super().__init__()
        owner = "DeepBind"
        self.hparams = {
            "n_tasks": check_positive_int(n_tasks, "n_tasks", owner),
            "input_length": check_length(input_length, owner, required=False),
            "n_filters": check_positive_int(n_filters, "n_filters", owner),
            "filter_width": check_positive_int(filter_width, "filter_width", owner),
            "n_hidden": check_positive_int(n_hidden, "n_hidden", owner),
            "dropout": check_rate(dropout, "dropout", owner),
        }
        length = self.hparams["input_length"]
        if length is not None and length < self.min_length:
            raise ValueError(
                f"DeepBind: input_length={length} is shorter than filter_width="
                f"{self.hparams['filter_width']}; use a narrower filter."
            )
        h = self.hparams
        with torch.device("meta"):
            self.conv = nn.Conv1d(4, h["n_filters"], h["filter_width"])
            self.relu_conv = nn.ReLU()
            self.max_pool = nn.AdaptiveMaxPool1d(1)
            self.avg_pool = nn.AdaptiveAvgPool1d(1)
            self.flatten_max = nn.Flatten()
            self.flatten_avg = nn.Flatten()
            self.dense = nn.Linear(2 * h["n_filters"], h["n_hidden"])
            self.relu_dense = nn.ReLU()
            self.dropout = nn.Dropout(h["dropout"])
            self.out = nn.Linear(h["n_hidden"], h["n_tasks"])
        self._initialize(random_state)

    @property
    def min_length(self) -> int:
        return int(self.hparams["filter_width"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu_conv(self.conv(x))
        pooled = torch.cat(
            [self.flatten_max(self.max_pool(h)), self.flatten_avg(self.avg_pool(h))], 1
        )
        h = self.relu_dense(self.dense(pooled))
        return self.out(self.dropout(h))


__all__ = ["DeepBind"]
