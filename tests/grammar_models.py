"""Hand-built models with a known grammar (or none) for the GIA grammar tests.

Both scan the one-hot input with JASPAR log-odds filters on both strands, so their grammar is
known exactly without training:

- :class:`CompositeModel`: one filter for ``a`` then ``b`` on one strand with a fixed gap (and
  its reverse complement); output ``relu(best window score - threshold)``. Only the planted
  arrangement (or its reverse complement) reaches the threshold.
- :class:`AdditiveModel`: the sum over positions and strands of ``relu(score - threshold)`` for
  each motif separately: additive in sites, so every arrangement has the same effect (and an
  interaction of 0) as long as no window mixing both motifs reaches a threshold.
"""

from __future__ import annotations

import torch
from torch import nn

from cislens.gia import as_pattern


def log_odds(name: str) -> torch.Tensor:
    """(4, W) log2-odds of a JASPAR motif against a uniform background."""
    motif = as_pattern(name).motif
    return torch.as_tensor(motif.log_odds(), dtype=torch.float32)


def both_strands(weight: torch.Tensor) -> torch.Tensor:
    """(2, 4, W) conv weights: the filter and its reverse complement."""
    return torch.stack([weight, weight.flip(0).flip(1)])


class CompositeModel(nn.Module):
    """``relu(max over windows and strands of the a-gap-b filter - fraction * its maximum)``."""

    def __init__(self, a: str = "SOX2", b: str = "POU5F1", gap: int = 1, fraction=0.8):
        super().__init__()
        wa, wb = log_odds(a), log_odds(b)
        weight = torch.cat([wa, torch.zeros(4, gap), wb], dim=1)
        self.register_buffer("weight", both_strands(weight))
        best = float(weight.max(0).values.sum())
        self.threshold = fraction * best

    def forward(self, x):
        scores = nn.functional.conv1d(x, self.weight)  # (N, 2, L - W + 1)
        best = scores.amax(dim=(1, 2))
        return torch.relu(best - self.threshold)[:, None]


class AdditiveModel(nn.Module):
    """Sum of ``relu(score - fraction * max)`` over the windows of each motif on both strands."""

    def __init__(self, names=("SOX2", "POU5F1"), fraction=0.8):
        super().__init__()
        self.filters = nn.ParameterList()
        self.thresholds = []
        for name in names:
            weight = log_odds(name)
            self.filters.append(nn.Parameter(both_strands(weight), requires_grad=False))
            self.thresholds.append(fraction * float(weight.max(0).values.sum()))

    def forward(self, x):
        total = 0.0
        for weight, threshold in zip(self.filters, self.thresholds, strict=True):
            scores = nn.functional.conv1d(x, weight)
            total = total + torch.relu(scores - threshold).sum(dim=(1, 2))
        return total[:, None]
