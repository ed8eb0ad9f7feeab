"""DeepLIFT rules on hand-set networks with known answers (docs/algorithms.md 1.2-1.6)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cislens.attribution.deeplift_engine import coupled, rules
from cislens.attribution.deeplift_engine.pairs import deeplift_pairs

F64 = torch.float64


def contributions(model, x, r, rule, target=None):
    x = torch.as_tensor(x, dtype=F64)[None]
    r = torch.as_tensor(r, dtype=F64)[None, None]
    m, deltas = deeplift_pairs(model, x, r, rule=rule, target=target, dtype=F64)
    assert deltas.max_relative_error < 1e-12
    return (m[0, 0] * (x[0] - r[0, 0])).tolist()


class MinNet(nn.Module):
    """y = i1 - ReLU(i1 - i2) (= min(i1, i2)), with hand-set dense layers."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 1)
        self.relu = nn.ReLU()
        self.out = nn.Linear(3, 1)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor([[1.0, -1.0]]))
            self.hidden.bias.zero_()
            self.out.weight.copy_(torch.tensor([[1.0, 0.0, -1.0]]))
            self.out.bias.zero_()

    def forward(self, x):
        return self.out(torch.cat([x, self.relu(self.hidden(x))], 1))


class Saturating(nn.Module):
    """y = 1 - ReLU(1 - (i1 + i2)) (= min(1, i1 + i2)), the paper's Figure 1, functional ReLU."""

    def forward(self, x):
        return 1 - F.relu(1 - x.sum(1, keepdim=True))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("rescale", [0.0, 6.0]), ("reveal_cancel", [3.0, 3.0]), ("genomics_default", [3.0, 3.0])],
)
def test_min_network(rule, expected):
    assert contributions(MinNet(), [10.0, 6.0], [0.0, 0.0], rule) == pytest.approx(expected)


def test_saturation_network():
    x = torch.tensor([[1.0, 1.0]], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(Saturating()(x).sum(), x)
    assert (grad * x).tolist() == [[0.0, 0.0]]  # gradient x input misses the contribution
    for rule in ("rescale", "reveal_cancel"):
        got = contributions(Saturating(), [1.0, 1.0], [0.0, 0.0], rule)
        assert got == pytest.approx([0.5, 0.5])


def test_linear_model_equals_gradient_times_difference():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(4, 3, 5, padding=2),
        nn.BatchNorm1d(3),
        nn.AvgPool1d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(3 * 6, 2),
    ).double()
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
        model[1].weight.copy_(torch.tensor([1.5, -0.7, 0.3]))
    model.eval()
    g = torch.Generator().manual_seed(1)
    X = torch.rand(3, 4, 12, generator=g, dtype=F64)
    R = torch.rand(3, 2, 4, 12, generator=g, dtype=F64)
    for rule in ("rescale", "reveal_cancel"):
        m, _ = deeplift_pairs(model, X, R, target=1, rule=rule, dtype=F64)
        x = X.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x)[:, 1].sum(), x)
        torch.testing.assert_close(m, grad[:, None].expand_as(m), rtol=0, atol=1e-13)


def _reference_reveal_cancel(layers, x, r, target):
    """Independent dense-ReLU-dense RevealCancel, written from the paper's formulas."""
    acts_x, acts_r, parts = [x], [r], []
    for k, layer in enumerate(layers):
        w, b = layer.weight, layer.bias
        a_x, a_r = acts_x[-1], acts_r[-1]
        z_x, z_r = a_x @ w.T + b, a_r @ w.T + b
        if k == len(layers) - 1:
            break
        d = a_x - a_r
        wp, wn = w.clamp(min=0), w.clamp(max=0)
        dz_pos = d.clamp(min=0) @ wp.T + d.clamp(max=0) @ wn.T
        dz_neg = d.clamp(min=0) @ wn.T + d.clamp(max=0) @ wp.T
        f = torch.relu
        dy_pos = 0.5 * (f(z_r + dz_pos) - f(z_r)) + 0.5 * (f(z_x) - f(z_r + dz_neg))
        dy_neg = 0.5 * (f(z_r + dz_neg) - f(z_r)) + 0.5 * (f(z_x) - f(z_r + dz_pos))
        step = lambda z: (z > 0).to(z.dtype)  # noqa: E731  ReLU slope, for the zero-part limit
        m_pos = torch.where(dz_pos == 0, 0.5 * (step(z_r) + step(z_r + dz_neg)), dy_pos / dz_pos)
        m_neg = torch.where(dz_neg == 0, 0.5 * (step(z_r) + step(z_r + dz_pos)), dy_neg / dz_neg)
        parts.append((m_pos, m_neg))
        acts_x.append(f(z_x))
        acts_r.append(f(z_r))
    m = layers[-1].weight[target]  # multiplier of the last hidden layer's outputs
    for k in range(len(layers) - 2, -1, -1):
        m_pos, m_neg = parts[k][0] * m, parts[k][1] * m
        w = layers[k].weight
        wp, wn = w.clamp(min=0), w.clamp(max=0)
        d = acts_x[k] - acts_r[k]
        up, down = m_pos @ wp + m_neg @ wn, m_pos @ wn + m_neg @ wp
        m = torch.where(d > 0, up, torch.where(d < 0, down, 0.5 * (up + down)))
    return m


def test_reveal_cancel_matches_independent_implementation():
    torch.manual_seed(3)
    layers = [nn.Linear(6, 5), nn.Linear(5, 4), nn.Linear(4, 2)]
    model = nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2]).double().eval()
    g = torch.Generator().manual_seed(2)
    X = torch.randn(4, 6, generator=g, dtype=F64)
    R = torch.randn(4, 1, 6, generator=g, dtype=F64)
    m, deltas = deeplift_pairs(model, X, R, target=1, rule="reveal_cancel", dtype=F64)
    with torch.no_grad():
        expected = _reference_reveal_cancel(layers, X, R[:, 0], 1)
    torch.testing.assert_close(m[:, 0], expected, rtol=1e-10, atol=1e-12)
    assert deltas.max_relative_error < 1e-12
    rescale, _ = deeplift_pairs(model, X, R, target=1, rule="rescale", dtype=F64)
    assert not torch.allclose(m, rescale)  # the two rules do differ here


def test_max_rule_sums_when_argmaxes_differ():
    class Pool(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool1d(3, stride=2)

        def forward(self, x):
            return self.pool(x).sum((1, 2))[:, None]

    x = torch.tensor([[[1.0, 5.0, 2.0, 0.0, 3.0, 1.0, 4.0]]], dtype=F64)
    r = torch.tensor([[[[6.0, 0.0, 1.0, 7.0, 0.0, 2.0, 2.0]]]], dtype=F64)
    m, deltas = deeplift_pairs(Pool(), x, r, dtype=F64)
    assert deltas.max_relative_error < 1e-14
    assert float((m * (x[:, None] - r)).sum()) == pytest.approx((5 + 3 + 4) - (6 + 7 + 2))


def test_max_rule_coefficients():
    x = torch.tensor([[3.0, 1.0, 2.0, 2.0]])
    r = torch.tensor([[0.0, 5.0, 2.0, 2.0]])
    y_x, i_x = F.max_pool1d_with_indices(x[None], 2)
    y_r, i_r = F.max_pool1d_with_indices(r[None], 2)
    c_x, c_r = rules.max_rule(x[None], r[None], y_x, i_x, y_r, i_r)
    # window 1: y=3 at 0, y0=5 at 1, M=5: input argmax gets 0, reference argmax gets -2
    assert c_x[0, 0, 0] == 0.0 and c_r[0, 0, 0] * (1.0 - 5.0) == pytest.approx(-2.0)
    # window 2 identical in input and reference: gradient routing (coefficient 1 at argmax)
    assert c_x[0, 0, 1] == 1.0 and c_r[0, 0, 1] == 0.0


def test_near_zero_thresholds_by_dtype():
    for dtype, (atol, rtol) in rules.NEAR_ZERO.items():
        big = torch.tensor([100.0], dtype=dtype)
        assert rules.near_zero(torch.tensor([atol + rtol * 50], dtype=dtype), big)
        assert not rules.near_zero(torch.tensor([3 * (atol + rtol * 100)], dtype=dtype), big)


def test_rescale_falls_back_to_midpoint_derivative():
    x = torch.tensor([0.5, 2.0], dtype=F64)
    r = x - torch.tensor([1e-14, 1.0], dtype=F64)
    m = rules.rescale(torch.exp, x, r, torch.exp(x), torch.exp(r))
    assert float(m[0]) == pytest.approx(float(torch.exp(x[0])), rel=1e-12)
    assert float(m[1]) == pytest.approx(float(torch.exp(x[1]) - torch.exp(r[1])))


def test_reveal_cancel_zero_part_limit():
    r, d_pos, d_neg = torch.tensor([0.3], dtype=F64), torch.zeros(1, dtype=F64), -torch.ones(1)
    x = r + d_pos + d_neg.double()
    m_pos, m_neg = rules.reveal_cancel(
        torch.tanh, x, r, torch.tanh(x), torch.tanh(r), d_pos, d_neg.double()
    )
    slope = lambda z: 1 - torch.tanh(z) ** 2  # noqa: E731
    assert float(m_pos) == pytest.approx(float(0.5 * (slope(r) + slope(x))))
    assert float(m_neg * d_neg) == pytest.approx(float(torch.tanh(x) - torch.tanh(r)))


def test_elementwise_functions_and_arithmetic_sum_to_delta():
    class Zoo(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 6)
            self.acts = nn.ModuleList(
                [nn.LeakyReLU(0.1), nn.ELU(), nn.GELU(), nn.SiLU(), nn.Softplus(), nn.Tanh()]
            )
            self.out = nn.Linear(6 * 6 + 4, 1)

        def forward(self, x):
            h = self.lin(x)
            parts = [act(h) for act in self.acts]
            extra = torch.stack(
                [
                    torch.exp(-h.abs()).mean(1),
                    torch.sigmoid(2 * h).sum(1) - 1.5,
                    (h / 3 - 1).clamp(-1, 1).mean(1),
                    (h**2 + 1).sqrt().mean(1),
                ],
                1,
            )
            return self.out(torch.cat([*parts, extra], 1))

    torch.manual_seed(1)
    model = Zoo().double().eval()
    g = torch.Generator().manual_seed(5)
    X, R = torch.randn(3, 5, generator=g, dtype=F64), torch.randn(3, 4, 5, generator=g, dtype=F64)
    for rule in ("rescale", "reveal_cancel", "genomics_default"):
        _, deltas = deeplift_pairs(model, X, R, rule=rule, dtype=F64)
        assert deltas.max_relative_error < 1e-10, rule


# --- products of activations, softmax, reciprocal (models: test_deeplift_modern_rules.py) ---


def test_bilinear_split_parts_have_their_signs():
    g = torch.Generator().manual_seed(12)
    a_x, a_r = (torch.randn(4, 3, 5, generator=g, dtype=F64) for _ in range(2))
    b_x, b_r = (torch.randn(4, 5, 3, generator=g, dtype=F64) for _ in range(2))
    mids = (a_x + a_r) / 2, (b_x + b_r) / 2
    total, pos = coupled.bilinear(torch.matmul, a_x - a_r, b_x - b_r, *mids, split=True)
    torch.testing.assert_close(total, a_x @ b_x - a_r @ b_r, rtol=1e-12, atol=1e-12)
    assert bool((pos >= 0).all()) and bool((total - pos <= 1e-14).all())


def test_softmax_split_parts_have_their_signs_and_sum():
    g = torch.Generator().manual_seed(13)
    z_x, z_r = torch.randn(6, 7, generator=g, dtype=F64), torch.randn(6, 7, generator=g, dtype=F64)
    z_r[0] = z_x[0]  # an equal row: every difference near zero (midpoint derivatives)
    z_r[1, :3] = z_x[1, :3]  # some equal entries
    dz = z_x - z_r
    for log in (False, True):
        coef = coupled.softmax_coefficients(z_x, z_r, -1, log=log)
        total = coupled.softmax_map(coef, dz)
        f = F.log_softmax if log else F.softmax
        want = f(z_x, -1) - f(z_r, -1)
        torch.testing.assert_close(total, want, rtol=1e-12, atol=1e-14)
        assert bool(coef.m_e.isfinite().all()) and float(total[0].abs().max()) == 0.0
        pos, neg = coupled.softmax_split(coef, dz.clamp(min=0), dz.clamp(max=0))
        torch.testing.assert_close(pos + neg, total, rtol=1e-12, atol=1e-14)
        assert bool((pos >= 0).all() and (neg <= 0).all())
        grad = torch.randn(6, 7, generator=g, dtype=F64)  # the transpose is the adjoint
        lhs = (coupled.softmax_map(coef, dz) * grad).sum()
        rhs = (dz * coupled.softmax_transpose(coef, grad)).sum()
        assert float(lhs) == pytest.approx(float(rhs), rel=1e-12)


def test_reciprocal_secant_is_exact_across_the_pole():
    x = torch.tensor([0.5, -2.0, 3.0, 1e-3], dtype=F64)
    r = torch.tensor([4.0, 2.0, 3.0, -1e-3], dtype=F64)
    m = rules.reciprocal_secant(x, r, 1 / x, 1 / r)
    torch.testing.assert_close(m * (x - r), 1 / x - 1 / r, rtol=1e-15, atol=0)
    assert float(m[1]) > 0  # opposite signs: the secant jumps over the pole


def test_reveal_cancel_outside_the_domain_takes_the_secant():
    """sqrt at r + d- < 0 is undefined: that element falls back to Rescale, still exact."""
    x, r = torch.tensor([1.0, 4.0], dtype=F64), torch.tensor([1.0, 1.0], dtype=F64)
    d_pos, d_neg = torch.tensor([5.0, 3.0], dtype=F64), torch.tensor([-5.0, 0.0], dtype=F64)
    m_pos, m_neg = rules.reveal_cancel(torch.sqrt, x, r, x.sqrt(), r.sqrt(), d_pos, d_neg)
    assert bool(m_pos.isfinite().all() and m_neg.isfinite().all())
    torch.testing.assert_close(m_pos * d_pos + m_neg * d_neg, x.sqrt() - r.sqrt())
    assert float(m_pos[0]) == float(m_neg[0])  # the Rescale secant for both parts


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("length", [4, 9, 31])
def test_max_pool_indices_equals_max_pool1d_with_indices(k, length):
    from cislens.attribution.deeplift_engine.rules import max_pool_indices

    g = torch.Generator().manual_seed(k * 100 + length)
    ties = torch.randint(0, 3, (2, 3, length), generator=g).double()  # many equal maxima
    for z in (torch.randn(2, 3, length, generator=g), ties):
        expected = F.max_pool1d_with_indices(z, k)
        got = max_pool_indices(z, k)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    z = torch.randn(2, 3, length, generator=g)
    z[0, 1, 0] = z[0, 1, 1] = float("nan")  # a NaN window: NaN maximum either way
    got, expected = max_pool_indices(z, k), F.max_pool1d_with_indices(z, k)
    assert torch.equal(got[0].nan_to_num(7.0), expected[0].nan_to_num(7.0))
    for args in ((k, 1), (k, k, 0, 1, True), (k, k, k // 2)):  # other settings: the fallback
        expected = F.max_pool1d_with_indices(z, *args)
        got = max_pool_indices(z, *args)
        assert torch.equal(got[1], expected[1])
        assert torch.equal(got[0].nan_to_num(7.0), expected[0].nan_to_num(7.0))
