"""Attribute test positives with several methods and time them (``cislens benchmark``)."""

from __future__ import annotations

import logging
import time

import numpy as np

from cislens.attribution.registry import resolve_methods

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
    from cislens.benchmark.attributions import benchmark_attributions

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
    "resolve_methods",
    "run_benchmark",
    "select_positives",
]
