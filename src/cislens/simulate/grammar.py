"""The rule grammar of a simulation: what makes a task's label positive, and how to check it.

A task's rule is a tree (see ``docs/simulation.md`` for the YAML syntax):

- :class:`MotifRule` -- presence: at least ``min_count`` instances of a motif;
- :class:`AllRule` (AND), :class:`AnyRule` (OR), :class:`AtLeastRule` (k of n),
  :class:`NotRule` (a repressor: the child must *not* hold);
- :class:`PairRule` -- two motifs at an allowed spacing (gap in bp between the end of the
  upstream instance and the start of the downstream one), with an orientation and an order.

Labels are always computed from the placed instances by :func:`evaluate_tasks`, the single
function used by the generator and by :func:`labels_from_instances` (and so by the tests).
An instance is *relevant* to a task when the task is positive and the instance belongs to a
satisfied part of its rule (``NOT`` parts contribute nothing: the absence is the reason).

:class:`CountSpec`, :class:`PositionSpec` and :class:`SpacingSpec` are the distributions the
generator draws from; they do not change what a rule means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Union

from cislens.simulate.distributions import CountSpec, PositionSpec, SpacingSpec
from cislens.utils import validation as v

if TYPE_CHECKING:
    pass

STRANDS = ("both", "+", "-")
ORIENTATIONS = ("any", "same", "opposite", "convergent", "divergent")
ORDERS = ("any", "fixed")


# ----------------------------------------------------------------------------- rules
class Inst(NamedTuple):
    """One placed instance, as rules see it."""

    index: int  # type: ignore[assignment]  # a field named like tuple.index, on purpose
    motif: str
    start: int
    end: int
    strand: str


@dataclass(frozen=True)
class MotifRule:
    """At least ``min_count`` instances of ``motif`` (anywhere, either strand)."""

    motif: str
    count: CountSpec = field(default_factory=CountSpec)
    min_count: int = 1
    strand: str = "both"
    position: PositionSpec | None = None

    def evaluate(self, by_motif):
        hits = by_motif.get(self.motif, ())
        ok = len(hits) >= self.min_count
        return ok, ({h.index for h in hits} if ok else set())

    def motifs(self):
        return {self.motif}

    def to_dict(self):
        out = {"motif": self.motif, "count": self.count.to_dict(), "min_count": self.min_count}
        out["strand"] = self.strand
        if self.position is not None:
            out["position"] = self.position.to_dict()
        return out


@dataclass(frozen=True)
class AllRule:
    """AND: every child holds."""

    rules: tuple

    def evaluate(self, by_motif):
        relevant = set()
        for rule in self.rules:
            ok, rel = rule.evaluate(by_motif)
            if not ok:
                return False, set()
            relevant |= rel
        return True, relevant

    def motifs(self):
        return set().union(*(r.motifs() for r in self.rules))

    def to_dict(self):
        return {"all": [r.to_dict() for r in self.rules]}


@dataclass(frozen=True)
class AtLeastRule:
    """k of n: at least ``k`` children hold (``any`` is k = 1)."""

    k: int
    rules: tuple

    def evaluate(self, by_motif):
        n_ok, relevant = 0, set()
        for rule in self.rules:
            ok, rel = rule.evaluate(by_motif)
            if ok:
                n_ok += 1
                relevant |= rel
        return (True, relevant) if n_ok >= self.k else (False, set())

    def motifs(self):
        return set().union(*(r.motifs() for r in self.rules))

    def to_dict(self):
        return {"at_least": self.k, "of": [r.to_dict() for r in self.rules]}


@dataclass(frozen=True, init=False)
class AnyRule(AtLeastRule):
    """OR: at least one child holds (an :class:`AtLeastRule` with k = 1)."""

    def __init__(self, rules: Sequence[Rule]):
        object.__setattr__(self, "k", 1)
        object.__setattr__(self, "rules", tuple(rules))

    def to_dict(self):
        return {"any": [r.to_dict() for r in self.rules]}


@dataclass(frozen=True)
class NotRule:
    """NOT (a repressor): the child does not hold. Contributes no relevant instances."""

    rule: Rule

    def evaluate(self, by_motif):
        ok, _ = self.rule.evaluate(by_motif)
        return (not ok), set()

    def motifs(self):
        return self.rule.motifs()

    def to_dict(self):
        return {"not": self.rule.to_dict()}


@dataclass(frozen=True)
class PairRule:
    """Two instances (one of ``first``, one of ``second``) at an allowed gap and arrangement.

    ``orientation``: any; same (both on one strand); opposite; convergent (upstream on +,
    downstream on -); divergent (upstream on -, downstream on +). Upstream means the smaller
    start on the + strand. ``order``: any; fixed (``first`` comes before ``second`` reading
    along ``first``'s strand). ``count``: how many pairs a positive gets (generation only).
    """

    first: str
    second: str
    spacing: SpacingSpec
    orientation: str = "any"
    order: str = "any"
    position: PositionSpec | None = None
    decoy_spacing: tuple[int, int] | None = None
    count: CountSpec = field(default_factory=CountSpec)

    def arrangement_ok(self, a_strand: str, b_strand: str, a_upstream: bool) -> bool:
        up, down = (a_strand, b_strand) if a_upstream else (b_strand, a_strand)
        o = self.orientation
        if o == "same" and up != down:
            return False
        if o == "opposite" and up == down:
            return False
        if o == "convergent" and (up, down) != ("+", "-"):
            return False
        if o == "divergent" and (up, down) != ("-", "+"):
            return False
        if self.order == "fixed" and a_upstream != (a_strand == "+"):
            return False
        return True

    def pair_ok(self, a: Inst, b: Inst, allowed) -> bool:
        a_upstream = a.start < b.start
        gap = b.start - a.end if a_upstream else a.start - b.end
        return gap in allowed and self.arrangement_ok(a.strand, b.strand, a_upstream)

    def evaluate(self, by_motif):
        allowed = _allowed_gaps(self.spacing)
        relevant = set()
        for a in by_motif.get(self.first, ()):
            for b in by_motif.get(self.second, ()):
                if a.index != b.index and self.pair_ok(a, b, allowed):
                    relevant.update((a.index, b.index))
        return bool(relevant), relevant

    def motifs(self):
        return {self.first, self.second}

    def decoy_gaps(self) -> tuple[int, ...]:
        """Gaps used by wrong-spacing decoys: ``decoy_spacing`` (default 0 .. max + 10)."""
        low, high = self.decoy_spacing or (0, self.spacing.maximum + 10)
        allowed = _allowed_gaps(self.spacing)
        return tuple(g for g in range(low, high + 1) if g not in allowed)

    def to_dict(self):
        out = {
            "pair": [self.first, self.second],
            "spacing": self.spacing.to_dict(),
            "orientation": self.orientation,
            "order": self.order,
        }
        if self.position is not None:
            out["position"] = self.position.to_dict()
        if self.decoy_spacing is not None:
            out["decoy_spacing"] = list(self.decoy_spacing)
        out["count"] = self.count.to_dict()
        return out


_GAP_CACHE: dict = {}


def _allowed_gaps(spacing: SpacingSpec) -> frozenset:
    gaps = _GAP_CACHE.get(spacing)
    if gaps is None:
        gaps = _GAP_CACHE[spacing] = frozenset(spacing.gaps)
    return gaps


Rule = Union[MotifRule, AllRule, AtLeastRule, NotRule, PairRule]  # noqa: UP007
_RULE_KEYS = ("motif", "all", "any", "at_least", "not", "pair")


def parse_rule(value: Mapping, where: str = "rule") -> Rule:
    """Parse a rule from its YAML/JSON form (a motif name, or a mapping with one rule key).

    Examples
    --------
    >>> parse_rule({"all": ["SPI1", {"not": "CTCF"}]}).to_dict()["all"][1]
    {'not': {'motif': 'CTCF', 'count': 1, 'min_count': 1, 'strand': 'both'}}
    """
    if isinstance(value, str):
        return MotifRule(v.string(value, where))
    value = v.mapping(value, where, what="a rule (a motif name or a mapping)")
    kinds = [key for key in _RULE_KEYS if key in value]
    if len(kinds) != 1:
        raise v.fail(
            where,
            f"a rule needs exactly one of the keys {list(_RULE_KEYS)}; got {sorted(value)}.",
        )
    kind = kinds[0]
    if kind == "motif":
        v.check_keys(value, ("motif", "count", "min_count", "strand", "position"), where)
        min_count = v.integer(value.get("min_count", 1), f"{where}.min_count", minimum=1)
        count = CountSpec.parse(value.get("count", min_count), f"{where}.count")
        if count.maximum < min_count:
            raise v.fail(
                f"{where}.count",
                f"the largest count {count.maximum} is below min_count {min_count}, so no "
                "positive could be made; raise count or lower min_count.",
            )
        return MotifRule(
            v.string(value["motif"], f"{where}.motif"),
            count,
            min_count,
            v.choice(value.get("strand", "both"), STRANDS, f"{where}.strand"),
            _optional_position(value, where),
        )
    if kind in ("all", "any"):
        v.check_keys(value, (kind,), where)
        items = v.sequence(value[kind], f"{where}.{kind}", what="a non-empty list of rules")
        if not items:
            raise v.fail(f"{where}.{kind}", "expected a non-empty list of rules.")
        rules = tuple(parse_rule(item, f"{where}.{kind}[{i}]") for i, item in enumerate(items))
        return AllRule(rules) if kind == "all" else AnyRule(rules)
    if kind == "at_least":
        v.check_keys(value, ("at_least", "of"), where)
        if "of" not in value:
            raise v.fail(f"{where}.of", "required: the list of rules to count.")
        items = v.sequence(value["of"], f"{where}.of", what="a non-empty list of rules")
        rules = tuple(parse_rule(item, f"{where}.of[{i}]") for i, item in enumerate(items))
        k = v.integer(value["at_least"], f"{where}.at_least", minimum=1, maximum=max(len(rules), 1))
        return AtLeastRule(k, rules)
    if kind == "not":
        v.check_keys(value, ("not",), where)
        return NotRule(parse_rule(value["not"], f"{where}.not"))
    pair_keys = ("pair", "spacing", "orientation", "order", "position", "decoy_spacing", "count")
    v.check_keys(value, pair_keys, where)
    names = v.sequence(value["pair"], f"{where}.pair", what="a list [first, second] of motif names")
    if len(names) != 2:
        raise v.fail(f"{where}.pair", f"expected two motif names; got {v.describe(value['pair'])}.")
    if "spacing" not in value:
        raise v.fail(f"{where}.spacing", "required for a pair: an int, [min, max] or {period: ..}.")
    decoy = value.get("decoy_spacing")
    count = CountSpec.parse(value.get("count", 1), f"{where}.count")
    if count.minimum < 1:
        raise v.fail(
            f"{where}.count", f"a positive needs at least one pair; got min {count.minimum}."
        )
    return PairRule(
        v.string(names[0], f"{where}.pair[0]"),
        v.string(names[1], f"{where}.pair[1]"),
        SpacingSpec.parse(value["spacing"], f"{where}.spacing"),
        v.choice(value.get("orientation", "any"), ORIENTATIONS, f"{where}.orientation"),
        v.choice(value.get("order", "any"), ORDERS, f"{where}.order"),
        _optional_position(value, where),
        None if decoy is None else v.int_pair(decoy, f"{where}.decoy_spacing", minimum=0),
        count,
    )


def _optional_position(value, where):
    if "position" not in value:
        return None
    return PositionSpec.parse(value["position"], f"{where}.position")


def iter_rules(rule: Rule):
    """Yield ``rule`` and all its descendants (depth first)."""
    yield rule
    children = getattr(rule, "rules", None)
    if children is None and isinstance(rule, NotRule):
        children = (rule.rule,)
    for child in children or ():
        yield from iter_rules(child)


# ----------------------------------------------------------------------------- evaluation
def evaluate_tasks(rules, instances) -> tuple[list[bool], list[set]]:
    """Evaluate each rule on one sequence's instances.

    Parameters
    ----------
    rules : sequence of Rule
        One per task.
    instances : sequence of Inst
        The sequence's placed instances (``index`` identifies each in the result).

    Returns
    -------
    labels : list of bool
    relevant : list of set of int
        Per task, the ``index`` of the instances that make it positive (empty when negative).
    """
    by_motif: dict[str, list[Inst]] = {}
    for inst in instances:
        by_motif.setdefault(inst.motif, []).append(inst)
    labels, relevant = [], []
    for rule in rules:
        ok, rel = rule.evaluate(by_motif)
        labels.append(ok)
        relevant.append(rel if ok else set())
    return labels, relevant


__all__ = [
    "AllRule",
    "AnyRule",
    "AtLeastRule",
    "Inst",
    "MotifRule",
    "NotRule",
    "PairRule",
    "Rule",
    "evaluate_tasks",
    "iter_rules",
    "parse_rule",
]
