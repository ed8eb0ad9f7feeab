"""Simulation configs: typed, validated dataclasses, loaded from YAML, JSON or a dict.

The schema is documented with a worked example in ``docs/simulation.md``. Every problem raises
:class:`cislens.errors.ConfigError` (a ``ValueError``) whose message starts with the field path,
e.g. ``tasks[1].rule.spacing: expected an integer >= 0; got -3.``

Motif names used in rules but not declared under ``motifs`` are declared automatically with the
name as the spec (so ``rule: CTCF`` loads JASPAR's CTCF).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cislens.errors import ConfigError
from cislens.simulate.distributions import PositionSpec
from cislens.simulate.grammar import MotifRule, PairRule, iter_rules
from cislens.simulate.specs import (
    BACKGROUND_KINDS,
    SPLIT_NAMES,
    BackgroundSpec,
    DistractorSpec,
    MotifSpec,
    ScanSpec,
    TaskSpec,
    _name,
    _parse_background,
    _parse_distractor,
    _parse_motifs,
    _parse_scan,
    _parse_task,
)
from cislens.utils import validation as v
from cislens.utils.types import PathLike


@dataclass(frozen=True)
class SimulationConfig:
    """A complete simulation: sequence length, splits, background, motifs and tasks."""

    length: int
    splits: dict
    tasks: tuple
    motifs: tuple = ()
    background: BackgroundSpec = field(default_factory=BackgroundSpec)
    name: str = "custom"
    description: str = ""
    distractors: tuple = ()
    position: PositionSpec = field(default_factory=PositionSpec)
    label_noise: float = 0.0
    scan: ScanSpec = field(default_factory=ScanSpec)
    jaspar_release: str | None = None
    max_attempts: int = 50

    @property
    def n_sequences(self) -> int:
        """Total number of sequences over all splits."""
        return sum(self.splits.values())

    @property
    def task_names(self) -> list[str]:
        return [task.name for task in self.tasks]

    @property
    def motif_names(self) -> list[str]:
        return [motif.name for motif in self.motifs]

    def motif(self, name: str) -> MotifSpec:
        for spec in self.motifs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def to_dict(self) -> dict:
        """The canonical JSON-able form (``config_from_dict(c.to_dict()) == c``)."""
        return {
            "name": self.name,
            "description": self.description,
            "length": self.length,
            "splits": dict(self.splits),
            "background": self.background.to_dict(),
            "motifs": {m.name: m.to_dict() for m in self.motifs},
            "tasks": [t.to_dict() for t in self.tasks],
            "distractors": [d.to_dict() for d in self.distractors],
            "position": self.position.to_dict(),
            "label_noise": self.label_noise,
            "scan": self.scan.to_dict(),
            "jaspar_release": self.jaspar_release,
            "max_attempts": self.max_attempts,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    def with_n(self, n: int) -> SimulationConfig:
        """The same config scaled to ``n`` sequences, keeping the split proportions.

        Examples
        --------
        >>> cfg = config_from_dict({"length": 50, "splits": {"train": 70, "valid": 10,
        ...                         "test": 20}, "tasks": [{"name": "t", "rule": "CTCF"}]})
        >>> cfg.with_n(11).splits
        {'train': 8, 'valid': 1, 'test': 2}
        """
        return dataclasses.replace(self, splits=scale_splits(self.splits, n))


def scale_splits(splits: Mapping, n) -> dict:
    """Split ``n`` in the proportions of ``splits`` (largest remainders; each split >= 1)."""
    n = v.integer(n, "n", minimum=len(splits))
    total = sum(splits.values())
    exact = {name: n * size / total for name, size in splits.items()}
    out = {name: max(1, int(value)) for name, value in exact.items()}
    by_remainder = sorted(splits, key=lambda s: exact[s] - int(exact[s]), reverse=True)
    index = 0
    while sum(out.values()) < n:
        out[by_remainder[index % len(out)]] += 1
        index += 1
    while sum(out.values()) > n:
        largest = max(out, key=lambda name: out[name])
        out[largest] -= 1
    return out


# ----------------------------------------------------------------------------- parsing
_TOP_KEYS = (
    "name",
    "description",
    "length",
    "splits",
    "background",
    "motifs",
    "tasks",
    "distractors",
    "position",
    "label_noise",
    "scan",
    "jaspar_release",
    "max_attempts",
)


def _parse_splits(value) -> dict:
    value = v.mapping(value, "splits", what="a mapping {train: N, valid: N, test: N}")
    if not value:
        raise v.fail("splits", "expected at least one split, e.g. {train: 1000}.")
    out = {}
    for name in value:
        v.choice(name, SPLIT_NAMES, f"splits.{name}")
    for name in SPLIT_NAMES:
        if name in value:
            out[name] = v.integer(value[name], f"splits.{name}", minimum=1)
    return out


def config_from_dict(data: Mapping, *, base_dir: PathLike | None = None) -> SimulationConfig:
    """Validate a config mapping (parsed YAML/JSON) into a :class:`SimulationConfig`.

    Parameters
    ----------
    data : mapping
        The config (schema in ``docs/simulation.md``).
    base_dir : path, optional
        Folder that relative file paths (``background.sequences``) are resolved against.

    Raises
    ------
    ConfigError
        Naming the field, e.g. ``tasks[0].rule.spacing: expected an integer >= 0; got -1.``

    Examples
    --------
    >>> cfg = config_from_dict({"length": 200, "splits": {"train": 100},
    ...                         "tasks": [{"name": "ctcf", "rule": {"motif": "CTCF"}}]})
    >>> cfg.motif_names, cfg.tasks[0].positive_fraction
    (['CTCF'], 0.5)
    >>> config_from_dict({"length": 200, "splits": {"train": 10}, "tasks": "CTCF"})
    Traceback (most recent call last):
    ...
    cislens.errors.ConfigError: tasks: expected a non-empty list of tasks; got 'CTCF' (str).
    """
    data = v.mapping(data, "", what="a config mapping")
    v.check_keys(data, _TOP_KEYS, "")
    for key in ("length", "splits", "tasks"):
        if key not in data:
            raise v.fail(key, "required.")
    base_dir = None if base_dir is None else Path(base_dir)
    length = v.integer(data["length"], "length", minimum=1)
    splits = _parse_splits(data["splits"])
    background = _parse_background(data.get("background", "uniform"), base_dir)
    declared = _parse_motifs(data.get("motifs"))
    tasks_raw = v.sequence(data["tasks"], "tasks", what="a non-empty list of tasks")
    if not tasks_raw:
        raise v.fail("tasks", "expected a non-empty list of tasks.")
    tasks = [_parse_task(t, i) for i, t in enumerate(tasks_raw)]
    names = [t.name for t in tasks]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise v.fail(f"tasks[{i}].name", f"duplicate task name {name!r}; names must be unique.")
    distractors = [
        _parse_distractor(d, i)
        for i, d in enumerate(v.sequence(data.get("distractors", []), "distractors"))
    ]
    motifs = _complete_motifs(declared, tasks, distractors)
    position = PositionSpec.parse(data.get("position", "uniform"), "position")
    release = data.get("jaspar_release")
    if release is not None:
        release = v.string(release, "jaspar_release")
    return SimulationConfig(
        length=length,
        splits=splits,
        tasks=tuple(tasks),
        motifs=tuple(motifs),
        background=background,
        name=_name(data.get("name", "custom"), "name"),
        description=v.string(data.get("description", ""), "description", allow_empty=True),
        distractors=tuple(distractors),
        position=position,
        label_noise=v.number(data.get("label_noise", 0.0), "label_noise", minimum=0, maximum=0.5),
        scan=_parse_scan(data.get("scan")),
        jaspar_release=release,
        max_attempts=v.integer(data.get("max_attempts", 50), "max_attempts", minimum=1),
    )


def _complete_motifs(declared, tasks, distractors) -> list[MotifSpec]:
    """Declared motifs first, then those used by rules and distractors (auto-declared)."""
    out = list(declared)
    seen = {m.name for m in declared}
    for i, m in enumerate(declared):
        if [x.name for x in declared].index(m.name) != i:
            raise v.fail(m.where, f"motif {m.name!r} is declared twice.")
    used = []
    for index, task in enumerate(tasks):
        for rule in iter_rules(task.rule):
            if isinstance(rule, MotifRule):
                used.append((rule.motif, f"tasks[{index}].rule.motif"))
            elif isinstance(rule, PairRule):
                used += [
                    (rule.first, f"tasks[{index}].rule.pair"),
                    (rule.second, f"tasks[{index}].rule.pair"),
                ]
    used += [(d.motif, f"distractors[{i}].motif") for i, d in enumerate(distractors)]
    for name, where in used:
        _name(name, where)
        if name not in seen:
            seen.add(name)
            out.append(MotifSpec(name, name, where=where))
    return out


def load_config(path: PathLike) -> SimulationConfig:
    """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) config file.

    Relative paths inside (``background.sequences``) are resolved against the file's folder.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist; check the path.")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise ConfigError(f"{path}: not valid {kind}: {error}") from None
    try:
        return config_from_dict(data, base_dir=path.parent)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


__all__ = [
    "BACKGROUND_KINDS",
    "SPLIT_NAMES",
    "BackgroundSpec",
    "DistractorSpec",
    "MotifSpec",
    "ScanSpec",
    "SimulationConfig",
    "TaskSpec",
    "config_from_dict",
    "load_config",
    "scale_splits",
]
