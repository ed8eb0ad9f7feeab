"""Beluga's batch-norm option and its train/run default for small data: the published layout
stays the class default, the small-data default is chosen by the data size, a user's args win,
and batch norm keeps the stage-1 ReLU alive where the published layout loses it."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
from testkit import planted_kmer_data
from torch import nn

import cislens.cli.train  # noqa: F401  (registers the subcommands)
from cislens.cli import main
from cislens.io.dataset import Dataset, save_dataset
from cislens.models import DeepSEABeluga, build_model, read_model_config
from cislens.train import fit
from cislens.train.defaults import SMALL_DATA, beluga_model_args, default_model_args
from cislens.utils.threads import using_threads


def test_published_layout_is_the_class_default():
    defaults = inspect.signature(DeepSEABeluga).parameters
    assert defaults["n_filters"].default == (320, 480, 640)
    assert defaults["batch_norm"].default is False
    assert defaults["first_activation"].default == "relu" and not defaults["global_pool"].default
    model = DeepSEABeluga(n_tasks=1, input_length=400, n_filters=[4, 5, 6])
    assert not model.hparams["batch_norm"]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())


def test_batch_norm_sits_after_every_convolution_before_its_activation():
    model = DeepSEABeluga(n_tasks=1, input_length=400, n_filters=[4, 5, 6], batch_norm=True)
    names = list(dict(model.conv.named_children()))
    for stage in "123":
        for sub in "ab":
            conv, bn, act = f"conv{stage}{sub}", f"bn{stage}{sub}", f"relu{stage}{sub}"
            assert names.index(conv) + 1 == names.index(bn) == names.index(act) - 1
            assert model.conv.get_submodule(bn).num_features == [4, 5, 6][int(stage) - 1]
    # exp replaces only the first activation, after the first batch norm
    exp = DeepSEABeluga(1, 400, n_filters=[4, 5, 6], batch_norm=True, first_activation="exp")
    names = list(dict(exp.conv.named_children()))
    assert names[:4] == ["conv1a", "bn1a", "exp1a", "conv1b"]
    with pytest.raises(ValueError, match="batch_norm"):
        DeepSEABeluga(n_tasks=1, input_length=400, batch_norm="yes")


@pytest.mark.parametrize(("length", "ceil"), [(100, {}), (300, {}), (2000, {"pool_ceil": True})])
def test_small_data_default_is_chosen_by_the_data_size(length, ceil):
    small = default_model_args("beluga", length, SMALL_DATA - 1)
    assert small == beluga_model_args(length, SMALL_DATA - 1)
    assert small == {"n_filters": [32, 32, 32], "batch_norm": True, **ceil}
    model = build_model({"name": "beluga", "n_tasks": 1, "input_length": length, **small})
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 6
    # from SMALL_DATA training sequences, or when the size is not known: the published layout
    # (with the pools' last partial windows where the published pools leave bases unread)
    assert default_model_args("beluga", length, SMALL_DATA) == ceil
    assert default_model_args("beluga", length) == ceil


def _train_cli(tmp_path, n_train: int, model_args: dict | None):
    rng = np.random.default_rng(0)
    X, Y = {}, {}
    for split, n in (("train", n_train), ("valid", 20), ("test", 20)):
        tokens = rng.integers(0, 4, (n, 100))
        X[split] = np.ascontiguousarray(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1))
        Y[split] = (rng.random((n, 1)) < 0.5).astype(np.float32)
    path = tmp_path / f"data_{n_train}.h5"
    save_dataset(path, Dataset(X=X, Y=Y, task_names=["t"], attrs={"random_state": 0}))
    out = tmp_path / f"run_{n_train}_{model_args is not None}"
    args = ["train", "--data", str(path), "--model", "beluga", "--out", str(out)]
    args += ["--epochs", "1", "--device", "cpu", "--threads", "1"]
    if model_args is not None:
        args += ["--model-args", json.dumps(model_args)]
    assert main(args) == 0
    return read_model_config(out)["hyperparameters"]


def test_cli_uses_the_small_data_default_and_the_users_args_win(tmp_path):
    hparams = _train_cli(tmp_path, 60, None)
    assert hparams["batch_norm"] and hparams["n_filters"] == [32, 32, 32]
    given = {"batch_norm": False, "n_filters": [3, 4, 5], "n_hidden": 6}
    hparams = _train_cli(tmp_path, 60, given)
    assert not hparams["batch_norm"] and hparams["n_filters"] == [3, 4, 5]


def _dead_stage1_channels(batch_norm: bool) -> int:
    """Channels of conv1b whose ReLU is 0 on every validation position after epoch 3."""
    X_tr, Y_tr, X_va, Y_va, _, _ = planted_kmer_data(seed=0, n=1000, length=150)
    model = DeepSEABeluga(
        1, 150, n_filters=[16, 16, 16], n_hidden=16, batch_norm=batch_norm, random_state=0
    )
    seen = {}

    def after_epoch(record):  # fit restores the best epoch at its end: look before that
        hook = model.conv.relu1b.register_forward_hook(lambda m, i, o: seen.__setitem__("b", o))
        with torch.no_grad():
            model.eval()(torch.from_numpy(X_va))
        model.train()
        hook.remove()

    with using_threads(1):
        fit(
            model, (X_tr, Y_tr, X_va, Y_va), epochs=3, lr=1e-2, callback=after_epoch, random_state=0
        )
    return int((seen["b"].amax(dim=(0, 2)) <= 0).sum())


def test_batch_norm_keeps_the_first_stage_alive_at_the_small_data_rate():
    # without normalisation the stage-1 ReLU channels die at lr 1e-2 (a channel that is 0
    # everywhere gets no gradient again; measured here: 5, 13, 15 of 16 dead after epochs
    # 1-3 for seed 0, 15-16 for seed 1, 4 for seed 2; on the 300 bp own data the output
    # collapsed to a constant), with batch norm none of them (seeds 0-2)
    assert _dead_stage1_channels(False) >= 8
    assert _dead_stage1_channels(True) == 0


def test_attributions_stay_exact_on_the_normalised_beluga():
    """The small-data default puts batch norm in Beluga: DeepLIFT still sums to the output
    difference and fast ISM still equals naive ISM (eval-mode batch norm is per-channel
    affine)."""
    from cislens.attribution.deeplift_engine import summation_deltas
    from cislens.attribution.ism import ism

    model = DeepSEABeluga(2, 100, n_filters=[6, 5, 4], n_hidden=8, batch_norm=True, random_state=0)
    with torch.no_grad():  # move the running statistics away from (0, 1)
        model.train()(torch.from_numpy(planted_kmer_data(n=200, length=100)[0][:64]))
    model.eval()
    g = torch.Generator().manual_seed(3)
    X = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 100), generator=g), 4)
    X = X.permute(0, 2, 1).float()
    R = X[:, :, torch.randperm(100, generator=g)][:, None].repeat(1, 2, 1, 1)
    with using_threads(1):
        result = summation_deltas(
            model, X, target=1, baselines=R, rule="rescale", dtype=torch.float64, tolerance=1e-5
        )
        assert result.all_passed, result.describe()
        fast = ism(model, X, target=0, fast=True, dtype=torch.float64)
        slow = ism(model, X, target=0, fast=False, dtype=torch.float64)
    assert torch.allclose(fast, slow, rtol=1e-5, atol=1e-5 * float(slow.abs().max()) + 1e-12)
