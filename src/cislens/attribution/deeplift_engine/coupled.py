"""DeepLIFT rules of operations that couple activations: bilinear products and the softmax.

Both rules are linear maps of the difference streams with coefficients computed, per
example-reference pair, from the real activations of the input (``x``) and of the reference
(``r``); both are exact by construction (their output difference equals ``f(x) - f(r)`` up to
rounding). ``docs/deeplift_rules.md`` derives them.

**Bilinear** ``f(a, b)`` (``a * b``, ``a @ b``, ``torch.bmm``, ``torch.einsum`` with two
operands): the two-player Shapley value of the players ``da = a_x - a_r`` and ``db = b_x - b_r``,

``d_out = f(da, b_mid) + f(a_mid, db)``, with midpoints ``a_mid = (a_x + a_r) / 2`` and
``b_mid = (b_x + b_r) / 2``,

since ``f(a_x, b_x) - f(a_r, b_r)`` equals that sum for every bilinear ``f``. Where the output
must carry positive and negative parts, each of the two terms is a linear map of one difference
with the other operand's midpoint as its weight, split as the Linear rule splits a dense layer:
the terms ``f(da+, b_mid+) + f(da-, b_mid-) + f(a_mid+, db+) + f(a_mid-, db-)`` are positive, the
rest negative.

**Softmax** over ``dim`` is composed as ``exp(log_softmax(z))`` and ``log_softmax(z) = z - l``
with ``l = logsumexp(z) = c + log(sum exp(z - c))``. Per pair, the shift ``c = max(max z_x,
max z_r)`` is common to input and reference, so it cancels from every difference; it only keeps
``exp`` from overflowing. The pieces are exact rules: ``e = exp(z - c)`` (Rescale ``m_e``),
``q = sum e`` (linear), ``log q`` (Rescale ``m_log = (l_x - l_r) / (q_x - q_r)``), ``u = z - l``
(linear), ``s = exp(u)`` (Rescale ``m_s``; ``u <= 0``, so it never overflows). Hence

``du = dz - m_log * sum_dim(m_e * dz)`` and ``ds = m_s * du``.

(The composition ``s = e * (1 / q)`` with the bilinear rule is exact as well but its multipliers
grow like ``exp(D)`` when the largest logits of input and reference differ by ``D``: with logits
of standard deviation 10, contributions of 1e9 cancel to outputs in [0, 1] and float64 loses the
sum. Every coefficient above is bounded: ``m_e, m_s`` in [0, 1], ``m_log * m_e`` at most about
``D``.) All coefficients are positive, so positive and negative parts pass through as through
the composed linear ops: ``du+ = dz+ - m_log * sum(m_e * dz-)`` and ``du- = dz- - m_log *
sum(m_e * dz+)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from cislens.attribution.deeplift_engine import rules

Prod = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --- bilinear products -------------------------------------------------------------------------


def bilinear(prod: Prod, da, db, a_mid, b_mid, split: bool = False):
    """The bilinear rule: ``(d_out, positive part or None)``.

    ``prod(u, v)`` evaluates the product with ``u`` and ``v`` in the two operands' places;
    ``da``, ``db`` are the operands' difference streams and ``a_mid``, ``b_mid`` the midpoints
    of their real activations.

    Examples
    --------
    >>> a_x, a_r, b_x, b_r = (torch.tensor([v]) for v in (3.0, 1.0, 5.0, 2.0))
    >>> d, pos = bilinear(torch.mul, a_x - a_r, b_x - b_r, (a_x + a_r) / 2, (b_x + b_r) / 2)
    >>> d.item() == (a_x * b_x - a_r * b_r).item(), pos is None
    (True, True)
    """
    total = prod(da, b_mid) + prod(a_mid, db)
    if not split:
        return total, None
    pos_a, neg_a = rules.sign_masks(da)
    pos_b, neg_b = rules.sign_masks(db)
    a_pos, b_pos = a_mid.clamp(min=0), b_mid.clamp(min=0)
    pos = (
        prod(da * pos_a, b_pos)
        + prod(da * neg_a, b_mid - b_pos)
        + prod(a_pos, db * pos_b)
        + prod(a_mid - a_pos, db * neg_b)
    )
    return total, pos


class BilinearOverride(torch.autograd.Function):
    """Fast path: forward returns the real reference output ``f(a_r, b_r)``; backward applies the
    transpose of the rule's linear map ``(da, db) -> f(da, b_mid) + f(a_mid, db)``."""

    @staticmethod
    def forward(ctx, a, b, y, prod, a_mid, b_mid):
        ctx.prod = prod
        ctx.save_for_backward(a_mid, b_mid)
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad):
        a_mid, b_mid = ctx.saved_tensors
        with torch.enable_grad():
            # the map is linear, so its vector-Jacobian product does not depend on where it is
            # taken: zeros of the operands' shapes will do
            u = torch.zeros_like(a_mid).requires_grad_(True)
            v = torch.zeros_like(b_mid).requires_grad_(True)
            out = ctx.prod(u, b_mid) + ctx.prod(a_mid, v)
            grad_u, grad_v = torch.autograd.grad(out, (u, v), grad, allow_unused=True)
        grad_u = torch.zeros_like(u) if grad_u is None else grad_u
        grad_v = torch.zeros_like(v) if grad_v is None else grad_v
        return grad_u, grad_v, None, None, None, None


# --- softmax -------------------------------------------------------------------------------------


class SoftmaxCoefficients(NamedTuple):
    """Per-pair coefficients of the softmax rule (``m_s`` is None for a log-softmax)."""

    m_e: torch.Tensor
    m_log: torch.Tensor
    m_s: torch.Tensor | None
    dim: int


def softmax_coefficients(z_x, z_r, dim: int, s_x=None, s_r=None, log: bool = False):
    """Coefficients of the composed softmax rule for logits ``z_x`` (input) and ``z_r``
    (reference), both shaped (P, ...); ``s_x``, ``s_r``: the real softmax outputs (computed when
    None). Near-zero differences take midpoint derivatives, as :func:`.rules.rescale` does.

    Examples
    --------
    >>> z_x = torch.tensor([[1000.0, 0.0, -3.0]], dtype=torch.float64)
    >>> z_r = torch.tensor([[0.0, 2.0, 1.0]], dtype=torch.float64)
    >>> coef = softmax_coefficients(z_x, z_r, -1)
    >>> ds = softmax_map(coef, z_x - z_r)  # no overflow, exact
    >>> bool(torch.allclose(ds, torch.softmax(z_x, -1) - torch.softmax(z_r, -1)))
    True
    """
    c = torch.maximum(z_x.amax(dim, keepdim=True), z_r.amax(dim, keepdim=True))
    u_x, u_r = z_x - c, z_r - c
    e_x, e_r = u_x.exp(), u_r.exp()
    m_e = rules.rescale(torch.exp, u_x, u_r, e_x, e_r, torch.exp)
    q_x, q_r = e_x.sum(dim, keepdim=True), e_r.sum(dim, keepdim=True)
    # log q_x - log q_r from the stable log-sum-exp, never from log of a sum that underflowed
    l_x, l_r = torch.logsumexp(z_x, dim, keepdim=True), torch.logsumexp(z_r, dim, keepdim=True)
    m_log = rules.rescale(torch.log, q_x, q_r, l_x, l_r, torch.reciprocal)
    # logits that are -inf in input and reference (an attention mask) have e = s = 0 in both:
    # no difference to attribute, but their secants are NaN (-inf minus -inf)
    masked = torch.isneginf(z_x) & torch.isneginf(z_r)
    any_masked = bool(masked.any())
    if any_masked:
        m_e = m_e.masked_fill(masked, 0.0)
    if log:
        return SoftmaxCoefficients(m_e, m_log, None, dim)
    s_x = torch.softmax(z_x, dim) if s_x is None else s_x
    s_r = torch.softmax(z_r, dim) if s_r is None else s_r
    m_s = rules.rescale(torch.exp, z_x - l_x, z_r - l_r, s_x, s_r, torch.exp)
    if any_masked:
        m_s = m_s.masked_fill(masked, 0.0)
    return SoftmaxCoefficients(m_e, m_log, m_s, dim)


def softmax_map(coef: SoftmaxCoefficients, dz: torch.Tensor) -> torch.Tensor:
    """The rule's linear map ``dz -> ds`` (or ``dz -> d log_softmax``)."""
    du = dz - coef.m_log * (coef.m_e * dz).sum(coef.dim, keepdim=True)
    return du if coef.m_s is None else coef.m_s * du


def softmax_split(coef: SoftmaxCoefficients, dz_pos, dz_neg):
    """The map on positive and negative parts (all coefficients are non-negative)."""
    l_pos = coef.m_log * (coef.m_e * dz_pos).sum(coef.dim, keepdim=True)
    l_neg = coef.m_log * (coef.m_e * dz_neg).sum(coef.dim, keepdim=True)
    du_pos, du_neg = dz_pos - l_neg, dz_neg - l_pos
    if coef.m_s is None:
        return du_pos, du_neg
    return coef.m_s * du_pos, coef.m_s * du_neg


def softmax_transpose(coef: SoftmaxCoefficients, grad: torch.Tensor) -> torch.Tensor:
    """The transpose of :func:`softmax_map` (the fast path's backward)."""
    g = grad if coef.m_s is None else coef.m_s * grad
    return g - coef.m_e * (coef.m_log * g.sum(coef.dim, keepdim=True))


class SoftmaxOverride(torch.autograd.Function):
    """Fast path: forward returns the real reference output; backward the rule's transpose."""

    @staticmethod
    def forward(ctx, z, y, coef):
        ctx.coef = coef
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad):
        return softmax_transpose(ctx.coef, grad), None, None


__all__ = [
    "BilinearOverride",
    "SoftmaxCoefficients",
    "SoftmaxOverride",
    "bilinear",
    "softmax_coefficients",
    "softmax_map",
    "softmax_split",
    "softmax_transpose",
]
