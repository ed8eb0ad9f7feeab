"""The report's grammar figures: spacing x orientation heat maps, position and count curves.

Reads the GIA stage's ``gia_grammar.csv`` and ``gia_grammar_best.csv`` (one heat map per pair
and target, the best arrangement boxed, its interval and the no-preference test in the caption)
and ``gia_position.csv`` / ``gia_count.csv`` (one figure each). See ``docs/gia.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cislens.gia import ORIENTATIONS
from cislens.run_folder import RunFolder

MAX_HEATMAPS = 12
"""Heat maps drawn at most (pairs x targets); the tables hold every pair."""


def _read(path: Path) -> pd.DataFrame | None:
    if not path.exists() or path.stat().st_size <= 1:
        return None
    frame = pd.read_csv(path)
    return frame if len(frame) else None


def best_caption(row) -> str:
    """One sentence: the pair, the best arrangement with its interval, and the test's verdict.

    Examples
    --------
    >>> row = {"pair": "SOX2 x POU5F1", "target": "t", "value": "interaction", "spacing": 1,
    ...        "orientation": "++", "estimate": 2.0, "ci_low": 1.5, "ci_high": 2.5,
    ...        "p_value": 0.001, "no_preference": False, "n_arrangements": 84, "alpha": 0.05,
    ...        "n": 100}
    >>> best_caption(row).split(";")[0]
    'SOX2 x POU5F1 (target t): best arrangement ++ at a 1 bp gap, interaction 2 [1.5, 2.5]'
    """
    head = (
        f"{row['pair']} (target {row['target']}): best arrangement {row['orientation']} at "
        f"a {int(row['spacing'])} bp gap, {row['value']} {row['estimate']:.3g} "
        f"[{row['ci_low']:.3g}, {row['ci_high']:.3g}]"
    )
    tested = (
        f"max test over {int(row['n_arrangements'])} arrangements and {int(row['n'])} "
        f"backgrounds p = {row['p_value']:.2g}"
    )
    if bool(row["no_preference"]):
        verdict = (
            f"no arrangement differs from the others ({tested} >= {row['alpha']:g}); "
            "the best one is not a preference"
        )
    else:
        verdict = f"the arrangements differ ({tested})"
    return f"{head}; {verdict}."


def heatmap_figure(rows: pd.DataFrame, best, value: str):
    """Draw ``value`` as orientation (rows) x gap (columns) with the best cell boxed."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    grid = rows.pivot(index="orientation", columns="spacing", values=value)
    grid = grid.reindex([o for o in ORIENTATIONS if o in grid.index])
    fig, ax = plt.subplots(figsize=(max(4.0, 0.32 * grid.shape[1] + 1.5), 2.0))
    limit = float(np.nanmax(np.abs(grid.to_numpy()))) or 1.0
    image = ax.imshow(grid.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], fontsize=7)
    ax.set_yticks(range(grid.shape[0]), list(grid.index), fontsize=8)
    ax.set_xlabel("gap (bp between the end of a and the start of b)", fontsize=8)
    ax.set_ylabel("strands a b", fontsize=8)
    if best is not None and best["orientation"] in grid.index:
        y = list(grid.index).index(best["orientation"])
        x = list(grid.columns).index(best["spacing"])
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, lw=2, color="k"))
    fig.colorbar(image, ax=ax, label=value, fraction=0.04)
    title = rows["pair"].iloc[0] if "pair" in rows else f"{rows['a'].iloc[0]} x {rows['b'].iloc[0]}"
    ax.set_title(str(title), fontsize=9)
    fig.tight_layout()
    return fig


def _curves(table: pd.DataFrame, x: str, title: str):
    import matplotlib.pyplot as plt

    from cislens.gia import plot_curve

    targets = list(dict.fromkeys(table["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(4.5 * len(targets), 2.8), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        plot_curve(table, x, group="pattern", target=target, ax=ax)
        ax.set_title(f"{title}, {target}", fontsize=9)
    fig.tight_layout()
    return fig


def grammar_figures(out) -> list:
    """``(caption, figure)`` pairs for the report's GIA section (empty when nothing was run)."""
    out = Path(out)
    figures = []
    table, best = _read(out / RunFolder.GIA_GRAMMAR), _read(out / RunFolder.GIA_GRAMMAR_BEST)
    if table is not None and best is not None:
        best = best[best["spacing"].notna()] if "spacing" in best else best.iloc[:0]
        for _, row in best.head(MAX_HEATMAPS).iterrows():
            rows = table[(table["pair"] == row["pair"]) & (table["target"] == row["target"])]
            if len(rows):
                figures.append((best_caption(row), heatmap_figure(rows, row, row["value"])))
    position = _read(out / RunFolder.GIA_POSITION)
    if position is not None:
        figures.append(
            (
                "Positional effect: each pattern embedded at evenly spaced starts "
                "(bootstrap CI over backgrounds)",
                _curves(position, "position", "position"),
            )
        )
    count = _read(out / RunFolder.GIA_COUNT)
    if count is not None:
        figures.append(
            ("Count effect: 1-3 copies of each pattern", _curves(count, "count", "copies"))
        )
    return figures


__all__ = ["MAX_HEATMAPS", "best_caption", "grammar_figures", "heatmap_figure"]
