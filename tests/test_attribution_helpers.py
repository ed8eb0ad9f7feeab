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


# A user's own BPNet-like architecture, written to a file so the command line, Dask workers and
# `cislens run` can load it as "two_heads.py:TwoHeads" with safetensors weights.
TWO_HEADS = """
import torch
from torch import nn


class TwoHeads(nn.Module):
    \"\"\"Profile logits (N, 2, L - 4) and counts (N, 1); takes (N, L, 4) when nlc=True.\"\"\"

    def __init__(self, nlc=False):
        super().__init__()
        self.nlc = nlc
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.relu = nn.ReLU()
        self.profile = nn.Conv1d(6, 2, 5)
        self.counts = nn.Linear(6, 1)

    def forward(self, x):
        if self.nlc:
            x = x.transpose(1, 2)
        h = self.relu(self.conv(x))
        return self.profile(h), self.counts(h.mean(-1))


class TwoHeadsNLC(TwoHeads):
    \"\"\"The same, taking (N, L, 4) without constructor arguments.\"\"\"

    def __init__(self):
        super().__init__(nlc=True)
"""


def two_heads_files(folder, *, seed: int = 0, nlc: bool = False):
    """Write ``TWO_HEADS`` and seeded safetensors weights to ``folder``.

    Returns ``(spec, weights, model)``: the class spec, the weights file and the loaded model.
    """
    from pathlib import Path

    from safetensors.torch import save_file

    from cislens.models import load_user_model

    folder = Path(folder)
    (folder / "two_heads.py").write_text(TWO_HEADS)
    rng = np.random.default_rng(seed)  # a local generator, not torch's global one
    shapes = {"conv.weight": (6, 4, 5), "conv.bias": (6,), "profile.weight": (2, 6, 5),
              "profile.bias": (2,), "counts.weight": (1, 6), "counts.bias": (1,)}  # fmt: skip
    state = {k: torch.from_numpy(0.5 * rng.normal(size=v).astype(np.float32))
             for k, v in shapes.items()}  # fmt: skip
    save_file(state, folder / "two_heads.safetensors")
    spec = f"{folder / 'two_heads.py'}:TwoHeads"
    weights = folder / "two_heads.safetensors"
    return spec, weights, load_user_model(spec, weights, nlc=nlc)


class HandWritten(nn.Module):
    """The wrapper a user writes for a (profile, counts) model before output= existed."""

    def __init__(self, model: nn.Module, head: str, nlc: bool = False):
        super().__init__()
        self.model, self.head, self.nlc = model, head, nlc

    def forward(self, x):
        profile, counts = self.model(x.transpose(1, 2) if self.nlc else x)
        if self.head == "counts":
            return counts
        logits = profile.flatten(1)
        logits = logits - logits.mean(-1, keepdim=True)
        return (torch.softmax(logits, -1).detach() * logits).sum(-1, keepdim=True)


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


def save_lab3_inputs(root, *, n: int, epochs: int):
    """A lab3 simulation of ``n`` sequences saved as ``root/data.h5`` and a LabCNN for it saved
    as ``root/model`` (trained ``epochs`` epochs, 0: untrained); returns ``(data, model)``."""
    from cislens.io import save_dataset
    from cislens.models import LabCNN, save_model
    from cislens.simulate import simulate
    from cislens.train import fit

    data = simulate("lab3", n=n, random_state=0)
    save_dataset(root / "data.h5", data)
    model = LabCNN(n_tasks=data.n_tasks, input_length=data.length, random_state=0)
    if epochs:
        fit(model, data, epochs=epochs, batch_size=100, random_state=0)
    save_model(model, root / "model", task_names=data.task_names)
    return data, model
