"""The helpers of ``benchmarks/motif_separability.py`` and ``benchmarks/train_probe.py
--plant`` (issue #21 item 2: why LabCNN misses HNF4A and REST on celltypes5)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

separability = pytest.importorskip("motif_separability")
train_probe = pytest.importorskip("train_probe")

from cislens.models import LabCNN  # noqa: E402
from cislens.pwm import Motif  # noqa: E402
from cislens.simulate import simulate  # noqa: E402
from cislens.simulate.config import ScanSpec  # noqa: E402
from cislens.simulate.matching import build_match_model  # noqa: E402

PROBS = np.array(
    [
        [0.9, 0.05, 0.05, 0.7, 0.1, 0.1],
        [0.04, 0.85, 0.05, 0.1, 0.1, 0.8],
        [0.03, 0.05, 0.85, 0.1, 0.7, 0.05],
        [0.03, 0.05, 0.05, 0.1, 0.1, 0.05],
    ]
)


def _match():
    composition = np.array([0.3, 0.2, 0.2, 0.3])
    return build_match_model({"M": Motif("M", PROBS)}, composition, ScanSpec(p_value=1e-2))


def test_best_scores_are_the_best_binned_window_on_either_strand():
    match = _match()
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, (5, 40))
    X = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()
    got = separability.best_scores(X, match, 0, batch=2)
    windows = np.lib.stride_tricks.sliding_window_view(tokens, 6, axis=1)  # (5, 35, 6)
    expected = np.full(5, -np.inf)
    for strand in (0, 1):
        scores = match.score_tokens(windows.reshape(-1, 6), 0, strand).reshape(5, -1)
        expected = np.maximum(expected, scores.max(axis=1))
    np.testing.assert_allclose(got, expected * match.bin_size, rtol=0, atol=1e-6)


def test_near_windows_counts_every_window_and_the_threshold_p_values():
    match = _match()
    assert separability.near_windows(match, 0, -1e9, 100) == pytest.approx(2 * 95)
    at_threshold = separability.near_windows(match, 0, match.threshold_bits(0, 0), 100)
    # both strands share the threshold here only when the motif's two tables give it
    expected = sum(match.p_values[0]) * 95
    if match.thresholds[0, 0] == match.thresholds[0, 1]:
        assert at_threshold == pytest.approx(expected)
    assert at_threshold < separability.near_windows(match, 0, match.threshold_bits(0, 0) - 2, 100)


def test_motif_rows_separate_planted_motifs_on_a_small_preset():
    data = simulate("lab3", n=120, random_state=0)
    rows, best = separability.motif_rows(data, "test")
    assert {r["motif"] for r in rows} == set(data.ground_truth.motifs)
    for row in rows:
        # the simulator keeps no unrecorded match: the planted instances score above every
        # sequence without one, so the PWM max separates presence exactly
        assert row["planted_p05"] >= row["threshold_bits"] - 1e-9
        assert row["absent_max"] < row["threshold_bits"]
        assert row["auroc_pwm_max"] == pytest.approx(1.0)
        assert len(best[row["motif"]]) == len(data.X["test"])


def test_plant_motifs_sets_the_log_odds_and_the_reverse_complement():
    model = LabCNN(1, 300, pool_sizes=[4, 64], random_state=0)
    truth = SimpleNamespace(motifs={"M": PROBS})

    composition = np.array([0.3, 0.2, 0.2, 0.3])
    before = model.conv1.weight[2:].clone()
    train_probe.plant_motifs(model, truth, ["M"], composition)
    forward = model.conv1.weight[0]
    log_odds = torch.from_numpy(np.log(PROBS / composition[:, None])).float()
    left = (19 - 6) // 2
    torch.testing.assert_close(forward[:, left : left + 6], log_odds)
    assert torch.all(forward[:, :left] == 0) and torch.all(forward[:, left + 6 :] == 0)
    # the reverse complement (a symmetric composition): bases ACGT -> TGCA, columns reversed
    reverse = model.conv1.weight[1]
    torch.testing.assert_close(reverse[:, left : left + 6], log_odds.flip(0, 1))
    assert torch.all(reverse[:, :left] == 0) and torch.all(reverse[:, left + 6 :] == 0)
    torch.testing.assert_close(model.conv1.weight[2:], before)
