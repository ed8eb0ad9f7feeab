"""The ``data`` section of a ``cislens run`` config: where the sequences and labels come from.

Part of :mod:`cislens.pipeline.config` (which documents the rules of validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cislens.utils.validation import (
    boolean,
    check_keys,
    fail,
    fraction,
    integer,
    mapping,
    names,
    path,
    sequence,
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


def _parse_bed(raw, base: Path, config: DataConfig) -> None:
    """The fields of ``data.bed``: genome, window length, padding, strand, label columns."""
    for key in ("genome", "length"):
        if key not in raw:
            raise fail(
                f"data.{key}",
                "required with data.bed (the genome FASTA and the "
                "window length in bp centred on each interval).",
            )
    config.genome = path(raw["genome"], "data.genome", base)
    config.length = integer(raw["length"], "data.length", minimum=1)
    config.pad_with_n = boolean(raw.get("pad_with_n", False), "data.pad_with_n")
    config.use_strand = boolean(raw.get("use_strand", True), "data.use_strand")
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


def _parse_labels(raw, base: Path, config: DataConfig) -> None:
    """``data.labels`` (a TSV) and ``data.task_names``, checked against the label columns."""
    if "labels" in raw:
        config.labels = path(raw["labels"], "data.labels", base)
    if "task_names" in raw:
        config.task_names = names(raw["task_names"], "data.task_names")
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


def parse_data(raw, base: Path) -> DataConfig:
    """The ``data`` section of a run config (see ``docs/run.md``)."""
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
    config = DataConfig(kind=kind, path=path(raw[kind], f"data.{kind}", base))
    if kind == "bed":
        _parse_bed(raw, base, config)
    _parse_labels(raw, base, config)
    config.valid_fraction = fraction(raw.get("valid_fraction", 0.1), "data.valid_fraction")
    config.test_fraction = fraction(raw.get("test_fraction", 0.2), "data.test_fraction")
    if config.valid_fraction + config.test_fraction >= 1:
        raise fail(
            "data",
            "valid_fraction + test_fraction must be < 1 to leave training "
            f"sequences; got {config.valid_fraction} + {config.test_fraction}.",
        )
    return config
