"""The operations the DeepLIFT engine knows, grouped by how DeepLIFT treats them.

Every operation of a captured model falls in one of these groups (anything else is refused):

- **mixing** layers (``nn.Conv1d``, ``nn.Linear``, ``F.conv1d``, ``F.linear``, ``@`` with a
  constant matrix): linear maps with weights; the Linear rule splits their output into
  positive and negative parts by the sign of each term ``w * dx`` (section 1.2).
- **linear** plumbing that passes the positive and negative parts through: reshapes, slicing,
  concatenation, sums and means over non-batch dimensions, average pooling, padding, dropout in
  eval mode, residual additions, subtraction, negation and multiplication or division by a
  constant (the parts swap where the constant is negative), eval-mode batch norm.
- **nonlinear** elementwise functions, one input each (Rescale or RevealCancel).
- **max pooling** (``nn.MaxPool1d``, ``nn.AdaptiveMaxPool1d`` and their functional forms): the
  DeepSHAP max rule.
- **bilinear** products of two input-dependent tensors (``*``, ``@``, ``torch.bmm``, ``torch.mm``,
  ``torch.einsum`` with two operands; the capture records a division ``a / b`` as
  ``a * reciprocal(b)`` and a layer norm as its pieces): the two-player Shapley rule
  (:mod:`.coupled`).
- **softmax** and log-softmax inside the network, over any dimension but the batch: the
  composed rule of :mod:`.coupled`.
- **output activations**: a final sigmoid is dropped (its input, the logit, is explained) and a
  final softmax or log-softmax becomes mean-centred logits (section 1.8).
- **shape queries** (``x.shape``, ``x.size(0)``, ``torch.zeros_like(x)``) that use an input only
  through its shape.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from cislens.attribution.capture import strided
from cislens.attribution.heads import profile_weighting
from cislens.errors import UnsupportedModelError


def _present(*objects):
    return tuple(obj for obj in objects if obj is not None)


def _fn(module, *names):
    return _present(*(getattr(module, name, None) for name in names))


# --- modules -------------------------------------------------------------------------------------

MIXING_MODULES = (nn.Conv1d, nn.Linear)
BATCHNORM_MODULES = (nn.BatchNorm1d,)
NONLINEAR_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Softplus,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.LogSigmoid,
    nn.Softsign,
    nn.Tanhshrink,
    nn.Softshrink,
    nn.Hardshrink,
    nn.Threshold,
)
IDENTITY_MODULES = _present(
    nn.Identity, nn.Dropout, nn.Dropout1d, nn.AlphaDropout, nn.FeatureAlphaDropout
)
LINEAR_MODULES = _present(
    nn.Flatten,
    nn.Unflatten,
    nn.AvgPool1d,
    nn.AdaptiveAvgPool1d,
    nn.ReflectionPad1d,
    nn.ReplicationPad1d,
    getattr(nn, "CircularPad1d", None),
)
CONSTANT_PAD_MODULES = (nn.ConstantPad1d,)  # includes nn.ZeroPad1d
MAXPOOL_MODULES = (nn.MaxPool1d, nn.AdaptiveMaxPool1d)
SOFTMAX_MODULES = (nn.Softmax, nn.LogSoftmax)

# --- functions -----------------------------------------------------------------------------------

NONLINEAR_FUNCTIONS = (
    _fn(
        F,
        "relu",
        "relu_",
        "relu6",
        "leaky_relu",
        "leaky_relu_",
        "rrelu",
        "elu",
        "elu_",
        "selu",
        "celu",
        "gelu",
        "silu",
        "mish",
        "softplus",
        "sigmoid",
        "tanh",
        "hardtanh",
        "hardtanh_",
        "hardsigmoid",
        "hardswish",
        "logsigmoid",
        "softsign",
        "tanhshrink",
        "softshrink",
        "hardshrink",
        "threshold",
    )
    + _fn(
        torch,
        "relu",
        "relu_",
        "selu",
        "sigmoid",
        "sigmoid_",
        "tanh",
        "tanh_",
        "exp",
        "exp_",
        "exp2",
        "expm1",
        "log",
        "log1p",
        "sqrt",
        "rsqrt",
        "abs",
        "square",
        "clamp",
        "clip",
        "clamp_min",
        "clamp_max",
        "reciprocal",
        "reciprocal_",
    )
    + _fn(torch.special, "expit")
    + (profile_weighting,)  # l * softmax(l).detach(): Rescale per element, as bpnet-lite does
)
NONLINEAR_METHODS = frozenset(
    {
        "relu",
        "relu_",
        "sigmoid",
        "sigmoid_",
        "tanh",
        "tanh_",
        "exp",
        "exp_",
        "exp2",
        "expm1",
        "log",
        "log1p",
        "sqrt",
        "rsqrt",
        "abs",
        "abs_",
        "square",
        "clamp",
        "clamp_",
        "clip",
        "clamp_min",
        "clamp_max",
        "reciprocal",
        "reciprocal_",
    }
)
RECIPROCAL_FUNCTIONS = _fn(torch, "reciprocal", "reciprocal_")
RECIPROCAL_METHODS = frozenset({"reciprocal", "reciprocal_"})
SIGMOID_FUNCTIONS = _fn(torch, "sigmoid") + _fn(F, "sigmoid") + _fn(torch.special, "expit")
SOFTMAX_FUNCTIONS = _fn(F, "softmax", "log_softmax") + _fn(torch, "softmax", "log_softmax")
SOFTMAX_METHODS = frozenset({"softmax", "log_softmax"})

MIXING_FUNCTIONS = _fn(F, "conv1d", "conv2d", "linear") + _fn(torch, "conv1d", "conv2d")
MATMUL_FUNCTIONS = (operator.matmul, *_fn(torch, "matmul", "mm", "bmm"))
MATMUL_METHODS = frozenset({"matmul", "mm", "bmm"})
EINSUM_FUNCTIONS = _fn(torch, "einsum")
# linear maps with non-negative coefficients and no offset, in these modes (bicubic has negative
# weights and is refused)
INTERPOLATE_FUNCTIONS = _fn(F, "interpolate", "upsample")
INTERPOLATE_MODULES = (nn.Upsample,)
LINEAR_INTERPOLATION = frozenset(
    {"nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area"}
)
BATCHNORM_FUNCTIONS = _fn(F, "batch_norm")
MAXPOOL_FUNCTIONS = _fn(F, "max_pool1d", "adaptive_max_pool1d") + _fn(
    torch, "max_pool1d", "adaptive_max_pool1d"
)
DROPOUT_FUNCTIONS = _fn(F, "dropout", "dropout1d", "alpha_dropout", "feature_alpha_dropout")

# linear with non-negative coefficients; the data argument is the first one (a list for cat/stack)
LINEAR_FUNCTIONS = (
    _fn(
        torch,
        "flatten",
        "reshape",
        "squeeze",
        "unsqueeze",
        "transpose",
        "swapaxes",
        "swapdims",
        "permute",
        "movedim",
        "moveaxis",
        "t",
        "sum",
        "mean",
        "cumsum",
        "chunk",
        "split",
        "tensor_split",
        "unbind",
        "narrow",
        "select",
        "index_select",
        "roll",
        "flip",
        "tile",
        "repeat_interleave",
        "broadcast_to",
        "clone",
        "avg_pool1d",
        "adaptive_avg_pool1d",
    )
    + _fn(F, "avg_pool1d", "adaptive_avg_pool1d", "pad")
    + (operator.getitem, strided)  # strided: as_strided as the capture records it
)
CONCAT_FUNCTIONS = _fn(torch, "cat", "concat", "concatenate", "stack", "hstack")
# x.masked_fill(mask, value) with a constant mask: x where the mask is False (linear), a constant
# (e.g. -inf in attention scores) where it is True
MASKED_FILL_FUNCTIONS = _fn(torch, "masked_fill")
MASKED_FILL_METHODS = frozenset({"masked_fill", "masked_fill_"})
LINEAR_METHODS = frozenset(
    {
        "view",
        "reshape",
        "flatten",
        "unflatten",
        "squeeze",
        "squeeze_",
        "unsqueeze",
        "unsqueeze_",
        "transpose",
        "transpose_",
        "swapaxes",
        "permute",
        "movedim",
        "t",
        "contiguous",
        "sum",
        "mean",
        "cumsum",
        "chunk",
        "split",
        "tensor_split",
        "unbind",
        "narrow",
        "select",
        "index_select",
        "expand",
        "expand_as",
        "view_as",
        "reshape_as",
        "repeat",
        "repeat_interleave",
        "broadcast_to",
        "tile",
        "flip",
        "roll",
        "clone",
    }
)
# dtype/device casts and detach: identity (the engine picks the dtype and the device)
IDENTITY_METHODS = frozenset({"float", "double", "to", "type", "type_as", "cpu", "cuda", "detach"})
REDUCTIONS = frozenset({"sum", "mean"})

ADD_FUNCTIONS = (operator.add, operator.iadd, *_fn(torch, "add"))
SUB_FUNCTIONS = (operator.sub, operator.isub, *_fn(torch, "sub", "subtract"))
RSUB_FUNCTIONS = _fn(torch, "rsub")
MUL_FUNCTIONS = (operator.mul, operator.imul, *_fn(torch, "mul", "multiply"))
DIV_FUNCTIONS = (operator.truediv, operator.itruediv, *_fn(torch, "div", "divide", "true_divide"))
NEG_FUNCTIONS = (operator.neg, *_fn(torch, "neg", "negative"))
POW_FUNCTIONS = (operator.pow, *_fn(torch, "pow"))
ADD_METHODS = frozenset({"add", "add_"})
SUB_METHODS = frozenset({"sub", "sub_", "subtract"})
MUL_METHODS = frozenset({"mul", "mul_", "multiply"})
DIV_METHODS = frozenset({"div", "div_", "divide", "true_divide"})
NEG_METHODS = frozenset({"neg", "neg_", "negative"})
POW_METHODS = frozenset({"pow", "pow_"})

# shape queries: a tensor argument is used only through its shape, dtype or device
SHAPE_ATTRIBUTES = frozenset({"shape", "dtype", "device", "ndim", "is_cuda"})
TRANSPOSE_ATTRIBUTES = frozenset({"T", "mT"})
SHAPE_METHODS = frozenset(
    {
        "size",
        "dim",
        "numel",
        "ndimension",
        "get_device",
        "new_zeros",
        "new_ones",
        "new_full",
        "new_empty",
    }
)
SHAPE_FUNCTIONS = _fn(torch, "zeros_like", "ones_like", "full_like", "empty_like", "numel")
GETATTR = builtins.getattr
# methods whose second argument is used only through its shape
SHAPE_ARGUMENT_METHODS = frozenset({"expand_as", "view_as", "reshape_as", "type_as", "to"})

_SYMBOLS = {
    operator.add: "+",
    operator.iadd: "+=",
    operator.sub: "-",
    operator.isub: "-=",
    operator.mul: "*",
    operator.imul: "*=",
    operator.truediv: "/",
    operator.itruediv: "/=",
    operator.matmul: "@",
    operator.pow: "**",
    operator.neg: "unary -",
    operator.getitem: "[]",
    operator.floordiv: "//",
    operator.mod: "%",
}


def function_name(target) -> str:
    """A readable name for an fx call_function target, e.g. ``torch.sigmoid`` or ``*``."""
    if target in _SYMBOLS:
        return f"operator {_SYMBOLS[target]!r}"
    name = getattr(target, "__name__", repr(target))
    if getattr(F, name, None) is target:
        return f"F.{name}"
    if getattr(torch, name, None) is target:
        return f"torch.{name}"
    short = name.removeprefix("special_")
    if getattr(torch.special, short, None) is target:
        return f"torch.special.{short}"
    return f"{getattr(target, '__module__', None) or '?'}.{name}"


def module_class_name(module: nn.Module) -> str:
    """``nn.ReLU`` for torch modules, the qualified class name otherwise."""
    cls = type(module)
    if cls.__module__.startswith("torch.nn"):
        return f"nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


# --- the op record ----------------------------------------------------------------------------

INPUT, CONST, SHAPE = "input", "const", "shape"
MIXING, LINEAR, SCALE = "mixing", "linear", "scale"
NONLINEAR, MAXPOOL, OUTPUT_ACT = "nonlinear", "maxpool", "output_act"
BILINEAR, SOFTMAX = "bilinear", "softmax"
RESCALE, REVEAL_CANCEL, GENOMICS_DEFAULT = "rescale", "reveal_cancel", "genomics_default"
RULES = (RESCALE, REVEAL_CANCEL, GENOMICS_DEFAULT)


_REMEDY = (
    " Rewrite that part of the model with supported operations (see "
    "cislens.attribution.deeplift_engine docs), or use a method without per-layer rules "
    "(ism, integrated_gradients)."
)

Lookup = Callable[[fx.Node], Any]


@dataclass(eq=False)
class Op:
    """One captured operation and what DeepLIFT needs to know about it."""

    node: fx.Node
    kind: str
    label: str
    real: Callable[[Lookup], Any]
    var_inputs: tuple[fx.Node, ...] = ()
    signs: tuple[int, ...] = ()
    lin: Callable[[Lookup], Any] | None = None
    sign_of: Callable[[Lookup], Any] | None = None
    weight: Callable[[Lookup], torch.Tensor] | None = None
    mix: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    pool: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
    family: str | None = None
    reshape_like: bool = False
    activation: str | None = None
    dim: int | None = None
    rule: str | None = None
    split_out: bool = False
    keep_x: bool = False
    relu: bool = False  # a plain ReLU: its derivative is the step (z > 0), no autograd needed
    # a closed-form Rescale multiplier (x_in, r_in, x_out, r_out) -> m, exact for all values
    secant: Callable[..., torch.Tensor] | None = None
    # bilinear ops: the two operand nodes (the same node twice for x * x) and
    # prod(lookup, u, v), the op evaluated with u and v in the operands' places
    operands: tuple[fx.Node, fx.Node] | None = None
    prod: Callable[[Lookup, Any, Any], Any] | None = None


def refuse(label: str, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"DeepLIFT cannot handle {label}: {why}.{_REMEDY}")
