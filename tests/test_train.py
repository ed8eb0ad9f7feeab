"""Training, prediction and evaluation: determinism, ground truth, metrics, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

from cislens.errors import CislensWarning
from cislens.io.dataset import Dataset
from cislens.models import Basset, DeepBind, LabCNN, build_model
from cislens.train import METRIC_COLUMNS, History, evaluate, fit, predict
from cislens.train.fit import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_PATIENCE,
)
from cislens.utils.device import resolve_device

MOTIFS = ["GATAAG", "CCGCGG"]


def toy_data(n: int = 600, length: int = 40, seed: int = 0, positives: float = 0.4):
    """Random sequences; task t is positive exactly when MOTIFS[t] was planted (ground truth)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, length))
    Y = np.zeros((n, len(MOTIFS)), np.float32)
    for t, motif in enumerate(MOTIFS):
        code = np.array(["ACGT".index(c) for c in motif])
        for i in np.flatnonzero(rng.random(n) < positives):
            start = rng.integers(0, length - len(code) + 1)
            tokens[i, start : start + len(code)] = code
            Y[i, t] = 1.0
    X = np.ascontiguousarray(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1))
    return X, Y


def toy_split(n: int = 600, length: int = 40, seed: int = 0):
    X, Y = toy_data(n, length, seed)
    cut1, cut2 = int(0.7 * n), int(0.85 * n)
    return (X[:cut1], Y[:cut1], X[cut1:cut2], Y[cut1:cut2]), (X[cut2:], Y[cut2:])


def small_deepbind(seed: int = 0, n_tasks: int = 2) -> DeepBind:
    return DeepBind(n_tasks=n_tasks, n_filters=8, filter_width=6, n_hidden=8, random_state=seed)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


# --- fit ---------------------------------------------------------------------------------------


def test_fit_learns_the_planted_motifs():
    data, (X_test, Y_test) = toy_split(n=1200)
    model = DeepBind(
        n_tasks=2, n_filters=16, filter_width=8, n_hidden=16, dropout=0.0, random_state=0
    )
    history = fit(model, data, epochs=8, batch_size=50, lr=1e-2, random_state=0)
    table = evaluate(model, X_test, Y_test, task_names=MOTIFS)
    # min auROC over 6 seeds of this setup was 0.93; random 6-mers in the negatives cap it < 1
    assert (table["auroc"] > 0.9).all(), table
    assert history.valid_auroc[history.best_epoch - 1] > 0.9
    assert history.train_loss[-1] < history.train_loss[0]


def test_same_seed_gives_identical_weights_and_leaves_global_rng_alone():
    data, _ = toy_split(n=300)
    state = torch.get_rng_state()
    models = []
    for _ in range(2):
        model = DeepBind(
            n_tasks=2, n_filters=4, filter_width=6, n_hidden=8, dropout=0.5, random_state=3
        )
        fit(model, data, epochs=2, batch_size=50, random_state=7, reverse_complement=True)
        models.append(model)
    other = DeepBind(
        n_tasks=2, n_filters=4, filter_width=6, n_hidden=8, dropout=0.5, random_state=3
    )
    fit(other, data, epochs=2, batch_size=50, random_state=8, reverse_complement=True)
    assert same_weights(models[0], models[1])
    assert not same_weights(models[0], other)
    assert torch.equal(torch.get_rng_state(), state)


def test_batchnorm_model_is_deterministic_and_tolerates_a_final_batch_of_one():
    data, _ = toy_split(n=300)  # 210 training sequences: the last batch of 19 has 1
    config = {
        "name": "basset",
        "n_tasks": 2,
        "input_length": 40,
        "n_filters": [4, 4, 4],
        "filter_widths": [5, 3, 3],
        "pool_sizes": [2, 2, 2],
        "n_hidden": [8, 8],
    }
    a, b = build_model(config, random_state=0), build_model(config, random_state=0)
    for model in (a, b):
        fit(model, data, epochs=1, batch_size=19, random_state=0)
    assert same_weights(a, b)


def test_best_epoch_weights_are_restored():
    data, _ = toy_split(n=300)
    model = small_deepbind()
    history = fit(model, data, epochs=6, batch_size=30, lr=0.05, patience=None, random_state=0)
    assert history.best_epoch == int(np.argmin(history.valid_loss)) + 1
    # Recompute the validation loss of the returned weights: it is the best epoch's.
    logits = torch.from_numpy(predict(model, data[2]))
    Y = torch.from_numpy(data[3])
    pos_weight = torch.tensor(history.pos_weight)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, Y, pos_weight=pos_weight)
    assert math.isclose(float(loss), history.valid_loss[history.best_epoch - 1], rel_tol=1e-5)
    assert history.best_score == history.valid_loss[history.best_epoch - 1]


def test_early_stopping_with_patience():
    rng = np.random.default_rng(1)
    X, _ = toy_data(300)
    Y = (rng.random((300, 2)) < 0.5).astype(np.float32)  # noise: nothing to learn
    model = small_deepbind()
    history = fit(
        model,
        (X[:200], Y[:200], X[200:], Y[200:]),
        epochs=40,
        batch_size=20,
        lr=0.05,
        patience=2,
        random_state=0,
    )
    assert history.stopped_early
    assert history.n_epochs < 40
    assert history.n_epochs - history.best_epoch == 2


def test_monitor_auprc_picks_the_best_auprc_epoch():
    data, _ = toy_split(n=300)
    history = fit(
        small_deepbind(),
        data,
        epochs=4,
        batch_size=30,
        monitor="valid_auprc",
        patience=None,
        random_state=0,
    )
    assert history.best_epoch == int(np.nanargmax(history.valid_auprc)) + 1


class CountingModel(nn.Module):
    """A user model (not a cislens architecture) that counts training forward passes."""

    def __init__(self, n_tasks: int = 2):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 5)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.flatten = nn.Flatten()
        self.out = nn.Linear(3, n_tasks)
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        return self.out(self.flatten(self.pool(self.conv(x))))


def test_max_batches_limits_the_steps_and_user_models_train():
    data, _ = toy_split(n=300)
    model = CountingModel()
    history = fit(model, data, epochs=3, batch_size=10, max_batches=2, random_state=0)
    assert model.calls == 3 * 2
    assert history.n_epochs == 3
    assert model.training  # the mode the model came in with


def test_fit_restores_mode_and_records_parameters():
    data, _ = toy_split(n=200)
    model = small_deepbind().eval()
    history = fit(model, data, epochs=1, batch_size=40, random_state=5, device="cpu")
    assert not model.training
    assert model.task_names == ["task_0", "task_1"]
    assert history.params["random_state"] == 5
    assert history.params["batch_size"] == 40
    assert history.params["device"] == "cpu"
    assert history.task_types == ["binary", "binary"]
    p = data[1].mean(0)
    np.testing.assert_allclose(history.pos_weight, (1 - p) / p, rtol=1e-6)
    assert json.loads(json.dumps(history.to_dict()))["best_epoch"] == history.best_epoch
    frame = history.to_frame()
    assert list(frame.columns) == [
        "epoch",
        "train_loss",
        "valid_loss",
        "valid_auroc",
        "valid_auprc",
        "time",
        "best",
    ]
    assert isinstance(history, History) and len(frame) == 1


def test_class_weight_none_uses_plain_cross_entropy():
    data, _ = toy_split(n=200)
    history = fit(
        small_deepbind(), data, epochs=1, batch_size=40, class_weight=None, random_state=0
    )
    assert history.pos_weight == [1.0, 1.0]


def test_fit_accepts_a_dataset_a_dict_and_a_tuple_alike():
    (X_tr, Y_tr, X_va, Y_va), _ = toy_split(n=200)
    dataset = Dataset(
        X={"train": X_tr, "valid": X_va}, Y={"train": Y_tr, "valid": Y_va}, task_names=MOTIFS
    )
    as_dict = {"X_train": X_tr, "Y_train": Y_tr, "X_valid": X_va, "Y_valid": Y_va}
    as_tensors = tuple(torch.from_numpy(a) for a in (X_tr, Y_tr, X_va, Y_va))
    models = []
    for data in (dataset, as_dict, (X_tr.astype(np.int8), Y_tr, X_va, Y_va), as_tensors):
        model = small_deepbind()
        fit(model, data, epochs=1, batch_size=40, random_state=0)
        models.append(model)
    assert all(same_weights(models[0], m) for m in models[1:])
    assert models[0].task_names == MOTIFS


def test_regression_and_mixed_tasks():
    X, Y = toy_data(300)
    rng = np.random.default_rng(0)
    counts = X[:, 1].sum(1, keepdims=True) / X.shape[2]  # C content: a regression target
    Y_mixed = np.concatenate([Y[:, :1], counts + 0.01 * rng.standard_normal((300, 1))], 1)
    Y_mixed = Y_mixed.astype(np.float32)
    model = small_deepbind()
    history = fit(
        model,
        (X[:200], Y_mixed[:200], X[200:], Y_mixed[200:]),
        epochs=3,
        batch_size=20,
        lr=1e-2,
        random_state=0,
    )
    assert history.task_types == ["binary", "regression"]
    assert history.pos_weight[1] == 1.0
    table = evaluate(model, X[200:], Y_mixed[200:])
    assert table["task_type"].tolist() == ["binary", "regression"]
    assert math.isnan(table.loc[1, "auroc"]) and not math.isnan(table.loc[1, "mse"])
    assert math.isnan(table.loc[0, "mse"]) and not math.isnan(table.loc[0, "auroc"])
    forced = fit(
        small_deepbind(),
        (X[:200], Y[:200], X[200:], Y[200:]),
        epochs=1,
        batch_size=50,
        task_type="regression",
        random_state=0,
    )
    assert forced.task_types == ["regression", "regression"]


# --- fit: bad input ----------------------------------------------------------------------------


def test_wrong_input_length_for_a_fixed_length_model():
    data, _ = toy_split(n=100, length=40)
    with pytest.raises(ValueError, match=r"input_length=200.*length 40.*input_length=40"):
        fit(LabCNN(n_tasks=2, random_state=0), data, epochs=1)


def test_task_count_mismatch():
    data, _ = toy_split(n=100)
    with pytest.raises(ValueError, match=r"n_tasks=3 outputs but the labels have 2 tasks"):
        fit(small_deepbind(n_tasks=3), data, epochs=1)
    with pytest.raises(ValueError, match=r"T=2 .* returned \(2, 3\)"):
        fit(CountingModel(n_tasks=3), data, epochs=1)


def test_nan_labels_are_refused():
    (X_tr, Y_tr, X_va, Y_va), _ = toy_split(n=100)
    Y_bad = Y_tr.copy()
    Y_bad[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"Y_train contains 1 NaN.*row 5, task 1"):
        fit(small_deepbind(), (X_tr, Y_bad, X_va, Y_va), epochs=1)


def test_empty_and_malformed_splits():
    (X_tr, Y_tr, X_va, Y_va), _ = toy_split(n=100)
    with pytest.raises(ValueError, match="X_valid is empty"):
        fit(small_deepbind(), (X_tr, Y_tr, X_va[:0], Y_va[:0]), epochs=1)
    with pytest.raises(ValueError, match="Y_train has 69 rows but its inputs have 70"):
        fit(small_deepbind(), (X_tr, Y_tr[1:], X_va, Y_va), epochs=1)
    with pytest.raises(ValueError, match=r"Y\[:, None\]"):
        fit(small_deepbind(n_tasks=1), (X_tr, Y_tr[:, 0], X_va, Y_va[:, :1]), epochs=1)
    with pytest.raises(ValueError, match=r"X_train must have shape \(N, 4, L\).*transpose"):
        fit(small_deepbind(), (X_tr.transpose(0, 2, 1), Y_tr, X_va, Y_va), epochs=1)
    with pytest.raises(ValueError, match="Y_valid has 1 tasks but the training labels have 2"):
        fit(small_deepbind(), (X_tr, Y_tr, X_va, Y_va[:, :1]), epochs=1)
    with pytest.raises(ValueError, match=r"missing \['valid'\]"):
        fit(small_deepbind(), Dataset({"train": X_tr}, {"train": Y_tr}, MOTIFS), epochs=1)
    with pytest.raises(ValueError, match="missing"):
        fit(small_deepbind(), {"X_train": X_tr, "Y_train": Y_tr}, epochs=1)
    with pytest.raises(ValueError, match="got 2 items"):
        fit(small_deepbind(), (X_tr, Y_tr), epochs=1)
    with pytest.raises(ValueError, match="declared binary"):
        fit(small_deepbind(), (X_tr, Y_tr * 0.5, X_va, Y_va), epochs=1, task_type="binary")


def test_bad_arguments():
    data, _ = toy_split(n=100)
    for kwargs, message in [
        ({"epochs": 0}, "epochs must be a positive int"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"lr": -1.0}, "lr must be a positive float"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"monitor": "accuracy"}, "monitor must be one of"),
        ({"patience": 0}, "patience must be a positive int or None"),
        ({"max_batches": 0}, "max_batches must be a positive int"),
        ({"class_weight": "auto"}, "class_weight must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            fit(small_deepbind(), data, **kwargs)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        fit("basset", data)


def test_single_class_training_task_warns():
    (X_tr, Y_tr, X_va, Y_va), _ = toy_split(n=100)
    Y_tr = Y_tr.copy()
    Y_tr[:, 1] = 0
    with pytest.warns(CislensWarning, match="single class in Y_train"):
        fit(small_deepbind(), (X_tr, Y_tr, X_va, Y_va), epochs=1, batch_size=35)


def test_library_defaults():
    # One set of defaults (cislens.train.defaults): epochs and lr None = chosen from the data size.
    defaults = (DEFAULT_EPOCHS, DEFAULT_BATCH_SIZE, DEFAULT_LR, DEFAULT_PATIENCE)
    assert defaults == (None, 64, None, 20)


# --- predict and evaluate ---------------------------------------------------------------------


def test_predict_does_not_depend_on_batch_size_and_restores_the_model():
    X, _ = toy_data(50)
    model = Basset(
        n_tasks=2,
        input_length=40,
        n_filters=[4, 4, 4],
        filter_widths=[5, 3, 3],
        pool_sizes=[2, 2, 2],
        n_hidden=[8, 8],
        random_state=0,
    ).train()
    reference = predict(model, X, batch_size=50)
    for batch_size in (1, 7, 64):
        np.testing.assert_allclose(
            predict(model, X, batch_size=batch_size), reference, rtol=1e-5, atol=1e-6
        )
    assert model.training
    assert reference.shape == (50, 2) and reference.dtype == np.float32
    probabilities = predict(model, torch.from_numpy(X), apply_sigmoid=True)
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-reference)), rtol=1e-5)


def test_predict_example_independence():
    X, _ = toy_data(6)
    model = small_deepbind()
    together = predict(model, X)
    alone = np.concatenate([predict(model, X[i : i + 1]) for i in range(6)])
    np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-6)


def test_evaluate_matches_scikit_learn():
    data, (X_test, Y_test) = toy_split(n=400)
    model = small_deepbind()
    fit(model, data, epochs=2, batch_size=40, random_state=0)
    table = evaluate(model, X_test, Y_test, task_names=MOTIFS, batch_size=13)
    assert list(table.columns) == METRIC_COLUMNS
    assert table["task"].tolist() == MOTIFS
    logits = predict(model, X_test)
    for t in range(2):
        row = table.iloc[t]
        assert row["auroc"] == pytest.approx(roc_auc_score(Y_test[:, t], logits[:, t]))
        assert row["auprc"] == pytest.approx(average_precision_score(Y_test[:, t], logits[:, t]))
        assert row["accuracy"] == pytest.approx(np.mean((logits[:, t] >= 0) == Y_test[:, t]))
        assert row["positives_fraction"] == pytest.approx(Y_test[:, t].mean())
        assert row["n"] == len(Y_test)


def test_evaluate_single_class_task_is_nan_with_a_warning():
    X, Y = toy_data(40)
    Y = Y.copy()
    Y[:, 0] = 1.0
    with pytest.warns(CislensWarning, match=r"\['task_0'\] have a single class"):
        table = evaluate(small_deepbind(), X, Y)
    assert math.isnan(table.loc[0, "auroc"]) and math.isnan(table.loc[0, "auprc"])
    assert table.loc[0, "positives_fraction"] == 1.0
    assert not math.isnan(table.loc[1, "auroc"])
    assert isinstance(table, pd.DataFrame)


def test_evaluate_errors():
    X, Y = toy_data(20)
    with pytest.raises(ValueError, match="has 2 outputs but Y has 1 tasks"):
        evaluate(small_deepbind(), X, Y[:, :1])
    with pytest.raises(ValueError, match="task_names has 3 names"):
        evaluate(small_deepbind(), X, Y, task_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="X is empty"):
        evaluate(small_deepbind(), X[:0], Y[:0])
    with pytest.raises(ValueError, match=r"must return a tensor of shape \(N, T\)"):
        predict(nn.Sequential(nn.Conv1d(4, 2, 3)), X)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="device must name a torch device"):
        resolve_device("gpu0")
    with pytest.raises(TypeError, match="device must be a str"):
        resolve_device(0)
    if not torch.cuda.is_available():
        assert resolve_device(None).type == "cpu"
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_fit_flushes_denormals_while_training_and_restores_the_setting():
    # Adam's moments of a unit without gradient decay into subnormals, which cost ~3x per step
    from cislens.train.fit import denormals_flushed

    assert not denormals_flushed()
    seen = []
    data, _ = toy_split(200)
    fit(
        small_deepbind(),
        data,
        epochs=1,
        batch_size=50,
        random_state=0,
        callback=lambda record: seen.append(denormals_flushed()),
    )
    assert seen == [True] and not denormals_flushed()
    torch.set_flush_denormal(True)  # a caller that flushes keeps flushing
    try:
        fit(small_deepbind(), data, epochs=1, batch_size=50, random_state=0)
        assert denormals_flushed()
    finally:
        torch.set_flush_denormal(False)
