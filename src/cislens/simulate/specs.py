"""The sections of a simulation config: motifs, background, tasks, distractors, scan settings.

Each section is a frozen dataclass with ``to_dict`` (its canonical YAML/JSON form) and a parser
that raises ``ConfigError`` naming the field. :mod:`cislens.simulate.config` assembles them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from cislens.simulate.distributions import CountSpec, PositionSpec
from cislens.simulate.grammar import STRANDS, MotifRule, Rule, parse_rule
from cislens.utils import validation as v

SPLIT_NAMES = ("train", "valid", "test")
BACKGROUND_KINDS = ("iid", "markov", "shuffle")
MOTIF_MODES = ("sample", "consensus")
MARKOV_TABLES = ("human",)
DEFAULT_DISTRACTOR_COUNT = CountSpec("poisson", 0.5, 0, 3)
_NAME = re.compile(r"^[A-Za-z0-9_.:+\-]+$")


def _name(value, where: str) -> str:
    text = v.string(value, where)
    if not _NAME.match(text) or text == ".":
        raise v.fail(
            where,
            f"names may use letters, digits and _ . : + - only (they become HDF5 keys and "
            f"column names); got {text!r}.",
        )
    return text


@dataclass(frozen=True)
class MotifSpec:
    """A motif of the simulation: its name, where it comes from and how instances are made.

    ``source`` is any :func:`cislens.pwm.jaspar.load_motif` spec (JASPAR name or ID,
    ``file.meme[:NAME]``, IUPAC consensus). ``mode``: ``sample`` draws each instance from the
    PWM (keeping only draws that reach the match threshold); ``consensus`` embeds the most
    likely sequence. ``columns``: keep columns ``[start, end)`` of the matrix (half-sites).
    """

    name: str
    source: str
    mode: str = "sample"
    columns: tuple[int, int] | None = None
    pseudocount: float | None = None
    where: str = field(default="", compare=False, repr=False)

    def to_dict(self):
        out = {"source": self.source, "mode": self.mode}
        if self.columns is not None:
            out["columns"] = list(self.columns)
        if self.pseudocount is not None:
            out["pseudocount"] = self.pseudocount
        return out


@dataclass(frozen=True)
class BackgroundSpec:
    """The sequence around the motifs.

    ``iid`` with ``composition`` (A, C, G, T); ``markov`` of ``order`` k <= 3 fit to
    ``sequences`` (a FASTA or one-per-line text file) or from ``table: human`` (built-in
    approximate human dinucleotide frequencies, order 1); ``shuffle``: dinucleotide shuffles
    of windows of ``sequences``.
    """

    kind: str = "iid"
    composition: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)
    order: int = 0
    table: str | None = None
    sequences: str | None = None

    def to_dict(self):
        if self.kind == "iid":
            return {"kind": "iid", "composition": list(self.composition)}
        out = {"kind": self.kind}
        if self.kind == "markov":
            out["order"] = self.order
        if self.table is not None:
            out["table"] = self.table
        if self.sequences is not None:
            out["sequences"] = self.sequences
        return out


@dataclass(frozen=True)
class TaskSpec:
    """One output of the dataset: a rule, the target fraction of positives and of decoys.

    ``decoy_fraction`` of the negatives carry a near miss of the rule (a missing partner, a
    wrong spacing or arrangement, the repressor present, k - 1 of k parts).
    """

    name: str
    rule: Rule
    positive_fraction: float = 0.5
    decoy_fraction: float = 0.0

    def to_dict(self):
        return {
            "name": self.name,
            "rule": self.rule.to_dict(),
            "positive_fraction": self.positive_fraction,
            "decoy_fraction": self.decoy_fraction,
        }


@dataclass(frozen=True)
class DistractorSpec:
    """Instances embedded regardless of the labels (role "background")."""

    motif: str
    count: CountSpec = field(default_factory=lambda: DEFAULT_DISTRACTOR_COUNT)
    strand: str = "both"
    position: PositionSpec | None = None

    def to_dict(self):
        out = {"motif": self.motif, "count": self.count.to_dict(), "strand": self.strand}
        if self.position is not None:
            out["position"] = self.position.to_dict()
        return out


@dataclass(frozen=True)
class ScanSpec:
    """When a window counts as a match of a motif (see ``docs/simulation.md``, "Truth").

    A window matches motif M when its log-odds score, binned to ``bin_size`` bits, reaches
    ``t_M = min(t_p, ceil(max_fraction * best))``: ``t_p`` is the smallest score with exact
    p-value < ``p_value`` under the background composition, ``best`` M's highest score. Sampled
    instances must reach ``t_M``; unrecorded matches are re-drawn unless recorded instances of M
    cover at least ``overlap`` of their window (echoes of palindromes and half-sites). The
    re-drawing gives up after ``max_rounds`` rounds, or 50 rounds without progress: up to 1 % of
    a split is then realised again (3 times at most), else it is an error naming the motifs.
    """

    p_value: float = 1e-4
    max_fraction: float = 0.8
    bin_size: float = 0.1
    overlap: float = 0.5
    max_rounds: int = 200

    def to_dict(self):
        return dataclasses.asdict(self)


def _parse_background(value, base_dir: Path | None) -> BackgroundSpec:
    if value == "uniform":
        return BackgroundSpec()
    if value == "human":
        return BackgroundSpec("markov", order=1, table="human")
    value = v.mapping(value, "background", what="'uniform', 'human' or a mapping with kind")
    kind = v.choice(value.get("kind", "iid"), BACKGROUND_KINDS, "background.kind")
    if kind == "iid":
        v.check_keys(value, ("kind", "composition", "gc"), "background")
        if "composition" in value and "gc" in value:
            raise v.fail("background", "give composition or gc, not both.")
        if "gc" in value:
            gc = v.number(
                value["gc"], "background.gc", minimum=0, maximum=1, open_min=True, open_max=True
            )
            return BackgroundSpec(composition=((1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2))
        if "composition" not in value:
            return BackgroundSpec()
        return BackgroundSpec(composition=_composition(value["composition"]))
    allowed = ("kind", "order", "table", "sequences") if kind == "markov" else ("kind", "sequences")
    v.check_keys(value, allowed, "background")
    table = value.get("table")
    if table is not None:
        table = v.choice(table, MARKOV_TABLES, "background.table")
    sequences = value.get("sequences")
    if sequences is not None:
        sequences = _resolve_path(v.string(sequences, "background.sequences"), base_dir)
    if kind == "shuffle":
        if sequences is None:
            raise v.fail("background.sequences", "required for a shuffle background.")
        return BackgroundSpec("shuffle", order=1, sequences=sequences)
    if (table is None) == (sequences is None):
        raise v.fail("background", "a markov background needs exactly one of table or sequences.")
    order = v.integer(value.get("order", 1), "background.order", minimum=0, maximum=3)
    if table is not None and order != 1:
        raise v.fail(
            "background.order",
            f"the built-in {table!r} table is dinucleotide (order 1); got {order}.",
        )
    return BackgroundSpec("markov", order=order, table=table, sequences=sequences)


def _composition(value) -> tuple[float, float, float, float]:
    items = v.sequence(value, "background.composition", what="4 frequencies for A, C, G, T")
    if len(items) != 4:
        raise v.fail("background.composition", f"expected 4 frequencies (A, C, G, T); got {items}.")
    freqs = [
        v.number(x, f"background.composition[{i}]", minimum=0, open_min=True)
        for i, x in enumerate(items)
    ]
    if abs(sum(freqs) - 1) > 1e-6:
        raise v.fail(
            "background.composition", f"must sum to 1; got {freqs} (sum {sum(freqs):.6g})."
        )
    total = sum(freqs)
    a, c, g, t = (f / total for f in freqs)
    return a, c, g, t


def _resolve_path(text: str, base_dir: Path | None) -> str:
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return str(path)


def _parse_motifs(value) -> list[MotifSpec]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [
            MotifSpec(_name(x, f"motifs[{i}]"), x, where=f"motifs[{i}]")
            for i, x in enumerate(value)
        ]
    value = v.mapping(value, "motifs", what="a mapping {name: spec} or a list of names")
    out = []
    for name, spec in value.items():
        where = f"motifs.{name}"
        _name(name, where)
        if isinstance(spec, str):
            out.append(MotifSpec(name, v.string(spec, where), where=where))
            continue
        spec = v.mapping(spec, where, what="a motif spec string or a mapping with source")
        v.check_keys(spec, ("source", "mode", "columns", "pseudocount"), where)
        columns = spec.get("columns")
        if columns is not None:
            columns = v.int_pair(columns, f"{where}.columns", minimum=0)
            if columns[0] == columns[1]:
                raise v.fail(f"{where}.columns", "expected [start, end) with start < end.")
        pseudocount = spec.get("pseudocount")
        if pseudocount is not None:
            pseudocount = v.number(pseudocount, f"{where}.pseudocount", minimum=0)
        out.append(
            MotifSpec(
                name,
                v.string(spec.get("source", name), f"{where}.source"),
                v.choice(spec.get("mode", "sample"), MOTIF_MODES, f"{where}.mode"),
                columns,
                pseudocount,
                where=where,
            )
        )
    return out


def _parse_task(value, index: int) -> TaskSpec:
    where = f"tasks[{index}]"
    value = v.mapping(value, where, what="a task mapping with name and rule")
    v.check_keys(value, ("name", "rule", "positive_fraction", "decoy_fraction"), where)
    if "rule" not in value:
        raise v.fail(f"{where}.rule", "required: what makes this task positive.")
    rule = parse_rule(value["rule"], f"{where}.rule")
    name = value.get("name")
    if name is None:
        if isinstance(rule, MotifRule):
            name = rule.motif
        else:
            raise v.fail(f"{where}.name", "required (a task name such as 'CTCF').")
    return TaskSpec(
        _name(name, f"{where}.name"),
        rule,
        v.fraction(value.get("positive_fraction", 0.5), f"{where}.positive_fraction"),
        v.fraction(value.get("decoy_fraction", 0.0), f"{where}.decoy_fraction"),
    )


def _parse_distractor(value, index: int) -> DistractorSpec:
    where = f"distractors[{index}]"
    if isinstance(value, str):
        return DistractorSpec(_name(value, where))
    value = v.mapping(value, where, what="a motif name or {motif, count, strand, position}")
    v.check_keys(value, ("motif", "count", "strand", "position"), where)
    if "motif" not in value:
        raise v.fail(f"{where}.motif", "required.")
    count = DEFAULT_DISTRACTOR_COUNT
    if "count" in value:
        count = CountSpec.parse(value["count"], f"{where}.count")
    position = None
    if "position" in value:
        position = PositionSpec.parse(value["position"], f"{where}.position")
    return DistractorSpec(
        _name(value["motif"], f"{where}.motif"),
        count,
        v.choice(value.get("strand", "both"), STRANDS, f"{where}.strand"),
        position,
    )


def _parse_scan(value) -> ScanSpec:
    if value is None:
        return ScanSpec()
    value = v.mapping(value, "scan")
    v.check_keys(value, [f.name for f in dataclasses.fields(ScanSpec)], "scan")
    d = ScanSpec()
    return ScanSpec(
        v.number(
            value.get("p_value", d.p_value),
            "scan.p_value",
            minimum=0,
            maximum=1,
            open_min=True,
            open_max=True,
        ),
        v.number(
            value.get("max_fraction", d.max_fraction),
            "scan.max_fraction",
            minimum=0,
            maximum=1,
            open_min=True,
        ),
        v.number(
            value.get("bin_size", d.bin_size), "scan.bin_size", minimum=0, maximum=1, open_min=True
        ),
        v.number(
            value.get("overlap", d.overlap), "scan.overlap", minimum=0, maximum=1, open_min=True
        ),
        v.integer(value.get("max_rounds", d.max_rounds), "scan.max_rounds", minimum=1),
    )


__all__ = [
    "BACKGROUND_KINDS",
    "MOTIF_MODES",
    "SPLIT_NAMES",
    "BackgroundSpec",
    "DistractorSpec",
    "MotifSpec",
    "ScanSpec",
    "TaskSpec",
]
