"""The fast DeepLIFT path (gradient overrides on the real forward) against the difference network.

The two paths share the rules but not the computation: the fast one differentiates the real
forward pass of the references with each nonlinearity's backward replaced by its multiplier, the
exact one builds and differentiates the difference network. In float64 their multipliers must
agree to rounding on every supported structure the fast path accepts.
"""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cislens.attribution.deeplift_engine import (
    SummationToDeltaError,
    deeplift,
    deeplift_shap,
    rules,
    summation_deltas,
)
from cislens.attribution.deeplift_engine.fast import fast_blocker, fused_relus
from cislens.attribution.deeplift_engine.graph import build_graph
from cislens.attribution.deeplift_engine.pairs import deeplift_pairs
from cislens.errors import UnsupportedModelError
from cislens.models import Basset, BPNetLike, LabCNN
from cislens.shuffle import dinucleotide_shuffle

F64 = torch.float64
L = 60


def onehot(n: int, length: int = L, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.one_hot(torch.randint(0, 4, (n, length), generator=g), 4).permute(0, 2, 1).float()


class Residual(nn.Module):
    """Functional ReLU reused, a residual sum, average and functional max pooling, eval batch
    norm with negative scales, a sigmoid output (explained at its logit)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(4, 6, 5, padding=2)
        self.bn = nn.BatchNorm1d(6)
        self.conv2 = nn.Conv1d(6, 6, 3, padding=2, dilation=2)
        self.dense = nn.Linear(6 * 10, 3)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)
            self.bn.weight.uniform_(-1.0, 1.5)

    def forward(self, x):
        h = F.relu(self.bn(self.conv1(x)))
        h = h + torch.relu(self.conv2(h))
        h = F.avg_pool1d(h, 2)
        h = F.max_pool1d(h, 3).flatten(1)
        return torch.sigmoid(self.dense(h).mul(2.0))


class TwoUses(nn.Module):
    """A ReLU read by a max pool and by an average pool: its multipliers are needed everywhere,
    so it is not folded into the pool's rule (the one after conv2 is)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv1d(4, 5, 5), nn.Conv1d(5, 4, 3)
        self.dense = nn.Linear(4 * 13, 2)

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        h = F.max_pool1d(h, 2) + F.avg_pool1d(h, 2)
        return self.dense(F.max_pool1d(F.relu(self.conv2(h)), 2).flatten(1))


def models():
    torch.manual_seed(0)
    return {
        "labcnn": LabCNN(
            n_tasks=2,
            input_length=L,
            n_filters=(8, 8),
            filter_widths=(9, 4),
            pool_sizes=(2, 4),
            n_hidden=16,
            random_state=0,
        ),
        "basset": Basset(
            n_tasks=2,
            input_length=L,
            n_filters=(8, 8, 8),
            filter_widths=(7, 5, 3),
            pool_sizes=(2, 2, 2),
            n_hidden=(16, 16),
            dropout=0.0,
            random_state=0,
        ),
        "bpnet": BPNetLike(n_tasks=2, n_filters=8, n_layers=3, random_state=0),
        "residual": Residual(),
        "elu_softmax": nn.Sequential(
            nn.Conv1d(4, 5, 7),
            nn.ELU(),
            nn.MaxPool1d(3, ceil_mode=True),
            nn.Flatten(),
            nn.Linear(5 * 18, 4),
            nn.Tanh(),
            nn.Linear(4, 3),
            nn.Softmax(dim=-1),
        ),
        # a ReLU and a max pool right at the input: their backward hands workspace buffers on
        # as the input gradient (ties x == r at most positions: the near-zero fix-ups)
        "input_relu": nn.Sequential(
            nn.ReLU(), nn.Conv1d(4, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * (L - 2), 2)
        ),
        "two_uses": TwoUses(),
        "input_pool": nn.Sequential(
            nn.MaxPool1d(2),
            nn.Conv1d(4, 3, 3),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Flatten(),
            nn.Linear(3 * 14, 2),
        ),
    }


MODELS = models()


@pytest.fixture(scope="module")
def data():
    X = onehot(3)
    return X, dinucleotide_shuffle(X, n=4, random_state=0)


@pytest.mark.parametrize("name", list(MODELS))
def test_fast_multipliers_equal_difference_network(name, data):
    X, R = data
    model = MODELS[name].eval()
    assert fast_blocker(build_graph(model, "rescale", example=X[:1])) is None
    kwargs = dict(target=1, rule="rescale", dtype=F64, device="cpu", batch_size=7)
    m_fast, d_fast = deeplift_pairs(model, X, R, fast=True, **kwargs)
    m_exact, d_exact = deeplift_pairs(model, X, R, fast=False, **kwargs)
    assert m_fast.abs().max() > 0
    scale = float(m_exact.abs().max())
    assert torch.allclose(m_fast, m_exact, rtol=1e-9, atol=1e-12 * scale)
    assert torch.allclose(d_fast.contributions, d_exact.contributions, rtol=1e-9, atol=1e-12)
    # f(r) comes from batches of other composition: equal up to rounding
    assert torch.allclose(d_fast.deltas, d_exact.deltas, rtol=1e-10, atol=1e-14)
    assert d_fast.all_passed and d_fast.max_relative_error < 1e-9


def test_public_functions_agree_and_do_not_depend_on_batch_size(data):
    X, _ = data
    model = MODELS["basset"]
    kwargs = dict(target=0, n_shuffles=5, random_state=2, device="cpu")
    exact = deeplift_shap(model, X, fast=False, dtype=F64, **kwargs)
    outs = [
        deeplift_shap(model, X, fast=True, dtype=F64, batch_size=b, **kwargs)
        for b in (1, 4, 9, 128)
    ]
    for out in outs:
        assert torch.equal(out, outs[0])  # CPU float64: bitwise independent of batch_size
    assert torch.allclose(outs[0], exact, rtol=1e-6, atol=1e-9)
    hyp = deeplift_shap(model, X, fast=True, hypothetical=True, **kwargs)
    hyp_exact = deeplift_shap(model, X, fast=False, hypothetical=True, **kwargs)
    assert torch.allclose(hyp, hyp_exact, rtol=1e-4, atol=1e-6)
    single = deeplift(model, X, baselines="zeros", target=0, dtype=F64, fast=True)
    with torch.no_grad():
        delta = model.double()(X.double())[:, 0] - model(torch.zeros(1, 4, L, dtype=F64))[:, 0]
        model.float()
    assert torch.allclose(single.double().sum((1, 2)), delta, rtol=1e-5, atol=1e-6)


def test_path_choice_is_structural_and_logged(data, caplog):
    X, _ = data
    model = MODELS["basset"]
    with caplog.at_level(logging.INFO, logger="cislens.attribution.deeplift_engine.pairs"):
        deeplift(model, X[:1], target=0, rule="rescale")
    assert "fast path" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cislens.attribution.deeplift_engine.pairs"):
        deeplift(model, X[:1], target=0, rule="genomics_default")  # RevealCancel in the dense part
    assert "difference-network path, since" in caplog.text and "RevealCancel" in caplog.text
    with pytest.raises(UnsupportedModelError, match="fast=True needs Rescale"):
        deeplift(model, X[:1], target=0, rule="reveal_cancel", fast=True)
    with pytest.raises(TypeError, match="fast must be None, True or False"):
        deeplift(model, X[:1], target=0, fast="yes")


def test_fast_path_still_checks_every_pair(data):
    X, R = data
    model = MODELS["labcnn"]

    def squared(out):  # not linear in the logits: summation-to-delta must fail
        return out[:, 0] ** 2

    deltas = summation_deltas(model, X, target=squared, baselines=R, fast=True, dtype=F64)
    assert deltas.relative_errors.shape == (3, 4)
    assert not deltas.all_passed
    with pytest.raises(SummationToDeltaError):
        deeplift_shap(model, X, target=squared, baselines=R, fast=True, dtype=F64)


def test_relu_flag_marks_plain_relus_only():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 2, 3)
            self.act = nn.ReLU()
            self.leaky = nn.LeakyReLU(0.1)
            self.out = nn.Linear(2, 1)

        def forward(self, x):
            h = self.leaky(F.relu(self.act(self.conv(x)).relu()))
            return self.out(torch.relu(h).sum(-1))

    graph = build_graph(Mixed(), "rescale", example=torch.zeros(1, 4, L))
    flags = {op.label.split(" ")[0]: op.relu for op in graph.ops if op.kind == "nonlinear"}
    expected = {"act": True, "Tensor.relu()": True, "F.relu": True, "leaky": False}
    assert flags == {**expected, "torch.relu": True}


def _where_rescale(f, x_in, r_in, x_out, r_out):
    """The rule written with boolean masks and torch.where (the definition)."""
    delta = x_in - r_in
    small = rules.near_zero(delta, x_in, r_in)
    m = (x_out - r_out) / torch.where(small, torch.ones_like(delta), delta)
    return torch.where(small, rules.derivative(f, (x_in + r_in) / 2), m)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_float_mask_rules_equal_boolean_definition(dtype):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4000, generator=g, dtype=dtype)
    atol, rtol = rules.NEAR_ZERO[dtype]
    threshold = atol + rtol * x.abs()
    kind = torch.randint(0, 5, x.shape, generator=g)
    r = torch.randn(x.shape, generator=g, dtype=dtype)
    r = torch.where(kind == 0, x, r)  # equal
    r = torch.where(kind == 1, x - threshold, r)  # exactly at the threshold (up to rounding)
    r = torch.where(kind == 2, x + 2 * threshold * torch.rand(x.shape, generator=g, dtype=dtype), r)
    r = torch.where(kind == 3, -x * 1e-7, r)  # straddling zero
    for f, slope in [(torch.relu, rules.relu_derivative), (torch.relu, None), (torch.tanh, None)]:
        got = rules.rescale(f, x, r, f(x), f(r), slope)
        assert torch.equal(got, _where_rescale(f, x, r, f(x), f(r))), (f, slope)
    # an infinite autograd derivative away from the near-zero elements must not leak
    xs, rs = x.abs(), torch.where(kind == 4, torch.zeros_like(x), r.abs())
    got = rules.rescale(torch.sqrt, xs, rs, xs.sqrt(), rs.sqrt())
    want = _where_rescale(torch.sqrt, xs, rs, xs.sqrt(), rs.sqrt())
    assert torch.equal(got.isfinite(), want.isfinite())
    assert torch.equal(got[want.isfinite()], want[want.isfinite()])
    # max rule: coefficients in [0, 1]; only exactly zero differences take the gradient routing
    X, Rr = x.view(40, 100), r.view(40, 100)
    y_x, i_x = F.max_pool1d_with_indices(X, 4)
    y_r, i_r = F.max_pool1d_with_indices(Rr, 4)
    c_x, c_r = rules.max_rule(X, Rr, y_x, i_x, y_r, i_r)
    d_x = X.gather(-1, i_x) - Rr.gather(-1, i_x)
    d_r = X.gather(-1, i_r) - Rr.gather(-1, i_r)
    top = torch.maximum(y_x, y_r)
    zero_x, zero_r = d_x == 0, d_r == 0
    want_x = torch.where(zero_x, 1.0, (top - y_r) / torch.where(zero_x, 1.0, d_x))
    want_r = torch.where(zero_r, 0.0, (y_x - top) / torch.where(zero_r, 1.0, d_r))
    assert torch.equal(c_x, want_x) and torch.equal(c_r, want_r)
    assert bool(zero_x.any()) and bool((~zero_x).any())
    assert bool(((c_x >= 0) & (c_x <= 1) & (c_r >= 0) & (c_r <= 1)).all())
    assert torch.allclose(c_x * d_x + c_r * d_r, y_x - y_r, rtol=1e-5, atol=1e-6)


def test_float32_maxpool_multipliers_follow_float64():
    """Rounding-small (not zero) differences at a max pool keep their exact coefficient, so
    float32 DeepLiftShap stays close to float64 (a near-zero threshold there moved it by %)."""
    model = LabCNN(n_tasks=3, input_length=100, random_state=0).eval()
    X = onehot(8, 100)
    R = dinucleotide_shuffle(X, n=20, random_state=0)
    f64 = deeplift_shap(model, X, target=0, baselines=R, dtype=F64)
    f32 = deeplift_shap(model, X, target=0, baselines=R)
    assert float((f32.double() - f64.double()).abs().max()) < 1e-4 * float(f64.abs().max())


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_closed_form_rules_equal_generic_rules(dtype):
    """The fast path's ReLU Rescale and max rule (fewer passes) give the generic rules' values
    element by element, near-zero and tied cases included."""
    g = torch.Generator().manual_seed(5)
    atol, rtol = rules.NEAR_ZERO[dtype]
    x = torch.randn(6, 2000, generator=g, dtype=dtype)
    kind = torch.randint(0, 6, x.shape, generator=g)
    r = torch.randn(x.shape, generator=g, dtype=dtype)
    r = torch.where(kind == 0, x, r)  # equal: 0 / 0
    r = torch.where(kind == 1, x - (atol + rtol * x.abs()), r)  # at the threshold
    tiny = atol * torch.rand(x.shape, generator=g, dtype=dtype)
    x = torch.where(kind == 2, tiny, x)  # opposite signs, both tiny: the midpoint slope
    r = torch.where(kind == 2, -0.5 * tiny * torch.rand(x.shape, generator=g, dtype=dtype), r)
    r = torch.where(kind == 3, -x * 1e-3, r)  # opposite signs, well apart
    for x_in in (x, x[:1]):  # x[:1]: one input broadcast against its references
        want = rules.rescale(
            torch.relu, x_in, r, torch.relu(x_in), torch.relu(r), rules.relu_derivative
        )
        got = rules.relu_rescale(x_in, r, torch.relu(x_in), torch.relu(r))
        assert torch.equal(got + 0.0, want + 0.0)  # + 0.0: the sign of a zero may differ
    assert bool((want > 0).any() and (want < 1).any())  # fractional secants were exercised
    # max rule on pooled windows, with ties (kind 0: x == r) and exact zero differences
    y_x, i_x = F.max_pool1d_with_indices(x, 4)
    y_r, i_r = F.max_pool1d_with_indices(r, 4)
    want_x, want_r = rules.max_rule(x, r, y_x, i_x, y_r, i_r)
    got_x, got_r = rules.max_rule_pooled(x, r, y_x, i_x, y_r, i_r)
    assert torch.equal(got_x + 0.0, want_x + 0.0) and torch.equal(got_r + 0.0, want_r + 0.0)
    assert bool((want_x == 1).any() and (want_r > 0).any())


def test_relus_feeding_only_a_max_pool_are_folded_into_it():
    X = onehot(1)
    folded = {
        name: len(fused_relus(build_graph(MODELS[name].eval(), "rescale", example=X)))
        for name in ("basset", "two_uses", "input_relu", "elu_softmax")
    }
    # Basset: three conv ReLUs before pools (not the dense ones); TwoUses: only the second
    assert folded == {"basset": 3, "two_uses": 1, "input_relu": 0, "elu_softmax": 0}


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_relu_max_rule_equals_the_two_rules_applied_in_turn(dtype):
    """The folded coefficients are the max rule's times the ReLU's Rescale multipliers at the
    argmaxes, element by element up to rounding (one quotient instead of the product of two),
    exactly at equal and near-equal inputs (0 / 0 and the midpoint slope), with ties and
    all-negative windows."""
    g = torch.Generator().manual_seed(3)
    z_x = torch.randn(1, 3, 40, generator=g, dtype=dtype)
    z_r = torch.randn(5, 3, 40, generator=g, dtype=dtype)
    z_x[0, 0, :4] = torch.tensor([-3.0, -1.0, -2.0, -4.0])  # an all-negative x window
    z_r[0] = z_x[0]  # x == r: 0 / 0 in both rules
    z_r[1, :, :10] = z_x[0, :, :10]  # equal in part
    z_r[2] = -z_r[2].abs()  # every window all zero after the ReLU: tied argmaxes
    z_r[3] = z_x[0] + 1e-9  # near-zero differences: the midpoint slope
    x, r = torch.relu(z_x), torch.relu(z_r)
    (y_x, i_x), (y_r, i_r) = F.max_pool1d_with_indices(x, 4), F.max_pool1d_with_indices(r, 4)
    m = rules.relu_rescale(z_x, z_r, x, r)
    i_all = i_x.expand_as(i_r)
    c_x, c_r = rules.max_rule_pooled(x, r, y_x, i_all, y_r, i_r)
    got_x, got_r = rules.relu_max_rule_pooled(z_x, z_r, y_x, i_x, y_r, i_r)
    want_x, want_r = c_x * m.gather(-1, i_all), c_r * m.gather(-1, i_r)
    eps = torch.finfo(dtype).eps
    for got, want in ((got_x, want_x), (got_r, want_r)):
        torch.testing.assert_close(got, want, rtol=4 * eps, atol=0.0)
        assert torch.equal(got == 0, want == 0)  # zeros stay zeros
        assert torch.equal(got[[0, 3]] + 0.0, want[[0, 3]] + 0.0)  # the recomputed elements
    assert bool((want_x != got_x).any())  # the cancelled form was exercised, not only fix-ups
    # the argmaxes of z instead of relu(z) (as the fast path pools): other positions only in
    # all-negative windows, where both coefficients are 0
    (_, j_x), (_, j_r) = F.max_pool1d_with_indices(z_x, 4), F.max_pool1d_with_indices(z_r, 4)
    assert bool((j_r != i_r).any()) and bool((j_x != i_x).any())
    from_z = rules.relu_max_rule_pooled(z_x, z_r, y_x, j_x, y_r, j_r)
    assert torch.equal(from_z[0] + 0.0, got_x + 0.0) and torch.equal(from_z[1] + 0.0, got_r + 0.0)
    assert bool(((want_x > 0) & (want_x < 1)).any() and (want_r > 0).any())
    # the contributions at the two argmaxes add up to each window's pooled difference
    dz = z_x - z_r
    total = got_x * dz.gather(-1, i_all) + got_r * dz.gather(-1, i_r)
    torch.testing.assert_close(total, (y_x - y_r).expand_as(total))
