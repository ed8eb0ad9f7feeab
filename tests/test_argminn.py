"""ARGMINN: the overlap penalty, the schedule, the model, save/load, the fit hook, the readout."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from testkit import zeroed_argminn

from cislens.argminn import (
    ARGMINN,
    RegularizationSchedule,
    argminn_instances,
    argminn_motifs,
    argminn_syntax,
    filter_l1,
    filter_overlap_penalty,
    positional_encoding,
    ramp_weight,
)
from cislens.argminn.readout import filter_influence, information_content, trim_span
from cislens.errors import CislensWarning, UnsupportedModelError
from cislens.models import build_model, load_model, model_config, save_model
from cislens.sequence import one_hot_encode
from cislens.train import fit


def random_one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)
    return torch.from_numpy(np.ascontiguousarray(X))


def tiny(**overrides) -> ARGMINN:
    config = {
        "n_tasks": 2,
        "n_filters": 3,
        "filter_width": 5,
        "token_dim": 8,
        "stream_dim": 12,
        "n_heads": 2,
        "n_layers": 2,
        "position_dim": 4,
        **overrides,
    }
    return ARGMINN(**config, random_state=0)


# --- the filter-overlap penalty ----------------------------------------------------------------


def brute_force_overlap(acts, weight, strands, scale_free=False):
    """The penalty written as its definition: loops over positions, filters and offsets."""
    if scale_free:
        acts = acts / acts.amax((0, 2), keepdim=True)
    n_seq, n_filters, positions = acts.shape
    width = weight.shape[2]
    mass = weight.abs().sum(1)
    mass = mass / mass.sum()
    total = 0.0
    for n in range(n_seq):
        for i in range(positions):
            a = int(acts[n, :, i].argmax())
            mass_a = mass[a].flip(0) if strands[n, a, i] else mass[a]
            for b in range(n_filters):
                if b == a:
                    continue
                for j in range(max(0, i - width + 1), min(positions, i + width)):
                    mass_b = mass[b].flip(0) if strands[n, b, j] else mass[b]
                    d = j - i
                    shared = sum(
                        float(mass_a[k] * mass_b[k - d]) for k in range(width) if 0 <= k - d < width
                    )
                    total += float(acts[n, a, i]) * float(acts[n, b, j]) * shared
    return total / (n_seq * positions)


@pytest.mark.parametrize(("use_strands", "scale_free"), [(False, False), (True, True)])
def test_overlap_penalty_matches_its_definition(use_strands, scale_free):
    g = torch.Generator().manual_seed(0)
    acts = torch.rand(2, 3, 14, generator=g, dtype=torch.float64)
    acts = acts * (torch.rand(2, 3, 14, generator=g, dtype=torch.float64) > 0.4)
    weight = torch.randn(3, 4, 4, generator=g, dtype=torch.float64)
    weight[1, :, 0] = 0.0  # an unused column makes the orientation matter
    strands = torch.rand(2, 3, 14, generator=g) > 0.5 if use_strands else None
    plain = torch.zeros(2, 3, 14)
    expected = brute_force_overlap(acts, weight, strands if use_strands else plain, scale_free)
    got = filter_overlap_penalty(acts, weight, strands=strands, scale_free=scale_free)
    assert expected > 0
    assert float(got) == pytest.approx(expected, rel=1e-10)


def _two_filters():
    weight = torch.zeros(2, 4, 6, dtype=torch.float64)
    weight[0, 0, 0:3] = 1.0  # filter 0 uses columns 0-2
    weight[1, 2, 0:3] = 1.0  # filter 1 uses columns 0-2
    return weight


def test_overlap_penalty_is_zero_for_disjoint_support_and_positive_otherwise():
    weight = _two_filters()
    acts = torch.zeros(1, 2, 40, dtype=torch.float64)
    acts[0, 0, 10] = 2.0
    acts[0, 1, 13] = 1.5  # 3 bp right: window overlaps, but used columns 10-12 vs 13-15 do not
    acts[0, 1, 7] = 1.0  # 3 bp left: 7-9 vs 10-12, disjoint again
    assert float(filter_overlap_penalty(acts, weight)) == 0.0
    acts[0, 1, 12] = 0.5  # columns 12-14 share column 12 with filter 0's 10-12
    penalty = float(filter_overlap_penalty(acts, weight, scale_free=False))
    # filter 0 is top at 10 (2.0 * 0.5 * one shared column of mass 1/6 each) and filter 1 is
    # top at 12 (0.5 * 2.0 * the same column): two equal terms, averaged over 40 placements
    assert penalty == pytest.approx(2 * 2.0 * 0.5 * (1 / 6) ** 2 / 40)


def test_overlap_penalty_ignores_the_same_filter_and_is_scale_free_in_the_weights():
    weight = _two_filters()
    acts = torch.zeros(1, 2, 40, dtype=torch.float64)
    acts[0, 0, 10] = acts[0, 0, 11] = 1.0  # one filter overlapping itself costs nothing
    assert float(filter_overlap_penalty(acts, weight)) == 0.0
    acts[0, 1, 11] = 0.5
    base = filter_overlap_penalty(acts, weight)
    assert float(base) > 0
    assert float(filter_overlap_penalty(acts, 7.0 * weight)) == pytest.approx(float(base))
    # scale-free: rescaling one filter's activations (what a batch-normalised model can do for
    # free) leaves the penalty unchanged; without the normalisation it would scale with them
    scaled = acts * torch.tensor([1.0, 0.01], dtype=torch.float64)[None, :, None]
    assert float(filter_overlap_penalty(scaled, weight)) == pytest.approx(float(base))
    assert float(filter_overlap_penalty(scaled, weight, scale_free=False)) < float(
        filter_overlap_penalty(acts, weight, scale_free=False)
    )


def test_overlap_penalty_strand_flips_the_columns():
    weight = _two_filters()  # both filters use columns 0-2 of 6
    acts = torch.zeros(1, 2, 40, dtype=torch.float64)
    acts[0, 0, 10] = 1.0  # plus strand: positions 10-12
    acts[0, 1, 7] = 1.0  # plus strand: positions 7-9, disjoint
    strands = torch.zeros(1, 2, 40, dtype=torch.bool)
    assert float(filter_overlap_penalty(acts, weight, strands=strands)) == 0.0
    strands[0, 1, 7] = True  # minus strand: columns read reversed, positions 10-12: shared
    assert float(filter_overlap_penalty(acts, weight, strands=strands)) > 0.0


def test_overlap_penalty_gradients_flow_and_shapes_are_checked():
    acts = torch.rand(2, 3, 20, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    filter_overlap_penalty(acts, weight).backward()
    assert acts.grad.abs().sum() > 0 and weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same F"):
        filter_overlap_penalty(torch.zeros(1, 2, 5), torch.zeros(3, 4, 2))


# --- the schedule -----------------------------------------------------------------------------


def test_overlap_penalty_pushes_the_other_filter_not_the_top_one():
    weight = torch.zeros(2, 4, 3)
    weight[:, 0, :] = 1.0  # both filters use every column: any co-firing overlaps
    acts = torch.zeros(1, 2, 8)
    acts[0, 0, 3], acts[0, 1, 3] = 2.0, 1.0  # filter 0 is the top filter at position 3
    grads = {}
    for top_gradient in (False, True):
        leaf = acts.clone().requires_grad_(True)
        filter_overlap_penalty(leaf, weight, scale_free=False, top_gradient=top_gradient).backward()
        grads[top_gradient] = leaf.grad[0, :, 3]
    assert float(grads[False][0]) == 0.0 and float(grads[False][1]) > 0.0
    assert float(grads[True][0]) > 0.0  # with top_gradient=True the top filter is pushed too
    assert torch.equal(grads[False][1], grads[True][1])


def test_token_norm_is_frozen_after_the_warm_up():
    model = tiny(warmup_epochs=2, ramp_epochs=1).train()
    X = random_one_hot(16, 30)
    for epoch in (1, 2):  # warm-up: batch statistics, running statistics updated
        model.on_epoch_start(epoch)
        before = model.token_norm.running_mean.clone()
        model(X)
        assert not torch.equal(before, model.token_norm.running_mean)
    model.on_epoch_start(3)  # regularised: running statistics, frozen
    frozen = model.token_norm.running_mean.clone()
    train_out = model.forward_details(X)
    assert torch.equal(frozen, model.token_norm.running_mean)
    scale = 3.0  # a filter that shrinks now fades from the tokens (with live batch norm it
    with torch.no_grad():  # would not change the logits at all)
        model.scanner.weight.mul_(1 / scale)
        model.scanner.bias.mul_(1 / scale)
    assert not torch.allclose(model.forward_details(X).logits, train_out.logits)
    unfrozen = tiny(warmup_epochs=2, ramp_epochs=1, freeze_token_norm=False).train()
    unfrozen.on_epoch_start(3)
    before = unfrozen.token_norm.running_mean.clone()
    unfrozen(X)
    assert not torch.equal(before, unfrozen.token_norm.running_mean)


def test_schedule_warms_up_ramps_geometrically_then_holds():
    weights = [ramp_weight(e, start=10.0, final=1e4, warmup=3, ramp=4) for e in range(1, 10)]
    assert weights[:3] == [0.0, 0.0, 0.0]
    ramp = np.array(weights[3:7])
    np.testing.assert_allclose(ramp, [10.0, 100.0, 1000.0, 1e4])
    np.testing.assert_allclose(ramp[1:] / ramp[:-1], 10.0)
    assert weights[7:] == [1e4, 1e4]
    schedule = RegularizationSchedule(
        overlap_weight=1e4,
        overlap_start=10.0,
        l1_weight=1e-3,
        l1_start=1e-4,
        entropy_weight=0.5,
        warmup_epochs=3,
        ramp_epochs=4,
    )
    assert schedule.settled_epoch == 7
    assert schedule.weights(3) == {"overlap": 0.0, "l1": 0.0, "entropy": 0.0}
    assert schedule.weights(4)["entropy"] == 0.5
    assert schedule.weights(7)["l1"] == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="l1_weight must be a float >= 0"):
        RegularizationSchedule(l1_weight=-1.0)
    with pytest.raises(ValueError, match="warmup_epochs"):
        RegularizationSchedule(warmup_epochs=1.5)


# --- the model --------------------------------------------------------------------------------


def test_shapes_any_length_and_attention_sums_to_one():
    model = tiny().eval()
    for length in (5, 37, 120):
        out = model.forward_details(random_one_hot(3, length))
        positions = length - 4
        assert out.logits.shape == (3, 2)
        assert out.activations.shape == out.strands.shape == (3, 3, positions)
        assert out.attention.shape == (3, 2, 2, positions)
        torch.testing.assert_close(out.attention.sum(-1), torch.ones(3, 2, 2))
        assert (out.activations >= 0).all()
        assert torch.equal(
            model(random_one_hot(3, length)),
            model.forward_details(random_one_hot(3, length)).logits,
        )
    with pytest.raises(ValueError, match="at least 5 bp"):
        model(random_one_hot(1, 4))


def test_reverse_complement_scanner_reads_both_strands():
    model = tiny().eval()
    X = random_one_hot(4, 60)
    acts, _ = model.scan(X)
    acts_rc, _ = model.scan(X.flip(1, 2))
    torch.testing.assert_close(acts_rc, acts.flip(2))
    one_strand = tiny(reverse_complement=False).eval()
    assert not one_strand.scan(X)[1].any()
    assert (acts >= one_strand.scan(X)[0]).all()  # max over strands >= the plus strand


def explicit_forward(model: ARGMINN, x: torch.Tensor):
    """The forward pass as the architecture is written: tokenize(concat(features, encoding)) at
    every placement, then per layer value(token) at every placement, mixed by the attention."""
    h = model.hparams
    activations, _, forward, reverse = model._scan_parts(x)
    features = (
        activations
        if reverse is None or not h["strand_tokens"]
        else torch.relu(torch.cat([forward, reverse], 1))
    )
    features = model._normalize_tokens(features)
    pe = positional_encoding(features.shape[2], h["position_dim"])
    pe = pe.unsqueeze(0).expand(features.shape[0], -1, -1)
    tokens = model.tokenize(torch.cat([features, pe], 1).transpose(1, 2))
    stream = tokens.new_ones(tokens.shape[0], h["stream_dim"])
    n, positions, dim = tokens.shape
    heads, head_dim = h["n_heads"], dim // h["n_heads"]
    maps = []
    for layer in model.layers:
        query = layer.query(stream).reshape(n, heads, head_dim)
        keys = tokens.reshape(n, positions, heads, head_dim)
        values = layer.value(tokens).reshape(n, positions, heads, head_dim)
        attention = torch.softmax(torch.einsum("nhd,nphd->nhp", query, keys) / head_dim**0.5, -1)
        read = torch.einsum("nhp,nphd->nhd", attention, values).reshape(n, dim)
        update = layer.norm_attention(layer.output(read))
        stream = stream + layer.norm_update(layer.mlp_out(torch.relu(layer.mlp_in(update))))
        maps.append(attention)
    return model.head(model.final_norm(stream)), torch.stack(maps, 1)


@pytest.mark.parametrize("strand_tokens", [True, False])
def test_forward_equals_the_architecture_as_written(strand_tokens):
    # The model projects the encoding once per batch and mixes tokens before the value map
    # (both exact rewrites); logits, attention and gradients must match the literal version.
    model = tiny(strand_tokens=strand_tokens, n_layers=3).train()
    X = random_one_hot(5, 37, seed=4)
    out = model.forward_details(X)
    logits, attention = explicit_forward(model, X)
    torch.testing.assert_close(out.logits, logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.attention, attention, rtol=1e-5, atol=1e-6)
    fast = torch.autograd.grad(out.logits.sum(), list(model.parameters()), allow_unused=True)
    slow = torch.autograd.grad(logits.sum(), list(model.parameters()), allow_unused=True)
    for (name, _), a, b in zip(model.named_parameters(), fast, slow, strict=True):
        if b is None:  # the training guide is not part of either forward pass here
            assert a is None and name.startswith("guide"), name
            continue
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("strand_tokens", [True, False])
def test_strand_tokens_tell_the_strands_apart(strand_tokens):
    # one motif, on the plus strand or (same place) on the minus strand: the scanner's maximum is
    # the same, so only strand tokens let the prediction depend on the orientation
    model = tiny(strand_tokens=strand_tokens).eval()  # (off by default)
    assert model.n_token_channels == (6 if strand_tokens else 3)
    assert model.tokenize.in_features == model.n_token_channels + 4
    with torch.no_grad():
        model.scanner.weight.zero_()
        model.scanner.weight[0] = one_hot_encode(["GATAA"])[0] * 2.0
        model.scanner.bias.fill_(-8.0)
    plus = torch.zeros(1, 4, 30)
    plus[0, 0] = 1.0  # poly-A
    minus = plus.clone()
    plus[0, :, 10:15] = one_hot_encode(["GATAA"])[0]
    minus[0, :, 10:15] = one_hot_encode(["TTATC"])[0]
    out_plus, out_minus = model.forward_details(plus), model.forward_details(minus)
    torch.testing.assert_close(out_plus.activations, out_minus.activations)
    assert out_minus.strands[0, 0, 10] and not out_plus.strands[0, 0, 10]
    same = torch.allclose(out_plus.logits, out_minus.logits)
    assert same != strand_tokens
    # the readout's influence covers a filter's two strand features (the stronger one counts)
    with torch.no_grad():
        model.tokenize.weight[:, 1 : model.n_token_channels].zero_()
        model.tokenize.weight[:, model.n_token_channels - 1] = 1.0  # filter 2, last strand
    influence = filter_influence(model, np.ones(3))
    assert influence.shape == (3,) and influence[2] == 1.0 and influence[1] == 0.0


def test_eval_forward_is_example_independent_and_seeded():
    model = tiny().eval()
    X = random_one_hot(5, 50)
    torch.testing.assert_close(model(X)[2:3], model(X[2:3]))
    assert torch.equal(tiny().eval()(X), model(X))
    other = ARGMINN(
        n_tasks=2,
        n_filters=3,
        filter_width=5,
        token_dim=8,
        stream_dim=12,
        n_heads=2,
        n_layers=2,
        position_dim=4,
        random_state=1,
    )
    assert not torch.equal(other.scanner.weight, model.scanner.weight)


def test_registry_config_and_errors():
    model = build_model({"name": "argminn", "n_tasks": 3, "input_length": 100}, random_state=0)
    assert isinstance(model, ARGMINN)
    config = model_config(model)
    assert config["name"] == "argminn" and config["n_filters"] == 8
    assert config["filter_width"] == 15 and config["warmup_epochs"] == 12
    rebuilt = build_model(config, random_state=0)
    for key, value in model.state_dict().items():
        assert torch.equal(value, rebuilt.state_dict()[key])
    with pytest.raises(ValueError, match=r"token_dim .* divisible by n_heads"):
        ARGMINN(n_tasks=1, token_dim=30, n_heads=4)
    with pytest.raises(ValueError, match="shorter than filter_width"):
        ARGMINN(n_tasks=1, input_length=10)


def test_save_load_round_trip(tmp_path):
    model = tiny(entropy_weight=0.1, overlap_weight=50.0).eval()
    X = random_one_hot(4, 40)
    with torch.no_grad():
        model.token_norm.running_mean.fill_(0.3)  # a buffer that must survive the round trip
    save_model(model, tmp_path / "run", task_names=["a", "b"])
    loaded = load_model(tmp_path / "run")
    assert isinstance(loaded, ARGMINN) and loaded.task_names == ["a", "b"]
    assert loaded.hparams == model.hparams
    assert loaded.schedule == model.schedule
    torch.testing.assert_close(loaded(X), model(X))


def test_regularization_loss_follows_the_schedule():
    model = tiny(
        overlap_weight=100.0,
        overlap_start=1.0,
        l1_weight=1e-2,
        l1_start=1e-3,
        entropy_weight=0.5,
        warmup_epochs=1,
        ramp_epochs=3,
    ).train()
    X = random_one_hot(6, 40)
    with pytest.raises(RuntimeError, match="training forward pass"):
        model.regularization_loss(4)
    model(X)
    assert float(model.regularization_loss(1)) == 0.0  # warm-up: nothing to compute
    out = model.forward_details(X)
    model(X)
    from cislens.argminn import attention_entropy

    expected = (
        100.0
        * filter_overlap_penalty(
            out.activations, model.scanner.weight, strands=out.strands, scale_free=False
        )  # the model's default
        + 1e-2 * filter_l1(model.scanner.weight)
        + 0.5 * attention_entropy(out.attention)
    )
    torch.testing.assert_close(model.regularization_loss(4), expected)
    with torch.no_grad():
        model(X)  # no gradients: nothing is kept
    with pytest.raises(RuntimeError):
        model.regularization_loss(4)


def test_fit_adds_the_regulariser_and_picks_a_settled_epoch():
    rng = np.random.default_rng(0)
    X = random_one_hot(160, 40).numpy()
    motif = one_hot_encode(["GATAAG"])[0].numpy()
    Y = (rng.random((160, 1)) < 0.5).astype(np.float32)
    X[Y[:, 0] == 1, :, 15:21] = motif
    model = ARGMINN(
        n_tasks=1,
        n_filters=3,
        filter_width=6,
        token_dim=8,
        stream_dim=8,
        n_heads=2,
        warmup_epochs=2,
        ramp_epochs=2,
        random_state=0,
    )
    records = []
    history = fit(
        model,
        (X[:120], Y[:120], X[120:], Y[120:]),
        epochs=5,
        batch_size=40,
        random_state=0,
        callback=records.append,
    )
    reg = history.params["regularization_loss"]
    assert len(reg) == 5 and reg[0] == reg[1] == 0.0 and min(reg[2:]) > 0
    assert [r["regularization_loss"] for r in records] == reg
    assert history.best_epoch >= model.regularization_settled_epoch == 4
    assert not any(r["best"] for r in records[:3])


def test_fit_warns_when_training_stops_before_the_regularisers_settle():
    X = random_one_hot(40, 30).numpy()
    Y = (np.arange(40) % 2).astype(np.float32)[:, None]
    model = ARGMINN(
        n_tasks=1,
        n_filters=2,
        filter_width=5,
        token_dim=8,
        stream_dim=8,
        n_heads=2,
        warmup_epochs=2,
        ramp_epochs=2,
        random_state=0,
    )
    with pytest.warns(CislensWarning, match=r"epoch 4, but epochs=2"):
        fit(model, (X[:30], Y[:30], X[30:], Y[30:]), epochs=2, batch_size=10, random_state=0)


# --- the readout on a hand-set model ----------------------------------------------------------

MOTIFS = {0: "GATAAG", 2: "CACGTA"}  # filter -> planted motif (neither is a palindrome)


def hand_set_model() -> ARGMINN:
    """Filters 0 and 2 are exact PWMs of the planted motifs, filter 1 is all zero; the attention
    query is a large constant, so each head attends to the strongest activation."""
    model = zeroed_argminn(3)
    with torch.no_grad():
        for k, word in MOTIFS.items():
            model.scanner.weight[k] = one_hot_encode([word])[0] * 2.0
            model.scanner.bias[k] = -10.0  # fires (2.0) only on a perfect match (12 - 10)
        # Every key dimension sums the activations; with strand tokens (the default) channel
        # F + k is filter k's reverse strand.
        for channel in (0, 2, 3, 5):
            model.tokenize.weight[:, channel] = 1.0
        model.layers[0].query.bias.fill_(100.0)
    return model.eval()


def planted_data(n: int = 60, length: int = 80):
    rng = np.random.default_rng(3)
    # A/C-only background: no chance matches of either motif on either strand
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 2, (n, length))].transpose(0, 2, 1).copy()
    rows = []
    for i in range(n):
        k = [0, 2][i % 2]
        start = int(rng.integers(5, length - 12))
        word = MOTIFS[k]
        minus = i % 4 >= 2
        X[i, :, start : start + 6] = (
            one_hot_encode([word])[0].numpy()[::-1, ::-1]
            if minus
            else one_hot_encode([word])[0].numpy()
        )
        rows.append({"example": i, "start": start, "filter": k, "strand": "-" if minus else "+"})
    return torch.from_numpy(np.ascontiguousarray(X)), pd.DataFrame(rows)


def test_readout_of_a_hand_set_model_returns_its_filters():
    model = hand_set_model()
    X, _ = planted_data()
    result = argminn_motifs(model, X, annotate=False, min_sites=10, batch_size=7)
    assert result.passing == [0, 2]
    assert [m.consensus for m in result.motifs] == [MOTIFS[0], MOTIFS[2]]
    assert [m.name for m in result.motifs] == ["filter_0", "filter_2"]
    assert result.filters.set_index("filter").loc[1, "n_sites"] == 0
    np.testing.assert_allclose(result.weights.sum(1), 0.0, atol=1e-6)  # mean-centred columns
    assert result.annotation.empty and "q_value" in result.annotation.columns
    again = argminn_motifs(model, X, annotate=False, min_sites=10, batch_size=60)
    pd.testing.assert_frame_equal(again.filters, result.filters)


def test_a_filter_the_tokens_ignore_does_not_pass():
    model = hand_set_model()
    X, _ = planted_data()
    with torch.no_grad():
        model.tokenize.weight[:, [2, 5]] = 0.05  # filter 2 still matches, barely reaches tokens
    result = argminn_motifs(model, X, annotate=False, min_sites=10)
    influence = result.filters.set_index("filter")["influence"]
    assert influence[0] == 1.0 and influence[1] == 0.0
    assert influence[2] == pytest.approx(0.05)  # same activations, 1/20 of the column norm
    assert result.passing == [0]
    assert argminn_motifs(model, X, annotate=False, min_sites=10, min_influence=0.0).passing == [
        0,
        2,
    ]
    with pytest.raises(ValueError, match="min_influence"):
        argminn_motifs(model, X, annotate=False, min_influence=2.0)


def test_instances_of_a_hand_set_model_are_the_planted_sites():
    model = hand_set_model()
    X, truth = planted_data()
    motifs = argminn_motifs(model, X, annotate=False, min_sites=10)
    # random_state: the shuffles behind the chance floor (null_quantile), else fresh entropy
    hits = argminn_instances(model, X, motifs=motifs, batch_size=16, random_state=0)
    found = hits[["example", "start", "filter", "strand"]].reset_index(drop=True)
    expected = truth[["example", "start", "filter", "strand"]]
    merged = found.merge(expected, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    assert (hits["end"] - hits["start"] == 6).all()
    assert (hits["attention"] > 0.9).all() and (hits["n_heads"] == 2).all()
    assert set(hits["layer"]) == {0} and set(hits["head"]) <= {0, 1}
    pd.testing.assert_frame_equal(
        argminn_instances(model, X, motifs=motifs, batch_size=60, random_state=0), hits
    )
    only_two = argminn_instances(model, X, filters=[2], random_state=0)
    assert set(only_two["filter"]) == {2}
    assert len(argminn_instances(model, X, attention_threshold=0.999999, random_state=0)) <= len(
        hits
    )


def test_syntax_maps_and_readout_errors():
    model = hand_set_model()
    X, truth = planted_data(n=8)
    maps = argminn_syntax(model, X, batch_size=3)
    assert maps.shape == (8, 2, 2, 75) and maps.dtype == torch.float32  # 2 layers (default)
    peak = maps[:, 0, 0].argmax(-1).numpy()
    np.testing.assert_array_equal(peak, truth["start"].to_numpy())
    with pytest.raises(UnsupportedModelError, match="ARGMINN"):
        argminn_motifs(torch.nn.Conv1d(4, 1, 3), X)
    with pytest.raises(ValueError, match="shape \\(N, 4, L\\)"):
        argminn_syntax(model, X.transpose(1, 2))
    with pytest.raises(ValueError, match="filters must be in"):
        argminn_instances(model, X, filters=[5])
    assert math.isclose(float(maps[0, 0, 0].sum()), 1.0, rel_tol=1e-5)


def test_trimming_keeps_the_richest_informative_run():
    # a motif (columns 2-7, one weak column inside) and two informative columns of a neighbour
    ic = np.array([0.0, 0.1, 1.5, 1.9, 0.2, 1.7, 1.8, 1.2, 0.0, 0.0, 0.0, 0.0, 1.9, 1.8, 0.0])
    assert trim_span(ic, 0.3) == (2, 8)
    assert trim_span(ic, 0.3, max_gap=0) == (5, 8)
    assert trim_span(ic, 2.5) == (0, 0)
    uniform = np.full((4, 3), 0.25)
    np.testing.assert_allclose(information_content(uniform), 0.0, atol=1e-12)
    onehot = np.eye(4)[:, :1]
    p = (1 + 0.001) / 1.004
    q = 0.001 / 1.004
    expected = p * math.log2(p / 0.25) + 3 * q * math.log2(q / 0.25)
    assert information_content(onehot)[0] == pytest.approx(expected)
