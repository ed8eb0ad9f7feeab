"""The ``model`` section of a ``cislens run`` config: a checkpoint, an ensemble of them, an
architecture to train, or a user's class.

Part of :mod:`cislens.pipeline.config` (which documents the rules of validation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cislens.train.defaults import MIN_EPOCHS, TRAINING_DEFAULTS, training_settings
from cislens.utils.validation import (
    boolean,
    check_keys,
    choice,
    describe,
    fail,
    integer,
    mapping,
    path,
    string,
)

MODEL_KINDS = ("checkpoint", "checkpoints", "architecture", "class")
MODEL_FIELDS = (
    "checkpoint",
    "checkpoints",
    "normalise",
    "percentile",
    "architecture",
    "args",
    "train",
    "class",
    "weights",
    "output",
    "input_layout",
)
VIEW_FIELDS = ("output", "input_layout")
TRAIN_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "patience",
    "restarts",
    "selection_epochs",
    "monitor",
    "lr_schedule",
    "reverse_complement",
    "lr_candidates",
)


@dataclass
class ModelConfig:
    """A cislens checkpoint, an ensemble of them, an architecture to train, or a user class.

    ``output`` and ``input_layout`` (a given model only) say how the model is read, as the
    ``output=`` and ``input_layout=`` options of :mod:`cislens.attribution.heads`.
    ``checkpoints`` (a list, e.g. one per training fold) makes an ensemble: attributions are
    averaged over the models (after ``normalise``: "none" or "percentile", with
    ``percentile``; :func:`cislens.attribution.ensemble_attribution_set`), predictions too.
    """

    kind: str
    checkpoint: Path | None = None
    checkpoints: list = field(default_factory=list)
    normalise: str = "none"
    percentile: float = 99.0
    architecture: str | None = None
    class_spec: str | None = None
    weights: Path | None = None
    args: dict = field(default_factory=dict)
    output: int | str | tuple | None = None
    input_layout: str = "NCL"
    # The one set of training defaults (cislens.train.defaults), shared with `cislens train`.
    epochs: int | None = TRAINING_DEFAULTS["epochs"]  # None: from the data size, in fit
    train_batch_size: int = TRAINING_DEFAULTS["batch_size"]
    lr: float | None = TRAINING_DEFAULTS["lr"]  # None: from the data size, in fit
    patience: int = TRAINING_DEFAULTS["patience"]
    restarts: int = TRAINING_DEFAULTS["restarts"]
    selection_epochs: int = TRAINING_DEFAULTS["selection_epochs"]
    monitor: str = TRAINING_DEFAULTS["monitor"]
    lr_schedule: str = TRAINING_DEFAULTS["lr_schedule"]
    reverse_complement: bool = TRAINING_DEFAULTS["reverse_complement"]
    # The user's race of learning rates only; the architecture's default race is resolved
    # with the data size in the train stage (cislens.train.defaults.resolve_lr_candidates).
    lr_candidates: list | None = None


def parse_output_field(value):
    """``model.output``: an int, text in ``--output`` form, or an [index or key, head] pair."""
    from cislens.attribution.heads import HEADS, OUTPUT_FORMS, parse_output

    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return parse_output(value, name="model.output")
        except ValueError:
            pass
    elif (
        isinstance(value, list)
        and len(value) == 2
        and value[1] in HEADS
        and isinstance(value[0], int | str)
        and not isinstance(value[0], bool)
    ):
        return tuple(value)
    raise fail(
        "model.output",
        f"expected {OUTPUT_FORMS}, or a pair such as [0, profile]; got {describe(value)}.",
    )


def _parse_view(raw, kind: str, config: ModelConfig) -> None:
    """``model.output`` and ``model.input_layout``: how a given model is read."""
    from cislens.attribution.heads import LAYOUTS

    for key in VIEW_FIELDS:
        if raw.get(key) is not None and kind == "architecture":
            raise fail(
                f"model.{key}",
                "applies to a given model (model.checkpoint or "
                "model.class); a model the pipeline trains takes (N, 4, "
                "L) and returns (N, T). Remove it (or the --"
                f"{key.replace('_', '-')} option).",
            )
    if raw.get("output") is not None:
        config.output = parse_output_field(raw["output"])
    config.input_layout = choice(raw.get("input_layout", "NCL"), LAYOUTS, "model.input_layout")


def _parse_ensemble(raw, base: Path, config: ModelConfig) -> None:
    """``model.checkpoints`` (a list of folders), ``model.normalise``, ``model.percentile``."""
    from cislens.attribution.ensemble import NORMALISATIONS

    folders = raw["checkpoints"]
    if not isinstance(folders, list) or not folders:
        raise fail(
            "model.checkpoints",
            "expected a non-empty list of checkpoint folders (one "
            f"per model of the ensemble); got {describe(folders)}.",
        )
    config.checkpoints = [path(f, f"model.checkpoints[{i}]", base) for i, f in enumerate(folders)]
    config.normalise = choice(raw.get("normalise", "none"), NORMALISATIONS, "model.normalise")
    percentile = raw.get("percentile", 99.0)
    if (
        isinstance(percentile, bool)
        or not isinstance(percentile, (int, float))
        or not (0 < percentile <= 100)
    ):
        raise fail(
            "model.percentile", f"expected a number in (0, 100]; got {describe(percentile)}."
        )
    config.percentile = float(percentile)


def _parse_class(raw, base: Path, config: ModelConfig) -> None:
    """``model.class`` (``module.py:Name`` or ``package.module:Name``) and its weights."""
    config.class_spec = string(raw["class"], "model.class")
    if ":" not in config.class_spec:
        raise fail(
            "model.class",
            "expected 'path/to/module.py:ClassName' or "
            f"'package.module:ClassName'; got {config.class_spec!r}.",
        )
    module, name = config.class_spec.rsplit(":", 1)
    if module.endswith(".py") and not Path(module).is_absolute():
        config.class_spec = f"{base / module}:{name}"
    if "weights" not in raw:
        raise fail(
            "model.weights",
            "required with model.class: the state dict (.safetensors, or a torch file of tensors).",
        )
    config.weights = path(raw["weights"], "model.weights", base)


def _parse_architecture(raw, config: ModelConfig) -> None:
    """``model.architecture`` and its ``model.train`` settings (the shared defaults)."""
    from cislens.models import MODELS

    config.architecture = choice(raw["architecture"], sorted(MODELS), "model.architecture")
    for key in ("name", "n_tasks"):
        if key in config.args:
            raise fail(
                f"model.args.{key}",
                "set from model.architecture and the data's tasks; remove it.",
            )
    train = mapping(raw.get("train", {}), "model.train")
    check_keys(train, TRAIN_FIELDS, "model.train")
    # Left out: the architecture's own training defaults (ARGMINN's schedule needs more
    # epochs and a larger lr), then the generic ones - the same as `cislens train`.
    if train.get("lr") is not None and train.get("lr_candidates") is not None:
        raise fail(
            "model.train.lr_candidates",
            "a race of learning rates cannot go with a fixed model.train.lr; remove one.",
        )
    settings = training_settings(MODELS[config.architecture], train, n_train=None)
    config.epochs = (
        None
        if settings["epochs"] is None
        else integer(settings["epochs"], "model.train.epochs", minimum=1)
    )
    config.train_batch_size = integer(settings["batch_size"], "model.train.batch_size", minimum=1)
    lr = settings["lr"]
    if lr is not None and (
        isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 10
    ):
        raise fail("model.train.lr", f"expected a number in (0, 10); got {describe(lr)}.")
    config.lr = None if lr is None else float(lr)
    candidates = train.get("lr_candidates")
    if candidates is not None:
        if (
            not isinstance(candidates, list)
            or not candidates
            or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 10
                for v in candidates
            )
        ):
            raise fail(
                "model.train.lr_candidates",
                f"expected a non-empty list of numbers in (0, 10); got {describe(candidates)}.",
            )
        config.lr_candidates = [float(v) for v in candidates]
    config.patience = integer(settings["patience"], "model.train.patience", minimum=0)
    monitors = ["auto", "valid_auprc", "valid_auroc", "valid_loss"]
    config.monitor = choice(settings["monitor"], monitors, "model.train.monitor")
    config.lr_schedule = choice(
        settings["lr_schedule"], ["none", "plateau"], "model.train.lr_schedule"
    )
    config.reverse_complement = boolean(
        settings["reverse_complement"], "model.train.reverse_complement"
    )
    config.restarts = integer(settings["restarts"], "model.train.restarts", minimum=1)
    config.selection_epochs = integer(
        settings["selection_epochs"], "model.train.selection_epochs", minimum=1
    )
    if config.restarts > 1 and config.selection_epochs >= (config.epochs or MIN_EPOCHS):
        # (a default race that does not fit was already turned off by training_settings)
        raise fail(
            "model.train.selection_epochs",
            f"must be below model.train.epochs ({config.epochs}) when restarts > 1 "
            f"(the seeds race for that many epochs); got {config.selection_epochs}. "
            "Lower it or set restarts: 1.",
        )


def parse_model(raw, base: Path, overrides=None) -> ModelConfig:
    """The ``model`` section of a run config; ``overrides`` replace its fields first."""
    raw = mapping(raw, "model", what="a mapping with one of checkpoint, architecture or class")
    raw = {**raw, **(overrides or {})}
    check_keys(raw, MODEL_FIELDS, "model")
    kinds = [k for k in MODEL_KINDS if k in raw]
    if len(kinds) != 1:
        raise fail(
            "model",
            f"expected exactly one of {list(MODEL_KINDS)}; got {kinds or 'none'}."
            " Give a checkpoint folder, an architecture to train, or a class.",
        )
    kind = kinds[0]
    allowed = {
        "checkpoint": {"checkpoint"},
        "architecture": {"architecture", "args", "train"},
        "checkpoints": {"checkpoints", "normalise", "percentile"},
        "class": {"class", "weights", "args"},
    }[kind]
    for key in raw:
        if key not in allowed and key not in VIEW_FIELDS:
            raise fail(
                f"model.{key}",
                f"not used with model.{kind}; fields for it are {sorted(allowed)}. Remove it.",
            )
    config = ModelConfig(kind=kind)
    _parse_view(raw, kind, config)
    args = mapping(raw.get("args", {}), "model.args", what="a mapping of constructor arguments")
    config.args = dict(args)
    if kind == "checkpoint":
        config.checkpoint = path(raw["checkpoint"], "model.checkpoint", base)
    elif kind == "checkpoints":
        _parse_ensemble(raw, base, config)
    elif kind == "class":
        _parse_class(raw, base, config)
    else:
        _parse_architecture(raw, config)
    return config
