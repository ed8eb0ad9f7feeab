"""GIA experiments: embed patterns into null backgrounds and measure paired effects.

Every experiment uses the *same* backgrounds for every condition, so each effect is a mean of
per-sequence paired differences (Koo et al. 2021, global importance analysis):
``I = mean_n [f(x_n with the patterns) - f(x_n)]``, with a bootstrap CI, a Wilcoxon
signed-rank p-value, the standardized effect and ``E[f(x)]`` of the null. Conditions of one
experiment are BH-corrected (per target).

Placement conventions (tangermeme's): patterns **overwrite** positions ``[start, start + W)``;
the default start centres the pattern. Two-pattern experiments (``spacing``, ``interaction``)
live in :mod:`cislens.gia.pairs`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from cislens.gia._evaluate import DEFAULT_BATCH_SIZE
from cislens.gia._experiment import Experiment, check_ints, doc, options
from cislens.gia.embed import PatternLike, check_position
from cislens.gia.result import GIAResult
from cislens.gia.stats import DEFAULT_CONFIDENCE, DEFAULT_N_BOOTSTRAP
from cislens.utils.types import ArrayLike, Device, OutputSpec, RandomState
from cislens.utils.validation import check_positive_int


@doc
def marginalize(
    model: nn.Module,
    backgrounds: ArrayLike,
    pattern: PatternLike,
    *,
    position: int | None = None,
    strand: str = "+",
    target: int | Sequence[int] | Callable[..., Any] | None = None,
    func: str | Callable[..., Any] | None = None,
    func_kwargs: dict[str, Any] | None = None,
    sample: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    random_state: RandomState = None,
    verbose: bool = False,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> GIAResult:
    """Global importance of one pattern: ``mean_n [f(x_n + pattern) - f(x_n)]``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (N, 4, L) to (N, T); other models through ``output`` and ``input_layout``.
    backgrounds : array or tensor (N, 4, L)
        Null sequences (see :func:`cislens.gia.null_backgrounds`).
    pattern : str, Motif, array
        A DNA string, JASPAR name / ID, MEME file, consensus, Motif or one-hot (4, W).
    position : int, optional
        Start of the pattern (default: centred, ``L // 2 - W // 2``).
    strand : {"+", "-"}
        Embed the pattern or its reverse complement.
    {common}

    Returns
    -------
    GIAResult
        Effect, CI, p-value, standardized effect, null mean, n and the per-sequence differences.

    Examples
    --------
    >>> import torch
    >>> from cislens.gia import null_backgrounds
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 1, bias=False),
    ...                             torch.nn.Flatten(), torch.nn.Linear(20, 1))
    >>> bg = null_backgrounds("random", n=30, length=20, random_state=0)
    >>> result = marginalize(model, bg, "GGGG", random_state=0)
    >>> result.effect.shape, result.n
    ((1,), 30)
    """
    experiment = Experiment(model, backgrounds, options(locals()))
    index = experiment.add(pattern, "pattern")
    start = experiment.position(index, position)
    placement = (experiment.key(index, strand), start)
    differences = experiment.values([placement]) - experiment.values()
    name = experiment.patterns[index].name
    return experiment.result(differences, f"f(x + {name}@{start}{strand}) - f(x)")


@doc
def position_effect(
    model: nn.Module,
    backgrounds: ArrayLike,
    pattern: PatternLike,
    *,
    positions: Sequence[int] | None = None,
    strand: str = "+",
    target: int | Sequence[int] | Callable[..., Any] | None = None,
    func: str | Callable[..., Any] | None = None,
    func_kwargs: dict[str, Any] | None = None,
    sample: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    random_state: RandomState = None,
    verbose: bool = False,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> pd.DataFrame:
    """The effect of one pattern embedded at each of several positions (positional bias).

    Parameters
    ----------
    model, backgrounds, pattern, strand
        As in :func:`marginalize`.
    positions : list of int, optional
        Starts to test (default: every ``W``-th start, ``range(0, L - W + 1, W)``).
    {common}

    Returns
    -------
    pandas.DataFrame
        Columns ``position``, ``strand`` and the statistics of :mod:`cislens.gia.result`.

    Examples
    --------
    >>> import torch
    >>> from cislens.gia import null_backgrounds
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 1), torch.nn.Flatten(),
    ...                             torch.nn.Linear(12, 1))
    >>> bg = null_backgrounds("random", n=20, length=12, random_state=0)
    >>> position_effect(model, bg, "GG", positions=[0, 5], random_state=0)["position"].tolist()
    [0, 5]
    """
    experiment = Experiment(model, backgrounds, options(locals()))
    index = experiment.add(pattern, "pattern")
    width = experiment.patterns[index].width
    if positions is None:
        positions = range(0, experiment.length - width + 1, width)
    positions = check_ints(positions, "positions")
    key = experiment.key(index, strand)
    null = experiment.values()
    conditions, differences = [], []
    for position in positions:
        start = experiment.position(index, position, name="positions")
        conditions.append({"position": start, "strand": strand})
        differences.append(experiment.values([(key, start)]) - null)
    return experiment.table(conditions, differences)


@doc
def count_effect(
    model: nn.Module,
    backgrounds: ArrayLike,
    pattern: PatternLike,
    *,
    max_count: int = 3,
    positions: Sequence[int] | None = None,
    strand: str = "+",
    target: int | Sequence[int] | Callable[..., Any] | None = None,
    func: str | Callable[..., Any] | None = None,
    func_kwargs: dict[str, Any] | None = None,
    sample: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    random_state: RandomState = None,
    verbose: bool = False,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> pd.DataFrame:
    """The effect of 1, 2, ..., ``max_count`` copies of a pattern (GIA ``multiple_sites``).

    Copy ``c`` goes to ``positions[c - 1]``; ``k`` copies use the first ``k`` positions.

    Parameters
    ----------
    model, backgrounds, pattern, strand
        As in :func:`marginalize`.
    max_count : int
        The largest number of copies (default 3).
    positions : list of int, optional
        Starts of the copies, at least ``max_count`` of them, not overlapping (default: evenly
        spread, ``linspace(0, L - W, max_count + 2)[1:-1]``).
    {common}

    Returns
    -------
    pandas.DataFrame
        Columns ``count``, ``positions`` (comma-separated starts) and the statistics.

    Examples
    --------
    >>> import torch
    >>> from cislens.gia import null_backgrounds
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 1), torch.nn.Flatten(),
    ...                             torch.nn.Linear(30, 1))
    >>> bg = null_backgrounds("random", n=20, length=30, random_state=0)
    >>> count_effect(model, bg, "GGG", max_count=2, random_state=0)["positions"].tolist()
    ['9', '9,18']
    """
    experiment = Experiment(model, backgrounds, options(locals()))
    index = experiment.add(pattern, "pattern")
    width = experiment.patterns[index].width
    check_positive_int(max_count, "max_count")
    if positions is None:
        spread = np.linspace(0, experiment.length - width, max_count + 2)[1:-1].round()
        positions = [int(p) for p in spread]
    positions = check_ints(positions, "positions")
    if len(positions) < max_count:
        raise ValueError(
            f"positions must hold at least max_count={max_count} starts; got {len(positions)}."
        )
    starts = [experiment.position(index, p, name="positions") for p in positions[:max_count]]
    ordered = sorted(starts)
    for left, right in itertools.pairwise(ordered):
        if right - left < width:
            raise ValueError(
                f"positions {left} and {right} overlap for a {width} bp pattern; copies need "
                f"starts at least {width} apart (or fewer copies: max_count)."
            )
    key = experiment.key(index, strand)
    null = experiment.values()
    conditions, differences = [], []
    for count in range(1, max_count + 1):
        placements = [(key, s) for s in starts[:count]]
        conditions.append({"count": count, "positions": ",".join(map(str, starts[:count]))})
        differences.append(experiment.values(placements) - null)
    return experiment.table(conditions, differences)


def _flank_pair(flank, name: str) -> tuple[str, str, str]:
    if isinstance(flank, str):
        return flank, flank, flank or "none"
    if isinstance(flank, Sequence) and len(flank) == 2 and all(isinstance(f, str) for f in flank):
        return flank[0], flank[1], f"{flank[0]}|{flank[1]}"
    raise ValueError(f"{name} must hold strings or (left, right) string pairs; got {flank!r}.")


@doc
def flank_effect(
    model: nn.Module,
    backgrounds: ArrayLike,
    pattern: PatternLike,
    flanks: Sequence[str | tuple[str, str]],
    *,
    position: int | None = None,
    strand: str = "+",
    target: int | Sequence[int] | Callable[..., Any] | None = None,
    func: str | Callable[..., Any] | None = None,
    func_kwargs: dict[str, Any] | None = None,
    sample: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    random_state: RandomState = None,
    verbose: bool = False,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> pd.DataFrame:
    """The effect of a pattern in different flanking contexts (GIA ``gc_bias``).

    Each flank is written immediately left and right of the pattern. ``effect`` is the
    pattern's effect given the flank, ``mean[f(x + flanks + pattern) - f(x + flanks)]``;
    ``flank_only`` is ``mean[f(x + flanks) - f(x)]``.

    Parameters
    ----------
    model, backgrounds, pattern, position, strand
        As in :func:`marginalize` (``position`` is the pattern's start).
    flanks : list of str or (left, right) pairs
        DNA strings; one string is used on both sides; ``""`` means no flank.
    {common}

    Returns
    -------
    pandas.DataFrame
        Columns ``flank``, the statistics, ``flank_only``, ``flank_only_ci_low/high``.

    Examples
    --------
    >>> import torch
    >>> from cislens.gia import null_backgrounds
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 1), torch.nn.Flatten(),
    ...                             torch.nn.Linear(30, 1))
    >>> bg = null_backgrounds("random", n=20, length=30, random_state=0)
    >>> flank_effect(model, bg, "TGA", ["", "GCGC"], random_state=0)["flank"].tolist()
    ['none', 'GCGC']
    """
    experiment = Experiment(model, backgrounds, options(locals()))
    index = experiment.add(pattern, "pattern")
    start = experiment.position(index, position)
    width = experiment.patterns[index].width
    core = (experiment.key(index, strand), start)
    null = experiment.values()
    if isinstance(flanks, str):
        flanks = [flanks]
    conditions, differences, extra = [], [], []
    for flank in flanks:
        left, right, label = _flank_pair(flank, "flanks")
        placements = []
        for side, text, at in (("left", left, start - len(left)), ("right", right, start + width)):
            if not text:
                continue
            fi = experiment.add(text, "flanks")
            check_position(
                at,
                width=len(text),
                length=experiment.length,
                name="position",
                label=f"{side} flank {text!r} next to the pattern at {start}",
            )
            placements.append((experiment.key(fi, "+"), at))
        context = experiment.values(placements) if placements else null
        conditions.append({"flank": label})
        differences.append(experiment.values([*placements, core]) - context)
        extra.append({"flank_only": context - null})
    return experiment.table(conditions, differences, extra)


__all__ = ["count_effect", "flank_effect", "marginalize", "position_effect"]
