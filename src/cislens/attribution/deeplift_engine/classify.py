"""Classify one captured node into a DeepLIFT :class:`~.ops.Op`, or refuse it by name."""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from cislens.attribution.deeplift_engine import ops as O
from cislens.attribution.deeplift_engine import products, rules
from cislens.attribution.deeplift_engine.nodes import (
    Call,
    is_shape_query,
    map_args,
    nodes_in,
    runner,
    shape_uses,
    zero_like,
)
from cislens.attribution.deeplift_engine.ops import (
    CONST,
    MAXPOOL,
    MIXING,
    NONLINEAR,
    SCALE,
    SHAPE,
    Op,
)


def classify(node: fx.Node, modules, deps, label: str) -> Op:
    """Classify a call node whose inputs are already classified in ``deps``."""
    shape_only = shape_uses(node)
    inputs = node.all_input_nodes
    var = [n for n in dict.fromkeys(inputs) if deps[n] == "var" and n not in shape_only]
    run = runner(node, modules)
    c = Call(node, label, run, var)
    if is_shape_query(node) or not var:
        dependent = any(deps[n] != "const" for n in inputs)
        return Op(node, SHAPE if dependent else CONST, label, real=c.real)
    if node.op == "call_module":
        return _classify_module(c, modules[node.target])
    if node.op == "call_method":
        return _classify_method(c)
    return _classify_function(c, deps)


_RESHAPE_METHODS = frozenset({"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous"})
_RESHAPE_FUNCTIONS = (
    torch.flatten,
    torch.reshape,
    torch.squeeze,
    torch.unsqueeze,
    operator.getitem,
)


def _classify_module(c: Call, module: nn.Module) -> Op:
    x = c.first()
    if isinstance(module, O.MIXING_MODULES):
        if isinstance(module, nn.Conv1d):
            mix = lambda v, w: module._conv_forward(v, w, None)  # noqa: E731
        else:
            mix = lambda v, w: F.linear(v, w)  # noqa: E731
        family = "conv" if isinstance(module, nn.Conv1d) else "linear"
        return c.op(MIXING, mix=mix, family=family, weight=lambda lookup: module.weight)
    if isinstance(module, O.BATCHNORM_MODULES):
        if not module.track_running_stats or module.running_var is None:
            raise c.refuse(
                "batch norm without running statistics normalises with the "
                "statistics of the batch, which mixes inputs and references; build it "
                "with track_running_stats=True and train it"
            )
        return _batchnorm(c, x, lambda lookup: (module.running_var, module.weight, module.eps))
    if isinstance(module, O.NONLINEAR_MODULES):
        activation = "sigmoid_candidate" if isinstance(module, nn.Sigmoid) else None
        return c.op(NONLINEAR, activation=activation, relu=type(module) is nn.ReLU)
    if isinstance(module, O.IDENTITY_MODULES):
        return c.identity()
    if isinstance(module, O.CONSTANT_PAD_MODULES):
        return c.linear(lin=lambda lookup: F.pad(lookup(x), module.padding, value=0.0))
    if isinstance(module, O.LINEAR_MODULES):
        return c.linear(reshape_like=isinstance(module, nn.Flatten))
    if isinstance(module, O.MAXPOOL_MODULES):
        if module.return_indices:
            raise c.refuse("max pooling that returns indices is not supported")
        if isinstance(module, nn.MaxPool1d):
            pool = lambda z: rules.max_pool_indices(  # noqa: E731
                z,
                module.kernel_size,
                module.stride,
                module.padding,
                module.dilation,
                module.ceil_mode,
            )
        else:
            pool = lambda z: F.adaptive_max_pool1d_with_indices(z, module.output_size)  # noqa: E731
        return c.op(MAXPOOL, pool=pool)
    if isinstance(module, O.SOFTMAX_MODULES):
        return _softmax(c, module.dim, isinstance(module, nn.LogSoftmax))
    if isinstance(module, O.INTERPOLATE_MODULES):
        return _interpolation(c, module.mode)
    if isinstance(module, nn.modules.batchnorm._NormBase | nn.GroupNorm):
        why = "normalisation by statistics of the activations has no exact DeepLIFT rule"
    elif isinstance(module, nn.MultiheadAttention | nn.TransformerEncoderLayer | nn.Transformer):
        why = (
            "attention modules are not decomposed here; write attention with functional calls "
            "(matmul, softmax), which have exact rules"
        )
    elif isinstance(module, nn.RNNBase):
        why = "recurrent layers have no DeepLIFT rule in this engine"
    else:
        why = "this layer has no DeepLIFT rule in this engine (it is never treated as linear)"
    raise c.refuse(why)


def _batchnorm(c: Call, x: fx.Node, stats) -> Op:
    def scale(lookup, ndim):
        var, weight, eps = stats(lookup)
        s = torch.rsqrt(var + eps)
        if weight is not None:
            s = s * weight
        return s.detach().view(1, -1, *([1] * (ndim - 2)))

    def lin(lookup):
        v = lookup(x)
        return v * scale(lookup, v.ndim)

    return c.op(
        SCALE, var_inputs=(x,), lin=lin, sign_of=lambda lookup: scale(lookup, lookup(x).ndim)
    )


def _softmax(c: Call, dim, log: bool) -> Op:
    """A softmax: the output activation if it is the model's last op, else a ``softmax`` op
    (decided by :func:`.graph.build_graph`)."""
    c.first()
    if not isinstance(dim, int):
        raise c.refuse("softmax needs an explicit integer dim")
    if dim == 0:
        raise c.refuse("it normalises over the batch dimension 0, mixing the sequences of a batch")
    family = "log_softmax" if log else "softmax"
    return c.op(NONLINEAR, activation="softmax_candidate", dim=int(dim), family=family)


def _interpolation(c: Call, mode) -> Op:
    c.first()
    if mode not in O.LINEAR_INTERPOLATION:
        raise c.refuse(
            f"interpolation mode {mode!r} has weights of both signs or is not a fixed linear "
            f"map; use one of {sorted(O.LINEAR_INTERPOLATION)}"
        )
    return c.linear()


def _masked_fill(c: Call) -> Op:
    """``x.masked_fill(mask, value)``: linear in ``x`` with the filled value as an offset (the
    difference stream is zero where the mask is set)."""
    c.first("its input (the mask and the value must not depend on it)")
    node = c.node

    def lin(lookup):
        args, kwargs = list(map_args(node.args, lookup)), dict(map_args(node.kwargs, lookup))
        if len(args) > 2:
            args[2] = 0.0
        else:
            kwargs["value"] = 0.0
        return c.run(tuple(args), kwargs)

    return c.linear(lin=lin)


def _nonlinear(c: Call, sigmoid: bool, relu: bool, reciprocal: bool) -> Op:
    c.first()
    return c.op(
        NONLINEAR,
        activation="sigmoid_candidate" if sigmoid else None,
        relu=relu,
        secant=rules.reciprocal_secant if reciprocal else None,
    )


def _check_reduction(c: Call, dims):
    if dims is None or dims == 0 or (isinstance(dims, tuple | list) and 0 in dims):
        raise c.refuse(
            "it reduces over the batch dimension 0, mixing the sequences of a batch; "
            "reduce over dims >= 1 (e.g. x.sum(dim=-1))"
        )


def _classify_method(c: Call) -> Op:
    name = c.node.target
    if name in O.NONLINEAR_METHODS:
        sigmoid = name.rstrip("_") == "sigmoid"
        return _nonlinear(c, sigmoid, name in ("relu", "relu_"), name in O.RECIPROCAL_METHODS)
    if name in O.SOFTMAX_METHODS:
        return _softmax(c, c.arg(1, "dim"), name == "log_softmax")
    if name in O.IDENTITY_METHODS:
        return c.identity()
    if name in O.MASKED_FILL_METHODS:
        return _masked_fill(c)
    if name in O.LINEAR_METHODS:
        c.first()
        if name in O.REDUCTIONS:
            _check_reduction(c, c.arg(1, "dim"))
        return c.linear(reshape_like=name in _RESHAPE_METHODS)
    if name in O.MATMUL_METHODS:
        return _matmul(c)
    for kind, names in _ARITH_METHODS.items():
        if name in names:
            return _arithmetic(c, kind)
    raise c.refuse(f"the tensor method {name!r} has no DeepLIFT rule in this engine{_hint(name)}")


_ARITH_METHODS = {
    "add": O.ADD_METHODS,
    "sub": O.SUB_METHODS,
    "mul": O.MUL_METHODS,
    "div": O.DIV_METHODS,
    "neg": O.NEG_METHODS,
    "pow": O.POW_METHODS,
}
_ARITH_FUNCTIONS = {
    "add": O.ADD_FUNCTIONS,
    "sub": O.SUB_FUNCTIONS,
    "rsub": O.RSUB_FUNCTIONS,
    "mul": O.MUL_FUNCTIONS,
    "div": O.DIV_FUNCTIONS,
    "neg": O.NEG_FUNCTIONS,
    "pow": O.POW_FUNCTIONS,
}


_RELU_FUNCTIONS = O._fn(F, "relu", "relu_") + O._fn(torch, "relu", "relu_")


def _classify_function(c: Call, deps) -> Op:
    target = c.node.target
    if target is O.GETATTR:
        c.first()
        if c.node.args[1] in O.TRANSPOSE_ATTRIBUTES:
            return c.linear()
        raise c.refuse(f"the tensor attribute {c.node.args[1]!r} has no DeepLIFT rule")
    if target in O.SIGMOID_FUNCTIONS or target in O.NONLINEAR_FUNCTIONS:
        return _nonlinear(
            c,
            target in O.SIGMOID_FUNCTIONS,
            target in _RELU_FUNCTIONS,
            target in O.RECIPROCAL_FUNCTIONS,
        )
    if target in O.SOFTMAX_FUNCTIONS:
        return _softmax(c, c.arg(1, "dim"), "log" in getattr(target, "__name__", ""))
    if target in O.MIXING_FUNCTIONS:
        return _mixing_function(c, deps)
    if target in O.MATMUL_FUNCTIONS:
        return _matmul(c)
    if target in O.EINSUM_FUNCTIONS:
        return products.einsum(c)
    if target in O.INTERPOLATE_FUNCTIONS:
        return _interpolation(c, c.arg(3, "mode", "nearest"))
    if target in O.MASKED_FILL_FUNCTIONS:
        return _masked_fill(c)
    if target in O.BATCHNORM_FUNCTIONS:
        return _batchnorm_function(c, deps)
    if target in O.MAXPOOL_FUNCTIONS:
        return _maxpool_function(c)
    if target in O.DROPOUT_FUNCTIONS:
        if c.arg(2, "training", True) is not False:
            raise c.refuse(
                "functional dropout with training=True drops random units even in "
                "eval mode; pass training=self.training or use nn.Dropout"
            )
        return c.identity()
    if target in O.CONCAT_FUNCTIONS:
        if any(n not in nodes_in(c.node.args[0]) for n in c.var):
            raise c.refuse("only the concatenated tensors may depend on the input")
        return c.linear(lin=_concat_lin(c))
    if target in O.LINEAR_FUNCTIONS:
        c.first()
        if target in (torch.sum, torch.mean):
            _check_reduction(c, c.arg(1, "dim"))
        lin = _pad_lin(c) if target is F.pad else None
        return c.linear(lin=lin, reshape_like=target in _RESHAPE_FUNCTIONS)
    for kind, functions in _ARITH_FUNCTIONS.items():
        if target in functions:
            return _arithmetic(c, kind)
    name = getattr(target, "__name__", "")
    raise c.refuse(
        "this function has no DeepLIFT rule in this engine (it is never treated as linear)"
        + _hint(name)
    )


def _hint(name: str) -> str:
    if name in ("max", "amax", "max_pool1d_with_indices"):
        return (
            "; for a maximum over positions use nn.AdaptiveMaxPool1d(1) or nn.MaxPool1d, which "
            "get the DeepSHAP max rule"
        )
    return ""


def _pad_lin(c: Call):
    if c.arg(2, "mode", "constant") != "constant":
        return None  # reflect / replicate / circular padding: linear, no offset

    def lin(lookup):
        args, kwargs = list(map_args(c.node.args, lookup)), dict(map_args(c.node.kwargs, lookup))
        if len(args) > 3:
            args[3] = 0.0
        else:
            kwargs["value"] = 0.0
        return c.run(tuple(args), kwargs)

    return lin


def _concat_lin(c: Call):
    var = set(c.var)

    def lin(lookup):
        parts = [
            lookup(n)
            if isinstance(n, fx.Node) and n in var
            else zero_like(lookup(n) if isinstance(n, fx.Node) else n)
            for n in c.node.args[0]
        ]
        rest = map_args(c.node.args[1:], lookup)
        return c.run((parts, *rest), dict(map_args(c.node.kwargs, lookup)))

    return lin


def _constant(c: Call, value, deps, what: str):
    if isinstance(value, fx.Node) and deps[value] == "var":
        raise c.refuse(f"its {what} depends on the input (a product of activations)")


def _mixing_function(c: Call, deps) -> Op:
    x = c.first()
    weight = c.arg(1, "weight")
    _constant(c, weight, deps, "weight")
    _constant(c, c.arg(2, "bias"), deps, "bias")
    node, target = c.node, c.node.target

    def mix(v, w):
        args, kwargs = [v, *node.args[1:]], dict(node.kwargs)
        if len(args) > 1:
            args[1] = w
        else:
            kwargs["weight"] = w
        if len(args) > 2:
            args[2] = None
        elif "bias" in kwargs:
            kwargs["bias"] = None
        return target(*args, **kwargs)

    family = "linear" if target is F.linear else "conv"
    get_weight = (
        (lambda lookup: lookup(weight)) if isinstance(weight, fx.Node) else (lambda lookup: weight)
    )
    if any(isinstance(a, fx.Node) for a in node.args[3:]) or any(
        isinstance(a, fx.Node) for k, a in node.kwargs.items() if k not in ("weight", "bias")
    ):
        raise c.refuse("its stride, padding or dilation is computed in forward")
    return c.op(MIXING, var_inputs=(x,), mix=mix, family=family, weight=get_weight)


def _matmul(c: Call) -> Op:
    a, b = c.node.args[0], c.node.args[1]
    if a in c.var and b in c.var:  # also a @ a: both operands vary
        return products.bilinear(c, "bilinear")
    if a is c.var[0]:
        return c.op(
            MIXING,
            mix=lambda v, w: v @ w,
            family="linear",
            weight=lambda lookup: torch.as_tensor(lookup(b)) if isinstance(b, fx.Node) else b,
        )
    return c.op(
        MIXING,
        mix=lambda v, w: w @ v,
        family="linear",
        weight=lambda lookup: lookup(a) if isinstance(a, fx.Node) else a,
    )


def _batchnorm_function(c: Call, deps) -> Op:
    x = c.first()
    if c.arg(5, "training", False) is not False:
        raise c.refuse(
            "batch norm with training=True normalises with batch statistics, which "
            "mixes inputs and references"
        )
    mean, var, weight = c.arg(1, "running_mean"), c.arg(2, "running_var"), c.arg(3, "weight")
    if var is None or mean is None:
        raise c.refuse("batch norm without running statistics uses batch statistics")
    for value, what in ((mean, "running mean"), (var, "running variance"), (weight, "weight")):
        _constant(c, value, deps, what)
    eps = c.arg(7, "eps", 1e-5)

    def stats(lookup):
        def get(v):
            return lookup(v) if isinstance(v, fx.Node) else v

        return get(var), get(weight), get(eps)

    return _batchnorm(c, x, stats)


def _maxpool_function(c: Call) -> Op:
    x = c.first()
    node = c.node
    if c.arg(6, "return_indices", False) and node.target is not torch.max_pool1d:
        raise c.refuse("max pooling that returns indices is not supported")
    if any(isinstance(a, fx.Node) for a in node.args[1:]) or any(
        isinstance(a, fx.Node) for a in node.kwargs.values()
    ):
        raise c.refuse("its kernel size or stride is computed in forward")
    kwargs = {k: v for k, v in node.kwargs.items() if k != "return_indices"}
    if "adaptive" in getattr(node.target, "__name__", ""):
        size = c.arg(1, "output_size")
        pool = lambda z: F.adaptive_max_pool1d_with_indices(z, size)  # noqa: E731
    else:
        names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
        bound = dict(zip(names, node.args[1:6], strict=False))
        bound.update({k: v for k, v in kwargs.items() if k in names})
        if bound.get("stride") in ((), []):
            bound["stride"] = None
        pool = lambda z: rules.max_pool_indices(z, **bound)  # noqa: E731
    return c.op(MAXPOOL, var_inputs=(x,), pool=pool)


def _sign(value) -> int:
    return -1 if value < 0 else 1


def _arithmetic(c: Call, kind: str) -> Op:
    node = c.node
    if kind == "neg":
        c.first()
        return c.linear(signs=(-1,))
    a = node.args[0]
    b = node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
    a_var, b_var = a in c.var, b in c.var
    if kind in ("add", "sub", "rsub"):
        alpha = node.kwargs.get("alpha", 1)
        if isinstance(alpha, fx.Node):
            raise c.refuse("its alpha is computed in forward")
        sa, sb = {"add": (1, _sign(alpha)), "sub": (1, -_sign(alpha)), "rsub": (-_sign(alpha), 1)}[
            kind
        ]
        if a_var and b_var and a is b:
            if sa != sb:
                raise c.refuse("it subtracts a tensor from itself")
            return c.linear(signs=(sa,), lin=c.zeroing((0, 1)))
        signs = [s for s, v in ((sa, a_var), (sb, b_var)) if v]
        return c.linear(signs=signs, lin=c.zeroing((0, 1)))
    if a_var and b_var:
        if kind == "mul":
            return products.bilinear(c, "product")
        if kind == "div":
            raise c.refuse("rounded division is piecewise constant")
        raise c.refuse(
            "it raises an input-dependent tensor to an input-dependent power (no exact "
            "DeepLIFT rule)"
        )
    if kind == "pow" or (kind == "div" and b_var):
        if node.kwargs.get("rounding_mode") is not None:
            raise c.refuse("rounded division is piecewise constant")
        return c.op(NONLINEAR)
    if kind == "div" and node.kwargs.get("rounding_mode") is not None:
        raise c.refuse("rounded division is piecewise constant")
    other = b if a_var else a
    if isinstance(other, fx.Node):
        return c.op(SCALE, lin=c.real, sign_of=lambda lookup: lookup(other))
    if isinstance(other, torch.Tensor):  # a literal constant of the captured graph
        return c.op(SCALE, lin=c.real, sign_of=lambda lookup: other.detach())
    if isinstance(other, bool | int | float):
        return c.linear(signs=(_sign(other),))
    if isinstance(other, torch.Tensor):  # a literal tensor constant in the node's arguments
        return c.op(SCALE, lin=c.real, sign_of=lambda lookup: other)
    raise c.refuse(f"unsupported constant operand {type(other).__name__}")


__all__ = ["classify"]
