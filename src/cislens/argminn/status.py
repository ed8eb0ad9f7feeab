"""Why each ARGMINN filter is or is not one of the model's motifs.

:func:`filter_statuses` gives every filter a ``status`` (:data:`FILTER_STATUSES`) and a
``reason`` with its numbers; :func:`site_sharing` measures how much of one filter's sites another
filter's calls cover, which tells two filters for one motif (or a composite filter and a
single-motif one) apart from filters for different motifs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cislens.argminn._common import batches, prepare
from cislens.argminn.orientation import SYMMETRY_THRESHOLD

FILTER_STATUSES = {
    "passing": "a motif: passes every criterion and shares fewer than half of its sites",
    "redundant": "passes, but at least half of its sites are covered by a stronger passing "
    "filter's calls (two filters for one motif, or a composite filter that overlaps a "
    "single-motif one)",
    "silent": "never activates on the sequences read: every score is below zero, so the ReLU "
    "gives it no gradient (typically switched off by the L1 / overlap regularisers)",
    "rare": "activates, but on fewer than min_sites windows at the threshold",
    "faded": "the model barely reads it: influence below min_influence (its weight in the "
    "tokens was regularised away), whatever its PFM",
    "minor": "the model reads it, but its predictions barely need it: removing it moves the "
    "logits by less than min_effect of what removing the most needed filter does",
    "unspecific": "its activating windows share no motif: trimmed PFM shorter than min_length "
    "or mean IC below min_mean_ic",
}
"""The ``status`` values of :attr:`ArgminnMotifs.filters`, with what they mean."""


def filter_statuses(filters: pd.DataFrame, sharing: np.ndarray, params: dict):
    """``(status, reason)`` lists, one entry per row of ``filters``: why each filter is or is
    not one of the model's motifs (:data:`FILTER_STATUSES`), the reason with its numbers.

    The first failed criterion names a filter that does not pass (silent, rare, unspecific,
    faded, minor, in that order). Passing filters are taken by decreasing influence; one whose sites
    are at least half covered by an earlier (stronger) passing filter's calls is
    ``redundant``.
    """
    status, reason = {}, {}
    heaviest = max(float(filters["weight_mass"].max()), 1e-12)
    kept: list[int] = []
    order = filters.sort_values(["influence", "filter"], ascending=[False, True])
    for row in order.itertuples():
        k = int(row.filter)
        if row.max_activation <= 0 or row.n_sites == 0:
            status[k] = "silent"
            reason[k] = (
                f"never activates on the {params['n_sequences']} sequences read (largest "
                f"score {row.max_activation:.3g}); weights sum|w| = {row.weight_mass:.3g}, "
                f"{row.weight_mass / heaviest:.1%} of the heaviest filter's"
                + ("; pruned to near zero (L1)" if row.weight_mass < 0.05 * heaviest else "")
            )
        elif row.n_sites < params["min_sites"]:
            status[k] = "rare"
            reason[k] = f"{row.n_sites} activating windows (min_sites {params['min_sites']})"
        elif row.length < params["min_length"] or row.mean_ic < params["min_mean_ic"]:
            status[k] = "unspecific"
            reason[k] = (
                f"trimmed PFM of {row.length} columns at mean IC {row.mean_ic:.2f} bits "
                f"(min_length {params['min_length']}, min_mean_ic {params['min_mean_ic']})"
            )
        elif row.influence < params.get("min_influence", 0.0):
            status[k] = "faded"
            reason[k] = (
                f"influence {row.influence:.3f} of the strongest filter's "
                f"(min_influence {params['min_influence']}): the model barely reads it"
            )
        elif row.effect < params.get("min_effect", 0.0):  # NaN (not measured) never is
            status[k] = "minor"
            reason[k] = (
                f"removing it moves the logits by {row.effect:.3f} of what removing the most "
                f"needed filter does (min_effect {params['min_effect']}): the predictions "
                "barely depend on it"
            )
        else:
            covering = [j for j in kept if sharing[k, j] >= 0.5]
            if covering:
                j = max(covering, key=lambda i: sharing[k, i])
                status[k] = "redundant"
                reason[k] = (
                    f"{sharing[k, j]:.0%} of its {row.n_sites} sites are covered by the calls "
                    f"of filter_{j} (stronger); one motif read twice, or a composite"
                )
            else:
                status[k] = "passing"
                reason[k] = f"{row.n_sites} sites, mean IC {row.mean_ic:.2f} bits"
                kept.append(k)
            reason[k] += _symmetric_note(row)
    keys = [int(k) for k in filters["filter"]]
    return [status[k] for k in keys], [reason[k] for k in keys]


def _symmetric_note(row) -> str:
    """The note a passing filter gets when its two orientations were read as one motif."""
    symmetry = getattr(row, "strand_symmetry", float("nan"))
    if not symmetry >= SYMMETRY_THRESHOLD:
        return ""
    return (
        f"; strand-symmetric ({symmetry:.2f}: the model scores a window and its reverse "
        "complement alike), so its windows are aligned by agreement, not by the winning strand"
    )


def _core_coverage(acts, strands, cutoff, spans, width, length) -> torch.Tensor:
    """(F, B, L + 1) running count of the bases covered by each filter's called cores (its
    activating windows' trimmed spans), with a leading 0 (so ``c[e] - c[s]`` counts [s, e))."""
    n_filters, batch = acts.shape[1], acts.shape[0]
    coverage = torch.zeros(n_filters, batch, length, dtype=torch.bool)
    for k, (start, end) in enumerate(spans):
        n, p = torch.nonzero(acts[:, k] > cutoff[k], as_tuple=True)
        if end <= start or n.numel() == 0:
            continue
        minus = strands[n, k, p]
        first = torch.where(minus, p + width - end, p + start)
        for c in range(end - start):
            coverage[k, n, first + c] = True
    counts = coverage.to(torch.int32).cumsum(2)
    return torch.nn.functional.pad(counts, (1, 0))


def site_sharing(model, X, cutoff, spans, *, batch_size: int = 256, device=None) -> np.ndarray:
    """(F, F): the fraction of filter k's activating windows whose trimmed core is at least half
    covered by filter j's called cores (row k, column j; the diagonal is 0).

    A window activates filter k when its activation exceeds ``cutoff[k]``; ``spans`` holds each
    filter's trimmed span ``(start, end)`` in filter columns (empty spans share nothing). Two
    filters for one motif share most of their sites; so does a composite filter with a
    single-motif filter for one of its parts.

    Examples
    --------
    >>> from cislens.argminn import ARGMINN
    >>> model = ARGMINN(n_tasks=1, n_filters=2, filter_width=4, random_state=0)
    >>> with torch.no_grad():  # two copies of one ACGT detector
    ...     _ = model.scanner.weight.copy_(torch.eye(4)[None].repeat(2, 1, 1))
    ...     _ = model.scanner.bias.fill_(-3.5)
    >>> X = torch.eye(4)[torch.randint(0, 4, (20, 30), generator=torch.Generator().manual_seed(0))]
    >>> X[:, 10:14] = torch.eye(4)
    >>> site_sharing(model, X.transpose(1, 2), torch.zeros(2), [(0, 4), (0, 4)])
    array([[0., 1.],
           [1., 0.]])
    """
    X, batch_size = prepare(model, X, batch_size)
    n_filters, width = model.hparams["n_filters"], model.hparams["filter_width"]
    cutoff = torch.as_tensor(cutoff, dtype=torch.float32)
    shared = np.zeros((n_filters, n_filters))
    total = np.zeros(n_filters)
    for _, (acts, strands) in batches(
        model, X, batch_size, device, False, "ARGMINN sharing", scan_only=True
    ):
        coverage = _core_coverage(acts, strands, cutoff, spans, width, X.shape[2])
        for k, (start, end) in enumerate(spans):
            n, p = torch.nonzero(acts[:, k] > cutoff[k], as_tuple=True)
            if end <= start or n.numel() == 0:
                continue
            first = torch.where(strands[n, k, p], p + width - end, p + start)
            covered = coverage[:, n, first + (end - start)] - coverage[:, n, first]
            shared[k] += (2 * covered >= end - start).sum(1).numpy()
            total[k] += n.numel()
    np.fill_diagonal(shared, 0.0)
    return shared / np.maximum(total, 1)[:, None]


__all__ = ["FILTER_STATUSES", "filter_statuses", "site_sharing"]
