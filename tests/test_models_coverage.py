"""Every input base reaches the output: pools whose lengths do not divide drop the sequence's
last bases (their attributions are exactly 0, a motif there is invisible). ``unseen_bases``
predicts the dropped tail exactly, and the training defaults of Basset and Beluga leave none."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from cislens.errors import CislensWarning
from cislens.models import DeepSEABeluga, basset_unseen_bases, beluga_unseen_bases, build_model
from cislens.models.basset import Basset, global_pool_sizes
from cislens.train import fit
from cislens.train.defaults import SMALL_DATA, default_model_args


def _unread_tail(model: torch.nn.Module, length: int) -> int:
    """Trailing bases whose gradient is exactly 0 for every one of 32 random sequences."""
    model = model.double().eval()
    tokens = torch.randint(0, 4, (32, length), generator=torch.Generator().manual_seed(1))
    x = torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).double().requires_grad_(True)
    model(x).sum().backward()
    read = np.flatnonzero(x.grad.abs().sum(dim=(0, 1)).numpy() > 0)
    return length - 1 - int(read.max())


@pytest.mark.parametrize("length", [200, 227, 300, 500, 1000])
@pytest.mark.parametrize("pool_ceil", [False, True])
def test_unseen_bases_is_the_tail_the_gradient_never_reaches(length, pool_ceil):
    small = {"n_filters": [4, 4, 4], "random_state": 0, "pool_ceil": pool_ceil}
    for model in (
        Basset(2, length, n_hidden=[8], **small),
        Basset(2, length, n_hidden=[8], padding="same", **small),
        DeepSEABeluga(2, length, n_hidden=8, **small),
    ):
        assert model.unseen_bases == _unread_tail(model, length)
        if pool_ceil:
            assert model.unseen_bases == 0


def test_published_pools_drop_the_tail_at_200_bp():
    # the published Basset fits 600 bp; at 200 bp its last 32 bases never reach the output
    assert [basset_unseen_bases(n) for n in (200, 500, 600)] == [32, 44, 0]
    assert beluga_unseen_bases(500) == 14 and beluga_unseen_bases(500, pool_ceil=True) == 0
    model = Basset(1, 200, n_filters=[4, 4, 4], n_hidden=[8], random_state=0)
    assert _unread_tail(model, 200) == 32


@pytest.mark.parametrize("n_train", [SMALL_DATA - 1, SMALL_DATA])
@pytest.mark.parametrize("length", [150, 200, 300, 333, 500, 600, 1000, 2000])
def test_training_defaults_read_every_base(n_train, length):
    args = default_model_args("basset", length, n_train)
    ceil = args.get("pool_ceil", False)
    pools = args.get("pool_sizes", (3, 4, 4))
    assert basset_unseen_bases(length, pool_sizes=pools, pool_ceil=ceil) == 0
    # the flag is set only where it changes something: exact fits keep the published model
    floor_pools = global_pool_sizes(length) if n_train < SMALL_DATA else (3, 4, 4)
    assert ceil == (basset_unseen_bases(length, pool_sizes=floor_pools) > 0)
    args = default_model_args("beluga", length, n_train)
    ceil = args.get("pool_ceil", False)
    assert beluga_unseen_bases(length, pool_ceil=ceil) == 0
    assert ceil == (beluga_unseen_bases(length) > 0)


def test_the_flag_is_saved_with_the_model():
    model = build_model({"name": "basset", "n_tasks": 1, "input_length": 200, "pool_ceil": True})
    assert model.hparams["pool_ceil"] is True and model.feature_lengths[-1] == 2
    with pytest.raises(ValueError, match="pool_ceil"):
        Basset(1, 200, pool_ceil="yes")


def test_training_a_model_that_drops_bases_warns():
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (24, 200))].transpose(0, 2, 1).copy()
    Y = (rng.random((24, 1)) < 0.5).astype(np.float32)
    data = (X[:16], Y[:16], X[16:], Y[16:])
    small = {"n_filters": [4, 4, 4], "n_hidden": [8], "random_state": 0}
    with pytest.warns(CislensWarning, match="reads only the first 168 of 200 bp"):
        fit(Basset(1, 200, **small), data, epochs=1, batch_size=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CislensWarning)
        fit(Basset(1, 200, pool_ceil=True, **small), data, epochs=1, batch_size=8, random_state=0)
