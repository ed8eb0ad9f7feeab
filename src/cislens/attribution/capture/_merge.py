"""Merge two recordings made at different batch sizes into one graph for any batch size.

A recording holds the batch size wherever ``forward`` computed with it: ``x.reshape(x.shape[0],
-1)`` records ``reshape(x, 2, -1)`` at two rows. Recording the same model at two batch sizes
and comparing the two graphs call by call finds those numbers: an integer that differs between
the recordings is an affine function ``a * n + b`` of the batch size ``n`` (exact integers from
the two recordings), and is replaced by a node computing it from ``x.size(0)``, so the graph
runs on any number of rows. A constant tensor whose shape depends on the batch size is rebuilt
the same way when it came from a factory call (``torch.zeros(x.shape[0], ...)``). Anything else
that differs -- a different sequence of calls, floats, constant values -- means the forward pass
depends on the batch size (or on randomness or state) in a way one graph cannot express, and is
refused with the call's name.
"""

from __future__ import annotations

import operator

import torch
from torch import fx

from cislens.errors import UnsupportedModelError


class _Merger:
    def __init__(self, small, large, n_small: int, n_large: int):
        self.small, self.large = small, large
        self.n_small, self.n_large = n_small, n_large
        self.partner = {a: b for a, b in zip(small.nodes, large.nodes, strict=False)}
        self.partner[small.input] = large.input
        self.graph = small.graph
        self.size: fx.Node | None = None
        self.last_expression: fx.Node = small.input
        self.expressions: dict[tuple[int, int], fx.Node] = {}
        self.user: fx.Node | None = None

    def refuse(self, why: str) -> UnsupportedModelError:
        where = f" (call {self.user.target!r}, node {self.user.name!r})" if self.user else ""
        return UnsupportedModelError(
            f"cannot capture the model: its forward pass depends on the number of sequences in "
            f"a batch in a way one graph cannot express{where}: {why}. Make forward compute "
            "each sequence independently of the batch size (e.g. x.new_zeros(...) or "
            "torch.zeros_like(x) instead of a constant of batch-sized shape)."
        )

    def batch_expression(self, small: int, large: int) -> fx.Node:
        slope, remainder = divmod(large - small, self.n_large - self.n_small)
        if remainder:
            raise self.refuse(f"the number {small} becomes {large}, not affine in the batch size")
        offset = small - slope * self.n_small
        key = (slope, offset)
        if key in self.expressions:
            return self.expressions[key]
        with self.graph.inserting_after(self.last_expression):
            if self.size is None:
                self.size = self.graph.call_method("size", (self.small.input, 0))
                self.last_expression = self.size
        node = self.size
        if slope != 1:
            with self.graph.inserting_after(self.last_expression):
                node = self.graph.call_function(operator.mul, (node, slope))
            self.last_expression = node
        if offset:
            with self.graph.inserting_after(self.last_expression):
                node = self.graph.call_function(operator.add, (node, offset))
            self.last_expression = node
        self.expressions[key] = node
        return node

    def value(self, a, b):
        """``a`` (from the small recording) with batch-dependent numbers made nodes."""
        if isinstance(a, fx.Node) or isinstance(b, fx.Node):
            if (
                not (isinstance(a, fx.Node) and isinstance(b, fx.Node))
                or self.partner.get(a) is not b
            ):
                raise self.refuse("its operands differ between batch sizes")
            return a
        if type(a) is not type(b) and not (isinstance(a, int) and isinstance(b, int)):
            raise self.refuse(
                f"an argument is {type(a).__name__} at one batch size and "
                f"{type(b).__name__} at another"
            )
        if isinstance(a, bool) or a is None or isinstance(a, str | torch.dtype | torch.device):
            if a != b:
                raise self.refuse(f"the argument {a!r} becomes {b!r}")
            return a
        if isinstance(a, int):
            return a if a == b else self.batch_expression(a, b)
        if isinstance(a, float):
            if a != b and not (a != a and b != b):  # NaN equals NaN here
                raise self.refuse(f"the number {a!r} becomes {b!r}")
            return a
        if isinstance(a, torch.Tensor):
            return self.tensor(a, b)
        if isinstance(a, slice):
            return slice(
                *(
                    self.value(x, y)
                    for x, y in zip(
                        (a.start, a.stop, a.step), (b.start, b.stop, b.step), strict=True
                    )
                )
            )
        if isinstance(a, list | tuple):
            if len(a) != len(b):
                raise self.refuse(f"a list of {len(a)} arguments becomes one of {len(b)}")
            return type(a)(self.value(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, dict):
            if a.keys() != b.keys():
                raise self.refuse("its keyword arguments differ")
            return {key: self.value(a[key], b[key]) for key in a}
        if a is b or a == b:
            return a
        raise self.refuse(f"the argument {a!r} becomes {b!r}")

    def tensor(self, a: torch.Tensor, b: torch.Tensor):
        if a is b:
            return a
        if a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b)):
            return a
        recipes = self.small.recipes.get(id(a)), self.large.recipes.get(id(b))
        if all(r is not None and r[0] is t for r, t in zip(recipes, (a, b), strict=True)):
            (_, func, args_a, kwargs_a), (_, func_b, args_b, kwargs_b) = recipes
            if func is func_b:
                args = self.value(args_a, args_b)
                kwargs = self.value(kwargs_a, kwargs_b)
                with self.graph.inserting_before(self.user):
                    return self.graph.call_function(func, tuple(args), dict(kwargs))
        what = "shape" if a.shape != b.shape else "values"
        raise self.refuse(
            f"a constant tensor made in forward has different {what} at different batch sizes "
            "(random numbers drawn in forward, state that changes between calls, or a "
            "batch-sized constant)"
        )


def merge(small, large, n_small: int, n_large: int) -> tuple[fx.Graph, object]:
    """One graph for any batch size from recordings at ``n_small`` and ``n_large`` rows.

    Returns the graph (``small``'s, edited in place) and ``small``'s output structure with
    batch-dependent numbers replaced.
    """
    merger = _Merger(small, large, n_small, n_large)
    if len(small.nodes) != len(large.nodes):
        raise merger.refuse(
            f"{len(small.nodes)} input-dependent calls at {n_small} rows but "
            f"{len(large.nodes)} at {n_large}"
        )
    for a, b in zip(small.nodes, large.nodes, strict=True):
        merger.user = a
        if a.op != b.op or a.target != b.target:
            raise merger.refuse(f"call {a.target!r} at {n_small} rows is {b.target!r} at {n_large}")
        a.args = merger.value(a.args, b.args)
        a.kwargs = merger.value(a.kwargs, b.kwargs)
        shapes = a.meta.get("shape"), b.meta.get("shape")
        if all(shapes):  # one row per sequence on axis 0 at both batch sizes
            a.meta["batch_first"] = shapes[0][:1] == (n_small,) and shapes[1][:1] == (n_large,)
    merger.user = None
    return small.graph, merger.value(small.output, large.output)


def prune(graph: fx.Graph, keep: fx.Node) -> None:
    """Remove the nodes ``keep`` does not depend on (other heads, unused branches)."""
    live: set[fx.Node] = set()
    stack = [keep]
    while stack:
        node = stack.pop()
        if node in live:
            continue
        live.add(node)
        stack.extend(node.all_input_nodes)
    for node in reversed(list(graph.nodes)):
        if node.op not in ("placeholder", "output") and node not in live:
            graph.erase_node(node)


__all__ = ["merge", "prune"]
