"""``cislens run config.yaml``: the demo's pipeline on a user's own data and model.

Stages (outputs under ``out``, the same layout as the demo's, so ``cislens report`` re-renders
it):

=============  ==================================================================================
``data``       the HDF5 dataset, or FASTA / BED + genome windows with their labels -> ``data.h5``
               (and ``sequences.tsv``: split, row, name)
``train``      only for ``model.architecture``: fit on the train split -> ``model/``
``evaluate``   only with labels: per-task metrics on the test split -> ``metrics.csv``
``attribute``  the chosen methods on ``n_examples`` test sequences per task: positives when
               labels are given, else the sequences the model scores highest
``motifs``     discovery, filter motifs, JASPAR annotation, instance calls (``motifs: false``
               skips it)
``gia``        marginal effects of the discovered patterns (and of ``gia.motifs``), the grammar
               of their pairs (every orientation x gap), position and count (``docs/gia.md``)
``benchmark``  only with ground truth (a simulated cislens dataset)
``argminn``    only for an ARGMINN model: its own readout (filters, instances, attention, and
               recovery of the simulated motifs with ground truth) -> ``argminn/``
``report``     ``report_inputs.npz`` (what the report shows that needs the model), ``report.html``
=============  ==================================================================================

``cislens demo`` is a run config too (:class:`cislens.pipeline.preset.DemoConfig`): its first
stages are ``simulate`` (a preset with ground truth) and LabCNN's training, the rest are the
stages above. Every file name of the folder is in :class:`cislens.run_folder.RunFolder`.

A stage that lacks what it needs is skipped, with the reason logged and kept in
``RunResult.skipped``; its outputs from an earlier run in the same folder are removed. The
``argminn`` stage does not apply to other architectures: for them the reason is logged but not
listed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cislens.pipeline._argminn import argminn_stage, is_argminn, skip_argminn_stage
from cislens.pipeline._data import write_genome_hits
from cislens.pipeline.analysis import AnalysisPlan, run_analysis
from cislens.pipeline.attribution import explained_rows
from cislens.pipeline.config import RunConfig, load_run_config, parse_run_config
from cislens.pipeline.data_stage import data_stage, task_indices
from cislens.pipeline.discovery import pooled
from cislens.pipeline.model_stage import (
    check_model_outputs,
    given_model,
    model_view,
    predicting,
    train_stage,
)
from cislens.pipeline.preset import DemoConfig, labcnn_stage, simulate_stage
from cislens.pipeline.report import report_stage
from cislens.pipeline.result import RunResult
from cislens.pipeline.stages import Stages, check_quality
from cislens.run_folder import RunFolder

logger = logging.getLogger(__name__)

RUN_STAGES = (
    "data",
    "train",
    "evaluate",
    "attribute",
    "motifs",
    "gia",
    "benchmark",
    "argminn",
    "report",
)


def _as_config(config) -> RunConfig | DemoConfig:
    if isinstance(config, (RunConfig, DemoConfig)):
        return config
    if isinstance(config, dict):
        return parse_run_config(config)
    if isinstance(config, (str, Path)):
        return load_run_config(config)
    raise TypeError(
        "config must be a RunConfig, a DemoConfig, a dict or a path to a YAML file; got "
        f"{type(config).__name__}."
    )


def _data_and_model(config, stages, verbose):
    """The first stages: (dataset, model, its predicting view, the model's record, view)."""
    if isinstance(config, DemoConfig):
        dataset = simulate_stage(config, stages, verbose=verbose)
        model, params = labcnn_stage(config, stages, dataset, verbose=verbose)
        return dataset, model, model, params, None
    # Everything that can refuse the run is checked before its first write (the folder and
    # run_config.json included): the given model is loaded, the data built and checked.
    model, view = given_model(config), model_view(config)
    dataset, data_params = data_stage(config, stages, model, view)
    model, params = train_stage(config, stages, dataset, data_params, model, verbose=verbose)
    # The attribution and GIA stages take the model with output= / input_layout= (recorded in
    # their files); the others only predict, through this view of it.
    net = predicting(model, view)
    check_model_outputs(net, dataset, config.batch_size, config.device)
    return dataset, model, net, params, view


def _evaluate_stage(config, stages, dataset, model_params, net):
    """The ``evaluate`` stage: per-task test metrics (None, skipped, without labels)."""
    from cislens.train import evaluate

    metrics = None
    if dataset.attrs.get("labels", "given") != "given":
        stages.skip("evaluate", "the data has no labels", RunFolder.METRICS)
    elif stages.done("evaluate", model_params, RunFolder.METRICS):
        metrics = stages.folder.read_table(RunFolder.METRICS)
        stages.finish("evaluate")
    else:
        options = {} if config.batch_size is None else {"batch_size": config.batch_size}
        metrics = evaluate(
            net,
            dataset.X["test"],
            dataset.Y["test"],
            task_names=dataset.task_names,
            device=config.device,
            **options,
        )
        stages.folder.write_table(RunFolder.METRICS, metrics)
        stages.finish("evaluate", model_params)
    check_quality(metrics)
    return metrics


def _plan(config: RunConfig, dataset, model_params: dict, view) -> AnalysisPlan:
    """The shared stages as a ``cislens run`` config sets them."""
    tasks = task_indices(config, dataset)
    motif_method = config.motifs.method if config.motifs.enabled else None
    attr_params = {
        **model_params,
        "methods": config.methods,
        "n_examples": config.n_examples,
        "ism_examples": config.ism_examples,
        "tasks": tasks,
        "motif_method": motif_method,
    }
    motif_params = {**attr_params, "motifs": config.to_dict()["motifs"]}
    return AnalysisPlan(
        methods=config.methods,
        rows=explained_rows(dataset, tasks, config.n_examples),
        attribute_params=attr_params,
        motif_params=motif_params,
        gia_params={**motif_params, "stage": "gia", "gia": config.to_dict()["gia"]},
        motif_method=motif_method,
        annotate=config.motifs.annotate,
        filters=config.motifs.filters,
        gia=config.gia,
        gia_enabled=config.gia.enabled,
        benchmark=config.benchmark,
        batch_size=config.batch_size,
        view=view,
    )


def _argminn(config, stages, dataset, model_params, model, verbose):
    """The ARGMINN readout (only for an ARGMINN model; not listed as skipped otherwise)."""
    if not is_argminn(model):
        skip_argminn_stage(stages, f"the model is a {type(model).__name__}, not an ARGMINN")
        return None
    return argminn_stage(
        stages,
        model_params,
        model,
        dataset,
        annotate=config.motifs.annotate,
        benchmark=config.benchmark != "false",
        batch_size=config.batch_size,
        device=config.device,
        verbose=verbose,
    )


def _write_run_params(config, stages, dataset) -> None:
    """``run.params.json``, shown in the report's parameter table: what was skipped and why,
    and where the labels came from."""
    stages.folder.write_json(
        RunFolder.RUN_PARAMS,
        {
            "skipped_stages": "; ".join(f"{k}: {v}" for k, v in stages.skipped.items()) or "none",
            "labels": dataset.attrs.get("labels", "given"),
            "data_source": dataset.attrs.get("source", str(config.data.path)),
        },
    )


def run_pipeline(config, *, out=None, resume: bool = False, verbose: bool = False) -> RunResult:
    """Run the pipeline of a ``cislens run`` config (or of the demo's preset) on its data.

    Parameters
    ----------
    config : RunConfig, DemoConfig, dict or path
        A validated config, a mapping to validate, a YAML file (see ``docs/run.md``), or the
        demo's preset (:meth:`cislens.pipeline.preset.DemoConfig.create`).
    out : str or Path, optional
        Output folder; overrides the config's ``out``.
    resume : bool
        Reuse the outputs of finished stages with the same parameters.
    verbose : bool
        Progress bars.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> result = run_pipeline("config.yaml", resume=True)  # doctest: +SKIP
    """
    config = _as_config(config)
    out = Path(config.out if out is None else out)
    demo = isinstance(config, DemoConfig)
    stages = Stages(out, resume)
    dataset, model, net, model_params, view = _data_and_model(config, stages, verbose)
    metrics = _evaluate_stage(config, stages, dataset, model_params, net)
    plan = (
        config.plan(dataset, model_params) if demo else _plan(config, dataset, model_params, view)
    )
    found = run_analysis(plan, stages, dataset, model, net, device=config.device, verbose=verbose)
    readout = None
    if not demo:
        test_rows = pooled(found.sets.get(plan.motif_method, []))[2]
        write_genome_hits(config.data, stages.out, found.hits, test_rows)  # BED + genome only
        readout = _argminn(config, stages, dataset, model_params, model, verbose)
        _write_run_params(config, stages, dataset)
    report = report_stage(stages, model=net, dataset=dataset, device=config.device)
    summary = dataset.summary()
    if dataset.attrs.get("labels", "given") != "given":
        summary += "\n(no labels given: the values are the model's mean predicted probabilities)"
    return RunResult(
        out,
        summary,
        metrics,
        stages.timings,
        stages.resumed,
        stages.skipped,
        found.benchmark,
        found.motif_recovery,
        report,
        readout,
        cpu_timings=stages.cpu_timings,
        kind="demo" if demo else "run",
    )


__all__ = ["RUN_STAGES", "RunResult", "run_pipeline"]
