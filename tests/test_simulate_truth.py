"""Ground truth: every recorded instance is there, nothing unrecorded matches, labels follow rules.

The checks re-derive everything from the dataset alone (motif matrices, background composition,
bin size and thresholds recorded in it) with plain NumPy, independently of the simulator's
numba scanner.
"""

import itertools

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from cislens.simulate import (
    ScanSpec,
    build_match_model,
    labels_from_instances,
    load_simulation_motifs,
    score_distribution,
    simulate,
    threshold_for_p_value,
)
from cislens.simulate.matching import integer_table


def binned_tables(dataset):
    """Per motif, the (+, -) binned log-odds tables, (4, W) each, from the dataset's records."""
    comp = np.array(dataset.attrs["background_composition"])
    size = dataset.attrs["score_bin_size"]
    out = {}
    for name, p in dataset.ground_truth.motifs.items():
        plus = np.rint(np.log2(p / comp[:, None]) / size).astype(int)
        minus = np.rint(np.log2(p[::-1, ::-1] / comp[:, None]) / size).astype(int)
        out[name] = (plus, minus)
    return out


def window_scores(tokens, table):
    width = table.shape[1]
    windows = sliding_window_view(tokens, width, axis=1)  # (N, L - W + 1, W)
    return table[windows, np.arange(width)].sum(-1)


def check_truth(dataset):
    """Assert the ground-truth contract; return the number of instances checked."""
    truth = dataset.ground_truth
    thresholds = dataset.attrs["match_thresholds"]
    size = dataset.attrs["score_bin_size"]
    tables = binned_tables(dataset)
    checked = 0
    for split in dataset.splits:
        X = dataset.X[split]
        assert ((X == 0) | (X == 1)).all() and (X.sum(axis=1) == 1).all()
        tokens = X.argmax(axis=1)
        table = truth.instances[truth.instances["split"] == split].reset_index(drop=True)
        # instances lie inside the sequence and never overlap
        assert ((table.start >= 0) & (table.end <= dataset.length)).all()
        for _, group in table.groupby("sequence"):
            spans = sorted(zip(group.start, group.end, strict=True))
            assert all(b <= c for (_, b), (c, _) in itertools.pairwise(spans))
        # every recorded instance is a strong match of its motif, on its strand
        for row in table.itertuples():
            plus, minus = tables[row.motif]
            own = plus if row.strand == "+" else minus
            score = own[tokens[row.sequence, row.start : row.end], np.arange(own.shape[1])].sum()
            bits = score * size
            assert bits >= thresholds[row.motif][row.strand] - 1e-9
            assert bits > 0 and abs(bits - row.score) < 1e-6
            checked += 1
        # no window matches a motif above threshold unless recorded instances of the same
        # motif cover at least half of it (instances never overlap, so overlaps add up)
        for name, (plus, minus) in tables.items():
            width = plus.shape[1]
            spans = {
                k: list(zip(g.start, g.end, strict=True))
                for k, g in table[table.motif == name].groupby("sequence")
            }
            for strand, own in (("+", plus), ("-", minus)):
                hits = np.argwhere(window_scores(tokens, own) * size >= thresholds[name][strand])
                for seq, pos in hits:
                    overlaps = [min(pos + width, e) - max(pos, s) for s, e in spans.get(seq, [])]
                    covered = sum(max(o, 0) for o in overlaps)
                    assert covered >= width / 2, (split, name, strand, seq, pos)
        # labels and relevance follow from the recorded instances by the rules
        result = labels_from_instances(table, truth.config, n_sequences=len(X))
        flips = dataset.attrs["label_flips"][split]
        changed = (result.labels != dataset.Y[split]).sum(axis=0)
        assert changed.tolist() == [flips[t] for t in dataset.task_names]
        for t, task in enumerate(dataset.task_names):
            assert (result.relevant[:, t] == table[f"relevant_{task}"].to_numpy()).all()
            positive = set(np.flatnonzero(result.labels[:, t]))
            assert set(table.sequence[table[f"relevant_{task}"]]) <= positive
    return checked


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
