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
- a product of activations and a softmax inside the network are not linear: their forward
  returns the real reference output and their backward applies the transpose of their rule's
  linear map (:class:`.coupled.BilinearOverride`, :class:`.coupled.SoftmaxOverride`);
- the multipliers are computed from the real activations of x and r exactly as in
  :mod:`.propagate` (the same :func:`.rules.rescale` and :func:`.rules.max_rule`, or their
  equal closed forms :func:`.rules.relu_rescale` and :func:`.rules.max_rule_pooled`, which
  take a few passes instead of a dozen: on small models the rules cost as much as the
  forward pass). Per-batch buffers are reused across batches, and across calls with a
  cached graph when small (:data:`.pairs.KEEP_WORKSPACE_BYTES`): fewer page faults;
- a plain ReLU whose output only a max pool reads (conv -> ReLU -> max pool, as in Basset or
  DeepSTARR) gets no multiplier pass of its own, and its output is never formed: the pool
  runs on its input (``max relu(z) = relu(max z)``), its backward reaches only the two
  argmaxes of each window, so the ReLU's multipliers are needed there only and cancel
  against the max rule's denominators (:func:`.rules.relu_max_rule_pooled`, about 12 passes
  at the pooled size; the route goes straight to the ReLU's input); tiling pools find their
  argmaxes from running maxima (:func:`.rules.max_pool_indices`); the x argmaxes are
  broadcast per example, not copied per pair.

So the cost is one forward pass over the inputs x (without autograd), one over the references
and one backward pass over the references: the difference network's own forward pass, which
costs as much as the real one, is gone. The result equals the difference-network path up to
floating-point rounding (tests compare the two in float64); summation-to-delta is still checked
for every pair by the caller.
"""

from __future__ import annotations

import torch

from cislens.attribution.deeplift_engine import coupled, rules
from cislens.attribution.deeplift_engine.graph import OpGraph
from cislens.attribution.deeplift_engine.ops import (
    BILINEAR,
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
    SOFTMAX,
)
from cislens.attribution.deeplift_engine.propagate import PairResult, _seed, real_value

_LINEAR_KINDS = (LINEAR, MIXING, SCALE, OUTPUT_ACT, SHAPE)


def fast_blocker(graph: OpGraph) -> str | None:
    """Why the fast path cannot run on ``graph`` (None when it can).

    Examples
    --------
    >>> from torch import nn
    >>> from cislens.attribution.deeplift_engine.graph import build_graph
    >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> x = torch.zeros(1, 3)
    >>> fast_blocker(build_graph(net, "rescale", example=x)) is None
    True
    >>> fast_blocker(build_graph(net, "reveal_cancel", example=x))
    "'1 (nn.ReLU)' uses RevealCancel, which needs separate positive and negative parts"
    """
    for op in graph.ops:  # the cause first: the RevealCancel that needs the split
        if op.kind == NONLINEAR and op.rule != RESCALE:
            return (
                f"{op.label!r} uses RevealCancel, which needs separate positive and negative parts"
            )
    for op in graph.ops:
        if op.split_out:
            return f"{op.label!r} feeds a positive/negative split"
        if op.kind not in (INPUT, CONST, NONLINEAR, MAXPOOL, BILINEAR, SOFTMAX, *_LINEAR_KINDS):
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
        # m is this op's own buffer, used once: multiplying in place saves an allocation and a
        # pass (the fast path runs each backward exactly once)
        return m.mul_(grad), None, None


class _Route(torch.autograd.Function):
    """Forward: the real max-pool output ``y``; backward: the DeepSHAP max rule, i.e. the
    gradient of ``c_x * z[i_x] + c_r * z[i_r]`` (scatters along the last axis).

    ``groups`` lists ``(pairs, i_x)``: the x argmaxes of a slice of pairs, often one example's
    row broadcast (an expanded view; no per-pair copy of the index)."""

    @staticmethod
    def forward(ctx, z, y, c_x, c_r, i_r, zeros, groups):
        ctx.save_for_backward(c_x, c_r, i_r)
        ctx.zeros, ctx.groups = zeros, groups  # zeros: the input's shape, zeroed in the backward
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad):
        c_x, c_r, i_r = ctx.saved_tensors
        out = ctx.zeros.zero_()
        c_x.mul_(grad)  # in place: the coefficients are used once
        for part, i_x in ctx.groups:
            values = c_x[part]
            out[part].scatter_add_(-1, i_x.expand_as(values), values)
        out.scatter_add_(-1, i_r, c_r.mul_(grad))
        return out, None, None, None, None, None, None


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


POOLED_CHUNK_ELEMENTS = 1 << 19
"""Elements per chunk (at the pooled size) of the max rule's coefficients: they take a dozen
passes at the pooled size and a few gathers from the full activation, so larger chunks than
:data:`CHUNK_ELEMENTS` pay off (fewer calls into torch per pass)."""


def _chunks(pair_bank: torch.Tensor, row_numel: int, budget: int | None = None):
    """``(pairs, rows)``: chunks of at most about ``budget`` elements (default
    :data:`CHUNK_ELEMENTS`). ``rows`` is
    the bank row of the chunk's x when all its pairs share one example (broadcast without a
    copy), else the bank rows of its pairs (gathered). Pairs come grouped by example, so a
    chunk that would straddle examples is cut at the boundary unless the whole batch fits in
    one chunk (small activations: one gathered pass beats many tiny ones)."""
    n_pairs = int(pair_bank.numel())
    if pair_bank.device.type != "cpu":  # accelerators: one launch per op beats cache-sized chunks
        yield slice(0, n_pairs), pair_bank
        return
    budget = CHUNK_ELEMENTS if budget is None else budget
    step = max(1, budget // max(1, row_numel))
    if n_pairs <= step:
        first, last = int(pair_bank[0]), int(pair_bank[-1])
        yield slice(0, n_pairs), (first if first == last else pair_bank)
        return
    rows, counts = torch.unique_consecutive(pair_bank, return_counts=True)
    start = 0
    for row, count in zip(rows.tolist(), counts.tolist(), strict=True):
        for first in range(start, start + count, step):
            yield slice(first, min(start + count, first + step)), row
        start += count


def _one(bank: torch.Tensor, rows, like: torch.Tensor, broadcast: bool = False) -> torch.Tensor:
    """The x activations of a chunk of pairs, shaped like ``like`` (see :func:`_chunks`); with
    ``broadcast``, a single example's row is returned as (1, ...) for broadcasting."""
    if isinstance(rows, int):
        one = bank[rows : rows + 1]
        return one if broadcast else one.expand_as(like)
    return bank[rows]


def _buffer(workspace: dict, key, like: torch.Tensor, dtype=None) -> torch.Tensor:
    """An uninitialised tensor shaped like ``like``, reused from the previous batch when it fits.

    The multiplier and coefficient buffers of a batch are dead once its backward pass is done,
    so the next batch writes into the same memory: fresh large allocations cost page faults
    that, on small models, take as long as the arithmetic.
    """
    dtype = like.dtype if dtype is None else dtype
    buf = workspace.get(key)
    if buf is None or buf.shape != like.shape or buf.dtype != dtype or buf.device != like.device:
        buf = workspace[key] = torch.empty(like.shape, dtype=dtype, device=like.device)
    return buf


def _rescale(op, z_r: torch.Tensor, lookup, x_in, x_out, pair_bank, workspace):
    """The real output of a nonlinearity at the references and its Rescale multipliers.

    ``x_in`` and ``x_out`` are the banked activations of the inputs x (one row per example).
    """
    (x,) = op.var_inputs

    def f(v):
        return op.real(lambda n: v if n is x else lookup(n))

    slope = rules.relu_derivative if op.relu else None
    with torch.no_grad():
        y = f(z_r)
        m = _buffer(workspace, (op.node, "m"), y)
        for part, row in _chunks(pair_bank, z_r[:1].numel()):
            r_in, r_out = z_r[part], y[part]
            if op.secant is not None:  # a closed form, exact everywhere
                m[part] = op.secant(_one(x_in, row, r_in), r_in, _one(x_out, row, r_out), r_out)
                continue
            if op.relu:  # the closed form: a few passes instead of the generic rule's dozen
                rules.relu_rescale(
                    _one(x_in, row, r_in, True),
                    r_in,
                    _one(x_out, row, r_out, True),
                    r_out,
                    out=m[part],
                )
                continue
            m[part] = rules.rescale(
                f, _one(x_in, row, r_in), r_in, _one(x_out, row, r_out), r_out, slope
            )
    return y, m


def _max_rule(op, r_in, x_in, pair_bank, workspace, relu=False):
    """The real max-pool output at the references and the max rule's coefficients, argmaxes and
    x-argmax groups (see :class:`_Route`).

    ``relu``: ``r_in`` and ``x_in`` are the pre-activations ``z`` of a ReLU whose output only
    this pool uses. The pool then runs on ``z`` (``max relu(z) = relu(max z)``: the same
    maxima, with no pass over the whole activation for the ReLU's output; the argmaxes differ
    only in windows whose values are all <= 0, where the folded coefficients are 0 whichever
    argmax is taken, see :func:`.rules.relu_max_rule_pooled`), the ReLU's multipliers are
    folded into the coefficients at the argmaxes and the route goes to the ReLU's input.
    """
    with torch.no_grad():
        y_r, i_r = op.pool(r_in)
        y_bank, i_bank = op.pool(x_in)
        if relu:  # the pool's outputs are fresh tensors
            y_r, y_bank = y_r.relu_(), y_bank.relu_()
        c_x, c_r = _buffer(workspace, (op.node, "x"), y_r), _buffer(workspace, (op.node, "r"), y_r)
        groups = []
        for part, row in _chunks(pair_bank, y_r[:1].numel(), POOLED_CHUNK_ELEMENTS):
            r_part, y_part, i_part = r_in[part], y_r[part], i_r[part]
            i_x = _one(i_bank, row, i_part, True)
            x_side = (_one(x_in, row, r_part, True), r_part, _one(y_bank, row, y_part, True), i_x)
            out = (c_x[part], c_r[part])
            if relu:
                rules.relu_max_rule_pooled(*x_side, y_part, i_part, out=out)
            else:
                rules.max_rule_pooled(*x_side, y_part, i_part, out=out)  # = rules.max_rule
            groups.append((part, i_x))
    return y_r, c_x, c_r, i_r, _buffer(workspace, (op.node, "0"), r_in), groups


def fused_relus(graph: OpGraph) -> set:
    """The plain ReLUs whose output feeds one max pool and nothing else: their multipliers are
    only needed at the pool's argmaxes (:func:`.rules.relu_max_rule_pooled`)."""
    fused = set()
    for op in graph.ops:
        if op.kind != MAXPOOL or len(op.var_inputs) != 1:
            continue
        (x,) = op.var_inputs
        before = graph.by_node[x]
        if before.kind == NONLINEAR and before.relu and before.rule == RESCALE:
            if x is not graph.logits and list(x.users) == [op.node]:
                fused.add(x)
    return fused


def _bilinear(op, real: dict, lookup, xs) -> torch.Tensor:
    """The real reference output of a product of activations, with the bilinear rule's
    backward (the midpoints pair each reference with its own example's input)."""
    a, b = op.operands
    with torch.no_grad():
        a_r, b_r = real[a].detach(), real[b].detach()
        a_mid, b_mid = (xs(a) + a_r) / 2, (xs(b) + b_r) / 2
        y = op.real(lambda n: a_r if n is a else b_r if n is b else lookup(n))
    # the backward runs after this loop has released the activations: keep the constants only
    kept = {n: lookup(n) for n in op.node.all_input_nodes if n not in (a, b)}

    def prod(u, v):
        return op.prod(kept.__getitem__, u, v)

    return coupled.BilinearOverride.apply(real[a], real[b], y, prod, a_mid, b_mid)


def _softmax(op, real: dict, lookup, xs) -> torch.Tensor:
    """The real reference output of an inner softmax, with the softmax rule's backward."""
    (x,) = op.var_inputs
    with torch.no_grad():
        z_r = real[x].detach()
        y = op.real(lambda n: z_r if n is x else lookup(n))
        coef = coupled.softmax_coefficients(
            xs(x), z_r, op.dim, xs(op.node), y, log=op.family == "log_softmax"
        )
    return coupled.SoftmaxOverride.apply(real[x], y, coef)


def propagate_fast(
    graph: OpGraph,
    consts: dict,
    rows: torch.Tensor,
    n_x: int,
    bank: dict,
    pair_bank: torch.Tensor,
    target,
    workspace: dict | None = None,
) -> tuple[PairResult | None, dict]:
    """The fast equivalent of :func:`.propagate.propagate` (same arguments and results).

    ``workspace``: a dict kept across the batches of one call (and, for a cached graph,
    across calls; see :func:`.pairs.iterate_pairs`), holding buffers reused from batch to
    batch (see :func:`_buffer`); None: fresh buffers.
    """
    workspace = {} if workspace is None else workspace
    xbank = _forward_x(graph, consts, rows[:n_x], bank)
    n_pairs = int(pair_bank.numel())
    if not n_pairs:
        return None, xbank
    real: dict = {}
    pending: dict = {}  # fused ReLUs: their input (with autograd) and x pre-activations
    if "fused" not in workspace:
        workspace["fused"] = fused_relus(graph)
    fused = workspace["fused"]

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
            elif op.kind == NONLINEAR and node in fused:  # its rule runs with the pool's
                (x,) = op.var_inputs
                pending[node] = (real[x], xbank[x])  # its output is never formed
            elif op.kind == NONLINEAR:
                (x,) = op.var_inputs
                y, m = _rescale(
                    op, real[x].detach(), lookup, xbank[x], xbank[node], pair_bank, workspace
                )
                real[node] = _Multiply.apply(real[x], y, m)
            elif op.kind == MAXPOOL:
                (x,) = op.var_inputs
                relu = x in pending  # pool the ReLU's input, its multipliers folded in
                z, z_x = pending.pop(x) if relu else (real[x], xbank[x])
                y, *coefficients = _max_rule(op, z.detach(), z_x, pair_bank, workspace, relu)
                real[node] = _Route.apply(z, y, *coefficients)
            elif op.kind == BILINEAR:
                real[node] = _bilinear(op, real, lookup, xs)
            elif op.kind == SOFTMAX:
                real[node] = _softmax(op, real, lookup, xs)
            else:
                real[node] = real_value(op, lookup, strip=True)
            for used in node.all_input_nodes:
                if graph.last_use.get(used) == index:
                    real.pop(used, None)
        logits = real[graph.logits]
        x_logits = xs(graph.logits)
        explained = _seed(target, logits, x_logits)
        (grad,) = torch.autograd.grad(explained.sum(), d_in, allow_unused=True)
    # a copy: with a nonlinearity or max pool right at the input, the gradient is a workspace
    # buffer that the next batch overwrites
    multipliers = torch.zeros_like(d_in) if grad is None else grad.detach().clone()
    with torch.no_grad():
        result = PairResult(multipliers, target.select(x_logits), target.select(logits.detach()))
    return result, xbank


__all__ = ["fast_blocker", "fused_relus", "propagate_fast"]
