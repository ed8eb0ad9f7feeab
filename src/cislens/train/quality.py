"""The quality gate: is the model good enough for its explanations to mean something?

Attributions, motifs and GIA effects explain what a model does, not what the biology does; a
model near chance on held-out data has learned little, and its explanations are mostly noise.
:func:`quality_warnings` reads the per-task test metrics of :func:`cislens.train.evaluate` and
says, one line per task, where the model is below the documented thresholds
(:data:`MIN_AUROC` for binary tasks, :data:`MIN_PEARSON` for regression tasks; see
``docs/run.md``). ``cislens run`` and ``cislens demo`` log these lines as warnings and show them
at the top of the report, before any interpretation.
"""

from __future__ import annotations

import math

import pandas as pd

MIN_AUROC = 0.6
"""A binary task whose test auROC is below this is flagged (0.5 is chance)."""

MIN_PEARSON = 0.2
"""A regression task whose test Pearson r is below this is flagged (0 is chance)."""


def _value(row, name) -> float:
    value = row.get(name, float("nan"))
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def quality_warnings(
    metrics: pd.DataFrame | None, *, min_auroc: float = MIN_AUROC, min_pearson: float = MIN_PEARSON
) -> list[str]:
    """One warning per task whose test metric is below the threshold (or not computable).

    Parameters
    ----------
    metrics : pandas.DataFrame or None
        :func:`cislens.train.evaluate`'s table (columns ``task``, ``task_type``, ``auroc``,
        ``pearson_r``; ``task`` may be the index). None or empty: no warnings.
    min_auroc, min_pearson : float
        The thresholds (defaults :data:`MIN_AUROC`, :data:`MIN_PEARSON`).

    Returns
    -------
    list of str

    Examples
    --------
    >>> table = pd.DataFrame({"task": ["a", "b"], "task_type": ["binary", "binary"],
    ...                       "auroc": [0.93, 0.52]})
    >>> quality_warnings(table)  # doctest: +NORMALIZE_WHITESPACE
    ['task b: test auROC 0.520 is below 0.6 (0.5 is chance): the model is near chance on this
    task, and its explanations for it are not to be trusted.']
    """
    if metrics is None or not len(metrics):
        return []
    frame = metrics.reset_index() if "task" not in metrics.columns else metrics
    found = []
    for _, row in frame.iterrows():
        task = row.get("task", row.iloc[0])
        regression = str(row.get("task_type", "binary")) == "regression"
        name, label, limit, chance = (
            ("pearson_r", "Pearson r", min_pearson, "0")
            if regression
            else ("auroc", "auROC", min_auroc, "0.5")
        )
        value = _value(row, name)
        if math.isnan(value):
            found.append(
                f"task {task}: test {label} could not be computed (a single class or "
                "constant values in the test labels): the model's quality on it is "
                "unknown."
            )
        elif value < limit:
            found.append(
                f"task {task}: test {label} {value:.3f} is below {limit:g} ({chance} "
                "is chance): the model is near chance on this task, and its "
                "explanations for it are not to be trusted."
            )
    return found


__all__ = ["MIN_AUROC", "MIN_PEARSON", "quality_warnings"]
