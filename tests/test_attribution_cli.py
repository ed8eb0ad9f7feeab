"""``cislens attribute`` run in-process on a tiny dataset and a tiny saved model."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
import torch
from testkit import (
    MODULE,
    random_one_hot,
    single_thread,  # noqa: F401 (autouse fixture)
    small_labcnn,
)

import cislens.cli.attribute  # noqa: F401 (registers the subcommand until the lead lists it)
from cislens.cli import main
from cislens.io import Dataset, load_attributions, save_dataset

LENGTH = 60


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from cislens.models import save_model

    folder = tmp_path_factory.mktemp("attribute_cli")
    X = random_one_hot(6, LENGTH, 3).numpy()
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]], dtype=np.float32)
    dataset = Dataset(
        X={"train": X[:2], "test": X}, Y={"train": Y[:2], "test": Y}, task_names=["ctcf", "gata"]
    )
    data = save_dataset(folder / "data.h5", dataset)
    model = small_labcnn(n_tasks=2, length=LENGTH)
    checkpoint = save_model(model, folder / "model", task_names=["ctcf", "gata"])
    return folder, data, checkpoint, model, X


def run(*args) -> int:
    return main([str(arg) for arg in args])


def test_one_method_writes_the_store(files, capsys):
    folder, data, checkpoint, model, X = files
    out = folder / "attr.h5"
    code = run(
        "attribute",
        "--model",
        checkpoint,
        "--data",
        data,
        "--method",
        "grad_x_input",
        "--target",
        "gata",
        "--out",
        out,
        "--hypothetical",
        "--seed",
        3,
    )
    assert code == 0, capsys.readouterr().err
    assert "wrote" in capsys.readouterr().out
    result = load_attributions(out)
    assert result.method == "grad_x_input" and result.target == 1
    assert result.random_state == 3 and result.task_names == ["ctcf", "gata"]
    assert result.example_index.tolist() == list(range(6))
    assert result.params["gradient_correction"] is False
    from cislens.attribution import grad_x_input

    expected = grad_x_input(model, torch.as_tensor(X), target=1)
    np.testing.assert_allclose(result.attributions, expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.attributions, result.hypothetical * result.X)


def test_several_methods_positives_and_options(files, capsys):
    folder, data, checkpoint, _, X = files
    out = folder / "many" / "attr.npz"
    code = run(
        "-v",
        "attribute",
        "--model",
        checkpoint,
        "--data",
        data,
        "--methods",
        "ism,integrated_gradients",
        "--target",
        "0",
        "--positives-only",
        "--n-examples",
        2,
        "--batch-size",
        7,
        "--method-args",
        '{"n_steps": 3}',
        "--out",
        out,
    )
    # ism does not take n_steps: the error names it, one line, exit code 2.
    assert code == 2
    assert "n_steps" in capsys.readouterr().err
    code = run(
        "attribute",
        "--model",
        checkpoint,
        "--data",
        data,
        "--methods",
        "ism,saliency",
        "--target",
        "0",
        "--positives-only",
        "--n-examples",
        2,
        "--batch-size",
        7,
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert code == 0, capsys.readouterr().err
    for name in ("ism", "saliency"):
        result = load_attributions(folder / "many" / f"attr.{name}.npz")
        assert result.method == name
        assert result.example_index.tolist() == [0, 2]  # label 1 for task 0, first two
        np.testing.assert_array_equal(result.X, X[[0, 2]])
        assert result.params.get("batch_size") == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "shap"], "unknown attribution method 'shap'"),
        (["--method", "saliency", "--hypothetical"], "have no hypothetical scores"),
        (["--method", "ism", "--target", "dnase"], "neither"),
        (["--method", "ism", "--split", "valid"], "is not in"),
        (["--method", "ism"], "target must be given for a model with 2 outputs"),
        (["--method", "ism", "--positives-only"], "needs --target"),
        (["--method", "ism", "--target", "5"], r"target must be an int in \[0, 2\)"),
        (["--method", "ism", "--target", "0", "--method-args", "[1]"], "JSON object"),
    ],
)
def test_errors_are_one_line(files, capsys, args, message):
    folder, data, checkpoint, _, _ = files
    code = run(
        "attribute", "--model", checkpoint, "--data", data, "--out", folder / "bad.h5", *args
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_deeplift_shap_from_the_command_line(files, capsys):
    folder, data, checkpoint, _, _ = files
    out = folder / "shap.h5"
    code = run(
        "attribute",
        "--model",
        checkpoint,
        "--data",
        data,
        "--split",
        "test",
        "--method",
        "deeplift_shap",
        "--target",
        "0",
        "--n-examples",
        2,
        "--method-args",
        '{"n_shuffles": 3}',
        "--seed",
        1,
        "--out",
        out,
    )
    assert code == 0, capsys.readouterr().err
    result = load_attributions(out)
    assert result.method == "deeplift_shap" and result.random_state == 1
    assert result.params["n_shuffles"] == 3


def test_user_model_class_with_weights(files, capsys, tmp_path):
    from safetensors.torch import save_file

    _, data, _, _, X = files
    (tmp_path / "tiny.py").write_text(MODULE)
    spec = importlib.util.spec_from_file_location("tiny_user_model", tmp_path / "tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.TinyNet(n_filters=4)
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    out = tmp_path / "user.h5"
    code = run(
        "attribute",
        "--model",
        f"{tmp_path / 'tiny.py'}:TinyNet",
        "--weights",
        tmp_path / "w.safetensors",
        "--model-args",
        '{"n_filters": 4}',
        "--data",
        data,
        "--method",
        "saliency",
        "--target",
        "1",
        "--out",
        out,
    )
    assert code == 0, capsys.readouterr().err
    from cislens.attribution import saliency

    expected = saliency(net, torch.as_tensor(X), target=1)
    np.testing.assert_allclose(
        load_attributions(out).attributions, expected.numpy(), rtol=1e-5, atol=1e-7
    )
