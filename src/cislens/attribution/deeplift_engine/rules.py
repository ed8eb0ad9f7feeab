"""DeepLIFT multipliers of single operations: Rescale, RevealCancel, the max rule.

All functions take the activations of the actual input (``x_*``) and of the reference
(``r_*``) for a batch of example-reference pairs and return per-element multipliers; none of
them is differentiated (the engine treats the multipliers as constants).

Near-zero handling (``docs/algorithms.md`` sections 1.3 and 10.4). A difference ``dx`` counts
as zero when ``|dx| <= atol + rtol * max(|x|, |r|)``, with ``(atol, rtol)`` chosen by dtype:

=========  ==========  ==========
dtype      atol        rtol
=========  ==========  ==========
float64    1e-12       1e-10
float32    1e-6        1e-5
=========  ==========  ==========

Below the threshold the secant ``(f(x) - f(r)) / (x - r)`` is mostly rounding noise, so it is
replaced by the derivative at the midpoint, ``f'((x + r) / 2)`` (the best local estimate of the
secant; deeplift uses ``f'(r)``, captum and tangermeme ``f'(x)``). The substitution changes a
contribution by at most ``|dx| * |secant - f'|``, i.e. below the threshold times the slope range.
RevealCancel's multipliers are means of two such secants (see :func:`reveal_cancel`), each with
this fallback, and it takes the Rescale secant of ``x - r`` where ``r + dx+`` or ``r + dx-``
lies outside the domain of ``f``. The max rule needs no threshold: its coefficients are ratios of
differences of the same values that always lie in [0, 1] (see :func:`max_rule`), so rounding
cannot blow them up, and a threshold would change an O(1) multiplier on a difference that is
only rounding-small in float32 (float32 results then departed from float64 ones by percent).
Only an exactly zero difference (0 / 0) falls back to the gradient routing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

NEAR_ZERO = {torch.float64: (1e-12, 1e-10), torch.float32: (1e-6, 1e-5)}
"""(atol, rtol) of the near-zero test by dtype."""

Fn = Callable[[torch.Tensor], torch.Tensor]


def near_zero(delta: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the differences ``delta`` too small for a stable ratio.

    Examples
    --------
    >>> d = torch.tensor([0.0, 1e-13, 1e-3], dtype=torch.float64)
    >>> near_zero(d, torch.ones(3, dtype=torch.float64)).tolist()
    [True, True, False]
    """
    atol, rtol = NEAR_ZERO.get(delta.dtype, NEAR_ZERO[torch.float32])
    if not values:
        return delta.abs() <= atol
    scale = values[0].abs()
    for value in values[1:]:
        scale = torch.maximum(scale, value.abs())
    return delta.abs() <= scale.mul_(rtol).add_(atol)


def _apart(delta: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
    """``1.0`` where ``delta`` is *not* near zero, ``0.0`` where it is (float, not bool).

    Exactly ``~near_zero(delta, *values)`` as numbers: ``|delta| - threshold > 0`` has the sign
    of ``|delta| > threshold`` in IEEE arithmetic. Float masks keep the rules on the fast
    elementwise kernels (boolean masks and ``torch.where`` are several times slower on CPU).
    """
    atol, rtol = NEAR_ZERO.get(delta.dtype, NEAR_ZERO[torch.float32])
    scale = values[0].abs()
    for value in values[1:]:
        scale = torch.maximum(scale, value.abs())
    gap = delta.abs().sub_(scale.mul_(rtol).add_(atol))
    return gap.clamp_min_(0).sign_()


def _secant(numerator, delta, apart):
    """``numerator / delta`` where ``apart`` is 1, ``numerator`` where it is 0."""
    return numerator / torch.addcmul(1 - apart, delta, apart)


def derivative(f: Fn, z: torch.Tensor) -> torch.Tensor:
    """Elementwise derivative of the elementwise function ``f`` at ``z`` (by autograd)."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(z).sum(), z, allow_unused=True)
    return torch.zeros_like(z) if grad is None else grad.detach()


def relu_derivative(z: torch.Tensor) -> torch.Tensor:
    """The derivative of ReLU as autograd defines it (0 at 0), without autograd.

    Examples
    --------
    >>> relu_derivative(torch.tensor([-1.0, 0.0, 2.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    return z.clamp_min(0).sign_()


def rescale(f: Fn, x_in, r_in, x_out, r_out, slope: Fn | None = None) -> torch.Tensor:
    """Rescale multipliers ``(f(x) - f(r)) / (x - r)``, the midpoint derivative near zero.

    ``slope``, when given, is the derivative of ``f`` in closed form, finite everywhere (e.g.
    :func:`relu_derivative`); otherwise autograd computes it.

    Examples
    --------
    >>> x, r = torch.tensor([4.0, -1.0, 2.0]), torch.tensor([-4.0, -3.0, 2.0])
    >>> rescale(torch.relu, x, r, torch.relu(x), torch.relu(r)).tolist()
    [0.5, 0.0, 1.0]
    """
    delta = x_in - r_in
    apart = _apart(delta, x_in, r_in)
    m = _secant(x_out - r_out, delta, apart)
    if float(apart.min()) < 1:  # some differences are near zero
        mid = (x_in + r_in) / 2
        if slope is None:  # torch.where: an autograd derivative may be infinite elsewhere
            return torch.where(apart == 0, derivative(f, mid), m)
        return m.mul_(apart).add_(slope(mid).mul_(1 - apart))  # m where apart, else slope
    return m


def relu_rescale(x_in, r_in, x_out, r_out, out=None) -> torch.Tensor:
    """:func:`rescale` of ReLU in a few passes: ``(relu(x) - relu(r)) / (x - r)``, fixed up
    only where the difference is tiny.

    Equal to ``rescale(torch.relu, x_in, r_in, x_out, r_out, relu_derivative)`` element by
    element (up to the sign of a zero). Where x and r are both positive the numerator *is* the
    denominator (the same subtraction), so the secant is exactly 1, the midpoint slope too; both
    non-positive: 0 either way. Only where their signs differ can the near-zero test matter, and
    then ``|x - r| = |x| + |r| >= max(|x|, |r|)``, so ``|x - r| <= atol + rtol * max(|x|, |r|)``
    forces ``|x - r| <= 2 * atol`` (rtol << 1). The elements with ``|x - r| <= 2 * atol``
    (a superset, including the 0 / 0 ones) go through :func:`rescale`; all others keep the
    secant. Three elementwise passes and a test instead of about fifteen: on small models the
    rules cost as much as the forward pass. ``out``: where to write (the result's shape).

    Examples
    --------
    >>> x, r = torch.tensor([4.0, -1.0, 2.0, 3.0]), torch.tensor([-4.0, -3.0, 2.0, 1.0])
    >>> relu_rescale(x, r, torch.relu(x), torch.relu(r)).tolist()
    [0.5, 0.0, 1.0, 1.0]
    """
    atol = NEAR_ZERO.get(r_in.dtype, NEAR_ZERO[torch.float32])[0]
    delta = torch.sub(x_in, r_in)
    m = torch.sub(x_out, r_out, out=out).div_(delta)
    where = small_where(delta.abs_(), 2 * atol)
    if where is not None:
        shape = m.shape

        def pick(v):
            return v.expand(shape)[where]

        m[where] = rescale(
            torch.relu, pick(x_in), pick(r_in), pick(x_out), pick(r_out), relu_derivative
        )
    return m


def reveal_cancel(f: Fn, x_in, r_in, x_out, r_out, d_pos, d_neg):
    """RevealCancel multipliers ``(m+, m-)`` for the positive and negative input parts.

    ``d_pos + d_neg = x_in - r_in``. The output parts are the two-player Shapley values
    ``dy+ = [f(r + d+) - f(r)] / 2 + [f(x) - f(r + d-)] / 2`` (and symmetrically ``dy-``), so
    ``dy+ + dy- = f(x) - f(r)`` exactly; ``m+ = dy+ / d+`` and ``m- = dy- / d-``, computed as
    means of secants, ``m+ = [s(r, r + d+) + s(r + d-, x)] / 2`` with ``s`` the Rescale secant
    (the same in exact arithmetic, and free of cancellation when a part is small).

    Examples
    --------
    >>> r, dp, dn = torch.zeros(1), torch.tensor([10.0]), torch.tensor([-6.0])
    >>> x = r + dp + dn
    >>> m_pos, m_neg = reveal_cancel(torch.relu, x, r, torch.relu(x), torch.relu(r), dp, dn)
    >>> round(m_pos.item(), 6), round(m_neg.item(), 6)  # dy+ = 7, dy- = -3
    (0.7, 0.5)
    """
    # each multiplier is the mean of two secants over intervals of width d+ (or d-): [r, r + d+]
    # and [r + d-, x]. Dividing dy+ by d+ instead divides differences of values of size |x|, |r|
    # by d+, so a small part (1e-4 beside values of 2) amplified float32 rounding to percent;
    # the secants are bounded by the slope range and exact on linear pieces, and near-zero
    # widths take the midpoint derivative (:func:`rescale`)
    p_in, q_in = r_in + d_pos, r_in + d_neg
    p_out, q_out = f(p_in), f(q_in)
    m_pos = 0.5 * (rescale(f, p_in, r_in, p_out, r_out) + rescale(f, x_in, q_in, x_out, q_out))
    m_neg = 0.5 * (rescale(f, q_in, r_in, q_out, r_out) + rescale(f, x_in, p_in, x_out, p_out))
    # r + d+ or r + d- can leave the domain of f (log, sqrt, rsqrt, reciprocal) although x and r
    # lie in it; there RevealCancel is undefined and the element takes the Rescale secant for
    # both parts, which is exact as well (m * (d+ + d-) = f(x) - f(r))
    undefined = ~(m_pos.isfinite() & m_neg.isfinite())
    if bool(undefined.any()) and bool(x_out.isfinite().all() and r_out.isfinite().all()):
        m = rescale(f, x_in, r_in, x_out, r_out)
        m_pos, m_neg = torch.where(undefined, m, m_pos), torch.where(undefined, m, m_neg)
    return m_pos, m_neg


def reciprocal_secant(x_in, r_in, x_out, r_out) -> torch.Tensor:
    """The Rescale multiplier of ``1 / z`` in closed form: ``-1 / (x r) = -(1 / x) (1 / r)``.

    Exact for all non-zero ``x`` and ``r``, near each other or not, of either sign (across the
    pole the secant is positive): ``-(x - r) / (x r) = 1 / x - 1 / r``. No near-zero fallback is
    needed (at ``x = r`` it is the derivative ``-1 / x**2``). A zero ``x`` or ``r`` has an
    infinite output; the multiplier is then infinite too and the summation check reports the pair.

    Examples
    --------
    >>> x, r = torch.tensor([2.0, -1.0, 4.0]), torch.tensor([4.0, 2.0, 4.0])
    >>> m = reciprocal_secant(x, r, 1 / x, 1 / r)
    >>> m.tolist(), (m * (x - r)).tolist() == (1 / x - 1 / r).tolist()
    ([-0.125, 0.5, -0.0625], True)
    """
    return -(x_out * r_out)


def _single(value) -> int | None:
    if isinstance(value, list | tuple):
        return int(value[0]) if len(value) == 1 else None
    return None if value is None else int(value)


def max_pool_indices(z, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """``F.max_pool1d_with_indices(z, ...)``, faster when the windows tile the input.

    With stride equal to the kernel size, no padding and no dilation (``MaxPool1d(k)``, as in
    Basset and DeepSTARR), the windows are the rows of a ``(..., L // k, k)`` view of ``z``,
    and the maxima and their indices come from running maxima over its columns
    (:func:`_tile_max`): the same values and the same indices (the first maximum of each
    window; on the CPU ``max_pool1d_with_indices`` is 3-6x slower, a reduction with indices
    over the view's last axis 2-3.5x). Only a window holding a NaN may get another index; its
    maximum is NaN either way, and so is every contribution it routes, which the summation
    check reports. Every other setting goes to ``F.max_pool1d_with_indices``.

    Examples
    --------
    >>> z = torch.tensor([[[1.0, 3.0, 2.0, 2.0, 0.0, 5.0, 9.0]]])
    >>> y, i = max_pool_indices(z, 2)
    >>> y.tolist(), i.tolist()
    ([[[3.0, 2.0, 5.0]]], [[[1, 2, 5]]])
    >>> y_f, i_f = torch.nn.functional.max_pool1d_with_indices(z, 2)
    >>> torch.equal(y, y_f) and torch.equal(i, i_f)
    True
    """
    k = _single(kernel_size)
    step = (
        k
        if stride is None or (isinstance(stride, list | tuple) and not stride)
        else _single(stride)
    )
    tiles = k is not None and step == k and _single(padding) == 0 and _single(dilation) == 1
    if tiles and not ceil_mode and z.ndim >= 2 and 0 < k <= z.shape[-1]:
        return _tile_max(z, k)
    return F.max_pool1d_with_indices(z, kernel_size, stride, padding, dilation, ceil_mode)


def _tile_max(z: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Maxima and first argmaxes of the windows ``z[..., j*k : (j+1)*k]``, from running maxima.

    With ``m_t`` the maximum of a window's first ``t + 1`` values, the window's maximum is
    ``y = m_{k-1}`` and its first argmax is the number of ``t < k - 1`` with ``m_t < y`` (the
    running maximum is non-decreasing and reaches ``y`` at the first maximum). That is ``k - 1``
    elementwise maxima and comparisons over strided views: a reduction with indices over a
    last axis of 2-4 elements (``Tensor.max(-1)``, ``max_pool1d_with_indices``) is 2-6x slower
    on the CPU.
    """
    n = z.shape[-1] // k
    windows = z[..., : n * k].unflatten(-1, (n, k))
    running = [windows[..., 0]]
    for t in range(1, k):
        running.append(torch.maximum(running[-1], windows[..., t]))
    y = running.pop()
    if k == 1:
        return y.clone(), torch.arange(n, device=z.device).expand(y.shape).clone()
    i = torch.add(torch.arange(0, n * k, k, device=z.device), running[0] < y)
    for m in running[1:]:
        i.add_(m < y)
    return y, i


def max_rule(x_in, r_in, y_x, i_x, y_r, i_r):
    """Coefficients of the DeepSHAP max rule for one max-pooling layer.

    Per window with input maximum ``y_x`` at ``i_x`` and reference maximum ``y_r`` at ``i_r``
    (positions along the last axis) and ``M = max(y_x, y_r)``: the input's argmax receives
    ``M - y_r`` and the reference's argmax ``y_x - M``, so a window's credits sum to
    ``y_x - y_r`` whatever the two argmaxes are. Returned as coefficients on the input
    differences at those positions: ``dy = c_x * dx[i_x] + c_r * dx[i_r]``.

    Both lie in [0, 1]: ``c_x = (M - y_r) / (y_x - r[i_x])`` with ``y_r >= r[i_x]``, and
    ``c_r = (y_x - M) / (x[i_r] - y_r)`` with ``x[i_r] <= y_x``; a zero difference has a zero
    numerator and gets the gradient routing (``c_x = 1``, ``c_r = 0``).

    Examples
    --------
    >>> x, r = torch.tensor([[3.0, 1.0]]), torch.tensor([[0.0, 5.0]])
    >>> c_x, c_r = max_rule(x, r, torch.tensor([[3.0]]), torch.tensor([[0]]),
    ...                     torch.tensor([[5.0]]), torch.tensor([[1]]))
    >>> c_x.item() * 3.0 + c_r.item() * (1.0 - 5.0)  # equals y_x - y_r
    -2.0
    """
    # gather first, subtract at the pooled size (the same values as gathering x - r)
    x_ix, r_ix = x_in.gather(-1, i_x), r_in.gather(-1, i_x)
    x_ir, r_ir = x_in.gather(-1, i_r), r_in.gather(-1, i_r)
    d_x, d_r = x_ix - r_ix, x_ir - r_ir
    top = torch.maximum(y_x, y_r)
    apart_x, apart_r = d_x.abs().sign(), d_r.abs().sign()  # 0 only for an exact zero
    # a zero difference: c_x = 1 (the gradient's routing) and c_r = 0 (the secants are 0 / 1)
    c_x = _secant(top - y_r, d_x, apart_x).mul_(apart_x).add_(1 - apart_x)
    c_r = _secant(y_x - top, d_r, apart_r).mul_(apart_r)
    return c_x, c_r


def max_rule_pooled(x_in, r_in, y_x, i_x, y_r, i_r, out=(None, None)):
    """:func:`max_rule` in fewer passes, using that the pooled maxima are the input values at
    their argmaxes (``x[i_x] = y_x``, ``r[i_r] = y_r``).

    Equal to ``max_rule(x_in, r_in, y_x, i_x, y_r, i_r)`` element by element (up to the sign
    of a zero) when ``(y_x, i_x)`` and ``(y_r, i_r)`` come from max-pooling ``x_in`` and
    ``r_in``. A zero difference ``d_x = y_x - r[i_x]`` means ``r[i_x] = y_x <= y_r``, so the
    numerator ``max(y_x, y_r) - y_r`` is zero too and the quotient is NaN (0 / 0): replaced by
    the gradient routing 1; likewise ``c_r``'s NaN by 0. Only 2 gathers instead of 4 and no
    masks. ``out``: where to write ``(c_x, c_r)``.

    Examples
    --------
    >>> x, r = torch.tensor([[3.0, 1.0]]), torch.tensor([[0.0, 5.0]])
    >>> c_x, c_r = max_rule_pooled(x, r, torch.tensor([[3.0]]), torch.tensor([[0]]),
    ...                            torch.tensor([[5.0]]), torch.tensor([[1]]))
    >>> c_x.item() * 3.0 + c_r.item() * (1.0 - 5.0)  # equals y_x - y_r
    -2.0
    """
    return _pooled_coefficients(x_in, r_in, y_x, i_x, y_r, i_r, out)


def _pooled_coefficients(x_in, r_in, y_x, i_x, y_r, i_r, out):
    """:func:`max_rule_pooled`. ``i_x`` may have one row (one input broadcast against its
    references); it is expanded, not copied."""
    r_ix = r_in.gather(-1, i_x.expand(r_in.shape[:1] + i_x.shape[1:]))
    x_ir = x_in.expand_as(r_in).gather(-1, i_r)
    return _coefficients(y_x, r_ix, y_r, x_ir, out)


def _coefficients(y_x, r_ix, y_r, x_ir, out):
    """The max rule's coefficients from the pooled maxima and the values ``r[i_x]``,
    ``x[i_r]`` at the other's argmax."""
    d_x, d_r = torch.sub(y_x, r_ix), torch.sub(x_ir, y_r)
    top = torch.maximum(y_x, y_r)
    c_x = torch.sub(top, y_r, out=out[0]).div_(d_x).nan_to_num_(nan=1.0)
    c_r = torch.sub(y_x, top, out=out[1]).div_(d_r).nan_to_num_(nan=0.0)
    return c_x, c_r


def relu_max_rule_pooled(z_x, z_r, y_x, i_x, y_r, i_r, out=(None, None)):
    """The max rule of ``max_pool(relu(z))`` with the ReLU's Rescale multipliers folded in.

    ``z_x`` and ``z_r`` are the ReLU's inputs, ``(y_x, i_x)`` and ``(y_r, i_r)`` the pooled
    maxima of ``relu(z)`` and their argmaxes, taken over ``relu(z)`` (as
    :func:`max_rule_pooled`) or over ``z`` (the same positions except in windows whose values
    are all <= 0, where ``y = 0`` and both coefficients are 0 at any position). The backward
    of the pool only reaches the two argmaxes of each window, so the ReLU's multipliers are
    needed there only: returns ``c_x * m[i_x]`` and ``c_r * m[i_r]`` with ``(c_x, c_r)`` =
    :func:`max_rule_pooled` and ``m`` = :func:`relu_rescale` of ``(z_x, z_r)``, the
    coefficients on the *pre-activation* differences at those positions, at the pooled size
    (no pass over the whole activation, no multiplier buffer). ``i_x`` and the x-side tensors
    may have one row, broadcast against the references.

    The two factors cancel. With ``a, b = z_x[i_x], z_r[i_x]``, ``c_x = (M - y_r) / (relu(a) -
    relu(b))`` and ``m[i_x] = (relu(a) - relu(b)) / (a - b)``, so ``c_x m[i_x] = relu(y_x -
    y_r) / (a - b)`` (``M - y_r = relu(y_x - y_r)``, the same rounding); likewise ``c_r
    m[i_r] = min(y_x - y_r, 0) / (z_x[i_r] - z_r[i_r])``, where ``z_r[i_r] = y_r`` when ``y_r
    > 0`` and the product is 0 whatever ``z_r[i_r]`` when ``y_r = 0`` (then ``M = y_x``), so
    ``y_r`` stands in for it (likewise ``c_x m[i_x] = 0`` when ``y_x = 0``, at any ``i_x``).
    Where the two factors' numerator is 0 and the difference is not small, both forms give 0.
    The ReLU's multiplier only departs from its secant where
    ``|a - b| <= 2 atol`` (:func:`relu_rescale`), and only there can the denominators vanish
    (0 / 0): those few elements are recomputed as the product of the two rules
    (:func:`_fold_in_turn`). Equal to applying the two rules one after the other up to
    rounding (one quotient instead of the product of two), in about 12 passes at the pooled
    size instead of 27.

    Examples
    --------
    >>> z_x, z_r = torch.tensor([[2.0, -1.0]]), torch.tensor([[-2.0, 3.0]])
    >>> x, r = torch.relu(z_x), torch.relu(z_r)
    >>> (y_x, i_x), (y_r, i_r) = [torch.nn.functional.max_pool1d_with_indices(v, 2) for v in (x, r)]
    >>> c_x, c_r = relu_max_rule_pooled(z_x, z_r, y_x, i_x, y_r, i_r)
    >>> c_x.item() * 4.0 + c_r.item() * (-1.0 - 3.0)  # = y_x - y_r
    -1.0
    """
    shape = y_r.shape
    a = z_x.gather(-1, i_x)  # one row per example at most: cheap
    b = z_r.gather(-1, i_x.expand(z_r.shape[:1] + i_x.shape[1:]))
    p = z_x.expand(z_r.shape).gather(-1, i_r)
    c_r = torch.sub(y_x, y_r, out=out[1])
    c_x = torch.clamp_min(c_r, 0, out=out[0])  # relu(y_x - y_r) = M - y_r
    c_r.clamp_max_(0)  # min(y_x - y_r, 0) = y_x - M
    d_x, d_r = torch.sub(a, b, out=b), p.sub_(y_r)
    c_x.div_(d_x)
    c_r.div_(d_r)
    limit = 2 * NEAR_ZERO.get(z_r.dtype, NEAR_ZERO[torch.float32])[0]
    for c, d, side in ((c_x, d_x, "x"), (c_r, d_r, "r")):
        where = small_where(d.abs_(), limit)
        if where is not None:

            def pick(v, where=where):
                return v.expand(shape)[where]

            index = pick(i_x if side == "x" else i_r)
            z_x_at = z_x.expand(z_r.shape)[(*where[:-1], index)]
            z_r_at = z_r[(*where[:-1], index)] if side == "x" else pick(y_r)
            c[where] = _fold_in_turn(side, z_x_at, z_r_at, pick(y_x), pick(y_r))
    return c_x, c_r


def small_where(gap: torch.Tensor, limit: float, block: int = 512):
    """The indices (a tuple, as ``nonzero(as_tuple=True)``) of the elements of ``gap`` that are
    ``<= limit``, or None when there are none.

    Near-zero differences are rare but occur in most large activations, so this is on the hot
    path: the minima of blocks of ``block`` elements (one reduction, cheaper than a global
    minimum) pick the few blocks to search, instead of a comparison and a ``nonzero`` over
    every element (about 7x the cost).

    Examples
    --------
    >>> gap = torch.tensor([[3.0, 0.0, 2.0], [1e-9, 5.0, 7.0]])
    >>> [i.tolist() for i in small_where(gap, 1e-6)]
    [[0, 1], [1, 0]]
    >>> small_where(gap + 1, 1e-6) is None
    True
    """
    flat = gap.reshape(-1)  # a view when contiguous
    full = flat.numel() // block * block
    found = []
    if full:
        blocks = flat[:full].view(-1, block).amin(1).le_(limit).nonzero().view(-1)
        if blocks.numel():
            candidates = (blocks[:, None] * block + torch.arange(block, device=gap.device)).view(-1)
            found.append(candidates[flat[candidates] <= limit])
    if full < flat.numel():
        found.append(full + (flat[full:] <= limit).nonzero().view(-1))
    hits = torch.cat(found) if found else flat.new_zeros(0, dtype=torch.long)
    if not hits.numel():
        return None
    return torch.unravel_index(hits, gap.shape)


def _fold_in_turn(side: str, z_x_at, z_r_at, y_x, y_r) -> torch.Tensor:
    """The folded coefficient of :func:`relu_max_rule_pooled` on a few elements, as the
    product of the two rules (the max rule's coefficient from :func:`_coefficients`, the
    ReLU's multiplier from :func:`relu_rescale`); ``z_*_at``: the pre-activations at the
    side's argmax."""
    x_at, r_at = torch.relu(z_x_at), torch.relu(z_r_at)
    if side == "x":  # x_at = y_x
        c, _ = _coefficients(y_x, r_at, y_r, x_at, (None, None))
    else:  # r_at = y_r
        _, c = _coefficients(y_x, r_at, y_r, x_at, (None, None))
    return c.mul_(relu_rescale(z_x_at, z_r_at, x_at, r_at))


def sign_masks(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks of the positive and negative parts of ``d``; zeros count half to each.

    Examples
    --------
    >>> [m.tolist() for m in sign_masks(torch.tensor([2.0, 0.0, -1.0]))]
    [[1.0, 0.5, 0.0], [0.0, 0.5, 1.0]]
    """
    d = d.detach()
    pos = (d > 0).to(d.dtype) + 0.5 * (d == 0).to(d.dtype)
    return pos, 1.0 - pos


__all__ = [
    "NEAR_ZERO",
    "derivative",
    "max_pool_indices",
    "max_rule",
    "max_rule_pooled",
    "near_zero",
    "reciprocal_secant",
    "relu_derivative",
    "relu_max_rule_pooled",
    "relu_rescale",
    "rescale",
    "reveal_cancel",
    "sign_masks",
    "small_where",
]
