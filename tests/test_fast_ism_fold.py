"""Eval batch norms folded into their convolutions for fast ISM (:mod:`_fast_ism_fold`): the
folded graph computes what the model computes, and only foldable pairs are folded."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cislens.attribution import ism
from cislens.attribution._fast_ism_fold import fold_batch_norms
from cislens.attribution.capture import capture

F64 = torch.float64


def _x(n, length, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.eye(4, dtype=F64)[torch.randint(0, 4, (n, length), generator=g)].transpose(1, 2)


def _randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=g))
            module.running_var.copy_(torch.rand(module.num_features, generator=g) * 3 + 0.2)
            if module.affine:
                module.weight.data.copy_(torch.randn(module.num_features, generator=g))
                module.bias.data.copy_(torch.randn(module.num_features, generator=g))
    return model.eval().to(F64)


@pytest.mark.parametrize(
    ("conv_bias", "affine", "groups"), [(True, True, 1), (False, True, 1), (True, False, 2)]
)
def test_the_folded_graph_computes_the_model(conv_bias, affine, groups):
    model = _randomise(
        nn.Sequential(
            nn.Conv1d(4, 6, 5, padding="same", bias=conv_bias),
            nn.BatchNorm1d(6, affine=affine),
            nn.ReLU(),
            nn.Conv1d(6, 4, 3, groups=groups),
            nn.BatchNorm1d(4, affine=affine),
            nn.Flatten(),
        ),
        seed=1,
    )
    x = _x(3, 30, seed=2)
    captured = capture(model, x[:1])
    assert fold_batch_norms(captured.graph) == 2
    targets = [n.target for n in captured.graph.nodes if n.op == "call_function"]
    assert F.batch_norm not in targets and targets.count(F.conv1d) == 2
    with torch.no_grad():
        torch.testing.assert_close(captured.run(x), model(x), rtol=1e-12, atol=1e-12)


class _Shared(nn.Module):
    """A convolution read by a batch norm and by a residual sum: not foldable."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3, padding=1)
        self.norm = nn.BatchNorm1d(4)

    def forward(self, x):
        h = self.conv(x)
        return (self.norm(h) + h).sum((1, 2))[:, None]


def test_a_convolution_read_twice_or_a_training_norm_is_left_alone():
    model = _randomise(_Shared(), seed=3)
    captured = capture(model, _x(1, 12, seed=4))
    assert fold_batch_norms(captured.graph) == 0
    pair = nn.Sequential(nn.Conv1d(4, 2, 3), nn.BatchNorm1d(2)).to(F64).eval()
    graph = capture(pair, _x(1, 12, seed=4)).graph
    for node in graph.nodes:  # the same call in training mode (batch statistics)
        if node.target is F.batch_norm:
            node.kwargs = {**node.kwargs, "training": True}
    assert fold_batch_norms(graph) == 0


def test_fast_ism_with_folded_norms_equals_naive_ism():
    model = _randomise(
        nn.Sequential(
            nn.Conv1d(4, 8, 7, padding="same"),
            nn.BatchNorm1d(8),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(8, 8, 3, padding="same"),
            nn.BatchNorm1d(8),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Flatten(),
            nn.Linear(8 * 10, 1),
        ),
        seed=5,
    )
    x = _x(2, 40, seed=6)
    fast = ism(model, x, scores="delta", hypothetical=True, dtype=F64, fast=True)
    naive = ism(model, x, scores="delta", hypothetical=True, dtype=F64, fast=False)
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())
