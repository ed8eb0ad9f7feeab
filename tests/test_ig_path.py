"""The IG path diagnostic: predictions at every alpha from the references to the inputs."""

import numpy as np
import pytest
import torch
from torch import nn

from cislens.attribution import integrated_gradients_path_density
from cislens.attribution._common import resolve_baselines


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(4, 6, 5), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 16, 2))


def _X(n=5, length=20, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)


def test_ends_are_the_baselines_and_the_inputs():
    net, X = _net(), _X()
    path = integrated_gradients_path_density(
        net, X, target=1, n_baselines=3, n_alphas=6, batch_size=7, random_state=3
    )
    assert path.predictions.shape == (6, 5, 3)
    with torch.no_grad():
        inputs = net(torch.as_tensor(X))[:, 1].double().numpy()
        refs = resolve_baselines("dinucleotide", torch.as_tensor(X), n_baselines=3, random_state=3)
        expected = net(refs.reshape(15, 4, 20))[:, 1].double().numpy().reshape(5, 3)
    np.testing.assert_allclose(path.baseline_predictions, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        path.predictions[-1], np.repeat(inputs[:, None], 3, 1), rtol=1e-5, atol=1e-6
    )
    # dinucleotide shuffles keep the composition but are other sequences: alpha 0 differs
    assert not np.allclose(path.predictions[0], path.predictions[-1])


def test_middle_alpha_is_the_interpolated_input_and_batching_changes_nothing():
    net, X = _net(), _X(3)
    refs = np.zeros_like(X)[:, None]
    path = integrated_gradients_path_density(
        net, X, target=0, baselines=refs, n_alphas=[0, 0.25, 1]
    )
    with torch.no_grad():
        quarter = net(torch.as_tensor(0.25 * X))[:, 0].double().numpy()
    np.testing.assert_allclose(path.predictions[1, :, 0], quarter, rtol=1e-5, atol=1e-6)
    again = integrated_gradients_path_density(
        net, X, target=0, baselines=refs, n_alphas=[0, 0.25, 1], batch_size=1
    )
    np.testing.assert_allclose(again.predictions, path.predictions, rtol=1e-6, atol=1e-7)
    assert "3 alphas" in repr(path) and "given" in repr(path)


def test_bad_alphas_are_refused():
    with pytest.raises(ValueError, match="n_alphas"):
        integrated_gradients_path_density(_net(), _X(2), target=0, n_alphas=[0.2, 1])
    with pytest.raises(ValueError, match="n_alphas"):
        integrated_gradients_path_density(_net(), _X(2), target=0, n_alphas=1)
