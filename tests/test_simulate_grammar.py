"""Rule semantics on hand-placed instances, and labels recomputed from a table."""

import itertools
import random

import numpy as np
import pandas as pd
import pytest

from cislens.simulate import config_from_dict, labels_from_instances, parse_rule
from cislens.simulate.grammar import Inst, evaluate_tasks
from cislens.simulate.scenarios import ROLE_DECOY, ROLE_RULE, Scenarios

W = {"A": 6, "B": 8, "R": 5}


def inst(index, motif, start, strand="+"):
    return Inst(index, motif, start, start + W[motif], strand)


def check(rule, instances):
    ok, relevant = evaluate_tasks([parse_rule(rule)], instances)
    return ok[0], relevant[0]


def test_presence_counts_and_relevance():
    both = [inst(0, "A", 0), inst(1, "A", 20), inst(2, "B", 40)]
    assert check("A", both) == (True, {0, 1})
    assert check({"motif": "A", "min_count": 2}, both) == (True, {0, 1})
    assert check({"motif": "A", "min_count": 3}, both) == (False, set())
    assert check("R", both) == (False, set())


def test_logic_and_or_not_k_of_n():
    seq = [inst(0, "A", 0), inst(1, "B", 20)]
    assert check({"all": ["A", "B"]}, seq) == (True, {0, 1})
    assert check({"all": ["A", "R"]}, seq) == (False, set())
    assert check({"any": ["A", "R"]}, seq) == (True, {0})
    assert check({"any": ["R", {"motif": "A", "min_count": 2}]}, seq) == (False, set())
    # a repressor: its absence makes the rule true but contributes no relevant instance
    assert check({"all": ["A", {"not": "R"}]}, seq) == (True, {0})
    assert check({"all": ["A", {"not": "R"}]}, [*seq, inst(2, "R", 40)]) == (False, set())
    assert check({"at_least": 2, "of": ["A", "B", "R"]}, seq) == (True, {0, 1})
    assert check({"at_least": 2, "of": ["A", "R", {"not": "B"}]}, seq) == (False, set())


def pair(spacing=3, orientation="any", order="any"):
    return {"pair": ["A", "B"], "spacing": spacing, "orientation": orientation, "order": order}


def test_pair_spacing_is_the_gap_between_instances():
    # A at [10, 16), B at [19, 27): gap 3 (either order)
    assert check(pair(3), [inst(0, "A", 10), inst(1, "B", 19)]) == (True, {0, 1})
    assert check(pair(3), [inst(0, "B", 10), inst(1, "A", 21)]) == (True, {0, 1})
    assert check(pair(3), [inst(0, "A", 10), inst(1, "B", 20)])[0] is False
    assert check(pair([2, 4]), [inst(0, "A", 10), inst(1, "B", 20)])[0] is True
    helical = {"period": 10.5, "min": 0, "max": 40}
    assert check(pair(helical), [inst(0, "A", 0), inst(1, "B", 6 + 21)])[0] is True
    assert check(pair(helical), [inst(0, "A", 0), inst(1, "B", 6 + 16)])[0] is False
    # only the instances in a valid pair are relevant
    seq = [inst(0, "A", 10), inst(1, "B", 19), inst(2, "A", 60)]
    assert check(pair(3), seq) == (True, {0, 1})


@pytest.mark.parametrize(
    ("orientation", "strands", "expected"),
    [
        ("same", "++", True),
        ("same", "--", True),
        ("same", "+-", False),
        ("opposite", "-+", True),
        ("convergent", "+-", True),  # upstream +, downstream -
        ("convergent", "-+", False),
        ("divergent", "-+", True),
        ("divergent", "+-", False),
    ],
)
def test_pair_orientation(orientation, strands, expected):
    seq = [inst(0, "A", 0, strands[0]), inst(1, "B", 9, strands[1])]
    assert check(pair(3, orientation), seq)[0] is expected


def test_pair_order_is_read_along_the_first_motifs_strand():
    rule = pair(3, "same", "fixed")
    assert check(rule, [inst(0, "A", 0, "+"), inst(1, "B", 9, "+")])[0] is True
    assert check(rule, [inst(0, "B", 0, "+"), inst(1, "A", 11, "+")])[0] is False
    # on the - strand the composite reads right to left: A must be downstream in + coordinates
    assert check(rule, [inst(0, "B", 0, "-"), inst(1, "A", 11, "-")])[0] is True
    assert check(rule, [inst(0, "A", 0, "-"), inst(1, "B", 9, "-")])[0] is False


def test_labels_from_a_table():
    config = {
        "length": 100,
        "splits": {"train": 3},
        "tasks": [
            {"name": "pos", "rule": {"all": ["A1", {"not": "R1"}]}},
            {"name": "any", "rule": {"any": ["A1", "R1"]}},
        ],
        "motifs": {"A1": "ACGTACGT", "R1": "GGGGCCCC"},
    }
    table = pd.DataFrame(
        {
            "sequence": [0, 2, 2],
            "split": "train",
            "motif": ["A1", "A1", "R1"],
            "start": [5, 5, 40],
            "end": [13, 13, 48],
            "strand": ["+", "-", "+"],
        }
    )
    result = labels_from_instances(table, config, n_sequences=3)
    assert result.labels.tolist() == [[1, 1], [0, 0], [0, 1]]
    assert result.relevant.tolist() == [[True, True], [False, True], [False, True]]
    with pytest.raises(ValueError, match="holds several splits"):
        labels_from_instances(table.assign(split=["train", "test", "test"]), config)
    with pytest.raises(ValueError, match="lacks the columns"):
        labels_from_instances(table.drop(columns="strand"), config)


def scenarios_for(rule, length=200):
    config = config_from_dict(
        {
            "length": length,
            "splits": {"train": 1},
            "motifs": {"A": "AAAAAA", "B": "CCCCCCCC", "R": "GGGGG"},
            "tasks": [{"name": "t", "rule": rule, "decoy_fraction": 0.5}],
        }
    )
    return Scenarios(config, W), parse_rule(rule)


@pytest.mark.parametrize(
    "rule",
    [
        {"all": ["A", "B"]},
        {"all": ["A", {"not": "R"}]},
        {"at_least": 2, "of": ["A", "B", "R"]},
        pair(3, "same", "fixed"),
        pair({"period": 10.5, "min": 0, "max": 40}, "convergent"),
    ],
)
def test_witnesses_satisfy_and_decoys_break_the_rule(rule):
    scenarios, parsed = scenarios_for(rule)
    rng = random.Random(0)
    kinds = set()
    for _ in range(200):
        for make, expected in ((scenarios.witness, True), (scenarios.decoy, False)):
            blocks = make(parsed, ROLE_RULE if expected else ROLE_DECOY, rng)
            placed = scenarios.place(blocks, rng)
            insts = [Inst(i, m, s, s + W[m], st) for i, (m, s, st, _) in enumerate(placed)]
            assert evaluate_tasks([parsed], insts)[0] == [expected]
            if not expected:
                kinds.add(tuple(sorted(i.motif for i in insts)))
    assert all(kind for kind in kinds)  # decoys are never empty
    assert len(kinds) >= 1


def test_placement_never_overlaps_and_respects_positions():
    scenarios, parsed = scenarios_for({"motif": "B", "count": 5, "position": {"central": 60}})
    rng = random.Random(1)
    for _ in range(100):
        placed = scenarios.place(scenarios.witness(parsed, ROLE_RULE, rng), rng)
        spans = sorted((s, s + W[m]) for m, s, _, _ in placed)
        assert all(b <= c for (_, b), (c, _) in itertools.pairwise(spans))
        centres = np.array([(s + e) / 2 for s, e in spans])
        assert (np.abs(centres - 100) <= 30).all()


def test_pairs_can_come_in_numbers():
    scenarios, parsed = scenarios_for({**pair([2, 5], "same"), "count": [2, 3]})
    assert parsed.to_dict()["count"] == [2, 3]
    rng = random.Random(3)
    for _ in range(50):
        blocks = scenarios.witness(parsed, ROLE_RULE, rng)
        assert len(blocks) in (2, 3) and all(len(b.items) == 2 for b in blocks)
    with pytest.raises(ValueError, match=r"rule\.count: a positive needs at least one pair"):
        parse_rule({**pair(3), "count": [0, 2]})
