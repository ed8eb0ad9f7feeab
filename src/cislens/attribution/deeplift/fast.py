"""The fast DeepLIFT path: one real forward per row, multipliers applied by gradient overrides.

When no value needs separate positive and negative parts (every nonlinearity uses Rescale, so
no RevealCancel and no Linear-rule split), the difference network of :mod:`.propagate` is the
chain ``W_L M_{L-1} ... M_1 W_1`` of the linear ops' Jacobians ``W_k`` and the diagonal
multipliers ``M_k`` of the nonlinearities and max pools. Its gradient can then be taken through
the *real* forward pass of the references, with each nonlinearity's backward replaced by the
multiplication with its DeepLIFT multiplier and each max pool's backward by the max rule:

- every linear op (convolution, dense layer, eval-mode batch norm, reshapes, sums, residual
  additions, padding, average pooling, a final sigmoid dropped or softmax centred) is affine in
  its varying inputs, so the real op's Jacobian is the difference network's ``W_k``;
- the multipliers are computed from the real activations of x and r exactly as in
  :mod:`.propagate` (the same :func:`.rules.rescale` and :func:`.rules.max_rule`).

So the cost is one forward pass over the inputs x (without autograd), one over the references
and one backward pass over the references: the difference network's own forward pass, which
costs as much as the real one, is gone. The result equals the difference-network path up to
floating-point rounding (tests compare the two in float64); summation-to-delta is still checked
for every pair by the caller.
"""

from __future__ import annotations

import torch

from cislens.attribution.deeplift import rules
from cislens.attribution.deeplift.graph import OpGraph
from cislens.attribution.deeplift.ops import (
    CONST,
    INPUT,
    LINEAR,
    MAXPOOL,
    MIXING,
    NONLINEAR,
    OUTPUT_ACT,
    RESCALE,
    SCALE,
    SHAPE,
)
from cislens.attribution.deeplift.propagate import PairResult, _seed, real_value

_LINEAR_KINDS = (LINEAR, MIXING, SCALE, OUTPUT_ACT, SHAPE)


def fast_blocker(graph: OpGraph) -> str | None:
    """Why the fast path cannot run on ``graph`` (None when it can).

    Examples
    --------
    >>> from torch import nn
    >>> from cislens.attribution.deeplift.graph import build_graph
    >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> fast_blocker(build_graph(net, "rescale")) is None
    True
    >>> fast_blocker(build_graph(net, "reveal_cancel"))
    "'1 (nn.ReLU)' uses RevealCancel, which needs separate positive and negative parts"
    """
    for op in graph.ops:  # the cause first: the RevealCancel that needs the split
        if op.kind == NONLINEAR and op.rule != RESCALE:
            return (
                f"{op.label!r} uses RevealCancel, which needs separate positive and negative "
                "parts"
            )
    for op in graph.ops:
        if op.split_out:
            return f"{op.label!r} feeds a positive/negative split"
        if op.kind not in (INPUT, CONST, NONLINEAR, MAXPOOL, *_LINEAR_KINDS):
            return f"{op.label!r} is of kind {op.kind!r}"
    return None


class _Multiply(torch.autograd.Function):
    """Forward: the real output ``y`` of a nonlinearity; backward: the gradient times ``m``."""

    @staticmethod
    def forward(ctx, z, y, m):
        ctx.save_for_backward(m)
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad):
        (m,) = ctx.saved_tensors
        return grad * m, None, None


class _Route(torch.autograd.Function):
    """Forward: the real max-pool output ``y``; backward: the DeepSHAP max rule, i.e. the
    gradient of ``c_x * z[i_x] + c_r * z[i_r]`` (gathers along the last axis)."""

    @staticmethod
    def forward(ctx, z, y, c_x, i_x, c_r, i_r):
        ctx.save_for_backward(c_x, i_x, c_r, i_r)
        ctx.input_shape = z.shape
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad):
        c_x, i_x, c_r, i_r = ctx.saved_tensors
        out = grad.new_zeros(ctx.input_shape)
        out.scatter_add_(-1, i_x, grad * c_x)
        out.scatter_add_(-1, i_r, grad * c_r)
        return out, None, None, None, None, None


def _forward_x(graph: OpGraph, consts: dict, x_rows: torch.Tensor, bank: dict) -> dict:
    """Real activations of the inputs x (no autograd), kept where the multipliers need them."""
    xbank: dict = {}
    real: dict = {}

    def lookup(n):
        return real[n] if n in real else consts[n]

    with torch.no_grad():
        for index, op in enumerate(graph.ops):
            node = op.node
            if op.kind == CONST:
                continue
            if x_rows.shape[0]:
                real[node] = x_rows if op.kind == INPUT else real_value(op, lookup, strip=True)
            if op.keep_x:
                if x_rows.shape[0]:
                    own = real[node]
                    xbank[node] = torch.cat([bank[node], own]) if node in bank else own
                else:
                    xbank[node] = bank[node]
            for used in node.all_input_nodes:
                if graph.last_use.get(used) == index:
                    real.pop(used, None)
    return xbank


CHUNK_ELEMENTS = 1 << 17
"""Elements per chunk of the multiplier computations on the CPU: about 0.5 MB in float32, so the
dozen elementwise passes of a rule run in the processor's cache instead of main memory (several
times faster on large activations); every element is computed exactly as in one pass."""


def _chunks(pair_bank: torch.Tensor, row_numel: int):
    """``(pairs, rows)``: chunks of about :data:`CHUNK_ELEMENTS` elements. ``rows`` is the bank
    row of the chunk's x when all its pairs share one example (broadcast without a copy), else
    the bank rows of its pairs (gathered; only for small activations)."""
    n_pairs = int(pair_bank.numel())
    if pair_bank.device.type != "cpu":  # accelerators: one launch per op beats cache-sized chunks
        yield slice(0, n_pairs), pair_bank
        return
    step = max(1, CHUNK_ELEMENTS // max(1, row_numel))
    for first in range(0, n_pairs, step):
        part = slice(first, min(n_pairs, first + step))
        rows = pair_bank[part]
        yield part, (int(rows[0]) if bool(rows[0] == rows[-1]) else rows)


def _one(bank: torch.Tensor, rows, like: torch.Tensor) -> torch.Tensor:
    """The x activations of a chunk of pairs, shaped like ``like`` (see :func:`_chunks`)."""
    if isinstance(rows, int):
        return bank[rows : rows + 1].expand_as(like)
    return bank[rows]


def _rescale(op, z_r: torch.Tensor, lookup, x_in, x_out, pair_bank):
    """The real output of a nonlinearity at the references and its Rescale multipliers.

    ``x_in`` and ``x_out`` are the banked activations of the inputs x (one row per example).
    """
    (x,) = op.var_inputs

    def f(v):
        return op.real(lambda n: v if n is x else lookup(n))

    slope = rules.relu_derivative if op.relu else None
    with torch.no_grad():
        y = f(z_r)
        m = torch.empty_like(y)
        for part, row in _chunks(pair_bank, z_r[:1].numel()):
            r_in, r_out = z_r[part], y[part]
            m[part] = rules.rescale(
                f, _one(x_in, row, r_in), r_in, _one(x_out, row, r_out), r_out, slope
            )
    return y, m


def _max_rule(op, z_r: torch.Tensor, x_in, pair_bank):
    """The real max-pool output at the references and the max-rule coefficients and indices."""
    with torch.no_grad():
        y_r, i_r = op.pool(z_r)
        y_bank, i_bank = op.pool(x_in)
        i_x = i_bank[pair_bank]
        c_x, c_r = torch.empty_like(y_r), torch.empty_like(y_r)
        for part, row in _chunks(pair_bank, z_r[:1].numel()):
            r_in, y_part = z_r[part], y_r[part]
            c_x[part], c_r[part] = rules.max_rule(
                _one(x_in, row, r_in), r_in, _one(y_bank, row, y_part), i_x[part], y_part,
                i_r[part],
            )
    return y_r, c_x, i_x, c_r, i_r


def propagate_fast(
    graph: OpGraph,
    consts: dict,
    rows: torch.Tensor,
    n_x: int,
    bank: dict,
    pair_bank: torch.Tensor,
    target,
) -> tuple[PairResult | None, dict]:
    """The fast equivalent of :func:`.propagate.propagate` (same arguments and results)."""
    xbank = _forward_x(graph, consts, rows[:n_x], bank)
    n_pairs = int(pair_bank.numel())
    if not n_pairs:
        return None, xbank
    real: dict = {}

    def lookup(n):
        return real[n] if n in real else consts[n]

    def xs(n):
        return xbank[n][pair_bank]

    with torch.enable_grad():
        d_in = rows[n_x:].detach().requires_grad_(True)
        for index, op in enumerate(graph.ops):
            node = op.node
            if op.kind == CONST:
                continue
            if op.kind == INPUT:
                real[node] = d_in
            elif op.kind == NONLINEAR:
                (x,) = op.var_inputs
                y, m = _rescale(op, real[x].detach(), lookup, xbank[x], xbank[node], pair_bank)
                real[node] = _Multiply.apply(real[x], y, m)
            elif op.kind == MAXPOOL:
                (x,) = op.var_inputs
                y, *coefficients = _max_rule(op, real[x].detach(), xbank[x], pair_bank)
                real[node] = _Route.apply(real[x], y, *coefficients)
            else:
                real[node] = real_value(op, lookup, strip=True)
            for used in node.all_input_nodes:
                if graph.last_use.get(used) == index:
                    real.pop(used, None)
        logits = real[graph.logits]
        x_logits = xs(graph.logits)
        explained = _seed(target, logits, x_logits)
        (grad,) = torch.autograd.grad(explained.sum(), d_in, allow_unused=True)
    multipliers = torch.zeros_like(d_in) if grad is None else grad.detach()
    with torch.no_grad():
        result = PairResult(multipliers, target.select(x_logits), target.select(logits.detach()))
    return result, xbank


__all__ = ["fast_blocker", "propagate_fast"]
