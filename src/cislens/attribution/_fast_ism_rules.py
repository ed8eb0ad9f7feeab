"""Which operations of a captured model fast ISM computes on windows, and with what parameters.

A captured graph (:func:`cislens.attribution.capture.capture`) holds torch-level calls: ``nn``
layers appear as ``F.conv1d``, ``F.batch_norm``, ``F.relu`` ..., tensor methods by name, and
parameters as literal tensors. :func:`classify` decides, for a node whose tensor inputs are
windowed (B, C, L) layers, whether its output can be computed from those windows alone, and
returns a :class:`WindowOp` saying how, or a sentence saying why not:

- ``conv``: ``conv1d`` with stride 1, any zero padding (``'same'``, ``'valid'``, ints), any
  dilation and groups, a constant weight;
- ``pool``: ``max_pool1d`` (any padding and ``ceil_mode``, dilation 1) and ``avg_pool1d``
  (zero padding counted in the average, no ``ceil_mode``);
- ``positionwise``: calls whose output at a position depends on the inputs at that position
  only: elementwise functions and arithmetic (``relu``, ``gelu``, ``x * sigmoid(x)``, residual
  sums, constants per channel or per position), eval ``batch_norm``, ``dropout`` with
  ``training=False``, ``prelu``, a softmax, reduction (with ``keepdim``) or ``cat`` over
  channels;
- ``crop``: ``x[:, a:b, c:d]`` with constant bounds (and ``...``);
- ``pad``: ``F.pad`` with a constant on the length (and channel) axis;
- ``reduce``: ``mean`` / ``sum`` over the length axis, ``adaptive_avg_pool1d(x, 1)``: the
  reference's value plus the window's change (a full tensor, not a window).

Everything else is computed on full-length tensors, which is always exact.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx

CONV, POOL, CROP, PAD, REDUCE = "conv", "pool", "crop", "pad", "reduce"
POSITIONWISE = "positionwise"

# calls that read only the shape, dtype and device of their tensor arguments
FROM_SHAPE_METHODS = frozenset(
    {"size", "dim", "new_ones", "new_zeros", "new_full", "new_empty", "new_tensor"}
)
FROM_SHAPE_FUNCTIONS = frozenset(
    {torch.zeros_like, torch.ones_like, torch.full_like, torch.empty_like}
)


@dataclass
class WindowOp:
    """How a node is computed from windows: ``kind``, its windowed input and parameters."""

    kind: str
    source: fx.Node | None = None
    params: dict = field(default_factory=dict)


@dataclass
class Context:
    """What classification knows: the nodes whose values are windows, and every node's shape."""

    windowed: set
    shapes: dict

    def window(self, value) -> bool:
        return isinstance(value, fx.Node) and value in self.windowed

    def shape(self, node) -> tuple | None:
        return self.shapes.get(node)


def _leaves(value, kind) -> list:
    found: list = []
    fx.node.map_aggregate(value, lambda v: found.append(v) if isinstance(v, kind) else None)
    return found


def _bind(node: fx.Node, names: tuple, defaults: dict) -> dict | None:
    """Arguments by name (None when the call does not fit ``names``)."""
    if len(node.args) > len(names) or any(key not in names for key in node.kwargs):
        return None
    bound = dict(defaults)
    bound.update(zip(names, node.args, strict=False))
    bound.update(node.kwargs)
    return bound


def _int(value) -> int | None:
    """An int given as ``3``, ``(3,)`` or ``[3]``; None otherwise."""
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sole_window(node: fx.Node, bound: dict, ctx: Context) -> str | None:
    """None when the bound ``input`` is the node's only node argument and a 3-D window."""
    source = bound.get("input")
    others = [n for n in _leaves((node.args, node.kwargs), fx.Node) if n is not source]
    if not ctx.window(source) or others:
        return "its tensor arguments are not all windowed layers"
    if ctx.shape(node) is None or len(ctx.shape(node)) != 3:
        return "its output is not a (N, C, L) layer"
    return None


def _conv(node: fx.Node, ctx: Context) -> WindowOp | str:
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    b = _bind(node, names, {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1})
    if b is None:
        return "its arguments are not those of conv1d"
    weight, bias = b["weight"], b["bias"]
    why = _sole_window(node, b, ctx)
    if why or not isinstance(weight, torch.Tensor) or weight.ndim != 3:
        return why or "its weight is not a constant (C_out, C_in, k) tensor"
    if bias is not None and not isinstance(bias, torch.Tensor):
        return "its bias is not a constant"
    stride, dilation, groups = _int(b["stride"]), _int(b["dilation"]), b["groups"]
    if stride != 1:
        return f"a conv1d with stride {b['stride']} (windows need stride 1)"
    if dilation is None or not isinstance(groups, int):
        return "a conv1d with unusual dilation or groups"
    span = dilation * (weight.shape[-1] - 1)
    padding = b["padding"]
    left = {"same": span // 2, "valid": 0}.get(padding) if isinstance(padding, str) else None
    left = _int(padding) if left is None else left
    if left is None:
        return f"a conv1d with padding {padding!r}"
    params = {"weight": weight, "bias": bias, "left": left, "dilation": dilation, "groups": groups}
    return WindowOp(CONV, b["input"], params)


def _pool(node: fx.Node, ctx: Context, is_max: bool) -> WindowOp | str:
    if is_max:
        names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                 "return_indices")  # fmt: skip
        defaults = {"dilation": 1, "return_indices": False}
    else:
        names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
        defaults = {"count_include_pad": True}
    b = _bind(node, names, {"stride": None, "padding": 0, "ceil_mode": False, **defaults})
    if b is None:
        return "its arguments are not those of a pool"
    why = _sole_window(node, b, ctx)
    if why:
        return why
    k, padding = _int(b["kernel_size"]), _int(b["padding"])
    stride = k if b["stride"] in (None, (), []) else _int(b["stride"])
    if k is None or stride is None or padding is None:
        return "a pool with unusual kernel size, stride or padding"
    if is_max and (_int(b["dilation"]) != 1 or b["return_indices"]):
        return "a max_pool1d with dilation or return_indices"
    if not is_max and (b["ceil_mode"] or (padding and not b["count_include_pad"])):
        return "an avg_pool1d with ceil_mode or count_include_pad=False"
    params = {"kernel": k, "stride": stride, "left": padding, "max": is_max,
              "fill": -math.inf if is_max else 0.0}  # fmt: skip
    return WindowOp(POOL, b["input"], params)


def _crop(node: fx.Node, ctx: Context) -> WindowOp | str:
    source, index = node.args
    shape = ctx.shape(source)
    index = index if isinstance(index, tuple) else (index,)
    if index.count(Ellipsis) == 1:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (4 - len(index)) + index[at + 1 :]
    index = index + (slice(None),) * (3 - len(index))
    bounds = [v for s in index if isinstance(s, slice) for v in (s.start, s.stop, s.step)]
    if (
        _leaves(index, fx.Node)
        or len(index) != 3
        or not all(isinstance(s, slice) for s in index)
        or not all(v is None or isinstance(v, int) for v in bounds)
    ):
        return "an index that is not a slice of channels and positions with constant bounds"
    batch, channels, positions = index
    if batch != slice(None) or positions.step not in (None, 1) or not ctx.window(source):
        return "an index that slices the batch or steps over positions"
    offset, stop, _ = positions.indices(shape[-1])
    if stop <= offset or ctx.shape(node) is None or len(ctx.shape(node)) != 3:
        return "an empty slice"
    return WindowOp(CROP, source, {"channels": channels, "offset": offset})


def _pad(node: fx.Node, ctx: Context) -> WindowOp | str:
    b = _bind(node, ("input", "pad", "mode", "value"), {"mode": "constant", "value": None})
    if b is None or _sole_window(node, b, ctx):
        return "its arguments are not those of F.pad on a windowed layer"
    pad = b["pad"]
    if (
        b["mode"] != "constant"
        or not isinstance(pad, list | tuple)
        or len(pad) not in (2, 4)
        or not all(isinstance(p, int) and p >= 0 for p in pad)
    ):
        return "a pad that is not a constant pad of the length and channel axes"
    value = 0.0 if b["value"] is None else b["value"]
    return WindowOp(PAD, b["input"], {"left": pad[0], "channels": tuple(pad[2:4]), "value": value})


def _reduction(node: fx.Node, ctx: Context, mean: bool | None) -> WindowOp | str:
    """mean / sum (``mean`` True / False) or another reduction (None: channels only)."""
    b = _bind(node, ("input", "dim", "keepdim", "dtype"), {"dim": None, "keepdim": False})
    if b is None:
        return "its arguments are not those of a reduction"
    shape = ctx.shape(b["input"])
    dims = b["dim"] if isinstance(b["dim"], list | tuple) else (b["dim"],)
    if (
        not ctx.window(b["input"])
        or b.get("dtype") is not None
        or not dims
        or not all(isinstance(d, int) and -3 <= d < 3 for d in dims)
        or _leaves((node.args[1:], node.kwargs), fx.Node)
    ):
        return "a reduction over the whole tensor, with a dtype, or over unusual axes"
    dims = tuple(sorted({d % 3 for d in dims}))
    if 0 in dims:
        return "a reduction over the batch axis"
    if dims == (1,):
        if not b["keepdim"]:
            return "a reduction over channels without keepdim"
        return WindowOp(POSITIONWISE, None, {"constants": {}})
    if mean is None:
        return "a reduction over positions other than a sum or mean"
    count = math.prod(shape[d] for d in dims)
    params = {"dims": dims, "keepdim": bool(b["keepdim"]), "mean": mean, "count": count}
    return WindowOp(REDUCE, b["input"], params)


def _adaptive_mean(node: fx.Node, ctx: Context) -> WindowOp | str:
    source, size = (*node.args, node.kwargs.get("output_size"))[:2]
    if _int(size) != 1 or not ctx.window(source) or len(node.args) + len(node.kwargs) != 2:
        return "an adaptive_avg_pool1d to more than one position"
    params = {"dims": (2,), "keepdim": True, "mean": True, "count": ctx.shape(source)[-1]}
    return WindowOp(REDUCE, source, params)


def _over_channels(node: fx.Node, ctx: Context, key: str = "dim") -> WindowOp | str:
    """softmax / log_softmax / cat: position-wise when along the channel axis."""
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get(key, node.kwargs.get("axis"))
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    tensors = tensors if isinstance(tensors, list | tuple) else [tensors]
    if not isinstance(dim, int) or dim % 3 != 1:
        return f"`{_name(node)}` along an axis other than the channels"
    if not all(ctx.window(t) for t in tensors) or len(ctx.shape(node) or ()) != 3:
        return "its tensor arguments are not all windowed layers"
    return WindowOp(POSITIONWISE, None, {"constants": {}})


def _eval_only(node: fx.Node, ctx: Context, names: tuple, training) -> WindowOp | str:
    """dropout (a no-op with training=False), batch_norm with running statistics, prelu
    (``training`` None: no such flag)."""
    flag = "train" if "train" in names else "training"
    b = _bind(node, names, {} if training is None else {flag: training})
    if b is None:
        return "its arguments are not the usual ones"
    if training is not None and b[flag] is not False:
        return f"`{_name(node)}` in training mode (batch statistics or random masks)"
    if _sole_window(node, b, ctx):
        return "its tensor arguments are not all windowed layers"
    return WindowOp(POSITIONWISE, None, {"constants": {}})


def _elementwise(node: fx.Node, ctx: Context) -> WindowOp | str:
    """Elementwise calls: windowed inputs plus constants per channel or per position."""
    shape = ctx.shape(node)
    nodes = _leaves((node.args, node.kwargs), fx.Node)
    if shape is None or len(shape) != 3:
        return "its output is not a (N, C, L) layer"
    length = shape[-1]
    if not all(ctx.window(n) and ctx.shape(n)[-1] == length for n in nodes):
        return "its tensor arguments are not all windowed layers of the same length"
    constants = {}
    for tensor in _leaves((node.args, node.kwargs), torch.Tensor):
        if tensor.ndim > 3 or (tensor.ndim == 3 and tensor.shape[0] != 1):
            return f"a constant of shape {tuple(tensor.shape)} (not per channel or position)"
        if tensor.ndim and tensor.shape[-1] == length != 1:  # per position: sliced per window
            constants[id(tensor)] = tensor.reshape(-1, length).contiguous()
        elif tensor.ndim and tensor.shape[-1] != 1:
            return f"a constant of shape {tuple(tensor.shape)} (not per channel or position)"
    return WindowOp(POSITIONWISE, None, {"constants": constants})


def _name(node: fx.Node) -> str:
    return node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "?")


def _present(module, names) -> list:
    return [getattr(module, name) for name in names if hasattr(module, name)]


_ELEMENTWISE = (
    "relu", "sigmoid", "tanh", "exp", "log", "log1p", "expm1", "abs", "neg", "square", "sqrt",
    "rsqrt", "reciprocal", "sin", "cos", "erf", "sign", "clamp", "clip", "pow", "add", "sub",
    "mul", "div", "true_divide", "maximum", "minimum", "where", "rsub",
)  # fmt: skip
_INPLACE = tuple(name + "_" for name in _ELEMENTWISE)  # capture replays them out of place
_ACTIVATIONS = (
    "relu", "relu_", "relu6", "gelu", "silu", "elu", "elu_", "selu", "celu", "leaky_relu",
    "leaky_relu_", "softplus", "mish", "hardtanh", "hardtanh_", "hardswish", "hardsigmoid",
    "logsigmoid", "softsign", "tanhshrink", "sigmoid", "tanh", "threshold", "hardshrink",
    "softshrink",
)  # fmt: skip
_Rule = Callable[[fx.Node, Context], "WindowOp | str"]
_DROPOUT = ("input", "p", "training", "inplace")
_BATCH_NORM = ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum",
               "eps")  # fmt: skip

FUNCTION_RULES: dict[object, _Rule] = {
    **{f: _elementwise for f in _present(torch, _ELEMENTWISE + _INPLACE)},
    **{f: _elementwise for f in _present(F, _ACTIVATIONS)},
    **{f: _elementwise for f in _present(operator, ("add", "sub", "mul", "truediv", "neg", "pow"))},
    torch.conv1d: _conv,
    F.max_pool1d: lambda n, c: _pool(n, c, True),
    torch.max_pool1d: lambda n, c: _pool(n, c, True),
    F.avg_pool1d: lambda n, c: _pool(n, c, False),
    operator.getitem: _crop,
    F.pad: _pad,
    torch.mean: lambda n, c: _reduction(n, c, True),
    torch.sum: lambda n, c: _reduction(n, c, False),
    torch.amax: lambda n, c: _reduction(n, c, None),
    torch.amin: lambda n, c: _reduction(n, c, None),
    torch.logsumexp: lambda n, c: _reduction(n, c, None),
    torch.adaptive_avg_pool1d: _adaptive_mean,
    F.adaptive_avg_pool1d: _adaptive_mean,
    F.softmax: _over_channels,
    F.log_softmax: _over_channels,
    torch.softmax: _over_channels,
    torch.log_softmax: _over_channels,
    **{f: _over_channels for f in _present(torch, ("cat", "concat", "concatenate"))},
    F.dropout: lambda n, c: _eval_only(n, c, _DROPOUT, True),
    F.dropout1d: lambda n, c: _eval_only(n, c, _DROPOUT, True),
    F.alpha_dropout: lambda n, c: _eval_only(n, c, _DROPOUT, False),
    F.feature_alpha_dropout: lambda n, c: _eval_only(n, c, _DROPOUT, False),
    torch.dropout: lambda n, c: _eval_only(n, c, ("input", "p", "train"), True),
    F.batch_norm: lambda n, c: _eval_only(n, c, _BATCH_NORM, False),
    torch.prelu: lambda n, c: _eval_only(n, c, ("input", "weight"), None),
}
"""Rules for ``call_function`` nodes, by target."""

METHOD_RULES: dict[str, _Rule] = {
    **{name: _elementwise for name in _ELEMENTWISE + _INPLACE},
    **{name: _elementwise for name in ("float", "double", "contiguous", "clone", "detach")},
    "mean": lambda n, c: _reduction(n, c, True),
    "sum": lambda n, c: _reduction(n, c, False),
    "amax": lambda n, c: _reduction(n, c, None),
    "amin": lambda n, c: _reduction(n, c, None),
    "logsumexp": lambda n, c: _reduction(n, c, None),
    "softmax": _over_channels,
    "log_softmax": _over_channels,
}
"""Rules for ``call_method`` nodes, by method name."""


def classify(node: fx.Node, ctx: Context) -> WindowOp | str:
    """How ``node`` (with windowed tensor inputs) is computed on windows, or why it cannot be.

    Examples
    --------
    >>> from cislens.attribution.capture import capture
    >>> net = torch.nn.Sequential(torch.nn.Conv1d(4, 2, 3, stride=2), torch.nn.ReLU())
    >>> graph = capture(net, torch.zeros(1, 4, 9)).graph
    >>> x, conv = list(graph.nodes)[:2]
    >>> classify(conv, Context({x}, {x: (2, 4, 9), conv: (2, 2, 4)}))
    'a conv1d with stride (2,) (windows need stride 1)'
    """
    if node.op == "call_function":
        rule = FUNCTION_RULES.get(node.target)
    elif node.op == "call_method":
        rule = METHOD_RULES.get(node.target)
    else:
        rule = None
    if rule is None:
        return f"`{_name(node)}` is not a position-local operation"
    return rule(node, ctx)


__all__ = [
    "CONV", "CROP", "FROM_SHAPE_FUNCTIONS", "FROM_SHAPE_METHODS", "FUNCTION_RULES", "METHOD_RULES",
    "PAD", "POOL", "POSITIONWISE", "REDUCE",
    "Context", "WindowOp", "classify",
]  # fmt: skip
