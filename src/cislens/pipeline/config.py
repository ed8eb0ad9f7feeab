"""The ``cislens run`` config file: a YAML mapping read into validated dataclasses.

The schema, with every field and its default, is documented in ``docs/run.md``. Validation is
strict: an unknown key, a wrong type or a missing required field raises
:class:`cislens.errors.ConfigError` whose message starts with the field's dotted path and says
what was expected, what was found and how to fix it. Relative paths are resolved against the
folder of the config file. The ``data`` and ``model`` sections are parsed in
:mod:`~cislens.pipeline.config_data` and :mod:`~cislens.pipeline.config_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cislens.errors import ConfigError
from cislens.pipeline._gia import GiaConfig, parse_gia
from cislens.pipeline.config_data import DataConfig, parse_data
from cislens.pipeline.config_model import ModelConfig, parse_model
from cislens.utils.batching import DEFAULT_BATCH_SIZE
from cislens.utils.types import PathLike
from cislens.utils.validation import (
    boolean,
    check_keys,
    choice,
    describe,
    fail,
    integer,
    mapping,
    path,
    sequence,
    string,
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
    batch_size: int = DEFAULT_BATCH_SIZE
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
            enabled=boolean(raw.get("enabled", True), "motifs.enabled"),
            method=string(raw.get("method", MotifConfig.method), "motifs.method"),
            annotate=boolean(raw.get("annotate", True), "motifs.annotate"),
            filters=boolean(raw.get("filters", True), "motifs.filters"),
        )
    if config.enabled and config.method not in methods:
        raise fail(
            "motifs.method",
            f"motif discovery uses the hypothetical scores of "
            f"{config.method!r}, which is not among methods {methods}. "
            f"Add it to methods, or set motifs: false.",
        )
    return config


def parse_run_config(
    raw: Mapping, *, base_dir: PathLike | None = None, model_overrides: Mapping | None = None
) -> RunConfig:
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
        data=parse_data(raw["data"], base),
        model=parse_model(raw["model"], base, model_overrides),
        methods=methods,
    )
    if "out" in raw:
        config.out = path(raw["out"], "out", base)
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


def load_run_config(path: PathLike, *, model_overrides: Mapping | None = None) -> RunConfig:
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
