"""Ensembles: attributions averaged over models (folds), with the per-model normalisation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from testkit import (
    random_one_hot,
    single_thread,  # noqa: F401 (autouse fixture)
    small_labcnn,
)

from cislens.attribution import attribution_set, ensemble_attribution_set, ensemble_attributions
from cislens.cli import main
from cislens.io import Dataset, load_attributions, save_dataset

LENGTH = 60


@pytest.fixture(scope="module")
def X():
    return random_one_hot(5, LENGTH, 11)


@pytest.mark.parametrize("method", ["deeplift_shap", "grad_x_input"])
def test_k_identical_models_give_that_model(X, method):
    model = small_labcnn(n_tasks=2, length=LENGTH, seed=3)
    options = {"target": 1, "hypothetical": True, "random_state": 5}
    if method == "deeplift_shap":
        options["n_shuffles"] = 4
    single = attribution_set(model, X, method=method, **options)
    copies = [model, copy.deepcopy(model), copy.deepcopy(model)]
    ensemble = ensemble_attribution_set(copies, X, method=method, **options)
    np.testing.assert_allclose(ensemble.hypothetical, single.hypothetical, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ensemble.attributions, single.attributions, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(ensemble.attributions, ensemble.hypothetical * ensemble.X)
    assert ensemble.params["ensemble"]["n_models"] == 3
    # normalised: k identical models have one scale, so the mean is the model's map / scale
    normalised = ensemble_attribution_set(
        copies, X, method=method, normalise="percentile", **options
    )
    scale = np.percentile(np.abs(single.attributions.astype(np.float64).sum(1)), 99.0)
    assert normalised.params["ensemble"]["scales"] == pytest.approx([scale] * 3)
    np.testing.assert_allclose(normalised.hypothetical, single.hypothetical / scale, atol=1e-5)


@pytest.mark.parametrize("normalise", ["none", "percentile"])
def test_two_models_give_the_documented_average(X, normalise):
    models = [small_labcnn(n_tasks=2, length=LENGTH, seed=s) for s in (1, 2)]
    each = [
        attribution_set(
            m, X, method="deeplift_shap", target=0, hypothetical=True, random_state=7, n_shuffles=4
        )
        for m in models
    ]
    scales = [1.0, 1.0]
    if normalise == "percentile":
        # the documented scale: the 90th percentile of |sum_b X * A_k| over all positions
        scales = [
            np.percentile(np.abs(r.attributions.astype(np.float64).sum(1)), 90.0) for r in each
        ]
        assert scales[0] != pytest.approx(scales[1])  # the models really differ in scale
    expected = (each[0].hypothetical / scales[0] + each[1].hypothetical / scales[1]) / 2
    got = ensemble_attributions(
        models,
        X,
        method="deeplift_shap",
        target=0,
        hypothetical=True,
        random_state=7,
        n_shuffles=4,
        normalise=normalise,
        percentile=90.0,
    )
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6, rtol=1e-5)
    projected = ensemble_attributions(
        models,
        X,
        method="deeplift_shap",
        target=0,
        random_state=7,
        n_shuffles=4,
        normalise=normalise,
        percentile=90.0,
    )
    expected_projected = (each[0].attributions / scales[0] + each[1].attributions / scales[1]) / 2
    np.testing.assert_allclose(projected.numpy(), expected_projected, atol=1e-6, rtol=1e-5)


def test_refusals(X):
    model = small_labcnn(n_tasks=2, length=LENGTH)
    with pytest.raises(ValueError, match="models is empty"):
        ensemble_attributions([], X, method="saliency", target=0)
    with pytest.raises(ValueError, match="normalise must be one of"):
        ensemble_attributions([model], X, method="saliency", target=0, normalise="zscore")
    with pytest.raises(ValueError, match="percentile must be in"):
        ensemble_attributions(
            [model], X, method="saliency", target=0, normalise="percentile", percentile=0
        )
    zero = small_labcnn(n_tasks=2, length=LENGTH)
    for parameter in zero.parameters():
        torch.nn.init.zeros_(parameter)
    with pytest.raises(ValueError, match=r"models\[1\].*all zero"):
        ensemble_attributions([model, zero], X, method="saliency", target=0, normalise="percentile")


def test_cli_repeated_model_is_the_library_ensemble(X, tmp_path):
    from cislens.models import save_model

    data = save_dataset(
        tmp_path / "d.h5",
        Dataset(
            X={"test": X.numpy()}, Y={"test": np.zeros((5, 2), np.float32)}, task_names=["a", "b"]
        ),
    )
    models = [small_labcnn(n_tasks=2, length=LENGTH, seed=s) for s in (1, 2)]
    folders = [
        save_model(m, tmp_path / f"fold{i}", task_names=["a", "b"]) for i, m in enumerate(models)
    ]
    out = tmp_path / "attr.h5"
    code = main(
        [
            "attribute",
            "--model",
            str(folders[0]),
            "--model",
            str(folders[1]),
            "--data",
            str(data),
            "--method",
            "grad_x_input",
            "--target",
            "b",
            "--hypothetical",
            "--seed",
            "3",
            "--normalise",
            "percentile",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    stored = load_attributions(out)
    expected = ensemble_attributions(
        models,
        X,
        method="grad_x_input",
        target=1,
        hypothetical=True,
        random_state=3,
        normalise="percentile",
    )
    np.testing.assert_allclose(stored.hypothetical, expected.numpy(), atol=1e-6)
    assert stored.params["ensemble"]["n_models"] == 2
    bad = main(
        [
            "attribute",
            "--model",
            str(folders[0]),
            "--model",
            str(folders[1]),
            "--weights",
            "w.pt",
            "--data",
            str(data),
            "--method",
            "saliency",
            "--target",
            "b",
            "--out",
            str(tmp_path / "x.h5"),
        ]
    )
    assert bad == 2


def test_run_config_ensemble_averages_the_folds(X, tmp_path):
    from cislens.attribution import ModelEnsemble
    from cislens.models import save_model
    from cislens.pipeline import run_pipeline
    from cislens.pipeline.config import parse_run_config

    rng = np.random.default_rng(0)
    test = random_one_hot(12, LENGTH, 4).numpy()
    Y = (rng.random((12, 2)) < 0.5).astype(np.float32)
    Y[:4] = 1.0
    save_dataset(tmp_path / "d.h5", Dataset(X={"test": test}, Y={"test": Y}, task_names=["a", "b"]))
    models = [small_labcnn(n_tasks=2, length=LENGTH, seed=s) for s in (1, 2)]
    for i, m in enumerate(models):
        save_model(m, tmp_path / f"fold{i}", task_names=["a", "b"])
    config = {
        "data": {"hdf5": "d.h5"},
        "model": {"checkpoints": ["fold0", "fold1"], "normalise": "percentile", "percentile": 95},
        "methods": ["grad_x_input"],
        "n_examples": 3,
        "motifs": False,
        "gia": False,
        "benchmark": False,
        "seed": 2,
    }
    run_pipeline(parse_run_config(config, base_dir=tmp_path), out=tmp_path / "out")
    stored = load_attributions(tmp_path / "out" / "attributions" / "grad_x_input_t1.npz")
    rows = stored.example_index
    assert len(rows) == 3
    expected = ensemble_attributions(
        models,
        torch.from_numpy(test[rows]),
        method="grad_x_input",
        target=1,
        random_state=2,
        normalise="percentile",
        percentile=95,
    )
    np.testing.assert_allclose(stored.attributions, expected.numpy(), atol=1e-6)
    assert stored.params["ensemble"]["n_models"] == 2
    # predictions of the ensemble are the mean of the folds' outputs
    both = ModelEnsemble(models)
    with torch.no_grad():
        mean = (models[0](torch.from_numpy(test)) + models[1](torch.from_numpy(test))) / 2
        np.testing.assert_allclose(both(torch.from_numpy(test)).numpy(), mean.numpy(), atol=1e-6)
    bad = {**config, "model": {"checkpoints": ["fold0"], "normalise": "zscore"}}
    from cislens.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.normalise"):
        parse_run_config(bad, base_dir=tmp_path)
