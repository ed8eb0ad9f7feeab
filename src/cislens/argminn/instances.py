"""ARGMINN's motif instances and syntax, read from one forward pass.

- :func:`argminn_instances`: placements where some layer and head puts attention above
  ``attention_threshold`` (0.9); at each, every filter whose activation is at least
  ``activation_threshold`` (0.5) of its maximum is a motif instance used by that layer/head
  (``activation_threshold=None``: the reference's rule, at least its mean positive activation).
- :func:`argminn_syntax`: the attention maps (N, layers, heads, P).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from cislens.argminn._common import batches, prepare
from cislens.argminn.readout import ArgminnMotifs
from cislens.utils.types import ArrayLike, Device, RandomState

if TYPE_CHECKING:  # annotations only
    from cislens.models.argminn.network import ARGMINN

INSTANCE_COLUMNS = (
    "example",
    "start",
    "end",
    "filter",
    "pattern",
    "strand",
    "activation",
    "attention",
    "layer",
    "head",
    "n_heads",
)
"""Columns of the :func:`argminn_instances` table."""


def argminn_instances(
    model: ARGMINN,
    X: ArrayLike,
    *,
    attention_threshold: float = 0.9,
    activation_threshold: float | None = 0.5,
    null_quantile: float | None = 0.9,
    filters: Sequence[int] | None = None,
    motifs: ArgminnMotifs | None = None,
    batch_size: int = 256,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
) -> pd.DataFrame:
    """Motif instances and the attention layer/head that used them, from one forward pass.

    A placement p of sequence n is *attended* when some layer and head gives it attention above
    ``attention_threshold``. At each attended placement, every filter whose activation is at
    least ``activation_threshold`` times its maximum activation over X is called as an instance:
    the same windows that make up the filter's PFM in :func:`argminn_motifs` (whose
    ``threshold`` is also 0.5). ``activation_threshold=None`` is the reference rule instead: at
    least the filter's mean positive activation over X (a z-score >= 0; the reference asks for
    > 0, which calls nothing when all of a filter's activations are equal).

    With ``null_quantile`` (default 0.9) a call must also beat chance: its activation must
    exceed the ``null_quantile`` quantile of the filter's *best* activation in a
    dinucleotide-shuffled copy of each sequence of X (one shuffle per sequence, seeded per
    sequence from ``random_state``), i.e. what the filter reaches in a sequence of the same
    composition that holds no motif. ``null_quantile=None`` skips this.

    Why: a head always attends somewhere, also in a sequence without the motif, and there it
    lands on the filter's best window, a near-match. The reference rule calls most of those (its
    mean is low); half the maximum still calls a one-mismatch site of a short motif. Measured on
    the validation splits of ``benchmarks/argminn_presets.py`` models: on ``jund_tead`` 205 of
    265 false calls were in negative sequences (median 0.42 of the filter's maximum, true calls
    0.69; precision 0.88 with the mean rule, 0.94 at half the maximum); on ``e2f6_max`` all 360
    false MAX calls were in negative sequences at 0.50-0.69 of the maximum, true ones at 0.65 and
    above. Precision / recall there: 0.78 / 0.73 with the mean rule, 0.83 / 0.73 at half the
    maximum, and with the chance floor at quantile 0.8: 0.98 / 0.73, 0.9: 1.00 / 0.72, 0.95:
    1.00 / 0.55, 0.99: 1.00 / 0.23 (the default, 0.9, was chosen on this validation split).

    Parameters
    ----------
    model : ARGMINN
        A trained model.
    X : array or tensor (N, 4, L)
        One-hot sequences.
    attention_threshold : float
        Attention above which a placement counts (default 0.9).
    activation_threshold : float in (0, 1] or None
        Fraction of each filter's maximum activation over X that a call needs (default 0.5);
        None: its mean positive activation (the reference's rule).
    null_quantile : float in (0, 1) or None
        Quantile of the filter's best activation in shuffled sequences that a call must exceed
        (default 0.9); None: no chance floor.
    filters : list of int, optional
        Report only these filters (default: the passing filters of ``motifs`` when given,
        else all).
    motifs : ArgminnMotifs, optional
        From :func:`argminn_motifs`; when given, each hit covers the filter's IC-trimmed span
        instead of the whole W-bp window.
    batch_size : int
        Sequences per forward pass; the result does not depend on it.
    device : str, torch.device or None
        None: CUDA if available, else CPU.
    random_state : int, numpy.random.Generator or None
        Seed of the dinucleotide shuffles behind ``null_quantile``.
    verbose : bool
        Progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per instance, columns :data:`INSTANCE_COLUMNS`: ``example`` (row of X),
        ``start``/``end`` (0-based, end exclusive), ``filter`` and ``pattern`` ("filter_<k>"),
        ``strand`` ("+" or "-"), ``activation``, ``attention`` (the largest over layers and
        heads), ``layer`` and ``head`` (0-based, where that largest attention is) and
        ``n_heads`` (how many layer/head pairs exceed the threshold there). Sorted by example,
        start and filter.

    Examples
    --------
    >>> from cislens.argminn import ARGMINN
    >>> model = ARGMINN(n_tasks=1, n_filters=2, filter_width=4, random_state=0)
    >>> X = torch.eye(4)[torch.randint(0, 4, (6, 40), generator=torch.Generator().manual_seed(1))]
    >>> table = argminn_instances(model, X.transpose(1, 2), attention_threshold=0.0)
    >>> list(table.columns) == list(INSTANCE_COLUMNS), bool((table["end"] > table["start"]).all())
    (True, True)
    """
    X, batch_size = prepare(model, X, batch_size)
    _check_call_rule(attention_threshold, activation_threshold, null_quantile)
    n_filters = model.hparams["n_filters"]
    if filters is None:
        filters = motifs.passing if motifs is not None else list(range(n_filters))
    filters = [int(k) for k in filters]
    bad = [k for k in filters if not 0 <= k < n_filters]
    if bad:
        raise ValueError(f"filters must be in [0, {n_filters}); got {bad}.")
    table, stats = _attended_activations(
        model, X, filters, attention_threshold, batch_size, device, verbose
    )
    if activation_threshold is None:  # the mean positive activation
        floor = (stats["positive_sum"] / stats["positive_count"].clamp_min(1)).numpy()
    else:
        floor = (activation_threshold * stats["peak"]).numpy()
    chance = np.full(n_filters, -np.inf)
    if null_quantile is not None:
        peaks = _chance_peaks(model, X, batch_size, device, random_state)
        chance = np.quantile(peaks, null_quantile, axis=0)
    if table.empty:
        return pd.DataFrame({c: [] for c in INSTANCE_COLUMNS})
    called = table["filter"].to_numpy()
    activation = table["activation"].to_numpy(dtype=np.float64)
    table = table[(activation >= floor[called]) & (activation > chance[called])]
    return _instance_table(model, table, motifs)


def _check_call_rule(attention_threshold, activation_threshold, null_quantile) -> None:
    if not 0.0 <= attention_threshold < 1.0:
        raise ValueError(f"attention_threshold must be in [0, 1); got {attention_threshold!r}.")
    if activation_threshold is not None and (
        isinstance(activation_threshold, bool) or not 0.0 < activation_threshold <= 1.0
    ):
        raise ValueError(
            f"activation_threshold must be in (0, 1] (a fraction of each filter's maximum "
            f"activation) or None (the mean rule); got {activation_threshold!r}."
        )
    if null_quantile is not None and (
        isinstance(null_quantile, bool) or not 0.0 < null_quantile < 1.0
    ):
        raise ValueError(
            f"null_quantile must be in (0, 1) or None (no chance floor); got {null_quantile!r}."
        )


def _attended_activations(model, X, filters, attention_threshold, batch_size, device, verbose):
    """The positive activations of ``filters`` at the attended placements (one row each), and
    every filter's activation statistics over X (sum and count of positive activations, peak)."""
    n_filters = model.hparams["n_filters"]
    stats = {
        name: torch.zeros(n_filters, dtype=torch.float64)
        for name in ("positive_sum", "positive_count", "peak")
    }
    candidates = []
    for lo, out in batches(model, X, batch_size, device, verbose, "ARGMINN instances"):
        acts = out.activations
        stats["positive_sum"] += acts.double().sum((0, 2))
        stats["positive_count"] += (acts > 0).double().sum((0, 2))
        stats["peak"] = torch.maximum(stats["peak"], acts.double().amax((0, 2)))
        attention = out.attention.flatten(1, 2)  # (B, layers * heads, P)
        best, where = attention.max(1)
        n_over = (attention > attention_threshold).sum(1)
        n, p = torch.nonzero(best > attention_threshold, as_tuple=True)
        for k in filters:
            a = acts[n, k, p]
            keep = a > 0
            candidates.append(
                pd.DataFrame(
                    {
                        "example": (n[keep] + lo).numpy(),
                        "placement": p[keep].numpy(),
                        "filter": k,
                        "minus": out.strands[n, k, p][keep].numpy(),
                        "activation": a[keep].numpy(),
                        "attention": best[n, p][keep].numpy(),
                        "where": where[n, p][keep].numpy(),
                        "n_heads": n_over[n, p][keep].numpy(),
                    }
                )
            )
    table = pd.concat(candidates, ignore_index=True) if candidates else pd.DataFrame()
    return table, stats


def _instance_table(model, table, motifs) -> pd.DataFrame:
    """The called activations as :data:`INSTANCE_COLUMNS` rows, each covering its filter's
    trimmed span (the whole window without ``motifs`` or for an untrimmed filter)."""
    n_filters, width = model.hparams["n_filters"], model.hparams["filter_width"]
    span_start = np.zeros(n_filters, dtype=np.int64)
    span_end = np.full(n_filters, width, dtype=np.int64)
    if motifs is not None:
        span_start[:] = motifs.filters["start"].to_numpy()
        span_end[:] = motifs.filters["end"].to_numpy()
        empty = span_end <= span_start
        span_start[empty], span_end[empty] = 0, width
    k = table["filter"].to_numpy()
    minus = table["minus"].to_numpy(dtype=bool)
    placement = table["placement"].to_numpy()
    # Filter column c sits at placement + c on the plus strand, placement + W - 1 - c on minus.
    start = np.where(minus, placement + width - span_end[k], placement + span_start[k])
    n_heads = model.hparams["n_heads"]
    where = table["where"].to_numpy()
    result = pd.DataFrame(
        {
            "example": table["example"].to_numpy(dtype=np.int64),
            "start": start.astype(np.int64),
            "end": (start + span_end[k] - span_start[k]).astype(np.int64),
            "filter": k.astype(np.int64),
            "pattern": [f"filter_{i}" for i in k],
            "strand": np.where(minus, "-", "+"),
            "activation": table["activation"].to_numpy(dtype=np.float64),
            "attention": table["attention"].to_numpy(dtype=np.float64),
            "layer": (where // n_heads).astype(np.int64),
            "head": (where % n_heads).astype(np.int64),
            "n_heads": table["n_heads"].to_numpy(dtype=np.int64),
        }
    )
    return result.sort_values(["example", "start", "filter"]).reset_index(drop=True)


def _chance_peaks(model, X, batch_size, device, random_state) -> np.ndarray:
    """(N, F): each filter's largest activation in one dinucleotide shuffle of each sequence."""
    from cislens.shuffle import dinucleotide_shuffle
    from cislens.utils.random import resolve_seed

    # One base seed for all chunks: the shuffle seeds each sequence from it and the sequence's
    # content, so the result does not depend on the chunking.
    seed = resolve_seed(random_state)
    peaks = []
    for lo in range(0, X.shape[0], batch_size):
        shuffled = dinucleotide_shuffle(X[lo : lo + batch_size], n=1, random_state=seed)[:, 0]
        for _, (acts, _) in batches(
            model, shuffled, batch_size, device, False, "ARGMINN chance", scan_only=True
        ):
            peaks.append(acts.amax(2).double().numpy())
    return np.concatenate(peaks, 0)


def argminn_syntax(
    model: ARGMINN,
    X: ArrayLike,
    *,
    batch_size: int = 256,
    device: Device = None,
    verbose: bool = False,
) -> torch.Tensor:
    """Attention maps of every layer and head: (N, n_layers, n_heads, P) float32 on the CPU.

    ``P = L - W + 1``; ``maps[n, l, h, p]`` is the weight layer ``l``'s head ``h`` gives to
    the scanner placement ``p`` (window ``[p, p + W)``) of sequence ``n``; each map sums to 1.

    Examples
    --------
    >>> from cislens.argminn import ARGMINN
    >>> model = ARGMINN(n_tasks=1, n_layers=3, n_heads=2, random_state=0)
    >>> maps = argminn_syntax(model, torch.eye(4)[torch.zeros(2, 40, dtype=int)].transpose(1, 2))
    >>> maps.shape, bool(torch.allclose(maps.sum(-1), torch.ones(2, 3, 2)))
    (torch.Size([2, 3, 2, 26]), True)
    """
    X, batch_size = prepare(model, X, batch_size)
    maps = [
        out.attention
        for _, out in batches(model, X, batch_size, device, verbose, "ARGMINN attention")
    ]
    return torch.cat(maps, 0).float()


__all__ = ["INSTANCE_COLUMNS", "argminn_instances", "argminn_syntax"]
