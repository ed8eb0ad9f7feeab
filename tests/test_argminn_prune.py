"""Pruning an ARGMINN's redundant filters (:mod:`cislens.argminn.prune`): the copy, the zeroed
filters that stay zero through the fine-tune, the continued schedule, the acceptance rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from testkit import TINY_ARGMINN

import cislens.argminn.prune as prune
from cislens.argminn import ARGMINN, prune_after_training, prune_redundant
from cislens.io.dataset import Dataset
from cislens.models import DeepBind
from cislens.sequence import one_hot_encode


def _data(n_train=96, n_valid=48, length=40):
    rng = np.random.default_rng(0)
    motif = one_hot_encode(["GATAAG"])[0].numpy()
    X, Y = {}, {}
    for split, n in (("train", n_train), ("valid", n_valid)):
        tokens = rng.integers(0, 4, (n, length))
        X[split] = np.ascontiguousarray(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1))
        Y[split] = (np.arange(n) % 2 == 0).astype(np.float32)[:, None]
        X[split][Y[split][:, 0] == 1, :, 17:23] = motif
    return Dataset(X=X, Y=Y, task_names=["GATA"], attrs={})


def _model(**args):
    model = ARGMINN(1, **{**TINY_ARGMINN, **args}, random_state=0)
    with torch.no_grad():  # a running mean / variance that a live batch norm would move
        model.token_norm.running_mean.fill_(0.3)
        model.token_norm.running_var.fill_(2.0)
    return model


def test_redundant_filters_are_zeroed_and_stay_zero_in_a_copy(monkeypatch):
    monkeypatch.setattr(prune, "redundant_filters", lambda model, X, **kw: [1])
    model = _model()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    result = prune_redundant(model, _data(), random_state=0, epochs=2, tolerance=1.0)
    assert result.applied and result.redundant == [1] and result.model is not model
    scanner = result.model.scanner
    assert torch.count_nonzero(scanner.weight[1]) == 0 and float(scanner.bias[1].detach()) == 0.0
    # the other filters were fine-tuned, the given model is untouched
    assert not torch.equal(scanner.weight[0], original["scanner.weight"][0])
    for name, value in model.state_dict().items():
        assert torch.equal(value, original[name]), name
    # the token norm stays frozen: the fine-tune continues after the warm-up
    norm = result.model.token_norm
    assert torch.equal(norm.running_mean, original["token_norm.running_mean"])
    assert torch.equal(norm.running_var, original["token_norm.running_var"])
    assert result.history.n_epochs == 2 and "removed filter_1" in result.summary()
    # with the filter's activations zero, the model reads no token from it
    acts, _ = result.model.eval().scan(torch.from_numpy(_data().X["valid"]))
    assert float(acts[:, 1].abs().max()) == 0.0


def test_the_fine_tune_trains_under_the_settled_regulariser_weights(monkeypatch):
    monkeypatch.setattr(prune, "redundant_filters", lambda model, X, **kw: [2])
    seen = []
    model = _model()
    original = ARGMINN.regularization_loss

    def spy(self, epoch):
        seen.append(epoch)
        return original(self, epoch)

    monkeypatch.setattr(ARGMINN, "regularization_loss", spy)
    prune_redundant(model, _data(), random_state=0, epochs=2, tolerance=1.0)
    settled = model.schedule.settled_epoch
    assert seen and min(seen) == settled + 1 and max(seen) == settled + 2
    assert model.schedule.weights(min(seen)) == model.schedule.weights(settled)


def test_a_pruned_model_that_scores_worse_is_not_used(monkeypatch):
    monkeypatch.setattr(prune, "redundant_filters", lambda model, X, **kw: [0])
    scores = iter([0.95, 0.80, 0.90])  # before, zeroed, after the fine-tune
    monkeypatch.setattr(prune, "validation_score", lambda *a, **kw: (next(scores), "valid auROC"))
    model = _model()
    result = prune_redundant(model, _data(), random_state=0, epochs=1)  # tolerance 0.005
    assert not result.applied and result.model is model
    assert (result.score_before, result.score_zeroed, result.score_after) == (0.95, 0.80, 0.90)
    assert "kept the model" in result.reason and "filter_0" in result.reason


def test_nothing_redundant_nothing_done():
    model = _model()  # untrained: no filter passes, so none is redundant
    result = prune_redundant(model, _data(), random_state=0)
    assert not result.applied and result.redundant == [] and result.model is model
    assert result.history is None and np.isnan(result.score_after)


def test_only_an_argminn_that_asks_for_it_is_pruned(monkeypatch):
    calls = []
    monkeypatch.setattr(prune, "prune_redundant", lambda model, data, **kw: calls.append(model))
    assert prune_after_training(DeepBind(n_tasks=1), _data()) is None
    assert prune_after_training(_model(prune_redundant=False), _data()) is None
    assert not calls
    model = _model()
    prune_after_training(model, _data())
    assert calls == [model]


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"tolerance": -0.1}, "tolerance must be a number >= 0"), ({"epoch": 3}, "unknown setting")],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        prune_redundant(_model(), _data(), **settings)


def test_data_without_a_validation_split_is_refused():
    data = _data()
    train_only = Dataset(
        X={"train": data.X["train"]}, Y={"train": data.Y["train"]}, task_names=["GATA"]
    )
    with pytest.raises(ValueError, match=r"'train' and 'valid' splits .* splits \['train'\]"):
        prune_redundant(_model(), train_only)
    with pytest.raises(ValueError, match="got tuple"):
        prune_redundant(_model(), (data.X["train"], data.Y["train"]))


def test_a_model_that_is_not_argminn_is_refused():
    from cislens.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="cislens ARGMINN"):
        prune_redundant(DeepBind(n_tasks=1), _data())


def test_the_pipeline_prunes_the_argminn_it_trains(tmp_path, monkeypatch, caplog):
    from cislens.io.dataset import save_dataset
    from cislens.models import load_model, read_model_config
    from cislens.pipeline.config import parse_run_config
    from cislens.pipeline.model_stage import train_stage
    from cislens.pipeline.stages import Stages

    monkeypatch.setattr(prune, "redundant_filters", lambda model, X, **kw: [1])
    dataset = _data()
    save_dataset(tmp_path / "data.h5", dataset)
    train = {"epochs": 3, "batch_size": 32, "restarts": 1}
    config = parse_run_config(
        {
            "data": {"hdf5": str(tmp_path / "data.h5")},
            "model": {"architecture": "argminn", "args": TINY_ARGMINN, "train": train},
            "seed": 0,
        }
    )
    with caplog.at_level("INFO", logger="cislens"):
        model, _ = train_stage(config, Stages(tmp_path / "run", False), dataset, {}, None)
    assert "ARGMINN pruning: removed filter_1" in caplog.text
    saved = load_model(tmp_path / "run" / "model")
    assert torch.count_nonzero(saved.scanner.weight.detach()[1]) == 0  # the pruned model is kept
    assert torch.equal(saved.scanner.weight, model.scanner.weight)
    recorded = read_model_config(tmp_path / "run" / "model")["training_summary"]
    pruning = recorded["params"]["pruning"]  # the pipeline stores the History itself
    assert pruning["applied"] and pruning["redundant"] == [1] and pruning["fine_tune_epochs"] >= 1
