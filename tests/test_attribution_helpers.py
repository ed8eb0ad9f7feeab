"""Small models and inputs shared by the attribution tests (plus checks of the helpers)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn


def random_one_hot(n: int, length: int, seed: int, *, n_columns: int = 0) -> torch.Tensor:
    """Uniform random one-hot (n, 4, length) float32, with ``n_columns`` N columns in row 0."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n, length))
    X = np.zeros((n, 4, length), dtype=np.float32)
    np.put_along_axis(X, tokens[:, None, :], 1.0, axis=1)
    if n_columns:
        X[0, :, rng.choice(length, size=n_columns, replace=False)] = 0.0
    return torch.from_numpy(X)


def init_weights(model: nn.Module, seed: int, scale: float = 0.4) -> nn.Module:
    """Deterministic normal weights from a local generator (no global RNG)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(scale * torch.randn(param.shape, generator=generator))
    return model.eval()


class SmallConv(nn.Module):
    """Conv -> ReLU -> MaxPool -> Conv -> ReLU -> Linear, 3 outputs; every ReLU a module."""

    def __init__(self, length: int = 24, n_outputs: int = 3, seed: int = 0):
        super().__init__()
        self.conv1 = nn.Conv1d(4, 6, 5)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(6, 4, 3)
        self.relu2 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(4 * ((length - 4) // 2 - 2), n_outputs)
        init_weights(self, seed)

    def forward(self, x):
        x = self.pool(self.relu1(self.conv1(x)))
        return self.dense(self.flatten(self.relu2(self.conv2(x))))


class SmoothConv(nn.Module):
    """A smooth (tanh / softplus) conv net with 2 outputs, for quadrature accuracy tests."""

    def __init__(self, length: int = 20, seed: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(4, 5, 4)
        self.act = nn.Softplus()
        self.dense = nn.Linear(5 * (length - 3), 2)
        self.out = nn.Tanh()
        init_weights(self, seed, scale=0.8)
        with torch.no_grad():  # keep tanh away from saturation
            self.dense.weight.mul_(0.125)
            self.dense.bias.zero_()

    def forward(self, x):
        return self.out(self.dense(self.act(self.conv(x)).flatten(1)))


def small_labcnn(n_tasks: int = 2, length: int = 60, seed: int = 0):
    """A LabCNN (max-pooling, ceil mode) shrunk to run fast."""
    from cislens.models import LabCNN

    return LabCNN(
        n_tasks=n_tasks,
        input_length=length,
        n_filters=(8, 6),
        filter_widths=(7, 4),
        pool_sizes=(2, 3),
        n_hidden=16,
        random_state=seed,
    ).eval()


def float64_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).double().eval()


def model_snapshot(model: nn.Module) -> dict:
    """Everything the methods must leave unchanged on a model."""
    return {
        "state": {key: value.clone() for key, value in model.state_dict().items()},
        "dtypes": {key: value.dtype for key, value in model.state_dict().items()},
        "modes": [module.training for module in model.modules()],
        "requires_grad": [param.requires_grad for param in model.parameters()],
        "grads": [param.grad for param in model.parameters()],
        "hooks": [
            len(module._forward_hooks)
            + len(module._forward_pre_hooks)
            + len(module._backward_hooks)
            + len(getattr(module, "_backward_pre_hooks", {}))
            for module in model.modules()
        ],
        "attributes": [sorted(vars(module)) for module in model.modules()],
    }


def assert_unchanged(model: nn.Module, snapshot: dict) -> None:
    after = model_snapshot(model)
    assert after["dtypes"] == snapshot["dtypes"]
    for key, value in snapshot["state"].items():
        assert torch.equal(after["state"][key], value), key
    for name in ("modes", "requires_grad", "hooks", "attributes"):
        assert after[name] == snapshot[name], name
    assert all(grad is None for grad in after["grads"])


def test_helpers_build_what_they_promise():
    X = random_one_hot(3, 24, 0, n_columns=2)
    assert X.shape == (3, 4, 24) and (X.sum(1)[0] == 0).sum() == 2
    assert SmallConv()(X).shape == (3, 3)
    assert SmoothConv(length=24)(X).shape == (3, 2)
    assert small_labcnn()(random_one_hot(2, 60, 0)).shape == (2, 2)


@pytest.fixture(autouse=True)
def single_thread():
    """Run torch single-threaded during a test (tiny models; avoids thread contention)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
