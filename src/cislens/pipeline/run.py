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
``report``     ``report.html``
=============  ==================================================================================

A stage that lacks what it needs is skipped, with the reason logged and kept in
``RunResult.skipped``; its outputs from an earlier run in the same folder are removed. The
``argminn`` stage does not apply to other architectures: for them the reason is logged but not
listed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cislens.pipeline._argminn import (
    ArgminnStageResult,
    argminn_stage,
    is_argminn,
    skip_argminn_stage,
)
from cislens.pipeline._data import write_genome_hits
from cislens.pipeline.attribution import attribute_stage, explained_rows
from cislens.pipeline.config import RunConfig, load_run_config, parse_run_config
from cislens.pipeline.data_stage import data_stage, task_indices
from cislens.pipeline.discovery import motif_stage, pooled
from cislens.pipeline.gia import gia_stage
from cislens.pipeline.model_stage import (
    check_model_outputs,
    given_model,
    model_view,
    predicting,
    train_stage,
)
from cislens.pipeline.report import report_stage
from cislens.pipeline.scoring import benchmark_stage
from cislens.pipeline.stages import Stages, check_quality
from cislens.run_folder import RunFolder
from cislens.utils.reprs import compact_repr

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


@dataclass
class RunResult:
    """What ``cislens run`` produced: outputs, metrics (None without labels), stage timings,
    resumed and skipped stages (with the reasons), the benchmark tables when run, and the
    ARGMINN readout for an ARGMINN model."""

    __repr__ = compact_repr

    out_dir: Path
    dataset_summary: str
    metrics: pd.DataFrame | None
    timings: dict[str, float] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    benchmark: pd.DataFrame | None = None
    motif_recovery: pd.DataFrame | None = None
    report: Path | None = None
    argminn: ArgminnStageResult | None = None

    def summary(self) -> str:
        lines = [self.dataset_summary]
        if self.metrics is not None:
            lines += ["", "test metrics:", self.metrics.to_string(index=False)]
        if self.benchmark is not None:
            cols = ["method", "auroc", "auprc", "seconds_per_sequence"]
            lines += [
                "",
                "attribution benchmark (per-sequence means):",
                self.benchmark[cols].to_string(index=False, float_format="%.3f"),
            ]
        if self.motif_recovery is not None:
            lines += ["", "simulated motifs:", self.motif_recovery.to_string(index=False)]
        if self.argminn is not None:
            lines += ["", self.argminn.summary()]
            if self.argminn.motif_recovery is not None:
                lines.append(self.argminn.motif_recovery.to_string(index=False))
        lines += ["", "stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())]
        for name, reason in self.skipped.items():
            lines.append(f"skipped {name}: {reason}")
        if self.resumed:
            lines.append(f"resumed (loaded, not recomputed): {', '.join(self.resumed)}")
        if self.report is not None:
            lines.append(f"report: {self.report}")
        lines.append(f"outputs in {self.out_dir}")
        return "\n".join(lines)


def _as_config(config) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        return parse_run_config(config)
    if isinstance(config, (str, Path)):
        return load_run_config(config)
    raise TypeError(
        f"config must be a RunConfig, a dict or a path to a YAML file; got {type(config).__name__}."
    )


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
        metrics = evaluate(
            net,
            dataset.X["test"],
            dataset.Y["test"],
            task_names=dataset.task_names,
            batch_size=config.batch_size,
            device=config.device,
        )
        stages.folder.write_table(RunFolder.METRICS, metrics)
        stages.finish("evaluate", model_params)
    check_quality(metrics)
    return metrics


def _attribute(config, stages, dataset, model_params, model, view, verbose):
    """The ``attribute`` stage on the config's tasks; returns its sets and parameters."""
    tasks = task_indices(config, dataset)
    motif_method = config.motifs.method if config.motifs.enabled else None
    params = {
        **model_params,
        "methods": config.methods,
        "n_examples": config.n_examples,
        "ism_examples": config.ism_examples,
        "tasks": tasks,
        "motif_method": motif_method,
    }
    sets = attribute_stage(
        stages,
        params,
        model,
        dataset,
        config.methods,
        explained_rows(dataset, tasks, config.n_examples),
        motif_method=motif_method,
        batch_size=config.batch_size,
        device=config.device,
        verbose=verbose,
        view=view,
    )
    return sets, {**params, "motifs": config.to_dict()["motifs"]}


def _motifs(config, stages, dataset, params, net, sets, verbose):
    """The ``motifs`` stage (skipped with ``motifs: false``); returns (discovery, hits)."""
    if not config.motifs.enabled:
        stages.skip("motifs", "motifs: false in the config", *RunFolder.MOTIF_FILES)
        return None, None
    method = config.motifs.method
    discovery, _, hits = motif_stage(
        stages,
        params,
        net,
        dataset,
        sets,
        motif_method=method,
        annotate_matches=config.motifs.annotate,
        filters=config.motifs.filters,
        device=config.device,
        verbose=verbose,
    )
    write_genome_hits(config.data, stages.out, hits, pooled(sets.get(method, []))[2])
    return discovery, hits


def _gia(config, stages, dataset, params, model, view, discovery, verbose) -> None:
    """The ``gia`` stage, skipped with ``gia: false`` or with nothing to embed."""
    if not config.gia.enabled:
        stages.skip("gia", "gia: false in the config", *RunFolder.GIA_FILES)
    elif discovery is None and not config.gia.motifs:
        stages.skip(
            "gia",
            "GIA embeds the discovered motifs, and motif discovery did not run "
            "(name JASPAR motifs in gia.motifs to run it without)",
            *RunFolder.GIA_FILES,
        )
    else:
        gia_stage(
            stages,
            {**params, "stage": "gia", "gia": config.to_dict()["gia"]},
            model,
            dataset,
            discovery,
            config=config.gia,
            device=config.device,
            verbose=verbose,
            view=view,
        )


def _benchmark(config, stages, dataset, params, sets, discovery, hits):
    """The ``benchmark`` stage (only with ground truth); returns (summary, motif recovery)."""
    if dataset.ground_truth is None:
        stages.skip("benchmark", "the data has no ground truth", *RunFolder.BENCHMARK_FILES)
    elif config.benchmark == "false":
        stages.skip("benchmark", "benchmark: false in the config", *RunFolder.BENCHMARK_FILES)
    else:
        motif_method = config.motifs.method if config.motifs.enabled else None
        return benchmark_stage(
            stages, params, dataset, sets, discovery, hits, motif_method=motif_method
        )
    return None, None


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
    """Run the pipeline of a ``cislens run`` config on the user's data and model.

    Parameters
    ----------
    config : RunConfig, dict or path
        A validated config, a mapping to validate, or a YAML file (see ``docs/run.md``).
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
    # Everything that can refuse the run is checked before its first write (the folder and
    # run_config.json included): the given model is loaded, the data built and checked.
    model, view = given_model(config), model_view(config)
    stages = Stages(out, resume)
    dataset, data_params = data_stage(config, stages, model, view)
    model, model_params = train_stage(config, stages, dataset, data_params, model, verbose=verbose)
    # The attribution and GIA stages take the model with output= / input_layout= (recorded in
    # their files); the others only predict, through this view of it.
    net = predicting(model, view)
    check_model_outputs(net, dataset, config.batch_size, config.device)
    metrics = _evaluate_stage(config, stages, dataset, model_params, net)
    sets, params = _attribute(config, stages, dataset, model_params, model, view, verbose)
    discovery, hits = _motifs(config, stages, dataset, params, net, sets, verbose)
    _gia(config, stages, dataset, params, model, view, discovery, verbose)
    bench, recovery = _benchmark(config, stages, dataset, params, sets, discovery, hits)
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
        bench,
        recovery,
        report,
        readout,
    )


__all__ = ["RUN_STAGES", "RunResult", "run_pipeline"]
