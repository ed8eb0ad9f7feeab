"""Window arithmetic of fast ISM: the values of a layer on ``[start, start + width)`` per edit.

A :class:`Win` holds, for a batch of single-base edits of reference sequences (each edit names
its sequence), the values of a (B, C, L) layer on a window of positions (a common width for the
batch, a start per edit); the rest of the layer equals its sequence's reference. The functions
below compute the window of a node's output from the windows of its inputs (see
:mod:`cislens.attribution._fast_ism_rules` for which captured operations they serve and
:mod:`cislens.attribution.fast_ism` for the whole method).
Windows are shifted to stay inside their layer, so the width can be common to the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx

from cislens.attribution._fast_ism_rules import CONV, CROP, PAD, POOL, POSITIONWISE, REDUCE
from cislens.attribution.capture import call


class LazyRows:
    """A layer's reference rows as contiguous (C, S, L), copied from its (S, C, L) value when
    first read (:func:`rows_of`), padded by ``pad = (left, right, value)`` on the length axis
    if given; ``shape`` (padding included) is known without the copy."""

    __slots__ = ("_pad", "_rows", "_source", "shape")

    def __init__(self, source: torch.Tensor, pad: tuple | None = None):
        self._source, self._rows, self._pad = source, None, pad
        extra = 0 if pad is None else pad[0] + pad[1]
        self.shape = (source.shape[1], source.shape[0], source.shape[2] + extra)

    def get(self) -> torch.Tensor:
        if self._rows is None:
            rows = self._source.transpose(0, 1)
            if self._pad is not None:
                left, right, value = self._pad
                rows = F.pad(rows, (left, right), value=value)
            self._rows, self._source = rows.contiguous(), None
        return self._rows


def rows_of(ref) -> torch.Tensor:
    """The tensor of reference rows: ``ref`` itself, or a :class:`LazyRows`' copy."""
    return ref.get() if isinstance(ref, LazyRows) else ref


@dataclass
class Win:
    """Values of a (B, C, L) layer on positions ``[start, start + width)`` per edit."""

    values: torch.Tensor  # (B, C, width)
    start: torch.Tensor  # (B,) long
    ref: torch.Tensor | LazyRows  # (C, S, L) contiguous: the layer's reference values of S seqs
    seq: torch.Tensor  # (B,) long: each edit's sequence (its row of ``ref``)
    point_delta: torch.Tensor | None = None  # (B, C): the one-column change (the input only)

    @property
    def width(self) -> int:
        return self.values.shape[-1]


def windows(ref: torch.Tensor, start: torch.Tensor, width: int, seq=None) -> torch.Tensor:
    """The slices ``ref[:, start_b : start_b + width]`` of a contiguous (C, L) tensor, or
    ``ref[:, seq_b, start_b : start_b + width]`` of a contiguous (C, S, L) one, as
    (B, C, width) (a copy).

    The (C, S, L) layout puts the S sequences end to end along the length, so a window of
    sequence s starting at p is the window of the (C, S * L) tensor starting at ``s * L + p``:
    one strided view and one ``index_select`` serve edits of several sequences.

    Examples
    --------
    >>> windows(torch.arange(6.0).view(1, 6), torch.tensor([0, 3]), 2).tolist()
    [[[0.0, 1.0]], [[3.0, 4.0]]]
    >>> two = torch.arange(8.0).view(1, 2, 4)  # (C, S, L): sequences [0..3] and [4..7]
    >>> windows(two, torch.tensor([1, 0]), 2, torch.tensor([0, 1])).tolist()
    [[[1.0, 2.0]], [[4.0, 5.0]]]
    """
    ref = rows_of(ref)
    if ref.ndim == 3:
        channels, count, length = ref.shape
        if seq is not None and count > 1:
            start = start + seq * length
        length = count * length
    else:
        channels, length = ref.shape
    view = ref.as_strided((length - width + 1, channels, width), (1, length, 1))
    return view.index_select(0, start)


MAX_RUNS = 16
"""Up to this many runs of edits with a common offset in their slabs, a gather splices windows
by one slice copy per run (a pool's windows, edits in position order); more take a scatter,
unless the windows are large (:data:`RUN_ELEMENTS`)."""

RUN_ELEMENTS = 4096
"""More runs than :data:`MAX_RUNS` still take one slice copy each while the windows hold at
least this many elements per run: a slice copy costs a few microseconds whatever its size,
a scatter or a selection over the whole batch about a nanosecond per element (DeepSTARR-like
on one sequence: 747 edits of 256-channel windows, ~30 runs near the ends, where one
``torch.where`` over the batch cost about 0.5 ms)."""


def gather(values, start, padded: torch.Tensor, left: int, first: torch.Tensor, n: int, seq):
    """Slabs (B, C, n) at positions ``first + [0, n)`` of a layer whose windows are ``values``
    (B, C, w) at ``start`` (B,) of sequences ``seq`` (B,), the reference elsewhere.

    ``padded`` is the contiguous reference (C, S, L + pads), padded by ``left`` positions on
    the left. Windows may lie anywhere relative to their slabs, also wholly outside.
    """
    width = values.shape[-1]
    if n == width and torch.equal(first, start):
        return values
    channels = values.shape[1]
    offset = start - first  # where each window starts in its slab
    low, high = (int(v) for v in offset.aminmax())
    if high <= 0 and low + width >= n:  # every window covers its slab: no reference needed
        if low == high:
            return values[:, :, -low : n - low]
        index = torch.arange(n, device=first.device) - offset[:, None]
        return values.gather(2, index[:, None, :].expand(-1, channels, -1))
    slab = windows(padded, first + left, n, seq)
    inside = low >= 0 and high + width <= n  # every window inside its slab
    if inside and low == high:  # one offset (convolutions): one slice copy
        slab[:, :, low : low + width] = values
        return slab
    runs, counts = torch.unique_consecutive(offset, return_counts=True)
    if len(runs) <= max(MAX_RUNS, values.numel() // RUN_ELEMENTS):
        # runs of equal offsets (edits in position order): one slice copy each, of the part
        # of the window inside its slab
        ends = counts.cumsum(0).tolist()
        for o, lo, hi in zip(runs.tolist(), [0, *ends[:-1]], ends, strict=True):
            a, b = max(o, 0), min(o + width, n)
            if a < b:
                slab[lo:hi, :, a:b] = values[lo:hi, :, a - o : b - o]
        return slab
    if inside:
        index = offset[:, None] + torch.arange(width, device=first.device)
        return slab.scatter_(2, index[:, None, :].expand(-1, channels, -1), values)
    # windows over their slabs' edges, or outside them (crops): splice where they overlap
    rel = torch.arange(n, device=first.device) - offset[:, None]
    overlap = (rel >= 0) & (rel < width)
    index = rel.clamp(0, width - 1)[:, None, :].expand(-1, channels, -1)
    return torch.where(overlap[:, None, :], values.gather(2, index), slab)


def materialize(value):
    """A full-length (B, C, L) tensor from a :class:`Win`; anything else unchanged."""
    if not isinstance(value, Win):
        return value
    _, channels, width = value.values.shape
    ref = rows_of(value.ref)  # (C, S, L): each edit's sequence's row, one selection
    full = windows(ref, torch.zeros_like(value.start), ref.shape[-1], value.seq)
    index = value.start[:, None] + torch.arange(width, device=full.device)
    full.scatter_(2, index[:, None, :].expand(-1, channels, -1), value.values)
    return full


def prepare(op, source: torch.Tensor, out: torch.Tensor):
    """What an operation needs from the reference run: the padded input rows of a convolution
    or pool, the channel-sliced input rows of a crop (``source`` and ``out`` are (S, C, L);
    the rows are (C, S, L'), see :func:`windows`)."""
    # made when first read: the first layer's table lookup, the transposed convolutions and
    # the fused blocks (:mod:`~cislens.attribution._fast_ism_fused`) never read them
    if op.kind == CONV:
        span = op.params["dilation"] * (op.params["weight"].shape[-1] - 1)
        left = op.params["left"]
        right = out.shape[-1] + span - source.shape[-1] - left
        return LazyRows(source, (left, right, 0.0))
    if op.kind == POOL:
        k, s, left = op.params["kernel"], op.params["stride"], op.params["left"]
        right = max(0, (out.shape[-1] - 1) * s + k - source.shape[-1] - left)
        return LazyRows(source, (left, right, op.params["fill"]))
    if op.kind == CROP:  # read only by windows that do not cover their slabs: made then
        return LazyRows(source[:, op.params["channels"]])
    if op.kind == REDUCE:
        return {}  # the reference's window sums, by width (filled by _reduce)
    return None


def _taps(table, edit, start, left: int, span: int, d: int, width: int | None = None):
    """First-layer change (B, C_out, width) of output windows at ``start`` from the per-tap
    changes ``table`` (B, C_out, k) of single-column edits at ``edit`` (the general case)."""
    k = table.shape[-1]
    width = k if width is None else width
    out_pos = start[:, None] + torch.arange(width, device=table.device)  # (B, width)
    offset = edit[:, None] + left - out_pos  # kernel tap times d
    valid = (offset >= 0) & (offset <= span) & (offset % d == 0)
    tap = (offset // d).clamp(0, k - 1)
    change = table.gather(2, tap[:, None, :].expand(-1, table.shape[1], -1))
    return change * valid[:, None, :]


def _conv(params: dict, win: Win, out_row: torch.Tensor, padded: torch.Tensor) -> Win:
    weight, bias, left = params["weight"], params["bias"], params["left"]
    d, groups = params["dilation"], params["groups"]
    k = weight.shape[-1]
    span = d * (k - 1)
    length_out = out_row.shape[-1]
    width = min(win.width + span, length_out)
    start = (win.start + left - span).clamp(0, length_out - width)
    seq = win.seq
    if win.point_delta is not None and groups == 1:  # first layer: a table lookup
        base = windows(out_row, start, width, seq)  # (B, C_out, width), a copy
        if d == 1 and width == k:
            # Away from the ends the output window starts `span` before the edit, so output
            # position i uses kernel tap k - 1 - i: the change is the flipped tap table.
            # One product added in place: (B, C_in) changes times the (C_in, C_out * k) taps.
            taps = params.get("taps")
            if taps is None:  # made on the first batch, kept with the plan's parameters
                taps = params["taps"] = weight.flip(2).transpose(0, 1).reshape(len(weight[0]), -1)
            base.view(len(base), -1).addmm_(win.point_delta, taps)
            rows = (start != win.start + left - span).nonzero().squeeze(1)
            if len(rows):  # windows shifted inside the sequence near its ends: redo them
                table = torch.einsum("ock,bc->bok", weight, win.point_delta[rows])
                change = _taps(table, win.start[rows], start[rows], left, span, d)
                base[rows] = windows(out_row, start[rows], width, seq[rows]).add_(change)
            return Win(base, start, out_row, seq)
        table = torch.einsum("ock,bc->bok", weight, win.point_delta)  # (B, C_out, k)
        change = _taps(table, win.start, start, left, span, d, width)
        return Win(base.add_(change), start, out_row, seq)
    if d == 1 and groups == 1 and span >= win.width:
        return Win(_spread(params, win, out_row, start, width), start, out_row, seq)
    slab = gather(win.values, win.start, padded, left, start - left, width + span, seq)
    values = F.conv1d(slab, weight, bias, 1, 0, d, groups)
    return Win(values, start, out_row, seq)


def _spread(params: dict, win: Win, out_row, start, width: int) -> torch.Tensor:
    """Output windows as the reference plus the convolution of the input's change alone.

    A convolution is linear, so ``conv(ref + change) = conv(ref) + conv(change)`` (the bias is
    in the reference). The change is ``win.width`` wide and spreads over ``win.width + span``
    outputs; a transposed convolution computes that with ``win.width * k`` products per channel
    pair where recomputing the output window takes ``(win.width + span) * k``: about half when
    the kernel is as wide as the window (Basset's 11- and 7-wide layers after pooling).
    """
    change = win.values - windows(win.ref, win.start, win.width, win.seq)
    weight, left = params["weight"], params["left"]
    k = weight.shape[-1]
    flipped = params.get("flipped")
    if flipped is None:  # contiguous (C_in, C_out, k): made once, kept with the parameters
        flipped = params["flipped"] = weight.flip(2).transpose(0, 1).contiguous()
    spread = F.conv_transpose1d(change, flipped)  # (B, C_out, w + k - 1)
    natural = win.start + left - (k - 1)  # the output position of spread[..., 0]
    base = windows(out_row, start, width, win.seq)
    if width != spread.shape[-1]:  # the layer is narrower than the spread: align every row
        return base.add_(align(spread, natural, start, width))
    shifted = (natural != start).nonzero().squeeze(1)
    if len(shifted):  # windows shifted to stay inside the layer (edits near its ends)
        spread[shifted] = align(spread[shifted], natural[shifted], start[shifted], width)
    return base.add_(spread)


def align(spread: torch.Tensor, natural, start, width: int) -> torch.Tensor:
    """``spread`` (B, C, w) whose column 0 is at position ``natural`` (B,), on the positions
    ``start + [0, width)`` (0 where it has no value).

    Row b is the slice of the zero-padded ``spread[b]`` starting at ``start - natural``: one
    ``index_select`` of width-wide slices of the flattened padding (as :func:`windows`)."""
    batch, channels, w = spread.shape
    shift = (start - natural).clamp(-width, w)  # beyond these: all zeros anyway
    padded = F.pad(spread, (width, width)).reshape(batch * channels, -1)
    row = padded.shape[1]
    rows = torch.arange(batch * channels, device=start.device).view(batch, channels)
    index = (rows * row + (width + shift)[:, None]).reshape(-1)
    view = padded.as_strided((padded.numel() - width + 1, width), (1, 1))
    return view.index_select(0, index).view(batch, channels, width)


MAX_TAPS = 8
"""Max pools of at most this kernel run as :func:`strided_max`, wider ones as ``max_pool1d``."""


def strided_max(slab: torch.Tensor, k: int, s: int, width: int) -> torch.Tensor:
    """``F.max_pool1d(slab, k, s)`` (no padding; ``width`` outputs) as the maximum of its
    ``k`` strided taps.

    The same values (a maximum is exact and both propagate NaN), 1.3-3x faster on the small
    windows of fast ISM, where ``max_pool1d``'s per-output loop costs more than the taps'
    element-wise maxima.

    Examples
    --------
    >>> x = torch.tensor([[[1.0, 5.0, 2.0, 0.0, 3.0, 4.0]]])
    >>> strided_max(x, 2, 2, 3).tolist(), F.max_pool1d(x, 2, 2).tolist()
    ([[[5.0, 2.0, 4.0]]], [[[5.0, 2.0, 4.0]]])
    """
    if k > MAX_TAPS:
        return F.max_pool1d(slab, k, s)
    span = (width - 1) * s + 1
    out = slab[:, :, 0:span:s]
    if k == 1:
        return out.contiguous()
    for tap in range(1, k):
        out = torch.maximum(out, slab[:, :, tap : tap + span : s])
    return out


def _pool(params: dict, win: Win, out_row: torch.Tensor, padded: torch.Tensor) -> Win:
    k, s, left = params["kernel"], params["stride"], params["left"]
    length_out = out_row.shape[-1]
    w = win.width
    # outputs whose pooling window meets [p, p + w): p + left = r (mod s) sets how many
    width = min(max((r + w - 1) // s - (r - k) // s for r in range(s)), length_out)
    first = torch.div(win.start + left - k, s, rounding_mode="floor") + 1
    start = first.clamp(0, length_out - width)
    slab = gather(
        win.values, win.start, padded, left, start * s - left, (width - 1) * s + k, win.seq
    )
    if params["max"]:
        values = strided_max(slab, k, s, width)
    else:
        values = F.avg_pool1d(slab, k, s)
    return Win(values, start, out_row, win.seq)


def _crop(params: dict, win: Win, out_row: torch.Tensor, source: torch.Tensor) -> Win:
    offset = params["offset"]
    values = win.values[:, params["channels"]]
    length_out = out_row.shape[-1]
    width = min(win.width, length_out)
    start = (win.start - offset).clamp(0, length_out - width)
    slab = gather(values, win.start, source, 0, start + offset, width, win.seq)
    return Win(slab, start, out_row, win.seq)


def _pad(params: dict, win: Win, out_row: torch.Tensor) -> Win:
    values = win.values
    if any(params["channels"]):
        values = F.pad(values, (0, 0, *params["channels"]), value=params["value"])
    return Win(values, win.start + params["left"], out_row, win.seq)


def _reduce(params: dict, win: Win, out: torch.Tensor, sums: dict) -> torch.Tensor:
    # the reference's sum plus the window's change: the positions outside did not move
    width = win.width
    channels, count, length = win.ref.shape
    if width not in sums:  # the reference's sums over every window of this width: (S, L', C)
        rows = rows_of(win.ref)
        ones = rows.new_ones(1, 1, width)
        flat = rows.reshape(channels * count, 1, length)
        sums[width] = F.conv1d(flat, ones).view(channels, count, -1).permute(1, 2, 0).contiguous()
    change = win.values.sum(2, keepdim=True) - sums[width][win.seq, win.start][:, :, None]
    change = change.sum(params["dims"], keepdim=params["keepdim"])
    if params["mean"]:
        change = change / params["count"]
    return out.index_select(0, win.seq) + change


def _union(wins: list[Win], length: int) -> tuple[torch.Tensor, int]:
    if len(wins) == 1:
        return wins[0].start, wins[0].width
    low = torch.stack([w.start for w in wins]).amin(0)
    high = torch.stack([w.start + w.width for w in wins]).amax(0)
    width = min(length, int((high - low).max()))
    return low.clamp(0, length - width), width


def _positionwise(params: dict, node: fx.Node, env: dict, out_row: torch.Tensor) -> Win:
    """Run a position-wise call on the union of its inputs' windows."""
    args = fx.node.map_arg(node.args, env.__getitem__)
    kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
    wins: list[Win] = []
    fx.node.map_aggregate((args, kwargs), lambda v: wins.append(v) if isinstance(v, Win) else None)
    wins = list({id(w): w for w in wins}.values())
    start, width = _union(wins, out_row.shape[-1])
    constants = params["constants"]

    def aligned(value):
        if isinstance(value, Win):
            return gather(value.values, value.start, value.ref, 0, start, width, value.seq)
        if isinstance(value, torch.Tensor) and id(value) in constants:
            return windows(constants[id(value)], start, width)  # a position-dependent constant
        return value

    args, kwargs = fx.node.map_aggregate((args, kwargs), aligned)
    return Win(call(node, args, kwargs), start, out_row, wins[0].seq)


def apply(op, node: fx.Node, env: dict, out: torch.Tensor, out_row: torch.Tensor, aux):
    """The value of windowed ``node`` in a run of edits: a :class:`Win`, or for a reduction
    over the length axis a full tensor. ``out`` is the node's reference value, ``out_row``
    the contiguous row ``out[0]``, ``aux`` what :func:`prepare` made."""
    if op.kind == POSITIONWISE:
        return _positionwise(op.params, node, env, out_row)
    win = env[op.source]
    if op.kind == CONV:
        return _conv(op.params, win, out_row, aux)
    if op.kind == POOL:
        return _pool(op.params, win, out_row, aux)
    if op.kind == CROP:
        return _crop(op.params, win, out_row, aux)
    if op.kind == PAD:
        return _pad(op.params, win, out_row)
    if op.kind == REDUCE:
        return _reduce(op.params, win, out, aux)
    raise AssertionError(f"unknown window operation {op.kind!r}")


__all__ = [
    "MAX_TAPS",
    "LazyRows",
    "Win",
    "align",
    "apply",
    "gather",
    "materialize",
    "prepare",
    "rows_of",
    "strided_max",
    "windows",
]
