"""The pipeline's ``attribute`` stage: which test rows are explained, and their attributions.

Rows: with labels, the first ``n_examples`` test positives per task (those with a recorded,
relevant instance when the data has ground truth); without labels, the sequences the model
scores highest. Every method explains those rows (ISM the first ``ism_examples``), written to
``attributions/<method>_t<task>.npz`` with the seconds each method took in
``attributions/timings.json`` (:class:`cislens.run_folder.RunFolder`).
"""

from __future__ import annotations

import logging

import numpy as np

from cislens.pipeline.stages import MOTIF_METHOD
from cislens.run_folder import RunFolder

logger = logging.getLogger(__name__)


def explained_rows(dataset, tasks: list[int], n_examples: int) -> dict[str, np.ndarray]:
    """Test rows to explain per task name (an empty array for the tasks not in ``tasks``):
    positives when the data has labels, else the rows the model scores highest (``Y`` then
    holds the model's predictions)."""
    from cislens.benchmark.run import select_positives

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
    from cislens.benchmark.run import attribute_examples
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


__all__ = ["attribute_stage", "explained_rows"]
