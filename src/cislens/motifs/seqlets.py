"""Seqlets: high-importance windows of projected contribution tracks, TF-MoDISco style.

Algorithm (``docs/formats.md``, "Motif discovery results", and ``docs/algorithms.md``
section 5.2):

1. Per-position score ``s_i = sum_b contrib[b, i]`` (projected scores, not hypothetical ones).
2. Windowed sums ``S_i = s_i + ... + s_{i+W-1}`` of every window of every sequence (at most
   ``max_windows`` of them, a reproducible subsample, are used to fit the null).
3. A two-sided Laplace null around the mode of ``S``; the rate of each side is the largest
   ``-ln(1 - p) / (q_p - mode)`` over p = 5%, 10%, ..., 95% (the thinnest tail).
4. Per sign, isotonic regression of "real window (1) versus null sample (0)" on the value
   estimates ``P(real | v)``; the precision is ``1 + pi0 (1 - 1/P)`` and the threshold is the
   least extreme value whose precision reaches ``1 - target_fdr``.
5. If fewer than ``min_passing_frac`` of the windows pass, the threshold is lowered to that
   quantile of ``|S|``; if more than ``max_passing_frac`` pass, it is raised.
6. Greedy, non-overlapping extraction per sequence: take the strongest passing window, emit
   ``[c - flank, c + W + flank)``, suppress the windows whose cores would overlap it, repeat.
7. A seqlet belongs to the positive metacluster when its core sum is above the (weak)
   metacluster threshold, to the negative one when below its negative, and is dropped otherwise.

Unlike modisco-lite, ``flank = 0`` works, and capping a metacluster keeps its strongest seqlets
(globally, by ``|score|``), so the result does not depend on the order of the input sequences.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from cislens.utils.reprs import compact_repr
from cislens.utils.types import ArrayLike, RandomState
from cislens.utils.validation import check_int

logger = logging.getLogger(__name__)

MAX_NULL_WINDOWS = 1_000_000
"""Windows that fit the null at most (a seeded subsample of them above this)."""

SEQLET_COLUMNS = ("example", "start", "end", "strand", "score", "metacluster")
"""Columns of a seqlet table: example (row of X), start / end (0-based, end exclusive), strand
("+" as extracted; "-" once aligned on the reverse strand), score (core-window sum of projected
contributions) and metacluster ("pos" or "neg")."""


@dataclass
class SeqletCalls:
    """The result of :func:`extract_seqlets`: a seqlet table and the thresholds used.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per seqlet, columns :data:`SEQLET_COLUMNS`, sorted by metacluster then by
        decreasing ``|score|``.
    thresholds : dict
        ``positive`` and ``negative`` (window-sum thresholds after refinement), ``weak``
        (the metacluster threshold on ``|core sum|``), ``fdr_positive`` / ``fdr_negative`` (before
        refinement), ``passing_fraction`` and ``n_windows``.
    """

    __repr__ = compact_repr

    table: pd.DataFrame
    thresholds: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)


def _as_scores(attributions) -> np.ndarray:
    values = np.asarray(getattr(attributions, "numpy", lambda: attributions)(), dtype=np.float64)
    if values.ndim == 3:
        if values.shape[1] != 4:
            raise ValueError(
                "attributions must be (N, 4, L) projected scores or (N, L) per-position scores; "
                f"got shape {values.shape}. Pass hypothetical * X, not (N, L, 4)."
            )
        values = values.sum(axis=1)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(
            f"attributions must be a non-empty (N, 4, L) or (N, L) array; got shape {values.shape}."
        )
    if not np.isfinite(values).all():
        raise ValueError("attributions contain NaN or infinite values; fix them first.")
    return values


def _mode(values: np.ndarray) -> float:
    """Mode by a 1000-bin histogram, refined by a second histogram inside the peak bin."""
    counts, edges = np.histogram(values, bins=1000)
    peak = int(np.argmax(counts))
    inside = values[(values >= edges[peak]) & (values <= edges[peak + 1])]
    if inside.size == 0 or edges[peak] == edges[peak + 1]:
        return float(0.5 * (edges[peak] + edges[peak + 1]))
    counts, edges = np.histogram(inside, bins=1000)
    peak = int(np.argmax(counts))
    return float(0.5 * (edges[peak] + edges[peak + 1]))


def _laplace_rate(tail: np.ndarray, mode: float) -> float:
    distances = np.abs(tail - mode)
    if distances.size == 0 or distances.max() <= 0:
        return np.inf
    percents = np.arange(5, 100, 5) / 100.0
    quantiles = np.quantile(distances, percents)
    with np.errstate(divide="ignore"):
        rates = np.where(quantiles > 0, -np.log(1 - percents) / np.maximum(quantiles, 1e-300), 0)
    rate = float(rates.max())
    return rate if rate > 0 else np.inf


def laplace_null(values: np.ndarray, *, n_samples: int = 10_000, random_state=1234) -> np.ndarray:
    """Samples from the two-sided Laplace null fitted to window sums ``values``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> null = laplace_null(rng.laplace(size=20_000), random_state=0)
    >>> null.shape, bool(abs(np.median(null)) < 0.1)
    ((10000,), True)
    """
    from cislens.utils.random import check_random_state

    rng = check_random_state(random_state)
    mode = _mode(values)
    upper, lower = values[values >= mode], values[values <= mode]
    rate_up, rate_down = _laplace_rate(upper, mode), _laplace_rate(lower, mode)
    u = rng.random(n_samples)
    side = rng.random(n_samples) < upper.size / max(values.size, 1)
    with np.errstate(divide="ignore"):
        up = mode - np.log1p(-u) / rate_up
        down = mode + np.log1p(-u) / rate_down
    return np.where(side, up, down)


def _isotonic_threshold(real: np.ndarray, null: np.ndarray, target_fdr: float) -> float:
    """Least extreme value of ``real`` (all >= 0 here) whose precision is >= 1 - target_fdr."""
    from sklearn.isotonic import IsotonicRegression

    if real.size == 0:
        return np.inf
    values = np.concatenate([real, null])
    labels = np.concatenate([np.ones(real.size), np.zeros(null.size)])
    null_weight = real.size / max(null.size, 1)
    weights = np.concatenate([np.ones(real.size), np.full(null.size, null_weight)])
    model = IsotonicRegression(increasing=True, out_of_bounds="clip")
    model.fit(values, labels, sample_weight=weights)
    order = np.sort(real)
    fitted = np.maximum(model.predict(order), 1e-7)
    pi0 = np.clip(-1.0 / (1.0 - 1.0 / fitted[0]) if fitted[0] < 1 else 1.0, 0.95, 1.0)
    precision = np.clip(1.0 + pi0 * (1.0 - 1.0 / fitted), 0.0, 1.0)
    precision[-1] = 1.0
    passing = np.flatnonzero(precision >= 1.0 - target_fdr)
    return float(order[passing[0]]) if passing.size else np.inf


@numba.njit(cache=True)
def _greedy_extract(window_sums, positive, negative, flank, suppress, out_example, out_center):
    n, n_windows = window_sums.shape
    count = 0
    track = np.empty(n_windows)
    for i in range(n):
        for j in range(n_windows):
            v = window_sums[i, j]
            track[j] = abs(v) if (v >= positive or v <= -negative) else -np.inf
        for j in range(min(flank, n_windows)):
            track[j] = -np.inf
        for j in range(max(n_windows - flank, 0), n_windows):
            track[j] = -np.inf
        while True:
            c = np.argmax(track)
            if track[c] == -np.inf:
                break
            if count < out_example.size:
                out_example[count] = i
                out_center[count] = c
            count += 1
            lo = max(c - suppress, 0)
            hi = min(c + suppress + 1, n_windows)
            for j in range(lo, hi):
                track[j] = -np.inf
    return count


def window_sums(scores: np.ndarray, window_size: int, chunk: int = 4096, out=None) -> np.ndarray:
    """Sums of every ``window_size`` window of each row, (N, L - W + 1), by blocks of rows.

    Row by row this is the same cumulative-sum difference as on the whole array, but only one
    block's cumulative sums exist at a time (not two more (N, L) float64 arrays); each row's
    sums depend on that row only, so any blocking gives the same values. ``out``: an array to
    write them into.

    Examples
    --------
    >>> window_sums(np.array([[1.0, 2.0, 3.0, 4.0]]), 2).tolist()
    [[3.0, 5.0, 7.0]]
    """
    n, length = scores.shape
    sums = np.empty((n, length - window_size + 1), dtype=np.float64) if out is None else out
    for lo in range(0, n, chunk):
        block = scores[lo : lo + chunk]
        cumulative = np.concatenate(
            [np.zeros((block.shape[0], 1)), np.cumsum(block, axis=1)], axis=1
        )
        sums[lo : lo + chunk] = cumulative[:, window_size:] - cumulative[:, :-window_size]
    return sums


def _check_int(value, name, minimum):
    return check_int(value, name, minimum=minimum)


def extract_seqlets(
    attributions: ArrayLike,
    *,
    window_size: int = 21,
    flank: int = 10,
    target_fdr: float = 0.2,
    min_passing_frac: float = 0.03,
    max_passing_frac: float = 0.2,
    weak_threshold: float = 0.8,
    max_windows: int = MAX_NULL_WINDOWS,
    random_state: RandomState = 1234,
) -> SeqletCalls:
    """Call seqlets on projected contribution scores.

    Parameters
    ----------
    attributions : array (N, 4, L) or (N, L)
        Projected contributions (``hypothetical * X``) or their per-position sums.
    window_size : int
        Core window W (default 21).
    flank : int
        Bases added on each side of a core (default 10): seqlets are ``W + 2 flank`` long.
    target_fdr : float
        Target false discovery rate of the Laplace-null thresholds (default 0.2).
    min_passing_frac, max_passing_frac : float
        Bounds on the fraction of windows passing (defaults 0.03 and 0.2).
    weak_threshold : float
        Cap on the percentile of the metacluster threshold (default 0.8).
    max_windows : int
        Windows used to fit the null (a seeded subsample above this; default 1e6).
    random_state : int, Generator or None
        Seed of the null samples and of the subsample (default 1234).

    Returns
    -------
    SeqletCalls
        ``table`` (columns :data:`SEQLET_COLUMNS`) and ``thresholds``. No seqlet passing gives
        an empty table (and an INFO log line), never an error.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scores = rng.normal(0, 0.1, (20, 100))
    >>> scores[:, 40:50] += 2.0
    >>> calls = extract_seqlets(scores, window_size=10, flank=5)
    >>> bool((calls.table["start"] == 35).all()), len(calls) >= 20
    (True, True)
    """
    scores = _as_scores(attributions)
    check_seqlet_length(scores.shape[1], window_size, flank)
    return call_seqlets(
        window_sums(scores, window_size),
        window_size=window_size,
        flank=flank,
        target_fdr=target_fdr,
        min_passing_frac=min_passing_frac,
        max_passing_frac=max_passing_frac,
        weak_threshold=weak_threshold,
        max_windows=max_windows,
        random_state=random_state,
    )


def check_seqlet_length(length: int, window_size: int, flank: int) -> None:
    """Refuse sequences shorter than one seqlet (``window_size + 2 flank``)."""
    window_size = _check_int(window_size, "window_size", 1)
    flank = _check_int(flank, "flank", 0)
    if length < window_size + 2 * flank:
        raise ValueError(
            f"sequences of length {length} are shorter than a seqlet (window_size {window_size} "
            f"+ 2 x flank {flank}); lower window_size or flank."
        )


def null_window_sample(n_windows: int, max_windows: int, rng) -> np.ndarray | None:
    """Indices of the windows that fit the null, or None when all of them do.

    ``rng.choice(n_windows, max_windows, replace=False)``: the same indices, from the same
    draws, as ``rng.choice(values, max_windows, replace=False)`` takes from ``n_windows`` values,
    so it can be drawn before the window sums exist (its (n_windows,) int64 working array then
    never coexists with them).

    Examples
    --------
    >>> values = np.arange(100.0) * 2
    >>> a, b = np.random.default_rng(0), np.random.default_rng(0)
    >>> bool((values[null_window_sample(100, 7, a)] == b.choice(values, 7, replace=False)).all())
    True
    """
    if n_windows <= max_windows:
        return None
    return rng.choice(n_windows, size=max_windows, replace=False)


def call_seqlets(
    sums: np.ndarray,
    *,
    window_size: int = 21,
    flank: int = 10,
    target_fdr: float = 0.2,
    min_passing_frac: float = 0.03,
    max_passing_frac: float = 0.2,
    weak_threshold: float = 0.8,
    max_windows: int = MAX_NULL_WINDOWS,
    random_state: RandomState = 1234,
    sample: np.ndarray | None = None,
) -> SeqletCalls:
    """:func:`extract_seqlets` from the window sums (N, L - W + 1) of the per-position scores.

    ``sample``: the null windows already drawn from ``random_state`` (a Generator) by
    :func:`null_window_sample`; None draws them here. Otherwise as :func:`extract_seqlets`.

    Examples
    --------
    >>> scores = np.random.default_rng(0).normal(0, 0.1, (20, 100))
    >>> scores[:, 40:50] += 2.0
    >>> calls = call_seqlets(window_sums(scores, 10), window_size=10, flank=5)
    >>> calls.table.equals(extract_seqlets(scores, window_size=10, flank=5).table)
    True
    """
    from cislens.utils.random import check_random_state

    window_size = _check_int(window_size, "window_size", 1)
    flank = _check_int(flank, "flank", 0)
    for name, value in (
        ("target_fdr", target_fdr),
        ("min_passing_frac", min_passing_frac),
        ("max_passing_frac", max_passing_frac),
        ("weak_threshold", weak_threshold),
    ):
        if not 0.0 < float(value) <= 1.0:
            raise ValueError(f"{name} must be in (0, 1]; got {value!r}.")
    check_seqlet_length(sums.shape[1] + window_size - 1, window_size, flank)
    values = sums.ravel()
    rng = check_random_state(random_state)
    if sample is None:
        sample = null_window_sample(values.size, max_windows, rng)
    if sample is not None:
        values = values[sample]
    if np.abs(values).max() == 0:
        logger.info("all attributions are zero: no seqlets.")
        empty = SeqletCalls(_empty_table())
        empty.thresholds = {"positive": np.inf, "negative": np.inf, "n_windows": int(sums.size)}
        return empty
    thresholds = _thresholds(
        values, rng, target_fdr, min_passing_frac, max_passing_frac, weak_threshold
    )
    thresholds["n_windows"] = int(sums.size)
    table = _greedy_table(sums, thresholds, window_size, flank)
    logger.info(
        "%d seqlets (%d positive) from %d windows",
        len(table),
        int((table["metacluster"] == "pos").sum()),
        sums.size,
    )
    return SeqletCalls(table, thresholds)


def _empty_table() -> pd.DataFrame:
    dtypes = ("int64", "int64", "int64", "str", "float64", "str")
    return pd.DataFrame(
        {c: pd.Series(dtype=t) for c, t in zip(SEQLET_COLUMNS, dtypes, strict=True)}
    )


def _thresholds(values, rng, target_fdr, min_passing_frac, max_passing_frac, weak_threshold):
    """Thresholds on window sums: the Laplace-null FDR ones, kept within the passing-fraction
    bounds, and the weak threshold below which a core is dropped."""
    null = laplace_null(values, random_state=rng)
    pos_real, neg_real = values[values >= 0], -values[values < 0]
    pos_null, neg_null = null[null >= 0], -null[null < 0]
    fdr_pos = _isotonic_threshold(pos_real, pos_null, target_fdr)
    fdr_neg = _isotonic_threshold(neg_real, neg_null, target_fdr)
    positive, negative = fdr_pos, fdr_neg
    magnitudes = np.abs(values)
    passing = float(np.mean((values >= positive) | (values <= -negative)))
    if passing < min_passing_frac:
        positive = negative = float(np.quantile(magnitudes, 1 - min_passing_frac))
    elif passing > max_passing_frac:
        positive = negative = float(np.quantile(magnitudes, 1 - max_passing_frac))
    positive, negative = max(positive, 1e-12), max(negative, 1e-12)
    sorted_magnitudes = np.sort(magnitudes)
    rank_pos = np.searchsorted(sorted_magnitudes, positive) / magnitudes.size
    rank_neg = np.searchsorted(sorted_magnitudes, negative) / magnitudes.size
    weak_rank = min(min(rank_pos, rank_neg) - 1e-4, weak_threshold)
    weak = float(sorted_magnitudes[max(int(weak_rank * magnitudes.size), 0)])
    return {
        "positive": float(positive),
        "negative": float(negative),
        "weak": weak,
        "fdr_positive": float(fdr_pos),
        "fdr_negative": float(fdr_neg),
        "passing_fraction": passing,
    }


def _greedy_table(sums, thresholds, window_size, flank) -> pd.DataFrame:
    """The seqlets picked greedily from the window sums, strongest first per metacluster."""
    n, n_windows = sums.shape
    length = n_windows + window_size - 1
    suppress = window_size // 2 + flank
    capacity = n * (length // max(suppress, 1) + 2)
    examples = np.empty(capacity, dtype=np.int64)
    centers = np.empty(capacity, dtype=np.int64)
    count = _greedy_extract(
        sums, thresholds["positive"], thresholds["negative"], flank, suppress, examples, centers
    )
    examples, centers = examples[:count], centers[:count]
    core = sums[examples, centers]
    keep = np.abs(core) > thresholds["weak"]
    examples, centers, core = examples[keep], centers[keep], core[keep]
    table = pd.DataFrame(
        {
            "example": examples,
            "start": centers - flank,
            "end": centers + window_size + flank,
            "strand": "+",
            "score": core,
            "metacluster": np.where(core > 0, "pos", "neg"),
        }
    )
    table["order"] = -np.abs(table["score"])
    table = table.sort_values(["metacluster", "order"], ascending=[False, True], kind="stable")
    return table.drop(columns="order").reset_index(drop=True)


__all__ = [
    "MAX_NULL_WINDOWS",
    "SEQLET_COLUMNS",
    "SeqletCalls",
    "call_seqlets",
    "check_seqlet_length",
    "extract_seqlets",
    "laplace_null",
    "null_window_sample",
    "window_sums",
]
