"""Reading a trained ARGMINN: motifs from the filters, instances and syntax from one pass.

- :func:`argminn_motifs`: per filter, the mean-centred weights and the PFM of the input windows
  that activate it (strand-aligned), trimmed by information content; *passing* filters (the
  motifs) are those with at least ``min_sites`` activating windows, a trimmed length of at least
  ``min_length`` (5) and a mean IC of at least ``min_mean_ic`` (1.0 bit); IC is the KL
  divergence to a uniform background with pseudocount 0.001 (the reference's readout rule).
  A passing filter must also be *used*: its ``influence`` (how far its activations can move the
  tokens: the range of its activations times its token batch-norm scale times the norm of its
  column in the token projection) must be at least ``min_influence`` (0.1) of the largest
  filter's; a filter the model has faded out is not one of its motifs, whatever its PFM.
  The passing motifs are annotated with TOMTOM (:func:`cislens.motifs.annotate`).
- :func:`argminn_instances`: placements where some layer and head puts attention above
  ``attention_threshold`` (0.9); at each, every filter whose activation exceeds its mean
  positive activation is a motif instance used by that layer/head.
- :func:`argminn_syntax`: the attention maps (N, layers, heads, P).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from cislens._version import __version__

FILTER_COLUMNS = (
    "filter",
    "name",
    "n_sites",
    "max_activation",
    "start",
    "end",
    "length",
    "mean_ic",
    "weight_mass",
    "influence",
    "passing",
)
"""Columns of :attr:`ArgminnMotifs.filters` (``start``/``end``: trimmed span, filter columns)."""

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


@dataclass
class ArgminnMotifs:
    """What :func:`argminn_motifs` returns.

    Attributes
    ----------
    motifs : list of cislens.pwm.Motif
        The passing filters' trimmed PFMs, named ``filter_<k>``, in filter order.
    filters : pandas.DataFrame
        One row per filter, columns :data:`FILTER_COLUMNS`.
    weights : numpy.ndarray (F, 4, W)
        The filter weights, mean-centred over the 4 bases of each column (for logos).
    pfms : numpy.ndarray (F, 4, W)
        Untrimmed activation PFMs (uniform for filters without activating windows).
    annotation : pandas.DataFrame
        TOMTOM matches of ``motifs`` (:data:`cislens.motifs.MATCH_COLUMNS`); empty when not
        annotated.
    params : dict
        The parameters of the call and the cislens version.
    """

    motifs: list
    filters: pd.DataFrame
    weights: np.ndarray
    pfms: np.ndarray
    annotation: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def passing(self) -> list[int]:
        """Indices of the passing filters."""
        return [int(k) for k in self.filters.loc[self.filters["passing"], "filter"]]


def _check_model(model):
    from cislens.argminn.model import ARGMINN
    from cislens.errors import UnsupportedModelError

    if not isinstance(model, ARGMINN):
        raise UnsupportedModelError(
            f"model must be a cislens ARGMINN (cislens.argminn.ARGMINN); got "
            f"{type(model).__name__}. Train one with `cislens train --model argminn`."
        )


def _prepare(model, X, batch_size):
    from cislens.sequence.onehot import check_one_hot
    from cislens.utils.arrays import as_numpy
    from cislens.utils.batching import check_batch_size

    _check_model(model)
    check_one_hot(X, name="X")
    X = torch.from_numpy(np.ascontiguousarray(as_numpy(X), dtype=np.float32))
    if X.shape[2] < model.min_length:
        raise ValueError(
            f"X has length {X.shape[2]} but the model's filters are {model.min_length} bp wide; "
            "pass longer sequences."
        )
    return X, check_batch_size(batch_size)


def _batches(model, X, batch_size, device, verbose, desc, *, scan_only=False):
    """Yield (offset, outputs on the CPU) over X in eval mode (model restored after): the
    ARGMINNOutput, or with ``scan_only`` just (activations, strands) of the scanner."""
    from cislens.utils.device import resolve_device, using_model

    resolved = resolve_device(device)
    with using_model(model, device=resolved), torch.no_grad():
        for lo in tqdm(range(0, X.shape[0], batch_size), disable=not verbose, desc=desc):
            batch = X[lo : lo + batch_size].to(resolved)
            if scan_only:
                yield lo, tuple(t.cpu() for t in model.scan(batch))
            else:
                out = model.forward_details(batch)
                yield lo, type(out)(*(t.cpu() for t in out))


def information_content(pfm: np.ndarray, *, pseudocount: float = 0.001) -> np.ndarray:
    """IC per column (bits): KL divergence of ``pfm`` (4, W) to a uniform background.

    Examples
    --------
    >>> information_content(np.array([[1.0, 0.25], [0, 0.25], [0, 0.25], [0, 0.25]])).round(2)
    array([1.97, 0.  ])
    """
    p = (np.asarray(pfm, dtype=np.float64) + pseudocount) / (1.0 + 4 * pseudocount)
    return (p * np.log2(p / 0.25)).sum(0)


def trim_span(ic, trim_ic: float, *, max_gap: int = 2) -> tuple[int, int]:
    """The informative core ``[start, end)`` of a filter: columns with IC >= ``trim_ic``,
    joined across gaps of at most ``max_gap`` columns, the run with the most total IC.

    A 15 bp filter can hold a motif plus a few informative columns of a neighbour at a fixed
    spacing; keeping the richest run (not first-to-last informative column) keeps the motif.

    Examples
    --------
    >>> trim_span(np.array([0.0, 1.5, 1.8, 0.1, 1.2, 0.0, 0.0, 0.0, 1.9, 0.0]), 0.3)
    (1, 5)
    >>> trim_span(np.zeros(4), 0.3)
    (0, 0)
    """
    keep = np.flatnonzero(np.asarray(ic) >= trim_ic)
    if keep.size == 0:
        return 0, 0
    breaks = np.flatnonzero(np.diff(keep) > max_gap + 1)
    starts = np.concatenate([[keep[0]], keep[breaks + 1]])
    ends = np.concatenate([keep[breaks], [keep[-1]]]) + 1
    totals = [float(np.sum(ic[a:b])) for a, b in zip(starts, ends, strict=True)]
    best = int(np.argmax(totals))
    return int(starts[best]), int(ends[best])


def argminn_motifs(
    model,
    X,
    *,
    threshold: float = 0.5,
    trim_ic: float = 0.3,
    min_length: int = 5,
    min_mean_ic: float = 1.0,
    min_sites: int = 20,
    min_influence: float = 0.1,
    annotate: bool = True,
    database=None,
    batch_size: int = 256,
    device=None,
    verbose: bool = False,
) -> ArgminnMotifs:
    """Motifs of a trained ARGMINN: filter weights and activation-aligned PFMs.

    Parameters
    ----------
    model : ARGMINN
        A trained model (its device and mode are restored afterwards).
    X : array or tensor (N, 4, L)
        One-hot sequences whose activating windows make the PFMs (e.g. the test split).
    threshold : float
        A window counts for filter k when its activation exceeds ``threshold`` times k's
        maximum over X (default 0.5). Minus-strand windows are reverse-complemented.
    trim_ic : float
        The trimmed PFM is the richest run of columns with IC >= ``trim_ic`` bits (default 0.3;
        gaps of up to 2 columns allowed; see :func:`trim_span`).
    min_length, min_mean_ic, min_sites : int, float, int
        Passing criteria on the trimmed PFM (defaults 5 columns, 1.0 bit, 20 windows).
    min_influence : float
        Passing criterion on use (default 0.1): the filter's influence on the tokens, relative to
        the most influential filter's (column ``influence``; see the module docstring). 0 turns
        the criterion off.
    annotate : bool
        Run TOMTOM on the passing motifs (default True).
    database : None, str or list of Motif
        TOMTOM targets (see :func:`cislens.motifs.annotate`); None: JASPAR CORE vertebrates.
    batch_size : int
        Sequences per forward pass; the result does not depend on it.
    device : str, torch.device or None
        None: CUDA if available, else CPU.
    verbose : bool
        Progress bars.

    Returns
    -------
    ArgminnMotifs

    Examples
    --------
    >>> from cislens.argminn import ARGMINN
    >>> model = ARGMINN(n_tasks=1, n_filters=1, filter_width=4, reverse_complement=False,
    ...                 random_state=0)
    >>> with torch.no_grad():
    ...     _ = model.scanner.weight.copy_(3 * torch.eye(4)[None]), model.scanner.bias.zero_()
    >>> X = torch.eye(4)[torch.randint(0, 4, (50, 30), generator=torch.Generator().manual_seed(0))]
    >>> X[:, 10:14] = torch.eye(4)  # plant ACGT
    >>> result = argminn_motifs(model, X.transpose(1, 2), threshold=0.9, min_length=4,
    ...                         annotate=False)
    >>> result.motifs[0].consensus, result.passing
    ('ACGT', [0])
    """
    X, batch_size = _prepare(model, X, batch_size)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold!r}.")
    if not 0.0 <= min_influence <= 1.0:
        raise ValueError(
            f"min_influence must be in [0, 1] (a fraction of the most influential filter's); "
            f"got {min_influence!r}."
        )
    n_filters, width = model.hparams["n_filters"], model.hparams["filter_width"]
    maxima = torch.full((n_filters,), -torch.inf)
    minima = torch.full((n_filters,), torch.inf)
    for _, (acts, _) in _batches(model, X, batch_size, device, verbose, "ARGMINN maxima",
                                 scan_only=True):
        maxima = torch.maximum(maxima, acts.amax((0, 2)))
        minima = torch.minimum(minima, acts.amin((0, 2)))
    counts = np.zeros((n_filters, 4, width))
    n_sites = np.zeros(n_filters, dtype=np.int64)
    cutoff = threshold * maxima
    for lo, (acts, strands) in _batches(model, X, batch_size, device, verbose, "ARGMINN PFMs",
                                        scan_only=True):
        windows = X[lo : lo + acts.shape[0]].unfold(2, width, 1)  # (B, 4, P, W)
        windows = windows.permute(0, 2, 1, 3)  # (B, P, 4, W)
        for k in range(n_filters):
            if maxima[k] <= 0:
                continue
            hit = acts[:, k] > cutoff[k]
            if not hit.any():
                continue
            minus = strands[:, k][hit]
            picked = windows[hit]
            picked = torch.where(minus[:, None, None], picked.flip(1, 2), picked)
            counts[k] += picked.sum(0).double().numpy()
            n_sites[k] += int(hit.sum())
    return _summarise(
        model, counts, n_sites, maxima.numpy(), (maxima - minima).numpy(),
        params={
            "threshold": threshold, "trim_ic": trim_ic, "min_length": min_length,
            "min_mean_ic": min_mean_ic, "min_sites": min_sites, "min_influence": min_influence,
            "n_sequences": int(X.shape[0]),
            "annotate": annotate, "cislens_version": __version__,
        },
        database=database,
    )


def filter_influence(model, ranges) -> np.ndarray:
    """Each filter's reach into the tokens, relative to the largest (F,), in [0, 1].

    ``activation range x |token batch-norm scale| x ||token projection column||``: how far the
    filter's activations can move the tokens (the only route to the prediction). ``ranges`` is
    max - min of each filter's activations over the sequences read: a filter stuck at a
    constant (e.g. weights faded to zero, a positive bias) has none.
    """
    n_filters = model.hparams["n_filters"]
    channels = getattr(model, "n_token_channels", n_filters)  # 2F with strand tokens
    column = model.tokenize.weight.detach().cpu().double()[:, :channels].norm(dim=0).numpy()
    scale = np.ones(channels)
    norm = model.token_norm
    if norm is not None:
        gamma = norm.weight.detach().cpu().double().numpy()
        scale = np.abs(gamma) / np.sqrt(norm.running_var.detach().cpu().double().numpy()
                                        + norm.eps)
    # A filter's strands are separate token features: it reaches as far as its stronger one.
    per_channel = (scale * column).reshape(channels // n_filters, n_filters).max(0)
    reach = np.maximum(np.asarray(ranges, dtype=float), 0.0) * per_channel
    top = reach.max() if len(reach) else 0.0
    return reach / top if top > 0 else np.zeros(n_filters)


def _summarise(model, counts, n_sites, maxima, ranges, *, params, database) -> ArgminnMotifs:
    from cislens.pwm import Motif

    weight = model.scanner.weight.detach().cpu().double().numpy()
    influence = filter_influence(model, ranges)
    totals = counts.sum(1, keepdims=True)
    pfms = np.where(totals > 0, counts / np.maximum(totals, 1e-12), 0.25)
    rows, motifs = [], []
    for k in range(counts.shape[0]):
        ic = information_content(pfms[k])
        start, end = trim_span(ic, params["trim_ic"])
        length = end - start
        mean_ic = float(ic[start:end].mean()) if length else 0.0
        passing = bool(
            n_sites[k] >= params["min_sites"]
            and length >= params["min_length"]
            and mean_ic >= params["min_mean_ic"]
            and influence[k] >= params.get("min_influence", 0.0)
        )
        name = f"filter_{k}"
        rows.append({
            "filter": k, "name": name, "n_sites": int(n_sites[k]),
            "max_activation": float(maxima[k]), "start": start, "end": end, "length": length,
            "mean_ic": mean_ic, "weight_mass": float(np.abs(weight[k]).sum()),
            "influence": float(influence[k]), "passing": passing,
        })
        if passing:
            trimmed = pfms[k][:, start:end] + 0.001
            motifs.append(Motif(name, trimmed / trimmed.sum(0), counts=counts[k][:, start:end],
                                source="ARGMINN"))
    annotation = pd.DataFrame()
    if params["annotate"] and motifs:
        from cislens.motifs import annotate as tomtom_annotate

        annotation = tomtom_annotate(motifs, database=database)
    if annotation.empty:
        from cislens.motifs import MATCH_COLUMNS

        annotation = pd.DataFrame({c: [] for c in MATCH_COLUMNS})
    centred = weight - weight.mean(1, keepdims=True)
    return ArgminnMotifs(motifs, pd.DataFrame(rows, columns=list(FILTER_COLUMNS)),
                         centred.astype(np.float32), pfms, annotation, params)


def argminn_instances(
    model,
    X,
    *,
    attention_threshold: float = 0.9,
    activation_threshold: float | None = 0.5,
    filters=None,
    motifs: ArgminnMotifs | None = None,
    batch_size: int = 256,
    device=None,
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

    Why not the reference rule by default: a head always attends somewhere, also in a sequence
    without the motif, and there the filter's best window is a weak near-match whose activation
    is above the (low) mean of its positive activations. On ``jund_tead``'s validation split
    (``benchmarks/argminn_presets.py`` model) 205 of the 265 false calls were in negative
    sequences, at a median of 0.42 of the filter's maximum against 0.69 for the true calls;
    precision was 0.88 with the mean rule and 0.94 at half the maximum.

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
    X, batch_size = _prepare(model, X, batch_size)
    if not 0.0 <= attention_threshold < 1.0:
        raise ValueError(
            f"attention_threshold must be in [0, 1); got {attention_threshold!r}."
        )
    if activation_threshold is not None and (
        isinstance(activation_threshold, bool) or not 0.0 < activation_threshold <= 1.0
    ):
        raise ValueError(
            f"activation_threshold must be in (0, 1] (a fraction of each filter's maximum "
            f"activation) or None (the mean rule); got {activation_threshold!r}."
        )
    n_filters, width = model.hparams["n_filters"], model.hparams["filter_width"]
    if filters is None:
        filters = motifs.passing if motifs is not None else list(range(n_filters))
    filters = [int(k) for k in filters]
    bad = [k for k in filters if not 0 <= k < n_filters]
    if bad:
        raise ValueError(f"filters must be in [0, {n_filters}); got {bad}.")
    positive_sum = torch.zeros(n_filters, dtype=torch.float64)
    positive_count = torch.zeros(n_filters, dtype=torch.float64)
    peak = torch.zeros(n_filters, dtype=torch.float64)
    candidates = []
    for lo, out in _batches(model, X, batch_size, device, verbose, "ARGMINN instances"):
        acts = out.activations
        positive_sum += acts.double().sum((0, 2))
        positive_count += (acts > 0).double().sum((0, 2))
        peak = torch.maximum(peak, acts.double().amax((0, 2)))
        attention = out.attention.flatten(1, 2)  # (B, layers * heads, P)
        best, where = attention.max(1)
        n_over = (attention > attention_threshold).sum(1)
        n, p = torch.nonzero(best > attention_threshold, as_tuple=True)
        for k in filters:
            a = acts[n, k, p]
            keep = a > 0
            candidates.append(pd.DataFrame({
                "example": (n[keep] + lo).numpy(), "placement": p[keep].numpy(), "filter": k,
                "minus": out.strands[n, k, p][keep].numpy(), "activation": a[keep].numpy(),
                "attention": best[n, p][keep].numpy(), "where": where[n, p][keep].numpy(),
                "n_heads": n_over[n, p][keep].numpy(),
            }))
    if activation_threshold is None:
        floor = (positive_sum / positive_count.clamp_min(1)).numpy()
    else:
        floor = (activation_threshold * peak).numpy()
    table = pd.concat(candidates, ignore_index=True) if candidates else pd.DataFrame()
    if table.empty:
        return pd.DataFrame({c: [] for c in INSTANCE_COLUMNS})
    table = table[table["activation"].to_numpy() >= floor[table["filter"].to_numpy()]]
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
    result = pd.DataFrame({
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
    })
    return result.sort_values(["example", "start", "filter"]).reset_index(drop=True)


def argminn_syntax(model, X, *, batch_size: int = 256, device=None,
                   verbose: bool = False) -> torch.Tensor:
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
    X, batch_size = _prepare(model, X, batch_size)
    maps = [out.attention for _, out in _batches(model, X, batch_size, device, verbose,
                                                 "ARGMINN attention")]
    return torch.cat(maps, 0).float()


__all__ = [
    "FILTER_COLUMNS",
    "INSTANCE_COLUMNS",
    "ArgminnMotifs",
    "argminn_instances",
    "argminn_motifs",
    "argminn_syntax",
    "filter_influence",
    "information_content",
    "trim_span",
]
