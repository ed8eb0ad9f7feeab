"""Helpers shared by the classification of fx nodes: running a node, naming it, its arguments.

:func:`runner` evaluates a node's own operation out of place; :func:`label` names a node for
error messages (a module's qualified name in the model and its class, or a function with the
line of ``forward`` that calls it); :class:`Call` bundles what classifying one node needs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from cislens.attribution.capture import describe_source
from cislens.attribution.deeplift_engine import ops as O
from cislens.attribution.deeplift_engine.ops import LINEAR, Lookup, Op, refuse
from cislens.errors import UnsupportedModelError

# --- evaluation helpers --------------------------------------------------------------------------


def map_args(obj, lookup: Lookup):
    return fx.node.map_arg(obj, lookup)


def runner(node: fx.Node, modules: dict[str, nn.Module]):
    """A function (args, kwargs) -> value running the node's own operation out of place."""
    if node.op == "call_module":
        module = modules[node.target]
        inplace = bool(getattr(module, "inplace", False))

        def run(args, kwargs):
            if inplace:
                args = (args[0].clone(), *args[1:])
            return module(*args, **kwargs)

        return run
    if node.op == "call_function":
        target = _OUT_OF_PLACE.get(node.target, node.target)

        def run(args, kwargs):
            if kwargs.get("inplace"):
                kwargs = {**kwargs, "inplace": False}
            if target in O.NONLINEAR_FUNCTIONS + O.DROPOUT_FUNCTIONS and True in args[1:]:
                args = (args[0].clone(), *args[1:])  # a positional inplace=True
            return target(*args, **kwargs)

        return run
    if node.op == "call_method":
        name = node.target
        if name.endswith("_") and not name.startswith("_") and hasattr(torch.Tensor, name[:-1]):
            name = name[:-1]
        if name in O.IDENTITY_METHODS:
            return lambda args, kwargs: args[0]
        return lambda args, kwargs: getattr(args[0], name)(*args[1:], **kwargs)
    if node.op == "get_attr":
        value = _fetch_attr(modules[""], node.target)
        return lambda args, kwargs: value
    raise AssertionError(node.op)


_OUT_OF_PLACE = {
    operator.iadd: operator.add,
    operator.isub: operator.sub,
    operator.imul: operator.mul,
    operator.itruediv: operator.truediv,
}
for _name in ("relu_", "elu_", "leaky_relu_", "hardtanh_"):
    if hasattr(F, _name):
        _OUT_OF_PLACE[getattr(F, _name)] = getattr(F, _name[:-1])
for _name in ("relu_", "sigmoid_", "tanh_", "exp_", "reciprocal_"):
    if hasattr(torch, _name):
        _OUT_OF_PLACE[getattr(torch, _name)] = getattr(torch, _name[:-1])


def _fetch_attr(root: nn.Module, target: str):
    value = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def zero_like(value):
    if isinstance(value, torch.Tensor):
        return torch.zeros_like(value)
    return 0


# --- labels and errors ---------------------------------------------------------------------------


def _where(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    parts = []
    if stack:
        path, cls = list(stack.values())[-1]
        path = path or "the model"
        parts.append(f"in {path} ({getattr(cls, '__name__', cls)})")
    if node.meta.get("source") is not None:
        parts.append(describe_source(node.meta["source"]))
    return (" " + ", ".join(parts)) if parts else ""


def label(node: fx.Node, modules, calls: dict[str, int]) -> str:
    if node.op == "call_module":
        module = modules[node.target]
        name = node.target.removeprefix("model.")
        text = f"{name} ({O.module_class_name(module)})"
        if calls.get(node.target, 0) > 1:
            index = int(node.meta.get("_call_index", 1))
            text += f", call {index} of {calls[node.target]}"
        return text
    if node.op == "call_function":
        return f"{O.function_name(node.target)} (node {node.name!r}{_where(node)})"
    if node.op == "call_method":
        return f"Tensor.{node.target}() (node {node.name!r}{_where(node)})"
    return f"{node.op} {node.target} (node {node.name!r})"


def shape_uses(node: fx.Node) -> set[fx.Node]:
    """Input nodes the node uses only through their shape, dtype or device."""
    if node.op == "call_method" and node.target in O.SHAPE_ARGUMENT_METHODS:
        return {n for a in node.args[1:] for n in nodes_in(a)} | {
            n for a in node.kwargs.values() for n in nodes_in(a)
        }
    return set()


def nodes_in(obj) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg(obj, lambda n: found.append(n))
    return found


def is_shape_query(node: fx.Node) -> bool:
    if node.op == "call_function":
        if node.target is O.GETATTR:
            return node.args[1] in O.SHAPE_ATTRIBUTES
        return node.target in O.SHAPE_FUNCTIONS
    return node.op == "call_method" and node.target in O.SHAPE_METHODS


class Call:
    """A node being classified: its label, runner and input-dependent inputs."""

    def __init__(self, node: fx.Node, label: str, run, var: list[fx.Node]):
        self.node, self.label, self.run, self.var = node, label, run, var

    def real(self, lookup: Lookup):
        return self.run(map_args(self.node.args, lookup), map_args(self.node.kwargs, lookup))

    def arg(self, index: int, name: str, default=None):
        return arg(self.node, index, name, default)

    def first(self, what: str = "its first argument") -> fx.Node:
        first = self.node.args[0] if self.node.args else None
        if len(self.var) != 1 or first is not self.var[0]:
            raise refuse(self.label, f"it depends on the input through more than {what}")
        return first

    def op(self, kind: str, **fields) -> Op:
        fields.setdefault("var_inputs", tuple(self.var))
        return Op(self.node, kind, self.label, real=self.real, **fields)

    def linear(self, signs=None, lin=None, reshape_like=False) -> Op:
        signs = tuple(signs) if signs is not None else (1,) * len(self.var)
        return self.op(LINEAR, signs=signs, lin=lin or self.real, reshape_like=reshape_like)

    def identity(self) -> Op:
        x = self.first()
        return Op(
            self.node,
            LINEAR,
            self.label,
            real=lambda lookup: lookup(x),
            var_inputs=(x,),
            signs=(1,),
            lin=lambda lookup: lookup(x),
            reshape_like=True,
        )

    def zeroing(self, positions) -> Callable[[Lookup], Any]:
        """The call with the non-input-dependent operands at ``positions`` set to zero."""
        node, var = self.node, set(self.var)

        def lin(lookup):
            args, kwargs = list(map_args(node.args, lookup)), dict(map_args(node.kwargs, lookup))
            for i in positions:
                operand = node.args[i] if i < len(node.args) else None
                if i < len(args) and not (isinstance(operand, fx.Node) and operand in var):
                    args[i] = zero_like(args[i])
            if "other" in kwargs and node.kwargs["other"] not in var:
                kwargs["other"] = zero_like(kwargs["other"])
            return self.run(tuple(args), kwargs)

        return lin

    def refuse(self, why: str) -> UnsupportedModelError:
        return refuse(self.label, why)


def arg(node, index, name, default=None):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


__all__ = [
    "Call",
    "arg",
    "is_shape_query",
    "label",
    "nodes_in",
    "runner",
    "shape_uses",
    "zero_like",
]
