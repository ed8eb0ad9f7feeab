"""Result types of GIA experiments: :class:`GIAResult` and the condition tables.

Single-condition experiments (:func:`~cislens.gia.marginalize`, :func:`~cislens.gia.interaction`)
return a :class:`GIAResult`, whatever ``func`` is. Multi-condition experiments (position, count,
spacing, flank) return a ``pandas.DataFrame`` with one row per condition and output and these
columns (after the condition's own columns, e.g. ``spacing``, ``orientation``):

==================  ==========================================================================
``target``          the output (model output index) the row is about; for an attribution
                    ``func`` the map is summed over bases and positions (``"attribution_sum"``)
``effect``          mean paired difference over backgrounds (the global importance)
``ci_low/ci_high``  percentile bootstrap confidence interval of ``effect`` (default 95 %)
``p_value``         two-sided Wilcoxon signed-rank test of the paired differences
``p_adj``           Benjamini-Hochberg adjusted ``p_value`` across the conditions (per target)
``standardized``    ``effect`` / SD of the differences
``null_mean``       E[f(x)] over the backgrounds without any pattern
``n``               number of backgrounds
==================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cislens.gia.stats import (
    benjamini_hochberg,
    bootstrap_ci,
    standardized_effect,
    wilcoxon_p,
)

STAT_COLUMNS = (
    "target",
    "effect",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adj",
    "standardized",
    "null_mean",
    "n",
)
"""Columns every condition table ends with, in this order."""

ATTRIBUTION_SUM = "attribution_sum"


@dataclass(frozen=True, eq=False)
class GIAResult:
    """The paired effect of a pattern (or a contrast of patterns) over null backgrounds.

    Attributes
    ----------
    effect : numpy.ndarray
        Mean per-sequence difference: shape (k,) for ``k`` model outputs, or the attribution
        shape (4, L) when ``func`` is an attribution method.
    ci_low, ci_high : numpy.ndarray
        Bootstrap confidence interval of ``effect`` (same shape).
    p_value : numpy.ndarray
        Wilcoxon signed-rank p-values (same shape).
    standardized : numpy.ndarray
        ``effect`` / SD of the differences.
    null_mean : numpy.ndarray
        E[f(x)] over the backgrounds without the pattern (same shape).
    n : int
        Number of backgrounds.
    differences : numpy.ndarray
        The per-background differences (n, ...), float64.
    outputs : list or None
        The output labels of the last axis for predictions; None for attribution maps.
    confidence : float
        Coverage of the interval.
    description : str
        What was contrasted, e.g. ``"f(x + JUND@245+) - f(x)"``.
    """

    effect: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    standardized: np.ndarray
    null_mean: np.ndarray
    n: int
    differences: np.ndarray
    outputs: list | None
    confidence: float
    description: str

    def to_frame(self) -> pd.DataFrame:
        """One row per output (predictions) or per (base, position) (attribution maps)."""
        columns = {
            "effect": self.effect,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "standardized": self.standardized,
            "null_mean": self.null_mean,
        }
        if self.outputs is not None:
            index: dict[str, object] = {"target": list(self.outputs)}
        elif self.effect.ndim == 2:
            bases, positions = np.indices(self.effect.shape)
            index = {"base": np.array(list("ACGT"))[bases.ravel()], "position": positions.ravel()}
        else:
            index = {"element": np.arange(self.effect.size)}
        frame = pd.DataFrame({**index, **{k: np.ravel(v) for k, v in columns.items()}})
        frame["n"] = self.n
        return frame

    def __repr__(self) -> str:
        if self.outputs is not None and self.effect.size <= 4:
            parts = [
                f"{label}: {e:+.4g} [{lo:+.4g}, {hi:+.4g}] p={p:.2g}"
                for label, e, lo, hi, p in zip(
                    self.outputs, self.effect, self.ci_low, self.ci_high, self.p_value, strict=True
                )
            ]
            body = "; ".join(parts)
        else:
            body = f"effect shape {self.effect.shape}"
        return f"GIAResult({self.description}; n={self.n}; {body})"


def summarize(
    differences: np.ndarray,
    null_values: np.ndarray,
    *,
    outputs,
    description: str,
    n_bootstrap: int,
    confidence: float,
    random_state,
) -> GIAResult:
    """Compute every statistic of a :class:`GIAResult` from paired differences."""
    differences = np.asarray(differences, dtype=np.float64)
    low, high = bootstrap_ci(
        differences, n_bootstrap=n_bootstrap, confidence=confidence, random_state=random_state
    )
    return GIAResult(
        effect=differences.mean(axis=0),
        ci_low=np.asarray(low),
        ci_high=np.asarray(high),
        p_value=np.asarray(wilcoxon_p(differences)),
        standardized=np.asarray(standardized_effect(differences)),
        null_mean=np.asarray(null_values, dtype=np.float64).mean(axis=0),
        n=int(differences.shape[0]),
        differences=differences,
        outputs=None if outputs is None else list(outputs),
        confidence=confidence,
        description=description,
    )


def scalar_view(values: np.ndarray, outputs) -> tuple[np.ndarray, list]:
    """(N, k) values and labels: attribution maps (N, 4, L) are summed to one column."""
    if outputs is not None:
        return values, list(outputs)
    return values.reshape(values.shape[0], -1).sum(axis=1)[:, None], [ATTRIBUTION_SUM]


def condition_table(
    conditions: list[dict],
    differences: list[np.ndarray],
    null_values: np.ndarray,
    *,
    outputs,
    n_bootstrap: int,
    confidence: float,
    random_state,
    extra: list[dict] | None = None,
) -> pd.DataFrame:
    """One row per condition and output, BH-adjusted across conditions within each output."""
    null_values, labels = scalar_view(null_values, outputs)
    rows = []
    for index, (condition, diff) in enumerate(zip(conditions, differences, strict=True)):
        diff, _ = scalar_view(diff, outputs)
        result = summarize(
            diff,
            null_values,
            outputs=labels,
            description="",
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            random_state=random_state,
        )
        for k, label in enumerate(labels):
            row = dict(condition)
            row.update(
                target=label,
                effect=float(result.effect[k]),
                ci_low=float(result.ci_low[k]),
                ci_high=float(result.ci_high[k]),
                p_value=float(result.p_value[k]),
                p_adj=np.nan,
                standardized=float(result.standardized[k]),
                null_mean=float(result.null_mean[k]),
                n=result.n,
            )
            if extra is not None:
                for name, values in extra[index].items():
                    values, _ = scalar_view(values, outputs)
                    low, high = bootstrap_ci(
                        values,
                        n_bootstrap=n_bootstrap,
                        confidence=confidence,
                        random_state=random_state,
                    )
                    row[name] = float(values[:, k].mean())
                    row[f"{name}_ci_low"] = float(low[k])
                    row[f"{name}_ci_high"] = float(high[k])
            rows.append(row)
    frame = pd.DataFrame(rows)
    for label in labels:
        mask = frame["target"] == label
        frame.loc[mask, "p_adj"] = benjamini_hochberg(frame.loc[mask, "p_value"].to_numpy())
    condition_columns = [c for c in frame.columns if c not in STAT_COLUMNS]
    stat_first = [c for c in condition_columns if c in (conditions[0] if conditions else {})]
    rest = [c for c in condition_columns if c not in stat_first]
    return frame[stat_first + list(STAT_COLUMNS) + rest]


__all__ = ["ATTRIBUTION_SUM", "STAT_COLUMNS", "GIAResult", "condition_table", "summarize"]
