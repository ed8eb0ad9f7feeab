"""The report's ARGMINN section: filter table, filter-weight logos and attention maps, read from
the ``argminn/`` folder the pipeline's ARGMINN stage writes (see ``docs/argminn.md``).

- :func:`load_argminn_report`: the section's content from a folder (None when there is none);
- :func:`plot_filter_logos`: mean-centred filter weights as sequence logos;
- :func:`plot_attention_maps`: one sequence's attention, a panel per layer and head.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cislens.run_folder import ArgminnFiles
from cislens.utils.reprs import compact_repr

FILTER_REPORT_COLUMNS = (
    "filter",
    "name",
    "passing",
    "status",
    "consensus",
    "simulated_motif",
    "best_match",
    "match_id",
    "match_q_value",
    "n_sites",
    "start",
    "end",
    "length",
    "mean_ic",
    "max_activation",
    "weight_mass",
    "shares_sites_with",
    "shared_fraction",
    "parts",
    "reason",
)
"""Columns of ``filters.csv`` shown in the report (those entirely empty are dropped). ``status``
and ``reason`` say why each filter is or is not read as a motif (a dead or redundant filter is
explained, not hidden)."""


@dataclass
class ArgminnReport:
    """The content of the report's ARGMINN section.

    Attributes
    ----------
    filters : pandas.DataFrame
        The filter table (``argminn/filters.csv``); rows with ``passing`` True are highlighted.
    figures : list of (caption, Figure)
        Filter logos and the attention maps.
    instance_summary : pandas.DataFrame
        Instance calls per filter, layer and head (``n_calls``, ``mean_attention``).
    motif_recovery, instance_recovery : pandas.DataFrame or None
        Recovery of the simulated motifs and instances (None without ground truth).
    note : str
        The passing criteria and readout settings, in words.
    """

    __repr__ = compact_repr

    filters: pd.DataFrame
    figures: list = field(default_factory=list)
    instance_summary: pd.DataFrame | None = None
    motif_recovery: pd.DataFrame | None = None
    instance_recovery: pd.DataFrame | None = None
    note: str = ""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_filter_logos(weights, *, titles=None, axes=None, n_columns: int = 4):
    """Draw each filter's weights (F, 4, W) as a logo, mean-centred over the bases; return the
    axes (a 2-D array, one panel per filter, unused panels hidden).

    Examples
    --------
    >>> axes = plot_filter_logos(np.eye(4)[None].repeat(2, 0), titles=["f0", "f1"])
    >>> axes.shape, axes[0, 0].get_title(loc="left")
    ((1, 2), 'f0')
    """
    from cislens.report.figures import plot_logo

    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 3 or weights.shape[1] != 4 or not len(weights):
        raise ValueError(
            f"weights must be (F, 4, W) with F >= 1; got shape {weights.shape}. "
            "Pass ArgminnMotifs.weights or ARGMINN.scanner.weight."
        )
    centred = weights - weights.mean(1, keepdims=True)
    n = len(centred)
    columns = min(n_columns, n)
    if axes is None:
        rows = math.ceil(n / columns)
        width = max(2.5, 0.28 * centred.shape[2])
        _, axes = _pyplot().subplots(
            rows, columns, figsize=(width * columns, 1.5 * rows), squeeze=False
        )
    axes = np.atleast_2d(np.asarray(axes, dtype=object))
    flat = axes.ravel()
    for k in range(len(flat)):
        if k >= n:
            flat[k].set_visible(False)
            continue
        plot_logo(centred[k], ax=flat[k], title=None if titles is None else str(titles[k]))
    flat[0].figure.tight_layout()
    return axes


def plot_attention_maps(attention, *, filter_width: int, instances=(), axes=None):
    """Draw one sequence's attention (layers, heads, P), a panel per layer (rows) and head
    (columns), against the sequence position of each window's centre; ``instances``
    ``(start, end, label)`` are shaded, the dotted line is uniform attention (1 / P), and all
    panels share a y scale up to the largest attention. Return the axes (layers, heads).

    Examples
    --------
    >>> maps = np.full((1, 2, 10), 0.1)
    >>> plot_attention_maps(maps, filter_width=5, instances=[(3, 8, "f0")]).shape
    (1, 2)
    """
    maps = np.asarray(attention, dtype=float)
    if maps.ndim != 3:
        raise ValueError(
            f"attention must be (layers, heads, P) for one sequence; got shape "
            f"{maps.shape}. Index the sequence first, e.g. maps[0]."
        )
    layers, heads, placements = maps.shape
    if axes is None:
        _, axes = _pyplot().subplots(
            layers,
            heads,
            figsize=(2.8 * heads, 1.6 * layers),
            squeeze=False,
            sharex=True,
            sharey=True,
        )
    axes = np.asarray(axes).reshape(layers, heads)
    centre = np.arange(placements) + (int(filter_width) - 1) / 2
    top = 1.1 * max(float(maps.max()), 1.0 / placements)
    for layer in range(layers):
        for head in range(heads):
            ax = axes[layer, head]
            ax.plot(centre, maps[layer, head], lw=0.8, color="tab:blue")
            ax.axhline(1.0 / placements, color="0.6", lw=0.6, ls=":")
            for lo, hi, label in instances:
                ax.axvspan(lo - 0.5, hi - 0.5, color="tab:orange", alpha=0.2, lw=0)
                ax.text(
                    lo,
                    1.0,
                    str(label),
                    fontsize=6,
                    color="tab:orange",
                    va="bottom",
                    transform=ax.get_xaxis_transform(),
                )
            ax.set_ylim(0, top)
            ax.set_title(f"layer {layer}, head {head}", fontsize=8, loc="left")
            ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("position (window centre)", fontsize=7)
    axes[0, 0].set_ylabel("attention", fontsize=7)
    axes[0, 0].figure.tight_layout()
    return axes


def _read(path: Path):
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else None


def _filter_title(row) -> str:
    label = f"{row['name']}: {'passing' if bool(row['passing']) else 'not passing'}"
    truth, match = row.get("simulated_motif"), row.get("best_match")
    if isinstance(truth, str) and truth:
        return f"{label}, {truth}"
    if isinstance(match, str) and match and float(row.get("match_q_value", 1.0)) < 0.05:
        return f"{label}, {match}"
    return label


def _note(readout: dict) -> str:
    params = readout.get("readout", {})
    if not params:
        return ""
    return (
        f"Read from the model on the first {readout.get('n_sequences')} test sequences. A "
        f"filter passes (highlighted) with at least {params.get('min_sites')} activating "
        f"windows (activation > {params.get('threshold')} x its maximum), an IC-trimmed "
        f"PFM of at least {params.get('min_length')} columns (columns with IC >= "
        f"{params.get('trim_ic')} bits) and a mean IC of at least "
        f"{params.get('min_mean_ic')} bits. Instance calls: passing filters at placements "
        f"that some layer and head attends above {readout.get('attention_threshold')}. "
        "best_match: the rank-1 TOMTOM match (JASPAR), a match only when match_q_value < "
        "0.05; simulated_motif: the simulated motif the filter recovers (ground truth)."
    )


def load_argminn_report(folder, *, max_filters: int = 16) -> ArgminnReport | None:
    """The ARGMINN section's content from an ``argminn/`` folder; None without ``filters.csv``.

    The logos show at most ``max_filters`` filters, passing ones first.
    """
    folder = Path(folder)
    filters = _read(folder / ArgminnFiles.FILTERS)
    if filters is None:
        return None
    readout = {}
    if (folder / ArgminnFiles.READOUT).exists():
        readout = json.loads((folder / ArgminnFiles.READOUT).read_text())
    figures = []
    if (folder / ArgminnFiles.FILTER_WEIGHTS).exists() and len(filters):
        weights = np.load(folder / ArgminnFiles.FILTER_WEIGHTS)["weights"]
        order = sorted(range(len(filters)), key=lambda i: not bool(filters["passing"].iloc[i]))
        order = order[:max_filters]
        axes = plot_filter_logos(
            weights[order], titles=[_filter_title(filters.iloc[i]) for i in order]
        )
        figures.append(
            (
                f"Filter weights, mean-centred over the bases ({len(order)} of "
                f"{len(filters)} filters, passing ones first)",
                axes.flat[0].figure,
            )
        )
    instances = _read(folder / ArgminnFiles.INSTANCES)
    if (folder / ArgminnFiles.ATTENTION).exists():
        stored = np.load(folder / ArgminnFiles.ATTENTION)
        row = int(stored["example_index"][0])
        marks = []
        if instances is not None and len(instances):
            own = instances[instances["example"] == row]
            marks = list(zip(own["start"], own["end"], own["pattern"], strict=True))
        axes = plot_attention_maps(
            stored["attention"][0], filter_width=int(stored["filter_width"]), instances=marks
        )
        shaded = "shaded: its instance calls" if marks else "no instance calls on it"
        figures.append(
            (
                f"Attention of each layer (rows) and head (columns) over test sequence "
                f"{row} (the read sequence with the most instance calls); {shaded}",
                axes.flat[0].figure,
            )
        )
    summary = pd.DataFrame(columns=["pattern", "layer", "head", "n_calls", "mean_attention"])
    if instances is not None and len(instances):
        summary = (
            instances.groupby(["pattern", "layer", "head"], sort=True)
            .agg(n_calls=("example", "size"), mean_attention=("attention", "mean"))
            .reset_index()
        )
    shown = [
        c
        for c in FILTER_REPORT_COLUMNS
        if c in filters.columns and not (filters[c].isna() | (filters[c].astype(str) == "")).all()
    ]
    return ArgminnReport(
        filters[shown],
        figures,
        summary,
        _read(folder / ArgminnFiles.MOTIF_RECOVERY),
        _read(folder / ArgminnFiles.INSTANCE_RECOVERY),
        _note(readout),
    )


__all__ = [
    "FILTER_REPORT_COLUMNS",
    "ArgminnReport",
    "load_argminn_report",
    "plot_attention_maps",
    "plot_filter_logos",
]
