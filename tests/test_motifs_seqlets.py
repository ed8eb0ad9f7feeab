"""Seqlet extraction on planted tracks and degenerate inputs."""

import numpy as np
import pytest

from cislens.motifs import extract_seqlets
from cislens.motifs.seqlets import laplace_null


def planted_scores(n=50, length=120, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.normal(0, 0.05, (n, length))
    starts = rng.integers(20, length - 30, n)
    for i, s in enumerate(starts):
        scores[i, s : s + 8] += 1.0 if i % 2 == 0 else -1.0
    return scores, starts


def test_planted_seqlets_found_with_sign_and_flanks():
    scores, starts = planted_scores()
    calls = extract_seqlets(scores, window_size=8, flank=4)
    table = calls.table
    assert list(table.columns) == ["example", "start", "end", "strand", "score", "metacluster"]
    assert ((table["end"] - table["start"]) == 16).all()
    best = table.loc[table.groupby("example")["score"].apply(lambda s: s.abs().idxmax())]
    assert len(best) == 50
    np.testing.assert_array_equal(best["start"].to_numpy() + 4, starts[best["example"]])
    expected = np.where(best["example"] % 2 == 0, "pos", "neg")
    assert (best["metacluster"].to_numpy() == expected).all()
    # non-overlapping cores within a sequence
    for _, group in table.groupby("example"):
        centers = np.sort(group["start"].to_numpy())
        assert (np.diff(centers) > 8).all()


def test_three_dimensional_input_and_flank_zero():
    scores, _ = planted_scores(n=10)
    onehot_like = np.zeros((10, 4, scores.shape[1]))
    onehot_like[:, 2] = scores
    a = extract_seqlets(onehot_like, window_size=8, flank=0).table
    assert len(a) >= 10 and ((a["end"] - a["start"]) == 8).all()


def test_degenerate_inputs():
    zero = extract_seqlets(np.zeros((4, 50)))
    assert len(zero) == 0 and "example" in zero.table.columns
    with pytest.raises(ValueError, match="shorter than a seqlet"):
        extract_seqlets(np.ones((2, 30)))
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        extract_seqlets(np.ones((2, 30, 5)))
    with pytest.raises(ValueError, match="NaN"):
        extract_seqlets(np.full((2, 60), np.nan))


def test_laplace_null_matches_scale():
    rng = np.random.default_rng(0)
    values = rng.laplace(0, 2.0, 50_000)
    null = laplace_null(values, random_state=0)
    assert np.median(np.abs(null)) == pytest.approx(2.0 * np.log(2), rel=0.15)
