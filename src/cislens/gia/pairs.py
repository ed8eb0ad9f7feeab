"""Two-pattern experiments: spacing curves and interaction terms.

A **spacing** is the gap in bp between the end of ``a`` (upstream) and the start of ``b``
(tangermeme ``space``); an **orientation** is the strand of ``a`` then of ``b``. The interaction
``f(x+a+b) - f(x+a) - f(x+b) + f(x)`` uses the same backgrounds and the same positions of ``a``
and ``b`` as the joint embedding (tangermeme's ``space`` computes no single-pattern terms).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from cislens.gia._evaluate import DEFAULT_BATCH_SIZE
from cislens.gia._experiment import Experiment, check_ints, doc, options
from cislens.gia.embed import PatternLike
from cislens.gia.result import GIAResult
from cislens.gia.stats import DEFAULT_CONFIDENCE, DEFAULT_N_BOOTSTRAP
from cislens.utils.types import ArrayLike, Device, OutputSpec, RandomState

ORIENTATIONS = ("++", "+-", "-+", "--")
"""Strand of ``a`` then of ``b`` in pair experiments."""


def check_orientation(orientation) -> str:
    if orientation not in ORIENTATIONS:
        raise ValueError(
            f"orientations must be strand pairs (a then b) from {list(ORIENTATIONS)}; "
            f"got {orientation!r}."
        )
    return orientation


def _pair_layout(experiment: Experiment, ia: int, ib: int, gap, start) -> tuple[int, int]:
    wa, wb = experiment.patterns[ia].width, experiment.patterns[ib].width
    if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)):
        raise TypeError(f"spacings must be ints (gaps in bp); got {gap!r}.")
    if gap < 0:
        raise ValueError(
            f"a and b overlap at spacing {gap}: a spacing is the gap in bp between the end of a "
            "and the start of b, and must be >= 0."
        )
    span = wa + int(gap) + wb
    if start is None:
        start = experiment.length // 2 - span // 2
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
        raise TypeError(f"start must be an int or None; got {start!r}.")
    if start < 0 or start + span > experiment.length:
        raise ValueError(
            f"a ({wa} bp) + gap {gap} + b ({wb} bp) spans {span} bp from start {start}, off the "
            f"end of {experiment.length} bp backgrounds; use smaller spacings or a start in "
            f"[0, {experiment.length - span}]."
        )
    return int(start), int(start) + wa + int(gap)


def pair_values(experiment, ia, ib, gap, orientation, start):
    pos_a, pos_b = _pair_layout(experiment, ia, ib, gap, start)
    a = (experiment.key(ia, orientation[0]), pos_a)
    b = (experiment.key(ib, orientation[1]), pos_b)
    null = experiment.values()
    joint = experiment.values([a, b])
    only_a, only_b = experiment.values([a]), experiment.values([b])
    return pos_a, pos_b, joint - null, joint - only_a - only_b + null


@doc
def spacing(
    model: nn.Module,
    backgrounds: ArrayLike,
    a: PatternLike,
    b: PatternLike,
    spacings: int | Sequence[int],
    *,
    orientations: Sequence[str] = ("++",),
    start: int | None = None,
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
    """The joint effect of ``a`` then ``b`` at each gap and orientation, with the interaction.

    For each condition ``effect`` is ``mean[f(x + a + b) - f(x)]`` (tangermeme ``space``);
    ``interaction`` is ``mean[f(x+a+b) - f(x+a) - f(x+b) + f(x)]`` with ``a`` and ``b`` at
    the same positions as in the joint embedding.

    Parameters
    ----------
    model, backgrounds
        As in :func:`marginalize`.
    a, b : pattern
        The upstream and downstream patterns.
    spacings : int or list of int
        Gaps in bp between the end of ``a`` and the start of ``b`` (>= 0).
    orientations : list of str
        Strand pairs from ``"++", "+-", "-+", "--"`` (default ``("++",)``).
    start : int, optional
        Start of ``a``; default None centres the whole arrangement for each spacing.
    {common}

    Returns
    -------
    pandas.DataFrame
        Columns ``spacing``, ``orientation``, ``start_a``, ``start_b``, the statistics of the
        joint effect, then ``interaction``, ``interaction_ci_low``, ``interaction_ci_high``.

    Raises
    ------
    ValueError
        A negative spacing (a and b would overlap), an arrangement off the end.

    Examples
    --------
    >>> import torch
    >>> from cislens.gia import null_backgrounds
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 1), torch.nn.Flatten(),
    ...                             torch.nn.Linear(30, 1))
    >>> bg = null_backgrounds("random", n=20, length=30, random_state=0)
    >>> table = spacing(model, bg, "GGG", "TTT", [0, 4], random_state=0)
    >>> table[["spacing", "start_a", "start_b"]].values.tolist()
    [[0, 12, 15], [4, 10, 17]]
    """
    experiment = Experiment(model, backgrounds, options(locals()))
    ia, ib = experiment.add(a, "a"), experiment.add(b, "b")
    if isinstance(orientations, str):
        orientations = [orientations]
    conditions, differences, extra = [], [], []
    for orientation in orientations:
        orientation = check_orientation(orientation)
        for gap in check_ints(spacings, "spacings"):
            pos_a, pos_b, joint, contrast = pair_values(experiment, ia, ib, gap, orientation, start)
            conditions.append(
                {"spacing": gap, "orientation": orientation, "start_a": pos_a, "start_b": pos_b}
            )
            differences.append(joint)
            extra.append({"interaction": contrast})
    return experiment.table(conditions, differences, extra)


@doc
def interaction(
    model: nn.Module,
    backgrounds: ArrayLike,
    a: PatternLike,
    b: PatternLike,
    spacing: int,
    *,
    orientation: str = "++",
    start: int | None = None,
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
    """Interaction of two patterns: ``mean[f(x+a+b) - f(x+a) - f(x+b) + f(x)]``.

    The single-pattern terms use the same backgrounds and the same positions as the joint
    embedding, so the contrast is paired; positive means cooperation, negative repression or
    redundancy.

    Parameters
    ----------
    model, backgrounds
        As in :func:`marginalize`.
    a, b : pattern
        The upstream and downstream patterns.
    spacing : int
        Gap in bp between the end of ``a`` and the start of ``b`` (>= 0).
    orientation : str
        Strands of ``a`` and ``b``: "++" (default), "+-", "-+" or "--".
    start : int, optional
        Start of ``a`` (default: the arrangement is centred).
    {common}

    Returns
    -------
    GIAResult
        The interaction contrast (its ``null_mean`` is E[f(x)]).

    Examples
    --------
    >>> import torch
    >>> from cislens.gia import null_backgrounds
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 1), torch.nn.Flatten(),
    ...                             torch.nn.Linear(30, 1))
    >>> bg = null_backgrounds("random", n=20, length=30, random_state=0)
    >>> result = interaction(model, bg, "GGG", "TTT", 4, random_state=0)
    >>> bool(abs(result.effect[0]) < 1e-5)  # a linear model has no interactions
    True
    """
    experiment = Experiment(model, backgrounds, options(locals()))
    ia, ib = experiment.add(a, "a"), experiment.add(b, "b")
    orientation = check_orientation(orientation)
    pos_a, pos_b, _, contrast = pair_values(experiment, ia, ib, spacing, orientation, start)
    name_a, name_b = experiment.patterns[ia].name, experiment.patterns[ib].name
    description = f"interaction {name_a}@{pos_a}{orientation[0]} x {name_b}@{pos_b}{orientation[1]}"
    return experiment.result(contrast, description)


__all__ = ["ORIENTATIONS", "check_orientation", "interaction", "pair_values", "spacing"]
