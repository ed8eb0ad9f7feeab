"""``cislens train --model argminn`` and ``cislens motifs --from-model``, run in-process."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from testkit import TINY_ARGMINN

import cislens.cli.motifs  # registers the subcommands
import cislens.cli.train  # noqa: F401  (registers the subcommands)
from cislens.argminn import ARGMINN
from cislens.cli import main
from cislens.io.dataset import Dataset, save_dataset
from cislens.models import load_model, read_model_config
from cislens.sequence import one_hot_encode


def _data_file(path):
    rng = np.random.default_rng(0)
    motif = one_hot_encode(["GATAAG"])[0].numpy()
    X, Y = {}, {}
    for split, n in (("train", 96), ("valid", 32), ("test", 32)):
        tokens = rng.integers(0, 4, (n, 40))
        X[split] = np.ascontiguousarray(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1))
        Y[split] = (rng.random((n, 1)) < 0.5).astype(np.float32)
        X[split][Y[split][:, 0] == 1, :, 17:23] = motif
    save_dataset(path, Dataset(X=X, Y=Y, task_names=["GATA"], attrs={"random_state": 0}))
    return path


def test_train_argminn_then_read_its_motifs(tmp_path, capsys):
    data = _data_file(tmp_path / "data.h5")
    run = tmp_path / "runs" / "argminn"
    model_args = TINY_ARGMINN
    args = [
        "train",
        "--data",
        str(data),
        "--model",
        "argminn",
        "--out",
        str(run),
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--model-args",
        json.dumps(model_args),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "epoch 3/3" in printed
    # ARGMINN's default race (4 seeds x 5 epochs) does not fit 3 epochs: one seed, said so.
    assert "training one seed" in printed and not (run / "restarts.csv").exists()
    assert "ARGMINN pruning: " in printed  # prune_redundant (default True) ran after training
    config = read_model_config(run)
    assert config["architecture"] == "argminn"
    assert config["hyperparameters"]["warmup_epochs"] == 1
    params = config["training_summary"]["history"]["params"]
    assert len(params["regularization_loss"]) == 3 and params["regularization_loss"][0] == 0.0
    assert params["pruning"]["reason"] in printed  # the checkpoint records the pruning
    # --lr left out: ARGMINN's own training default, not the generic 1e-3
    assert params["lr"] == ARGMINN.training_defaults["lr"] == 3e-3 and params["batch_size"] == 32
    assert config["training_summary"]["history"]["best_epoch"] >= 2  # settled from epoch 2
    assert load_model(run).hparams["n_filters"] == 3

    out = tmp_path / "motifs"
    assert (
        main(
            [
                "motifs",
                "--from-model",
                str(run),
                "--data",
                str(data),
                "--no-annotate",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "filters pass" in capsys.readouterr().out
    filters = pd.read_csv(out / "filters.tsv", sep="\t")
    assert filters["filter"].tolist() == [0, 1, 2]
    instances = pd.read_csv(out / "instances.tsv", sep="\t")
    assert {"example", "start", "end", "filter", "layer", "head"} <= set(instances.columns)
    assert (out / "motifs.meme").exists() == bool(filters["passing"].any())
    units = pd.read_csv(out / "units.tsv", sep="\t")
    assert len(units) <= int(filters["passing"].sum())  # every passing filter in one unit


def test_a_race_the_user_asked_for_is_run_and_not_reported_as_dropped(tmp_path, capsys):
    data = _data_file(tmp_path / "data.h5")
    run = tmp_path / "race"
    model_args = {
        "n_filters": 2,
        "filter_width": 6,
        "token_dim": 8,
        "stream_dim": 8,
        "n_heads": 2,
        "n_layers": 1,
        "warmup_epochs": 1,
        "ramp_epochs": 1,
    }
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--model",
                "argminn",
                "--out",
                str(run),
                "--epochs",
                "2",
                "--restarts",
                "2",
                "--selection-epochs",
                "1",
                "--batch-size",
                "32",
                "--device",
                "cpu",
                "--model-args",
                json.dumps(model_args),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "training one seed" not in printed  # 2 < the default race of 4, but it was asked for
    assert len(pd.read_csv(run / "restarts.csv")) == 2


def test_motifs_needs_exactly_one_source(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["motifs", "--out", str(out)]) == 2
    assert "exactly one of --attributions" in capsys.readouterr().err
    assert main(["motifs", "--from-model", str(tmp_path), "--out", str(out)]) == 2
    assert "needs --data" in capsys.readouterr().err
