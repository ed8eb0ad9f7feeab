"""Dense heads of fast ISM: ``linear(flatten(h))`` on a windowed layer ``h``, updated from the
window.

``flatten`` puts channel ``c`` and position ``l`` of a (B, C, L) layer at column ``c * L + l``,
so ``linear(flatten(h)) = linear(flatten(ref)) + sum over the window of W[:, c, l] * (h - ref)``:
the reference's output plus the window's change times the weight columns of the window's
positions (exact up to rounding; the bias is in the reference). The weight is kept as (L, C,
out), so the columns of a window starting at ``s`` are the contiguous block ``[s, s + width)``;
edits sharing a start (all of them between two pooling steps) take one matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx

from cislens.attribution._fast_ism_windows import windows

MAX_GROUPS = 32
"""More distinct window starts than this in a batch: the head runs on full-length tensors
(one small matrix product per start would cost more)."""


@dataclass
class DenseHead:
    """A ``linear`` node fed by ``flatten`` of the windowed layer ``source``."""

    source: fx.Node
    flatten: fx.Node
    weight: torch.Tensor  # (out, C * L)
    bias: torch.Tensor | None
    columns: torch.Tensor  # the weight as (L, C, out), contiguous


def _flattens_channels_and_positions(node: fx.Node, shape) -> bool:
    """``x.flatten(1)`` / ``x.flatten(1, -1)`` / ``torch.flatten(x, 1)`` of a (N, C, L) ``x``."""
    if node.op not in ("call_method", "call_function") or node.kwargs:
        return False
    if node.op == "call_method" and node.target != "flatten":
        return False
    if node.op == "call_function" and node.target is not torch.flatten:
        return False
    dims = tuple(node.args[1:])
    return shape is not None and len(shape) == 3 and dims in ((1,), (1, -1), (1, 2))


def dense_heads(graph: fx.Graph, windowed: set, shapes: dict) -> dict:
    """``{linear node: DenseHead}`` for each ``linear(flatten(windowed layer))`` whose flatten
    feeds nothing else and whose weight and bias are constants."""
    heads = {}
    for node in graph.nodes:
        if node.op != "call_function" or node.target is not F.linear or node.kwargs:
            continue
        flat, weight, bias = (*node.args, None)[:3]
        if not isinstance(flat, fx.Node) or len(flat.users) != 1 or not flat.args:
            continue
        source = flat.args[0]
        if source not in windowed or not _flattens_channels_and_positions(flat, shapes.get(source)):
            continue
        if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
            continue
        if bias is not None and not isinstance(bias, torch.Tensor):
            continue
        _, channels, length = shapes[source]
        if weight.shape[1] != channels * length:
            continue
        columns = weight.detach().view(-1, channels, length).permute(2, 1, 0).contiguous()
        heads[node] = DenseHead(source, flat, weight, bias, columns)
    return heads


def dense_output(head: DenseHead, win, ref_out: torch.Tensor, reference) -> torch.Tensor:
    """The head's output (B, out) for the windows ``win`` of its layer; ``ref_out`` (S, out) is
    its reference output on the sequences, ``reference`` makes a full-length tensor from ``win``."""
    values, start = win.values, win.start
    batch, channels, width = values.shape
    # as captured (flatten the full-length layer, then linear): with many starts, or windows
    # wider than half the layer (one product over the whole layer costs at most twice the
    # window's products, and saves a product, a selection and an addition per start)
    if 2 * width >= head.columns.shape[0]:
        return F.linear(reference(win).flatten(1), head.weight, head.bias)
    starts, inverse = torch.unique(start, return_inverse=True)
    if len(starts) > MAX_GROUPS:
        return F.linear(reference(win).flatten(1), head.weight, head.bias)
    change = values - windows(win.ref, start, width, win.seq)
    change = change.transpose(1, 2).reshape(batch, -1)
    out = ref_out.index_select(0, win.seq)  # each edit's sequence's reference output
    runs, counts = torch.unique_consecutive(start, return_counts=True)
    if len(runs) == len(starts):  # edits sorted by start (fast ISM's order): slices
        ends = counts.cumsum(0).tolist()
        for s, lo, hi in zip(runs.tolist(), [0, *ends[:-1]], ends, strict=True):
            block = head.columns[s : s + width].view(width * channels, -1)
            out[lo:hi].addmm_(change[lo:hi], block)  # in place (`+=` copies once more)
        return out
    for group, s in enumerate(starts.tolist()):
        rows = (inverse == group).nonzero().squeeze(1)
        block = head.columns[s : s + width].view(width * channels, -1)
        out.index_add_(0, rows, change.index_select(0, rows) @ block)
    return out


__all__ = ["MAX_GROUPS", "DenseHead", "dense_heads", "dense_output"]
