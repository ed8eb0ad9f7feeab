"""Shared training defaults, the threads setting, the PWM scan baseline, small own data."""

from __future__ import annotations

import json
import logging
from typing import ClassVar

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from testkit import planted_kmer_data

import cislens.cli.train  # noqa: F401  (registers the subcommands)
from cislens.cli import main
from cislens.io.dataset import save_dataset
from cislens.models import DeepBind, build_model, get_model_class, read_model_config
from cislens.pipeline.config import parse_run_config
from cislens.simulate import simulate
from cislens.simulate.baseline import best_window_scores, pwm_baseline_scores
from cislens.train import evaluate, fit
from cislens.train.defaults import (
    TRAINING_DEFAULTS,
    default_model_args,
    epochs_for,
    lr_for,
    training_settings,
)
from cislens.utils.threads import free_cores, using_threads


def own_data(seed=0, n=2000, length=300, motif="GATAAG"):
    return planted_kmer_data(seed=seed, n=n, length=length, motif=motif)


# ----------------------------------------------------------------------------- PWM baseline
def test_pwm_baseline_of_a_planted_motif_is_perfect():
    data = simulate("spi1", n=300, random_state=0)
    table = evaluate(
        DeepBind(n_tasks=1, random_state=0), data.X["test"], data.Y["test"], truth=data.ground_truth
    )
    assert table.loc[0, "pwm_auroc"] > 0.99
    assert table.loc[0, "pwm_auprc"] > 0.99
    assert abs(table.loc[0, "auroc"] - 0.5) < 0.2  # an untrained model: near chance


def test_pwm_baseline_applies_the_and_rule():
    data = simulate("grhl2_nfya", n=600, random_state=1)
    X, y = data.X["test"], data.Y["test"][:, 0]
    rule = roc_auc_score(y, pwm_baseline_scores(X, data.ground_truth)[:, 0])
    motifs = {name: data.ground_truth.motifs[name] for name in ("GRHL2", "NFYA")}
    single = best_window_scores(X, motifs, [0.25] * 4)
    # decoys carry one of the two motifs, so one motif alone ranks them with the positives
    assert rule > 0.99
    assert rule > max(roc_auc_score(y, s) for s in single.values()) + 0.1


def test_pwm_baseline_needs_the_truth():
    with pytest.raises(ValueError, match="ground truth"):
        pwm_baseline_scores(np.zeros((2, 4, 10), np.float32), None)


def test_evaluate_cli_shows_the_baseline_on_simulated_data(tmp_path, capsys):
    data = simulate("spi1", n=200, random_state=0)
    path = tmp_path / "data.h5"
    save_dataset(path, data)
    out = tmp_path / "model"
    code = main(
        [
            "train",
            "--data",
            str(path),
            "--model",
            "deepbind",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--threads",
            "1",
        ]
    )
    assert code == 0
    assert "pwm_auroc" in (out / "metrics_test.csv").read_text()
    assert main(["evaluate", "--model", str(out), "--data", str(path)]) == 0
    assert "pwm_auroc" in capsys.readouterr().out


# ----------------------------------------------------------------------------- defaults
def test_train_and_run_share_one_set_of_defaults(tmp_path):
    for arch in ("labcnn", "argminn"):
        run = parse_run_config(
            {"data": {"hdf5": "d.h5"}, "model": {"architecture": arch}}, base_dir="."
        ).model
        cli = training_settings(get_model_class(arch), {}, n_train=None)
        assert (
            run.epochs,
            run.train_batch_size,
            run.lr,
            run.patience,
            run.restarts,
            run.selection_epochs,
            run.monitor,
            run.lr_schedule,
            run.reverse_complement,
        ) == (
            cli["epochs"],
            cli["batch_size"],
            cli["lr"],
            cli["patience"],
            cli["restarts"],
            cli["selection_epochs"],
            cli["monitor"],
            cli["lr_schedule"],
            cli["reverse_complement"],
        )
    generic = training_settings(get_model_class("deepbind"), {}, n_train=None)  # no own defaults
    assert {k: generic[k] for k in TRAINING_DEFAULTS} == TRAINING_DEFAULTS
    # what `cislens train` recorded equals the shared defaults resolved for its data
    data = simulate("spi1", n=200, random_state=0)
    path = tmp_path / "data.h5"
    save_dataset(path, data)
    assert (
        main(
            [
                "train",
                "--data",
                str(path),
                "--model",
                "deepbind",
                "--out",
                str(tmp_path / "m"),
                "--max-batches",
                "1",
                "--patience",
                "1",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    params = read_model_config(tmp_path / "m")["training_summary"]["history"]["params"]
    n_train = len(data.X["train"])
    assert params["epochs"] == epochs_for(n_train, TRAINING_DEFAULTS["batch_size"])
    assert params["batch_size"] == TRAINING_DEFAULTS["batch_size"]
    assert params["lr"] == lr_for(n_train) == 1e-2  # 140 training sequences: small data
    assert params["monitor"] == "valid_auroc"  # "auto" with a binary task
    assert params["reverse_complement"] is True and params["lr_schedule"] == "plateau"
    assert params["threads"] == 1


def test_epochs_and_lr_follow_the_data_size():
    assert lr_for(1400) > lr_for(14000)
    assert epochs_for(1400, 64) == 100 and epochs_for(10**6, 64) == 20
    assert epochs_for(1400, 64) >= epochs_for(7000, 64) >= epochs_for(14000, 64)
    with pytest.raises(ValueError, match="n_train >= 1"):
        epochs_for(0, 64)


def test_labcnn_pools_globally_beyond_200_bp():
    assert default_model_args("labcnn", 200) == {} and default_model_args("basset", 600) == {}
    assert default_model_args("bpnet", 500) == {"pooling": "max"}
    for length in (201, 300, 500, 1000):
        model = build_model(
            {
                "name": "labcnn",
                "n_tasks": 1,
                "input_length": length,
                **default_model_args("labcnn", length),
            }
        )
        assert model.feature_lengths[-1] == 1
        # batch norm and an exp first layer beyond 200 bp; the classic model up to 200 bp
        assert model.hparams["batch_norm"] and model.hparams["activation1"] == "exp"
    assert "batch_norm" not in default_model_args("labcnn", 200)


def test_labcnn_races_three_seeds_by_default():
    labcnn, deepbind = get_model_class("labcnn"), get_model_class("deepbind")
    settings = training_settings(labcnn, {}, n_train=14000)
    assert settings["restarts"] == 3 and settings["selection_epochs"] < settings["epochs"]
    # the generic default stays one seed; what the user gives wins
    assert training_settings(deepbind, {}, n_train=14000)["restarts"] == 1
    assert training_settings(labcnn, {"restarts": 1}, n_train=14000)["restarts"] == 1
    # a run too short for the race (epochs <= selection_epochs) trains one seed
    assert training_settings(labcnn, {"epochs": 4}, n_train=14000)["restarts"] == 1
    assert training_settings(labcnn, {"epochs": 5}, n_train=14000)["restarts"] == 3
    # and at two learning rates from 2,000 training sequences, unless lr is given
    assert settings["lr_candidates"] == [3e-3, 1e-3] and settings["lr"] is None
    assert training_settings(labcnn, {}, n_train=1400)["lr_candidates"] is None
    assert training_settings(labcnn, {"lr": 1e-3}, n_train=14000)["lr_candidates"] is None


def test_unknown_training_setting_is_refused():
    with pytest.raises(ValueError, match="unknown training setting"):
        training_settings(None, {"epoch": 3}, n_train=10)


# ----------------------------------------------------------------------------- threads
def test_threads_are_set_inside_and_restored(caplog):
    before = torch.get_num_threads()
    with using_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with caplog.at_level(logging.WARNING), using_threads(free_cores() + 1):
        pass
    assert "core(s) are free" in caplog.text
    with pytest.raises(ValueError, match="threads must be a positive int"), using_threads(0):
        pass


def test_run_config_takes_threads():
    raw = {"data": {"hdf5": "d.h5"}, "model": {"architecture": "labcnn"}, "threads": 1}
    assert parse_run_config(raw, base_dir=".").threads == 1
    assert parse_run_config({**raw, "threads": None}, base_dir=".").threads is None


def test_cli_refuses_bad_threads(tmp_path, capsys):
    data = simulate("spi1", n=100, random_state=0)
    path = tmp_path / "data.h5"
    save_dataset(path, data)
    code = main(
        [
            "train",
            "--data",
            str(path),
            "--model",
            "deepbind",
            "--out",
            str(tmp_path / "m"),
            "--threads",
            "0",
        ]
    )
    assert code != 0
    assert "--threads must be a positive int" in capsys.readouterr().err


# ----------------------------------------------------------------------------- own data
@pytest.mark.parametrize("arch", ["labcnn", "deepbind"])
def test_small_own_data_learns_with_the_defaults(arch):
    X_tr, Y_tr, X_va, Y_va, X_te, Y_te = own_data()
    settings = training_settings(get_model_class(arch), {}, n_train=len(X_tr))
    model = build_model(
        {"name": arch, "n_tasks": 1, "input_length": 300, **default_model_args(arch, 300)},
        random_state=0,
    )
    with using_threads(1):
        fit(
            model,
            (X_tr, Y_tr, X_va, Y_va),
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            lr=settings["lr"],
            patience=settings["patience"],
            monitor=settings["monitor"],
            lr_schedule=settings["lr_schedule"],
            reverse_complement=settings["reverse_complement"],
            random_state=0,
        )
    # GATAAG also occurs by chance in ~13 % of negatives, so ~0.93 is the ceiling
    assert evaluate(model, X_te, Y_te)["auroc"].iloc[0] >= 0.85


def test_training_summary_is_json(tmp_path):
    # the threads count and the resolved monitor land in a JSON-ready history
    X_tr, Y_tr, X_va, Y_va, _, _ = own_data(n=200, length=40)
    history = fit(
        DeepBind(n_tasks=1, filter_width=6, random_state=0),
        (X_tr, Y_tr, X_va, Y_va),
        epochs=2,
        monitor="auto",
        lr_schedule="plateau",
        random_state=0,
    )
    assert history.monitor == "valid_auroc"
    json.dumps(history.to_dict())


def test_run_cli_refuses_bad_threads(tmp_path, capsys):
    import cislens.cli.run  # noqa: F401  (registers the subcommand)

    config = tmp_path / "run.yaml"
    config.write_text("data: {hdf5: d.h5}\nmodel: {architecture: labcnn}\n")
    assert main(["run", str(config), "--threads", "0"]) != 0
    assert "--threads must be a positive int" in capsys.readouterr().err


def test_learning_rate_race_settings():
    class Racing(get_model_class("deepbind")):  # an architecture whose defaults race two rates
        training_defaults: ClassVar[dict] = {"lr_candidates": [3e-3, 1e-3]}

    race = [3e-3, 1e-3]
    # a default race replaces the default lr
    settings = training_settings(Racing, {}, n_train=14000)
    assert settings["lr_candidates"] == race and settings["lr"] is None
    # the user's lr is one fixed choice: no race
    settings = training_settings(Racing, {"lr": 1e-2}, n_train=14000)
    assert settings["lr"] == 1e-2 and settings["lr_candidates"] is None
    # the user's race runs even where a default one would not
    settings = training_settings(None, {"lr_candidates": race}, n_train=500)
    assert settings["lr_candidates"] == race and settings["lr"] is None
    # a default race gives way to the small-data rate and to a run too short for it
    small = training_settings(Racing, {}, n_train=1400)
    assert small["lr_candidates"] is None and small["lr"] == lr_for(1400)
    assert training_settings(Racing, {"epochs": 4}, n_train=14000)["lr_candidates"] is None
    assert training_settings(None, {}, n_train=14000)["lr_candidates"] is None  # generic
    with pytest.raises(ValueError, match="got both lr"):
        training_settings(None, {"lr": 1e-3, "lr_candidates": race}, n_train=14000)


def test_run_config_takes_a_race_of_learning_rates():
    def model(train):
        raw = {"data": {"hdf5": "d.h5"}, "model": {"architecture": "labcnn", "train": train}}
        return parse_run_config(raw, base_dir=".").model

    assert model({"lr_candidates": [0.003, 0.001]}).lr_candidates == [0.003, 0.001]
    assert model({}).lr_candidates is None  # a default race is resolved with the data
    for bad in ([], [0], "0.001"):
        with pytest.raises(Exception, match=r"model\.train\.lr_candidates"):
            model({"lr_candidates": bad})
    with pytest.raises(Exception, match=r"fixed model\.train\.lr"):
        model({"lr_candidates": [0.003], "lr": 0.001})
