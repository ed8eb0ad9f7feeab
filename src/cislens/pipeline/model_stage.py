"""The pipeline's model: the one a config names (a checkpoint, an ensemble, a user class) or
the one the ``train`` stage fits, the view the stages predict through, and its record."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from cislens.errors import ConfigError
from cislens.pipeline._data import fingerprint
from cislens.run_folder import RunFolder

logger = logging.getLogger(__name__)


def given_model(config):
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


def model_view(config) -> dict:
    """``output=`` and ``input_layout=`` of the config's model (the defaults for a trained one)."""
    return {"output": config.model.output, "input_layout": config.model.input_layout}


def predicting(model, view: dict):
    """``model`` as a map from (N, 4, L) to (N, T) for the stages that only predict with it
    (dataset labels, checks, evaluation, filters, report); ``model`` itself at the defaults,
    so a plain model keeps its own attributes (task names)."""
    from cislens.attribution.heads import explained_model

    if model is None or (view["output"] is None and view["input_layout"] == "NCL"):
        return model
    return explained_model(model, **view)


def model_record(config) -> dict:
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
            "lr_candidates",
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


def keep_given_checkpoint(config, out: Path) -> None:
    """Copy a given checkpoint to ``out/model`` so that ``cislens report out`` can re-render.

    A user class is not copied (its code lives elsewhere); a stale ``model/`` from an earlier
    run that trained one is removed so the report never shows another model's tracks.
    """
    target = out / RunFolder.MODEL
    if target.exists():
        shutil.rmtree(target)
    if config.model.kind == "checkpoint":
        shutil.copytree(config.model.checkpoint, target)


def check_model_outputs(model, dataset, batch_size, device) -> None:
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


def train_stage(config, stages, dataset, data_params: dict, model, *, verbose=False):
    """The ``train`` stage: fit the config's architecture (restarts, early stopping) and save
    it to ``model/``, or, resumed, load it; a given ``model`` skips it and is kept in
    ``model/`` when it is a checkpoint. Returns the model (in eval mode) and the stage's
    parameters (the data's and the model's record)."""
    from cislens.argminn import prune_after_training
    from cislens.models import build_model, get_model_class, load_model, save_model
    from cislens.pipeline.stages import log_epoch
    from cislens.train import fit_restarts
    from cislens.train.defaults import default_model_args, resolve_lr_candidates
    from cislens.utils.threads import using_threads

    folder: RunFolder = stages.folder
    model_params = {**data_params, "model": model_record(config)}
    if model is not None:
        stages.skip(
            "train", f"a trained model was given (model.{config.model.kind})", params_name="model"
        )
        keep_given_checkpoint(config, folder.root)
    elif stages.done("train", model_params, RunFolder.MODEL_CONFIG, params_name="model"):
        model = load_model(folder / RunFolder.MODEL)
        stages.finish("train", model_params, params_name="model")
    else:
        spec = config.model
        hyper = {
            "input_length": dataset.length,
            **default_model_args(
                spec.architecture,
                dataset.length,
                len(dataset.X["train"]),
                n_tasks=dataset.n_tasks,
                given=spec.args,
            ),
            **spec.args,
            "name": spec.architecture,
            "n_tasks": dataset.n_tasks,
        }
        race = resolve_lr_candidates(
            {
                "lr": spec.lr,
                "lr_candidates": spec.lr_candidates
                or get_model_class(spec.architecture).training_defaults.get("lr_candidates"),
                "epochs": spec.epochs,
                "selection_epochs": spec.selection_epochs,
            },
            {"lr": spec.lr, "lr_candidates": spec.lr_candidates},
            n_train=len(dataset.X["train"]),
        )
        with using_threads(config.threads):
            model, history, _ = fit_restarts(
                lambda restart_seed: build_model(hyper, random_state=restart_seed),
                dataset,
                restarts=spec.restarts,
                selection_epochs=spec.selection_epochs,
                epochs=spec.epochs,
                batch_size=spec.train_batch_size,
                lr=race["lr"],
                lr_candidates=race["lr_candidates"],
                patience=spec.patience or None,
                monitor=spec.monitor,
                lr_schedule=spec.lr_schedule,
                reverse_complement=spec.reverse_complement,
                random_state=config.seed,
                device=config.device,
                verbose=verbose,
                callback=log_epoch,
            )
            pruned = prune_after_training(
                model, dataset, random_state=config.seed, device=config.device, verbose=verbose
            )
        if pruned is not None:  # ARGMINN: the filters read twice removed, the model fine-tuned
            logger.info("%s", pruned.summary())
            model = pruned.model
            history.params["pruning"] = pruned.to_dict()
        save_model(
            model, folder / RunFolder.MODEL, task_names=dataset.task_names, training_summary=history
        )
        stages.finish("train", model_params, params_name="model")
    model.eval()
    return model, model_params


__all__ = [
    "check_model_outputs",
    "given_model",
    "keep_given_checkpoint",
    "model_record",
    "model_view",
    "predicting",
    "train_stage",
]
