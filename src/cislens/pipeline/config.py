"""The ``cislens run`` config file: a YAML mapping read into validated dataclasses.

The schema, with every field and its default, is documented in ``docs/run.md``. Validation is
strict: an unknown key, a wrong type or a missing required field raises
:class:`cislens.errors.ConfigError` whose message starts with the field's dotted path and says
what was expected, what was found and how to fix it. Relative paths are resolved against the
folder of the config file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from cislens.errors import ConfigError
from cislens.pipeline._gia import GiaConfig, parse_gia
from cislens.train.defaults import MIN_EPOCHS, TRAINING_DEFAULTS, training_settings
from cislens.utils.validation import (
    check_keys,
    choice,
    describe,
    fail,
    fraction,
    integer,
    mapping,
    sequence,
    string,
)

DATA_KINDS = ("hdf5", "fasta", "bed")
DATA_FIELDS = (
    "hdf5",
    "fasta",
    "bed",
    "genome",
    "length",
    "pad_with_n",
    "use_strand",
    "labels",
    "label_columns",
    "task_names",
    "valid_fraction",
    "test_fraction",
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
)
MOTIF_FIELDS = ("enabled", "method", "annotate", "filters")
TOP_FIELDS = (
    "data",
    "model",
    "out",
    "seed",
    "device",
    "threads",
    "batch_size",
    "tasks",
    "methods",
    "n_examples",
    "ism_examples",
    "motifs",
    "gia",
    "benchmark",
)


@dataclass
class DataConfig:
    """Where the sequences (and labels) come from; exactly one of ``hdf5``, ``fasta``, ``bed``."""

    kind: str
    path: Path
    genome: Path | None = None
    length: int | None = None
    pad_with_n: bool = False
    use_strand: bool = True
    labels: Path | None = None
    label_columns: list[int] | None = None
    task_names: list[str] | None = None
    valid_fraction: float = 0.1
    test_fraction: float = 0.2


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


@dataclass
class MotifConfig:
    """Motif discovery (on ``method``'s hypothetical scores), JASPAR annotation, filters."""

    enabled: bool = True
    method: str = "deeplift_shap"
    annotate: bool = True
    filters: bool = True


@dataclass
class RunConfig:
    """A validated ``cislens run`` config (see ``docs/run.md``).

    Examples
    --------
    >>> config = parse_run_config({"data": {"fasta": "/x/seqs.fa"},
    ...                            "model": {"checkpoint": "/x/model"}, "methods": ["saliency"],
    ...                            "motifs": False})
    >>> config.data.kind, config.model.kind, config.methods, config.motifs.enabled
    ('fasta', 'checkpoint', ['saliency'], False)
    >>> parse_run_config({"data": {"fasta": "s.fa"}, "model": {"checkpoint": "m"},
    ...                   "method": "all"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cislens.errors.ConfigError: method: unknown field; ... Did you mean 'methods'?
    """

    data: DataConfig
    model: ModelConfig
    out: Path = Path("run_out")
    seed: int = 0
    device: str | None = None
    threads: int | None = None  # None: torch's count, at most the free cores
    batch_size: int = 128
    tasks: list | None = None
    methods: list[str] = field(default_factory=list)
    n_examples: int = 100
    ism_examples: int = 20
    motifs: MotifConfig = field(default_factory=MotifConfig)
    gia: GiaConfig = field(default_factory=GiaConfig)
    benchmark: str = "auto"

    def to_dict(self) -> dict:
        """JSON-ready copy (paths as strings), recorded in the outputs."""

        def plain(value):
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):  # an output pair is recorded as JSON holds it
                return [plain(v) for v in value]
            return value

        return plain(asdict(self))


def _boolean(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise fail(where, f"expected true or false; got {describe(value)}.")
    return value


def _path(value, where: str, base: Path) -> Path:
    text = string(value, where)
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _names(value, where: str) -> list[str]:
    items = sequence(value, where, what="a list of names")
    names = [string(item, f"{where}[{i}]") for i, item in enumerate(items)]
    if not names or len(set(names)) != len(names):
        raise fail(where, f"expected a non-empty list of unique names; got {names}.")
    return names


def _parse_data(raw, base: Path) -> DataConfig:
    raw = mapping(raw, "data", what="a mapping with one of the keys hdf5, fasta or bed")
    check_keys(raw, DATA_FIELDS, "data")
    kinds = [k for k in DATA_KINDS if k in raw]
    if len(kinds) != 1:
        raise fail(
            "data",
            f"expected exactly one of {list(DATA_KINDS)}; got {kinds or 'none'}. "
            "Name one input, e.g. 'fasta: sequences.fa'.",
        )
    kind = kinds[0]
    allowed = {
        "hdf5": {"hdf5"},
        "fasta": {"fasta", "labels", "task_names", "valid_fraction", "test_fraction"},
        "bed": {
            "bed",
            "genome",
            "length",
            "pad_with_n",
            "use_strand",
            "labels",
            "label_columns",
            "task_names",
            "valid_fraction",
            "test_fraction",
        },
    }[kind]
    for key in raw:
        if key not in allowed:
            raise fail(
                f"data.{key}",
                f"not used with data.{kind}; fields for {kind} input are "
                f"{sorted(allowed)}. Remove it.",
            )
    config = DataConfig(kind=kind, path=_path(raw[kind], f"data.{kind}", base))
    if kind == "bed":
        for key in ("genome", "length"):
            if key not in raw:
                raise fail(
                    f"data.{key}",
                    "required with data.bed (the genome FASTA and the "
                    "window length in bp centred on each interval).",
                )
        config.genome = _path(raw["genome"], "data.genome", base)
        config.length = integer(raw["length"], "data.length", minimum=1)
        config.pad_with_n = _boolean(raw.get("pad_with_n", False), "data.pad_with_n")
        config.use_strand = _boolean(raw.get("use_strand", True), "data.use_strand")
        if "label_columns" in raw:
            if "labels" in raw:
                raise fail(
                    "data.label_columns",
                    "give labels either in a TSV (data.labels) or "
                    "as BED columns, not both; remove one.",
                )
            items = sequence(
                raw["label_columns"],
                "data.label_columns",
                what="a list of 1-based BED column numbers (>= 4)",
            )
            config.label_columns = [
                integer(c, f"data.label_columns[{i}]", minimum=4) for i, c in enumerate(items)
            ]
            if not config.label_columns:
                raise fail("data.label_columns", "expected at least one column number; got [].")
    if "labels" in raw:
        config.labels = _path(raw["labels"], "data.labels", base)
    if "task_names" in raw:
        config.task_names = _names(raw["task_names"], "data.task_names")
        if config.labels is not None:
            raise fail(
                "data.task_names",
                "a labels TSV names its tasks in its header; remove data.task_names.",
            )
        if config.label_columns and len(config.task_names) != len(config.label_columns):
            raise fail(
                "data.task_names",
                f"expected {len(config.label_columns)} names (one per "
                f"label column); got {len(config.task_names)}.",
            )
    config.valid_fraction = fraction(raw.get("valid_fraction", 0.1), "data.valid_fraction")
    config.test_fraction = fraction(raw.get("test_fraction", 0.2), "data.test_fraction")
    if config.valid_fraction + config.test_fraction >= 1:
        raise fail(
            "data",
            "valid_fraction + test_fraction must be < 1 to leave training "
            f"sequences; got {config.valid_fraction} + {config.test_fraction}.",
        )
    return config


def _parse_output(value):
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
        config.output = _parse_output(raw["output"])
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
    config.checkpoints = [_path(f, f"model.checkpoints[{i}]", base) for i, f in enumerate(folders)]
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


def _parse_model(raw, base: Path, overrides=None) -> ModelConfig:
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
        config.checkpoint = _path(raw["checkpoint"], "model.checkpoint", base)
    elif kind == "checkpoints":
        _parse_ensemble(raw, base, config)
    elif kind == "class":
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
                "required with model.class: the state dict "
                "(.safetensors, or a torch file of tensors).",
            )
        config.weights = _path(raw["weights"], "model.weights", base)
    else:
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
        settings = training_settings(MODELS[config.architecture], train, n_train=None)
        config.epochs = (
            None
            if settings["epochs"] is None
            else integer(settings["epochs"], "model.train.epochs", minimum=1)
        )
        config.train_batch_size = integer(
            settings["batch_size"], "model.train.batch_size", minimum=1
        )
        lr = settings["lr"]
        if lr is not None and (
            isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 10
        ):
            raise fail("model.train.lr", f"expected a number in (0, 10); got {describe(lr)}.")
        config.lr = None if lr is None else float(lr)
        config.patience = integer(settings["patience"], "model.train.patience", minimum=0)
        monitors = ["auto", "valid_auprc", "valid_auroc", "valid_loss"]
        config.monitor = choice(settings["monitor"], monitors, "model.train.monitor")
        config.lr_schedule = choice(
            settings["lr_schedule"], ["none", "plateau"], "model.train.lr_schedule"
        )
        config.reverse_complement = _boolean(
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
    return config


def _parse_methods(raw) -> list[str]:
    from cislens.attribution import resolve_methods

    try:
        return resolve_methods(raw, where="methods")
    except ValueError as error:  # its message starts with the field ("methods[1]: ...")
        raise ConfigError(str(error)) from None


def _parse_tasks(raw):
    if raw is None or raw == "all":
        return None
    items = sequence(raw, "tasks", what="'all' or a list of task names or output indices")
    tasks = []
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise fail(
                f"tasks[{i}]", f"expected a task name or an output index; got {describe(item)}."
            )
        tasks.append(integer(item, f"tasks[{i}]", minimum=0) if isinstance(item, int) else item)
    if not tasks:
        raise fail("tasks", "expected 'all' or at least one task; got [].")
    return tasks


def _parse_motifs(raw, methods) -> MotifConfig:
    if isinstance(raw, bool):
        config = MotifConfig(enabled=raw)
    else:
        raw = mapping(raw, "motifs", what="true, false or a mapping")
        check_keys(raw, MOTIF_FIELDS, "motifs")
        config = MotifConfig(
            enabled=_boolean(raw.get("enabled", True), "motifs.enabled"),
            method=string(raw.get("method", MotifConfig.method), "motifs.method"),
            annotate=_boolean(raw.get("annotate", True), "motifs.annotate"),
            filters=_boolean(raw.get("filters", True), "motifs.filters"),
        )
    if config.enabled and config.method not in methods:
        raise fail(
            "motifs.method",
            f"motif discovery uses the hypothetical scores of "
            f"{config.method!r}, which is not among methods {methods}. "
            f"Add it to methods, or set motifs: false.",
        )
    return config


def parse_run_config(raw, *, base_dir=None, model_overrides=None) -> RunConfig:
    """Validate a config mapping (as read from YAML); relative paths resolve against
    ``base_dir`` (default: the working directory).

    ``model_overrides`` (e.g. ``{"output": "counts"}``, from ``cislens run --output``) replace
    fields of ``model`` before validation, so they are checked like the file's own.

    Raises
    ------
    ConfigError
        Naming the field, the expectation, the value found and the fix.
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    raw = mapping(raw, "", what="a mapping with at least the keys 'data' and 'model'")
    check_keys(raw, TOP_FIELDS, "")
    for key in ("data", "model"):
        if key not in raw:
            raise fail(key, "required field is missing; see docs/run.md for a full example.")
    methods = _parse_methods(raw.get("methods", "all"))
    config = RunConfig(
        data=_parse_data(raw["data"], base),
        model=_parse_model(raw["model"], base, model_overrides),
        methods=methods,
    )
    if "out" in raw:
        config.out = _path(raw["out"], "out", base)
    else:
        config.out = base / "run_out"
    config.seed = integer(raw.get("seed", 0), "seed", minimum=0)
    device = raw.get("device")
    config.device = None if device is None else string(device, "device")
    config.batch_size = integer(raw.get("batch_size", config.batch_size), "batch_size", minimum=1)
    threads = raw.get("threads")
    config.threads = None if threads is None else integer(threads, "threads", minimum=1)
    config.tasks = _parse_tasks(raw.get("tasks"))
    config.n_examples = integer(raw.get("n_examples", config.n_examples), "n_examples", minimum=1)
    config.ism_examples = integer(
        raw.get("ism_examples", config.ism_examples), "ism_examples", minimum=0
    )
    config.motifs = _parse_motifs(raw.get("motifs", True), methods)
    config.gia = parse_gia(raw.get("gia", True))
    value = raw.get("benchmark", "auto")
    config.benchmark = "true" if value is True else "false" if value is False else value
    choice(config.benchmark, ["auto", "true", "false"], "benchmark")
    if config.model.kind == "architecture" and config.data.kind != "hdf5":
        if config.data.labels is None and config.data.label_columns is None:
            raise fail(
                "model.architecture",
                "training needs labels; add data.labels (a TSV) "
                "or data.label_columns, or give a trained "
                "model.checkpoint.",
            )
    return config


def load_run_config(path, *, model_overrides=None) -> RunConfig:
    """Read and validate a YAML (or JSON) ``cislens run`` config file.

    ``model_overrides`` as for :func:`parse_run_config`.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ConfigError
        For invalid YAML and every invalid field.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        first = str(error).strip().splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML ({first}). Check the indentation.") from None
    if raw is None:
        raise ConfigError(f"{path}: the file is empty; see docs/run.md for a full example.")
    return parse_run_config(raw, base_dir=path.resolve().parent, model_overrides=model_overrides)


__all__ = [
    "DataConfig",
    "GiaConfig",
    "ModelConfig",
    "MotifConfig",
    "RunConfig",
    "load_run_config",
    "parse_run_config",
]
