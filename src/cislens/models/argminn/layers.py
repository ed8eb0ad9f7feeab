"""The parts of the ARGMINN network that hold no hyperparameters of their own: the sinusoidal
positional encoding, the training guide's weight per epoch and one attention layer of the
memory stream."""

from __future__ import annotations

import math

import torch
from torch import nn

from cislens.utils.types import Device


def positional_encoding(length: int, dim: int, *, device: Device = None) -> torch.Tensor:
    """Sinusoidal encoding (dim, length): ``pe[2i, p] = sin(p / 10000^(2i/dim))``, cos for 2i+1.

    Examples
    --------
    >>> pe = positional_encoding(5, 4)
    >>> pe.shape, float(pe[1, 0])
    (torch.Size([4, 5]), 1.0)
    """
    position = torch.arange(length, dtype=torch.float32, device=device)
    even = torch.arange(0, dim, 2, dtype=torch.float32, device=device)
    angle = position[None, :] / torch.pow(10000.0, even / dim)[:, None]
    pe = torch.zeros(dim, length, device=device)
    pe[0::2] = torch.sin(angle)
    pe[1::2] = torch.cos(angle[: dim // 2])
    return pe


def guide_weight(epoch: int, guide_epochs: int) -> float:
    """Weight of ARGMINN's training guide at ``epoch`` (from 1): ``1 - (epoch - 1) / G`` for
    the first ``G = guide_epochs`` epochs, then 0.

    Examples
    --------
    >>> [round(guide_weight(e, 4), 2) for e in range(1, 7)]
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """
    if guide_epochs <= 0 or epoch > guide_epochs:
        return 0.0
    return 1.0 - (epoch - 1) / guide_epochs


class AttentionLayer(nn.Module):
    """One read of the tokens by the stream: query from the stream, keys = tokens."""

    def __init__(self, stream_dim: int, token_dim: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(stream_dim, token_dim)
        self.value = nn.Linear(token_dim, token_dim)
        self.softmax = nn.Softmax(dim=-1)
        self.output = nn.Linear(token_dim, token_dim)
        self.norm_attention = nn.LayerNorm(token_dim)
        self.mlp_in = nn.Linear(token_dim, token_dim)
        self.mlp_relu = nn.ReLU()
        self.mlp_out = nn.Linear(token_dim, stream_dim)
        self.norm_update = nn.LayerNorm(stream_dim)

    def forward(self, stream, tokens):
        n, positions, dim = tokens.shape
        head_dim = dim // self.n_heads
        query = self.query(stream).reshape(n, self.n_heads, head_dim)
        keys = tokens.reshape(n, positions, self.n_heads, head_dim)
        logits = torch.einsum("nhd,nphd->nhp", query, keys) / math.sqrt(head_dim)
        attention = self.softmax(logits)
        # Each head reads sum_p a_p * value(t_p). The value map is affine and the weights sum to
        # 1, so that is value_h(sum_p a_p * t_p): mixing the tokens first and projecting the
        # mixture saves the projection of every placement (the same numbers up to rounding).
        mixed = torch.einsum("nhp,npd->nhd", attention, tokens)
        weight = self.value.weight.reshape(self.n_heads, head_dim, dim)
        read = torch.einsum("nhd,hed->nhe", mixed, weight).reshape(n, dim) + self.value.bias
        update = self.norm_attention(self.output(read))
        update = self.norm_update(self.mlp_out(self.mlp_relu(self.mlp_in(update))))
        return stream + update, attention


__all__ = ["AttentionLayer", "guide_weight", "positional_encoding"]
