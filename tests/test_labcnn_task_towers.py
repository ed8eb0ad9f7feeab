"""LabCNN's ``task_towers`` option: one second convolution and dense head per task over a
shared first layer (issue #21 item 2, measured on celltypes5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cislens.models import LabCNN, build_model


def _onehot(n: int, length: int, seed: int) -> torch.Tensor:
    tokens = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy())


def _towers(n_tasks: int, length: int = 200, **kwargs) -> LabCNN:
    args = {"n_filters": [8, 3], "n_hidden": 5, "batch_norm": True, "task_towers": "second"}
    return LabCNN(n_tasks, length, **{**args, **kwargs}, random_state=0).eval()


def _tower_as_single_task(model: LabCNN, t: int) -> LabCNN:
    """A plain one-task LabCNN holding task ``t``'s tower of ``model`` (and its first layer)."""
    h = model.hparams
    f = h["n_filters"][0]
    first = slice(t * f, (t + 1) * f) if h["task_towers"] == "all" else slice(0, f)
    single = LabCNN(
        1,
        h["input_length"],
        n_filters=h["n_filters"],
        n_hidden=h["n_hidden"],
        pool_sizes=h["pool_sizes"],
        batch_norm=True,
    ).eval()
    c, k = h["n_filters"][1], h["n_hidden"]
    own, hidden = slice(t * c, (t + 1) * c), slice(t * k, (t + 1) * k)
    with torch.no_grad():
        for name in ("weight", "bias"):
            getattr(single.conv1, name).copy_(getattr(model.conv1, name)[first])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(single.bn1, name).copy_(getattr(model.bn1, name)[first])
        single.conv2.weight.copy_(model.conv2.weight[own])
        single.conv2.bias.copy_(model.conv2.bias[own])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(single.bn2, name).copy_(getattr(model.bn2, name)[own])
        single.dense.weight.copy_(model.dense.weight[hidden, :, 0])
        single.dense.bias.copy_(model.dense.bias[hidden])
        single.out.weight.copy_(model.out.weight[t : t + 1, :, 0])
        single.out.bias.copy_(model.out.bias[t : t + 1])
    return single


@pytest.mark.parametrize("towers", ["second", "all"])
@pytest.mark.parametrize("length", [200, 400])
def test_each_task_output_is_its_own_one_task_labcnn(length, towers):
    # 200 bp keeps 5 positions after the last pool: the flattening must keep each task's
    # channels and positions together; 400 bp with a global pool has one position
    pools = [4, 8] if length == 200 else [4, 91]
    model = _towers(3, length, pool_sizes=pools, task_towers=towers)
    with torch.no_grad():  # non-trivial batch-norm statistics
        model.bn2.running_mean.uniform_(-1, 1, generator=torch.Generator().manual_seed(1))
    x = _onehot(4, length, 0)
    with torch.no_grad():
        out = model(x)
        for t in range(3):
            torch.testing.assert_close(out[:, t : t + 1], _tower_as_single_task(model, t)(x))


@pytest.mark.parametrize("towers", ["second", "all"])
def test_a_task_gradient_reaches_only_its_own_tower(towers):
    model = _towers(3, task_towers=towers)
    model(_onehot(6, 200, 2))[:, 1].sum().backward()
    per_channel = model.conv2.weight.grad.abs().sum(dim=(1, 2)).reshape(3, 3)
    assert torch.all(per_channel[[0, 2]] == 0)
    assert torch.all(per_channel[1] > 0)
    per_filter = model.conv1.weight.grad.abs().sum(dim=(1, 2))
    if towers == "second":  # the first layer is shared
        assert per_filter.sum() > 0 and len(per_filter) == 8
    else:
        per_filter = per_filter.reshape(3, 8).sum(dim=1)
        assert per_filter[0] == 0 and per_filter[2] == 0 and per_filter[1] > 0


def test_towers_multiply_the_second_layer_and_rebuild_from_hparams():
    model = _towers(4)
    assert model.conv2.out_channels == 12 and model.out.out_channels == 4
    assert model(_onehot(2, 200, 3)).shape == (2, 4)
    rebuilt = build_model({"name": "labcnn", **model.hparams}, random_state=0)
    assert rebuilt.hparams == model.hparams


def test_towers_are_off_by_default_and_checked():
    assert LabCNN(random_state=0).hparams["task_towers"] == "none"
    with pytest.raises(ValueError, match="task_towers"):
        LabCNN(task_towers=True)
    with pytest.raises(ValueError, match="task_towers='all' and mean_pool=True"):
        LabCNN(task_towers="all", mean_pool=True)


def test_window_restricted_ism_equals_naive_ism_through_the_towers():
    # fast ISM plans its windows from the traced graph: the grouped convolutions and the
    # unsqueeze / squeeze of the heads must not break it
    from cislens.attribution.ism import ism

    model = _towers(2, 300, pool_sizes=[4, 64], task_towers="all", activation1="exp")
    X = _onehot(2, 300, 4).numpy()
    fast = np.asarray(ism(model, X, target=1, fast=True))
    naive = np.asarray(ism(model, X, target=1, fast=False))
    np.testing.assert_allclose(fast, naive, atol=1e-6)
    assert np.abs(naive).max() > 1e-4


def _mixed(n_tasks: int = 3, length: int = 300, **kwargs) -> LabCNN:
    args = {"pool_sizes": [4, 64], "task_towers": "second", "shared_channels": 4}
    return _towers(n_tasks, length, **{**args, **kwargs})


def test_shared_channels_feed_every_tower_and_a_task_reaches_only_its_own():
    model = _mixed()
    assert model.conv2.out_channels == 9 and model.conv2s.out_channels == 4
    model(_onehot(6, 300, 5))[:, 1].sum().backward()
    own = model.conv2.weight.grad.abs().sum(dim=(1, 2)).reshape(3, 3)
    assert torch.all(own[[0, 2]] == 0) and torch.all(own[1] > 0)
    # the shared channels get task 1's gradient, through task 1's hidden units only
    assert model.conv2s.weight.grad.abs().sum() > 0
    hidden = model.dense_shared.weight.grad.abs().sum(dim=(1, 2)).reshape(3, 5)
    assert torch.all(hidden[[0, 2]] == 0) and hidden[1].sum() > 0


def test_shared_channels_change_every_output_and_rebuild_from_hparams():
    model = _mixed()
    x = _onehot(4, 300, 6)
    with torch.no_grad():
        before = model(x)
        model.conv2s.bias.add_(1.0)  # shifts every shared channel
        after = model(x)
    assert torch.all((before - after).abs().amax(dim=0) > 0)  # each task moves
    rebuilt = build_model({"name": "labcnn", **model.hparams}, random_state=0)
    assert rebuilt.hparams == model.hparams and rebuilt.hparams["shared_channels"] == 4
    assert LabCNN(random_state=0).hparams["shared_channels"] == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shared_channels": 4}, "needs task_towers='second'"),
        ({"shared_channels": 4, "task_towers": "all"}, "needs task_towers='second'"),
        ({"shared_channels": -1, "task_towers": "second"}, "int >= 0"),
        ({"shared_channels": True, "task_towers": "second"}, "int >= 0"),
    ],
)
def test_shared_channels_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LabCNN(3, 300, pool_sizes=[4, 64], **kwargs)


@pytest.mark.parametrize("activation1", ["relu", "exp"])
def test_deeplift_sums_and_fast_ism_is_exact_through_the_shared_channels(activation1):
    # the first layer's output forks into the towers' and the shared second convolutions,
    # whose dense layers add: DeepLIFT must still sum to the output difference, and the
    # window-restricted ISM must still equal naive ISM
    from cislens.attribution.deeplift_engine import summation_deltas
    from cislens.attribution.ism import ism
    from cislens.utils.threads import using_threads

    model = _mixed(2, activation1=activation1)
    with torch.no_grad():  # running statistics away from (0, 1)
        model.train()(_onehot(64, 300, 7))
    model.eval()
    X = _onehot(3, 300, 8)
    R = X[:, :, torch.randperm(300, generator=torch.Generator().manual_seed(9))]
    with using_threads(1):
        result = summation_deltas(
            model,
            X,
            target=1,
            baselines=R[:, None].repeat(1, 2, 1, 1),
            rule="rescale",
            dtype=torch.float64,
            tolerance=1e-5,
        )
        assert result.all_passed, result.describe()
        fast = ism(model, X, target=0, fast=True, dtype=torch.float64)
        slow = ism(model, X, target=0, fast=False, dtype=torch.float64)
    assert torch.allclose(fast, slow, rtol=1e-6, atol=1e-9 * float(slow.abs().max()) + 1e-12)
    assert slow.abs().max() > 1e-6


def test_several_tasks_beyond_200_bp_get_the_mixed_layout_unless_the_user_chose_towers():
    from cislens.train.defaults import LABCNN_MULTITASK_ARGS, default_model_args

    mixed = default_model_args("labcnn", 1000, 21000, n_tasks=5)
    assert mixed.items() >= LABCNN_MULTITASK_ARGS.items() and mixed["batch_norm"] is True
    single = default_model_args("labcnn", 1000, 21000, n_tasks=1)
    assert "task_towers" not in single and single["activation1"] == "exp"
    assert default_model_args("labcnn", 200, 21000, n_tasks=5) == {}  # lab3: the classic model
    own = default_model_args("labcnn", 1000, 21000, n_tasks=5, given={"task_towers": "none"})
    assert own == default_model_args("labcnn", 1000, 21000)
    model = build_model({"name": "labcnn", "n_tasks": 5, "input_length": 1000, **mixed})
    assert model(_onehot(2, 1000, 10)).shape == (2, 5)


def test_gradcam_reads_the_second_convolution_of_a_labcnn_with_towers():
    from cislens.attribution.gradcam import resolve_layer

    assert resolve_layer(_mixed(), None)[0] == "conv2"
    assert resolve_layer(LabCNN(random_state=0), None)[0] == "conv2"
    assert resolve_layer(_mixed(), "conv2s")[0] == "conv2s"
