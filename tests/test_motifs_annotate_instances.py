"""TOMTOM annotation against JASPAR, instance calling, first-layer filter motifs."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from cislens.motifs import annotate, call_instances, filter_motifs, instance_recovery
from cislens.motifs.aggregate import Pattern
from cislens.motifs.annotate import benjamini_hochberg
from cislens.motifs.database import jaspar_database, load_database
from cislens.pwm import Motif
from cislens.pwm.jaspar import load_jaspar_motif
from cislens.sequence import one_hot_encode

RELEASE = "JASPAR2024"


@pytest.fixture(scope="module")
def jaspar():
    return jaspar_database(release=RELEASE)


def pattern_from_motif(motif, name, flank=4, random_state=0):
    """A pattern as discovery would build it from 200 sites sampled from ``motif``."""
    rng = np.random.default_rng(random_state)
    sites = motif.sample(200, random_state=rng)
    pad = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (200, flank))].transpose(0, 2, 1)
    onehot = np.concatenate([pad, sites, pad], axis=2)
    hyp = np.concatenate(
        [
            np.zeros_like(pad),
            np.log2(motif.probabilities * 4)[None].repeat(200, 0),
            np.zeros_like(pad),
        ],
        axis=2,
    ).astype(np.float32)
    return Pattern(name, onehot.mean(0), (onehot * hyp).mean(0), hyp.mean(0), pd.DataFrame())


@pytest.mark.parametrize("tf", ["CTCF", "MAFK", "GATA1"])
def test_tomtom_finds_the_jaspar_motif_of_a_jaspar_derived_pattern(jaspar, tf):
    motif = load_jaspar_motif(tf, release=RELEASE)
    matches = annotate([pattern_from_motif(motif, f"p_{tf}")], database=jaspar)
    best = matches.iloc[0]
    assert best["rank"] == 1 and best["target_id"] == motif.matrix_id
    assert best["q_value"] < 0.05
    assert list(matches.columns)[:6] == [
        "pattern",
        "rank",
        "target_id",
        "target_name",
        "p_value",
        "q_value",
    ]


def test_reverse_complement_query_matches_on_minus_strand(jaspar):
    motif = load_jaspar_motif("CTCF", release=RELEASE)
    matches = annotate([motif.reverse_complement()], database=jaspar, n_matches=1)
    assert matches["target_id"].iloc[0] == motif.matrix_id


def test_database_specs(tmp_path):
    from cislens.pwm import write_meme

    motif = load_jaspar_motif("MAFK", release=RELEASE)
    path = write_meme(tmp_path / "db.meme", [motif, load_jaspar_motif("CTCF", release=RELEASE)])
    assert [m.name for m in load_database(str(path))] == ["MAFK", "CTCF"]
    with pytest.raises(FileNotFoundError, match="MEME"):
        load_database(str(tmp_path / "missing.meme"))
    with pytest.raises(TypeError, match="database"):
        load_database([1, 2])


def test_benjamini_hochberg_monotone():
    q = benjamini_hochberg([0.001, 0.2, 0.01, 0.5])
    assert q.tolist() == pytest.approx([0.004, 0.2667, 0.02, 0.5], abs=1e-3)


def planted_tracks(seed=0):
    rng = np.random.default_rng(seed)
    motif = "GATTACAGGC"
    site = np.array(["ACGT".index(c) for c in motif])
    n, length = 40, 80
    tokens = rng.integers(0, 4, (n, length))
    hyp = rng.normal(0, 0.02, (n, 4, length)).astype(np.float32)
    truth = []
    for i in range(n):
        for start, strand in ((10, "+"), (50, "-")) if i % 2 == 0 else ((30, "+"),):
            s = site if strand == "+" else 3 - site[::-1]
            tokens[i, start : start + 10] = s
            hyp[i, s, np.arange(start, start + 10)] += 1.0
            truth.append({"sequence": i, "motif": "m", "start": start, "end": start + 10})
    X = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()
    cwm = np.eye(4, dtype=np.float32)[site].T
    pattern = Pattern(
        "m",
        cwm,
        cwm,
        cwm,
        pd.DataFrame(),
        stats={"similarity_threshold": 0.8, "contribution_threshold": 5.0},
    )
    return X, hyp, pd.DataFrame(truth), pattern


def test_cwm_scanning_finds_planted_instances():
    X, H, truth, pattern = planted_tracks()
    hits = call_instances([pattern], X, H)
    assert set(hits["strand"]) == {"+", "-"}
    hits["motif"], hits["sequence"] = "m", hits["example"]
    scores = instance_recovery(hits, truth)
    assert scores["precision"].iloc[0] == 1.0 and scores["recall"].iloc[0] == 1.0
    # projected scores give the same hits as hypothetical ones
    again = call_instances([pattern], X, H * X)
    pd.testing.assert_frame_equal(hits.drop(columns=["motif", "sequence"]), again)
    with pytest.raises(ValueError, match="attributions"):
        call_instances([pattern], X)


def test_pwm_scanning_finds_planted_instances():
    X, _, truth, pattern = planted_tracks()
    motif = Motif.from_counts("m", pattern.sequence * 50, pseudocount=1.0)
    hits = call_instances([motif], X, method="pwm", p_threshold=1e-4)
    hits["motif"], hits["sequence"] = "m", hits["example"]
    scores = instance_recovery(hits, truth)
    assert scores["recall"].iloc[0] == 1.0 and scores["precision"].iloc[0] > 0.9
    assert hits["p_value"].max() < 1e-4


def test_filter_motifs_recovers_a_hand_set_filter():
    motif = "TGACTCA"
    weights = torch.tensor(np.eye(4, dtype=np.float32)[["ACGT".index(c) for c in motif]].T)
    conv = nn.Conv1d(4, 2, 7, padding=3)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[0] = weights
        conv.weight[1] = -1.0  # never positive: no sites
    model = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten())
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(30)]
    seqs = [s[:20] + motif + s[27:] if i % 3 == 0 else s for i, s in enumerate(seqs)]
    model.train()
    motifs = filter_motifs(model, one_hot_encode(seqs), threshold=0.9)
    assert model.training  # mode restored
    assert [m.name for m in motifs] == ["filter_0"]
    assert motifs[0].consensus == motif and motifs[0].counts[:, 0].sum() >= 10
    with pytest.raises(ValueError, match="Conv1d"):
        filter_motifs(nn.Sequential(nn.Flatten()), one_hot_encode(seqs))
