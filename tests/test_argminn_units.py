"""Filters that read one unit at a fixed arrangement are reported as one unit; filters for
motifs that merely co-occur are not (cislens.argminn.units)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from testkit import zeroed_argminn

from cislens.argminn import ARGMINN, argminn_motifs
from cislens.argminn.units import arrangement, extend_span, group_units, unit_counts
from cislens.pwm import Motif
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


# A composite: PART_A, a 5 bp spacer, PART_B. One 15 bp filter reads only the junction (the
# last 5 bp of PART_A, the spacer, the first 5 bp of PART_B); the unit is read whole.
PART_A, PART_B, SPACER = "GATTCAGC", "CCAGTTGA", 5


def junction_model(part_a: str = PART_A, part_b: str = PART_B, spacer: int = SPACER) -> ARGMINN:
    """One filter firing (2.0) on an exact match of the last 5 bp of ``part_a``, ``spacer`` bp
    of anything and the first 5 bp of ``part_b`` (``TCAGCnnnnnCCAGT``), on either strand."""
    model = zeroed_argminn(1, input_length=70, filter_width=10 + spacer)
    with torch.no_grad():
        word = part_a[-5:] + "N" * spacer + part_b[:5]
        model.scanner.weight[0] = one_hot_encode([word])[0] * 2.0
        model.scanner.bias[0] = -2.0 * 10 + 2.0
        model.tokenize.weight[:, [0, 1]] = 1.0
    return model.eval()


def composite_sequences(
    n: int = 60, length: int = 70, part_a: str = PART_A, part_b: str = PART_B, spacer: int = SPACER
) -> torch.Tensor:
    """The composite (random spacer) in every sequence, every third one on the minus strand."""
    rng = np.random.default_rng(5)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()
    size = len(part_a) + spacer + len(part_b)
    for i in range(n):
        unit = X[i, :, :size].copy()  # the spacer stays random
        unit[:, : len(part_a)] = one_hot_encode([part_a])[0].numpy()
        unit[:, -len(part_b) :] = one_hot_encode([part_b])[0].numpy()
        if i % 3 == 0:
            unit = unit[::-1, ::-1]
        at = int(rng.integers(0, length - size))
        X[i, :, at : at + size] = unit
    return torch.from_numpy(np.ascontiguousarray(X))


def test_extend_span_grows_over_informative_columns_and_stops_at_a_long_gap():
    ic = np.array([1.0, 0.0, 0.0, 0.0, 1.2, 0.0, 1.1, 1.5, 0.0, 0.0, 0.0, 0.0, 1.0, 0.5])
    # core 6-8: grows left over one flat column (gap <= 2) to 4, not over three to 0;
    # right, four flat columns stop it
    assert extend_span(ic, (6, 8), 0.3) == (4, 8)
    assert extend_span(ic, (6, 8), 0.3, max_gap=3) == (0, 8)
    # inside the core nothing splits, and a flat core edge is trimmed
    assert extend_span(ic, (3, 13), 0.3) == (4, 14)
    assert extend_span(np.zeros(5), (1, 3), 0.3) == (0, 0)


def test_a_composite_filter_is_read_whole_split_into_its_parts_with_the_gap():
    # the two parts and 30 random 8-mers (TOMTOM's p-values want >= 25 targets)
    rng = np.random.default_rng(0)
    words = [PART_A, PART_B, *("".join(rng.choice(list("ACGT"), 8)) for _ in range(30))]
    names = ["A", "B", *(f"r{i}" for i in range(30))]
    database = [
        Motif(name, one_hot_encode([word])[0].numpy() * 0.97 + 0.0075)
        for name, word in zip(names, words, strict=True)
    ]
    result = argminn_motifs(
        junction_model(), composite_sequences(), min_sites=10, database=database
    )
    assert result.passing == [0]
    assert result.filters.loc[0, "parts"] == "0-5;10-15"  # the filter sees 5 bp of each part
    unit = result.units.iloc[0]
    # the unit reaches 3 columns before and after the filter's window: both parts whole
    assert (unit["start"], unit["end"], unit["length"]) == (-3, 18, 21)
    assert unit["consensus"] == PART_A + "n" * SPACER + PART_B
    assert (unit["parts"], unit["gaps"]) == ("0-8;13-21", "5")
    assert unit["n_sites"] == 60
    assert result.unit_motifs[0].probabilities.shape == (4, 21)
    best = result.unit_annotation.query("rank == 1").set_index("pattern")
    assert best.loc["unit_0:0-8", "target_name"] == "A" and best.loc["unit_0:0-8", "q_value"] < 0.05
    assert best.loc["unit_0:13-21", "target_name"] == "B"
    assert (
        unit["reading"].startswith(f"{PART_A} [A q ")
        and f"+ {SPACER} bp + {PART_B} [B q " in unit["reading"]
    )
    # without annotation: the same parts, the reading without names
    plain = argminn_motifs(junction_model(), composite_sequences(), min_sites=10, annotate=False)
    assert plain.units.iloc[0]["reading"] == f"{PART_A} + {SPACER} bp + {PART_B}"
    assert plain.unit_annotation.empty


def test_a_single_part_filter_keeps_its_own_pfm():
    # filter 2 alone (GATAAG, one part): its unit is its trimmed PFM, no parts, no reading
    result = argminn_motifs(word_model(), planted(), annotate=False, min_sites=10)
    row = result.units.set_index("unit").loc["unit_2"]
    own = result.filters.set_index("filter").loc[2]
    assert (row["start"], row["end"]) == (own["start"], own["end"])
    assert (row["parts"], row["gaps"], row["reading"]) == ("", "", "")
    k = result.passing.index(2)
    np.testing.assert_allclose(
        result.unit_motifs[1].probabilities, result.motifs[k].probabilities, atol=1e-9
    )


def test_motifs_from_model_writes_the_unit_reading_and_its_parts_matches(tmp_path, capsys):
    import cislens.cli.motifs  # noqa: F401  (registers the subcommands)
    from cislens.cli import main
    from cislens.io.dataset import Dataset, save_dataset
    from cislens.models import save_model
    from cislens.pwm import write_meme

    X = composite_sequences().numpy()
    Y = np.ones((len(X), 1), dtype=np.float32)
    save_dataset(
        tmp_path / "data.h5",
        Dataset(X={"test": X}, Y={"test": Y}, task_names=["unit"], attrs={"random_state": 0}),
    )
    save_model(junction_model(), tmp_path / "model", task_names=["unit"])
    rng = np.random.default_rng(1)
    words = [PART_A, PART_B, *("".join(rng.choice(list("ACGT"), 8)) for _ in range(30))]
    write_meme(
        tmp_path / "db.meme",
        [
            Motif(name, one_hot_encode([word])[0].numpy() * 0.97 + 0.0075)
            for name, word in zip(["A", "B", *(f"r{i}" for i in range(30))], words, strict=True)
        ],
    )
    out = tmp_path / "out"
    args = ["motifs", "--from-model", str(tmp_path / "model"), "--data", str(tmp_path / "data.h5")]
    assert main([*args, "--database", str(tmp_path / "db.meme"), "--out", str(out)]) == 0
    capsys.readouterr()
    units = pd.read_csv(out / "units.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert units[["unit", "parts", "gaps", "length"]].values.tolist() == [
        ["unit_0", "0-8;13-21", "5", "21"]
    ]
    assert units.loc[0, "reading"].startswith(f"{PART_A} [A q ")
    assert f"+ {SPACER} bp + {PART_B} [B q " in units.loc[0, "reading"]
    matches = pd.read_csv(out / "unit_annotation.tsv", sep="\t").query("rank == 1")
    assert matches.set_index("pattern")["target_name"].to_dict() == {
        "unit_0:0-8": "A",
        "unit_0:13-21": "B",
    }


def test_the_pipeline_stage_writes_the_unit_reading_and_its_parts_jaspar_matches(tmp_path):
    from cislens.io import Dataset
    from cislens.pipeline._argminn import argminn_stage
    from cislens.pipeline.stages import Stages

    # jund_tead's planted unit: JUND's and TEAD1's consensus, 6 bp apart (JASPAR names them)
    jund, tead1 = "ATGACTCAT", "ACATTCCAG"
    # 200 sites: at 60, chance alone gives a spacer column 0.1 bit (the split's threshold)
    X = composite_sequences(200, part_a=jund, part_b=tead1, spacer=6).numpy()
    dataset = Dataset({"test": X}, {"test": np.ones((len(X), 1), np.float32)}, ["t0"])
    argminn_stage(
        Stages(tmp_path, resume=True),
        {"random_state": 0},
        junction_model(jund, tead1, 6),
        dataset,
        annotate=True,
        benchmark=False,
    )
    units = pd.read_csv(tmp_path / "argminn/units.csv", dtype=str, keep_default_na=False)
    assert units[["parts", "gaps", "consensus"]].values.tolist() == [
        ["0-9;15-24", "6", f"{jund}nnnnnn{tead1}"]
    ]
    matches = pd.read_csv(tmp_path / "argminn/unit_matches.csv").query("rank == 1")
    assert sorted(matches["pattern"]) == ["unit_0:0-9", "unit_0:15-24"]
    assert (matches["q_value"] < 0.05).all()
    best = matches.set_index("pattern")["target_name"]
    reading = units.loc[0, "reading"]
    assert reading.startswith(f"{jund} [{best['unit_0:0-9']} q ")
    assert f"] + 6 bp + {tead1} [{best['unit_0:15-24']} q " in reading
