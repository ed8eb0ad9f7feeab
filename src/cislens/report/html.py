"""One self-contained HTML report (images embedded as base64 PNG, opens offline).

:func:`render_report` takes the pieces a run produced (every one optional) and writes a single
file. All text, including sequence, task and file names, goes through Jinja2 autoescaping.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cislens._version import __version__
from cislens.report.figures import figure_to_base64, plot_logo
from cislens.utils.files import write_text
from cislens.utils.types import PathLike, RandomState

if TYPE_CHECKING:  # annotations only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from cislens.benchmark.attributions import AttributionBenchmark
    from cislens.benchmark.motifs import MotifBenchmark
    from cislens.motifs.aggregate import Pattern
    from cislens.report._argminn import ArgminnReport

SECTIONS = ("data", "sequences", "tracks", "benchmark", "motifs", "gia", "ig-path", "parameters")
"""The ``id`` of every ``<section>`` the report always has, in order."""

OPTIONAL_SECTIONS = ("argminn",)
"""Sections shown only when their content is given (``argminn``: after ``motifs``)."""


def _cell(value):
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return {"value": "", "text": False}
        text = f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.3f}"
        return {"value": text, "text": False}
    if isinstance(value, (int, np.integer, bool, np.bool_)):
        return {"value": str(value), "text": False}
    return {"value": "" if value is None else str(value), "text": True}


def table_context(frame, *, index: bool = False, columns=None):
    """A DataFrame as ``{"columns": [...], "rows": [[{"value", "text"}, ...]]}`` for the
    template (None for None)."""
    if frame is None:
        return None
    if isinstance(frame, dict):
        frame = pd.DataFrame({"name": list(frame), "value": [str(v) for v in frame.values()]})
    frame = frame.reset_index() if index else frame
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[_cell(v) for v in row] for row in frame.itertuples(index=False)],
    }


def image_context(figure, caption: str) -> dict:
    """A matplotlib figure (closed afterwards) or PNG base64 text, with its caption."""
    png = figure if isinstance(figure, str) else figure_to_base64(figure)
    return {"png": png, "caption": caption}


METHOD_NOTES = {
    "gradcam": "gradcam: GradCAM is computed at the last convolutional layer and upsampled to "
    "the sequence, so it says which regions (at that layer's resolution) the output "
    "is sensitive to, not which bases; it ignores the sign of their effect.",
    "guided_gradcam": "guided_gradcam: guided backpropagation times GradCAM; guided "
    "backpropagation is known to respond to the input more than to the model "
    "(it passes sanity checks poorly, Adebayo et al. 2018), so read it as a "
    "picture of the sequence's salient bases, not as the model's reasons.",
    "guided_backprop": "guided_backprop: largely reconstructs the input's salient features "
    "whatever the model learned (Adebayo et al. 2018); not a faithful "
    "attribution.",
}
"""Caveats shown under the example tracks for the methods whose tracks are easy to over-read."""


def _pattern_contexts(patterns, matches, motif_benchmark, max_patterns, pages=None):
    import matplotlib.pyplot as plt

    from cislens.report.browser import anchor

    truth = getattr(motif_benchmark, "pattern_truth", {}) or {}
    pages = pages or {}
    items = []
    for pattern in list(patterns)[:max_patterns]:
        fig, axes = plt.subplots(2, 1, figsize=(max(3.0, 0.22 * pattern.width), 2.8))
        plot_logo(pattern.contrib, ax=axes[0], title=f"{pattern.name}: CWM (mean contribution)")
        plot_logo(
            pattern.sequence,
            ax=axes[1],
            title=f"{pattern.name}: PFM (information, bits)",
            information=True,
        )
        fig.tight_layout()
        rows = None
        if matches is not None and len(matches):
            rows = matches[matches["pattern"] == pattern.name]
            # "note" says why a pattern was not annotated; matches.csv from before it lack it.
            shown = ["rank", "target_id", "target_name", "p_value", "q_value", "strand", "note"]
            rows = table_context(rows, columns=[c for c in shown if c in rows.columns])
        page = pages.get(pattern.name, {})
        instances = page.get("instances")
        items.append(
            {
                "name": pattern.name,
                "anchor": anchor(pattern.name),
                "n_seqlets": pattern.n_seqlets,
                "truth": truth.get(pattern.name, ""),
                "images": [
                    image_context(
                        fig,
                        f"{pattern.name} ({pattern.n_seqlets} seqlets): "
                        "contribution weight matrix and position frequency "
                        "matrix",
                    )
                ],
                "matches": rows,
                "gia": table_context(page.get("gia")),
                "instances": table_context(instances),
                "n_instances": page.get("n_instances"),
                "shown": 0 if instances is None else len(instances),
            }
        )
    return items


def _argminn_context(report):
    if report is None:
        return None
    filters = report.filters.reset_index(drop=True)
    passing = [i for i, value in enumerate(filters.get("passing", [])) if bool(value)]
    return {
        "filters": table_context(filters),
        "passing": passing,
        "note": report.note,
        "motif_recovery": table_context(report.motif_recovery),
        "instance_recovery": table_context(report.instance_recovery),
        "instances": table_context(report.instance_summary),
        "figures": [image_context(fig, cap) for cap, fig in report.figures],
    }


BENCHMARK_COLUMNS = (
    "method",
    "n_sequences",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "auprc",
    "auroc_abs",
    "auprc_abs",
    "snr",
    "decoy_ratio",
    "seconds_per_sequence",
)
"""The attribution benchmark's columns shown in the report, in order."""


def _benchmark_context(benchmark):
    """The benchmark table (sorted by auROC) and its note; (None, "") without a benchmark."""
    if benchmark is None:
        return None, ""
    frame = getattr(benchmark, "summary", benchmark)
    frame = frame.sort_values("auroc", ascending=False, kind="stable", na_position="last")
    note = (
        "Per-sequence auROC / auPRC of the per-position score (projected score summed over "
        "channels, signed: the headline; _abs: its absolute value) against positions inside "
        "recorded, task-relevant instances, on positive test sequences; means with 95 % "
        "t-intervals. snr: median (mean inside - mean outside) / sd outside. decoy_ratio: "
        "on negatives, mean |score| inside irrelevant instances / outside any instance. "
        "Best method highlighted."
    )
    return table_context(frame, columns=list(BENCHMARK_COLUMNS)), note


def _motif_benchmark_context(motif_benchmark):
    """(motif recovery table, instance table or None, note) of a MotifBenchmark, or Nones."""
    if motif_benchmark is None:
        return None, None, ""
    instances = None
    if len(motif_benchmark.instances):
        instances = table_context(motif_benchmark.instances)
    note = (
        f"TOMTOM q < 0.05 against JASPAR plus the simulated matrices; "
        f"{motif_benchmark.n_recovered} of {len(motif_benchmark.motifs)} "
        f"recovered; {motif_benchmark.n_spurious} spurious pattern(s)."
    )
    return table_context(motif_benchmark.motifs), instances, note


def _timing_context(timings):
    """The stage timing table: values are seconds, or ``{"seconds", "status",
    "computed_seconds"}`` (:meth:`cislens.pipeline.stages.Stages.timing_table`)."""
    if not timings:
        return None
    rows = [
        {"stage": k, **(v if isinstance(v, dict) else {"seconds": float(v)})}
        for k, v in timings.items()
    ]
    frame = pd.DataFrame(rows).rename(
        columns={"seconds": "seconds (this run)", "computed_seconds": "seconds (when computed)"}
    )
    return table_context(frame)


def render_report(
    path: PathLike,
    *,
    title: str = "cislens report",
    summary: str | None = None,
    metrics: pd.DataFrame | None = None,
    tracks: Sequence[tuple[str, Figure | Axes]] | None = None,
    benchmark: AttributionBenchmark | pd.DataFrame | None = None,
    patterns: Sequence[Pattern] | None = None,
    matches: pd.DataFrame | None = None,
    motif_benchmark: MotifBenchmark | None = None,
    filters: pd.DataFrame | None = None,
    gia_table: pd.DataFrame | None = None,
    gia_figures: Sequence[tuple[str, Figure | Axes]] | None = None,
    ig_figures: Sequence[tuple[str, Figure | Axes]] | None = None,
    argminn: ArgminnReport | None = None,
    params: dict | None = None,
    timings: dict | None = None,
    random_state: RandomState = None,
    max_patterns: int = 12,
    browser: dict | None = None,
    motif_pages: dict | None = None,
    quality: list | None = None,
    has_truth: bool | None = None,
) -> Path:
    """Write one self-contained HTML report and return its path.

    Parameters
    ----------
    path : str or Path
        The HTML file to write (its folder is created).
    title : str
        Page title.
    summary : str, optional
        Dataset summary text.
    metrics : pandas.DataFrame, optional
        Per-task test metrics (index: task names).
    tracks : list of (caption, Figure), optional
        Attribution-track figures (see :func:`cislens.report.figures.plot_track`).
    benchmark : AttributionBenchmark or pandas.DataFrame, optional
        Its summary is shown sorted by auROC, the best row highlighted.
    patterns : list of Pattern, optional
        Discovered patterns (CWM and PFM logos, seqlet counts).
    matches : pandas.DataFrame, optional
        :func:`cislens.motifs.annotate` output (top JASPAR matches with q-values).
    motif_benchmark : MotifBenchmark, optional
        Recovery of the simulated motifs and instance-call precision / recall.
    filters : pandas.DataFrame, optional
        First-layer filter summary.
    gia_table : pandas.DataFrame, optional
        GIA effects.
    gia_figures, ig_figures : list of (caption, Figure), optional
        GIA plots; predictions along the integrated-gradients path.
    argminn : ArgminnReport, optional
        The ARGMINN readout (:func:`cislens.report._argminn.load_argminn_report`); the section
        is left out when None.
    params : dict, optional
        Parameters of the run (shown as a table).
    timings : dict, optional
        Stage -> seconds, or -> ``{"seconds", "status", "computed_seconds"}`` (a resumed
        stage's time this run is its loading time).
    random_state : int, optional
        The seed of the run.
    max_patterns : int
        Show at most this many patterns (default 12).
    browser : dict, optional
        The sequence browser's content (:func:`cislens.report.browser.browser_data`).
    motif_pages : dict, optional
        Pattern name -> instances and GIA rows (:func:`cislens.report.browser.motif_pages`).
    quality : list of str, optional
        The quality gate's warnings (:func:`cislens.train.quality_warnings`), shown at the top.
    has_truth : bool, optional
        Whether the data has recorded instances (captions mention them only then; default:
        whether a benchmark is given).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, os
    >>> out = render_report(os.path.join(tempfile.mkdtemp(), "r.html"), title="<b>x</b>")
    >>> "&lt;b&gt;x&lt;/b&gt;" in out.read_text()
    True
    """
    import jinja2
    from markupsafe import Markup

    from cislens.report._script import CSS, SCRIPT
    from cislens.report._template import TEMPLATE
    from cislens.report.browser import browser_json
    from cislens.train.quality import MIN_AUROC, MIN_PEARSON

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(TEMPLATE)
    bench_table, bench_note = _benchmark_context(benchmark)
    recovery, instances, motif_note = _motif_benchmark_context(motif_benchmark)
    timing_table = _timing_context(timings)
    track_methods = set((browser or {}).get("methods", []))
    track_methods |= {m for cap, _ in (tracks or []) for m in METHOD_NOTES if m in cap}
    context = {
        "css": Markup(CSS),
        "script": Markup(SCRIPT),
        # JSON inside <script type="application/json">: <, > and & are escaped as \u00XX.
        "browser": Markup(browser_json(browser)) if browser and browser["sequences"] else None,
        "n_sequences": len(browser["sequences"]) if browser else 0,
        "quality": list(quality or []),
        "quality_note": (
            f"Quality gate: a binary task with test auROC below {MIN_AUROC:g}, or "
            f"a regression task with Pearson r below {MIN_PEARSON:g}, is flagged "
            "(docs/run.md)."
        ),
        "has_truth": (benchmark is not None) if has_truth is None else has_truth,
        "no_truth": has_truth is False,
        "has_hits": any(s["hits"] for s in (browser or {}).get("sequences", [])),
        "method_notes": [METHOD_NOTES[m] for m in METHOD_NOTES if m in track_methods],
        "title": title,
        "version": __version__,
        "seed": "" if random_state is None else random_state,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "summary": summary,
        "metrics": table_context(metrics, index=True) if metrics is not None else None,
        "tracks": [image_context(fig, cap) for cap, fig in (tracks or [])],
        "benchmark": bench_table,
        "benchmark_note": bench_note,
        "motif_recovery": recovery,
        "motif_note": motif_note,
        "instances": instances,
        "patterns": _pattern_contexts(
            patterns or [], matches, motif_benchmark, max_patterns, motif_pages
        ),
        "filters": table_context(filters),
        "gia_table": table_context(gia_table),
        "gia": [image_context(fig, cap) for cap, fig in (gia_figures or [])],
        "ig_path": [image_context(fig, cap) for cap, fig in (ig_figures or [])],
        "argminn": _argminn_context(argminn),
        "timings": timing_table,
        "params": table_context(dict(params or {})),
    }
    out = Path(path)
    write_text(out, template.render(**context))
    return out


__all__ = [
    "METHOD_NOTES",
    "OPTIONAL_SECTIONS",
    "SECTIONS",
    "image_context",
    "render_report",
    "table_context",
]
