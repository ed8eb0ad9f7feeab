"""Filters that read one unit at a fixed arrangement are reported as one unit; filters for
motifs that merely co-occur are not (cislens.argminn.units)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from testkit import zeroed_argminn

from cislens.argminn import ARGMINN, argminn_motifs
from cislens.argminn.units import arrangement, group_units, unit_counts
from cislens.sequence import one_hot_encode

UNIT = "ACGTTGCA"  # read by two filters: columns 0-5 and 2-7
WORDS = {0: UNIT[:6], 1: UNIT[2:], 2: "GATAAG", 3: "CTTCGA"}  # 2 and 3 only co-occur


def word_model() -> ARGMINN:
    """Filter k fires (2.0) on an exact match of WORDS[k], on either strand."""
    model = zeroed_argminn(len(WORDS))
    with torch.no_grad():
        for k, word in WORDS.items():
            model.scanner.weight[k] = one_hot_encode([word])[0] * 2.0
            model.scanner.bias[k] = -2.0 * len(word) + 2.0
            model.tokenize.weight[:, [k, len(WORDS) + k]] = 1.0
    return model.eval()


def planted(n: int = 80, length: int = 60) -> torch.Tensor:
    """Even rows: the unit, every fourth one on the minus strand; odd rows: words 2 and 3 at
    independent positions (never overlapping)."""
    rng = np.random.default_rng(3)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()
    for i in range(n):
        if i % 2 == 0:
            word = UNIT if i % 4 == 0 else "TGCAACGT"  # its reverse complement
            at = int(rng.integers(0, length - len(word)))
            X[i, :, at : at + len(word)] = one_hot_encode([word])[0].numpy()
        else:
            a = int(rng.integers(0, length // 2 - 6))
            b = int(rng.integers(length // 2, length - 6))
            first, second = (2, 3) if rng.random() < 0.5 else (3, 2)
            X[i, :, a : a + 6] = one_hot_encode([WORDS[first]])[0].numpy()
            X[i, :, b : b + 6] = one_hot_encode([WORDS[second]])[0].numpy()
    return torch.from_numpy(np.ascontiguousarray(X))


def test_two_filters_reading_one_unit_are_one_unit_and_cooccurring_motifs_are_not():
    result = argminn_motifs(word_model(), planted(), annotate=False, min_sites=10)
    assert result.passing == [0, 1, 2, 3]
    units = result.units.set_index("unit")
    assert list(units.index) == ["unit_0", "unit_2", "unit_3"]
    joined = units.loc["unit_0"]
    assert (joined["filters"], joined["offsets"], joined["flipped"]) == (
        "0;1",
        "0;2",
        "false;false",
    )
    assert joined["share"] > 0.9
    # the stitched PFM holds the whole unit, read on both strands in the leader's orientation
    assert joined["consensus"] == UNIT and joined["length"] == 8
    assert [m.name for m in result.unit_motifs] == ["unit_0", "unit_2", "unit_3"]
    assert result.unit_motifs[0].consensus == UNIT
    # words 2 and 3 always co-occur, but at changing offsets: two units of one filter each
    assert units.loc["unit_2", "filters"] == "2" and units.loc["unit_3", "filters"] == "3"
    reasons = result.filters.set_index("filter")["reason"]
    assert "unit_0" in reasons[1] and "+2" in reasons[1] and "unit" not in reasons[2]
    # a stricter threshold than any share keeps every filter on its own
    alone = argminn_motifs(
        word_model(), planted(), annotate=False, min_sites=10, min_cooccurrence=1.01
    )
    assert list(alone.units["filters"]) == ["0", "1", "2", "3"]


def test_arrangement_offsets_follow_the_first_filters_strand():
    # j on the plus strand at 10 and on the minus strand at 40; k 2 columns further along
    # j's own orientation each time (at 12, and at 38 on the minus strand)
    j = (np.array([0, 1]), np.array([10, 40]), np.array([False, True]))
    k = (np.array([0, 1]), np.array([12, 38]), np.array([False, True]))
    found = arrangement(j, k)
    assert (found.offset, found.flipped, found.share) == (2, False, 1.0)
    assert arrangement(j, (np.array([5]), np.array([1]), np.array([False]))) is None


def test_units_chain_through_a_flipped_member():
    # a (plus, 10) and b (minus, 13) in rows 0-9; b (minus, 13) and c (plus, 20) in rows
    # 10-19. a and c never meet: c is placed through b, at 10 columns from a, same strand.
    rows = np.arange(20)
    a = (rows[:10], np.full(10, 10), np.zeros(10, bool))
    b = (rows, np.full(20, 13), np.ones(20, bool))
    c = (rows[10:], np.full(10, 20), np.zeros(10, bool))
    units, pairs = group_units({0: a, 1: b, 2: c}, [0, 1, 2])
    assert (0, 2) not in pairs
    assert units == [
        {"leader": 0, "members": [(0, 0, False), (1, 3, True), (2, 10, False)], "share": 0.5}
    ]
    # above the shares, nothing joins
    strict, _ = group_units({0: a, 1: b, 2: c}, [0, 1, 2], min_cooccurrence=0.6)
    assert [u["members"] for u in strict] == [[(0, 0, False)], [(1, 0, False)], [(2, 0, False)]]


def test_unit_counts_need_every_member_in_place():
    X = one_hot_encode(["TTACGTCCAA", "GGACGTCCTT", "GGACGTAATT"]).numpy()
    a = (np.array([0, 1, 2]), np.array([2, 2, 2]), np.zeros(3, bool))
    b = (np.array([0, 1, 2]), np.array([4, 4, 5]), np.zeros(3, bool))  # row 2: out of place
    counts, n = unit_counts(X, {0: a, 1: b}, [(0, 0, False), (1, 2, False)], 4)
    assert n == 2 and counts.shape == (4, 6) and np.allclose(counts.sum(0), 2)
    # no site with the member in place (here: 7 columns on): nothing to count
    counts, n = unit_counts(X, {0: a, 1: b}, [(0, 0, False), (1, 7, False)], 4)
    assert n == 0 and counts.shape == (4, 11) and counts.sum() == 0


def test_min_cooccurrence_must_be_positive():
    with pytest.raises(ValueError, match="min_cooccurrence"):
        argminn_motifs(word_model(), planted(), annotate=False, min_cooccurrence=0.0)
