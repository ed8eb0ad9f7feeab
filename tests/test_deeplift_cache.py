"""The DeepLIFT capture cache: reused only while the model is provably unchanged."""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

from cislens.attribution.deeplift_engine import cache, deeplift_shap, fast, pairs
from cislens.attribution.deeplift_engine.cache import (
    Uncacheable,
    clear_capture_cache,
    model_state,
    no_capture_cache,
)


class Cropped(nn.Module):
    """Conv -> ReLU -> max pool -> crop (a plain attribute read by forward) -> dense."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(4, 3, 3)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool1d(2)
        self.crop = 1
        self.dense = nn.LazyLinear(2)

    def forward(self, x):
        h = self.pool(self.relu(self.conv(x)))
        h = h[:, :, self.crop : h.shape[-1] - self.crop]
        return self.dense(h.flatten(1)[:, :12])


def _model() -> nn.Module:
    net = Cropped()
    net(torch.zeros(1, 4, 20))  # materialise the lazy layer
    return net.eval()


def _data():
    g = torch.Generator().manual_seed(1)
    X = nn.functional.one_hot(torch.randint(0, 4, (3, 20), generator=g), 4).permute(0, 2, 1)
    return X.float()


@pytest.fixture
def builds(monkeypatch):
    """Counts the captures (calls of build_graph made by the engine)."""
    clear_capture_cache()
    count = {"n": 0}
    original = pairs.build_graph

    def counting(*args, **kwargs):
        count["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(pairs, "build_graph", counting)
    yield count
    clear_capture_cache()


def _explain(net, X, **kwargs):
    options = dict(target=1, n_shuffles=3, random_state=0, device="cpu", dtype=torch.float64)
    return deeplift_shap(net, X, **{**options, **kwargs})


def _uncached(net, X, **kwargs):
    with no_capture_cache():
        return _explain(net, X, **kwargs)


def test_second_call_reuses_the_capture_and_equals_a_fresh_one(builds):
    net, X = _model(), _data()
    first = _explain(net, X)
    second = _explain(net, X, batch_size=5)
    assert builds["n"] == 1
    assert torch.equal(first, second)
    assert torch.equal(second, _uncached(net, X))
    assert builds["n"] == 2  # no_capture_cache captured again


def test_kept_workspace_is_reused_without_leaking_into_results(builds, monkeypatch):
    """The fast path's buffers stay with the cached graph for the next call when small: the
    next call reuses the same tensors, calls of other sizes and earlier results are untouched,
    and a workspace over :data:`pairs.KEEP_WORKSPACE_BYTES` is not kept."""
    net, X = _model(), _data()
    handed: list = []
    original = fast._buffer

    def spy(*args, **kwargs):
        handed.append(original(*args, **kwargs))
        return handed[-1]

    def buffers_of(**kwargs):
        handed.clear()
        out = _explain(net, **kwargs)
        return out, list(handed)

    monkeypatch.setattr(fast, "_buffer", spy)
    first, bufs = buffers_of(X=X)
    kept = first.clone()
    again, reused = buffers_of(X=X)
    assert len(bufs) == len(reused) > 0 and all(a is b for a, b in zip(bufs, reused, strict=True))
    other, _ = buffers_of(X=X[:2])  # other shapes: new buffers, kept in their place
    assert torch.equal(first, kept)  # results are never views of reused buffers
    assert torch.equal(again, first) and torch.equal(other, _uncached(net, X[:2]))
    monkeypatch.setattr(pairs, "KEEP_WORKSPACE_BYTES", 0)
    _, dropped = buffers_of(X=X)  # takes the kept workspace, now too large: not kept
    last, fresh = buffers_of(X=X)
    assert torch.equal(last, first) and not any(a is b for a, b in zip(dropped, fresh, strict=True))


@pytest.mark.parametrize(
    "change",
    [
        "weight in place",
        "weight through .data",
        "weight replaced through .data",
        "parameter replaced",
        "submodule swapped",
        "attribute",
        "buffer added",
    ],
)
def test_any_change_of_the_model_forces_a_new_capture(builds, change):
    net, X = _model(), _data()
    before = _explain(net, X)
    if change == "weight in place":
        with torch.no_grad():
            net.conv.weight.mul_(-1)
    elif change == "weight through .data":  # bypasses the version counter
        net.conv.weight.data.mul_(-1)
    elif change == "weight replaced through .data":
        net.conv.weight.data = -net.conv.weight.data
    elif change == "parameter replaced":
        net.conv.bias = nn.Parameter(net.conv.bias.detach() + 1)
    elif change == "submodule swapped":
        net.relu = nn.ELU()
    elif change == "attribute":
        net.crop = 2
    else:
        net.register_buffer("extra", torch.ones(1))
    after = _explain(net, X)
    assert builds["n"] == 2
    expected = _uncached(net, X)
    assert torch.equal(after, expected)
    if change != "buffer added":  # the others change the explained function
        assert not torch.equal(after, before)


def test_adding_or_removing_a_hook_forces_a_new_capture(builds):
    net, X = _model(), _data()
    _explain(net, X)
    handle = net.conv.register_forward_hook(lambda module, args, out: out * 2)
    hooked = _explain(net, X)
    assert builds["n"] == 2
    handle.remove()
    plain = _explain(net, X)
    assert builds["n"] == 3
    assert torch.allclose(hooked, 2 * plain, atol=1e-6)  # the hook doubles the convolution
    assert torch.equal(plain, _uncached(net, X))


def test_train_flag_and_default_dtype_are_in_the_fingerprint():
    net = _model()
    before = model_state(net)
    copies = [t.detach().clone() for t in before.tensors]
    assert cache.same_state(before, model_state(net), copies)
    net.relu.train()
    assert not cache.same_state(before, model_state(net), copies)
    net.relu.eval()
    assert cache.same_state(before, model_state(net), copies)


def test_unknown_state_is_never_cached(builds):
    net, X = _model(), _data()
    net.helper = object()  # state the fingerprint cannot see into
    with pytest.raises(Uncacheable, match="object"):
        model_state(net)
    first = _explain(net, X)
    second = _explain(net, X)
    assert builds["n"] == 2
    assert torch.equal(first, second)


def test_a_dropped_model_drops_its_entry(builds):
    net, X = _model(), _data()
    _explain(net, X)
    assert cache.cached_models() == 1
    del net
    gc.collect()
    assert cache.cached_models() == 0


def test_options_and_shapes_have_their_own_captures(builds):
    net, X = _model(), _data()
    _explain(net, X)
    _explain(net, X, dtype=torch.float32)
    _explain(net, X, rule="reveal_cancel")
    assert builds["n"] == 3
    _explain(net, X, dtype=torch.float32)
    assert builds["n"] == 3
