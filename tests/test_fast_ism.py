"""Window-restricted (fast) ISM equals the naive ISM on every zoo model, to 1e-10 in float64."""

from __future__ import annotations

import logging

import pytest
import torch
from testkit import single_thread  # noqa: F401 (autouse fixture: many small ops)
from torch import nn

from cislens.attribution.fast_ism import (
    FastISMUnsupported,
    _Runner,
    plan_fast_ism,
)
from cislens.attribution.ism import ism
from cislens.models import Basset, BPNetLike, DeepSEABeluga, LabCNN


def _one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 4, (n, length), generator=g)
    X = torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).double().contiguous()
    X[0, :, 2] = 0  # an N column: all four bases are edits
    return X


MODELS = {
    "labcnn": lambda: (LabCNN(3, 60, filter_widths=(7, 4), pool_sizes=(4, 3), random_state=0), 60),
    "labcnn_subsample": lambda: (
        LabCNN(3, 61, filter_widths=(7, 4), pool_sizes=(4, 3), pool="subsample", random_state=0),
        61,
    ),
    "labcnn_bn_exp": lambda: (
        LabCNN(
            3,
            60,
            filter_widths=(7, 4),
            pool_sizes=(4, 11),
            batch_norm=True,
            activation1="exp",
            random_state=0,
        ),
        60,
    ),
    "basset_valid": lambda: (
        Basset(2, 80, n_filters=[6, 5, 4], n_hidden=[8, 8], random_state=0),
        80,
    ),
    "basset_same": lambda: (
        Basset(2, 70, n_filters=[6, 5, 4], n_hidden=[8, 8], padding="same", random_state=1),
        70,
    ),
    "beluga": lambda: (DeepSEABeluga(2, 100, n_filters=[6, 5, 4], random_state=0), 100),
    "bpnet": lambda: (BPNetLike(2, n_filters=6, n_layers=4, random_state=0), 50),
    "bpnet_max": lambda: (BPNetLike(2, n_filters=6, n_layers=3, pooling="max", random_state=2), 41),
}


def _raw_deltas(model, X, target):
    """f(edit) - f(x) for all 4 bases via ism(scores='delta'), without the float32 cast."""
    from cislens.attribution import fast_ism
    from cislens.attribution.gradients import LazyTarget

    model = model.double().eval()
    plan = plan_fast_ism(model, X[:1])
    delta = torch.zeros(X.shape[0], 4, X.shape[-1], dtype=torch.float64)

    class _Bar:
        def update(self, n):
            pass

    fast_ism.fast_ism_deltas(
        plan,
        X,
        first=0,
        stop=X.shape[-1],
        batch_size=37,
        device=torch.device("cpu"),
        dtype=torch.float64,
        resolved=LazyTarget(target),
        bar=_Bar(),
        delta=delta,
    )
    naive = torch.zeros_like(delta)
    with torch.no_grad():
        y0 = model(X)[:, target]
        for i in range(X.shape[-1]):
            for b in range(4):
                edited = X.clone()
                edited[:, :, i] = 0
                edited[:, b, i] = 1
                naive[:, b, i] = model(edited)[:, target] - y0
    naive[X != 0] = 0
    return delta, naive


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fast_deltas_equal_naive_float64(name):
    model, length = MODELS[name]()
    X = _one_hot(2, length)
    X[1, :, -1] = 0  # an N at the right edge too
    fast, naive = _raw_deltas(model, X, target=1)
    scale = naive.abs().max()
    assert scale > 0
    assert float((fast - naive).abs().max()) <= 1e-10 * float(scale)


OPTIONS = [
    {"hypothetical": True, "scores": "delta"},
    {"start": 1, "end": -2},
    {"hypothetical": True, "start": -5, "end": None, "batch_size": 5},
]


@pytest.mark.parametrize(
    ("name", "options"),
    [(name, OPTIONS[i % 3]) for i, name in enumerate(sorted(MODELS))]
    + [("basset_same", OPTIONS[2]), ("labcnn_subsample", OPTIONS[1])],
)
def test_ism_fast_equals_naive(name, options, caplog):
    model, length = MODELS[name]()
    X = _one_hot(3, length, seed=1)
    with caplog.at_level(logging.INFO, logger="cislens.attribution.fast_ism"):
        fast = ism(model, X, target=0, fast=True, dtype=torch.float64, **options)
    assert "fast path" in caplog.text
    slow = ism(model, X, target=0, fast=False, dtype=torch.float64, **options)
    scale = float(slow.abs().max())
    assert torch.allclose(fast, slow, rtol=1e-5, atol=1e-5 * scale + 1e-12)


def test_batch_size_invariance_and_example_independence():
    model, length = MODELS["bpnet"]()
    X = _one_hot(3, length, seed=3)
    a = ism(model, X, target=1, fast=True, batch_size=7, dtype=torch.float64)
    b = ism(model, X, target=1, fast=True, batch_size=200, dtype=torch.float64)
    c = ism(model, X[1:2], target=1, fast=True, dtype=torch.float64)
    assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(a[1:2], c, atol=1e-6)


def test_default_uses_fast_path_and_logs(caplog):
    model, length = MODELS["labcnn"]()
    with caplog.at_level(logging.INFO, logger="cislens.attribution.fast_ism"):
        ism(model, _one_hot(2, length).float(), target=0)
    assert "ism: fast path" in caplog.text


class _Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm_like = nn.Flatten()
        self.dense = nn.Linear(4 * 10, 1)

    def forward(self, x):
        return self.dense(self.lstm_like(x))


def test_unsupported_model_falls_back_or_raises(caplog):
    X = _one_hot(2, 10).float()
    model = _Unsupported()
    with caplog.at_level(logging.INFO, logger="cislens.attribution.fast_ism"):
        auto = ism(model, X)
    assert "naive path" in caplog.text and "lstm_like" in caplog.text
    assert torch.allclose(auto, ism(model, X, fast=False))
    with pytest.raises(FastISMUnsupported, match="lstm_like"):
        ism(model, X, fast=True)


def test_untraceable_model_falls_back(caplog):
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 2, 3)

        def forward(self, x):
            y = self.conv(x)
            if y.sum() > 0:  # data-dependent control flow: one capture cannot hold it
                y = -y
            return y.sum((1, 2))[:, None]

    X = _one_hot(2, 12).float()
    with caplog.at_level(logging.INFO, logger="cislens.attribution.fast_ism"):
        out = ism(DataDependent(), X)
    assert "naive path" in caplog.text and "cannot be captured" in caplog.text
    assert out.shape == X.shape


@pytest.mark.parametrize(("padding", "dilation"), [(2, 1), ("same", 2), (0, 3), ("same", 1)])
def test_first_layer_lookup_is_used_and_exact(padding, dilation):
    """The first convolution's change is a lookup (the flipped tap table for dilation 1, the
    general tap gather otherwise), also for windows shifted inside the sequence's ends."""
    conv = nn.Conv1d(4, 3, 5, padding=padding, dilation=dilation)
    length = 9 + 4 * dilation
    out_length = length if padding == "same" else length + 2 * padding - 4 * dilation
    net = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(3 * out_length, 1))
    net = net.double().eval()
    X = _one_hot(1, length)
    runner = _Runner(plan_fast_ism(net, X), X)
    positions = torch.tensor([0, 1, length // 2, length - 2, length - 1])
    columns = torch.eye(4, dtype=torch.float64)[[1, 2, 3, 0, 1]]
    out = runner.run(positions, columns)
    edited = X.expand(5, -1, -1).clone()
    edited[torch.arange(5), :, positions] = columns
    with torch.no_grad():
        assert float((out - net(edited)).abs().max()) <= 1e-12


def test_a_capture_that_does_not_reproduce_the_model_is_refused():
    class Counting(nn.Module):
        """Its output changes with every call: one captured graph cannot stand for it."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 2, 3)
            self.register_buffer("calls", torch.zeros(1))

        def forward(self, x):
            self.calls += 1
            return self.conv(x).sum((1, 2))[:, None] * self.calls

    with pytest.raises(FastISMUnsupported, match="does not reproduce the model's output"):
        plan_fast_ism(Counting().eval(), torch.zeros(1, 4, 8))


def test_plan_rejects_strided_conv():
    net = nn.Sequential(nn.Conv1d(4, 2, 3, stride=2), nn.Flatten(), nn.Linear(8, 1))
    with pytest.raises(FastISMUnsupported, match="stride"):
        plan_fast_ism(net.eval(), torch.zeros(1, 4, 9))


@pytest.mark.parametrize("name", ["basset_valid", "beluga", "bpnet", "labcnn"])
def test_batches_mixing_sequences_equal_per_sequence_runs_and_naive(name):
    """One batch holding edits of three sequences, in shuffled order and at both ends, gives
    each edit's model output: equal to the edited sequence run naively and to one-sequence
    runners (float64)."""
    model, length = MODELS[name]()
    model = model.double().eval()
    X = _one_hot(3, length, seed=5)
    X[0, :, 2] = torch.eye(4, dtype=torch.float64)[1]  # no N: every edit is a real base
    g = torch.Generator().manual_seed(1)
    seq = torch.randint(0, 3, (24,), generator=g)
    positions = torch.cat(
        [torch.tensor([0, length - 1, 1, length - 2]), torch.randint(0, length, (20,), generator=g)]
    )
    columns = torch.eye(4, dtype=torch.float64)[torch.randint(0, 4, (24,), generator=g)]
    plan = plan_fast_ism(model, X[:1])
    with torch.no_grad():
        mixed = _Runner(plan, X).run(positions, columns, seq)
        edited = X[seq].clone()
        edited[torch.arange(24), :, positions] = columns
        naive = model(edited)
        alone = torch.cat(
            [
                _Runner(plan, X[s : s + 1]).run(positions[i : i + 1], columns[i : i + 1])
                for i, s in enumerate(seq.tolist())
            ]
        )
    scale = float(naive.abs().max())
    assert float((mixed - naive).abs().max()) <= 1e-10 * scale
    assert float((mixed - alone).abs().max()) <= 1e-10 * scale
