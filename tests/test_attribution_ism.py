"""ISM: exact equality with a plain Python loop, tangermeme agreement, closed forms, options."""

from __future__ import annotations

import pytest
import torch
from testkit import (
    SmallConv,
    float64_copy,
    random_one_hot,
    single_thread,  # noqa: F401 (autouse fixture)
)
from torch import nn

from cislens.attribution import ism


def naive_ism(model, X, target, start, end):
    """Deltas (N, 4, L) by a plain loop: one forward per edit, 0 outside start:end."""
    n, _, length = X.shape
    delta = torch.zeros(n, 4, length, dtype=torch.float64)
    with torch.no_grad():
        for i in range(n):
            reference = model(X[i : i + 1])[0, target]
            for position in range(start, end):
                for base in range(4):
                    if X[i, base, position] == 1:
                        continue  # the observed base: no edit, delta 0
                    edited = X[i].clone()
                    edited[:, position] = 0
                    edited[base, position] = 1
                    delta[i, base, position] = model(edited[None])[0, target] - reference
    return delta


def naive_scores(delta, X, scores):
    """The documented score definitions, written out position by position."""
    out = torch.zeros_like(delta)
    n, _, length = delta.shape
    for i in range(n):
        for position in range(length):
            column = delta[i, :, position]
            if scores == "centred":
                out[i, :, position] = column - column.mean()
            elif scores == "neg_mean":
                for base in range(4):
                    others = [column[c] for c in range(4) if c != base]
                    out[i, base, position] = column[base] - sum(others) / 3
            else:
                out[i, :, position] = column
    return out


@pytest.fixture(scope="module")
def labcnn_case():
    from cislens.models import LabCNN

    model = LabCNN(n_tasks=3, input_length=200, random_state=0).double().eval()
    X = random_one_hot(2, 200, 5).double()
    X[1, :, 90] = 0  # an N column inside the window: all 4 bases are tried there
    start, end = 80, 96
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        delta = naive_ism(model, X, 2, start, end)
    finally:
        torch.set_num_threads(threads)
    return model, X, start, end, delta


@pytest.mark.parametrize("scores", ["centred", "neg_mean", "delta"])
def test_equals_a_plain_loop_exactly(labcnn_case, scores):
    model, X, start, end, delta = labcnn_case
    expected = naive_scores(delta, X, scores)
    hyp = ism(
        model,
        X,
        target=2,
        scores=scores,
        hypothetical=True,
        start=start,
        end=end,
        batch_size=1,
        dtype=torch.float64,
    )
    assert torch.equal(hyp, expected.float())
    if scores != "delta":
        projected = ism(
            model,
            X,
            target=2,
            scores=scores,
            start=start,
            end=end,
            batch_size=1,
            dtype=torch.float64,
        )
        assert torch.equal(projected, (expected * X).float())
    assert (hyp[:, :, :start] == 0).all() and (hyp[:, :, end:] == 0).all()
    assert (hyp[1, :, 90] != 0).all()  # N column: 4 real edits


def test_classic_neg_mean_at_the_observed_base(labcnn_case):
    model, X, start, end, delta = labcnn_case
    projected = ism(
        model, X, target=2, scores="neg_mean", start=start, end=end, dtype=torch.float64
    )
    i, position = 0, start + 3
    observed = int(X[i, :, position].argmax())
    alternatives = [delta[i, b, position] for b in range(4) if b != observed]
    expected = -(sum(alternatives) / 3)
    assert projected[i, observed, position].item() == pytest.approx(expected.item(), abs=1e-6)
    centred = ism(model, X, target=2, start=start, end=end, hypothetical=True, dtype=torch.float64)
    neg_mean = ism(
        model,
        X,
        target=2,
        scores="neg_mean",
        start=start,
        end=end,
        hypothetical=True,
        dtype=torch.float64,
    )
    torch.testing.assert_close(neg_mean, 4 / 3 * centred)


def test_full_length_batched_matches_the_loop():
    model = float64_copy(SmallConv(length=24))
    X = random_one_hot(3, 24, 2, n_columns=3).double()
    delta = naive_ism(model, X, 1, 0, 24)
    out = ism(
        model, X, target=1, scores="delta", hypothetical=True, batch_size=17, dtype=torch.float64
    )
    torch.testing.assert_close(out, delta.float(), rtol=0, atol=1e-6)


def test_linear_model_closed_form():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4 * 7, 2)).double()
    X = random_one_hot(3, 7, 0).double()
    w = net[1].weight.detach()[1].view(4, 7)
    observed = (w[None] * X).sum(1, keepdim=True)  # (N, 1, L): weight of the observed base
    delta = ism(net, X, target=1, scores="delta", hypothetical=True, dtype=torch.float64)
    torch.testing.assert_close(delta, (w[None] - observed).float())
    centred = ism(net, X, target=1, dtype=torch.float64)
    torch.testing.assert_close(centred, ((w - w.mean(0))[None] * X).float())


@pytest.mark.parametrize("hypothetical", [False, True])
def test_agrees_with_tangermeme(hypothetical):
    sm = pytest.importorskip("tangermeme.saturation_mutagenesis")
    model = float64_copy(SmallConv(length=24))
    X = random_one_hot(3, 24, 9, n_columns=2).double()
    ours = ism(model, X, target=2, hypothetical=hypothetical, dtype=torch.float64)
    theirs = sm.saturation_mutagenesis(
        model, X, target=2, hypothetical=hypothetical, fast=False, device="cpu", batch_size=7
    )
    torch.testing.assert_close(ours, theirs.float(), rtol=1e-5, atol=1e-6)
    # A window: tangermeme returns the window only; its positive end is exclusive like ours.
    window = ism(
        model, X, target=2, hypothetical=hypothetical, start=4, end=19, dtype=torch.float64
    )
    theirs = sm.saturation_mutagenesis(
        model,
        X,
        target=2,
        start=4,
        end=19,
        hypothetical=hypothetical,
        fast=False,
        device="cpu",
    )
    torch.testing.assert_close(window[:, :, 4:19], theirs.float(), rtol=1e-5, atol=1e-6)
    assert (window[:, :, :4] == 0).all() and (window[:, :, 19:] == 0).all()


def test_options_are_validated():
    model = SmallConv(length=24)
    X = random_one_hot(2, 24, 0)
    with pytest.raises(ValueError, match="scores must be one of 'centred', 'neg_mean', 'delta'"):
        ism(model, X, target=0, scores="mean")
    with pytest.raises(ValueError, match="pass hypothetical=True"):
        ism(model, X, target=0, scores="delta")
    with pytest.raises(ValueError, match="select no position"):
        ism(model, X, target=0, start=10, end=10)
    with pytest.raises(TypeError, match="start must be an int"):
        ism(model, X, target=0, start=1.5)
    with pytest.raises(TypeError, match="hypothetical must be True or False"):
        ism(model, X, target=0, hypothetical="yes")
    # Python slice semantics: end=-1 leaves out the last base.
    out = ism(model, X, target=0, end=-1, hypothetical=True)
    assert (out[:, :, -1] == 0).all() and (out[:, :, -2] != 0).any()


def test_forward_rows_are_counted_exactly():
    calls = []

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = SmallConv(length=24)

        def forward(self, x):
            calls.append(x.shape[0])
            return self.inner(x)

    X = random_one_hot(2, 24, 0, n_columns=1)
    ism(Counting(), X, target=0, batch_size=10, fast=False)
    rows = calls
    assert sum(rows) == 2 + 3 * 48 + 1  # originals, 3 edits per base, 4 at the N column
    assert max(rows) == 10
