"""The pipeline's ``report`` stage: what the report shows that needs the model, then the report.

The report (:func:`cislens.report.directory.render_demo_report`) renders the run folder's
outputs and never runs a model: the predictions of the explained rows (the order of the example
tracks, the browser's prediction column) and the integrated-gradients path densities are computed
here, while the model is at hand, and saved in ``report_inputs.npz``
(:meth:`cislens.run_folder.RunFolder.report_inputs`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cislens.run_folder import ReportInputs, RunFolder

IG_PATH_INPUTS = 20
"""Explained positives per task on which the IG path density is drawn."""

IG_PATH_ALPHAS = 11
"""Points along the IG path (alpha 0, 0.1, ..., 1)."""


def report_inputs(
    model, dataset, sets, *, device=None, random_state: int = 0, batch_size=None
) -> ReportInputs:
    """The model's predictions on every explained test row and, per explained task, the IG path
    density of up to :data:`IG_PATH_INPUTS` of its rows (from the integrated-gradients sets, else
    the first method's), from 2 dinucleotide-shuffled references per sequence.

    Examples
    --------
    >>> inputs = report_inputs(model, dataset, sets)  # doctest: +SKIP
    """
    from cislens.attribution.ig_path import integrated_gradients_path_density
    from cislens.train import predict

    rows = sorted({int(r) for v in sets.values() for s in v for r in np.asarray(s.example_index)})
    predictions = {}
    if rows:
        options = {} if batch_size is None else {"batch_size": int(batch_size)}
        values = predict(model, dataset.X["test"][rows], device=device, **options)
        predictions = dict(zip(rows, values, strict=True))
    paths = []
    for result in sets.get("integrated_gradients", []) or next(iter(sets.values()), []):
        t = int(result.target)
        path = integrated_gradients_path_density(
            model,
            result.X[:IG_PATH_INPUTS],
            target=t,
            baselines="dinucleotide",
            n_baselines=2,
            n_alphas=IG_PATH_ALPHAS,
            device=device,
            random_state=random_state,
        )
        paths.append((t, path))
    return ReportInputs(predictions, paths, IG_PATH_INPUTS)


def report_stage(stages, *, model, dataset, device=None) -> Path:
    """Compute :func:`report_inputs`, then write ``report.html`` from everything in the output
    folder; with ``resume`` both are kept when no stage before it changed (its key chains every
    earlier stage's) and they are intact. ``cislens report`` re-renders it in any case."""
    from cislens._version import __version__
    from cislens.report.directory import render_demo_report

    folder: RunFolder = stages.folder
    report = folder / RunFolder.REPORT
    if stages.done("report", {"cislens_version": __version__}, RunFolder.REPORT):
        stages.finish("report")
        return report
    sets = folder.attribution_sets() if folder.exists(RunFolder.ATTRIBUTIONS) else {}
    seed = int(folder.params().get("random_state") or 0)
    folder.write_report_inputs(
        report_inputs(model, dataset, sets, device=device, random_state=seed)
    )
    # The report's own line reads "this run" (it is written while the stage runs).
    table = stages.timing_table()
    folder.write_json(RunFolder.STAGE_TIMINGS, table)
    report = render_demo_report(folder.root, timings=table, dataset=dataset)
    stages.finish("report", {})
    return report


__all__ = ["IG_PATH_ALPHAS", "IG_PATH_INPUTS", "report_inputs", "report_stage"]
