"""Effect-size statistics for paired in-silico experiments.

Every GIA experiment yields, per background sequence ``n``, a paired difference
``d_n = f(x_n with the pattern) - f(x_n)`` (or a contrast of several such terms). This module
summarises those differences:

- :func:`bootstrap_ci`: percentile bootstrap confidence interval of the mean over backgrounds;
- :func:`wilcoxon_p`: two-sided Wilcoxon signed-rank test of ``median(d) = 0`` (paired);
- :func:`standardized_effect`: ``mean(d) / sd(d)`` (Cohen's d for paired data);
- :func:`benjamini_hochberg`: BH-adjusted p-values across the conditions of one experiment.

All functions work along axis 0 (the backgrounds) and broadcast over any trailing axes (targets,
or the (4, L) of an attribution map).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from cislens.utils.random import check_random_state
from cislens.utils.types import ArrayLike, RandomState
from cislens.utils.validation import check_positive_int

DEFAULT_N_BOOTSTRAP = 1000
"""Bootstrap resamples for confidence intervals."""
DEFAULT_CONFIDENCE = 0.95
"""Coverage of the confidence intervals."""


def _differences(differences, name: str = "differences") -> np.ndarray:
    values = np.asarray(differences, dtype=np.float64)
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(
            f"{name} must have at least one background along axis 0; got shape {values.shape}."
        )
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return values


def check_confidence(confidence) -> float:
    """Validate a confidence level in (0, 1)."""
    if isinstance(confidence, bool) or not isinstance(confidence, (float, int, np.floating)):
        raise TypeError(f"confidence must be a float in (0, 1); got {confidence!r}.")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}.")
    return float(confidence)


def bootstrap_ci(
    differences: ArrayLike,
    *,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    random_state: RandomState = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap confidence interval of the mean along axis 0.

    Backgrounds are resampled with replacement ``n_bootstrap`` times (the same resamples for
    every trailing element, so intervals of different targets or positions are comparable).

    Parameters
    ----------
    differences : array (N, ...)
        Paired differences, one row per background sequence.
    n_bootstrap : int
        Number of resamples (default 1000).
    confidence : float
        Coverage (default 0.95).
    random_state : int, numpy.random.Generator or None
        Seed of the resampling.

    Returns
    -------
    (low, high) : tuple of arrays of shape ``differences.shape[1:]``

    Examples
    --------
    >>> low, high = bootstrap_ci(np.arange(10.0), random_state=0)
    >>> bool(low < 4.5 < high)
    True
    """
    values = _differences(differences)
    check_positive_int(n_bootstrap, "n_bootstrap", detail=", e.g. 1000", type_error=True)
    confidence = check_confidence(confidence)
    rng = check_random_state(random_state)
    n = values.shape[0]
    flat = values.reshape(n, -1)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=int(n_bootstrap)) / n
    means = weights @ flat  # (B, K)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha], axis=0)
    return low.reshape(values.shape[1:]), high.reshape(values.shape[1:])


def wilcoxon_p(differences: ArrayLike) -> np.ndarray:
    """Two-sided Wilcoxon signed-rank p-values of ``median = 0`` along axis 0.

    Elements whose differences are all zero get p = 1 (no evidence of an effect). With fewer
    than two non-zero differences the test is undefined and p = 1 as well.

    Examples
    --------
    >>> float(wilcoxon_p(np.zeros(5)))
    1.0
    >>> bool(wilcoxon_p(np.linspace(1, 2, 30)) < 1e-5)
    True
    """
    values = _differences(differences)
    n = values.shape[0]
    flat = values.reshape(n, -1)
    p = np.ones(flat.shape[1])
    nonzero = (flat != 0).sum(axis=0)
    testable = nonzero >= 2
    if testable.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            result = stats.wilcoxon(flat[:, testable], axis=0, zero_method="wilcox")
        p[testable] = np.nan_to_num(np.asarray(result.pvalue, dtype=np.float64), nan=1.0)
    return p.reshape(values.shape[1:])


def standardized_effect(differences: ArrayLike) -> np.ndarray:
    """Mean over axis 0 divided by the standard deviation (ddof=1); 0 where both are 0.

    A non-zero mean with zero spread (a deterministic effect) gives +-inf.

    Examples
    --------
    >>> float(standardized_effect(np.array([1.0, 2.0, 3.0])))
    2.0
    """
    values = _differences(differences)
    mean = values.mean(axis=0)
    sd = values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.zeros_like(mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), np.sign(mean) * np.inf)
    return np.where((sd == 0) & (mean == 0), 0.0, out)


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), same shape as the input.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p_values, dtype=np.float64)
    flat = p.ravel()
    if flat.size == 0:
        return p.copy()
    if np.isnan(flat).any() or (flat < 0).any() or (flat > 1).any():
        raise ValueError("p_values must be in [0, 1] without NaN.")
    order = np.argsort(flat)
    m = flat.size
    ranked = flat[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty_like(flat)
    adjusted[order] = np.minimum(ranked, 1.0)
    return adjusted.reshape(p.shape)


__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_N_BOOTSTRAP",
    "benjamini_hochberg",
    "bootstrap_ci",
    "check_confidence",
    "standardized_effect",
    "wilcoxon_p",
]
