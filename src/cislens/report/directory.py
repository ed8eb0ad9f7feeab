"""Render ``report.html`` from a run folder (``cislens report``, the pipeline's last stage).

The folder is read through :class:`cislens.run_folder.RunFolder`; every file is optional except
``data.h5``, and a missing piece leaves its section marked as not available. The ARGMINN section
appears only when the folder has ``argminn/filters.csv`` (an ARGMINN run).

The report renders what the run saved and never runs a model: the predictions that order the
example tracks and fill the browser, and the integrated-gradients path densities, are read from
``report_inputs.npz`` (written by :func:`cislens.pipeline.report.report_stage`). A folder
written before that file existed renders without them (tracks in row order, no predictions, no
IG path figure).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cislens.run_folder import RunFolder

logger = logging.getLogger(__name__)

TRACK_METHODS = (
    "deeplift_shap",
    "integrated_gradients",
    "ism",
    "grad_x_input",
    "saliency",
    "deeplift",
    "gradcam",
    "guided_backprop",
    "guided_gradcam",
)


def _window(marks, length: int, width: int) -> tuple[int, int]:
    """A window of at most ``width`` bp around the recorded instances (logos are slow to draw)."""
    if marks:
        lo = min(int(m[0]) for m in marks) - 15
        hi = max(int(m[1]) for m in marks) + 15
    else:
        lo, hi = length // 2 - width // 2, length // 2 + width // 2
    hi = min(max(hi, lo + 1), lo + width, length)
    lo = max(min(lo, hi - 1), 0)
    return lo, hi


def track_figures(sets, dataset, predictions=None, *, n_tracks: int = 1, width: int = 80):
    """One figure per task: the top-scoring positive example explained by every method (rows),
    recorded relevant instances shaded, shown on a window of ``width`` bp around them.

    ``predictions`` (test row -> (T,) model outputs, :class:`cislens.run_folder.ReportInputs`)
    rank the candidates; without them the lowest row is shown."""
    import matplotlib.pyplot as plt

    from cislens.report.figures import plot_track

    figures = []
    methods = [m for m in TRACK_METHODS if m in sets] + [m for m in sets if m not in TRACK_METHODS]
    if not methods:
        return figures
    truth = dataset.ground_truth.instances if dataset.ground_truth is not None else None
    for t, task in enumerate(dataset.task_names):
        per_method = {m: next((s for s in sets[m] if s.target == t), None) for m in methods}
        per_method = {m: s for m, s in per_method.items() if s is not None}
        if not per_method:
            continue
        common = set.intersection(
            *(set(np.asarray(s.example_index).tolist()) for s in per_method.values())
        )
        if not common:
            continue
        candidates = np.array(sorted(common))
        if predictions:
            scores = np.array([predictions[int(r)][t] for r in candidates])
            candidates = candidates[np.argsort(-scores, kind="stable")]
        for row in candidates[:n_tracks]:
            fig, axes = plt.subplots(
                len(per_method), 1, figsize=(11, 1.0 * len(per_method)), squeeze=False
            )
            marks = []
            if truth is not None and f"relevant_{task}" in truth.columns:
                sel = truth[
                    (truth["split"] == "test")
                    & (truth["sequence"] == row)
                    & truth[f"relevant_{task}"].astype(bool)
                ]
                marks = list(zip(sel["start"], sel["end"], sel["motif"], strict=True))
            start, end = _window(marks, dataset.length, width)
            for ax, (method, result) in zip(axes[:, 0], per_method.items(), strict=True):
                i = int(np.flatnonzero(np.asarray(result.example_index) == row)[0])
                plot_track(
                    result.attributions[i] * result.X[i],
                    instances=marks,
                    ax=ax,
                    start=start,
                    end=end,
                )
                ax.set_ylabel(method, rotation=0, ha="right", fontsize=8)
            fig.tight_layout()
            shaded = "; shaded: its recorded instances relevant to the task" if marks else ""
            figures.append(
                (
                    f"Task {task}: test sequence {row} (the highest prediction among "
                    f"the explained positives), positions {start}-{end}; rows: "
                    f"{', '.join(per_method)}{shaded}",
                    fig,
                )
            )
    return figures


def ig_path_figures(inputs, dataset):
    """The IG path diagnostic per task: the density of the model's predictions at each alpha,
    from dinucleotide-shuffled references (alpha 0) to the explained positives (alpha 1), as in
    :func:`cislens.attribution.integrated_gradients_path_density`, drawn from the densities the
    pipeline saved (``inputs``: :class:`cislens.run_folder.ReportInputs`, or None)."""
    import matplotlib.pyplot as plt

    from cislens.attribution.ig_path import plot_path_density

    if inputs is None or not inputs.ig_paths:
        return []
    n_inputs = inputs.ig_inputs
    paths = inputs.ig_paths
    fig, axes = plt.subplots(len(paths), 1, figsize=(8, 2.4 * len(paths)), squeeze=False)
    for ax, (t, path) in zip(axes[:, 0], paths, strict=True):
        plot_path_density(path, ax=ax, title=f"task {dataset.task_names[t]}")
    fig.tight_layout()
    return [
        (
            "Integrated gradients path: the density of the model's output (logit) at each "
            f"alpha on the path from dinucleotide-shuffled references (alpha 0, grey; 2 per "
            f"sequence) to the original sequences (alpha 1, red), for up to {n_inputs} "
            "explained positives per task (one panel per task). Outputs that jump at one "
            "alpha, or leave the range between the two ends, make the path integral "
            "depend on inputs the model never saw.",
            fig,
        )
    ]


def _task_name(target, tasks) -> str:
    text = str(target)
    return tasks[int(text)] if tasks and text.isdigit() and int(text) < len(tasks) else text


def gia_figures(out: Path, tasks=None):
    """Bar chart of marginal effects per pattern and task; spacing curve if present."""

    figures = []
    table = RunFolder(out).table(RunFolder.GIA)
    if table is not None and len(table):
        pivot = table.pivot_table(index="pattern", columns="target", values="effect", sort=False)
        ax = pivot.plot.bar(figsize=(7, 3), rot=0)
        ax.set_ylabel("mean effect on logit")
        ax.axhline(0, color="0.5", lw=0.5)
        ax.set_xlabel("discovered pattern")
        ax.legend(title="task", fontsize=7)
        figures.append(
            (
                "Marginal effect (mean change of the logit) of each discovered pattern "
                "embedded in 200 dinucleotide-shuffled test sequences, per task",
                ax.figure,
            )
        )
    from cislens.report.grammar import grammar_figures

    return figures + grammar_figures(out)  # heat maps of pair grammar, position, count


def _report_title(folder: RunFolder, dataset) -> str:
    """ "cislens run: <folder>" for a ``cislens run`` folder, else "cislens demo: <preset>"."""
    if folder.is_run():
        return f"cislens run: {folder.root.name}"
    return f"cislens demo: {dataset.attrs.get('preset', folder.root.name)}"


def _browser_pieces(folder: RunFolder, sets, dataset, predictions, patterns, params):
    """The sequence browser's data and the motif pages (instances, GIA rows) of a run folder;
    ``predictions`` (test row -> model outputs) None shows none."""
    from cislens.report.browser import browser_data, hits_by_row, motif_pages

    if not sets:
        return None, {}
    method = params.get("motif_method") or "deeplift_shap"
    index = None
    if sets.get(method):
        index = np.concatenate([np.asarray(s.example_index) for s in sets[method]])
    hits = hits_by_row(folder.table(RunFolder.HITS), index)
    rows = sorted({int(r) for v in sets.values() for s in v for r in np.asarray(s.example_index)})
    missing = np.full(dataset.n_tasks, np.nan)
    shown = {r: (predictions or {}).get(r, missing) for r in rows}
    pages = motif_pages(patterns, hits, dataset, folder.table(RunFolder.GIA))
    return browser_data(sets, dataset, shown, hits), pages


def _readable_params(params: dict, dataset) -> dict:
    """The parameter table as a reader wants it: input files as ``path (bytes)``, task indices
    as names, no bookkeeping (``stage``), and ``ism_examples`` only when ISM ran."""
    shown = {}
    names = list(dataset.task_names)
    for key, value in params.items():
        if key == "stage" or (
            key == "ism_examples"
            and "ism" not in params.get("methods", [])
            and params.get("methods") != "all"
        ):
            continue
        if key == "files" and isinstance(value, list):
            value = "; ".join(
                f"{f[0]} ({f[1]} bytes)" if isinstance(f, list) and len(f) > 1 else str(f)
                for f in value
            )
        elif isinstance(value, dict) and isinstance(value.get("files"), list):
            value = {k: v for k, v in value.items() if k != "files"}
        elif key == "tasks" and isinstance(value, list):
            value = ", ".join(
                names[t] if isinstance(t, int) and t < len(names) else str(t) for t in value
            )
        elif key == "n_sequences" and value is None:
            value = "the preset's own"
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        shown[key] = value
    return shown


def render_demo_report(out_dir, *, output=None, timings=None, dataset=None) -> Path:
    """Write ``report.html`` (or ``output``) from a run folder; return its path.

    ``dataset`` is loaded from ``out_dir`` when not given; ``timings`` (stage -> seconds or
    timing rows) default to the folder's ``stage_timings.json``. No model is loaded or run.

    Examples
    --------
    >>> render_demo_report("demo_out")  # doctest: +SKIP
    PosixPath('demo_out/report.html')
    """
    from cislens.report._argminn import load_argminn_report
    from cislens.report.html import render_report
    from cislens.train.quality import quality_warnings

    folder = RunFolder(out_dir)
    if not folder.exists(RunFolder.DATA):
        raise FileNotFoundError(
            f"{folder.root} has no {RunFolder.DATA}; is it a cislens demo output folder?"
        )
    dataset = folder.dataset() if dataset is None else dataset
    sets = folder.attribution_sets() if folder.exists(RunFolder.ATTRIBUTIONS) else {}
    params = folder.params()
    shown = _readable_params(params, dataset)
    timings = folder.stage_timings() if timings is None else timings
    metrics = folder.table(RunFolder.METRICS)
    if metrics is not None:
        metrics = metrics.set_index(metrics.columns[0])
    discovery = folder.motifs()
    patterns = [] if discovery is None else discovery.patterns
    if sets:
        counts = {m: sum(s.n_examples for s in v) for m, v in sets.items()}
        shown["explained (sequence, task) pairs per method"] = ", ".join(
            f"{m} {n}" for m, n in counts.items()
        )
    inputs = folder.report_inputs()
    if inputs is None and sets:
        logger.info("report: %s has no %s", folder.root, RunFolder.REPORT_INPUTS)
    predictions = None if inputs is None else inputs.predictions
    browser, pages = _browser_pieces(folder, sets, dataset, predictions, patterns, params)
    return render_report(
        folder / RunFolder.REPORT if output is None else output,
        browser=browser,
        motif_pages=pages,
        quality=quality_warnings(metrics),
        has_truth=dataset.ground_truth is not None,
        title=_report_title(folder, dataset),
        summary=dataset.summary(),
        metrics=metrics,
        tracks=track_figures(sets, dataset, predictions),
        benchmark=folder.table(RunFolder.BENCHMARK),
        patterns=patterns,
        matches=folder.table(RunFolder.MATCHES),
        motif_benchmark=folder.motif_benchmark(),
        filters=folder.table(RunFolder.FILTERS),
        gia_table=folder.table(RunFolder.GIA),
        gia_figures=gia_figures(folder.root, dataset.task_names),
        ig_figures=ig_path_figures(inputs, dataset),
        argminn=load_argminn_report(folder / RunFolder.ARGMINN),
        params=shown,
        timings=timings,
        random_state=params.get("random_state"),
    )


__all__ = ["gia_figures", "ig_path_figures", "render_demo_report", "track_figures"]
