"""Fast exact ISM: recompute only the window of each layer that a substitution changes.

The model is traced with :mod:`torch.fx`. The reference sequence is run once and every node's
output is cached. A batch of single-base edits of that sequence is then pushed through the graph
as *windows*: for each edit, the values of a layer on a slice ``[start, start + width)`` of its
positions (a common width for the whole batch), the rest being the cached reference values.

- The first convolution's change is a table lookup: ``W[:, :, j] @ (new base - old base)``.
- A convolution (stride 1, zero padding, any dilation) recomputes its output window from an
  input slab ``width + (k - 1) * dilation`` wide, gathered from the cached input with the edit's
  window spliced in; windows are shifted to stay inside the sequence, so widths stay common.
- Position-wise layers (ReLU, eval-mode BatchNorm, Dropout, ...) run on the window only.
- Max / average pools (no padding) recompute the pooling windows that overlap the change.
- ``x + y`` (residual connections) works on the union of the two windows.
- A global average pool updates the cached mean with the window's change.
- Any other node (Flatten, Linear, ...) gets full-length tensors (the window written into the
  cached reference) and runs as usual, so the head is computed exactly as in the naive path.

Which path runs is decided by the model's structure only (:func:`plan_fast_ism`); the reason is
logged. Results equal naive ISM up to floating-point rounding (tests check 1e-5 in float64).
"""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

logger = logging.getLogger(__name__)

_POINTWISE_MODULES = (
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softplus,
    nn.Identity, nn.Dropout, nn.BatchNorm1d,
)
_POINTWISE_FUNCTIONS = (torch.relu, F.relu, torch.sigmoid, torch.tanh, torch.exp, F.gelu, F.elu)
_BINARY = (operator.add, torch.add, operator.sub, torch.sub, operator.mul, torch.mul)


class FastISMUnsupported(ValueError):
    """The model's structure does not allow the window-restricted ISM path."""


@dataclass
class _Win:
    """Values of a (B, C, L) layer on positions ``[start, start + width)`` per edit."""

    values: torch.Tensor  # (B, C, width)
    start: torch.Tensor  # (B,) long
    ref: torch.Tensor  # (1, C, L): the layer's reference output
    point_delta: torch.Tensor | None = None  # (B, C): the one-column change (the input only)

    @property
    def width(self) -> int:
        return self.values.shape[-1]


@dataclass
class FastISMPlan:
    """A traced model ready for window-restricted ISM (see :func:`plan_fast_ism`)."""

    graph_module: fx.GraphModule
    modules: dict
    windowed: list  # names of the nodes computed on windows
    dependent: set  # names of the nodes that depend on the input
    reason: str


def _local_module(module: nn.Module) -> str | None:
    """None when ``module`` can run on windows, else why not."""
    if type(module) is nn.Conv1d:
        if module.stride != (1,) or module.padding_mode != "zeros":
            return "a Conv1d with stride != 1 or non-zero padding mode"
        return None
    if type(module) in (nn.MaxPool1d, nn.AvgPool1d):
        padding = module.padding if isinstance(module.padding, int) else module.padding[0]
        dilation = getattr(module, "dilation", 1)
        if getattr(module, "return_indices", False):
            return "a MaxPool1d with return_indices"
        if padding != 0 or dilation not in (1, (1,)):
            return f"a {type(module).__name__} with padding or dilation"
        if type(module) is nn.AvgPool1d and module.ceil_mode:
            return "an AvgPool1d with ceil_mode"
        return None
    if type(module) in _POINTWISE_MODULES:
        if type(module) in (nn.BatchNorm1d, nn.Dropout) and module.training:
            return f"a {type(module).__name__} in train mode"
        return None
    return f"a {type(module).__name__}, which is not a position-local layer"


def plan_fast_ism(model: nn.Module) -> FastISMPlan:
    """Trace ``model`` and check that its first layers allow window-restricted ISM.

    Raises :class:`FastISMUnsupported` naming the reason (tracing failed, several inputs, or a
    first layer that is not a convolution or another position-local layer).

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 1))
    >>> plan_fast_ism(net.eval()).windowed
    ['_0', '_1']
    """
    try:
        gm = fx.symbolic_trace(model)
    except Exception as error:  # any tracing failure means "use the naive path"
        raise FastISMUnsupported(f"torch.fx cannot trace the model ({error})") from error
    modules = dict(gm.named_modules())
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise FastISMUnsupported(f"the model takes {len(placeholders)} inputs, not 1")
    windowed: set = {placeholders[0]}
    order = []
    for node in gm.graph.nodes:
        if node.op not in ("call_module", "call_function", "call_method"):
            continue
        sources = [a for a in node.all_input_nodes if a in windowed]
        if not sources:
            continue
        if _node_local(node, modules, windowed) is None:
            order.append(node.name)
            module = modules.get(node.target) if node.op == "call_module" else None
            if type(module) is not nn.AdaptiveAvgPool1d:  # a global mean ends the windows
                windowed.add(node)
        elif placeholders[0] in sources:
            why = _node_local(node, modules, windowed)
            raise FastISMUnsupported(f"the input goes to `{node.target}`, {why}")
    if not order:
        raise FastISMUnsupported("no layer can be computed on windows")
    stop = [n.name for n in gm.graph.nodes if n.op != "output" and n.name not in order
            and any(a.name in order for a in n.all_input_nodes)]
    reason = (f"{len(order)} layers run on windows; full-length from "
              f"{', '.join(stop) if stop else 'the output'} on")
    dependent = {placeholders[0].name}
    for node in gm.graph.nodes:
        if any(a.name in dependent for a in node.all_input_nodes):
            dependent.add(node.name)
    return FastISMPlan(gm, modules, order, dependent, reason)


def _node_local(node: fx.Node, modules: dict, windowed: set) -> str | None:
    if node.op == "call_module":
        module = modules[node.target]
        if type(module) is nn.AdaptiveAvgPool1d and module.output_size in (1, (1,)):
            return None
        return _local_module(module)
    if node.op == "call_function" and node.target in _POINTWISE_FUNCTIONS:
        if len(node.args) == 1 and not node.kwargs:
            return None
    if node.op == "call_function" and node.target in _BINARY and len(node.args) == 2:
        a, b = node.args
        if not node.kwargs and all(
            (isinstance(x, fx.Node) and x in windowed) or isinstance(x, (int, float))
            for x in (a, b)
        ):
            return None
    return f"`{node.target}` is not a position-local operation"


def _gather(win: _Win, padded: torch.Tensor, left: int, first: torch.Tensor, n: int):
    """Slabs (B, C, n) at input positions ``first + [0, n)`` with the edit's window spliced in.

    ``padded`` is the contiguous reference (C, L + pads) padded by ``left`` positions on the left.
    """
    if n == win.width and torch.equal(first, win.start):
        return win.values
    channels = padded.shape[0]
    slab = _windows(padded, first + left, n)  # (B, C, n), a copy
    offset = win.start - first  # where each window starts in its slab
    low, high = (int(v) for v in offset.aminmax())
    if low >= 0 and high + win.width <= n:  # every window inside its slab
        if low == high:  # one offset (convolutions): one slice copy
            slab[:, :, low : low + win.width] = win.values
            return slab
        index = offset[:, None] + torch.arange(win.width, device=first.device)
        return slab.scatter_(2, index[:, None, :].expand(-1, channels, -1), win.values)
    fits = (offset >= 0) & (offset + win.width <= n)
    rows = fits.nonzero().squeeze(1)
    if len(rows):  # windows wholly inside their slabs (pools follow the stride grid): a scatter
        index = offset[rows, None] + torch.arange(win.width, device=first.device)
        index = index[:, None, :].expand(-1, channels, -1)
        slab[rows] = slab[rows].scatter_(2, index, win.values[rows])
    rows = (~fits).nonzero().squeeze(1)
    if len(rows):  # near the sequence ends, windows overlap their slabs' edges
        rel = torch.arange(n, device=first.device) - offset[rows, None]
        inside = (rel >= 0) & (rel < win.width)
        index = rel.clamp(0, win.width - 1)[:, None, :].expand(-1, channels, -1)
        spliced = win.values[rows].gather(2, index)
        slab[rows] = torch.where(inside[:, None, :], spliced, slab[rows])
    return slab


def _windows(ref: torch.Tensor, start: torch.Tensor, width: int) -> torch.Tensor:
    """The slices ``ref[:, start_b : start_b + width]`` of a (C, L) tensor, as (B, C, width)."""
    ref = ref.contiguous()
    channels, length = ref.shape
    view = ref.as_strided((length - width + 1, channels, width), (1, length, 1))
    return view.index_select(0, start)


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


def _materialize(value):
    if not isinstance(value, _Win):
        return value
    batch, channels, width = value.values.shape
    full = value.ref.expand(batch, -1, -1).clone()
    index = value.start[:, None] + torch.arange(width, device=full.device)
    full.scatter_(2, index[:, None, :].expand(-1, channels, -1), value.values)
    return full


def _conv(module: nn.Conv1d, win: _Win, ref_out: torch.Tensor, padded) -> _Win:
    (k,), (d,) = module.kernel_size, module.dilation
    span = d * (k - 1)
    length_out = ref_out.shape[-1]
    if module.padding == "same":
        left = span // 2
    elif module.padding == "valid":
        left = 0
    else:
        left = module.padding[0]
    width = min(win.width + span, length_out)
    start = (win.start + left - span).clamp(0, length_out - width)
    if win.point_delta is not None and module.groups == 1:  # first layer: a table lookup
        base = _windows(ref_out[0], start, width)  # (B, C_out, width), a copy
        if d == 1 and width == k:
            # Away from the ends the output window starts `span` before the edit, so output
            # position i uses kernel tap k - 1 - i: the change is the flipped tap table.
            change = torch.einsum("ock,bc->bok", module.weight.flip(2), win.point_delta)
            rows = (start != win.start + left - span).nonzero().squeeze(1)
            if len(rows):  # windows shifted inside the sequence near its ends
                table = change[rows].flip(2)
                change[rows] = _taps(table, win.start[rows], start[rows], left, span, d)
            return _Win(base.add_(change), start, ref_out)
        table = torch.einsum("ock,bc->bok", module.weight, win.point_delta)  # (B, C_out, k)
        change = _taps(table, win.start, start, left, span, d, width)
        return _Win(base.add_(change), start, ref_out)
    slab = _gather(win, padded, left, start - left, width + span)
    values = F.conv1d(slab, module.weight, module.bias, 1, 0, d, module.groups)
    return _Win(values, start, ref_out)


def _pool(module: nn.Module, win: _Win, ref_out: torch.Tensor, padded) -> _Win:
    k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
    s = module.stride if isinstance(module.stride, int) else module.stride[0]
    s = s or k
    length_out = ref_out.shape[-1]
    w = win.width
    width = max((r + w - 1) // s - (r - k) // s for r in range(s))
    width = min(width, length_out)
    first = torch.div(win.start - k, s, rounding_mode="floor") + 1
    start = first.clamp(0, length_out - width)
    slab = _gather(win, padded, 0, start * s, (width - 1) * s + k)
    if type(module) is nn.MaxPool1d:
        values = F.max_pool1d(slab, k, s)
    else:
        values = F.avg_pool1d(slab, k, s)
    return _Win(values, start, ref_out)


def _rewindow(win: _Win, start: torch.Tensor, width: int) -> torch.Tensor:
    return _gather(win, win.ref[0].contiguous(), 0, start, width)


class _Runner:
    """Runs one reference sequence, then batches of its edits, through a plan."""

    def __init__(self, plan: FastISMPlan, x: torch.Tensor):
        self.plan = plan
        self.local = set(plan.windowed)
        self.ref: dict = {}
        self.padded: dict = {}
        env: dict = {}
        for node in plan.graph_module.graph.nodes:
            if node.op == "placeholder":
                env[node.name] = x
            elif node.op == "output":
                self.ref_output = fx.node.map_arg(node.args[0], lambda n: env[n.name])
            else:
                env[node.name] = self._call(node, env)
        self.ref = env
        for node in plan.graph_module.graph.nodes:  # padded inputs of convolutions and pools
            if node.name in self.local and node.op == "call_module":
                module = plan.modules[node.target]
                source = env[node.args[0].name][0]
                if type(module) is nn.Conv1d:
                    (k,), (d,) = module.kernel_size, module.dilation
                    span = d * (k - 1)
                    if module.padding == "same":
                        pads = (span // 2, span - span // 2)
                    elif module.padding == "valid":
                        pads = (0, 0)
                    else:
                        pads = (module.padding[0],) * 2
                    self.padded[node.name] = F.pad(source, pads).contiguous()
                elif type(module) in (nn.MaxPool1d, nn.AvgPool1d):
                    k = module.kernel_size
                    k = k if isinstance(k, int) else k[0]
                    s = module.stride if isinstance(module.stride, int) else module.stride[0]
                    s = s or k
                    need = (env[node.name].shape[-1] - 1) * s + k - source.shape[-1]
                    self.padded[node.name] = F.pad(
                        source, (0, max(0, need)), value=float("-inf")
                    ).contiguous()

    def _call(self, node: fx.Node, env: dict):
        args = fx.node.map_arg(node.args, lambda n: env[n.name])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n.name])
        if node.op == "get_attr":
            value = self.plan.graph_module
            for part in node.target.split("."):
                value = getattr(value, part)
            return value
        args = tuple(_materialize(a) for a in args)
        kwargs = {key: _materialize(v) for key, v in kwargs.items()}
        if node.op == "call_module":
            return self.plan.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        return getattr(args[0], node.target)(*args[1:], **kwargs)

    def run(self, positions: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """Model outputs for the edits ``x[:, positions] = columns`` (B,) and (B, 4)."""
        x = self.ref[next(iter(self.plan.graph_module.graph.nodes)).name]
        old = x[0][:, positions].T
        env: dict = {}
        for node in self.plan.graph_module.graph.nodes:
            if node.op == "placeholder":
                env[node.name] = _Win(columns[:, :, None], positions, x, columns - old)
            elif node.op == "output":
                return fx.node.map_arg(node.args[0], lambda n: _materialize(env[n.name]))
            elif node.name not in self.plan.dependent:
                env[node.name] = self.ref[node.name]
            elif node.name in self.local:
                env[node.name] = self._local(node, env)
            else:
                env[node.name] = self._call(node, env)
        raise RuntimeError("the traced graph has no output")

    def _local(self, node: fx.Node, env: dict):
        ref_out = self.ref[node.name]
        if node.op == "call_module":
            module = self.plan.modules[node.target]
            win = env[node.args[0].name]
            if type(module) is nn.Conv1d:
                return _conv(module, win, ref_out, self.padded[node.name])
            if type(module) in (nn.MaxPool1d, nn.AvgPool1d):
                return _pool(module, win, ref_out, self.padded[node.name])
            if type(module) is nn.AdaptiveAvgPool1d:  # global mean: update the cached one
                idx = win.start[:, None] + torch.arange(win.width, device=win.start.device)
                ref_part = win.ref[0][:, idx].permute(1, 0, 2)
                change = (win.values - ref_part).sum(-1, keepdim=True) / win.ref.shape[-1]
                return ref_out + change
            return _Win(module(win.values), win.start, ref_out)
        if node.target in _POINTWISE_FUNCTIONS:
            win = env[node.args[0].name]
            return _Win(node.target(win.values), win.start, ref_out)
        a, b = (env[x.name] if isinstance(x, fx.Node) else x for x in node.args)
        wins = [v for v in (a, b) if isinstance(v, _Win)]
        if len(wins) == 1:
            win = wins[0]
            args = [win.values if v is win else v for v in (a, b)]
            return _Win(node.target(*args), win.start, ref_out)
        length = ref_out.shape[-1]
        lo = torch.minimum(a.start, b.start)
        hi = torch.maximum(a.start + a.width, b.start + b.width)
        width = min(length, int((hi - lo).max()))
        start = lo.clamp(0, length - width)
        return _Win(node.target(_rewindow(a, start, width), _rewindow(b, start, width)),
                    start, ref_out)


def fast_ism_deltas(plan, X, *, first, stop, batch_size, device, dtype, resolved, bar, delta):
    """Fill ``delta`` (N, 4, stop - first) with ``f(edit) - f(x)`` using ``plan``."""
    eye = torch.eye(4, dtype=dtype, device=device)
    with torch.inference_mode():
        for example in range(X.shape[0]):
            x = X[example : example + 1].to(device=device, dtype=dtype)
            runner = _Runner(plan, x)
            reference = resolved.select(runner.ref_output).to("cpu", dtype)[0]
            bar.update(1)
            keep = (X[example, :, first:stop] == 0).T  # observed bases are no edits
            positions, bases = torch.nonzero(keep, as_tuple=True)
            positions = positions + first
            for lo in range(0, len(positions), batch_size):
                pos, base = positions[lo : lo + batch_size], bases[lo : lo + batch_size]
                out = runner.run(pos.to(device), eye[base.to(device)])
                values = resolved.select(out).to("cpu", dtype) - reference
                delta[example, base, pos - first] = values
                bar.update(len(pos))


def choose_fast(model: nn.Module, fast: bool | None) -> FastISMPlan | None:
    """The plan for ``ism(fast=...)``: None means the naive path; the choice is logged."""
    if fast is False:
        logger.info("ism: naive path (fast=False)")
        return None
    try:
        plan = plan_fast_ism(model)
    except FastISMUnsupported as error:
        if fast:
            raise FastISMUnsupported(
                f"fast=True but the window-restricted ISM cannot handle this model: {error}; "
                "pass fast=None to fall back to the naive path."
            ) from None
        logger.info("ism: naive path (%s)", error)
        return None
    logger.info("ism: fast path (%s)", plan.reason)
    return plan


__all__ = ["FastISMPlan", "FastISMUnsupported", "choose_fast", "fast_ism_deltas", "plan_fast_ism"]
