"""Fused blocks of fast ISM: a convolution whose change is added to its reference, the
position-wise calls after it, and the pool that reads them, computed on the pool's slab.

Unfused, such a block (Basset's and LabCNN's ``conv -> relu -> max_pool``, DeepSTARR's first
``conv -> batch_norm -> relu -> max_pool``) copies every edit's values three times beyond the
arithmetic: the convolution gathers its reference window to add the change to, the pool gathers
its reference slab (the positions its pooling windows read) and splices the window into it.
When the convolution's output is the reference plus a change (the first layer's table lookup,
or a transposed convolution of its input's change:
:mod:`~cislens.attribution._fast_ism_windows`), the block instead gathers the convolution's
reference directly on the pool's slab, adds the change where it falls (clipped to the slab),
runs the position-wise calls on the whole slab and pools it: one copy, and no splice.

Positions of the slab outside the convolution's output (the pool's padding, ``ceil_mode``) hold
arbitrary finite values through the position-wise calls and are set to the pool's fill
(``-inf`` or 0) before pooling, so the result is exact, as the unfused path's.
A block is fused when every node between the convolution and the pool has that one reader and
is position-wise on the one windowed input with constants per channel only
(:func:`fused_blocks`); whether its convolution adds a change is known only when it runs
(:func:`block_slab` returns None otherwise, and the block runs unfused).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx

from cislens.attribution._fast_ism_rules import CONV, POOL, POSITIONWISE
from cislens.attribution._fast_ism_windows import LazyRows, Win, align, strided_max, windows

MAX_RUNS, MIN_RUN = 16, 8
"""At most ``MAX_RUNS`` runs of at least ``MIN_RUN`` edits sharing the change's offset in their
slabs take one slice addition each; the other edits one aligned copy (:func:`_add_at`)."""

MAX_OFFSETS = 64
"""A batch whose edits give more than ``MAX_RUNS`` runs of equal offsets but at most this many
distinct offsets (one sequence: the edits of a position share an offset, those near the ends
one each) is sorted by offset in the block, then each offset takes one slice addition (a few
microseconds each, where an aligned copy costs about 0.5 per edit)."""


@dataclass
class Block:
    """A fused ``conv -> position-wise* -> pool`` block (nodes of a captured graph)."""

    conv: fx.Node
    pool: fx.Node
    members: tuple  # the position-wise nodes between them, in order


def fused_blocks(graph: fx.Graph, ops: dict) -> dict:
    """``{conv node: Block}`` for every convolution whose output reaches a pool through
    position-wise calls only, each node of the chain read by the next one alone."""
    blocks = {}
    for node in graph.nodes:
        op = ops.get(node)
        if op is None or op.kind != CONV or op.params["groups"] != 1:
            continue
        members, current = [], node
        while len(current.users) == 1:
            user = next(iter(current.users))
            user_op = ops.get(user)
            if user_op is None:
                break
            if user_op.kind == POOL and user_op.source is current:
                blocks[node] = Block(node, user, tuple(members))
                break
            if user_op.kind != POSITIONWISE or user_op.params["constants"]:
                break
            if [n for n in user.all_input_nodes if n in ops or n is current] != [current]:
                break  # another windowed input (a residual sum): not a chain
            members.append(user)
            current = user
    return blocks


def edit_order(blocks: dict, ops: dict, positions: torch.Tensor) -> torch.Tensor:
    """The order in which fast ISM runs edits listed by position: grouped by their phase in
    the first fused block's pool (:func:`phase_order`), if there is one."""
    if not blocks:
        return torch.arange(len(positions), device=positions.device)
    return phase_order(positions, ops[next(iter(blocks.values())).pool].params["stride"])


def pool_geometry(params: dict, natural: torch.Tensor, width: int, length_out: int):
    """The pool's output window ``(start, width)`` for changes at ``natural + [0, width)`` of
    its input, and its slab's first input position ``start * stride - left`` and width."""
    k, s, left = params["kernel"], params["stride"], params["left"]
    out_width = min(max((r + width - 1) // s - (r - k) // s for r in range(s)), length_out)
    first = torch.div(natural + left - k, s, rounding_mode="floor") + 1
    start = first.clamp(0, length_out - out_width)
    return start, out_width, start * s - left, (out_width - 1) * s + k


def _change(params: dict, win: Win):
    """The convolution's output change ``(values, natural start)`` for the edits of ``win``,
    or None where the output is computed from a slab of its input instead."""
    weight, left, d = params["weight"], params["left"], params["dilation"]
    k = weight.shape[-1]
    span = d * (k - 1)
    if win.point_delta is not None:  # first layer: the tap table of the one-column change
        taps = params.get("spaced_taps")
        if taps is None:  # (C_in, C_out * (span + 1)), taps d apart, flipped: made once
            spaced = weight.new_zeros(weight.shape[0], weight.shape[1], span + 1)
            spaced[:, :, ::d] = weight.flip(2)
            taps = params["spaced_taps"] = spaced.transpose(0, 1).reshape(weight.shape[1], -1)
        change = (win.point_delta @ taps).view(len(win.point_delta), weight.shape[0], -1)
        return change, win.start + left - span
    if d != 1 or span < win.width:
        return None
    flipped = params.get("flipped")
    if flipped is None:  # contiguous (C_in, C_out, k): made once, kept with the parameters
        flipped = params["flipped"] = weight.flip(2).transpose(0, 1).contiguous()
    change = win.values - windows(win.ref, win.start, win.width, win.seq)
    return F.conv_transpose1d(change, flipped), win.start + left - (k - 1)


def _add_at(slab: torch.Tensor, change: torch.Tensor, offset: torch.Tensor,
            max_runs: int = MAX_RUNS) -> None:  # fmt: skip
    """``slab[b, :, offset_b + j] += change[b, :, j]`` where that lies in the slab.

    Runs of at least ``MIN_RUN`` edits sharing an offset (edits in position order, or grouped
    by phase: :func:`phase_order`) take one slice addition each (at most ``MAX_RUNS``); the
    other edits (near the ends, where clamped windows give each position an offset of its
    own, or edits in no useful order) one aligned copy of their changes."""
    width, n = change.shape[-1], slab.shape[-1]
    runs, counts = torch.unique_consecutive(offset, return_counts=True)
    runs, counts = runs.tolist(), counts.tolist()
    if len(runs) > max_runs:  # the short runs' edits (and long runs beyond max_runs): aligned
        long = [i for i, c in enumerate(counts) if c >= MIN_RUN][:max_runs]
        if not long:
            slab += align(change, offset, torch.zeros_like(offset), n)
            return
        short = torch.ones(len(runs), dtype=torch.bool)
        short[long] = False
        rows = torch.repeat_interleave(short, torch.tensor(counts)).nonzero().squeeze(1)
        rows = rows.to(offset.device)
        slab.index_add_(0, rows, align(change[rows], offset[rows], torch.zeros_like(rows), n))
    else:
        long = range(len(runs))
    ends = list(itertools.accumulate(counts))
    for i in long:
        o, lo, hi = runs[i], ends[i] - counts[i], ends[i]
        a, b = max(o, 0), min(o + width, n)  # the part of the change inside the slab
        if a < b:
            # add_ on the view: `slab[...] += x` would copy the sum onto itself once more
            slab[lo:hi, :, a:b].add_(change[lo:hi, :, a - o : b - o])


def phase_order(positions: torch.Tensor, stride: int) -> torch.Tensor:
    """The order of edits (listed by position) that groups them by phase in a pool of
    ``stride``: by position modulo ``stride``, then as listed (a stable sort).

    A pool's slabs start at multiples of its stride, so where an edit's change falls in its
    slab depends on its position modulo the stride: grouped, the edits of a batch share that
    offset in a few long runs, also when the batch holds many positions of one sequence.

    Examples
    --------
    >>> phase_order(torch.tensor([0, 1, 2, 3, 4, 5]), 2).tolist()
    [0, 2, 4, 1, 3, 5]
    """
    if stride <= 1:
        return torch.arange(len(positions), device=positions.device)
    return torch.sort(positions % stride, stable=True).indices


def block_slab(block: Block, ops: dict, win: Win, padded, length: int, length_out: int):
    """The fused block's slab: its convolution's output on the pool's slab positions, as a
    :class:`Win` starting at the slab's first position (which may lie outside the layer), and
    what :func:`block_pool` needs: the pool's window ``(start, width)``, the convolution's
    length and the order the block sorted the edits in (None: the batch's own); None when the
    convolution adds no change.

    Where the batch's order gives more than ``MAX_RUNS`` runs of edits sharing the change's
    offset in their slabs (one sequence in a batch: the three edits of a position share an
    offset, and edits near the ends, whose pool windows are clamped, one each), the block
    sorts its edits by offset (at most :data:`MAX_OFFSETS` distinct): one slice addition per
    offset instead of an aligned copy per edit; :func:`block_pool` puts them back.

    ``padded`` is the convolution's reference output as (C, S, length + pads), padded on the
    left by the pool's padding (:func:`padded_reference`); ``length`` and ``length_out`` are
    the lengths of the convolution's and the pool's outputs."""
    conv, pool = ops[block.conv].params, ops[block.pool].params
    made = _change(conv, win)
    if made is None:
        return None
    change, natural = made
    start, width, first, n = pool_geometry(pool, natural, change.shape[-1], length_out)
    offset, seq, order, runs = natural - first, win.seq, None, MAX_RUNS
    if len(torch.unique_consecutive(offset)) > MAX_RUNS:
        distinct = torch.unique(offset)
        if len(distinct) <= MAX_OFFSETS:  # one slice addition per offset (MAX_OFFSETS)
            order, runs = torch.sort(offset, stable=True).indices, len(distinct)
            change, offset, first, seq = (
                v.index_select(0, order) for v in (change, offset, first, seq)
            )
    slab = windows(padded, first + pool["left"], n, seq)  # a copy: added to in place
    _add_at(slab, change, offset, runs)
    return Win(slab, first, padded, seq), (start, width, length, order)


def padded_reference(pool_params: dict, out: torch.Tensor, length_out: int) -> LazyRows:
    """The convolution's reference output ``out`` (S, C, L) as (C, S, L + pads), padded with
    zeros as the pool pads its input (the values there are replaced by the pool's fill), made
    when first read."""
    k, s, left = pool_params["kernel"], pool_params["stride"], pool_params["left"]
    right = max(0, (length_out - 1) * s + k - out.shape[-1] - left)
    return LazyRows(out, (left, right, 0.0))


def block_pool(params: dict, win: Win, geometry, out_row) -> Win:
    """Pool the slab ``win`` (its positions outside the input set to the pool's fill), in the
    batch's order (``geometry``: from :func:`block_slab`)."""
    start, width, length, order = geometry
    slab, first = win.values, win.start
    n = slab.shape[-1]
    low, high = (int(v) for v in first.aminmax())
    if low < 0 or high + n > length:  # padding positions (edits near the ends)
        # edits whose slabs meet the ends share few first positions (the pool's windows are
        # clamped to its ends): one fill per first position, on its rows and columns only
        edge = (first < 0) | (first > length - n)
        for at in torch.unique(first[edge]).tolist():
            rows = (first == at).nonzero().squeeze(1)
            if at < 0:
                slab[rows, :, :-at] = params["fill"]
            if at + n > length:
                slab[rows, :, max(0, length - at) :] = params["fill"]
    k, s = params["kernel"], params["stride"]
    values = strided_max(slab, k, s, width) if params["max"] else F.avg_pool1d(slab, k, s)
    if order is None:
        return Win(values, start, out_row, win.seq)
    back = torch.argsort(order)  # the edits sorted by offset in block_slab: back in order
    return Win(values.index_select(0, back), start, out_row, win.seq.index_select(0, back))


__all__ = [
    "MAX_OFFSETS", "MAX_RUNS", "MIN_RUN", "Block", "block_pool", "block_slab", "edit_order",
    "fused_blocks", "padded_reference", "phase_order", "pool_geometry",
]  # fmt: skip
