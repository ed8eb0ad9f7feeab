"""``cislens train`` and ``cislens evaluate``, run in-process."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

import cislens.cli.train  # noqa: F401  (registers the subcommands)
from cislens.cli import main
from cislens.cli.train import _BATCH_SIZE, _EPOCHS, _EVAL_BATCH_SIZE, _LR, _PATIENCE
from cislens.io.dataset import Dataset, save_dataset
from cislens.models import load_model, read_model_config
from cislens.train import evaluate
from cislens.train.evaluate import DEFAULT_BATCH_SIZE as EVAL_BATCH_SIZE
from cislens.train.fit import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_PATIENCE

TASKS = ["GATA", "CTCF"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    X, Y = {}, {}
    for split, n in (("train", 120), ("valid", 40), ("test", 40)):
        tokens = rng.integers(0, 4, (n, 30))
        X[split] = np.ascontiguousarray(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1))
        Y[split] = (rng.random((n, 2)) < 0.5).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "data.h5"
    save_dataset(path, Dataset(X=X, Y=Y, task_names=TASKS, attrs={"random_state": 0}))
    return path


def test_cli_defaults_mirror_the_library():
    assert (_EPOCHS, _BATCH_SIZE, _LR, _PATIENCE) == (
        DEFAULT_EPOCHS,
        DEFAULT_BATCH_SIZE,
        DEFAULT_LR,
        DEFAULT_PATIENCE,
    )
    assert _EVAL_BATCH_SIZE == EVAL_BATCH_SIZE


def test_train_then_evaluate(data_file, tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(data_file),
        "--model",
        "deepbind",
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--model-args",
        '{"n_filters": 4, "filter_width": 5, "n_hidden": 8}',
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "epoch 1/2" in printed and "epoch 2/2" in printed
    assert "test metrics" in printed and "GATA" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "history.csv",
        "metrics_test.csv",
        "weights.safetensors",
    ]
    config = read_model_config(out)
    assert config["hyperparameters"]["n_filters"] == 4
    assert config["task_names"] == TASKS
    summary = config["training_summary"]
    assert summary["history"]["params"]["random_state"] == 3
    assert summary["init_random_state"] == 3
    assert summary["data"]["path"] == str(data_file)
    history = pd.read_csv(out / "history.csv")
    assert history["epoch"].tolist() == [1, 2]

    metrics = tmp_path / "metrics.csv"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(out),
                "--data",
                str(data_file),
                "--split",
                "valid",
                "--out",
                str(metrics),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "auroc" in printed and "CTCF" in printed
    table = pd.read_csv(metrics)
    assert table["task"].tolist() == TASKS
    from cislens.io.dataset import load_dataset

    dataset = load_dataset(data_file)
    expected = evaluate(load_model(out), dataset.X["valid"], dataset.Y["valid"])
    np.testing.assert_allclose(table["auroc"], expected["auroc"])

    # The same seed gives the same model.
    again = tmp_path / "again"
    assert main([*args[:6], str(again), *args[7:]]) == 0
    first, second = load_model(out).state_dict(), load_model(again).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_evaluate_a_user_model(data_file, tmp_path, capsys):
    module = tmp_path / "net.py"
    module.write_text(
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, n_tasks=2):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Conv1d(4, 3, 5), nn.AdaptiveMaxPool1d(1),\n"
        "                                  nn.Flatten(), nn.Linear(3, n_tasks))\n"
        "    def forward(self, x):\n"
        "        return self.body(x)\n"
    )
    state = {
        "body.0.weight": torch.ones(3, 4, 5),
        "body.0.bias": torch.zeros(3),
        "body.3.weight": torch.ones(2, 3),
        "body.3.bias": torch.zeros(2),
    }
    weights = tmp_path / "net.safetensors"
    save_file(state, str(weights))
    assert (
        main(
            [
                "evaluate",
                "--model",
                f"{module}:Net",
                "--weights",
                str(weights),
                "--model-args",
                json.dumps({"n_tasks": 2}),
                "--data",
                str(data_file),
            ]
        )
        == 0
    )
    assert "GATA" in capsys.readouterr().out


def test_cli_errors(data_file, tmp_path, capsys):
    assert (
        main(["train", "--data", str(data_file), "--model", "resnet", "--out", str(tmp_path / "x")])
        == 2
    )
    assert "unknown model architecture 'resnet'" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--data",
                str(data_file),
                "--model",
                "deepbind",
                "--out",
                str(tmp_path / "x"),
                "--model-args",
                "{oops",
            ]
        )
        == 2
    )
    assert "--model-args must be a JSON object" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--data",
                str(data_file),
                "--model",
                "deepbind",
                "--out",
                str(tmp_path / "x"),
                "--model-args",
                '{"n_tasks": 4}',
            ]
        )
        == 2
    )
    assert "must not set 'n_tasks'" in capsys.readouterr().err
    assert (
        main(["train", "--data", str(data_file), "--model", "labcnn", "--out", str(tmp_path / "x")])
        == 2
    )
    assert "too short" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "nothing"), "--data", str(data_file)]) == 2
    assert "neither a checkpoint directory" in capsys.readouterr().err


def test_train_with_restarts_writes_the_race(data_file, tmp_path, capsys):
    out = tmp_path / "raced"
    args = [
        "train",
        "--data",
        str(data_file),
        "--model",
        "deepbind",
        "--out",
        str(out),
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--restarts",
        "2",
        "--selection-epochs",
        "1",
        "--model-args",
        '{"n_filters": 4, "filter_width": 5, "n_hidden": 8}',
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "racing 2 seeds for 1 epochs" in printed and "won the race" in printed
    race = pd.read_csv(out / "restarts.csv")
    assert len(race) == 2 and race["chosen"].sum() == 1
    summary = read_model_config(out)["training_summary"]
    chosen_seed = int(race.loc[race["chosen"], "seed"].iloc[0])
    assert summary["init_random_state"] == chosen_seed
    assert summary["history"]["params"]["random_state"] == chosen_seed
    assert len(summary["history"]["params"]["restarts"]) == 2


def test_train_races_learning_rates(data_file, tmp_path, capsys):
    out = tmp_path / "lr_race"
    args = ["train", "--data", str(data_file), "--model", "deepbind", "--out", str(out)]
    args += ["--epochs", "2", "--batch-size", "32", "--seed", "1", "--device", "cpu"]
    args += ["--restarts", "1", "--selection-epochs", "1", "--lr-candidates", "3e-2,1e-4"]
    args += ["--model-args", '{"n_filters": 4, "filter_width": 5, "n_hidden": 8}']
    assert main(args) == 0
    assert "x learning rates [0.03, 0.0001]" in capsys.readouterr().out
    race = pd.read_csv(out / "restarts.csv")
    assert race["lr"].tolist() == [3e-2, 1e-4] and race["chosen"].sum() == 1
    params = read_model_config(out)["training_summary"]["history"]["params"]
    assert params["lr"] == race.loc[race["chosen"], "lr"].item()
    assert params["lr_candidates"] == [3e-2, 1e-4]
    for bad in (["--lr-candidates", "0,1e-3"], ["--lr-candidates", "1e-3", "--lr", "1e-3"]):
        assert main([*args[:-4], *bad, "--out", str(tmp_path / "bad")]) == 2
        assert "lr" in capsys.readouterr().err
