"""predict_in_batches: the one batched forward loop (training, GIA, ISM and IG references)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from testkit import (
    SmallConv,
    random_one_hot,
    single_thread,  # noqa: F401 (autouse fixture)
)

from cislens.attribution import gradcam, integrated_gradients, ism
from cislens.gia import marginalize
from cislens.train import predict
from cislens.utils.batching import predict_in_batches


def test_outputs_do_not_depend_on_the_batch_size():
    model = SmallConv().eval()
    X = random_one_hot(7, 24, 0)
    whole = model(X).detach()
    seen = []
    for batch_size in (1, 3, 7, 100):
        out = predict_in_batches(model, X.numpy(), batch_size=batch_size, on_batch=seen.append)
        torch.testing.assert_close(out, whole, rtol=1e-5, atol=1e-6)  # float32 rounding
        assert sum(seen) == 7
        seen.clear()
    # the transform runs per batch, on the outputs; the dtype is the one asked for
    model64 = SmallConv().double().eval()
    picked = predict_in_batches(model64, X, batch_size=2, dtype=torch.float64,
                                transform=lambda out: out[:, 1])  # fmt: skip
    assert picked.dtype == torch.float64 and picked.shape == (7,)
    torch.testing.assert_close(picked, model64(X.double())[:, 1].detach())
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        predict_in_batches(model, X, batch_size=0)


def test_no_gradient_is_recorded():
    model = SmallConv()
    out = predict_in_batches(model, random_one_hot(3, 24, 1), batch_size=2)
    assert not out.requires_grad and all(p.grad is None for p in model.parameters())


def test_callers_agree_with_a_direct_forward_pass():
    model = SmallConv().eval()
    X = random_one_hot(5, 24, 2)
    direct = model(X).detach().numpy()
    np.testing.assert_allclose(predict(model, X, batch_size=2, device="cpu"), direct, atol=1e-5)
    # ISM's deltas are f(edit) - f(x) with f(x) from the batched loop: batch sizes agree
    torch.testing.assert_close(
        ism(model, X, target=0, batch_size=3, fast=False),
        ism(model, X, target=0, batch_size=50, fast=False),
        rtol=1e-4,
        atol=1e-5,
    )
    torch.testing.assert_close(
        integrated_gradients(model, X, target=1, batch_size=4, n_steps=8),
        integrated_gradients(model, X, target=1, batch_size=64, n_steps=8),
        rtol=1e-4,
        atol=1e-5,
    )
    assert gradcam(model, X, target=0).shape == X.shape
    # GIA's null mean is the mean of the batched predictions of the backgrounds
    result = marginalize(model, X.numpy(), "ACGT", target=0, batch_size=2, random_state=0)
    np.testing.assert_allclose(result.null_mean, [direct[:, 0].mean()], rtol=1e-5)
