"""Reading a trained ARGMINN's motifs from its filters (instances and syntax:
:mod:`cislens.argminn.instances`).

- :func:`argminn_motifs`: per filter, the mean-centred weights and the PFM of the input windows
  that activate it (strand-aligned), trimmed by information content; *passing* filters (the
  motifs) are those with at least ``min_sites`` activating windows, a trimmed length of at least
  ``min_length`` (5) and a mean IC of at least ``min_mean_ic`` (1.0 bit); IC is the KL
  divergence to a uniform background with pseudocount 0.001 (the reference's readout rule).
  A passing filter must also be *used*: its ``influence`` (how far its activations can move the
  tokens: the range of its activations times its token batch-norm scale times the norm of its
  column in the token projection) must be at least ``min_influence`` (0.1) of the largest
  filter's; a filter the model has faded out is not one of its motifs, whatever its PFM.
  And it must be *needed*: removing it must move the logits by at least ``min_effect`` (0.1)
  of what removing the most needed filter does (:mod:`cislens.argminn.effect`).
  A strand-symmetric filter (it scores a window and its reverse complement alike) has its
  windows aligned by agreement, not by the winning strand (:mod:`cislens.argminn.orientation`).
  The passing motifs are annotated with TOMTOM (:func:`cislens.motifs.annotate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from cislens._version import __version__
from cislens.argminn._common import batches, prepare
from cislens.argminn.effect import filter_effects
from cislens.argminn.information import information_content, informative_runs, trim_span
from cislens.argminn.orientation import (
    SYMMETRY_THRESHOLD,
    orient_windows,
    other_strand_scores,
    strand_scores,
    strand_symmetry,
)
from cislens.argminn.status import FILTER_STATUSES, filter_statuses, site_sharing
from cislens.argminn.units import UNIT_COLUMNS, named_readings, readout_units
from cislens.utils.reprs import compact_repr
from cislens.utils.types import ArrayLike, Device

if TYPE_CHECKING:  # annotations only
    from cislens.models.argminn.network import ARGMINN
    from cislens.pwm.motif import Motif

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
    "effect",
    "strand_symmetry",
    "passing",
    "status",
    "shares_sites_with",
    "shared_fraction",
    "parts",
    "reason",
)
"""Columns of :attr:`ArgminnMotifs.filters` (``start``/``end``: trimmed span, filter columns;
``status`` and ``reason``: why the filter is or is not a motif, :data:`FILTER_STATUSES`;
``parts``: its informative runs, :func:`informative_runs`, as ``"start-end"`` joined by ``;``)."""


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
    units : pandas.DataFrame
        One row per unit of passing filters (:data:`cislens.argminn.units.UNIT_COLUMNS`):
        filters whose windows co-occur at one arrangement on at least ``min_cooccurrence`` of
        the sites of each read one unit; a passing filter on its own is a unit of one.
    unit_motifs : list of cislens.pwm.Motif
        The units' PFMs, named ``unit_<leader>``, in the order of ``units``: a composite unit
        (several filters, or one filter with two or more parts) read from the sequences at its
        joint sites and extended while the columns keep information; any other unit its
        filter's trimmed PFM.
    unit_annotation : pandas.DataFrame
        TOMTOM matches of each informative part (``unit_<leader>:<start>-<end>``) of the
        composite units; empty when not annotated or when there are none. Their rank-1
        matches also fill ``units.reading``.
    """

    __repr__ = compact_repr

    motifs: list
    filters: pd.DataFrame
    weights: np.ndarray
    pfms: np.ndarray
    annotation: pd.DataFrame
    params: dict = field(default_factory=dict)
    units: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(UNIT_COLUMNS)))
    unit_motifs: list = field(default_factory=list)
    unit_annotation: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def passing(self) -> list[int]:
        """Indices of the passing filters."""
        return [int(k) for k in self.filters.loc[self.filters["passing"], "filter"]]


def argminn_motifs(
    model: ARGMINN,
    X: ArrayLike,
    *,
    threshold: float = 0.5,
    trim_ic: float = 0.3,
    min_length: int = 5,
    min_mean_ic: float = 1.0,
    min_sites: int = 20,
    min_influence: float = 0.1,
    min_effect: float = 0.1,
    min_cooccurrence: float = 0.5,
    annotate: bool = True,
    database: str | Sequence[Motif] | None = None,
    batch_size: int = 256,
    device: Device = None,
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
    min_effect : float
        Passing criterion on need (default 0.1): removing the filter must move the logits by
        at least this fraction of what removing the most needed filter does (column
        ``effect``, :func:`cislens.argminn.effect.filter_effects`, measured for the filters
        with at least ``min_sites`` windows). 0 turns the criterion (and the extra forward
        passes) off.
    min_cooccurrence : float
        Two passing filters read one *unit* (``units``) when their windows co-occur at one
        arrangement (offset, relative strand) on at least this share of the windows of each
        (default 0.5; :mod:`cislens.argminn.units`). 1.01 never joins filters.
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
    X, batch_size = prepare(model, X, batch_size)
    _check_settings(threshold, min_influence, min_effect, min_cooccurrence)
    n_filters, width = model.hparams["n_filters"], model.hparams["filter_width"]
    maxima = torch.full((n_filters,), -torch.inf)
    minima = torch.full((n_filters,), torch.inf)
    for _, (acts, _) in batches(
        model, X, batch_size, device, verbose, "ARGMINN maxima", scan_only=True
    ):
        maxima = torch.maximum(maxima, acts.amax((0, 2)))
        minima = torch.minimum(minima, acts.amin((0, 2)))
    cutoff = threshold * maxima
    counts, n_sites, hits = _count_windows(model, X, cutoff, maxima, batch_size, device, verbose)
    # A filter that scores a window and its reverse complement alike (strand-symmetric) gives
    # no strand to align its windows by: align them by agreement instead (orientation.py).
    symmetry = np.full(n_filters, np.nan)
    for k, (where, minus, winning, other) in hits.items():
        symmetry[k] = strand_symmetry(winning, other)
        span = trim_span(information_content(_pfms(counts)[k]), trim_ic)
        if symmetry[k] >= SYMMETRY_THRESHOLD and span[1] > span[0]:
            windows, _ = orient_windows(X.numpy(), where, minus, span, width)
            counts[k] = windows.sum(0)
    params = {
        "threshold": threshold,
        "trim_ic": trim_ic,
        "min_length": min_length,
        "min_mean_ic": min_mean_ic,
        "min_sites": min_sites,
        "min_influence": min_influence,
        "min_effect": min_effect,
        "min_cooccurrence": min_cooccurrence,
        "n_sequences": int(X.shape[0]),
        "annotate": annotate,
        "cislens_version": __version__,
    }
    spans = [trim_span(information_content(pfm), trim_ic) for pfm in _pfms(counts)]
    sharing = site_sharing(model, X, cutoff, spans, batch_size=batch_size, device=device)
    effects = np.full(n_filters, np.nan)
    if min_effect > 0:
        candidates = [k for k in range(n_filters) if n_sites[k] >= min_sites]
        effects = filter_effects(model, X, candidates, batch_size=batch_size, device=device)
    result = _summarise(
        model,
        counts,
        n_sites,
        maxima.numpy(),
        (maxima - minima).numpy(),
        sharing,
        (symmetry, effects),
        params=params,
        database=database,
    )
    return _with_units(result, X.numpy(), hits, width, database)


def _check_settings(threshold, min_influence, min_effect, min_cooccurrence) -> None:
    """Refuse readout settings outside their ranges, naming the parameter."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold!r}.")
    if not 0.0 <= min_influence <= 1.0:
        raise ValueError(
            f"min_influence must be in [0, 1] (a fraction of the most influential filter's); "
            f"got {min_influence!r}."
        )
    if not 0.0 <= min_effect <= 1.0:
        raise ValueError(
            f"min_effect must be in [0, 1] (a fraction of the most needed filter's); "
            f"got {min_effect!r}."
        )
    if not min_cooccurrence > 0.0:
        raise ValueError(
            f"min_cooccurrence must be > 0 (a share of each filter's windows; above 1 joins "
            f"no filters); got {min_cooccurrence!r}."
        )


def _with_units(result: ArgminnMotifs, X, hits, width, database) -> ArgminnMotifs:
    """Group the passing filters into units (:func:`cislens.argminn.units.readout_units`),
    note the grouping in the members' reasons, and annotate the parts of composite units."""
    from cislens.pwm import Motif

    params, filters = result.params, result.filters
    passing = filters[filters["passing"]].sort_values(
        ["influence", "filter"], ascending=[False, True]
    )
    windows = {k: (where[:, 0], where[:, 1], minus) for k, (where, minus, _, _) in hits.items()}
    spans = {int(r.filter): (int(r.start), int(r.end)) for r in passing.itertuples()}
    # A filter whose own PFM has two parts reads a composite: read it whole from the sequences.
    # Not a strand-symmetric one: its winning strand (which orients the read) is a coin toss.
    composite = {
        int(r.filter)
        for r in passing.itertuples()
        if ";" in str(r.parts) and not r.strand_symmetry >= SYMMETRY_THRESHOLD
    }
    table, pfms, notes = readout_units(
        X,
        windows,
        [int(k) for k in passing["filter"]],
        result.pfms,
        spans,
        width,
        trim_ic=params["trim_ic"],
        min_cooccurrence=params["min_cooccurrence"],
        composite=composite,
    )
    for k, note in notes.items():
        filters.loc[filters["filter"] == k, "reason"] += note
    motifs, parts = [], []
    for row in table.itertuples():
        trimmed = pfms[row.unit] + 0.001
        motifs.append(Motif(row.unit, trimmed / trimmed.sum(0), source="ARGMINN"))
        for span in [s for s in row.parts.split(";") if s]:
            a, b = (int(v) for v in span.split("-"))
            piece = pfms[row.unit][:, a:b] + 0.001
            parts.append(Motif(f"{row.unit}:{span}", piece / piece.sum(0), source="ARGMINN"))
    result.units, result.unit_motifs = table, motifs
    if params["annotate"] and parts:
        from cislens.motifs import annotate as tomtom_annotate

        result.unit_annotation = tomtom_annotate(parts, database=database)
        result.units["reading"] = named_readings(
            result.units, result.unit_annotation, pfms, trim_ic=params["trim_ic"]
        )
    return result


def _count_windows(model, X, cutoff, maxima, batch_size, device, verbose):
    """Per filter: the counts (F, 4, W) of its activating windows (minus-strand windows
    reverse-complemented), their number (F,), and ``hits[k] = (where, minus, winning,
    other)``: (sequence, placement) pairs (n, 2), the winning strand, its score and the other
    strand's nearby (:func:`other_strand_scores`), kept to test and undo the alignment."""
    n_filters, width = len(maxima), model.hparams["filter_width"]
    counts = np.zeros((n_filters, 4, width))
    n_sites = np.zeros(n_filters, dtype=np.int64)
    found: dict[int, list] = {}
    for lo, (acts, strands) in batches(
        model, X, batch_size, device, verbose, "ARGMINN PFMs", scan_only=True
    ):
        batch = X[lo : lo + acts.shape[0]]
        windows = batch.unfold(2, width, 1).permute(0, 2, 1, 3)  # (B, P, 4, W)
        with torch.no_grad():
            forward, reverse = (
                t.cpu() for t in strand_scores(model, batch.to(model.scanner.weight.device))
            )
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
            n, p = torch.nonzero(hit, as_tuple=True)
            where = np.stack([n.numpy() + lo, p.numpy()], 1)
            other = other_strand_scores(forward[:, k], reverse[:, k], n, p, minus)
            part = (where, minus.numpy(), acts[:, k][hit].numpy(), other.numpy())
            found.setdefault(k, []).append(part)
    hits = {
        k: tuple(np.concatenate(c) for c in zip(*parts, strict=True)) for k, parts in found.items()
    }
    return counts, n_sites, hits


def _pfms(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(1, keepdims=True)
    return np.where(totals > 0, counts / np.maximum(totals, 1e-12), 0.25)


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
        scale = np.abs(gamma) / np.sqrt(norm.running_var.detach().cpu().double().numpy() + norm.eps)
    # A filter's strands are separate token features: it reaches as far as its stronger one.
    per_channel = (scale * column).reshape(channels // n_filters, n_filters).max(0)
    reach = np.maximum(np.asarray(ranges, dtype=float), 0.0) * per_channel
    top = reach.max() if len(reach) else 0.0
    return reach / top if top > 0 else np.zeros(n_filters)


def _summarise(
    model, counts, n_sites, maxima, ranges, sharing, measured, *, params, database
) -> ArgminnMotifs:
    from cislens.pwm import Motif

    weight = model.scanner.weight.detach().cpu().double().numpy()
    influence = filter_influence(model, ranges)
    symmetry, effects = measured
    pfms = _pfms(counts)
    rows = []
    for k in range(counts.shape[0]):
        ic = information_content(pfms[k])
        start, end = trim_span(ic, params["trim_ic"])
        length = end - start
        partner = int(np.argmax(sharing[k])) if sharing[k].max() > 0 else -1
        rows.append(
            {
                "filter": k,
                "name": f"filter_{k}",
                "n_sites": int(n_sites[k]),
                "max_activation": float(maxima[k]),
                "start": start,
                "end": end,
                "length": length,
                "mean_ic": float(ic[start:end].mean()) if length else 0.0,
                "weight_mass": float(np.abs(weight[k]).sum()),
                "influence": float(influence[k]),
                "effect": float(effects[k]),
                "strand_symmetry": float(symmetry[k]),
                "shares_sites_with": partner,
                "shared_fraction": float(sharing[k, partner]) if partner >= 0 else 0.0,
            }
        )
    filters = pd.DataFrame(rows)
    filters["status"], filters["reason"] = filter_statuses(filters, sharing, params)
    filters["passing"] = filters["status"].isin(["passing", "redundant"])
    filters["parts"] = [
        ";".join(f"{a}-{b}" for a, b in informative_runs(information_content(pfms[k])))
        if passing
        else ""
        for k, passing in enumerate(filters["passing"])
    ]
    motifs = []
    for k in filters.loc[filters["passing"], "filter"]:
        start, end = filters.loc[k, "start"], filters.loc[k, "end"]
        trimmed = pfms[k][:, start:end] + 0.001
        motifs.append(
            Motif(
                f"filter_{k}",
                trimmed / trimmed.sum(0),
                counts=counts[k][:, start:end],
                source="ARGMINN",
            )
        )
    annotation = pd.DataFrame()
    if params["annotate"] and motifs:
        from cislens.motifs import annotate as tomtom_annotate

        annotation = tomtom_annotate(motifs, database=database)
    if annotation.empty:
        from cislens.motifs import MATCH_COLUMNS

        annotation = pd.DataFrame({c: [] for c in MATCH_COLUMNS})
    centred = weight - weight.mean(1, keepdims=True)
    return ArgminnMotifs(
        motifs,
        filters[list(FILTER_COLUMNS)],
        centred.astype(np.float32),
        pfms,
        annotation,
        params,
    )


__all__ = [
    "FILTER_COLUMNS",
    "FILTER_STATUSES",
    "ArgminnMotifs",
    "argminn_motifs",
    "filter_influence",
    "filter_statuses",
    "information_content",
    "informative_runs",
    "site_sharing",
    "trim_span",
]
