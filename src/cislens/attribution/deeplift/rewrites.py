"""Rewrite composite operations of the traced graph into operations with exact rules.

Some operations are exact as compositions of rules the engine has, but not as single ops. Before
a node is classified, :func:`rewrite` replaces it in the fx graph by that composition, so each
piece is classified (and named in errors and in ``OpGraph.rules()``) like any other node:

- ``a / b`` with both operands input-dependent -> ``a * reciprocal(b)`` (the reciprocal is an
  elementwise nonlinearity with an exact closed-form secant, the product is bilinear);
- ``nn.LayerNorm`` / ``F.layer_norm`` -> centre (linear) -> ``c * c`` (bilinear) -> mean ->
  ``+ eps`` -> ``rsqrt`` (nonlinear) -> ``c * rsqrt(...)`` (bilinear) -> ``* weight + bias``.

``docs/deeplift_rules.md`` derives the rules of the pieces.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from cislens.attribution.deeplift import ops as O
from cislens.attribution.deeplift.nodes import arg

Inserted = list[tuple[fx.Node, str]]


def rewrite(graph: fx.Graph, node: fx.Node, deps: dict, modules: dict, text: str):
    """Rewrite ``node`` in place when it is a composite; ``(inserted, replaced)``.

    ``inserted`` lists the new nodes in execution order with their labels (derived from
    ``text``, the node's own label); ``replaced`` is True when ``node`` itself was removed from
    the graph (its uses now read the last inserted node).
    """
    reciprocal = _split_division(graph, node, deps)
    if reciprocal is not None:
        return [(reciprocal, f"the reciprocal of the divisor of {text}")], False
    norm = _layer_norm_args(node, modules, deps)
    if norm is not None:
        return _expand_layer_norm(graph, node, text, *norm), True
    return [], False


# --- division ------------------------------------------------------------------------------------


def _is_division(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in O.DIV_FUNCTIONS
    return node.op == "call_method" and node.target in O.DIV_METHODS


def _split_division(graph: fx.Graph, node: fx.Node, deps: dict) -> fx.Node | None:
    """``a / b`` with both operands input-dependent -> ``a * reciprocal(b)``, in place; the
    inserted reciprocal node, or None (rounded divisions are left alone: they are refused)."""
    if not _is_division(node) or node.kwargs.get("rounding_mode") is not None:
        return None
    a = node.args[0] if node.args else node.kwargs.get("input")
    b = arg(node, 1, "other")
    if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)):
        return None
    if deps.get(a) != "var" or deps.get(b) != "var":
        return None
    with graph.inserting_before(node):
        reciprocal = graph.call_function(torch.reciprocal, (b,))
    reciprocal.meta = dict(node.meta)  # where it is in forward, for error messages
    node.target = "mul" if node.op == "call_method" else operator.mul
    node.args, node.kwargs = (a, reciprocal), {}
    return reciprocal


# --- layer norm ----------------------------------------------------------------------------------


def _layer_norm_args(node: fx.Node, modules: dict, deps: dict):
    """``(x, dims, eps, weight, bias)`` of a layer norm of an input-dependent tensor, else None.

    ``weight`` and ``bias`` are parameter names (of an ``nn.LayerNorm``), nodes, tensors or None.
    """
    if node.op == "call_module" and isinstance(modules[node.target], nn.LayerNorm):
        module = modules[node.target]
        x, shape, eps = node.args[0] if node.args else None, module.normalized_shape, module.eps
        weight = f"{node.target}.weight" if module.weight is not None else None
        bias = f"{node.target}.bias" if module.bias is not None else None
    elif node.op == "call_function" and node.target is F.layer_norm:
        x, shape = arg(node, 0, "input"), arg(node, 1, "normalized_shape")
        weight, bias, eps = arg(node, 2, "weight"), arg(node, 3, "bias"), arg(node, 4, "eps", 1e-5)
        if isinstance(weight, str) or isinstance(bias, str):
            return None
    else:
        return None
    if not isinstance(x, fx.Node) or deps.get(x) != "var":
        return None
    if not isinstance(eps, int | float) or isinstance(shape, fx.Node):
        return None  # computed in forward: left to the classifier, which refuses it
    n_dims = 1 if isinstance(shape, int) else len(shape)
    return x, tuple(range(-n_dims, 0)), float(eps), weight, bias


def _expand_layer_norm(graph, node, text, x, dims, eps, weight, bias) -> Inserted:
    inserted: Inserted = []

    def insert(what: str, target, *args, **kwargs) -> fx.Node:
        new = graph.call_function(target, args, kwargs)
        new.meta = dict(node.meta)
        inserted.append((new, f"{text}, {what}"))
        return new

    def constant(value) -> fx.Node | torch.Tensor:
        if not isinstance(value, str):
            return value
        new = graph.get_attr(value)
        inserted.append((new, f"attribute {value}"))
        return new

    with graph.inserting_before(node):
        centred = insert("centring", operator.sub, x, insert("mean", torch.mean, x, dims, True))
        variance = insert(
            "variance", torch.mean, insert("square", operator.mul, centred, centred), dims, True
        )
        scale = insert("rsqrt", torch.rsqrt, insert("+ eps", operator.add, variance, eps))
        out = insert("normalisation", operator.mul, centred, scale)
        if weight is not None:
            out = insert("weight", operator.mul, out, constant(weight))
        if bias is not None:
            out = insert("bias", operator.add, out, constant(bias))
    node.replace_all_uses_with(out)
    graph.erase_node(node)
    return inserted


__all__ = ["rewrite"]
