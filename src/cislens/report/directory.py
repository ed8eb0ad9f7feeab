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

TRACK_METHODS = ("deeplift_shap", "integrated_gradients", "ism", "grad_x_input", "saliency",
                 "deeplift", "gradcam", "guided_backprop", "guided_gradcam")


def _read_csv(path: Path):
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else None


def _load_sets(folder: Path) -> dict:
    from cislens.io import load_attributions

    sets: dict = {}
    for file in sorted(folder.glob("*_t*.npz")):
        result = load_attributions(file)
        sets.setdefault(result.method, []).append(result)
    return sets


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


def track_figures(sets, dataset, model=None, *, n_tracks: int = 1, width: int = 80,
                  device=None):
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
        common = set.intersection(*(set(np.asarray(s.example_index).tolist())
                                    for s in per_method.values()))
        if not common:
            continue
        candidates = np.array(sorted(common))
        if model is not None:
            scores = predict(model, dataset.X["test"][candidates], device=device)[:, t]
            candidates = candidates[np.argsort(-scores, kind="stable")]
        for row in candidates[:n_tracks]:
            fig, axes = plt.subplots(len(per_method), 1, figsize=(11, 1.0 * len(per_method)),
                                     squeeze=False)
            marks = []
            if truth is not None and f"relevant_{task}" in truth.columns:
                sel = truth[(truth["split"] == "test") & (truth["sequence"] == row)
                            & truth[f"relevant_{task}"].astype(bool)]
                marks = list(zip(sel["start"], sel["end"], sel["motif"], strict=True))
            start, end = _window(marks, dataset.length, width)
            for ax, (method, result) in zip(axes[:, 0], per_method.items(), strict=True):
                i = int(np.flatnonzero(np.asarray(result.example_index) == row)[0])
                plot_track(result.attributions[i] * result.X[i], instances=marks, ax=ax,
                           start=start, end=end)
                ax.set_ylabel(method, rotation=0, ha="right", fontsize=8)
            fig.tight_layout()
            figures.append((f"task {task}: test sequence {row} (top prediction among the "
                            f"explained positives), positions {start}-{end}", fig))
    return figures


def ig_path_figures(model, dataset, sets, *, n_steps: int = 25, device=None):
    """Predictions along the integrated-gradients path (zero baseline to input) for the
    explained positives of each task: curves and their density."""
    import matplotlib.pyplot as plt

    from cislens.train import predict

    results = sets.get("integrated_gradients", [])
    if not results or model is None:
        return []
    alphas = np.linspace(0.0, 1.0, n_steps)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
    for result in results:
        t = int(result.target)
        X = result.X[:20]
        path = (alphas[:, None, None, None] * X[None]).reshape(-1, *X.shape[1:])
        values = predict(model, path.astype(np.float32), device=device)[:, t]
        values = values.reshape(n_steps, len(X))
        label = dataset.task_names[t]
        left.plot(alphas, values.mean(1), label=label)
        left.fill_between(alphas, values.min(1), values.max(1), alpha=0.15)
        right.hist(values.ravel(), bins=40, density=True, alpha=0.5, label=label)
    left.set_xlabel("alpha (0: zero baseline, 1: input)")
    left.set_ylabel("logit (mean, range)")
    right.set_xlabel("logit along the path")
    right.set_ylabel("density")
    left.legend(fontsize=7)
    fig.tight_layout()
    return [("Integrated gradients: model output along the interpolation path "
             f"({n_steps} points, up to 20 explained positives per task)", fig)]


def gia_figures(out: Path):
    """Bar chart of marginal effects per pattern and task; spacing curve if present."""
    import matplotlib.pyplot as plt

    figures = []
    table = _read_csv(out / "gia.csv")
    if table is not None and len(table):
        pivot = table.pivot_table(index="pattern", columns="target", values="effect",
                                  sort=False)
        ax = pivot.plot.bar(figsize=(7, 3), rot=0)
        ax.set_ylabel("mean effect on logit")
        ax.axhline(0, color="0.5", lw=0.5)
        figures.append(("Marginal effect of each discovered pattern embedded in "
                        "dinucleotide-shuffled test sequences", ax.figure))
    spacing = _read_csv(out / "gia_spacing.csv")
    if spacing is not None and len(spacing):
        from cislens.gia import plot_spacing

        targets = spacing["target"].unique()
        fig, axes = plt.subplots(1, len(targets), figsize=(4 * len(targets), 3), squeeze=False)
        for ax, target in zip(axes[0], targets, strict=True):
            plot_spacing(spacing, value="interaction", target=target, ax=ax)
            ax.set_title(f"interaction, {target}", fontsize=9)
        fig.tight_layout()
        figures.append(("Interaction of the top two patterns against their spacing", fig))
    from cislens.report.grammar import grammar_figures

    return figures + grammar_figures(out)  # heat maps of pair grammar, position, count


def _report_title(out: Path, dataset) -> str:
    """"cislens run: <folder>" for a ``cislens run`` folder, else "cislens demo: <preset>"."""
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


def render_demo_report(out_dir, *, output=None, timings=None, model=None, dataset=None,
                       device=None) -> Path:
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
        params.update({k: v for k, v in json.loads(file.read_text()).items()
                       if not k.startswith("_")})
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
        motif_bench = MotifBenchmark(recovery, extra["n_spurious"], extra["pattern_truth"],
                                     instances if instances is not None else pd.DataFrame())
    if sets:
        counts = {m: sum(s.n_examples for s in v) for m, v in sets.items()}
        params["explained_sequences_per_method"] = json.dumps(counts)
    return render_report(
        out / "report.html" if output is None else output,
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
        gia_figures=gia_figures(out),
        ig_figures=ig_path_figures(model, dataset, sets, device=device),
        argminn=load_argminn_report(out / "argminn"),
        params=params,
        timings=timings,
        random_state=params.get("random_state"),
    )


__all__ = ["gia_figures", "ig_path_figures", "render_demo_report", "track_figures"]
