"""Figures for the HTML report: sequence logos (logomaker) and PNG/base64 embedding.

Every function takes ``ax=None`` (a new figure when None) and returns the axes; nothing calls
``plt.show()``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from cislens.utils.types import ArrayLike

if TYPE_CHECKING:  # annotations only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BASES = ("A", "C", "G", "T")


def _axes(ax, size=(8, 1.6)):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_logo(
    matrix: ArrayLike,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    information: bool = False,
) -> Axes:
    """Draw a (4, W) matrix (A, C, G, T) as a sequence logo; return the axes.

    ``information=True`` scales a probability matrix by its information content (bits).

    Examples
    --------
    >>> ax = plot_logo(np.eye(4)[:, [0, 1, 2, 3]])
    >>> bool(ax.get_xlim()[1] > 3)
    True
    """
    import logomaker

    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2 or values.shape[0] != 4:
        raise ValueError(f"matrix must be (4, W); got shape {values.shape}.")
    if information:
        p = np.clip(values / np.maximum(values.sum(0, keepdims=True), 1e-12), 1e-9, 1)
        values = p * (2 + (p * np.log2(p)).sum(0, keepdims=True))
    ax = _axes(ax, (max(2.0, 0.25 * values.shape[1]), 1.4))
    frame = pd.DataFrame(values.T, columns=list(BASES))
    logomaker.Logo(frame, ax=ax, color_scheme="classic")
    ax.axhline(0, color="0.6", lw=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    return ax


def plot_track(
    attributions: ArrayLike,
    *,
    instances: Iterable[tuple[int, int, str]] = (),
    ax: Axes | None = None,
    title: str | None = None,
    start: int = 0,
    end: int | None = None,
) -> Axes:
    """Draw a projected attribution track (4, L) as a logo, shading recorded instances.

    ``instances`` is an iterable of ``(start, end, label)`` in sequence coordinates.
    """
    values = np.asarray(attributions, dtype=float)[:, start:end]
    ax = plot_logo(values, ax=ax, title=title)
    width = values.shape[1]
    for lo, hi, label in instances:
        lo, hi = max(int(lo) - start, 0), min(int(hi) - start, width)
        if hi > lo:
            ax.axvspan(lo - 0.5, hi - 0.5, color="tab:orange", alpha=0.15, lw=0)
            ax.text(
                lo,
                1.0,
                str(label),
                transform=ax.get_xaxis_transform(),
                fontsize=7,
                va="bottom",
                color="tab:orange",
            )
    ax.set_xticks(np.arange(0, width, max(width // 10, 1)))
    ax.set_xticklabels([str(t + start) for t in ax.get_xticks().astype(int)], fontsize=7)
    return ax


def figure_to_base64(figure: Figure | Axes, *, dpi: int = 80) -> str:
    """PNG bytes of a matplotlib figure (or of the figure of an axes), base64 text; the figure
    is closed."""
    import matplotlib.pyplot as plt

    whole = cast("Figure", getattr(figure, "figure", figure))  # an Axes: the figure it is on
    buffer = io.BytesIO()
    whole.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(whole)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


__all__ = ["figure_to_base64", "plot_logo", "plot_track"]
