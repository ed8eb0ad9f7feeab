"""Integrated gradients: captum agreement, closed forms, completeness, quadratures, references."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest
import torch
from testkit import (
    SmallConv,
    SmoothConv,
    float64_copy,
    random_one_hot,
    single_thread,  # noqa: F401 (autouse fixture)
    small_labcnn,
)
from torch import nn

from cislens.attribution import integrated_gradients, integrated_gradients_completeness
from cislens.attribution.integrated_gradients import QUADRATURES, quadrature_rule
from cislens.shuffle import frequency_references

F64 = torch.float64


def captum_ig(model, X, target, baselines, n_steps, method):
    attr = pytest.importorskip("captum.attr")
    ig = attr.IntegratedGradients(float64_copy(model))
    out = ig.attribute(
        X.double(), baselines=baselines.double(), target=target, n_steps=n_steps, method=method
    )
    if method == "riemann_trapezoid":  # captum's trapezoid weights sum to (n - 1) / n
        out = out * n_steps / (n_steps - 1)
    return out


@pytest.mark.parametrize("quadrature", QUADRATURES)
@pytest.mark.parametrize("make_model", [SmallConv, small_labcnn])
def test_agrees_with_captum_zero_baseline(quadrature, make_model):
    model = make_model() if make_model is SmallConv else make_model(length=60)
    length = 24 if make_model is SmallConv else 60
    X = random_one_hot(3, length, 11, n_columns=2)
    ours = integrated_gradients(model, X, target=1, n_steps=12, quadrature=quadrature, dtype=F64)
    theirs = captum_ig(model, X, 1, torch.zeros_like(X), 12, quadrature)
    torch.testing.assert_close(ours.double(), theirs, rtol=1e-5, atol=1e-7)


def test_non_one_hot_reference_matches_captum_per_position():
    """Projected IG at a one-hot column = captum's raw IG summed over the four channels."""
    model = SmallConv()
    X = random_one_hot(3, 24, 12)
    refs = frequency_references(X)[:, 0]
    ours = integrated_gradients(model, X, target=0, baselines="frequencies", n_steps=16, dtype=F64)
    theirs = captum_ig(model, X, 0, refs, 16, "gausslegendre")
    torch.testing.assert_close(ours.double().sum(1), theirs.sum(1), rtol=1e-5, atol=1e-7)
    assert (ours[X == 0] == 0).all()  # projected: only the observed base carries a score


def test_hypothetical_one_hot_reference():
    """With a one-hot reference (base s), H[k] = gbar[k] - gbar[s]; projected = H * X."""
    model = SmallConv()
    X = random_one_hot(2, 24, 13)
    R = random_one_hot(2, 24, 14)
    H = integrated_gradients(
        model, X, target=2, baselines=R[:, None], n_steps=8, hypothetical=True, dtype=F64
    )
    projected = integrated_gradients(model, X, target=2, baselines=R[:, None], n_steps=8, dtype=F64)
    torch.testing.assert_close(projected, H * X)
    raw = captum_ig(model, X, 2, R, 8, "gausslegendre")  # (x - r) * gbar
    torch.testing.assert_close(H.double().mul(X.double()).sum(1), raw.sum(1), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(H.double().mul(R.double()).sum(1), torch.zeros(2, 24, dtype=F64))


@pytest.mark.parametrize(
    ("n_steps", "quadrature"),
    [(n, q) for n in (1, 2, 7) for q in QUADRATURES if (n, q) != (1, "riemann_trapezoid")],
)
def test_linear_model_is_exact_for_any_n_steps(n_steps, quadrature):
    net = nn.Sequential(nn.Flatten(), nn.Linear(4 * 9, 2)).double()
    w = net[1].weight.detach()[0].view(1, 4, 9)
    X = random_one_hot(3, 9, 1, n_columns=1).double()
    # Zeros: IG = w * x, elementwise.
    out = integrated_gradients(net, X, target=0, n_steps=n_steps, quadrature=quadrature, dtype=F64)
    torch.testing.assert_close(out.double(), (w * X), rtol=1e-6, atol=1e-7)
    # Several shuffled references: per position, the mean of sum_b w_b (x_b - r_b).
    R = torch.as_tensor(np.stack([random_one_hot(3, 9, s).numpy() for s in (5, 6)], 1)).double()
    R[0, :, :, (X[0].sum(0) == 0)] = 0  # shuffles keep N columns in place
    out = integrated_gradients(
        net, X, target=0, baselines=R, n_steps=n_steps, quadrature=quadrature, dtype=F64
    )
    expected = (w[:, None] * (X[:, None] - R)).sum(2).mean(1)
    torch.testing.assert_close(out.double().sum(1), expected, rtol=1e-6, atol=1e-7)


def test_completeness_gap_shrinks_with_n_steps():
    model = SmoothConv(length=20)
    X = random_one_hot(4, 20, 8)
    gaps = []
    for n_steps in (2, 4, 8, 16):
        result = integrated_gradients_completeness(
            model,
            X,
            target=0,
            baselines="frequencies",
            n_steps=n_steps,
            quadrature="riemann_middle",
            dtype=F64,
        )
        gaps.append(result.gap.abs().max().item())
    assert result.output_difference.abs().min() > 1e-2
    for coarse, fine in itertools.pairwise(gaps):
        assert fine < coarse / 3  # the midpoint rule's error falls like 1 / n_steps**2
    assert gaps[-1] < 1e-2 * result.output_difference.abs().min()


@pytest.mark.parametrize("baselines", ["zeros", "frequencies"])
def test_gauss_legendre_beats_riemann_at_equal_steps(baselines):
    model = SmoothConv(length=20)
    X = random_one_hot(4, 20, 8)
    errors = {}
    for quadrature in QUADRATURES:
        result = integrated_gradients_completeness(
            model,
            X,
            target=0,
            baselines=baselines,
            n_steps=3,
            quadrature=quadrature,
            dtype=F64,
        )
        errors[quadrature] = result.gap.abs()
    for quadrature in QUADRATURES[1:]:
        assert (errors["gausslegendre"] < errors[quadrature]).all(), quadrature


def test_completeness_result_is_consistent():
    model = SmallConv()
    X = random_one_hot(3, 24, 21, n_columns=2)  # N columns in sequence 0
    same = dict(target=1, n_steps=10, dtype=F64)
    result = integrated_gradients_completeness(model, X, baselines="frequencies", **same)
    torch.testing.assert_close(
        result.attributions, integrated_gradients(model, X, baselines="frequencies", **same)
    )
    assert result.attribution_sum.dtype == F64 and result.gap.shape == (3,)
    torch.testing.assert_close(result.gap, result.attribution_sum - result.output_difference)
    # One-hot rows: projected and raw totals agree; the row with N columns differs (r != 0).
    torch.testing.assert_close(result.attribution_sum[1:], result.raw_attribution_sum[1:])
    assert abs(result.attribution_sum[0] - result.raw_attribution_sum[0]) > 1e-6
    # Shuffled references keep N columns in place: the totals agree on every row.
    shuffled = integrated_gradients_completeness(
        model, X, baselines="dinucleotide", n_baselines=3, random_state=0, **same
    )
    torch.testing.assert_close(shuffled.attribution_sum, shuffled.raw_attribution_sum)
    torch.testing.assert_close(shuffled.gap, shuffled.raw_gap)


def test_random_state_determinism_with_shuffled_references():
    model = SmallConv()
    X = random_one_hot(3, 24, 4)
    options = dict(target=0, baselines="dinucleotide", n_baselines=3, n_steps=4)
    first = integrated_gradients(model, X, random_state=7, **options)
    assert torch.equal(first, integrated_gradients(model, X, random_state=7, **options))
    assert not torch.equal(first, integrated_gradients(model, X, random_state=8, **options))


def test_references_are_made_in_blocks_without_changing_results(monkeypatch):
    # The module, not the function of the same name that cislens.attribution exports.
    module = importlib.import_module("cislens.attribution.integrated_gradients")

    model = SmallConv()
    X = random_one_hot(5, 24, 4, n_columns=1)
    options = dict(target=0, baselines="dinucleotide", n_baselines=2, n_steps=3, random_state=1)
    whole = integrated_gradients(model, X, dtype=F64, **options)
    monkeypatch.setattr(module, "REFERENCE_BLOCK", 2)
    blocks = integrated_gradients(model, X, dtype=F64, **options)
    torch.testing.assert_close(blocks, whole)
    made = []

    def maker(X, n, random_state):
        made.append(X.shape[0])
        return torch.zeros(X.shape[0], n, 4, X.shape[2])

    integrated_gradients(model, X, target=0, baselines=maker, n_baselines=1, n_steps=2)
    assert made == [2, 2, 1]


def test_quadrature_rules_and_validation():
    for quadrature in QUADRATURES:
        nodes, weights = quadrature_rule(9, quadrature)
        assert weights.sum() == pytest.approx(1.0) and ((0 <= nodes) & (nodes <= 1)).all()
        if quadrature not in ("riemann_left", "riemann_right"):  # exact for degree 1
            assert float(np.sum(weights * nodes)) == pytest.approx(0.5)
    nodes, weights = quadrature_rule(3, "gausslegendre")
    assert float(np.sum(weights * nodes**5)) == pytest.approx(1 / 6)  # degree 2n - 1
    model, X = SmallConv(), random_one_hot(1, 24, 0)
    with pytest.raises(ValueError, match="quadrature must be one of 'gausslegendre'"):
        integrated_gradients(model, X, target=0, quadrature="simpson")
    with pytest.raises(ValueError, match="n_steps must be a positive int"):
        integrated_gradients(model, X, target=0, n_steps=0)
    with pytest.raises(ValueError, match="at least 2"):
        integrated_gradients(model, X, target=0, n_steps=1, quadrature="riemann_trapezoid")
    with pytest.raises(ValueError, match="unknown reference"):
        integrated_gradients(model, X, target=0, baselines="gc")
    with pytest.raises(ValueError, match="baselines must have shape"):
        integrated_gradients(model, X, target=0, baselines=torch.zeros(4, 5))


def test_batch_size_counts_interpolation_points():
    calls = []

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = SmallConv()

        def forward(self, x):
            calls.append(x.shape[0])
            return self.inner(x)

    X = random_one_hot(3, 24, 0)
    integrated_gradients(
        Counting(),
        X,
        target=0,
        baselines="shuffle",
        n_baselines=2,
        n_steps=5,
        batch_size=8,
        random_state=0,
    )
    assert sum(calls) == 3 * 2 * 5 and max(calls) == 8  # no extra forward pass
