"""Capture a model's computation by running it on real tensors.

The DeepLIFT engine and fast ISM need the model as an explicit graph of operations. Symbolic
tracing (``torch.fx.symbolic_trace``) runs ``forward`` on proxies and breaks on ordinary Python:
``X.shape[2]``, ``if x.shape[1] != 4``, ``x.ndim``, einops, ``**kwargs`` wrappers, caches filled
on the first call (a cache would then hold a proxy and break the model for the rest of the
session). :func:`capture` instead runs the real ``forward`` on real one-hot rows of the input's
shape and records every call made on an input-dependent tensor (:mod:`._record`), so whatever
Python ``forward`` contains is simply executed.

The graph is specialised to the input's shape after the batch dimension (a new shape is
captured anew). To run on any number of rows, the model is recorded at two batch sizes and the
two recordings are merged (:mod:`._merge`): numbers computed from the batch size become nodes.
Composite operations without a rule of their own (layer norm, RMS norm, GLU, scaled dot-product
attention, quotients of two input-dependent tensors) are recorded as their primitives
(:mod:`._decompose`). Data-dependent control flow, in-place updates through views and a forward
pass whose calls differ with the batch size are refused, naming the call, the module and the
source line, never silently specialised.

The model is left exactly as it was: callers run :func:`capture` inside
:func:`cislens.attribution.borrowed_model`, which restores every module's attributes, buffers
and caches (see :func:`~cislens.attribution._common.preserved_state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from cislens.attribution.capture._merge import merge, prune
from cislens.attribution.capture._record import (
    assign,
    call,
    describe_source,
    record,
    strided,
)
from cislens.errors import UnsupportedModelError

_ROWS = (2, 3)
"""Batch sizes of the two recordings (not 1: ``squeeze()`` would drop the batch axis)."""


@dataclass
class Captured:
    """A captured model: an fx graph of torch-level calls with constants as literal tensors.

    ``input`` is the placeholder (the one-hot rows), ``output`` the node of the model's output;
    ``shape`` the input shape after the batch axis that the graph is specialised to.
    """

    graph: fx.Graph
    input: fx.Node
    output: fx.Node
    shape: tuple[int, ...]

    def run(self, rows: torch.Tensor) -> torch.Tensor:
        """Evaluate the graph on ``rows`` (any number, shaped like the captured input).

        In-place calls run out of place, so no intermediate value changes after it is made.

        Examples
        --------
        >>> net = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(inplace=True), nn.Flatten())
        >>> captured = capture(net, torch.zeros(1, 4, 5))
        >>> X = torch.randn(4, 4, 5)
        >>> bool(torch.allclose(captured.run(X), net(X)))
        True
        """
        values: dict[fx.Node, Any] = {self.input: rows}
        for node in self.graph.nodes:
            if node.op == "output":
                return values[node.args[0]]
            if node.op != "placeholder":
                args = fx.node.map_arg(node.args, values.__getitem__)
                kwargs = fx.node.map_arg(node.kwargs, values.__getitem__)
                values[node] = call(node, args, kwargs)
        raise AssertionError("a captured graph ends with its output")


def describe_output(value) -> str:
    """A short description of a model output, e.g. ``tuple of 2 (tensor (2, 2, 100), tensor
    (2, 1))`` (for errors that ask for ``output=``).

    Examples
    --------
    >>> describe_output((torch.zeros(2, 3), {"a": torch.zeros(2)}))
    'tuple of 2 (tensor (2, 3), dict with keys [a])'
    """
    if isinstance(value, torch.Tensor | fx.Node):
        shape = value.shape if isinstance(value, torch.Tensor) else value.meta.get("shape", "?")
        return f"tensor {tuple(shape) if not isinstance(shape, str) else shape}"
    if isinstance(value, dict):
        return f"dict with keys [{', '.join(map(str, value))}]"
    if isinstance(value, list | tuple):
        inner = ", ".join(describe_output(v) for v in value)
        return f"{type(value).__name__} of {len(value)} ({inner})"
    return type(value).__name__


def _rows(example: torch.Tensor, n: int) -> torch.Tensor:
    return example[torch.arange(n) % example.shape[0]].clone()


def capture(model: nn.Module, example: torch.Tensor) -> Captured:
    """Record ``model`` on real rows shaped like ``example`` (k, ...) as one graph.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of rows to one tensor computed from them (select a head first, e.g. with
        the ``output=`` option of the attribution methods). Run as it is: put it in eval mode and
        on the example's device and dtype before calling.
    example : torch.Tensor (k, ...)
        At least one input row; the rows recorded are made from these (their values do not
        matter).

    Returns
    -------
    Captured

    Raises
    ------
    cislens.errors.UnsupportedModelError
        Data-dependent control flow, an in-place update through a view, batch-size-dependent
        structure, or an output that is not one tensor computed from the input (the message
        names the call, the module and the source line).

    Examples
    --------
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv = nn.Conv1d(4, 2, 3)
    ...     def forward(self, x):
    ...         if x.shape[1] != 4:  # shape-dependent Python is fine
    ...             raise ValueError("4 channels")
    ...         return self.conv(x).relu().reshape(x.shape[0], -1).sum(-1)
    >>> captured = capture(Net().eval(), torch.zeros(1, 4, 10))
    >>> [getattr(n.target, "__name__", n.target) for n in captured.graph.nodes][1:]
    ['size', 'conv1d', 'relu', 'reshape', 'sum', 'output']
    """
    if not isinstance(example, torch.Tensor) or example.ndim < 1 or example.shape[0] < 1:
        raise ValueError("example must be a tensor holding at least one input row.")
    small = record(model, _rows(example, _ROWS[0]))
    large = record(model, _rows(example, _ROWS[1]))
    graph, output = merge(small, large, *_ROWS)
    if not isinstance(output, fx.Node):
        raise UnsupportedModelError(
            "the model must return one tensor computed from its input to be explained; it "
            f"returns {describe_output(output)}. Choose the output to explain with output= "
            "(an index, a key, a callable, 'profile' or 'counts')."
        )
    graph.output(output)
    prune(graph, output)
    return Captured(graph, small.input, output, tuple(example.shape[1:]))


__all__ = [
    "Captured",
    "assign",
    "call",
    "capture",
    "describe_output",
    "describe_source",
    "strided",
]
