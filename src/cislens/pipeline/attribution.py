"""The pipeline's ``attribute`` stage: which test rows are explained, and their attributions;
and ``cislens benchmark`` (:func:`run_benchmark`: attribute test positives, time and score them).

Rows: with labels, the first ``n_examples`` test positives per task (those with a recorded,
relevant instance when the data has ground truth); without labels, the sequences the model
scores highest. Every method explains those rows (ISM the first ``ism_examples``), written to
``attributions/<method>_t<task>.npz`` with the seconds each method took in
``attributions/timings.json`` (:class:`cislens.run_folder.RunFolder`).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from cislens.pipeline.stages import MOTIF_METHOD
from cislens.run_folder import RunFolder

logger = logging.getLogger(__name__)


#: Default per-method options used by the benchmark and the demo (kept modest for CPU budgets).
DEFAULT_OPTIONS = {
    "deeplift_shap": {"n_shuffles": 10},
    "integrated_gradients": {"n_steps": 25},
}


def select_positives(dataset, *, n_examples: int, split: str = "test") -> dict[str, np.ndarray]:
    """Rows of ``split`` to explain per task: the first ``n_examples`` positives that contain a
    recorded, relevant instance (all positives when the dataset has no ground truth)."""
    Y = np.asarray(dataset.Y[split])
    truth = dataset.ground_truth
    chosen = {}
    for t, task in enumerate(dataset.task_names):
        rows = np.flatnonzero(Y[:, t] > 0.5)
        if truth is not None and f"relevant_{task}" in truth.instances.columns:
            inst = truth.instances
            inst = inst[(inst["split"] == split) & inst[f"relevant_{task}"].astype(bool)]
            rows = rows[np.isin(rows, inst["sequence"].to_numpy())]
        chosen[task] = rows[: int(n_examples)]
    return chosen


def attribute_examples(
    model,
    dataset,
    method: str,
    rows: dict,
    *,
    split: str = "test",
    options=None,
    hypothetical=False,
    random_state=0,
    device=None,
    verbose=False,
):
    """Run one method on the chosen rows of every task; return (list of AttributionSet, s)."""
    from cislens.attribution import attribute_with  # a ModelEnsemble averages its members

    opts = {**DEFAULT_OPTIONS.get(method, {}), **(options or {})}
    results, started = [], time.perf_counter()
    for t, task in enumerate(dataset.task_names):
        index = rows[task]
        if len(index) == 0:
            continue
        X = dataset.X[split][index]
        results.append(
            attribute_with(
                model,
                X,
                method=method,
                target=t,
                hypothetical=hypothetical,
                random_state=random_state,
                example_index=index,
                task_names=dataset.task_names,
                device=device,
                verbose=verbose,
                **opts,
            )
        )
    return results, time.perf_counter() - started


def explained_rows(dataset, tasks: list[int], n_examples: int) -> dict[str, np.ndarray]:
    """Test rows to explain per task name (an empty array for the tasks not in ``tasks``):
    positives when the data has labels, else the rows the model scores highest (``Y`` then
    holds the model's predictions)."""
    if dataset.attrs.get("labels", "given") == "given":
        rows = select_positives(dataset, n_examples=n_examples)
    else:
        Y = np.asarray(dataset.Y["test"])
        rows = {
            task: np.argsort(-Y[:, t], kind="stable")[:n_examples]
            for t, task in enumerate(dataset.task_names)
        }
    return {task: (r if t in tasks else r[:0]) for t, (task, r) in enumerate(rows.items())}


def attribute_stage(
    stages,
    params,
    model,
    dataset,
    names,
    rows,
    *,
    motif_method=MOTIF_METHOD,
    batch_size=None,
    device=None,
    verbose=False,
    view=None,
):
    """Attribute ``rows`` (task name -> test rows) with every method in ``names``; ISM gets the
    first ``params["ism_examples"]`` rows. Writes ``attributions/<method>_t<task>.npz`` and
    ``attributions/timings.json``; returns {method: [AttributionSet, ...]}. ``view`` holds
    ``output`` and ``input_layout`` for every method (recorded in each file's params)."""
    from cislens.io import save_attributions

    folder: RunFolder = stages.folder
    if stages.done("attribute", params, RunFolder.ATTRIBUTION_TIMINGS):
        sets = folder.attribution_sets(names, dataset.n_tasks)
        stages.finish("attribute")
        return sets
    (folder / RunFolder.ATTRIBUTIONS).mkdir(exist_ok=True)
    stale = {folder.attribution_file(m, t) for m in names for t in range(dataset.n_tasks)}
    for path in stale | set(folder.attribution_files()):
        path.unlink(missing_ok=True)
    # batch_size changes no number (every method is batch-invariant), only memory and speed.
    options = {} if batch_size is None else {"batch_size": int(batch_size)}
    options.update(view or {})
    sets, timings = {}, {}
    for method in names:
        use = rows
        if method == "ism":
            use = {task: r[: params["ism_examples"]] for task, r in rows.items()}
        logger.info("attribute: %s", method)
        sets[method], timings[method] = attribute_examples(
            model,
            dataset,
            method,
            use,
            options=options,
            hypothetical=method == motif_method,
            random_state=params["random_state"],
            device=device,
            verbose=verbose,
        )
        for result in sets[method]:
            save_attributions(folder.attribution_file(method, int(result.target)), result)
    folder.write_json(RunFolder.ATTRIBUTION_TIMINGS, timings)
    stages.finish("attribute", params)
    return sets


def run_benchmark(
    dataset,
    model,
    *,
    methods="all",
    n_examples: int = 100,
    ism_examples: int | None = 50,
    split: str = "test",
    random_state=0,
    device=None,
    verbose=False,
):
    """Attribute ``n_examples`` test positives per task with each method, and score them.

    Returns ``(AttributionBenchmark, {method: [AttributionSet, ...]}, {method: seconds})``.
    """
    from cislens.attribution import resolve_methods
    from cislens.benchmark import benchmark_attributions

    if dataset.ground_truth is None:
        raise ValueError("the dataset has no ground truth; benchmark needs simulated data.")
    names = resolve_methods(methods)
    rows = select_positives(dataset, n_examples=n_examples, split=split)
    sets, timings = {}, {}
    for name in names:
        use = rows
        if name == "ism" and ism_examples is not None:
            use = {task: r[: int(ism_examples)] for task, r in rows.items()}
        logger.info("benchmark: %s", name)
        sets[name], timings[name] = attribute_examples(
            model,
            dataset,
            name,
            use,
            split=split,
            random_state=random_state,
            device=device,
            verbose=verbose,
        )
    flat = [s for name in names for s in sets[name]]
    bench = benchmark_attributions(flat, dataset.ground_truth, split=split, timings=timings)
    return bench, sets, timings


__all__ = [
    "DEFAULT_OPTIONS",
    "attribute_examples",
    "attribute_stage",
    "explained_rows",
    "run_benchmark",
    "select_positives",
]
