"""Plots of GIA condition tables: effect vs spacing or position with a confidence band.

Each function takes a table from :mod:`cislens.gia.experiments`, draws on ``ax`` (a new figure
when None) and returns the axes; none calls ``plt.show()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5))
    return ax


def _select_target(table: pd.DataFrame, target):
    targets = list(dict.fromkeys(table["target"]))
    if target is None:
        if len(targets) > 1:
            raise ValueError(
                f"target must be given for a table with several targets {targets}; "
                "pass one of them."
            )
        target = targets[0]
    if target not in targets:
        raise ValueError(f"target {target!r} is not in the table; it has {targets}.")
    return table[table["target"] == target], target


def plot_curve(
    table: pd.DataFrame,
    x: str,
    *,
    value: str = "effect",
    group: str | None = None,
    target: int | str | None = None,
    ax: Axes | None = None,
    **line_kwargs: Any,
) -> Axes:
    """Plot ``value`` against column ``x`` with its CI band, one line per ``group`` value.

    Parameters
    ----------
    table : pandas.DataFrame
        A condition table with ``x``, ``value``, ``{value}_ci_low`` / ``{value}_ci_high``
        (``ci_low`` / ``ci_high`` for ``value="effect"``) and ``target`` columns.
    x : str
        The column on the horizontal axis (e.g. "spacing", "position").
    value : str
        "effect" (default) or an extra quantity such as "interaction".
    group : str, optional
        A column splitting the lines (e.g. "orientation").
    target : optional
        Which target's rows to draw (required when the table has several).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    **line_kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> t = pd.DataFrame({"spacing": [0, 1], "effect": [0.1, 0.5], "ci_low": [0, 0.4],
    ...                   "ci_high": [0.2, 0.6], "target": 0})
    >>> plot_curve(t, "spacing").get_xlabel()
    'spacing'
    """
    rows, target = _select_target(table, target)
    low, high = (
        ("ci_low", "ci_high") if value == "effect" else (f"{value}_ci_low", f"{value}_ci_high")
    )
    missing = [c for c in (x, value, low, high) if c not in rows.columns]
    if missing:
        raise ValueError(f"table lacks the columns {missing} needed to plot {value!r}.")
    ax = _axes(ax)
    groups = [(None, rows)] if group is None else list(rows.groupby(group, sort=False))
    for name, part in groups:
        part = part.sort_values(x)
        label = None if name is None else f"{group} {name}"
        (line,) = ax.plot(part[x], part[value], marker="o", ms=3, label=label, **line_kwargs)
        ax.fill_between(
            part[x], part[low], part[high], color=line.get_color(), alpha=0.25, linewidth=0
        )
    ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle="--")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{value} (target {target})")
    if group is not None:
        ax.legend(frameon=False, fontsize="small")
    return ax


def plot_spacing(
    table: pd.DataFrame,
    *,
    value: str = "effect",
    target: int | str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Effect (or ``value="interaction"``) vs spacing, one line per orientation, CI bands.

    Returns the axes; see :func:`plot_curve`.
    """
    group = "orientation" if table["orientation"].nunique() > 1 else None
    ax = plot_curve(table, "spacing", value=value, group=group, target=target, ax=ax)
    ax.set_xlabel("spacing (bp between the end of a and the start of b)")
    return ax


def plot_position(
    table: pd.DataFrame, *, target: int | str | None = None, ax: Axes | None = None
) -> Axes:
    """Effect vs the pattern's start position with its CI band; returns the axes."""
    return plot_curve(table, "position", target=target, ax=ax)


def plot_count(
    table: pd.DataFrame, *, target: int | str | None = None, ax: Axes | None = None
) -> Axes:
    """Effect vs the number of copies with its CI band; returns the axes."""
    return plot_curve(table, "count", target=target, ax=ax)


__all__ = ["plot_count", "plot_curve", "plot_position", "plot_spacing"]
