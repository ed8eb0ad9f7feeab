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

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cislens._version import __version__
from cislens.errors import ConfigError
from cislens.pipeline._argminn import (
    ArgminnStageResult,
    argminn_stage,
    is_argminn,
    skip_argminn_stage,
)
from cislens.pipeline._data import build_dataset, fingerprint, write_genome_hits
from cislens.pipeline.config import RunConfig, load_run_config, parse_run_config
from cislens.pipeline.stages import (
    BENCHMARK_FILES,
    GIA_FILES,
    MOTIF_FILES,
    Stages,
    attribute_stage,
    benchmark_stage,
    check_quality,
    gia_stage,
    log_epoch,
    motif_stage,
    pooled,
    report_stage,
)
from cislens.utils.files import write_table, write_text
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


def _given_model(config):
    """Load a trained model named by the config (None when the pipeline trains one)."""
    from cislens.models import load_model, load_user_model

    spec = config.model
    if spec.kind == "checkpoint":
        return load_model(spec.checkpoint)
    if spec.kind == "checkpoints":  # an ensemble: attributions averaged over the models
        from cislens.attribution import ModelEnsemble

        return ModelEnsemble(
            [load_model(path) for path in spec.checkpoints],
            normalise=spec.normalise,
            percentile=spec.percentile,
        )
    if spec.kind == "class":
        return load_user_model(spec.class_spec, spec.weights, **spec.args)
    return None


def _view(config) -> dict:
    """``output=`` and ``input_layout=`` of the config's model (the defaults for a trained one)."""
    return {"output": config.model.output, "input_layout": config.model.input_layout}


def _predicting(model, view: dict):
    """``model`` as a map from (N, 4, L) to (N, T) for the stages that only predict with it
    (dataset labels, checks, evaluation, filters, report); ``model`` itself at the defaults,
    so a plain model keeps its own attributes (task names)."""
    from cislens.attribution.heads import explained_model

    if model is None or (view["output"] is None and view["input_layout"] == "NCL"):
        return model
    return explained_model(model, **view)


def _model_record(config) -> dict:
    spec = config.model
    record = {k: v for k, v in config.to_dict()["model"].items() if v not in (None, {})}
    if spec.kind != "architecture":  # training settings do not apply to a given model
        for key in (
            "epochs",
            "train_batch_size",
            "lr",
            "patience",
            "restarts",
            "selection_epochs",
            "monitor",
            "lr_schedule",
            "reverse_complement",
        ):
            record.pop(key, None)
    if spec.kind != "checkpoints":  # the ensemble's settings
        for key in ("checkpoints", "normalise", "percentile"):
            record.pop(key, None)
    if spec.kind == "checkpoint":
        record["files"] = fingerprint(*sorted(Path(spec.checkpoint).glob("*")))
    elif spec.kind == "checkpoints":
        record["files"] = [fingerprint(*sorted(Path(p).glob("*"))) for p in spec.checkpoints]
    elif spec.kind == "class":
        module = spec.class_spec.rsplit(":", 1)[0]
        record["files"] = fingerprint(spec.weights, module if module.endswith(".py") else None)
    return record


def _keep_given_checkpoint(config, out: Path) -> None:
    """Copy a given checkpoint to ``out/model`` so that ``cislens report out`` can re-render.

    A user class is not copied (its code lives elsewhere); a stale ``model/`` from an earlier
    run that trained one is removed so the report never shows another model's tracks.
    """
    target = out / "model"
    if target.exists():
        shutil.rmtree(target)
    if config.model.kind == "checkpoint":
        shutil.copytree(config.model.checkpoint, target)


def _task_indices(config, dataset) -> list[int]:
    if config.tasks is None:
        return list(range(dataset.n_tasks))
    indices = []
    for i, task in enumerate(config.tasks):
        if isinstance(task, int):
            if task >= dataset.n_tasks:
                raise ConfigError(
                    f"tasks[{i}]: output index {task} is out of range for "
                    f"{dataset.n_tasks} tasks {dataset.task_names}; use 0 to "
                    f"{dataset.n_tasks - 1} or a task name."
                )
            indices.append(task)
        elif task in dataset.task_names:
            indices.append(dataset.task_names.index(task))
        else:
            raise ConfigError(
                f"tasks[{i}]: {task!r} is not a task of the data; tasks are {dataset.task_names}."
            )
    return sorted(set(indices))


def _rows(dataset, tasks: list[int], n_examples: int) -> dict[str, np.ndarray]:
    """Test rows to explain per task (an empty array for tasks not chosen)."""
    from cislens.benchmark.run import select_positives

    if dataset.attrs.get("labels", "given") == "given":
        rows = select_positives(dataset, n_examples=n_examples)
    else:
        # Y holds predictions here: explain the sequences the model scores highest.
        Y = np.asarray(dataset.Y["test"])
        rows = {
            task: np.argsort(-Y[:, t], kind="stable")[:n_examples]
            for t, task in enumerate(dataset.task_names)
        }
    return {task: (r if t in tasks else r[:0]) for t, (task, r) in enumerate(rows.items())}


def _check_model_outputs(model, dataset, batch_size, device) -> None:
    from cislens.train import predict

    n_out = predict(model, dataset.X["test"][:2], batch_size=batch_size, device=device).shape[1]
    if n_out != dataset.n_tasks:
        raise ConfigError(
            f"model: it has {n_out} outputs but the data has {dataset.n_tasks} "
            f"tasks {dataset.task_names}; the labels must have one column per "
            "model output, in the same order."
        )
    names = getattr(model, "task_names", None)
    if (
        names
        and dataset.attrs.get("labels", "given") == "given"
        and list(names) != list(dataset.task_names)
    ):
        logger.warning(
            "the model's task names %s differ from the data's %s; outputs are matched by position.",
            list(names),
            dataset.task_names,
        )


def _data_stage(config, out: Path, stages, model, view) -> tuple:
    """The ``data`` stage: build (or, resumed, load) the dataset and check it against the
    config before anything is written; then write ``run_config.json`` and ``data.h5``.

    Returns the dataset as stored on disk and the stage's parameters.
    """
    from cislens.io import load_dataset, save_dataset

    labelled = config.data.kind == "hdf5" or bool(config.data.labels or config.data.label_columns)
    data_record = {k: v for k, v in config.to_dict()["data"].items() if v is not None}
    data_params = {
        "data": data_record,
        "random_state": config.seed,
        "cislens_version": __version__,
        "train_split": model is None,
        "files": fingerprint(config.data.path, config.data.genome, config.data.labels),
    }
    if not labelled:  # the model's predictions stand in for labels
        data_params["model"] = _model_record(config)
    resumed = stages.done("data", data_params, "data.h5")
    names = None
    if resumed:
        dataset = load_dataset(out / "data.h5")
    else:
        dataset, names = build_dataset(
            config.data,
            model=_predicting(model, view),
            need_train=model is None,
            random_state=config.seed,
            batch_size=config.batch_size,
            device=config.device,
        )
    _check_dataset(config, dataset, model, view)
    out.mkdir(parents=True, exist_ok=True)
    write_text(
        out / "run_config.json",
        json.dumps({"cislens_version": __version__, **config.to_dict()}, indent=2),
    )
    if not resumed:
        save_dataset(out / "data.h5", dataset)
        (out / "sequences.tsv").unlink(missing_ok=True)
        if names is not None:
            write_table(names, out / "sequences.tsv", sep="\t", index=False)
        dataset = load_dataset(out / "data.h5")  # always work on exactly what is on disk
    stages.finish("data", data_params)
    return dataset, data_params


def _check_dataset(config, dataset, model, view) -> None:
    """Refuse, before any write, a dataset the later stages cannot use."""
    if "test" not in dataset.X:
        raise ConfigError(
            f"data: {config.data.path} has no 'test' split (splits: "
            f"{dataset.splits}); the pipeline explains the test sequences. Add "
            "one, e.g. with `cislens simulate` or a 'split' column in the labels."
        )
    if config.benchmark == "true" and dataset.ground_truth is None:
        raise ConfigError(
            "benchmark: true needs ground truth (a simulated cislens dataset); "
            f"{config.data.path} has none. Set benchmark: auto or false."
        )
    if model is not None:
        _check_model_outputs(_predicting(model, view), dataset, config.batch_size, config.device)
    tasks = _task_indices(config, dataset)
    if not any(len(r) for r in _rows(dataset, tasks, config.n_examples).values()):
        chosen = [dataset.task_names[t] for t in tasks]
        raise ValueError(
            f"no test sequence to explain for tasks {chosen}: the test split has "
            "no positives for them. Choose other tasks (tasks: [...])."
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
    from cislens.models import build_model, load_model, save_model
    from cislens.train import evaluate, fit_restarts
    from cislens.train.defaults import default_model_args
    from cislens.utils.threads import using_threads

    config = _as_config(config)
    out = Path(config.out if out is None else out)
    # Everything that can refuse the run is checked before its first write (the folder and
    # run_config.json included): the given model is loaded, the data built and checked.
    model, view = _given_model(config), _view(config)
    stages = Stages(out, resume)
    dataset, data_params = _data_stage(config, out, stages, model, view)
    device, seed = config.device, config.seed

    model_params = {**data_params, "model": _model_record(config)}
    if model is None:
        if stages.done("train", model_params, "model/config.json", params_name="model"):
            model = load_model(out / "model")
        else:
            hyper = {
                "input_length": dataset.length,
                **default_model_args(config.model.architecture, dataset.length),
                **config.model.args,
                "name": config.model.architecture,
                "n_tasks": dataset.n_tasks,
            }
            with using_threads(config.threads):
                model, history, _ = fit_restarts(
                    lambda restart_seed: build_model(hyper, random_state=restart_seed),
                    dataset,
                    restarts=config.model.restarts,
                    selection_epochs=config.model.selection_epochs,
                    epochs=config.model.epochs,
                    batch_size=config.model.train_batch_size,
                    lr=config.model.lr,
                    patience=config.model.patience or None,
                    monitor=config.model.monitor,
                    lr_schedule=config.model.lr_schedule,
                    reverse_complement=config.model.reverse_complement,
                    random_state=seed,
                    device=device,
                    verbose=verbose,
                    callback=log_epoch,
                )
            save_model(
                model, out / "model", task_names=dataset.task_names, training_summary=history
            )
        stages.finish("train", model_params, params_name="model")
    else:
        stages.skip(
            "train", f"a trained model was given (model.{config.model.kind})", params_name="model"
        )
        _keep_given_checkpoint(config, out)
    model.eval()
    # The attribution and GIA stages take the model with output= / input_layout= (recorded in
    # their files); the others only predict, through this view of it.
    net = _predicting(model, view)
    _check_model_outputs(net, dataset, config.batch_size, device)

    metrics = None
    if dataset.attrs.get("labels", "given") != "given":
        stages.skip("evaluate", "the data has no labels", "metrics.csv")
    elif stages.done("evaluate", model_params, "metrics.csv"):
        metrics = pd.read_csv(out / "metrics.csv")
        stages.finish("evaluate")
    else:
        metrics = evaluate(
            net,
            dataset.X["test"],
            dataset.Y["test"],
            task_names=dataset.task_names,
            batch_size=config.batch_size,
            device=device,
        )
        write_table(metrics, out / "metrics.csv", index=False)
        stages.finish("evaluate", model_params)
    check_quality(metrics)

    tasks = _task_indices(config, dataset)
    rows = _rows(dataset, tasks, config.n_examples)
    motif_method = config.motifs.method if config.motifs.enabled else None
    attr_params = {
        **model_params,
        "methods": config.methods,
        "n_examples": config.n_examples,
        "ism_examples": config.ism_examples,
        "tasks": tasks,
        "motif_method": motif_method,
    }
    sets = attribute_stage(
        stages,
        attr_params,
        model,
        dataset,
        config.methods,
        rows,
        motif_method=motif_method,
        batch_size=config.batch_size,
        device=device,
        verbose=verbose,
        view=view,
    )

    discovery = hits = None
    motif_params = {**attr_params, "motifs": config.to_dict()["motifs"]}
    if not config.motifs.enabled:
        stages.skip("motifs", "motifs: false in the config", *MOTIF_FILES)
    else:
        discovery, _, hits = motif_stage(
            stages,
            motif_params,
            net,
            dataset,
            sets,
            motif_method=motif_method,
            annotate_matches=config.motifs.annotate,
            filters=config.motifs.filters,
            device=device,
            verbose=verbose,
        )
        test_rows = pooled(sets.get(motif_method, []))[2]
        write_genome_hits(config.data, out, hits, test_rows)  # BED + genome inputs only
    if not config.gia.enabled:
        stages.skip("gia", "gia: false in the config", *GIA_FILES)
    elif discovery is None and not config.gia.motifs:
        stages.skip(
            "gia",
            "GIA embeds the discovered motifs, and motif discovery did not run "
            "(name JASPAR motifs in gia.motifs to run it without)",
            *GIA_FILES,
        )
    else:
        gia_stage(
            stages,
            {**motif_params, "stage": "gia", "gia": config.to_dict()["gia"]},
            model,
            dataset,
            discovery,
            config=config.gia,
            device=device,
            verbose=verbose,
            view=view,
        )

    bench = recovery = None
    if dataset.ground_truth is None:
        stages.skip("benchmark", "the data has no ground truth", *BENCHMARK_FILES)
    elif config.benchmark == "false":
        stages.skip("benchmark", "benchmark: false in the config", *BENCHMARK_FILES)
    else:
        bench, recovery = benchmark_stage(
            stages, motif_params, dataset, sets, discovery, hits, motif_method=motif_method
        )
    readout = None
    if not is_argminn(model):
        skip_argminn_stage(stages, f"the model is a {type(model).__name__}, not an ARGMINN")
    else:
        readout = argminn_stage(
            stages,
            model_params,
            model,
            dataset,
            annotate=config.motifs.annotate,
            benchmark=config.benchmark != "false",
            batch_size=config.batch_size,
            device=device,
            verbose=verbose,
        )
    # Shown in the report's parameter table: what was skipped and why, and where labels came from.
    write_text(
        out / "run.params.json",
        json.dumps(
            {
                "skipped_stages": "; ".join(f"{k}: {v}" for k, v in stages.skipped.items())
                or "none",
                "labels": dataset.attrs.get("labels", "given"),
                "data_source": dataset.attrs.get("source", str(config.data.path)),
            }
        ),
    )
    report = report_stage(stages, model=net, dataset=dataset, device=device)
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
