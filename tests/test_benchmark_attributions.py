"""benchmark_attributions on hand-made attribution maps whose auROC / auPRC are known."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from cislens.benchmark import (
    benchmark_attributions,
    instance_mask,
    position_scores,
    score_sequences,
)
from cislens.io import AttributionSet

L = 20


def _onehot(n, length=L, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)


def _truth():
    # sequence 0: task a at [2, 6); sequence 1: task a at [10, 14); sequence 2: only a decoy
    # (relevant to task b) at [4, 8); sequence 3: nothing.
    return pd.DataFrame(
        {
            "sequence": [0, 1, 2],
            "split": ["test"] * 3,
            "motif": ["A", "A", "B"],
            "start": [2, 10, 4],
            "end": [6, 14, 8],
            "strand": ["+"] * 3,
            "relevant_a": [True, True, False],
            "relevant_b": [False, False, True],
        }
    )


def _set(X, track, method, target=0):
    """Attributions whose per-position signed score equals ``track`` (N, L)."""
    return AttributionSet(
        X=X,
        attributions=X * track[:, None, :],
        method=method,
        target=target,
        task_names=["a", "b"],
        example_index=np.arange(len(X)),
    )


def test_perfect_random_and_inverted_maps():
    X = _onehot(4)
    truth = _truth()
    labels = instance_mask(truth, np.arange(4), L, task="a")
    perfect = labels.astype(np.float32) + 0.01
    inverted = -perfect
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(4, L)).astype(np.float32)
    bench = benchmark_attributions(
        [_set(X, perfect, "perfect"), _set(X, inverted, "inverted"), _set(X, noise, "noise")],
        truth,
        timings={"perfect": 2.0},
    )
    s = bench.summary.set_index("method")
    assert s.loc["perfect", "auroc"] == pytest.approx(1.0)
    assert s.loc["perfect", "auprc"] == pytest.approx(1.0)
    assert s.loc["inverted", "auroc"] == pytest.approx(0.0)
    # the absolute score cannot tell the sign: the inverted map is perfect in absolute value
    assert s.loc["inverted", "auroc_abs"] == pytest.approx(1.0)
    expected = np.mean([roc_auc_score(labels[i], noise[i]) for i in (0, 1)])
    assert s.loc["noise", "auroc"] == pytest.approx(expected)
    expected_prc = np.mean([average_precision_score(labels[i], noise[i]) for i in (0, 1)])
    assert s.loc["noise", "auprc"] == pytest.approx(expected_prc)
    assert s.loc["perfect", "n_sequences"] == 2 and s.loc["perfect", "n_negatives"] == 2
    assert s.loc["perfect", "seconds_per_sequence"] == pytest.approx(0.5)
    assert np.isnan(s.loc["noise", "seconds_per_sequence"])
    assert bench.best == "perfect" and bench.headline == "signed"
    assert bench.summary["method"].iloc[0] == "perfect"
    assert len(bench.per_sequence) == 6


def test_known_partial_auroc_and_ci():
    # one positive sequence: truth positions 2..5 score [3, 1, 1, 1]; others 2 -> auROC known
    X = _onehot(2)
    track = np.full((2, L), 2.0, dtype=np.float32)
    track[0, 2:6] = [3, 1, 1, 1]
    track[1, 10:14] = 3.0
    bench = benchmark_attributions(_set(X, track, "m"), _truth())
    per = bench.per_sequence.sort_values("sequence")
    # 4 truth x 16 others: 3 > 2 (16 pairs), 1 < 2 (0): 16 / 64
    assert per["auroc"].tolist() == pytest.approx([0.25, 1.0])
    row = bench.summary.iloc[0]
    assert row["auroc"] == pytest.approx(0.625)
    assert row["auroc_median"] == pytest.approx(0.625)
    assert row["auroc_ci_low"] < 0.625 < row["auroc_ci_high"]


def test_snr_and_decoy_ratio():
    X = _onehot(4)
    track = np.ones((4, L), dtype=np.float32)
    track[0, 2:6] = 5.0
    track[1, 10:14] = 5.0
    track[2, 4:8] = 3.0  # decoy on a negative gets 3x the background
    bench = benchmark_attributions(_set(X, track, "m"), _truth())
    row = bench.summary.iloc[0]
    assert row["decoy_ratio"] == pytest.approx(3.0)
    assert np.isnan(row["snr"]) or row["snr"] > 0  # zero background variance -> NaN


def test_targets_by_name_and_rows_from_example_index():
    X = _onehot(2)
    track = np.zeros((2, L), dtype=np.float32)
    track[0, 4:8] = 1.0
    result = AttributionSet(
        X=X,
        attributions=X * track[:, None, :],
        method="m",
        target="b",
        example_index=np.array([2, 3]),
    )
    bench = benchmark_attributions(result, _truth())
    assert bench.summary.iloc[0]["auroc"] == pytest.approx(1.0)
    assert bench.per_sequence["sequence"].tolist() == [2]


def test_position_scores_project_on_the_observed_base():
    X = _onehot(3)
    gradient = np.random.default_rng(0).normal(size=X.shape).astype(np.float32)
    signed = position_scores(gradient, X)
    assert np.allclose(signed, (gradient * X).sum(1))
    assert np.allclose(position_scores(gradient, X, score="absolute"), np.abs(signed))
    with pytest.raises(ValueError, match="score must be"):
        position_scores(gradient, X, score="max")


def test_score_sequences_nan_for_one_class():
    table = score_sequences(np.ones((1, 4)), np.zeros((1, 4)))
    assert table["auroc"].isna().all()


def test_errors():
    X = _onehot(1)
    with pytest.raises(ValueError, match="empty"):
        benchmark_attributions([], _truth())
    no_target = AttributionSet(X=X, attributions=X, method="m")
    with pytest.raises(ValueError, match="no target"):
        benchmark_attributions(no_target, _truth())
    unknown = AttributionSet(X=X, attributions=X, method="m", target="zzz")
    with pytest.raises(ValueError, match="no ground truth for task 'zzz'"):
        benchmark_attributions(unknown, _truth())
