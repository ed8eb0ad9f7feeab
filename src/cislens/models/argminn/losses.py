"""ARGMINN's regularisers: the filter-overlap penalty, L1 on the filters, attention entropy.

The **filter-overlap penalty** pushes the scanner towards one filter per motif instance. At
every position ``i`` the filter with the largest activation is the *top* filter ``a``; every
*other* filter ``b`` that fires at a placement ``j = i + d`` whose window overlaps ``a``'s
window is penalised by

    act_a[i] * act_b[j] * C_ab(d),    C_ab(d) = sum_k m_a[k] * m_b[k - d],

where ``m_f[k] = sum_bases |w_f[:, k]|`` is the weight mass of column ``k`` of filter ``f``
(normalised so the masses of all filters sum to 1, which makes the penalty independent of the
overall weight scale). ``C_ab(d)`` is the mass that the two filters put on the *same* sequence
columns when ``b`` sits ``d`` bp to the right of ``a``: it is zero when their non-zero columns
do not meet, so two filters whose supports are disjoint are never penalised, and any shared
column makes the penalty positive. The sum runs over sequences, positions, filter pairs
``a != b`` and offsets ``|d| < W``, and is divided by the number of positions. It is computed
without a loop over offsets: the mass each top filter puts on every sequence position (a
transposed convolution), minus the filter's own, read back by each filter (a convolution).

By default (``scale_free=True``) each filter's activations are first divided by their maximum
over the batch. Without this, a model whose tokens are batch-normalised (ARGMINN's default)
escapes the penalty by shrinking its filters, which lowers every activation without changing
what the model computes; divided by the maximum, only *which* filters fire together counts.

Deviations from the reference description (``docs/algorithms.md`` section 7.2), all deliberate:
the top filter's activation multiplies the term (positions where nothing fires cost nothing),
the column overlap is the column-by-column product above (the description multiplies the two
filters' summed masses over the overlapping range, which is positive even when the non-zero
columns are disjoint), and with a reverse-complement scanner each activation carries the strand
that won, so the column masses are flipped for the minus strand; the scale-free normalisation
above is ours too.
"""

from __future__ import annotations

import torch


def column_mass(weight: torch.Tensor) -> torch.Tensor:
    """``sum_bases |w|`` per filter column, normalised to sum 1 over all filters: (F, W).

    Examples
    --------
    >>> column_mass(torch.tensor([[[1., 0.], [-1., 0.], [0., 2.], [0., 0.]]])).tolist()
    [[0.5, 0.5]]
    """
    mass = weight.abs().sum(1)
    total = mass.sum()
    return mass / total.clamp_min(torch.finfo(mass.dtype).tiny)


def filter_overlap_penalty(
    activations: torch.Tensor,
    weight: torch.Tensor,
    *,
    strands: torch.Tensor | None = None,
    scale_free: bool = True,
    top_gradient: bool = False,
) -> torch.Tensor:
    """The filter-overlap penalty of a batch of scanner activations (a scalar tensor).

    Parameters
    ----------
    activations : tensor (N, F, P)
        Non-negative scanner activations (after the ReLU); P = L - W + 1 placements.
    weight : tensor (F, 4, W)
        The scanner filters.
    strands : bool tensor (N, F, P), optional
        True where the reverse-complement filter gave the activation (a scanner that reads both
        strands); None: all forward.
    scale_free : bool
        Divide each filter's activations by their maximum over the batch first (default True).
    top_gradient : bool
        Let the gradient reach the top filter's activation (default False: the top activation
        only weighs the term, so the penalty pushes down the *other* filters that fire on the
        top filter's window, as in the reference, and the strongest detector of a motif is not
        penalised for firing; both filters' column masses still get the gradient).

    Returns
    -------
    torch.Tensor
        Zero when no two different filters fire on windows that share a non-zero column;
        positive otherwise. Differentiable in ``activations`` and ``weight``.

    Examples
    --------
    >>> w = torch.zeros(2, 4, 3)
    >>> w[0, 0, 0] = w[1, 1, 0] = 1.0  # both filters use only their first column
    >>> acts = torch.zeros(1, 2, 10)
    >>> acts[0, 0, 2] = acts[0, 1, 5] = 1.0  # 3 bp apart: the used columns do not meet
    >>> float(filter_overlap_penalty(acts, w))
    0.0
    >>> acts[0, 1, 2] = 0.5  # filter 1 also fires on filter 0's column
    >>> float(filter_overlap_penalty(acts, w)) > 0
    True
    """
    if activations.ndim != 3 or weight.ndim != 3 or activations.shape[1] != weight.shape[0]:
        raise ValueError(
            "filter_overlap_penalty needs activations (N, F, P) and weight (F, 4, W) with the "
            f"same F; got {tuple(activations.shape)} and {tuple(weight.shape)}."
        )
    n, n_filters, positions = activations.shape
    mass = column_mass(weight)
    if scale_free:
        peak = activations.amax((0, 2), keepdim=True)
        activations = activations / peak.clamp_min(torch.finfo(activations.dtype).tiny)
    top_value, top = activations.max(1, keepdim=True)  # the top filter at each placement
    if not top_gradient:
        top_value = top_value.detach()
    top_map = torch.zeros_like(activations).scatter(1, top, top_value)  # (N, F, P)
    if strands is None:
        oriented_top, oriented_acts, masses = top_map, activations, mass
    else:
        # Each filter becomes two oriented filters (plus, minus); the minus strand reads the
        # columns in reverse order.
        minus = strands.to(activations.dtype)
        oriented_top = torch.cat([top_map * (1.0 - minus), top_map * minus], 1)
        oriented_acts = torch.cat([activations * (1.0 - minus), activations * minus], 1)
        masses = torch.cat([mass, mass.flip(-1)], 0)
    n_oriented = masses.shape[0]
    conv = torch.nn.functional
    # covered[n, a, s]: weight mass that oriented filter a, placed where it is the top filter,
    # puts on sequence position s (a transposed convolution, length P + W - 1).
    covered = conv.conv_transpose1d(oriented_top, masses[:, None, :], groups=n_oriented)
    covered = covered.reshape(n, n_oriented // n_filters, n_filters, -1).sum(1)  # per filter
    others = covered.sum(1, keepdim=True) - covered  # mass of the *other* filters' windows
    # exposure[n, b, j]: sum over b's columns c of m_b[c] * others[n, f(b), j + c].
    plus = conv.conv1d(others, mass[:, None, :], groups=n_filters)
    exposure = (
        plus
        if strands is None
        else torch.cat([plus, conv.conv1d(others, mass.flip(-1)[:, None, :], groups=n_filters)], 1)
    )
    return (oriented_acts * exposure).sum() / (n * positions)


def filter_l1(weight: torch.Tensor) -> torch.Tensor:
    """``sum |w|`` over all scanner weights (a scalar tensor).

    Examples
    --------
    >>> float(filter_l1(torch.tensor([[[1.0, -2.0]]])))
    3.0
    """
    return weight.abs().sum()


def attention_entropy(attention: torch.Tensor) -> torch.Tensor:
    """Mean entropy (bits) of the attention distributions over positions (a scalar tensor).

    Parameters
    ----------
    attention : tensor (N, n_layers, n_heads, P)
        Each ``attention[n, l, h]`` sums to 1.

    Examples
    --------
    >>> round(float(attention_entropy(torch.full((1, 1, 1, 4), 0.25))), 4)
    2.0
    """
    return -(attention * torch.log2(attention + 1e-6)).sum(-1).mean()


__all__ = ["attention_entropy", "column_mass", "filter_l1", "filter_overlap_penalty"]
