"""ARGMINN's training guide and the activation rule of its instance calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from testkit import random_one_hot, zeroed_argminn

from cislens.argminn import ARGMINN, argminn_instances
from cislens.models.argminn.network import guide_weight
from cislens.sequence import one_hot_encode
from cislens.shuffle import dinucleotide_shuffle
from cislens.train import fit


def small(**overrides) -> ARGMINN:
    config = {
        "n_tasks": 2,
        "n_filters": 3,
        "filter_width": 5,
        "token_dim": 8,
        "stream_dim": 12,
        "n_heads": 2,
        "position_dim": 4,
        "warmup_epochs": 4,
        "ramp_epochs": 1,
        **overrides,
    }
    return ARGMINN(**config, random_state=0)


# --- the training guide ------------------------------------------------------------------------


def test_guide_is_half_the_warm_up_by_default_and_checked():
    assert small().hparams["guide_epochs"] == 2
    assert ARGMINN(n_tasks=1).hparams["guide_epochs"] == 6  # the default 12-epoch warm-up
    assert small(guide_epochs=0).guide is None
    with pytest.raises(ValueError, match=r"guide_epochs must be an int in \[0, warmup_epochs=4\]"):
        small(guide_epochs=5)
    assert [guide_weight(e, 2) for e in (1, 2, 3)] == [1.0, 0.5, 0.0]


def test_guide_adds_a_linear_read_of_the_filter_maxima_then_vanishes():
    model = small(guide_epochs=2).eval()
    X = random_one_hot(6, 40, 0)
    plain = model.forward_details(X)  # never told an epoch: no guide
    model.on_epoch_start(2)  # weight 0.5
    guided = model.forward_details(X)
    expected = plain.logits + 0.5 * model.guide(plain.activations.amax(2))
    torch.testing.assert_close(guided.logits, expected)
    torch.testing.assert_close(guided.attention, plain.attention)  # the ARGMINN path is unchanged
    model.on_epoch_start(3)  # past the guide
    torch.testing.assert_close(model.forward_details(X).logits, plain.logits)


def test_fit_ends_with_the_guide_off():
    X = random_one_hot(48, 30, 0).numpy()
    Y = (np.arange(48) % 2).astype(np.float32)[:, None]
    model = small(n_tasks=1, warmup_epochs=2, guide_epochs=2)
    initial = model.guide.weight.detach().clone()
    history = fit(model, (X[:36], Y[:36], X[36:], Y[36:]), epochs=4, batch_size=12, random_state=0)
    assert model._guide_weight == 0.0 and history.best_epoch >= 3
    # The guide's weights were trained (it had gradient in epochs 1-2).
    assert not torch.equal(model.guide.weight.detach(), initial)


# --- which activations count as an instance ------------------------------------------------------

WORD = "GATAAG"


def graded_model() -> ARGMINN:
    """Filter 0 scores matches to WORD: 4.0 on a perfect match, 2.0 with one mismatch, 0 below;
    each head attends to the strongest activation of the sequence."""
    model = zeroed_argminn(1, token_dim=4, stream_dim=4, n_heads=1, guide_epochs=0)
    with torch.no_grad():
        model.scanner.weight[0] = one_hot_encode([WORD])[0] * 2.0
        model.scanner.bias[0] = -8.0
        model.tokenize.weight[:, 0] = 1.0
        model.layers[0].query.bias.fill_(100.0)
    return model.eval()


def graded_data():
    rng = np.random.default_rng(5)
    X = np.eye(4, dtype=np.float32)[rng.integers(1, 3, (30, 60))].transpose(0, 2, 1).copy()
    weak = "GATCAG"  # one mismatch
    for i in range(30):  # C/G background: no match; 10 perfect, 10 weak, 10 empty sequences
        if i < 20:
            word = WORD if i < 10 else weak
            X[i, :, 20 + i : 26 + i] = one_hot_encode([word])[0].numpy()
    return torch.from_numpy(np.ascontiguousarray(X))


@pytest.mark.parametrize("threshold", [None, 0.5, 0.6, 1.0])
def test_calls_follow_the_activation_rule(threshold):
    model, X = graded_model(), graded_data()
    hits = argminn_instances(
        model, X, activation_threshold=threshold, null_quantile=None, batch_size=7
    )
    with torch.no_grad():
        out = model.forward_details(X)
    acts, attention = out.activations[:, 0], out.attention[:, 0, 0]
    positive = acts[acts > 0]
    floor = float(positive.mean()) if threshold is None else threshold * float(acts.max())
    expected = {
        (int(n), int(p))
        for n, p in torch.nonzero((attention > 0.9) & (acts > 0) & (acts >= floor)).tolist()
    }
    assert set(zip(hits["example"], hits["start"], strict=True)) == expected
    perfect = {n for n, _ in expected if n < 10}
    weak = {n for n, _ in expected if 10 <= n < 20}
    assert perfect == set(range(10))  # every perfect site is called
    assert weak == (set(range(10, 20)) if threshold == 0.5 else set())  # 2.0 = 0.5 x 4.0
    with pytest.raises(ValueError, match="activation_threshold must be in"):
        argminn_instances(model, X, activation_threshold=0.0)
    with pytest.raises(ValueError, match="null_quantile must be in"):
        argminn_instances(model, X, null_quantile=1.0)


def test_calls_must_beat_the_filter_in_shuffled_sequences():
    """Uniform background: every sequence has near-matches of WORD; those without the motif are
    still attended at their best near-match, which the chance floor rejects."""
    model = graded_model()
    rng = np.random.default_rng(8)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (40, 80))].transpose(0, 2, 1).copy()
    for i in range(0, 40, 2):  # the motif in every other sequence
        X[i, :, 30:36] = one_hot_encode([WORD])[0].numpy()
    X = torch.from_numpy(np.ascontiguousarray(X))
    loose = argminn_instances(model, X, activation_threshold=0.1, null_quantile=None)
    strict = argminn_instances(
        model, X, activation_threshold=0.1, null_quantile=0.9, random_state=3, batch_size=9
    )
    with torch.no_grad():
        out = model.forward_details(X)
        shuffled = dinucleotide_shuffle(X, n=1, random_state=3)[:, 0]
        chance = model.forward_details(shuffled).activations[:, 0].amax(1)
    acts, attention = out.activations[:, 0], out.attention[:, 0, 0]
    floor = 0.1 * float(acts.max())
    beat = float(np.quantile(chance.double().numpy(), 0.9))  # a call must exceed it
    expected = {
        (int(n), int(p))
        for n, p in torch.nonzero(
            (attention > 0.9) & (acts > 0) & (acts >= floor) & (acts.double() > beat)
        ).tolist()
    }
    assert set(zip(strict["example"], strict["start"], strict=True)) == expected
    # One-mismatch windows (2.0) are common in shuffled sequences: only exact sites (4.0, the
    # planted ones and rare chance ones) beat them; the loose rule also calls near-matches.
    assert len(strict) >= 15 and (strict["activation"] == 4.0).all()
    assert (loose["activation"] == 2.0).sum() >= 3
    again = argminn_instances(
        model, X, activation_threshold=0.1, null_quantile=0.9, random_state=3, batch_size=40
    )
    pd.testing.assert_frame_equal(again, strict)
