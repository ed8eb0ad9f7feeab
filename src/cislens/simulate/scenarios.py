"""Per-sequence scenarios: which tasks are positive, which instances realise that, and where.

For each sequence the generator

1. draws the intended labels, each task positive with its ``positive_fraction``;
2. builds *blocks* of instances: a **witness** of each positive task's rule, and for each
   negative task a **decoy** (a near miss, with probability ``decoy_fraction``) or a
   **counter-example** (usually nothing; the repressed motif for a ``not`` rule), plus the
   distractors;
3. places the blocks without overlap (each block's start drawn from its position
   distribution, re-drawn on overlap);
4. computes the labels from the placed instances with :func:`evaluate_tasks` and keeps the
   sequence only if they equal the intended labels. Otherwise it tries a new realisation
   (up to ``max_attempts``), then new intended labels. The label vector is thus drawn from the
   independent product distribution conditioned on being realisable. A label vector that has
   exhausted ``max_attempts`` three times in a split is treated as unrealisable and skipped.

Randomness comes from a ``random.Random`` seeded per split (fast scalar draws; no global RNG).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from cislens.errors import ConfigError
from cislens.simulate.grammar import (
    AllRule,
    AnyRule,
    AtLeastRule,
    Inst,
    MotifRule,
    NotRule,
    PairRule,
    evaluate_tasks,
)

ROLE_RULE, ROLE_DECOY, ROLE_BACKGROUND = 0, 1, 2
ROLES = ("rule", "decoy", "background")
_ARRANGEMENTS = list(itertools.product("+-", "+-", (True, False)))
_PLACE_TRIES = 50
_LABEL_DRAWS = 50  # intended label vectors tried per sequence
_GIVE_UP = 3  # a label vector failing max_attempts realisations this often is skipped


def _by_width(block):
    return -block.width


class Block(NamedTuple):
    """Instances placed together: ``items`` are (motif, offset in block, strand)."""

    items: tuple
    width: int
    position: object
    role: int


class Realised(NamedTuple):
    """The instances of one split, flattened, and the clean labels."""

    labels: np.ndarray  # (N, T) bool
    sequence: np.ndarray  # (M,) int64
    motif: list  # (M,) str
    start: np.ndarray  # (M,) int64
    strand: list  # (M,) "+"/"-"
    role: np.ndarray  # (M,) int8
    relevant: np.ndarray  # (M, T) bool


def rule_paths(rule, where: str):
    """Yield (rule, field path) for ``rule`` and its descendants, paths as in the config."""
    yield rule, where
    if isinstance(rule, NotRule):
        yield from rule_paths(rule.rule, f"{where}.not")
    elif isinstance(rule, AllRule):
        for i, child in enumerate(rule.rules):
            yield from rule_paths(child, f"{where}.all[{i}]")
    elif isinstance(rule, AtLeastRule):
        key = "any" if isinstance(rule, AnyRule) else "of"
        for i, child in enumerate(rule.rules):
            yield from rule_paths(child, f"{where}.{key}[{i}]")


class Scenarios:
    """Draws and places the instances of sequences for a compiled config."""

    def __init__(self, config, widths: dict):
        self.config = config
        self.widths = widths
        self.length = config.length
        self.rules = [task.rule for task in config.tasks]
        self.default_position = config.position
        self._gaps = {}
        self._ranges = {}
        for index, task in enumerate(config.tasks):
            for rule, where in rule_paths(task.rule, f"tasks[{index}].rule"):
                self._check_fit(rule, where)
        for index, d in enumerate(config.distractors):
            self._fit_or_fail(self.widths[d.motif], d.position, f"distractors[{index}]")

    # ---------------------------------------------------------------- feasibility
    def _position(self, position):
        return position if position is not None else self.default_position

    def _fit_or_fail(self, width, position, where, what="the motif"):
        position = self._position(position)
        if position.start_range(width, self.length) is None:
            raise ConfigError(
                f"{where}: {what} needs {width} bp but does not fit in length {self.length} "
                f"with position {position.to_dict()}; lengthen the sequence or widen the "
                "position window."
            )

    def _check_fit(self, rule, where):
        if isinstance(rule, MotifRule):
            self._fit_or_fail(self.widths[rule.motif], rule.position, f"{where}.motif")
        elif isinstance(rule, PairRule):
            wa, wb = self.widths[rule.first], self.widths[rule.second]
            position = self._position(rule.position)
            fit = [
                g
                for g in rule.spacing.gaps
                if position.start_range(wa + g + wb, self.length) is not None
            ]
            if not fit:
                need = wa + rule.spacing.minimum + wb
                raise ConfigError(
                    f"{where}.spacing: the pair needs at least {need} bp ({rule.first} "
                    f"{wa} + gap {rule.spacing.minimum} + {rule.second} {wb}) but the "
                    f"sequence is {self.length} bp (position {position.to_dict()}); shorten "
                    "the spacing or lengthen the sequence."
                )
            decoy = [
                g
                for g in rule.decoy_gaps()
                if position.start_range(wa + g + wb, self.length) is not None
            ]
            self._gaps[rule] = (tuple(fit), tuple(decoy))

    def check_rules(self, rng) -> None:
        """Fail early on rules that can never be satisfied, never violated, or lack decoys."""
        for index, task in enumerate(self.config.tasks):
            where = f"tasks[{index}].rule"
            rule = task.rule
            results = [
                self._trial(lambda r=rule: self.witness(r, ROLE_RULE, rng), rule, rng)
                for _ in range(30)
            ]
            if True not in results:
                why = "it contradicts itself"
                if set(results) == {None}:
                    why = "its instances never fit"
                raise ConfigError(
                    f"{where}: the rule cannot be satisfied ({why}); a positive is impossible. "
                    "Check for a motif required and forbidden at once, or for room."
                )
            results = [
                self._trial(lambda r=rule: self.counter(r, ROLE_DECOY, rng), rule, rng)
                for _ in range(30)
            ]
            if False not in results and task.positive_fraction < 1:
                raise ConfigError(
                    f"{where}: the rule cannot be violated (every sequence would be positive); "
                    "set positive_fraction: 1 or change the rule."
                )
            if task.decoy_fraction > 0 and all(
                self.decoy(rule, ROLE_DECOY, rng) is None for _ in range(30)
            ):
                raise ConfigError(
                    f"tasks[{index}].decoy_fraction: this rule has no near-miss decoys (the "
                    "presence of one motif has none; AND, NOT, k-of-n and pair rules do); "
                    "set decoy_fraction: 0."
                )

    def _trial(self, make, rule, rng):
        placed = self.place(make(), rng)
        if placed is None:
            return None
        insts = [Inst(i, m, s, s + self.widths[m], st) for i, (m, s, st, _) in enumerate(placed)]
        return evaluate_tasks([rule], insts)[0][0]

    # ---------------------------------------------------------------- realisations
    def _single(self, motif, strand, position, role, rng):
        if strand == "both":
            strand = "+" if rng.random() < 0.5 else "-"
        return Block(((motif, 0, strand),), self.widths[motif], self._position(position), role)

    def _pair_block(self, rule, a_strand, b_strand, a_up, gap, role):
        wa, wb = self.widths[rule.first], self.widths[rule.second]
        if a_up:
            items = ((rule.first, 0, a_strand), (rule.second, wa + gap, b_strand))
        else:
            items = ((rule.second, 0, b_strand), (rule.first, wb + gap, a_strand))
        return Block(items, wa + gap + wb, self._position(rule.position), role)

    def witness(self, rule, role, rng) -> list:
        """Blocks that satisfy ``rule`` on their own."""
        if isinstance(rule, MotifRule):
            n = max(rule.count.sample(rng), rule.min_count)
            return [
                self._single(rule.motif, rule.strand, rule.position, role, rng) for _ in range(n)
            ]
        if isinstance(rule, AllRule):
            return [b for child in rule.rules for b in self.witness(child, role, rng)]
        if isinstance(rule, AtLeastRule):
            size = rule.k + int(rng.random() * (len(rule.rules) - rule.k + 1))
            chosen = rng.sample(rule.rules, size)
            return [b for child in chosen for b in self.witness(child, role, rng)]
        if isinstance(rule, NotRule):
            return self.counter(rule.rule, role, rng)
        valid = [a for a in _ARRANGEMENTS if rule.arrangement_ok(*a)]
        blocks = []
        for _ in range(rule.count.sample(rng)):
            a_strand, b_strand, a_up = rng.choice(valid)
            gap = rng.choice(self._gaps[rule][0])
            blocks.append(self._pair_block(rule, a_strand, b_strand, a_up, gap, role))
        return blocks

    def counter(self, rule, role, rng) -> list:
        """Blocks that violate ``rule`` on their own (usually none)."""
        if isinstance(rule, NotRule):
            return self.witness(rule.rule, role, rng)
        if isinstance(rule, AllRule):
            return self.counter(rng.choice(rule.rules), role, rng)
        if isinstance(rule, AtLeastRule):
            return [b for child in rule.rules for b in self.counter(child, role, rng)]
        return []

    def decoy(self, rule, role, rng):
        """Blocks that *nearly* satisfy ``rule`` (a near miss), or None if it has none."""
        if isinstance(rule, MotifRule):
            if rule.min_count <= 1:
                return None
            return [
                self._single(rule.motif, rule.strand, rule.position, role, rng)
                for _ in range(rule.min_count - 1)
            ]
        if isinstance(rule, NotRule):
            return self.witness(rule.rule, role, rng)
        if isinstance(rule, AllRule):
            for broken in rng.sample(range(len(rule.rules)), len(rule.rules)):
                blocks = self._violate(rule.rules[broken], role, rng)
                for i, child in enumerate(rule.rules):
                    if i != broken:
                        blocks += self.witness(child, role, rng)
                if blocks:
                    return blocks
            return None
        if isinstance(rule, AtLeastRule):
            kept = rng.sample(range(len(rule.rules)), rule.k - 1)
            blocks = []
            for i, child in enumerate(rule.rules):
                if i in kept:
                    blocks += self.witness(child, role, rng)
                else:
                    near = self.decoy(child, role, rng)
                    blocks += near if near is not None else []
            return blocks or None
        return self._pair_decoy(rule, role, rng)

    def _violate(self, rule, role, rng) -> list:
        near = self.decoy(rule, role, rng) if rng.random() < 0.5 else None
        return list(near) if near is not None else self.counter(rule, role, rng)

    def _pair_decoy(self, rule, role, rng):
        fit, decoy_gaps = self._gaps[rule]
        valid = [a for a in _ARRANGEMENTS if rule.arrangement_ok(*a)]
        invalid = [a for a in _ARRANGEMENTS if not rule.arrangement_ok(*a)]
        kinds = ["single"] + (["gap"] if decoy_gaps else []) + (["arrangement"] if invalid else [])
        kind = rng.choice(kinds)
        if kind == "single":
            motif = rule.first if rng.random() < 0.5 else rule.second
            return [self._single(motif, "both", rule.position, role, rng)]
        if kind == "gap":
            return [self._pair_block(rule, *rng.choice(valid), rng.choice(decoy_gaps), role)]
        return [self._pair_block(rule, *rng.choice(invalid), rng.choice(fit), role)]

    def negative(self, task, role, rng) -> list:
        if task.decoy_fraction > 0 and rng.random() < task.decoy_fraction:
            near = self.decoy(task.rule, role, rng)
            if near is not None:
                return near
        return self.counter(task.rule, role, rng)

    # ---------------------------------------------------------------- placement
    def place(self, blocks, rng):
        """Place blocks without overlap; returns [(motif, start, strand, role)] or None."""
        taken = []
        placed = []
        rand = rng.random
        if len(blocks) > 1:
            blocks = sorted(blocks, key=_by_width)
        for block in blocks:
            width, position = block.width, block.position
            key = (id(position), width)
            bounds = self._ranges.get(key)
            if bounds is None:
                lo, hi = position.start_range(width, self.length)
                bounds = self._ranges[key] = (lo, hi - lo + 1, position.kind == "normal")
            lo, span, normal = bounds
            for _ in range(_PLACE_TRIES):
                if normal:
                    start = position.sample(width, self.length, rng)
                else:
                    start = lo + int(rand() * span)
                end = start + width
                for s, e in taken:
                    if start < e and end > s:
                        break
                else:
                    break
            else:
                return None
            taken.append((start, end))
            for motif, offset, strand in block.items:
                placed.append((motif, start + offset, strand, block.role))
        return placed

    def realise(self, n: int, rng, *, verbose: bool = False, desc: str = "") -> Realised:
        """Realise ``n`` sequences (labels and placed instances)."""
        config = self.config
        tasks = config.tasks
        n_tasks = len(tasks)
        fractions = [t.positive_fraction for t in tasks]
        labels = np.zeros((n, n_tasks), dtype=bool)
        seq, motifs, starts, strands, roles, relevant = [], [], [], [], [], []
        widths = self.widths
        unrealisable: dict[tuple, int] = {}  # label vectors that exhausted max_attempts
        for i in tqdm(range(n), disable=not verbose, desc=desc or "scenarios", leave=False):
            done = False
            failures = [0, 0]
            for _ in range(_LABEL_DRAWS):
                wanted = [rng.random() < f for f in fractions]
                if unrealisable.get(tuple(wanted), 0) >= _GIVE_UP:
                    continue
                for _ in range(config.max_attempts):
                    blocks = []
                    for task, positive in zip(tasks, wanted, strict=True):
                        if positive:
                            blocks += self.witness(task.rule, ROLE_RULE, rng)
                        else:
                            blocks += self.negative(task, ROLE_DECOY, rng)
                    for d in config.distractors:
                        for _ in range(d.count.sample(rng)):
                            blocks.append(
                                self._single(d.motif, d.strand, d.position, ROLE_BACKGROUND, rng)
                            )
                    placed = self.place(blocks, rng)
                    if placed is None:
                        failures[0] += 1
                        continue
                    insts = [
                        Inst(k, m, s, s + widths[m], st) for k, (m, s, st, _) in enumerate(placed)
                    ]
                    got, rel = evaluate_tasks(self.rules, insts)
                    if got == wanted:
                        done = True
                        break
                    failures[1] += 1
                if done:
                    break
                key = tuple(wanted)
                unrealisable[key] = unrealisable.get(key, 0) + 1
            if not done:
                raise ConfigError(
                    f"could not realise sequence {i}: {failures[0]} placements failed (the "
                    f"instances do not fit in {self.length} bp) and {failures[1]} realisations "
                    "gave other labels than intended (the tasks' rules conflict). Lengthen the "
                    "sequence, lower counts or positive fractions, or change the rules."
                )
            labels[i] = wanted
            for k, (m, s, st, role) in enumerate(placed):
                seq.append(i)
                motifs.append(m)
                starts.append(s)
                strands.append(st)
                roles.append(role)
                relevant.append([k in members for members in rel])
        return Realised(
            labels,
            np.array(seq, dtype=np.int64),
            motifs,
            np.array(starts, dtype=np.int64),
            strands,
            np.array(roles, dtype=np.int8),
            np.array(relevant, dtype=bool).reshape(len(seq), n_tasks),
        )


__all__ = ["ROLES", "Block", "Realised", "Scenarios", "rule_paths"]
