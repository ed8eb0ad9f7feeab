"""TOMTOM annotation does not call noise a motif, and still names true motifs (issue 21, item 5).

Before the calibration, 32 of 32 filters of an untrained LabCNN on random DNA and 143 of 200
random PWMs got a match with q < 0.05 (mostly the long CTCF profiles MA1929.2 / MA1930.2, whose
flat spacer is close to any weak query column).
"""

import numpy as np
import pytest

from cislens.models import Basset, LabCNN
from cislens.motifs import annotate, filter_motifs
from cislens.motifs.annotate import informative_segments
from cislens.motifs.database import load_database
from cislens.pwm import Motif
from cislens.pwm.jaspar import load_jaspar_motif

Q = 0.05
LAB3 = ("CTCF", "ARID3A", "MAFK")
NO_GATE = dict(min_bits=0.0, min_strong_columns=0)


@pytest.fixture(scope="module")
def jaspar():
    return load_database(None)


def _random_dna(n, length, seed):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)


def _significant(matches):
    return matches[matches["q_value"] < Q]


@pytest.mark.parametrize("gate", [True, False], ids=["gated", "null-only"])
def test_untrained_labcnn_on_random_dna_has_no_significant_filter(jaspar, gate):
    motifs = filter_motifs(LabCNN(3, 200, random_state=0), _random_dna(500, 200, 0), device="cpu")
    assert len(motifs) == 32
    matches = annotate(motifs, database=jaspar, n_matches=1, **({} if gate else NO_GATE))
    assert _significant(matches).empty, _significant(matches)
    if gate:
        # Too little information: each filter gets one row that says so instead of a match.
        assert matches["note"].str.startswith("too little information").all()


@pytest.mark.parametrize("gate", [True, False], ids=["gated", "null-only"])
def test_untrained_basset_on_random_dna_has_no_significant_filter(jaspar, gate):
    model = Basset(3, 600, random_state=0)
    motifs = filter_motifs(model, _random_dna(200, 600, 1), device="cpu")
    assert len(motifs) == 300
    matches = annotate(motifs, database=jaspar, n_matches=1, **({} if gate else NO_GATE))
    assert _significant(matches).empty, _significant(matches)


@pytest.mark.parametrize("gate", [True, False], ids=["gated", "null-only"])
def test_random_pwms_have_no_significant_match(jaspar, gate):
    rng = np.random.default_rng(21)
    widths = rng.integers(6, 21, size=200)
    pwms = [Motif(f"random_{i}", rng.dirichlet(np.ones(4), size=w).T) for i, w in enumerate(widths)]
    matches = annotate(pwms, database=jaspar, n_matches=1, **({} if gate else NO_GATE))
    assert matches["pattern"].nunique() == 200
    assert _significant(matches).empty, _significant(matches)


def test_column_shuffled_true_motifs_have_no_significant_match(jaspar):
    rng = np.random.default_rng(5)
    shuffled = []
    for name in LAB3:
        pfm = np.asarray(load_jaspar_motif(name).probabilities)
        shuffled += [
            Motif(f"{name}_shuffled_{k}", pfm[:, rng.permutation(pfm.shape[1])]) for k in range(5)
        ]
    matches = annotate(shuffled, database=jaspar, n_matches=1)
    assert _significant(matches).empty, _significant(matches)


def test_lab3_motifs_and_noisy_versions_keep_their_names(jaspar):
    queries, expected = [], []
    for name in LAB3:
        motif = load_jaspar_motif(name)
        pfm = np.asarray(motif.probabilities)
        queries.append(Motif(name, pfm))
        # Mild noise: 10 % uniform mixed in, and PFMs of 20 sampled sites (a small seqlet set).
        queries.append(Motif(f"{name}_mixed", 0.9 * pfm + 0.025))
        for seed in range(3):
            sites = np.asarray(motif.sample(20, random_state=seed)).sum(axis=0)
            queries.append(Motif.from_counts(f"{name}_sites{seed}", sites, pseudocount=0.5))
        expected += [name] * 5
    matches = annotate(queries, database=jaspar, n_matches=1)
    assert matches["note"].eq("").all(), matches
    assert (matches["q_value"] < Q).all(), matches
    assert matches["target_name"].str.upper().tolist() == expected


def test_long_ctcf_profiles_are_cut_at_their_flat_spacer(jaspar):
    by_id = {m.matrix_id: m for m in jaspar}
    for matrix_id in ("MA1929.2", "MA1930.2"):
        segments = informative_segments(np.asarray(by_id[matrix_id].probabilities))
        assert len(segments) >= 2, (matrix_id, segments)
    core = informative_segments(np.asarray(by_id["MA0139.2"].probabilities))
    assert len(core) == 1 and core[0][1] - core[0][0] >= 12


def test_a_flat_query_is_reported_not_dropped(jaspar):
    flat = Motif("flat", np.full((4, 15), 0.25))
    ctcf = load_jaspar_motif("CTCF")
    matches = annotate([flat, ctcf], database=jaspar, n_matches=2)
    assert matches["pattern"].tolist() == ["flat", "CTCF", "CTCF"]
    first = matches.iloc[0]
    assert first["target_name"] == "" and np.isnan(first["q_value"])
    assert "too little information" in first["note"]


# The trimmed PFMs of the three patterns `cislens demo` (lab3, full size, deeplift_shap,
# random_state 0) discovered on 2026-12-05, rounded to 2 decimals: the demo's annotation
# without its 100 s of training.
DEMO_PATTERNS = {
    "ARID3A": [
        [0.14, 0.0, 0.0, 0.8, 1.0, 0.01],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.2, 0.0, 0.0],
        [0.86, 1.0, 1.0, 0.0, 0.0, 0.99],
    ],
    "CTCF": [
        [0.03, 0.01, 0.83, 0.06, 0.11, 0.98, 0.01, 0.35, 0.02, 0.01, 0.04, 0.09, 0.31],
        [0.93, 0.98, 0.01, 0.6, 0.48, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.85, 0.01],
        [0.01, 0.0, 0.08, 0.35, 0.05, 0.01, 0.98, 0.64, 0.59, 0.99, 0.88, 0.0, 0.66],
        [0.02, 0.0, 0.08, 0.0, 0.36, 0.01, 0.01, 0.01, 0.38, 0.0, 0.08, 0.06, 0.02],
    ],
    "MAFK": [
        [0.01, 0.06, 0.0, 0.0, 0.96, 0.05, 0.02, 0.01, 0.93, 0.06],
        [0.07, 0.91, 0.01, 0.01, 0.01, 0.08, 0.03, 0.96, 0.01, 0.15],
        [0.91, 0.01, 0.0, 0.98, 0.0, 0.87, 0.01, 0.01, 0.02, 0.55],
        [0.01, 0.01, 0.99, 0.01, 0.03, 0.0, 0.93, 0.01, 0.04, 0.24],
    ],
}


def test_the_demo_patterns_keep_their_names(jaspar):
    queries = []
    for name, rows in DEMO_PATTERNS.items():
        pfm = np.asarray(rows) + 1e-3
        queries.append(Motif(name, pfm / pfm.sum(axis=0)))
    matches = annotate(queries, database=jaspar, n_matches=1)
    assert (matches["q_value"] < Q).all(), matches
    assert matches["target_name"].str.upper().tolist() == list(DEMO_PATTERNS)
