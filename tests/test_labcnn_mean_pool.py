"""LabCNN's ``mean_pool`` and the multi-task default beyond 200 bp (issue #21 item 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cislens.models import LabCNN, build_model
from cislens.train.defaults import MEAN_POOL_MIN_TASKS, default_model_args


def _onehot(n: int, length: int, seed: int) -> torch.Tensor:
    tokens = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy())


def _default_labcnn(length: int, n_tasks: int) -> LabCNN:
    args = default_model_args("labcnn", length, 14000, n_tasks=n_tasks)
    config = {"name": "labcnn", "n_tasks": n_tasks, "input_length": length, **args}
    return build_model(config, random_state=0)


def test_mean_pool_features_are_the_max_and_the_mean_of_the_second_map():
    model = _default_labcnn(500, 5).eval()
    assert model.hparams["mean_pool"] and model.feature_lengths[-1] == 1
    x = _onehot(3, 500, 0)
    seen = {}
    model.relu2.register_forward_hook(lambda m, a, out: seen.__setitem__("map", out))
    model.dense.register_forward_pre_hook(lambda m, a: seen.__setitem__("features", a[0]))
    with torch.no_grad():
        model(x)
    second = seen["map"]  # (3, 16, positions) after the ReLU
    expected = torch.cat([second.amax(dim=2), second.mean(dim=2)], dim=1)
    torch.testing.assert_close(seen["features"], expected)


def test_mean_pool_passes_gradient_to_more_positions_than_the_max():
    # the reason for the option: a global max gives each channel's gradient to one position
    x = _onehot(1, 500, 1).requires_grad_(True)
    reach = {}
    for mean_pool in (False, True):
        model = LabCNN(
            n_tasks=1,
            input_length=500,
            pool_sizes=(4, 114),
            batch_norm=True,
            activation1="exp",
            mean_pool=mean_pool,
            random_state=0,
        ).eval()
        x.grad = None
        model(x).sum().backward()
        reach[mean_pool] = int((x.grad.abs().sum(dim=1) > 0).sum())
    # 16 channels x 47 bp receptive field bound the max pool's reach
    assert reach[False] <= 16 * 47 and reach[True] > reach[False]
    assert reach[True] >= 450


def test_multi_task_default_beyond_200_bp_only():
    one_task = default_model_args("labcnn", 500, 14000)
    assert default_model_args("labcnn", 500, 14000, n_tasks=1) == one_task
    assert "mean_pool" not in one_task
    several = default_model_args("labcnn", 1000, 21000, n_tasks=MEAN_POOL_MIN_TASKS)
    assert several["mean_pool"] is True
    assert {k: v for k, v in several.items() if k != "mean_pool"} == default_model_args(
        "labcnn", 1000, 21000
    )
    # 200 bp (lab3, the demo) keeps the classic model whatever the number of tasks
    assert default_model_args("labcnn", 200, 14000, n_tasks=3) == {}
    assert _default_labcnn(200, 3).hparams["mean_pool"] is False
    with pytest.raises(TypeError, match="mean_pool"):
        LabCNN(mean_pool="yes")
