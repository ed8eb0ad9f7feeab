"""GIA statistics and null backgrounds: values checked against scipy and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from cislens.gia import (
    benjamini_hochberg,
    bootstrap_ci,
    null_backgrounds,
    standardized_effect,
    wilcoxon_p,
)
from cislens.sequence import one_hot_encode


def test_bootstrap_ci_covers_the_mean_and_is_seeded():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 2.0, size=(400, 3))
    low, high = bootstrap_ci(values, random_state=1)
    assert low.shape == high.shape == (3,)
    half = 1.96 * values.std(axis=0, ddof=1) / np.sqrt(400)  # normal-theory half-width
    np.testing.assert_allclose(high - low, 2 * half, rtol=0.15)
    assert ((low < values.mean(0)) & (values.mean(0) < high)).all()
    again = bootstrap_ci(values, random_state=1)
    np.testing.assert_array_equal(low, again[0])
    with pytest.raises(ValueError, match="confidence must be in"):
        bootstrap_ci(values, confidence=95)


def test_wilcoxon_matches_scipy_and_handles_zeros():
    rng = np.random.default_rng(1)
    values = rng.normal(0.3, 1.0, size=(50, 2))
    values[:, 1] = 0.0
    p = wilcoxon_p(values)
    assert p[0] == pytest.approx(stats.wilcoxon(values[:, 0]).pvalue)
    assert p[1] == 1.0


def test_standardized_effect_and_bh():
    assert standardized_effect(np.array([[1.0, 0.0], [3.0, 0.0]])).tolist() == [
        pytest.approx(2 / np.sqrt(2)),
        0.0,
    ]
    p = np.array([0.001, 0.01, 0.02, 0.8])
    expected = stats.false_discovery_control(p, method="bh")
    np.testing.assert_allclose(benjamini_hochberg(p), expected)


def test_profile_null_reproduces_position_frequencies():
    X = one_hot_encode(["ACGTAC", "ACGTAA", "ACGTAG", "ACGTAT"])
    bg = null_backgrounds("profile", X, n=2000, random_state=0)
    assert bg.shape == (2000, 4, 6)
    frequencies = bg.mean(0)
    np.testing.assert_allclose(frequencies[:, :5], X[0, :, :5].numpy())
    np.testing.assert_allclose(frequencies[:, 5], [0.25] * 4, atol=0.04)


@pytest.mark.parametrize("kind", ["shuffle", "dinucleotide_shuffle"])
def test_shuffle_nulls_keep_composition(kind):
    X = one_hot_encode(["AACCGGTTAC", "GGGGCCCCAT", "ATATATATCG"])
    bg = null_backgrounds(kind, X, n=7, random_state=0)  # more than len(X): several shuffles
    assert bg.shape == (7, 4, 10)
    compositions = {tuple(x.sum(1).int().tolist()) for x in X}
    assert all(tuple(b.sum(1).int().tolist()) in compositions for b in bg)
    assert torch.equal(bg, null_backgrounds(kind, X, n=7, random_state=0))


def test_random_and_negative_nulls():
    bg = null_backgrounds("random", n=500, length=40, gc=0.2, random_state=0)
    assert float(bg[:, 1:3].sum() / bg.sum()) == pytest.approx(0.2, abs=0.02)
    X = null_backgrounds("random", n=40, length=12, random_state=1)

    class CountG(torch.nn.Module):
        def forward(self, x):
            return x[:, 2].sum(1, keepdim=True)

    low = null_backgrounds("negatives", X, n=10, model=CountG(), random_state=0)
    scores = X[:, 2].sum(1)
    assert low[:, 2].sum(1).max() <= torch.quantile(scores, 0.25)
    with pytest.raises(ValueError, match="gc must be"):
        null_backgrounds("random", n=2, length=5, gc=1.5)
