"""Run one batch through the op graph: the real forward, the difference streams, the multipliers.

For a batch of *rows* (the inputs x of some examples, then references r) the engine

1. runs the real forward once over the rows (each x once, however many references it has);
2. runs, for every example-reference pair, a *difference network*: the same graph applied to
   ``x - r`` where every linear op keeps its weights (bias dropped), every nonlinearity is the
   multiplication by its DeepLIFT multiplier, every max pool routes by the max rule, and every
   product of activations and every softmax applies its linear map (:mod:`.coupled`). Each
   value carries a positive and a negative part (``Stream``) where RevealCancel needs them, and
   one tied part elsewhere; the Linear rule splits a mixing layer's output by the sign of each
   term ``w * dx`` (``docs/algorithms.md`` section 1.2);
3. differentiates the explained output of the difference network with respect to ``x - r``.

The difference network is linear in ``x - r`` with constant multipliers, so its gradient *is*
the chain rule for multipliers, with ``m+`` and ``m-`` flowing separately along the two parts,
and its value is the sum of the contributions (summation-to-delta by construction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

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
    Op,
)


class Stream(NamedTuple):
    """A difference ``pos + neg`` (``neg`` None: one tied part). Values may be tuples."""

    pos: object
    neg: object = None


def _map(fn, *trees):
    if isinstance(trees[0], tuple | list):
        return type(trees[0])(_map(fn, *items) for items in zip(*trees, strict=True))
    return fn(*trees)


def _total(stream: Stream):
    if stream.neg is None:
        return stream.pos
    return _map(torch.add, stream.pos, stream.neg)


def _split(stream: Stream) -> Stream:
    if stream.neg is not None:
        return stream
    pos = _map(lambda d: d * rules.sign_masks(d)[0], stream.pos)
    neg = _map(lambda d: d * rules.sign_masks(d)[1], stream.pos)
    return Stream(pos, neg)


def real_value(op: Op, lookup, *, strip: bool):
    """The op's real output; with ``strip`` a final sigmoid is dropped and a softmax centred."""
    if op.kind == OUTPUT_ACT and strip:
        z = lookup(op.var_inputs[0])
        if op.activation == "sigmoid":
            return z
        return z - z.mean(op.dim, keepdim=True)
    return op.real(lookup)


def run_real(graph: OpGraph, consts: dict, rows: torch.Tensor, *, strip: bool) -> dict:
    """All real activations for ``rows`` (used by the pre-flight checks)."""
    real: dict = {graph.input: rows}

    def lookup(n):
        return real[n] if n in real else consts[n]

    with torch.no_grad():
        for op in graph.ops:
            if op.kind not in (CONST, INPUT):
                real[op.node] = real_value(op, lookup, strip=strip)
    return real


@dataclass
class PairResult:
    """Multipliers and target outputs of a batch of example-reference pairs."""

    multipliers: torch.Tensor
    output: torch.Tensor
    reference_output: torch.Tensor


def propagate(
    graph: OpGraph,
    consts: dict,
    rows: torch.Tensor,
    n_x: int,
    bank: dict,
    pair_bank: torch.Tensor,
    target,
) -> tuple[PairResult | None, dict]:
    """Multipliers for the pairs of one batch.

    Parameters
    ----------
    rows : Tensor (R, ...)
        The ``n_x`` inputs x of this batch, then one reference row per pair.
    bank : dict
        Activations of x rows computed in an earlier batch, by node (the rows of an example whose
        references continue in this batch); prepended to this batch's x rows.
    pair_bank : LongTensor (P,)
        For each pair, the row of its x in ``bank + this batch's x rows``.
    target : cislens.attribution._common.Target
        Which output is explained.

    Returns
    -------
    (PairResult or None, dict)
        The pairs' results (None without pairs) and the x activations of this batch (the bank
        to carry over), by node.
    """
    n_pairs = int(pair_bank.numel())
    real: dict = {}
    sur: dict = {}
    xbank: dict = {}

    def real_lookup(n):
        return real[n] if n in real else consts[n]

    def sur_lookup(n):
        if n in sur:
            value = sur[n]
            return value.pos if isinstance(value, Stream) else value
        return consts[n]

    def xs(n):
        return xbank[n][pair_bank]

    def rs(n):
        return real[n][n_x:]

    d_in = None
    for index, op in enumerate(graph.ops):
        node = op.node
        if op.kind == CONST:
            continue
        with torch.no_grad():
            real[node] = rows if op.kind == INPUT else real_value(op, real_lookup, strip=True)
        if op.keep_x:
            own = real[node][:n_x]
            xbank[node] = torch.cat([bank[node], own]) if node in bank else own
        if n_pairs:
            with torch.enable_grad():
                if op.kind == INPUT:
                    d_in = (xs(node) - rs(node)).detach().requires_grad_(True)
                    sur[node] = _split(Stream(d_in)) if op.split_out else Stream(d_in)
                else:
                    sur[node] = _surrogate(op, sur, sur_lookup, xs, rs, xbank, pair_bank)
        for used in node.all_input_nodes:
            if graph.last_use.get(used) == index:
                real.pop(used, None)
                sur.pop(used, None)
    if not n_pairs:
        return None, xbank
    logits = graph.logits
    x_logits, r_logits = xs(logits), rs(logits)
    with torch.enable_grad():
        explained = _seed(target, _total(sur[logits]), x_logits)
        (grad,) = torch.autograd.grad(explained.sum(), d_in, allow_unused=True)
    multipliers = torch.zeros_like(d_in) if grad is None else grad.detach()
    with torch.no_grad():
        result = PairResult(multipliers, target.select(x_logits), target.select(r_logits))
    return result, xbank


def _seed(target, sur_logits: torch.Tensor, x_logits: torch.Tensor) -> torch.Tensor:
    """The explained scalar of the difference network (linear in it)."""
    if target.function is None:
        return target.select(sur_logits)
    # a callable target: its gradient at the input's logits (exact when it is linear; the
    # summation check flags a nonlinear one)
    with torch.enable_grad():
        leaf = x_logits.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(target.select(leaf).sum(), leaf, allow_unused=True)
    g = torch.zeros_like(leaf) if g is None else g.detach()
    if sur_logits.ndim == 1:
        return g.reshape(sur_logits.shape) * sur_logits
    return (g * sur_logits).sum(-1)


def _surrogate(op: Op, sur, sur_lookup, xs, rs, xbank, pair_bank):
    kind = op.kind
    if kind == SHAPE:
        return op.real(sur_lookup)

    def with_values(values: dict):
        return lambda n: values[n] if n in values else sur_lookup(n)

    inputs = [sur[n] for n in op.var_inputs]
    if kind == LINEAR:
        names = op.var_inputs
        if not op.split_out:
            return Stream(
                op.lin(with_values({n: _total(s) for n, s in zip(names, inputs, strict=True)}))
            )
        parts = [(n, _split(s), sign) for n, s, sign in zip(names, inputs, op.signs, strict=True)]
        pos = {n: s.pos if sign > 0 else s.neg for n, s, sign in parts}
        neg = {n: s.neg if sign > 0 else s.pos for n, s, sign in parts}
        return Stream(op.lin(with_values(pos)), op.lin(with_values(neg)))
    if kind == BILINEAR:
        return _bilinear(op, sur, sur_lookup, xs, rs)
    (x,) = op.var_inputs
    (stream,) = inputs
    if kind == SCALE:
        if not op.split_out:
            return Stream(op.lin(with_values({x: _total(stream)})))
        stream = _split(stream)
        a, b = op.lin(with_values({x: stream.pos})), op.lin(with_values({x: stream.neg}))
        sign = op.sign_of(sur_lookup)
        if not isinstance(sign, torch.Tensor):
            return Stream(a, b) if sign >= 0 else Stream(b, a)
        keep = sign >= 0
        return Stream(torch.where(keep, a, b), torch.where(keep, b, a))
    if kind == MIXING:
        d = _total(stream)
        w = torch.as_tensor(op.weight(sur_lookup)).detach()
        y = op.mix(d, w)
        if not op.split_out:
            return Stream(y)
        # the sign of each term w * dx is that of the *real* difference of the input (as in the
        # paper and deeplift), not of the stream's total: a unit whose true change is exactly 0
        # (a ReLU inactive at input and reference) carries parts a+ = -a- whose sum is a rounding
        # residue, and its sign would send the whole multiplier to one side
        with torch.no_grad():
            m_pos, m_neg = rules.sign_masks(xs(x) - rs(x))
        y_pos = op.mix(d * m_pos, w.clamp(min=0)) + op.mix(d * m_neg, w.clamp(max=0))
        return Stream(y_pos, y - y_pos)
    if kind == OUTPUT_ACT:
        d = _total(stream)
        return Stream(d if op.activation == "sigmoid" else d - d.mean(op.dim, keepdim=True))
    if kind == MAXPOOL:
        with torch.no_grad():
            y_bank, i_bank = op.pool(xbank[x])
            y_x, i_x = y_bank[pair_bank], i_bank[pair_bank]
            y_r, i_r = op.pool(rs(x))
            c_x, c_r = rules.max_rule(xs(x), rs(x), y_x, i_x, y_r, i_r)

        def route(v):
            return c_x * v.gather(-1, i_x) + c_r * v.gather(-1, i_r)

        if op.split_out:
            stream = _split(stream)
            return Stream(route(stream.pos), route(stream.neg))
        return Stream(route(_total(stream)))
    if kind == NONLINEAR:
        return _nonlinear(op, x, stream, sur_lookup, xs, rs)
    if kind == SOFTMAX:
        return _softmax(op, x, stream, xs, rs)
    raise AssertionError(kind)


def _bilinear(op: Op, sur, sur_lookup, xs, rs) -> Stream:
    a, b = op.operands
    with torch.no_grad():
        a_mid, b_mid = (xs(a) + rs(a)) / 2, (xs(b) + rs(b)) / 2

    def prod(u, v):
        return op.prod(sur_lookup, u, v)

    total, pos = coupled.bilinear(
        prod, _total(sur[a]), _total(sur[b]), a_mid, b_mid, split=op.split_out
    )
    return Stream(total) if pos is None else Stream(pos, total - pos)


def _softmax(op: Op, x, stream: Stream, xs, rs) -> Stream:
    with torch.no_grad():
        coef = coupled.softmax_coefficients(
            xs(x), rs(x), op.dim, xs(op.node), rs(op.node), log=op.family == "log_softmax"
        )
    if op.split_out:
        stream = _split(stream)
        return Stream(*coupled.softmax_split(coef, stream.pos, stream.neg))
    return Stream(coupled.softmax_map(coef, _total(stream)))


def _nonlinear(op: Op, x, stream: Stream, sur_lookup, xs, rs) -> Stream:
    def f(z):
        return op.real(lambda n: z if n is x else sur_lookup(n))

    with torch.no_grad():
        x_in, r_in, x_out, r_out = xs(x), rs(x), xs(op.node), rs(op.node)
        if op.rule == RESCALE and op.secant is not None:
            m = op.secant(x_in, r_in, x_out, r_out)
        elif op.rule == RESCALE:
            slope = rules.relu_derivative if op.relu else None
            m = rules.rescale(f, x_in, r_in, x_out, r_out, slope)
        else:
            stream = _split(stream)
            m_pos, m_neg = rules.reveal_cancel(
                f, x_in, r_in, x_out, r_out, stream.pos.detach(), stream.neg.detach()
            )
    if op.rule == RESCALE:
        if not op.split_out:
            return Stream(m * _total(stream))
        stream = _split(stream)
        keep = m >= 0
        a, b = m * stream.pos, m * stream.neg
        return Stream(torch.where(keep, a, b), torch.where(keep, b, a))
    pos, neg = m_pos * stream.pos, m_neg * stream.neg
    return Stream(pos, neg) if op.split_out else Stream(pos + neg)


__all__ = ["PairResult", "Stream", "propagate", "real_value", "run_real"]
