"""Saliency, gradient x input, GradCAM, guided backprop, guided GradCAM: captum agreement etc."""

from __future__ import annotations

import pytest
import torch
from testkit import (
    SmallConv,
    assert_unchanged,
    float64_copy,
    model_snapshot,
    random_one_hot,
    single_thread,  # noqa: F401 (autouse fixture)
    small_labcnn,
)
from torch import nn

from cislens.attribution import (
    grad_x_input,
    gradcam,
    guided_backprop,
    guided_gradcam,
    saliency,
)
from cislens.errors import UnsupportedModelError

F64 = torch.float64
MODELS = {
    "small": (lambda: SmallConv(length=24), 24, "conv2"),
    "labcnn": (lambda: small_labcnn(n_tasks=3, length=60), 60, "conv2"),
}


@pytest.fixture(params=sorted(MODELS))
def case(request):
    make, length, layer = MODELS[request.param]
    model = make()
    return model, random_one_hot(4, length, 17, n_columns=2), layer


def captum():
    return pytest.importorskip("captum.attr")


def leaf(X):
    """X as captum likes it: float64 and requiring gradients (no captum warning)."""
    return X.double().requires_grad_(True)


def close(ours, theirs):
    torch.testing.assert_close(ours.double(), theirs.double(), rtol=1e-5, atol=1e-7)


def test_saliency_and_grad_x_input_match_captum(case):
    model, X, _ = case
    attr = captum()
    reference = float64_copy(model)
    g = attr.Saliency(reference).attribute(leaf(X), target=2, abs=False)
    close(saliency(model, X, target=2, dtype=F64), g)
    close(
        grad_x_input(model, X, target=2, dtype=F64),
        attr.InputXGradient(reference).attribute(leaf(X), target=2),
    )
    close(grad_x_input(model, X, target=2, hypothetical=True, dtype=F64), g)


def test_gradient_correction():
    model, X = SmallConv(), random_one_hot(3, 24, 2)
    g = saliency(model, X, target=0, dtype=F64)
    corrected = saliency(model, X, target=0, gradient_correction=True, dtype=F64)
    close(corrected, g - g.mean(1, keepdim=True))
    assert corrected.sum(1).abs().max() < 1e-6
    close(grad_x_input(model, X, target=0, gradient_correction=True, dtype=F64), corrected * X)
    close(
        grad_x_input(model, X, target=0, gradient_correction=True, hypothetical=True, dtype=F64),
        corrected,
    )
    with pytest.raises(TypeError, match="gradient_correction must be True or False"):
        saliency(model, X, target=0, gradient_correction=None)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("interpolation", ["linear", "nearest"])
def test_gradcam_matches_captum(case, relu, interpolation):
    model, X, layer = case
    attr = captum()
    reference = float64_copy(model)
    for chosen in ("conv1", layer):
        cam = attr.LayerGradCam(reference, reference.get_submodule(chosen))
        raw = cam.attribute(leaf(X), target=1, relu_attributions=relu)
        expected = attr.LayerAttribution.interpolate(raw, (X.shape[2],), interpolation)[:, 0]
        hyp = gradcam(
            model,
            X,
            target=1,
            layer=chosen,
            relu=relu,
            interpolation=interpolation,
            hypothetical=True,
            dtype=F64,
        )
        close(hyp, expected[:, None].expand_as(hyp))
        projected = gradcam(
            model,
            X,
            target=1,
            layer=model.get_submodule(chosen),
            relu=relu,
            interpolation=interpolation,
            dtype=F64,
        )
        close(projected, hyp * X)


def test_gradcam_default_layer_is_the_last_conv1d(case):
    model, X, layer = case
    torch.testing.assert_close(
        gradcam(model, X, target=0), gradcam(model, X, target=0, layer=layer)
    )


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")
def test_guided_backprop_and_guided_gradcam_match_captum(case):
    model, X, layer = case
    attr = captum()
    reference = float64_copy(model)
    expected = attr.GuidedBackprop(reference).attribute(leaf(X), target=0)
    close(guided_backprop(model, X, target=0, dtype=F64), expected)
    module = reference.get_submodule(layer)
    for interpolation in ("nearest", "linear"):
        expected = attr.GuidedGradCam(reference, module).attribute(
            leaf(X), target=0, interpolate_mode=interpolation
        )
        ours = guided_gradcam(
            model, X, target=0, layer=layer, interpolation=interpolation, dtype=F64
        )
        close(ours, expected)


def test_guided_backprop_differs_from_the_gradient_only_through_relus():
    linear = nn.Sequential(nn.Conv1d(4, 3, 3), nn.Flatten(), nn.Linear(3 * 6, 2))
    X = random_one_hot(2, 8, 0)
    close(guided_backprop(linear, X, target=1, dtype=F64), saliency(linear, X, target=1, dtype=F64))


class FunctionalRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.dense = nn.Linear(3 * 6, 1)

    def forward(self, x):
        return self.dense(torch.relu(self.conv(x)).flatten(1))


class InplaceRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.relu = nn.ReLU(inplace=True)
        self.dense = nn.Linear(3 * 6, 1)

    def forward(self, x):
        return self.dense(self.relu(self.conv(x)).flatten(1))


def test_functional_relu_is_detected_and_hooks_are_removed():
    model = FunctionalRelu()
    before = model_snapshot(model)
    X = random_one_hot(2, 8, 0)
    with pytest.raises(UnsupportedModelError, match="functional ReLU"):
        guided_backprop(model, X)
    with pytest.raises(UnsupportedModelError, match="functional ReLU"):
        guided_gradcam(model, X)
    assert_unchanged(model, before)
    saliency(model, X)  # ordinary gradients are fine


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")
def test_inplace_relu_matches_the_out_of_place_one():
    inplace = InplaceRelu()
    plain = InplaceRelu()
    plain.relu = nn.ReLU()
    plain.load_state_dict(inplace.state_dict())
    X = random_one_hot(3, 8, 1)
    close(guided_backprop(inplace, X, dtype=F64), guided_backprop(plain, X, dtype=F64))
    attr = captum()
    expected = attr.GuidedBackprop(float64_copy(plain)).attribute(leaf(X))
    close(guided_backprop(inplace, X, dtype=F64), expected)


class ReusedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3, padding=1)
        self.dense = nn.Linear(4 * 8, 1)

    def forward(self, x):
        return self.dense(self.conv(self.conv(x)).flatten(1))


def test_gradcam_layer_errors():
    X = random_one_hot(2, 8, 0)
    with pytest.raises(UnsupportedModelError, match="ran 2 times"):
        gradcam(ReusedConv(), X)
    model = SmallConv()
    before = model_snapshot(model)
    X = random_one_hot(2, 24, 0)
    with pytest.raises(ValueError, match=r"not a submodule of the model; its convolutions are"):
        gradcam(model, X, target=0, layer="conv9")
    with pytest.raises(ValueError, match="is not a submodule"):
        gradcam(model, X, target=0, layer=nn.Conv1d(4, 4, 3))
    with pytest.raises(TypeError, match="layer must be"):
        gradcam(model, X, target=0, layer=3)
    with pytest.raises(ValueError, match=r"must output \(N, C, L'\)"):
        gradcam(model, X, target=0, layer="dense")
    with pytest.raises(ValueError, match="has none"):
        gradcam(nn.Sequential(nn.Flatten(), nn.Linear(96, 1)), X)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        gradcam(model, X, target=0, interpolation="cubic")
    assert_unchanged(model, before)


def test_gradients_work_on_frozen_models_and_inside_no_grad():
    model = SmallConv()
    for param in model.parameters():
        param.requires_grad_(False)
    X = random_one_hot(2, 24, 0)
    with torch.no_grad():
        for func in (saliency, gradcam, guided_backprop, guided_gradcam):
            assert func(model, X, target=0).abs().sum() > 0
    assert not any(param.requires_grad for param in model.parameters())
