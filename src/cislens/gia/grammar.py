"""Grammar of a pattern pair: every orientation x every gap, the best arrangement, and a test.

:func:`grammar` embeds ``a`` upstream of ``b`` in each of the four orientations (``++``, ``+-``,
``-+``, ``--``: strand of ``a`` then of ``b``) at each gap of a range (default 0-20 bp), on the
same backgrounds, and measures per background ``n`` and arrangement ``k``

- the **interaction** ``d_nk = f(x+a+b) - f(x+a) - f(x+b) + f(x)`` (default ``value``): what the
  arrangement adds beyond the two patterns alone at the same positions and strands; a model
  without pair grammar has the same interaction at every arrangement (0 if it is additive);
- or the **joint effect** ``f(x+a+b) - f(x)`` (``value="effect"``), which also carries each
  pattern's own strand and position preference.

With ``a`` upstream, the four orientations cover every arrangement of the two patterns up to the
reverse complement of the whole: ``b`` upstream of ``a`` on strands (s_b, s_a) is the reverse
complement of ``a`` (-s_a) upstream of ``b`` (-s_b) at the same gap.

**Best arrangement**: the largest mean of ``value`` over backgrounds; its interval is the
percentile bootstrap over backgrounds of that mean. It is conditional on the arrangement having
been chosen as the largest, so when arrangements are alike it is optimistic (the winner's curse);
that is when the test below says so. The runner-up and the paired margin best - runner-up (with
its bootstrap interval) say how clearly the best one wins.

**No-preference test** (H0: every arrangement has the same mean). The statistic is
``T = max_k |m_k - mean_k m_k|`` over the ``K`` arrangement means ``m_k``. Its null
distribution comes from a centred bootstrap: the columns of ``d`` are shifted to a common mean
and the backgrounds (rows, so the dependence between arrangements is kept) are resampled;
``p = (1 + #{T* >= T}) / (1 + n_bootstrap)``. Because the maximum over all ``K`` arrangements
is taken in every resample, the test is corrected for the number of arrangements (a
single-step max-T test, Westfall and Young 1993). ``no_preference`` is ``p >= alpha``: no
arrangement differs from the others at level ``alpha``. A model whose differences are the same
at every arrangement gets ``T = 0`` and ``p = 1``; so does a spread below
:data:`ROUNDING_TOLERANCE` (1e-5) times the largest |f| involved (the model's outputs in float32
carry rounding errors of about 1e-7 of their size, which the test would otherwise resolve).

Cost: ``1 + 3 K`` placements, each one forward pass over the ``n`` backgrounds (the single-pattern
terms are cached per position and strand, so fewer in practice): ``K = 84`` (4 x 21 gaps) and
``n = 100`` backgrounds are at most 25,300 rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from cislens.gia._evaluate import DEFAULT_BATCH_SIZE
from cislens.gia._experiment import Experiment, check_ints, doc, options
from cislens.gia.embed import PatternLike
from cislens.gia.pairs import ORIENTATIONS, check_orientation, pair_values
from cislens.gia.result import scalar_view
from cislens.gia.stats import DEFAULT_CONFIDENCE, DEFAULT_N_BOOTSTRAP, bootstrap_ci
from cislens.utils.random import check_random_state, derive_seed
from cislens.utils.types import ArrayLike, Device, OutputSpec, RandomState
from cislens.utils.validation import check_choice, check_fraction

DEFAULT_GAPS = tuple(range(21))
"""Gaps tested by default: every gap from 0 to 20 bp."""
DEFAULT_ALPHA = 0.05
"""Level of the no-preference test."""
ROUNDING_TOLERANCE = 1e-5
"""A spread T below this fraction of the largest |f| is rounding, not a preference (p = 1)."""
GRAMMAR_VALUES = ("interaction", "effect")
"""What the best arrangement and the test are computed on."""
BEST_COLUMNS = (
    "target", "value", "spacing", "orientation", "estimate", "ci_low", "ci_high",
    "runner_up_spacing", "runner_up_orientation", "margin", "margin_ci_low", "margin_ci_high",
    "spread", "p_value", "no_preference", "alpha", "n_arrangements", "n",
)  # fmt: skip
"""Columns of :attr:`Grammar.best` (one row per target)."""


@dataclass(frozen=True, eq=False)
class Grammar:
    """The arrangements of a pattern pair, its best one per target, and the no-preference test.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per arrangement and target: ``a``, ``b``, ``spacing``, ``orientation``,
        ``start_a``, ``start_b``, the statistics of the joint effect (:mod:`cislens.gia.result`),
        ``interaction``, ``interaction_ci_low``, ``interaction_ci_high``.
    best : pandas.DataFrame
        One row per target (:data:`BEST_COLUMNS`): the best arrangement, ``estimate`` (its mean
        ``value``) with the bootstrap ``ci_low`` / ``ci_high``, the runner-up and the margin,
        ``spread`` (the statistic T), the test's ``p_value`` and ``no_preference``.
    value : str
        "interaction" or "effect".
    """

    table: pd.DataFrame
    best: pd.DataFrame
    value: str

    def heatmap(self, target: int | str | None = None) -> pd.DataFrame:
        """``value`` as an orientation x spacing frame (rows ``++``, ``+-``, ``-+``, ``--``)."""
        targets = list(dict.fromkeys(self.table["target"]))
        if target is None:
            target = targets[0]
        if target not in targets:
            raise ValueError(f"target {target!r} is not in the table; it has {targets}.")
        rows = self.table[self.table["target"] == target]
        frame = rows.pivot(index="orientation", columns="spacing", values=self.value)
        return frame.reindex([o for o in ORIENTATIONS if o in frame.index])


def no_preference_test(
    values: ArrayLike,
    *,
    atol: float = 0.0,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    random_state: RandomState = None,
) -> tuple[float, float]:
    """Centred-bootstrap max test of "every column has the same mean" for (n, K) ``values``.

    Returns ``(T, p)``: ``T = max_k |m_k - mean(m)|`` and its p-value (module docstring).
    ``T <= atol`` counts as a tie (p = 1): differences of floating-point rounding size.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> flat = rng.normal(size=(60, 10))
    >>> bool(no_preference_test(flat, random_state=0)[1] > 0.05)
    True
    >>> peaked = flat.copy(); peaked[:, 3] += 2.0
    >>> bool(no_preference_test(peaked, random_state=0)[1] < 0.01)
    True
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    means = values.mean(axis=0)
    statistic = float(np.abs(means - means.mean()).max())
    if statistic <= atol:
        return statistic, 1.0
    centred = values - means + means.mean()
    rng = check_random_state(random_state)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=int(n_bootstrap)) / n
    boot = weights @ centred  # (B, K)
    null = np.abs(boot - boot.mean(axis=1, keepdims=True)).max(axis=1)
    # a relative tolerance keeps exact ties (T = 0 for a grammar-free model) at p = 1
    tolerance = 1e-9 * max(1.0, float(np.abs(values).max()))
    p_value = (1 + int((null >= statistic - tolerance).sum())) / (1 + int(n_bootstrap))
    return statistic, float(p_value)


def _best_row(values, conditions, label, *, value, alpha, n_bootstrap, confidence, seed, atol):
    means = values.mean(axis=0)
    order = np.argsort(-means, kind="stable")
    best, second = int(order[0]), int(order[1]) if len(order) > 1 else int(order[0])
    low, high = bootstrap_ci(
        values[:, best], n_bootstrap=n_bootstrap, confidence=confidence, random_state=seed
    )
    margin = values[:, best] - values[:, second]
    m_low, m_high = bootstrap_ci(
        margin, n_bootstrap=n_bootstrap, confidence=confidence, random_state=seed
    )
    spread, p_value = no_preference_test(
        values, atol=atol, n_bootstrap=n_bootstrap, random_state=derive_seed(seed, 1)
    )
    return dict(
        target=label,
        value=value,
        spacing=conditions[best]["spacing"],
        orientation=conditions[best]["orientation"],
        estimate=float(means[best]),
        ci_low=float(low),
        ci_high=float(high),
        runner_up_spacing=conditions[second]["spacing"],
        runner_up_orientation=conditions[second]["orientation"],
        margin=float(margin.mean()),
        margin_ci_low=float(m_low),
        margin_ci_high=float(m_high),
        spread=spread,
        p_value=p_value,
        no_preference=bool(p_value >= alpha),
        alpha=alpha,
        n_arrangements=values.shape[1],
        n=values.shape[0],
    )


def _check_grammar_options(value, alpha) -> None:
    check_choice(value, GRAMMAR_VALUES, name="value")
    check_fraction(
        alpha, "alpha", open_min=True, open_max=True, what="a float", detail=", e.g. 0.05"
    )


@doc
def grammar(
    model: nn.Module,
    backgrounds: ArrayLike,
    a: PatternLike,
    b: PatternLike,
    *,
    gaps: int | Sequence[int] = DEFAULT_GAPS,
    orientations: Sequence[str] = ORIENTATIONS,
    value: str = "interaction",
    alpha: float = DEFAULT_ALPHA,
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
) -> Grammar:
    """Every orientation x gap of ``a`` then ``b``: tidy table, best arrangement, no-preference.

    See the module docstring for the quantities, the interval and the test.

    Parameters
    ----------
    model, backgrounds
        As in :func:`cislens.gia.marginalize`.
    a, b : pattern
        The upstream and downstream patterns (strings, JASPAR names, Motifs, one-hots).
    gaps : int or list of int
        Gaps in bp between the end of ``a`` and the start of ``b`` (default 0-20).
    orientations : list of str
        Strand pairs (default all four).
    value : {"interaction", "effect"}
        What the best arrangement and the test use (default "interaction").
    alpha : float
        Level of the no-preference test (default 0.05).
    start : int, optional
        Start of ``a``; default None centres each arrangement.
    {common}

    Returns
    -------
    Grammar
        ``table`` (tidy), ``best`` (one row per target) and :meth:`Grammar.heatmap`.

    Examples
    --------
    >>> import torch
    >>> from cislens.gia import null_backgrounds
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 3), torch.nn.Flatten(),
    ...                             torch.nn.Linear(38, 1))
    >>> bg = null_backgrounds("random", n=20, length=40, random_state=0)
    >>> result = grammar(model, bg, "GGG", "TTT", gaps=[0, 1, 2], random_state=0)
    >>> result.heatmap().shape, bool(result.best["no_preference"][0])  # linear: no grammar
    ((4, 3), True)
    """
    _check_grammar_options(value, alpha)
    experiment = Experiment(model, backgrounds, options(locals()))
    ia, ib = experiment.add(a, "a"), experiment.add(b, "b")
    if isinstance(orientations, str):
        orientations = [orientations]
    orientations = [check_orientation(o) for o in orientations]
    gaps = check_ints(gaps, "gaps")
    conditions, joints, contrasts = [], [], []
    for orientation in orientations:
        for gap in gaps:
            pos_a, pos_b, joint, contrast = pair_values(experiment, ia, ib, gap, orientation, start)
            conditions.append(
                {
                    "a": experiment.patterns[ia].name,
                    "b": experiment.patterns[ib].name,
                    "spacing": gap,
                    "orientation": orientation,
                    "start_a": pos_a,
                    "start_b": pos_b,
                }
            )
            joints.append(joint)
            contrasts.append({"interaction": contrast})
    table = experiment.table(conditions, joints, contrasts)
    chosen = [c["interaction"] for c in contrasts] if value == "interaction" else joints
    columns = [scalar_view(v, experiment.outputs) for v in chosen]
    labels = columns[0][1]
    stacked = np.stack([c[0] for c in columns], axis=1)  # (n, K, k)
    # the largest |f| involved bounds the rounding error of every difference (per target)
    null, _ = scalar_view(experiment.values(), experiment.outputs)
    joint = np.stack([scalar_view(v, experiment.outputs)[0] for v in joints], axis=1)
    scale = np.abs(null).max(axis=0) + np.abs(joint).max(axis=(0, 1))
    rows = [
        _best_row(
            stacked[:, :, j],
            conditions,
            label,
            value=value,
            alpha=float(alpha),
            n_bootstrap=n_bootstrap,
            confidence=experiment.confidence,
            seed=derive_seed(experiment.seed, 40),
            atol=ROUNDING_TOLERANCE * float(scale[j]),
        )
        for j, label in enumerate(labels)
    ]
    return Grammar(table=table, best=pd.DataFrame(rows, columns=list(BEST_COLUMNS)), value=value)


__all__ = [
    "BEST_COLUMNS",
    "DEFAULT_ALPHA",
    "DEFAULT_GAPS",
    "GRAMMAR_VALUES",
    "ROUNDING_TOLERANCE",
    "Grammar",
    "grammar",
    "no_preference_test",
]
