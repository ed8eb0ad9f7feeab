"""LabCNN's ``mean_pool`` option (issue #21 item 2: measured on celltypes5, not a default)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cislens.models import LabCNN
from cislens.train.defaults import default_model_args


def _onehot(n: int, length: int, seed: int) -> torch.Tensor:
    tokens = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy())


def _labcnn(mean_pool: bool) -> LabCNN:
    args = {**default_model_args("labcnn", 500), "mean_pool": mean_pool}
    return LabCNN(n_tasks=2, input_length=500, **args, random_state=0).eval()


def test_mean_pool_features_are_the_max_and_the_mean_of_the_second_map():
    model = _labcnn(True)
    assert model.feature_lengths[-1] == 1
    seen = {}
    model.relu2.register_forward_hook(lambda m, a, out: seen.__setitem__("map", out))
    model.dense.register_forward_pre_hook(lambda m, a: seen.__setitem__("features", a[0]))
    with torch.no_grad():
        model(_onehot(3, 500, 0))
    second = seen["map"]  # (3, 16, positions) after the ReLU
    expected = torch.cat([second.amax(dim=2), second.mean(dim=2)], dim=1)
    torch.testing.assert_close(seen["features"], expected)


def test_mean_pool_passes_gradient_to_more_positions_than_the_max():
    # what the option was for: a global max gives each channel's gradient to one position
    x = _onehot(1, 500, 1).requires_grad_(True)
    reach = {}
    for mean_pool in (False, True):
        x.grad = None
        _labcnn(mean_pool)(x).sum().backward()
        reach[mean_pool] = int((x.grad.abs().sum(dim=1) > 0).sum())
    # 16 channels x a 50 bp receptive field bound the max pool's reach
    assert reach[False] <= 16 * 50 and reach[True] > reach[False]
    assert reach[True] >= 450


def test_mean_pool_is_off_by_default_and_checked():
    assert "mean_pool" not in default_model_args("labcnn", 1000, 21000)
    assert LabCNN(random_state=0).hparams["mean_pool"] is False
    with pytest.raises(TypeError, match="mean_pool"):
        LabCNN(mean_pool="yes")
