"""RevealCancel and genomics_default: rounding invariance and an independent reference.

A unit unchanged between input and reference (a ReLU inactive at both) has a true change of
exactly 0 but carries RevealCancel parts ``a+ = -a-``; the Linear rule must split the next layer's
terms by the sign of the unit's *real* difference, or a rounding residue of ``a+ + a-`` decides
where the multiplier goes (docs/deeplift_rules.md, "Linear"). These tests run many small random
models, with dead units on purpose, and require the multipliers not to depend on the dtype or the
batch size, and to match a plain float64 implementation of the paper's rule on MLPs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from cislens.attribution.deeplift_engine.pairs import deeplift_pairs

F64 = torch.float64
N_MLP, N_CONV = 130, 80  # 210 random models in all


def _init(model: nn.Module, rng: np.random.Generator, n_dead: int) -> nn.Module:
    """Random weights; ``n_dead`` units of each hidden layer get a large negative bias (ReLUs
    inactive at every input and reference, the case a rounding residue used to decide)."""
    layers = [m for m in model if isinstance(m, nn.Linear | nn.Conv1d)]
    with torch.no_grad():
        for index, layer in enumerate(layers):
            scale = rng.uniform(0.2, 1.5)
            layer.weight.copy_(torch.from_numpy(rng.normal(0, scale, layer.weight.shape)))
            layer.bias.copy_(torch.from_numpy(rng.normal(0, 0.5, layer.bias.shape)))
            if index < len(layers) - 1:
                layer.bias[rng.permutation(layer.bias.numel())[:n_dead]] = -50.0
    return model.to(F64).eval()


def random_mlp(rng: np.random.Generator, length: int) -> nn.Module:
    widths = [4 * length, *rng.integers(3, 10, size=rng.integers(1, 4))]
    layers: list[nn.Module] = [nn.Flatten()]
    for w_in, w_out in itertools.pairwise(widths):
        layers += [nn.Linear(int(w_in), int(w_out)), nn.ReLU()]
    layers.append(nn.Linear(int(widths[-1]), int(rng.integers(1, 3))))
    return _init(nn.Sequential(*layers), rng, n_dead=int(rng.integers(0, 3)))


def random_conv_dense(rng: np.random.Generator, length: int) -> nn.Module:
    channels, width = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    hidden = int(rng.integers(3, 9))
    model = nn.Sequential(
        nn.Conv1d(4, channels, width), nn.ReLU(), nn.Flatten(),
        nn.Linear(channels * (length - width + 1), hidden), nn.ReLU(),
        nn.Linear(hidden, int(rng.integers(1, 3))),
    )  # fmt: skip
    return _init(model, rng, n_dead=int(rng.integers(0, 2)))


def random_pairs(rng: np.random.Generator, length: int, n: int = 5, n_refs: int = 2):
    """One-hot inputs and references that are mutants of them (so that many units, and many
    input channels, are unchanged), each with at least one mutated position."""
    seq = rng.integers(0, 4, size=(n, length))
    refs = np.repeat(seq[:, None], n_refs, axis=1)
    mutate = rng.random(refs.shape) < 0.3
    mutate[..., 0] = True
    refs = np.where(mutate, (refs + rng.integers(1, 4, size=refs.shape)) % 4, refs)
    eye = np.eye(4)
    x = torch.from_numpy(eye[seq]).transpose(-1, -2).contiguous()
    r = torch.from_numpy(eye[refs]).transpose(-1, -2).contiguous()
    return x, r


def reference_reveal_cancel(model: nn.Sequential, x: np.ndarray, r: np.ndarray, target: int):
    """Multipliers of one pair by the paper's rule, in float64 numpy, written independently.

    Linear rule (docs/algorithms.md 1.2): ``dz+ = W+ [dh]+ + W- [dh]-`` with ``dh`` the real
    difference of the layer's input; backward, an input with ``dh > 0`` receives
    ``W+ m+ + W- m-``, with ``dh < 0`` ``W- m+ + W+ m-``, with ``dh = 0`` ``W (m+ + m-) / 2``.
    RevealCancel (1.4) on each ReLU, with the engine's limit ``(f'(r) + f'(r + dz-)) / 2`` where
    ``|dz+|`` is at rounding level (and symmetrically).
    """
    dense = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in model
             if isinstance(m, nn.Linear)]  # fmt: skip
    h_x, h_r = x.reshape(-1), r.reshape(-1)
    relu = lambda z: np.maximum(z, 0.0)  # noqa: E731
    slope = lambda z: (z > 0).astype(float)  # noqa: E731
    saved = []
    for w, b in dense[:-1]:
        dh = h_x - h_r
        w_pos, w_neg = np.maximum(w, 0), np.minimum(w, 0)
        dz_pos = w_pos @ np.maximum(dh, 0) + w_neg @ np.minimum(dh, 0)
        dz_neg = w_neg @ np.maximum(dh, 0) + w_pos @ np.minimum(dh, 0)
        z_x, z_r = w @ h_x + b, w @ h_r + b
        f_p, f_n, f_x, f_r = relu(z_r + dz_pos), relu(z_r + dz_neg), relu(z_x), relu(z_r)
        dy_pos = 0.5 * (f_p - f_r) + 0.5 * (f_x - f_n)
        dy_neg = 0.5 * (f_n - f_r) + 0.5 * (f_x - f_p)
        tol = 1e-12 + 1e-10 * np.maximum(np.abs(z_x), np.abs(z_r))
        with np.errstate(divide="ignore", invalid="ignore"):
            m_pos = np.where(np.abs(dz_pos) <= tol, 0.5 * (slope(z_r) + slope(z_r + dz_neg)),
                             dy_pos / dz_pos)  # fmt: skip
            m_neg = np.where(np.abs(dz_neg) <= tol, 0.5 * (slope(z_r) + slope(z_r + dz_pos)),
                             dy_neg / dz_neg)  # fmt: skip
        saved.append((w, dh, m_pos, m_neg))
        h_x, h_r = f_x, f_r
    mult = dense[-1][0][target]  # multiplier of the last hidden layer's units
    for w, dh, m_pos, m_neg in reversed(saved):
        up_pos, up_neg = mult * m_pos, mult * m_neg  # multipliers of dz+ and dz-
        w_pos, w_neg = np.maximum(w, 0), np.minimum(w, 0)
        mult = np.where(dh > 0, up_pos @ w_pos + up_neg @ w_neg,
                        np.where(dh < 0, up_pos @ w_neg + up_neg @ w_pos,
                                 0.5 * (up_pos + up_neg) @ w))  # fmt: skip
    return mult.reshape(x.shape)


def _case(index: int):
    rng = np.random.default_rng(20240 + index)
    length = int(rng.integers(4, 9))
    if index < N_MLP:
        return "mlp", random_mlp(rng, length), random_pairs(rng, length)
    return "conv", random_conv_dense(rng, length + 4), random_pairs(rng, length + 4)


def _multipliers(model, x, r, rule, *, dtype, batch_size):
    m, deltas = deeplift_pairs(model, x, r, rule=rule, target=0, dtype=dtype,
                               batch_size=batch_size)  # fmt: skip
    return m.to(F64), deltas


@pytest.mark.parametrize("chunk", range(6))
def test_reveal_cancel_invariant_to_dtype_and_batch_size(chunk):
    """>= 200 random MLPs and conv + dense models, RevealCancel and genomics_default:
    float32 agrees with float64 to 1e-4 and batch sizes 1, 3 and 128 agree to 1e-6 (relative to
    the largest multiplier), and on MLPs float64 matches the reference to 1e-6."""
    n_cases = N_MLP + N_CONV
    for index in range(chunk, n_cases, 6):
        kind, model, (x, r) = _case(index)
        rules_ = ["reveal_cancel"] if kind == "mlp" else ["reveal_cancel", "genomics_default"]
        for rule in rules_:
            m64, deltas = _multipliers(model, x, r, rule, dtype=F64, batch_size=128)
            assert deltas.max_relative_error < 1e-9, (index, rule)
            scale = float(m64.abs().max().clamp_min(1e-12))
            m32, _ = _multipliers(model, x, r, rule, dtype=torch.float32, batch_size=128)
            err32 = float((m32 - m64).abs().max()) / scale
            assert err32 < 1e-4, (index, kind, rule, err32)
            for batch_size in (1, 3):
                m_b, _ = _multipliers(model, x, r, rule, dtype=F64, batch_size=batch_size)
                err_b = float((m_b - m64).abs().max()) / scale
                assert err_b < 1e-6, (index, kind, rule, batch_size, err_b)
            if kind == "mlp":
                ref = np.stack([
                    np.stack([reference_reveal_cancel(model, x[i].numpy(), r[i, j].numpy(), 0)
                              for j in range(r.shape[1])])
                    for i in range(x.shape[0])
                ])  # fmt: skip
                err_ref = float(np.abs(m64.numpy() - ref).max()) / scale
                assert err_ref < 1e-6, (index, rule, err_ref)


def test_dead_unit_does_not_take_sides():
    """A ReLU inactive at input and reference, fed by cancelling parts: the next layer's terms
    get half of each multiplier (the real difference is exactly 0), in float32 as in float64."""
    model = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        for layer, w, b in ((model[0], [[1.0, -1.0]], [-0.5]), (model[2], [[1.0]], [0.3]),
                            (model[4], [[1.0]], [0.0])):  # fmt: skip
            layer.weight.copy_(torch.tensor(w))
            layer.bias.copy_(torch.tensor(b))
    model = model.to(F64).eval()
    x = torch.tensor([[0.7, 0.7]], dtype=F64)  # unit 1: -0.5 at x and r, parts +0.7 / -0.7
    r = torch.zeros(1, 1, 2, dtype=F64)
    results = [_multipliers(model, x, r, "reveal_cancel", dtype=d, batch_size=1)[0]
               for d in (F64, torch.float32)]  # fmt: skip
    ref = reference_reveal_cancel(model, x[0].numpy(), r[0, 0].numpy(), 0)
    for m in results:
        np.testing.assert_allclose(m[0, 0].numpy(), ref, atol=1e-7)
