"""End-to-end discovery on planted motifs, noise-only inputs, degenerate inputs, aggregation."""

import warnings

import numpy as np
import pandas as pd
import pytest
from testkit import FAST, MOTIFS, planted

from cislens.errors import CislensWarning
from cislens.motifs import discover_motifs, pattern_similarity
from cislens.motifs.affinity import l1_tracks
from cislens.motifs.aggregate import SeqletSource, aggregate_seqlets, information_content


@pytest.fixture(scope="module")
def planted_result():
    X, H, truth = planted()
    return X, H, truth, discover_motifs(X, H, random_state=0, **FAST)


def consensus(pattern):
    start, end = pattern.trim_bounds()
    return "".join("ACGT"[i] for i in pattern.sequence[:, start:end].argmax(0))


def revcomp(text):
    return text[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_two_planted_motifs_recovered(planted_result):
    result = planted_result[3]
    assert len(result.patterns) == 2 and not result.rejected
    found = {consensus(p) for p in result.patterns}
    for motif in MOTIFS:
        assert any(motif in c or revcomp(motif) in c for c in found), (motif, found)
    for p in result.patterns:
        assert p.n_seqlets >= 100 and p.stats["significant"] and p.stats["p_adjusted"] < 1e-6
        assert p.stats["median_similarity"] > p.stats["null_q95"]
        assert np.allclose(p.sequence.sum(0), 1.0)
        np.testing.assert_allclose(p.contrib, (p.sequence * 0 + p.contrib))
    assert pattern_similarity(*result.patterns) < result.params["merge_threshold"]
    assert (result.seqlets["pattern"] != "").sum() == sum(p.n_seqlets for p in result.patterns)
    assert result.random_state == 0 and result.params["revcomp"] is True


def test_pattern_cwm_pfm_match_member_windows(planted_result):
    X, H, _, result = planted_result
    pattern = result.patterns[0]
    table = pattern.seqlets
    windows = []
    for row in table.itertuples():
        x, h = X[row.example, :, row.start : row.end], H[row.example, :, row.start : row.end]
        if row.strand == "-":
            x, h = x[::-1, ::-1], h[::-1, ::-1]
        windows.append((x, h))
    onehot = np.stack([w[0] for w in windows])
    hyp = np.stack([w[1] for w in windows])
    np.testing.assert_allclose(pattern.sequence, onehot.mean(0), atol=1e-6)
    np.testing.assert_allclose(pattern.contrib, (onehot * hyp).mean(0), atol=1e-5)
    np.testing.assert_allclose(pattern.hypothetical, hyp.mean(0), atol=1e-5)


def test_noise_only_input_reports_no_pattern():
    rng = np.random.default_rng(1)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (1200, 100))].transpose(0, 2, 1).copy()
    H = rng.normal(0, 1, X.shape).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CislensWarning)
        result = discover_motifs(X, H, random_state=0, min_cluster_size=10, **FAST)
    assert result.patterns == []
    assert result.rejected, "noise clusters should form and then fail the test"
    assert all(p.stats["median_similarity"] <= p.stats["null_q95"] for p in result.rejected)


def test_strand_specific_mode_keeps_strands_apart():
    X, H, _ = planted(n=240, motifs=("GATTACAGGC",), revcomp=True, seed=3)
    merged = discover_motifs(X, H, random_state=0, **FAST)
    split = discover_motifs(X, H, random_state=0, revcomp=False, **FAST)
    assert len(merged.patterns) == 1
    assert len(split.patterns) == 2
    assert all((p.seqlets["strand"] == "+").all() for p in split.patterns)
    found = {consensus(p) for p in split.patterns}
    assert any("GATTACAGGC" in c for c in found) and any(revcomp("GATTACAGGC") in c for c in found)


def test_degenerate_inputs_warn_clearly():
    X, H, _ = planted(n=30)
    with pytest.warns(CislensWarning, match="zero"):
        result = discover_motifs(X, np.zeros_like(H), random_state=0)
    assert result.patterns == [] and len(result.seqlets) == 0
    with pytest.warns(CislensWarning, match="fewer than min_cluster_size"):
        result = discover_motifs(X[:8], H[:8], random_state=0)
    assert result.patterns == []
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        discover_motifs(X.transpose(0, 2, 1), H.transpose(0, 2, 1))
    with pytest.raises(ValueError, match="shape of X"):
        discover_motifs(X, H[:, :, :50])
    with pytest.raises(ValueError, match="min_overlap"):
        discover_motifs(X, H, min_overlap=0)


def test_single_motif_gives_single_pattern():
    X, H, _ = planted(n=150, motifs=("CCGTTAACTT",), seed=4)
    result = discover_motifs(X, H, random_state=0, **FAST)
    assert len(result.patterns) == 1 and "single" not in result.summary()


def test_information_content_trimming():
    rng = np.random.default_rng(0)
    n, width = 60, 30
    tokens = rng.integers(0, 4, (n, width))
    tokens[:, 12:18] = [0, 1, 2, 3, 3, 0]
    X = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()
    H = X * 0.1
    H[:, :, 12:18] *= 10
    table = pd.DataFrame({"example": np.arange(n), "start": 0, "end": width, "score": 1.0})
    data = l1_tracks(H, X * H)
    pattern = aggregate_seqlets(SeqletSource(X, H), table, data, trim_width=8)
    assert pattern.width == 8
    assert "ACGTTA" in consensus(pattern) or "ACGTTA" in "".join(
        "ACGT"[i] for i in pattern.sequence.argmax(0)
    )
    ic = information_content(pattern.sequence)
    assert ic.max() > 1.9 and (ic > 1.9).sum() == 6
