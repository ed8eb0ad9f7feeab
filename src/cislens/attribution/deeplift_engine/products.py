"""Classify products of activations: bilinear ops and einsum.

A product of two input-dependent tensors (``a * b``, ``a @ b``, ``torch.bmm``, a two-operand
``torch.einsum``) becomes a ``bilinear`` op (rule in :mod:`.coupled`). Its ``family`` says how
``rule="genomics_default"`` looks through it: an elementwise ``product`` (gating, the scaling
of a normalisation) is walked through like a batch norm, to the layers feeding its operands; a
``bilinear`` contraction (a matrix product sums many products, as a dense layer sums many terms)
counts as a dense layer. An einsum with one input-dependent operand and one constant is a mixing
layer (Linear rule), with a single operand it is linear plumbing. (A division of two
input-dependent tensors reaches this module as ``a * reciprocal(b)``: the capture records it so,
see :mod:`cislens.attribution.capture`.)
"""

from __future__ import annotations

import torch
from torch import fx

from cislens.attribution.deeplift_engine.nodes import Call, map_args, nodes_in
from cislens.attribution.deeplift_engine.ops import BILINEAR, MIXING, Op

# where an operand sits in a node's arguments: (index,), (index, position in a list), or (name,)
Slot = tuple


def _slots(c: Call) -> list[Slot]:
    """The places of the input-dependent operands in the node's arguments (a node used twice,
    as in ``x * x``, has two places)."""
    var = set(c.var)
    slots: list[Slot] = []
    for i, value in enumerate(c.node.args):
        if isinstance(value, fx.Node):
            if value in var:
                slots.append((i,))
        elif isinstance(value, list | tuple):
            for j, item in enumerate(value):
                if isinstance(item, fx.Node) and item in var:
                    slots.append((i, j))
                elif var.intersection(nodes_in(item)):
                    raise c.refuse("an input-dependent operand is nested in its arguments")
        elif var.intersection(nodes_in(value)):
            raise c.refuse("an input-dependent operand is nested in its arguments")
    for name, value in c.node.kwargs.items():
        if isinstance(value, fx.Node) and value in var:
            slots.append((name,))
        elif var.intersection(nodes_in(value)):
            raise c.refuse("an input-dependent operand is nested in its arguments")
    return slots


def _get(node: fx.Node, slot: Slot):
    if isinstance(slot[0], str):
        return node.kwargs[slot[0]]
    value = node.args[slot[0]]
    return value if len(slot) == 1 else value[slot[1]]


def _put(args: list, kwargs: dict, slot: Slot, value) -> None:
    if isinstance(slot[0], str):
        kwargs[slot[0]] = value
    elif len(slot) == 1:
        args[slot[0]] = value
    else:
        inner = list(args[slot[0]])
        inner[slot[1]] = value
        args[slot[0]] = inner


def _substitute(c: Call, slots: list[Slot]):
    """``call(lookup, *values)``: the node's operation with ``values`` at ``slots``."""
    var = set(c.var)

    def call(lookup, *values):
        def get(n):  # the operands are replaced: never look them up (they may be gone)
            return None if n in var else lookup(n)

        args, kwargs = list(map_args(c.node.args, get)), dict(map_args(c.node.kwargs, get))
        for slot, value in zip(slots, values, strict=True):
            _put(args, kwargs, slot, value)
        return c.run(tuple(args), kwargs)

    return call


def bilinear(c: Call, family: str) -> Op:
    """A product of two input-dependent operands (``family``: "product" or "bilinear")."""
    slots = _slots(c)
    if len(slots) != 2:
        raise c.refuse(
            f"it combines {len(slots)} input-dependent operands; the bilinear rule needs "
            "exactly two"
        )
    call = _substitute(c, slots)
    operands = (_get(c.node, slots[0]), _get(c.node, slots[1]))
    return c.op(BILINEAR, operands=operands, prod=call, family=family)


def _is_tensor_operand(value) -> bool:
    return isinstance(value, fx.Node | torch.Tensor)


def einsum(c: Call) -> Op:
    """``torch.einsum``: linear (one operand), mixing (one input-dependent operand and one
    constant) or bilinear (two input-dependent operands and nothing else)."""
    args = c.node.args
    if not args or not isinstance(args[0], str):
        raise c.refuse("its equation must be a string literal")
    listed = len(args) == 2 and isinstance(args[1], list | tuple)  # einsum(eq, [a, b])
    n_operands = len(args[1]) if listed else len(args) - 1
    places = [(1, j) if listed else (j + 1,) for j in range(n_operands)]
    slots = _slots(c)
    if n_operands == 1:
        return c.linear()  # transpositions, diagonals and sums: non-negative coefficients
    if len(slots) == 2 and n_operands == 2:
        return bilinear(c, "bilinear" if _contracts(args[0]) else "product")
    if len(slots) == 1 and n_operands == 2:
        (slot,) = slots
        other = places[1 - places.index(slot)]
        weight = _get(c.node, other)
        if not _is_tensor_operand(weight):
            raise c.refuse("its constant operand is not a tensor")
        call = _substitute(c, [slot, other])

        def mix(v, w):
            return call(lambda n: None, v, w)

        def get_weight(lookup):
            return lookup(weight) if isinstance(weight, fx.Node) else weight

        return c.op(MIXING, mix=mix, family="linear", weight=get_weight)
    raise c.refuse(
        "the einsum rules need one operand, one input-dependent operand and one constant, or "
        "exactly two input-dependent operands; contract the constant operands first"
    )


def _contracts(equation: str) -> bool:
    """Whether an einsum equation sums over an index (a matrix product, not an elementwise or
    outer product)."""
    equation = equation.replace(" ", "").replace("...", "")
    inputs, _, output = equation.partition("->")
    letters = [ch for ch in inputs if ch.isalpha()]
    if "->" not in equation:  # implicit output: the indices that appear once
        output = "".join(ch for ch in set(letters) if letters.count(ch) == 1)
    return bool(set(letters) - set(output))


__all__ = ["bilinear", "einsum"]
