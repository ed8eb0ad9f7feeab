"""Invariances every attribution method of cislens must satisfy.

Batch-size invariance, example independence, targets, dtypes, and leaving the user's model as it
was found. DeepLIFT methods are tested by their engine's own tests.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from testkit import (
    SmallConv,
    assert_unchanged,
    model_snapshot,
    random_one_hot,
    single_thread,  # noqa: F401 (autouse fixture)
    small_labcnn,
)

from cislens.attribution import (
    METHODS,
    grad_x_input,
    gradcam,
    guided_backprop,
    guided_gradcam,
    integrated_gradients,
    ism,
    saliency,
)

LENGTH = 24

# Method -> options making it cheap but non-trivial.
CASES = {
    "ism": (ism, {}),
    "ism_window": (ism, {"start": 3, "end": -2, "scores": "neg_mean"}),
    "saliency": (saliency, {"gradient_correction": True}),
    "grad_x_input": (grad_x_input, {}),
    "integrated_gradients": (integrated_gradients, {"n_steps": 5}),
    "ig_dinucleotide": (
        integrated_gradients,
        {"n_steps": 3, "baselines": "dinucleotide", "n_baselines": 2, "random_state": 4},
    ),
    "gradcam": (gradcam, {"layer": "conv1"}),
    "guided_backprop": (guided_backprop, {}),
    "guided_gradcam": (guided_gradcam, {}),
}


def test_every_registered_method_but_deeplift_is_covered():
    covered = {func.__name__ for func, _ in CASES.values()}
    assert covered == set(METHODS) - {"deeplift", "deeplift_shap"}


@pytest.fixture(scope="module")
def model():
    return SmallConv(length=LENGTH)


@pytest.fixture(scope="module")
def X():
    return random_one_hot(5, LENGTH, 1, n_columns=2)


@pytest.mark.parametrize("case", sorted(CASES))
def test_shape_dtype_batch_size_invariance_and_example_independence(case, model, X):
    func, options = CASES[case]
    out = func(model, X, target=1, dtype=torch.float64, **options)
    assert out.shape == X.shape and out.dtype == torch.float32 and out.device.type == "cpu"
    assert torch.isfinite(out).all() and out.abs().sum() > 0
    for batch_size in (7, 50):
        other = func(model, X, target=1, dtype=torch.float64, batch_size=batch_size, **options)
        torch.testing.assert_close(other, out, rtol=1e-6, atol=1e-9)
    for i in (0, 4):
        single = func(model, X[i : i + 1], target=1, dtype=torch.float64, **options)
        torch.testing.assert_close(single[0], out[i], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_targets_are_checked(case, model, X):
    func, options = CASES[case]
    with pytest.raises(ValueError, match="target must be given for a model with 3 outputs"):
        func(model, X[:2], **options)
    with pytest.raises(ValueError, match=r"target must be an int in \[0, 3\).*got 3"):
        func(model, X[:2], target=3, **options)
    with pytest.raises(TypeError, match="target must be an int"):
        func(model, X[:2], target="0", **options)
    # A callable target picks (or combines) outputs.
    combined = func(model, X[:2], target=lambda out: out[:, 1], dtype=torch.float64, **options)
    direct = func(model, X[:2], target=1, dtype=torch.float64, **options)
    torch.testing.assert_close(combined, direct)


def test_single_output_model_needs_no_target(X):
    model = SmallConv(length=LENGTH, n_outputs=1)
    for func, options in CASES.values():
        assert func(model, X[:2], **options).shape == (2, 4, LENGTH)


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_is_left_as_found(case, X):
    func, options = CASES[case]
    model = small_labcnn(n_tasks=2, length=LENGTH + 36).train()
    model.conv1.weight.requires_grad_(False)  # a partly frozen model stays partly frozen
    before = model_snapshot(model)
    X_long = random_one_hot(2, LENGTH + 36, 3)
    X_copy = X_long.clone()
    options = {k: v for k, v in options.items() if k != "layer"}
    func(model, X_long, target=0, dtype=torch.float64, **options)
    assert_unchanged(model, before)
    assert torch.equal(X_long, X_copy)
    with pytest.raises(ValueError):  # and also after an error
        func(model, X_long, target=5, **options)
    assert_unchanged(model, before)


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_input_and_bad_input(case, model, X):
    func, options = CASES[case]
    from_numpy = func(model, X[:2].numpy(), target=0, **options)
    torch.testing.assert_close(from_numpy, func(model, X[:2], target=0, **options))
    with pytest.raises(ValueError, match="empty"):
        func(model, X[:0], target=0, **options)
    with pytest.raises(ValueError, match="shape"):
        func(model, X[:2].transpose(1, 2), target=0, **options)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        func(model, X[:2], target=0, batch_size=0, **options)
    with pytest.raises(TypeError, match="dtype"):
        func(model, X[:2], target=0, dtype=torch.int64, **options)


def test_float32_and_float64_agree(model, X):
    for func, options in CASES.values():
        low = func(model, X, target=2, **options)
        high = func(model, X, target=2, dtype=torch.float64, **options)
        torch.testing.assert_close(low, high, rtol=1e-4, atol=1e-5)


def test_random_state_is_validated(model, X):
    with pytest.raises(TypeError, match="random_state"):
        saliency(model, X, target=0, random_state="seed")
    with pytest.raises(ValueError, match="random_state"):
        ism(model, X, target=0, random_state=-1)
    saliency(model, X, target=0, random_state=np.random.default_rng(0))
