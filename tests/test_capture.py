"""The capture of real forward passes (cislens.attribution.capture) and the promise that every
attribution method leaves the user's model exactly as it found it."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from testkit import random_one_hot
from torch import nn

from cislens.attribution import (
    deeplift,
    deeplift_shap,
    integrated_gradients,
    ism,
    saliency,
)
from cislens.attribution.capture import capture
from cislens.attribution.deeplift_engine import summation_deltas
from cislens.errors import UnsupportedModelError

L = 24
F64 = torch.float64


class Conv(nn.Module):
    """The refusal models' common first layer: a convolution with ``channels`` outputs."""

    channels = 2

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, self.channels, 3)


class Everyday(nn.Module):
    """Ordinary Python that symbolic tracing refused: shape checks and arithmetic, ``x.ndim``,
    ``**kwargs``, a helper function, a crop computed from ``x.shape[2]``, a batch-sized reshape,
    a constant of batch-sized shape, in-place activations."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.dense = nn.Linear(6, 3)

    def forward(self, x, control=None, **kwargs):
        if x.ndim != 3 or x.shape[1] != 4:
            raise ValueError("expects (N, 4, L)")
        start, end = 2, x.shape[2] - 2
        h = F.relu(self.conv(x), inplace=True)[:, :, start:end]
        h = _pool(h) + torch.zeros(x.shape[0], 6)
        return self.dense(h).reshape(x.shape[0], 3, 1).squeeze(-1)


def _pool(h):
    return h.mean(-1)


class Caching(nn.Module):
    """Caches positional features on its first forward, as Borzoi does."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3, padding=1)
        self.register_buffer("calls", torch.zeros(1))
        self.cache = None

    def forward(self, x):
        if self.cache is None:
            self.cache = torch.linspace(0, 1, x.shape[-1])
        self.calls += 1
        return torch.relu(self.conv(x) + self.cache).sum((1, 2))[:, None]


def test_capture_runs_ordinary_python_and_generalises_over_batch_sizes():
    model = Everyday().eval()
    captured = capture(model, random_one_hot(1, L, seed=0))
    for n in (1, 4, 7):
        X = random_one_hot(n, L, seed=n)
        with torch.no_grad():
            torch.testing.assert_close(captured.run(X), model(X), rtol=1e-6, atol=1e-6)


def test_deeplift_on_ordinary_python_is_exact():
    model = Everyday().eval()
    result = summation_deltas(
        model, random_one_hot(3, L, seed=1), target=2, baselines="dinucleotide",
        n_baselines=3, random_state=0, dtype=F64, tolerance=1e-8,
    )  # fmt: skip
    assert result.all_passed


def test_einops_in_forward_is_captured():
    einops = pytest.importorskip("einops")

    class Heads(Conv):
        channels = 8

        def forward(self, x):
            h = einops.rearrange(self.conv(x), "b (h c) l -> b h c l", h=2)
            return einops.reduce(torch.tanh(h), "b h c l -> b h", "mean")

    model = Heads().eval()
    X = random_one_hot(3, L, seed=2)
    result = summation_deltas(
        model, X, target=1, baselines="dinucleotide", n_baselines=2, random_state=0,
        dtype=F64, tolerance=1e-8,
    )  # fmt: skip
    assert result.all_passed


def _state(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "attributes": {name: dict(vars(module)).keys() for name, module in model.named_modules()},
        "cache": model.cache,
        "training": model.training,
    }


@pytest.mark.parametrize(
    "method",
    [
        lambda m, X: deeplift(m, X, baselines="zeros", dtype=F64),
        lambda m, X: deeplift_shap(m, X, n_shuffles=2, random_state=0),
        lambda m, X: ism(m, X),
        lambda m, X: saliency(m, X),
        lambda m, X: integrated_gradients(m, X, n_steps=4),
    ],
    ids=["deeplift", "deeplift_shap", "ism", "saliency", "integrated_gradients"],
)
def test_every_method_leaves_a_caching_model_as_it_was(method):
    torch.manual_seed(0)
    model = Caching().train()
    before = _state(model)
    X = random_one_hot(2, L, seed=3)
    method(model, X)
    after = _state(model)
    assert after["cache"] is None and before["cache"] is None
    assert after["attributes"] == before["attributes"]
    assert after["training"] is True
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), key
    # the user's first plain forward fills the cache with a real tensor, as it would have
    fresh = copy.deepcopy(model)
    torch.testing.assert_close(model.eval()(X), fresh.eval()(X))
    assert isinstance(model.cache, torch.Tensor)


def test_deeplift_after_the_user_filled_the_cache():
    model = Caching().eval()
    X = random_one_hot(2, L, seed=4)
    model(X)
    cache = model.cache
    result = summation_deltas(model, X, baselines="zeros", dtype=F64, tolerance=1e-8)
    assert result.all_passed
    assert model.cache is cache and float(model.calls) == 1.0


def test_data_dependent_control_flow_is_refused_with_its_line():
    class Branchy(Conv):
        def forward(self, x):
            h = self.conv(x)
            if float(h.max()) > 0.5:
                h = h * 2
            return h.mean(-1)

    with pytest.raises(UnsupportedModelError, match=r"Tensor.float\(\) .* at test_capture.py:\d+"):
        capture(Branchy().eval(), random_one_hot(1, L, seed=0))


def test_value_dependent_shapes_are_refused():
    class Peaks(Conv):
        channels = 1

        def forward(self, x):
            h = self.conv(x)
            return h[:, :, : len((h[0, 0] > 0).nonzero())].sum(-1)

    with pytest.raises(UnsupportedModelError, match=r"nonzero\(\) on an input-dependent tensor"):
        capture(Peaks().eval(), random_one_hot(1, L, seed=0))


def test_inplace_update_through_a_view_is_refused():
    class ViewUpdate(Conv):
        def forward(self, x):
            h = self.conv(x)
            h[:, :, :2].mul_(3.0)  # changes h through a view
            return h.mean(-1)

    with pytest.raises(UnsupportedModelError, match="shares memory with another"):
        capture(ViewUpdate().eval(), random_one_hot(1, L, seed=0))


def test_randomness_in_forward_is_refused():
    class Noisy(Conv):
        def forward(self, x):
            return (self.conv(x) + torch.randn(2, 1)).mean(-1)

    with pytest.raises(UnsupportedModelError, match="random numbers drawn in forward"):
        capture(Noisy().eval(), random_one_hot(1, L, seed=0))


def test_output_that_is_not_one_tensor_names_what_it_is():
    class Heads(Conv):
        def forward(self, x):
            h = self.conv(x)
            return {"profile": h, "counts": h.sum(-1)}

    with pytest.raises(UnsupportedModelError, match=r"dict with keys \[profile, counts\]"):
        capture(Heads().eval(), random_one_hot(1, L, seed=0))
