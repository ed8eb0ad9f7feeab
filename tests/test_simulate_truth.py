"""Ground truth: every recorded instance is there, nothing unrecorded matches, labels follow rules.

The checks re-derive everything from the dataset alone (motif matrices, background composition,
bin size and thresholds recorded in it) with plain NumPy, independently of the simulator's
numba scanner.
"""

import itertools

import numpy as np
import pytest
from testkit import check_truth, window_scores

from cislens.simulate import (
    ScanSpec,
    build_match_model,
    load_simulation_motifs,
    score_distribution,
    simulate,
    threshold_for_p_value,
)
from cislens.simulate.matching import integer_table


@pytest.mark.parametrize(
    ("preset", "n"),
    [
        ("lab3", 1500),
        ("celltypes5", 400),
        ("spi1", 400),
        ("tal_gata", 400),
        ("e2f6_max", 400),
        ("jund_tead", 400),
        ("rest", 400),
        ("spi1_ctcf", 400),
    ],
)
def test_presets_have_complete_and_correct_truth(preset, n):
    dataset = simulate(preset, n=n, random_state=11)
    assert check_truth(dataset) > n / 4


def test_truth_holds_for_other_backgrounds_and_label_noise(tmp_path):
    source = tmp_path / "src.txt"
    rng = np.random.default_rng(0)
    source.write_text("\n".join("".join(rng.choice(list("AACGTT"), 400)) for _ in range(20)))
    base = {
        "length": 150,
        "splits": {"train": 300, "test": 100},
        "motifs": {"AP1": "MA0491.3", "SP": "consensus:GGGGCGGGGC", "TEAD": "MA0090.4"},
        "label_noise": 0.2,
        "tasks": [
            {"name": "k2", "rule": {"at_least": 2, "of": ["AP1", "SP", "TEAD"]}},
            {
                "name": "helix",
                "rule": {
                    "pair": ["AP1", "TEAD"],
                    "spacing": {"period": 10.5, "min": 0, "max": 32},
                    "orientation": "convergent",
                },
                "decoy_fraction": 0.5,
            },
        ],
        "distractors": [{"motif": "SP", "count": [0, 2]}],
    }
    for background in (
        "human",
        {"kind": "iid", "gc": 0.35},
        {"kind": "markov", "order": 3, "sequences": str(source)},
        {"kind": "shuffle", "sequences": str(source)},
    ):
        dataset = simulate({**base, "background": background}, random_state=5)
        check_truth(dataset)
        flipped = sum(sum(f.values()) for f in dataset.attrs["label_flips"].values())
        assert 0.1 < flipped / (400 * 2) < 0.3


def test_same_seed_same_data_and_different_seed_different_data():
    a = simulate("jund_tead", n=200, random_state=3)
    b = simulate("jund_tead", n=200, random_state=3)
    c = simulate("jund_tead", n=200, random_state=4)
    for split in a.splits:
        assert np.array_equal(a.X[split], b.X[split]) and np.array_equal(a.Y[split], b.Y[split])
    assert a.ground_truth.instances.equals(b.ground_truth.instances)
    assert a.attrs == b.attrs and a.attrs["random_state"] == 3
    assert not np.array_equal(a.X["train"], c.X["train"])
    assert not a.ground_truth.instances.equals(c.ground_truth.instances)
    generator = simulate("jund_tead", n=50, random_state=np.random.default_rng(0))
    assert isinstance(generator.attrs["random_state"], int)


def test_dataset_records_what_made_it():
    dataset = simulate("rest", n=60, random_state=2)
    attrs = dataset.attrs
    assert attrs["random_state"] == 2 and attrs["preset"] == "rest"
    assert attrs["cislens_version"] and attrs["simulator"] == "cislens.simulate"
    assert dataset.ground_truth.config == attrs["config"]
    assert (
        attrs["motif_sources"]["REST_left"]
        == "MA0138.3 (" + attrs["jaspar_release"] + ") columns [0, 9]"
    )
    assert dataset.ground_truth.motifs["REST_left"].shape == (4, 9)
    assert set(dataset.ground_truth.instances.role) <= {"rule", "decoy", "background"}


def test_score_distribution_is_exact():
    rng = np.random.default_rng(0)
    table = rng.integers(-20, 20, size=(4, 4))
    comp = np.array([0.1, 0.2, 0.3, 0.4])
    low, pmf = score_distribution(table, comp)
    assert np.isclose(pmf.sum(), 1)
    brute = {}
    for word in itertools.product(range(4), repeat=4):
        score = sum(table[b, j] for j, b in enumerate(word))
        brute[score] = brute.get(score, 0) + np.prod(comp[list(word)])
    for score, p in brute.items():
        assert np.isclose(pmf[score - low], p)
    t, p_t = threshold_for_p_value(table, comp, 0.05)
    assert np.isclose(p_t, sum(p for s, p in brute.items() if s >= t)) and p_t < 0.05
    assert sum(p for s, p in brute.items() if s >= max(s for s in brute if s < t)) >= 0.05


def test_scanner_agrees_with_brute_force():
    motifs = load_simulation_motifs("celltypes5")
    comp = np.array([0.3, 0.2, 0.2, 0.3])
    match = build_match_model(motifs, comp, ScanSpec(p_value=1e-3))
    tokens = np.random.default_rng(0).integers(0, 4, size=(300, 300)).astype(np.uint8)
    row, pos, motif, strand, score = match.scan(tokens)
    found = set(zip(row, pos, motif, strand, score, strict=True))
    expected = set()
    for m, motif_obj in enumerate(motifs.values()):
        for s, oriented in enumerate((motif_obj, motif_obj.reverse_complement())):
            table = integer_table(oriented.log_odds(comp), 0.1)
            scores = window_scores(tokens, table)
            for r, p in np.argwhere(scores >= match.thresholds[m, s]):
                expected.add((r, p, m, s, scores[r, p]))
    assert found == expected and len(found) > 100
    # an N (token 4) can be part of no match
    with_n = tokens.copy()
    with_n[:, ::25] = 4
    row_n, pos_n, motif_n, *_ = match.scan(with_n)
    for r, p, m in zip(row_n, pos_n, motif_n, strict=True):
        assert (with_n[r, p : p + match.widths[m]] < 4).all()
    assert 0 < len(row_n) < len(row)
    # segments: only windows overlapping [lo, hi) of the given rows
    row2, pos2, motif2, *_ = match.scan(
        tokens, np.array([5]), lo=np.array([100]), hi=np.array([140])
    )
    widths = match.widths[motif2]
    assert (row2 == 5).all() and ((pos2 + widths > 100) & (pos2 < 140)).all()
    assert len(row2) == sum(
        1 for r, p, m, *_ in found if r == 5 and p + match.widths[m] > 100 and p < 140
    )
