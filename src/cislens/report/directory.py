"""Render ``report.html`` from a demo output folder (``cislens report``, the demo's last stage).

The folder layout is the one :func:`cislens.demo.run_demo` writes; every file is optional
except ``data.h5``, and a missing piece leaves its section marked as not available. The ARGMINN
section appears only when the folder has ``argminn/filters.csv`` (an ARGMINN run).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from cislens.utils.files import write_text

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


def _read_csv(path: Path):
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else None


def _load_sets(folder: Path) -> dict:
    from cislens.io import load_attributions

    sets: dict = {}
    for file in sorted(folder.glob("*_t*.npz")):
        result = load_attributions(file)
        sets.setdefault(result.method, []).append(result)
    # task order (t2 before t10), the order the motif stage pooled them in
    return {m: sorted(v, key=lambda s: int(s.target)) for m, v in sets.items()}


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


def track_figures(sets, dataset, model=None, *, n_tracks: int = 1, width: int = 80, device=None):
    """One figure per task: the top-scoring positive example explained by every method (rows),
    recorded relevant instances shaded, shown on a window of ``width`` bp around them."""
    import matplotlib.pyplot as plt

    from cislens.report.figures import plot_track
    from cislens.train import predict

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
        if model is not None:
            scores = predict(model, dataset.X["test"][candidates], device=device)[:, t]
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


def ig_path_figures(
    model,
    dataset,
    sets,
    *,
    n_alphas: int = 11,
    n_inputs: int = 20,
    device=None,
    random_state: int = 0,
):
    """The IG path diagnostic per task: the density of the model's predictions at each alpha,
    from dinucleotide-shuffled references (alpha 0) to the explained positives (alpha 1), as in
    :func:`cislens.attribution.integrated_gradients_path_density`."""
    import matplotlib.pyplot as plt

    from cislens.attribution.ig_path import integrated_gradients_path_density, plot_path_density

    results = sets.get("integrated_gradients", []) or next(iter(sets.values()), [])
    if not results or model is None:
        return []
    fig, axes = plt.subplots(len(results), 1, figsize=(8, 2.4 * len(results)), squeeze=False)
    for ax, result in zip(axes[:, 0], results, strict=True):
        t = int(result.target)
        path = integrated_gradients_path_density(
            model,
            result.X[:n_inputs],
            target=t,
            baselines="dinucleotide",
            n_baselines=2,
            n_alphas=n_alphas,
            device=device,
            random_state=random_state,
        )
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
    table = _read_csv(out / "gia.csv")
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


def _report_title(out: Path, dataset) -> str:
    """ "cislens run: <folder>" for a ``cislens run`` folder, else "cislens demo: <preset>"."""
    if (out / "run.params.json").exists():
        return f"cislens run: {out.name}"
    return f"cislens demo: {dataset.attrs.get('preset', out.name)}"


def _saved_model(out: Path):
    """The model kept in ``out/model``, read as the run read it (its ``model.output`` and
    ``model.input_layout`` in ``run_config.json``)."""
    from cislens.attribution.heads import explained_model
    from cislens.models import load_model

    model = load_model(out / "model")
    config = out / "run_config.json"
    recorded = json.loads(config.read_text()).get("model", {}) if config.exists() else {}
    output, layout = recorded.get("output"), recorded.get("input_layout") or "NCL"
    if output is None and layout == "NCL":
        return model
    return explained_model(model, output=output, input_layout=layout)


def _browser_pieces(out: Path, sets, dataset, model, patterns, params, device):
    """The sequence browser's data and the motif pages (instances, GIA rows) of a run folder."""
    from cislens.report.browser import browser_data, hits_by_row, motif_pages
    from cislens.train import predict

    if not sets:
        return None, {}
    method = params.get("motif_method") or "deeplift_shap"
    index = None
    if sets.get(method):
        index = np.concatenate([np.asarray(s.example_index) for s in sets[method]])
    hits = hits_by_row(_read_csv(out / "hits.csv"), index)
    rows = sorted({int(r) for v in sets.values() for s in v for r in np.asarray(s.example_index)})
    if model is not None and rows:
        values = predict(model, dataset.X["test"][rows], device=device)
    else:
        values = np.full((len(rows), dataset.n_tasks), np.nan)
    predictions = dict(zip(rows, values, strict=True))
    pages = motif_pages(patterns, hits, dataset, _read_csv(out / "gia.csv"))
    return browser_data(sets, dataset, predictions, hits), pages


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


def render_demo_report(
    out_dir, *, output=None, timings=None, model=None, dataset=None, device=None
) -> Path:
    """Write ``report.html`` (or ``output``) from a demo output folder; return its path.

    ``model`` and ``dataset`` are loaded from ``out_dir`` when not given.
    """
    from cislens.io import load_dataset
    from cislens.report._argminn import load_argminn_report
    from cislens.report.html import render_report

    out = Path(out_dir)
    if not (out / "data.h5").exists():
        raise FileNotFoundError(f"{out} has no data.h5; is it a cislens demo output folder?")
    dataset = load_dataset(out / "data.h5") if dataset is None else dataset
    if model is None and (out / "model" / "config.json").exists():
        model = _saved_model(out)
    sets = _load_sets(out / "attributions") if (out / "attributions").exists() else {}
    params = {}
    for file in sorted(out.glob("*.params.json")):
        # "_resume" (the stage's key and output digests) is bookkeeping, not a parameter.
        params.update(
            {k: v for k, v in json.loads(file.read_text()).items() if not k.startswith("_")}
        )
    shown = _readable_params(params, dataset)
    if timings is None and (out / "timings.json").exists():
        timings = json.loads((out / "timings.json").read_text())
    if timings:
        write_text(out / "timings.json", json.dumps(timings))
    metrics = _read_csv(out / "metrics.csv")
    if metrics is not None:
        metrics = metrics.set_index(metrics.columns[0])
    patterns, motif_bench = [], None
    if (out / "motifs.h5").exists():
        from cislens.motifs import load_motifs

        patterns = load_motifs(out / "motifs.h5").patterns
    recovery = _read_csv(out / "motif_recovery.csv")
    if recovery is not None:
        from cislens.benchmark.motifs import MotifBenchmark

        extra = json.loads((out / "motif_benchmark.json").read_text())
        instances = _read_csv(out / "instance_recovery.csv")
        motif_bench = MotifBenchmark(
            recovery,
            extra["n_spurious"],
            extra["pattern_truth"],
            instances if instances is not None else pd.DataFrame(),
        )
    if sets:
        counts = {m: sum(s.n_examples for s in v) for m, v in sets.items()}
        shown["explained (sequence, task) pairs per method"] = ", ".join(
            f"{m} {n}" for m, n in counts.items()
        )
    from cislens.train.quality import quality_warnings

    browser, pages = _browser_pieces(out, sets, dataset, model, patterns, params, device)
    return render_report(
        out / "report.html" if output is None else output,
        browser=browser,
        motif_pages=pages,
        quality=quality_warnings(metrics),
        has_truth=dataset.ground_truth is not None,
        title=_report_title(out, dataset),
        summary=dataset.summary(),
        metrics=metrics,
        tracks=track_figures(sets, dataset, model, device=device),
        benchmark=_read_csv(out / "benchmark.csv"),
        patterns=patterns,
        matches=_read_csv(out / "matches.csv"),
        motif_benchmark=motif_bench,
        filters=_read_csv(out / "filters.csv"),
        gia_table=_read_csv(out / "gia.csv"),
        gia_figures=gia_figures(out, dataset.task_names),
        ig_figures=ig_path_figures(
            model, dataset, sets, device=device, random_state=int(params.get("random_state") or 0)
        ),
        argminn=load_argminn_report(out / "argminn"),
        params=shown,
        timings=timings,
        random_state=params.get("random_state"),
    )


__all__ = ["gia_figures", "ig_path_figures", "render_demo_report", "track_figures"]
