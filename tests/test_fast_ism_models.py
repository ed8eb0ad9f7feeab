"""Fast ISM on models written like third-party ones (bpnet-lite, chrombpnet, gReLU): it engages
(the window path runs, not the naive fallback) and equals naive ISM to 1e-10 in float64."""

from __future__ import annotations

import logging

import pytest
import torch
from fast_ism_models import NAMES, Tails, build
from testkit import single_thread  # noqa: F401 (autouse fixture: many small ops)
from torch import nn

from cislens.attribution._common import borrowed_model
from cislens.attribution.fast_ism import fast_ism_deltas, plan_fast_ism
from cislens.attribution.gradients import LazyTarget
from cislens.attribution.ism import ism

F64 = torch.float64


def _one_hot(n: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 4, (n, length), generator=g)
    X = nn.functional.one_hot(tokens, 4).permute(0, 2, 1).to(F64).contiguous()
    X[0, :, 1] = 0  # N columns near both ends: all four bases are edits there
    X[-1, :, -1] = 0
    return X


class _NoBar:
    def update(self, n):
        pass


def _fast_deltas(model, X, target, batch_size=37):
    """f(edit) - f(x) (N, 4, L) in float64 through the window path (fast=True)."""
    delta = torch.zeros(X.shape[0], 4, X.shape[-1], dtype=F64)
    with borrowed_model(model, device="cpu", dtype=F64) as (net, device):
        plan = plan_fast_ism(net, X[:1])
        fast_ism_deltas(
            plan, X, first=0, stop=X.shape[-1], batch_size=batch_size, device=device,
            dtype=F64, resolved=LazyTarget(target), bar=_NoBar(), delta=delta,
        )  # fmt: skip
    return delta


def _naive_deltas(model, X, target):
    """The same by running every edited sequence through the model itself."""
    length = X.shape[-1]
    delta = torch.zeros(X.shape[0], 4, length, dtype=F64)
    with borrowed_model(model, device="cpu", dtype=F64) as (net, _), torch.no_grad():
        for i in range(X.shape[0]):
            edited = X[i].expand(4 * length, -1, -1).clone()
            rows = torch.arange(4 * length)
            edited[rows, :, rows // 4] = 0
            edited[rows, rows % 4, rows // 4] = 1
            out = net(edited)[:, target] - net(X[i : i + 1])[0, target]
            delta[i] = out.view(length, 4).T
    delta[X != 0] = 0
    return delta


@pytest.mark.parametrize("name", NAMES)
def test_fast_equals_naive_to_1e10_in_float64(name):
    model, length = build(name)
    X = _one_hot(2, length, seed=0)
    target = 1 if name in ("grelu", "odds") else 0
    fast, naive = _fast_deltas(model, X, target), _naive_deltas(model, X, target)
    scale = float(naive.abs().max())
    assert scale > 0
    assert float((fast - naive).abs().max()) <= 1e-10 * scale


@pytest.mark.parametrize("name", ["bpnet_counts", "chrombpnet_counts", "grelu"])
def test_ism_public_path_is_fast_and_equal(name, caplog):
    model, length = build(name)
    X = _one_hot(3, length, seed=1)
    with caplog.at_level(logging.INFO, logger="cislens.attribution.fast_ism"):
        fast = ism(model, X, target=0, hypothetical=True, start=5, end=-3, dtype=F64)
    assert "ism: fast path" in caplog.text
    slow = ism(model, X, target=0, hypothetical=True, start=5, end=-3, dtype=F64, fast=False)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-6 * float(slow.abs().max()))


@pytest.mark.parametrize(
    ("name", "convs"), [("bpnet_counts", 5), ("chrombpnet_counts", 7), ("grelu", 5)]
)
def test_window_path_covers_the_tower(name, convs):
    """Every convolution of the tower runs on windows; only the dense head is full-length."""
    model, length = build(name)
    with borrowed_model(model, device="cpu", dtype=F64) as (net, _):
        plan = plan_fast_ism(net, _one_hot(1, length, seed=2))
    assert sum(n.startswith("conv1d") for n in plan.windowed) == convs
    assert any(n.startswith("mean") for n in plan.windowed)  # the global average, updated
    assert {n.rstrip("_0123456789") for n in plan.full} <= {"linear", "reshape", "stack",
                                                            "logsumexp"}  # fmt: skip
    if name != "grelu":
        assert any(n.startswith("getitem") for n in plan.windowed)  # the crops


@pytest.mark.parametrize("kind", Tails.KINDS)
def test_tails_equal_naive_and_stay_windowed_where_they_can(kind):
    torch.manual_seed(0)
    model = Tails(kind).eval()
    X = _one_hot(2, 23, seed=6)
    fast, naive = _fast_deltas(model, X, 0), _naive_deltas(model, X, 0)
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())
    with borrowed_model(model, device="cpu", dtype=F64) as (net, _):
        plan = plan_fast_ism(net, X[:1])
    tail_is_windowed = kind not in ("transpose", "avg_ceil", "new")
    assert ("conv1d_1" in plan.windowed) == tail_is_windowed
    assert "mean" in (plan.windowed if tail_is_windowed else plan.full)


def test_batch_size_does_not_change_the_deltas():
    model, length = build("chrombpnet_counts")
    X = _one_hot(2, length, seed=3)
    reference = _fast_deltas(model, X, 0, batch_size=1000)
    scale = float(reference.abs().max())
    for batch_size in (1, 7, 64):
        other = _fast_deltas(model, X, 0, batch_size=batch_size)
        assert float((other - reference).abs().max()) <= 1e-12 * scale


class Caching(nn.Module):
    """Caches a per-position tensor on its first forward (as Borzoi caches positional
    features); symbolic tracing left an fx Proxy in the cache."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3, padding=1)
        self.dense = nn.Linear(4, 2)
        self.cache = None

    def forward(self, x):
        if self.cache is None:
            self.cache = torch.linspace(0, 1, x.shape[-1])
        return self.dense(torch.relu(self.conv(x) * self.cache).mean(-1))


def test_caching_model_is_left_alone_and_explained_on_windows(caplog):
    torch.manual_seed(0)
    model = Caching()
    X = _one_hot(2, 20, seed=4)
    with caplog.at_level(logging.INFO, logger="cislens.attribution.fast_ism"):
        fast = ism(model, X, target=1, dtype=F64, fast=True)
    assert "ism: fast path (4 operations run on windows" in caplog.text
    assert model.cache is None
    slow = ism(model, X, target=1, dtype=F64, fast=False)
    assert model.cache is None
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-7)
    model(X.float())  # the user's first forward fills the cache with a real tensor
    assert type(model.cache) is torch.Tensor


def test_circular_padding_at_the_input_falls_back_to_naive(caplog):
    net = nn.Sequential(nn.Conv1d(4, 2, 3, padding=1, padding_mode="circular"), nn.Flatten())
    X = _one_hot(2, 6, seed=5)
    with caplog.at_level(logging.INFO, logger="cislens.attribution.fast_ism"):
        out = ism(net, X, target=3, dtype=F64)
    assert "naive path (the input goes to `pad` in 0 (Conv1d)" in caplog.text
    torch.testing.assert_close(out, ism(net, X, target=3, dtype=F64, fast=False))
