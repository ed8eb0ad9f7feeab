"""ARGMINN readout: strand-symmetric filters are aligned by agreement, and a filter the
predictions barely need is ``minor``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cislens.argminn import ARGMINN, argminn_motifs
from cislens.argminn.effect import filter_effects
from cislens.argminn.orientation import strand_symmetry
from cislens.argminn.status import filter_statuses
from cislens.sequence import one_hot_encode


def _planted(words, n=120, length=50, seed=3):
    """Random sequences, each with one of ``words`` at a random place."""
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()
    for i in range(n):
        word = words[i % len(words)]
        start = int(rng.integers(0, length - len(word)))
        X[i, :, start : start + len(word)] = one_hot_encode([word])[0].numpy()
    return torch.from_numpy(np.ascontiguousarray(X))


def _scanner_model(rows):
    """Two-filter, 8 bp ARGMINN whose filters are the given (4, 8) weights and biases."""
    model = ARGMINN(n_tasks=1, n_filters=2, filter_width=8, random_state=0)
    with torch.no_grad():
        model.scanner.weight.zero_()
        for k, (weight, bias) in enumerate(rows):
            model.scanner.weight[k] = torch.as_tensor(weight, dtype=torch.float32)
            model.scanner.bias[k] = bias
    return model.eval()


def _columns(word, offset=1, width=8):
    weight = np.zeros((4, width))
    for j, base in enumerate(word):
        for b in base:  # a set of bases: each scores 2 / len(set)
            weight["ACGT".index(b), offset + j] = 2.0
    return weight


def test_a_strand_symmetric_filter_gets_one_orientation_and_an_asymmetric_one_keeps_its_own():
    # filter 0 reads CA[CG][CG]TG: its own reverse complement, so it scores CAGGTG and its
    # reverse complement CACCTG alike on both strands (the nrf1_zeb1 ZEB1 filter's shape);
    # filter 1 reads GATAAG on one strand only.
    symmetric = (_columns(["C", "A", "CG", "CG", "T", "G"]), -11.0)
    asymmetric = (_columns("GATAAG"), -11.0)
    model = _scanner_model([symmetric, asymmetric])
    X = _planted(["CAGGTG", "CACCTG", "GATAAG", "CTTATC"])
    result = argminn_motifs(model, X, annotate=False, min_sites=10, min_influence=0)
    table = result.filters.set_index("filter")
    assert table.loc[0, "strand_symmetry"] > 0.8 > table.loc[1, "strand_symmetry"]
    assert "strand-symmetric" in table.loc[0, "reason"]  # the readout says so
    assert "strand-symmetric" not in table.loc[1, "reason"]
    core = result.pfms[0][:, 1:7]
    # one orientation for all windows: every core column is one base (the winning strand
    # alone would mix CAGGTG and CACCTG into 50/50 columns 3 and 4)
    assert core.max(0).min() > 0.95
    assert "".join("ACGT"[i] for i in core.argmax(0)) in {"CAGGTG", "CACCTG"}
    asym = result.pfms[1][:, 1:7]
    assert "".join("ACGT"[i] for i in asym.argmax(0)) == "GATAAG"


def test_strand_symmetry_is_the_best_shift_median_ratio():
    winning = np.array([1.0, 2.0, 4.0])
    other = np.array([[0.0, 1.0], [0.0, 1.0], [4.0, 0.0]])  # the other strand one shift away
    assert strand_symmetry(winning, other) == 0.5  # median of (1, 0.5, 0) at shift 1
    assert np.isnan(strand_symmetry(np.zeros(0), np.zeros((0, 3))))


def _manual_effect(model, X, k):
    with torch.no_grad():
        base = model(X).numpy()
        ablated = _scanner_copy(model)
        ablated.scanner.weight[k] = 0.0
        ablated.scanner.bias[k] = -1.0
        return float(np.abs(ablated(X).numpy() - base).mean())


def _scanner_copy(model):
    import copy

    return copy.deepcopy(model).eval()


def test_filter_effects_are_ablation_changes_relative_to_the_largest():
    model = ARGMINN(n_tasks=2, n_filters=3, filter_width=6, random_state=1).eval()
    F = model.hparams["n_filters"]
    with torch.no_grad():  # filter 2 does not reach the tokens: removing it changes nothing
        model.tokenize.weight[:, [2, F + 2]] = 0.0
    X = _planted(["GATAAG", "CACGTG"], n=40, length=30)
    effects = filter_effects(model, X, [0, 1, 2], batch_size=7)
    manual = np.array([_manual_effect(model, X, k) for k in range(3)])
    np.testing.assert_allclose(effects, manual / manual.max(), rtol=1e-4, atol=1e-6)
    assert effects[2] == 0.0 and effects.max() == 1.0
    assert filter_effects(model, X, [1])[0] == 0.0  # filters not asked for: 0
    with torch.no_grad():  # no filter reaches the output: relative effect undefined
        model.tokenize.weight[:, : 2 * F] = 0.0
    assert np.isnan(filter_effects(model, X, [0, 1])).all()


def test_a_filter_the_predictions_barely_need_is_minor_unless_not_measured():
    rows = pd.DataFrame(
        {
            "filter": [0, 1, 2],
            "n_sites": [100, 100, 100],
            "max_activation": [1.0, 1.0, 1.0],
            "length": [6, 6, 6],
            "mean_ic": [1.5, 1.5, 1.5],
            "influence": [1.0, 0.5, 0.4],
            "effect": [1.0, 0.05, np.nan],
            "weight_mass": [5.0, 5.0, 5.0],
        }
    )
    params = {
        "min_sites": 20,
        "min_length": 5,
        "min_mean_ic": 1.0,
        "min_influence": 0.1,
        "min_effect": 0.1,
        "n_sequences": 10,
    }
    status, reason = filter_statuses(rows, np.zeros((3, 3)), params)
    assert status == ["passing", "minor", "passing"]
    assert "0.050" in reason[1] and "min_effect 0.1" in reason[1]
    status, _ = filter_statuses(rows, np.zeros((3, 3)), {**params, "min_effect": 0.0})
    assert status == ["passing", "passing", "passing"]
