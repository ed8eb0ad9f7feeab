"""DeepLIFT rules for attention-style models: products of activations, inner softmax, division,
normalisations written out, and the linear plumbing of modern genomics models.

Every model here is written with functional calls in ``forward`` (the form the engine sees once
``nn`` modules are dissolved). The checks: summation-to-delta per example-reference pair in
float64 (1e-8), the fast path against the difference network (float64, 1e-10), batch-size
invariance, and agreement with computations that share no code with the engine (brute-force
Shapley values for a bilinear model, the softmax rule in 50-digit arithmetic, the gradient as the
limit of small differences). Unit tests of the rules themselves (signs of the split parts, the
transpose, the reciprocal secant) are in test_deeplift_rules.py.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cislens.attribution.deeplift_engine import deeplift_shap
from cislens.attribution.deeplift_engine.graph import build_graph
from cislens.attribution.deeplift_engine.pairs import deeplift_pairs
from cislens.errors import UnsupportedModelError

F64 = torch.float64
RULES = ("rescale", "reveal_cancel", "genomics_default")


def param(g: torch.Generator, *shape: int, scale: float = 0.5) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape, generator=g, dtype=F64) * scale)


# --- toy models --------------------------------------------------------------------------------


class Attention(nn.Module):
    """Convolution, then one attention head: Q K^T (a product of activations), scale, additive
    mask, softmax over keys, times V (another product), then a dense head."""

    def __init__(self, product="matmul", log=False, scale=0.5, masked=False):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.product, self.log, self.masked = product, log, masked
        self.conv = param(g, 6, 4, 3)
        self.wq, self.wk, self.wv = param(g, 6, 6), param(g, 6, 6), param(g, 6, 6)
        self.out = param(g, 3, 6, scale=1.0)
        self.register_buffer("mask", torch.triu(torch.full((8, 8), -2.0, dtype=F64), 1))
        self.register_buffer("causal", torch.ones(8, 8, dtype=torch.bool).triu(1))
        self.scale = scale

    def forward(self, x):
        h = F.relu(F.conv1d(x, self.conv, padding=1)).transpose(1, 2)  # (N, L, C)
        q, k, v = F.linear(h, self.wq), F.linear(h, self.wk), F.linear(h, self.wv)
        if self.product == "matmul":
            scores = q @ k.transpose(1, 2)
        elif self.product == "bmm":
            scores = torch.bmm(q, k.transpose(1, 2))
        elif self.product == "method":
            scores = q.matmul(k.transpose(-1, -2))
        else:
            scores = torch.einsum("bic,bjc->bij", q, k)
        scores = scores * self.scale + self.mask
        if self.masked:  # -inf in input and reference alike
            scores = scores.masked_fill(self.causal, float("-inf"))
        if self.log:
            weights = F.log_softmax(scores, dim=-1).exp()
        else:
            weights = torch.softmax(scores, dim=2)
        attended = (
            torch.einsum("bij,bjc->bic", weights, v) if self.product == "einsum" else (weights @ v)
        )
        return F.linear(torch.tanh(attended).mean(1), self.out)


class Gates(nn.Module):
    """Elementwise products (GLU written out, x * x, in-place multiplication) and a softmax over
    channels feeding a nonlinearity (under RevealCancel its parts pass through the softmax)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.conv = param(g, 8, 4, 5)
        self.dense = param(g, 2, 4 * 6, scale=0.3)

    def forward(self, x):
        h = F.conv1d(x, self.conv)  # (N, 8, 6)
        a, b = h.chunk(2, dim=1)
        gated = a * torch.sigmoid(b)  # GLU = chunk -> sigmoid -> product
        squared = torch.mul(gated, gated)
        both = gated.mul(squared.tanh())
        both *= F.softplus(a)
        both = both + torch.tanh(3.0 * F.softmax(b, dim=1) - 1.0)
        return F.linear(F.elu(both).flatten(1), self.dense)


class Norms(nn.Module):
    """LayerNorm and RMSNorm written out (product of activations with rsqrt), a division of two
    input-dependent tensors, reciprocal as function and method, log-softmax over channels."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.conv = param(g, 6, 4, 3)
        self.gamma, self.beta = param(g, 6), param(g, 6)
        self.dense = param(g, 2, 6 * 6, scale=0.3)

    def forward(self, x):
        h = F.conv1d(x, self.conv).transpose(1, 2)  # (N, 6, 6): normalise the channels
        centred = h - h.mean(-1, keepdim=True)
        var = (centred**2).mean(-1, keepdim=True)
        layer = centred * torch.rsqrt(var + 1e-5) * self.gamma + self.beta
        rms = h * (h.square().mean(-1, keepdim=True) + 1e-6).rsqrt()
        ratio = layer / (1.5 + rms.abs())
        inv = torch.reciprocal(2.0 + torch.sigmoid(h)) + (3.0 + h.abs()).reciprocal()
        z = F.silu(ratio) + inv * F.log_softmax(rms, dim=-1)
        return F.linear(z.flatten(1), self.dense)


class Plumbing(nn.Module):
    """Every linear plumbing op of item 3 in one model (``relu=False``: purely linear)."""

    def __init__(self, relu: bool = True):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.relu = relu
        self.conv = param(g, 3, 4, 3)
        self.mix = param(g, 3, 5)
        self.up = nn.Upsample(scale_factor=2, mode="linear")
        self.dense = param(g, 2, 15, scale=0.3)

    def forward(self, x):
        h = F.conv1d(x, self.conv)  # (N, 3, 6)
        h = F.interpolate(h, scale_factor=2, mode="nearest")  # 12
        h = F.interpolate(h, size=9, mode="linear", align_corners=False)  # 9
        h = self.up(h)[..., 2:-2]  # 18 -> 14: upsample module, cropping
        h = torch.repeat_interleave(h, 2, dim=-1) + h.repeat_interleave(2, dim=2)  # 28
        h = F.pad(h, (1, 2), mode="replicate").flip(-1).roll(3, dims=-1)  # 31
        left, right = torch.split(h, [15, 16], dim=-1)
        h = torch.cat([left, right[..., 1:]], dim=1)  # (N, 6, 15)
        h = F.adaptive_avg_pool1d(h, 5) + h.narrow(-1, 0, 5)  # (N, 6, 5)
        h = torch.einsum("bcl,cm->bml", h[:, :3], self.mix)  # mixing einsum: (N, 5, 5)
        h = torch.einsum("bij->bji", h) + h.mean(1, keepdim=True).expand(-1, 5, -1)
        h = h + torch.broadcast_to(h.sum(-1, keepdim=True), h.shape)
        if self.relu:
            h = torch.tanh(0.1 * h)
        return F.linear(h[:, :3].flatten(1), self.dense)


MODELS = {
    "attention": lambda: Attention("matmul"),
    "attention_bmm": lambda: Attention("bmm"),
    "attention_method": lambda: Attention("method"),
    "attention_einsum": lambda: Attention("einsum"),
    "attention_log": lambda: Attention("matmul", log=True),
    "attention_masked": lambda: Attention("bmm", masked=True),
    "gates": Gates,
    "norms": Norms,
    "plumbing": Plumbing,
}


LENGTHS = {"gates": 10, "plumbing": 10}  # the others take 8 positions


EXAMPLE = torch.zeros(1, 4, 8, dtype=F64)  # the input shapes the graphs are captured at
EXAMPLE_10 = torch.zeros(1, 4, 10, dtype=F64)


def data(n: int = 3, j: int = 3, length: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, length, generator=g, dtype=F64)
    R = torch.randn(n, j, 4, length, generator=g, dtype=F64)
    return X, R


def pairs(model, X, R, **kwargs):
    kwargs = {"target": 1, "dtype": F64, "device": "cpu", **kwargs}
    return deeplift_pairs(model.eval(), X, R, **kwargs)


# --- summation-to-delta, fast path, batch size ------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_summation_to_delta_every_rule(name):
    model = MODELS[name]()
    X, R = data(length=LENGTHS.get(name, 8))
    for rule in RULES:
        _, deltas = pairs(model, X, R, rule=rule, fast=False)
        assert deltas.max_relative_error < 1e-8, (name, rule, deltas.describe())
        assert float(deltas.deltas.abs().min()) > 0  # the outputs do change
        _, deltas = pairs(model, X, R, rule=rule, dtype=torch.float32)
        assert deltas.max_relative_error < 1e-4, (name, rule, deltas.describe())


@pytest.mark.parametrize("name", list(MODELS))
def test_fast_path_equals_difference_network(name):
    model = MODELS[name]()
    X, R = data(length=LENGTHS.get(name, 8), seed=1)
    m_fast, d_fast = pairs(model, X, R, rule="rescale", fast=True, batch_size=5)
    m_exact, _ = pairs(model, X, R, rule="rescale", fast=False, batch_size=5)
    assert float(m_exact.abs().max()) > 0
    torch.testing.assert_close(m_fast, m_exact, rtol=1e-10, atol=1e-10 * float(m_exact.abs().max()))
    assert d_fast.max_relative_error < 1e-8


@pytest.mark.parametrize("fast", [True, False])
def test_batch_size_invariance(fast):
    model = Attention("einsum")
    X, R = data(n=3, j=4, seed=2)
    results = [pairs(model, X, R, fast=fast, batch_size=b)[0] for b in (1, 4, 7, 100)]
    for other in results[1:]:
        torch.testing.assert_close(other, results[0], rtol=1e-12, atol=1e-13)
    single, _ = pairs(model, X[1:2], R[1:2], fast=fast)  # example independence
    torch.testing.assert_close(single[0], results[0][1], rtol=1e-12, atol=1e-13)


def test_float32_summation_and_large_logits():
    """Logits of hundreds: the shifts keep exp finite; float32 within 1e-4, float64 1e-8."""
    model = Attention("matmul", scale=40.0)
    X, R = data(seed=3)
    X, R = 3 * X, 3 * R
    with torch.no_grad():
        h = F.relu(F.conv1d(X, model.conv, padding=1)).transpose(1, 2)
        scores = F.linear(h, model.wq) @ F.linear(h, model.wk).transpose(1, 2) * model.scale
    assert float(scores.abs().max()) > 300  # exp would overflow in float32 without the shift
    _, d64 = pairs(model, X, R, fast=False)
    assert d64.max_relative_error < 1e-8
    m32, d32 = pairs(model, X, R, dtype=torch.float32)
    assert bool(m32.isfinite().all()) and d32.max_relative_error < 1e-4


def test_equal_input_and_reference_rows():
    model = Attention("matmul")
    X, R = data(seed=4)
    R[:, 0] = X  # a reference equal to its input: no difference, nothing to attribute
    R[:, 1, :, :4] = X[:, :, :4]  # half the positions equal: equal rows of the score matrix
    for fast in (True, False):
        m, deltas = pairs(model, X, R, fast=fast)
        assert bool(m.isfinite().all())
        assert float(deltas.contributions[:, 0].abs().max()) == 0.0
        assert deltas.max_relative_error < 1e-8


def test_public_deeplift_shap_on_one_hot_attention():
    model = Attention("matmul").float().eval()
    X = F.one_hot(torch.randint(0, 4, (2, 8), generator=torch.Generator().manual_seed(5)), 4)
    X = X.permute(0, 2, 1).float()
    fast = deeplift_shap(model, X, target=0, n_shuffles=3, random_state=0, dtype=F64, fast=True)
    exact = deeplift_shap(model, X, target=0, n_shuffles=3, random_state=0, dtype=F64, fast=False)
    torch.testing.assert_close(fast, exact, rtol=1e-6, atol=1e-7)


# --- independent references -------------------------------------------------------------------


class BilinearToy(nn.Module):
    """``out = w . (A x * B x) + <(C x) @ (D x)^T, V>``: quadratic in the input."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(6)
        self.a, self.b, self.w = param(g, 4, 6), param(g, 4, 6), param(g, 1, 4)
        self.c, self.d, self.v = param(g, 6, 6), param(g, 6, 6), param(g, 2, 2)

    def forward(self, x):  # x: (N, 6)
        elementwise = F.linear(F.linear(x, self.a) * F.linear(x, self.b), self.w)
        rows = x.view(-1, 2, 3)
        left = F.linear(rows, self.c[:3, :3])  # (N, 2, 3)
        right = F.linear(rows, self.d[:3, :3])
        matrix = left @ right.transpose(1, 2)  # (N, 2, 2)
        square = left[..., 1:] @ left[..., 1:]  # one node as both operands
        return elementwise + ((matrix + square) * self.v).sum((1, 2))[:, None]


def brute_force_shapley(f, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Exact Shapley values of the n input features by enumerating all coalitions."""
    n = x.numel()
    values = {}
    for size in range(n + 1):
        for subset in itertools.combinations(range(n), size):
            z = r.clone()
            z[list(subset)] = x[list(subset)]
            values[frozenset(subset)] = float(f(z[None])[0, 0])
    phi = torch.zeros(n, dtype=F64)
    for k in range(n):
        others = [i for i in range(n) if i != k]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                phi[k] += weight * (values[s | {k}] - values[s])
    return phi


def test_bilinear_rule_equals_brute_force_shapley():
    """For a quadratic model the bilinear rule is the exact Shapley value of every input."""
    model = BilinearToy().eval()
    g = torch.Generator().manual_seed(7)
    X, R = torch.randn(2, 6, generator=g, dtype=F64), torch.randn(2, 2, 6, generator=g, dtype=F64)
    # no nonlinearity: the rules coincide; RevealCancel runs the difference network
    for rule, fast in (("rescale", True), ("rescale", False), ("reveal_cancel", None)):
        m, deltas = pairs(model, X, R, target=0, rule=rule, fast=fast)
        assert deltas.max_relative_error < 1e-12
        with torch.no_grad():
            for i, j in itertools.product(range(2), range(2)):
                expected = brute_force_shapley(model, X[i], R[i, j])
                got = m[i, j] * (X[i] - R[i, j])
                torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


class SoftmaxToy(nn.Module):
    def __init__(self, log: bool, scale: float):
        super().__init__()
        g = torch.Generator().manual_seed(8)
        self.log = log
        self.w, self.v = param(g, 4, 5, scale=scale), param(g, 1, 4, scale=1.0)

    def forward(self, x):
        z = F.linear(x, self.w)
        s = torch.log_softmax(z, -1) if self.log else z.softmax(dim=-1)
        return F.linear(s, self.v)


def softmax_rule_mpmath(z_x, z_r, log: bool):
    """The composed softmax rule (coupled module docs) in 50-digit arithmetic, without a shift
    (mpmath's exponent range is unbounded): the matrix A with ds = A dz."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50

    def secant(f, df, a, b):  # the derivative where the points coincide to 40 digits
        return (
            df((a + b) / 2)
            if abs(a - b) <= mp.mpf(10) ** -40 * (1 + abs(a))
            else ((f(a) - f(b)) / (a - b))
        )

    zx, zr = [mp.mpf(float(v)) for v in z_x], [mp.mpf(float(v)) for v in z_r]
    m_e = [secant(mp.exp, mp.exp, a, b) for a, b in zip(zx, zr, strict=True)]
    qx, qr = mp.fsum(mp.exp(v) for v in zx), mp.fsum(mp.exp(v) for v in zr)
    m_log = secant(mp.log, lambda q: 1 / q, qx, qr)
    n = len(zx)
    if log:
        m_s = [mp.mpf(1)] * n
    else:
        ux, ur = [v - mp.log(qx) for v in zx], [v - mp.log(qr) for v in zr]
        m_s = [secant(mp.exp, mp.exp, a, b) for a, b in zip(ux, ur, strict=True)]
    return torch.tensor(
        [[float(m_s[i] * ((i == j) - m_log * m_e[j])) for j in range(n)] for i in range(n)],
        dtype=F64,
    )


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("scale", [0.5, 30.0])
def test_softmax_rule_matches_high_precision_reference(log, scale):
    """Multipliers equal v^T A W with A computed in 50 digits; logits of hundreds included."""
    model = SoftmaxToy(log, scale).eval()
    g = torch.Generator().manual_seed(9)
    X, R = torch.randn(4, 5, generator=g, dtype=F64), torch.randn(4, 3, 5, generator=g, dtype=F64)
    # rounding is relative to the magnitudes that flow through the map (a saturated softmax has
    # multipliers far below them)
    atol = 1e-10 * float(model.v.detach().abs().max() * model.w.detach().abs().max())
    large, biggest = 0, 0.0
    for fast in (True, False):
        m, deltas = pairs(model, X, R, target=0, fast=fast)
        assert deltas.max_relative_error < 1e-8
        for i, j in itertools.product(range(4), range(3)):
            with torch.no_grad():
                z_x, z_r = F.linear(X[i], model.w), F.linear(R[i, j], model.w)
            A = softmax_rule_mpmath(z_x, z_r, log)
            expected = (model.v.detach() @ A @ model.w.detach())[0]
            torch.testing.assert_close(m[i, j], expected, rtol=1e-9, atol=atol)
            large += float(expected.abs().max()) > 1e4 * atol
            biggest = max(biggest, float(z_x.abs().max()), float(z_r.abs().max()))
    assert large >= 12  # most pairs have multipliers far above the rounding floor
    assert biggest > (100 if scale > 1 else 0)  # logits of hundreds: exp(z) overflows float32


def test_rules_tend_to_the_gradient_for_small_differences():
    """As r -> x every rule tends to the Jacobian at the midpoint: compare with autograd."""
    for name in ("attention", "gates", "norms"):
        model = MODELS[name]()
        X, _ = data(n=2, j=1, length=LENGTHS.get(name, 8), seed=10)
        g = torch.Generator().manual_seed(11)
        R = X[:, None] + 1e-6 * torch.randn(X[:, None].shape, generator=g, dtype=F64)
        m, _ = pairs(model, X, R, fast=False)
        x = ((X + R[:, 0]) / 2).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x)[:, 1].sum(), x)
        torch.testing.assert_close(m[:, 0], grad, rtol=1e-5, atol=1e-7 * float(grad.abs().max()))


class LayerNorms(nn.Module):
    """``nn.LayerNorm`` and ``F.layer_norm`` (rewritten into their pieces), or the same written
    out by hand (``written=True``)."""

    def __init__(self, written: bool = False):
        super().__init__()
        torch.manual_seed(15)
        self.written = written
        self.conv, self.out = nn.Conv1d(4, 6, 3), nn.Linear(36, 2)
        self.norm = nn.LayerNorm(6)
        with torch.no_grad():
            self.norm.weight.uniform_(-1.0, 2.0)
            self.norm.bias.uniform_(-1.0, 1.0)

    def layer_norm(self, h, weight=None, bias=None, eps=1e-5):
        centred = h - h.mean(-1, keepdim=True)
        out = centred * torch.rsqrt((centred * centred).mean(-1, keepdim=True) + eps)
        out = out if weight is None else out * weight
        return out if bias is None else out + bias

    def forward(self, x):
        h = self.conv(x).transpose(1, 2)
        if self.written:
            a = self.layer_norm(h, self.norm.weight, self.norm.bias)
            b = self.layer_norm(h.flatten(1), eps=1e-3)
        else:
            a, b = self.norm(h), F.layer_norm(h.flatten(1), (36,), eps=1e-3)
        return self.out(torch.relu(a).flatten(1) + torch.tanh(b))


def test_layer_norm_is_rewritten_into_its_pieces():
    model, written = LayerNorms().double(), LayerNorms(written=True).double()
    kinds = [op.kind for op in build_graph(model, example=EXAMPLE).ops]
    assert kinds.count("bilinear") == 4  # in each norm: centred * centred, centred * rsqrt
    X, R = data(seed=16)
    for rule in RULES:
        m, deltas = pairs(model, X, R, rule=rule)
        assert deltas.max_relative_error < 1e-8
        m_written, _ = pairs(written, X, R, rule=rule)
        torch.testing.assert_close(m, m_written, rtol=1e-10, atol=1e-12)


# --- division by zero ---------------------------------------------------------------------------


def test_zero_divisor_is_reported_by_the_summation_check():
    class Ratio(nn.Module):
        def forward(self, x):
            return (x[:, :1] / x[:, 1:2]).sum(-1)

    X = torch.tensor([[[1.0, 2.0], [2.0, 4.0]]], dtype=F64)
    R = torch.stack([X + 1, X.clone()], 1)
    R[0, 1, 1, 0] = 0.0  # a zero divisor in the second reference: an infinite output
    _, deltas = pairs(Ratio(), X, R, target=0)
    assert deltas.passed.tolist() == [[True, False]]  # flagged, not silently wrong


# --- classification, genomics default, refusals ---------------------------------------------------


def test_plumbing_is_linear_and_equals_the_gradient():
    model = Plumbing(relu=False).eval()
    kinds = {op.kind for op in build_graph(model, example=EXAMPLE_10).ops}
    assert {"mixing", "linear"} <= kinds <= {"input", "const", "mixing", "linear", "shape"}
    X, R = data(n=2, j=2, length=10, seed=14)
    x = X.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[:, 1].sum(), x)
    for rule in ("rescale", "reveal_cancel"):
        m, _ = pairs(model, X, R, rule=rule)
        torch.testing.assert_close(m, grad[:, None].expand_as(m), rtol=0, atol=1e-13)


def test_kinds_of_products_softmax_and_division():
    ops = build_graph(Norms(), example=EXAMPLE).ops
    by_kind = {}
    for op in ops:
        by_kind.setdefault(op.kind, []).append(op.label)
    assert any(label.startswith("torch.reciprocal") for label in by_kind["nonlinear"])
    assert len(by_kind["bilinear"]) == 4  # centred * rsqrt, h * rsqrt, inv * log_softmax, a / b
    assert len(by_kind["softmax"]) == 1
    families = {
        op.family
        for op in build_graph(Attention("einsum"), example=EXAMPLE).ops
        if op.kind == "bilinear"
    }
    assert families == {"bilinear"}
    families = {
        op.family for op in build_graph(Gates(), example=EXAMPLE_10).ops if op.kind == "bilinear"
    }
    assert families == {"product"}
    split = [
        op.split_out
        for op in build_graph(Gates(), "reveal_cancel", example=EXAMPLE_10).ops
        if op.kind == "softmax"
    ]
    assert split == [True]  # the tanh after it uses RevealCancel: parts pass through the softmax


def test_genomics_default_through_products():
    """Elementwise products (gating, normalisation) are looked through like batch norm; matrix
    products of activations count as dense layers (RevealCancel)."""
    norms = build_graph(Norms(), "genomics_default", example=EXAMPLE).rules()
    assert set(norms.values()) == {"rescale"}  # every nonlinearity is fed by the convolution
    gates = build_graph(Gates(), "genomics_default", example=EXAMPLE_10).rules()
    assert set(gates.values()) == {"rescale"}
    attention = build_graph(Attention("matmul"), "genomics_default", example=EXAMPLE).rules()
    tanh = [rule for label, rule in attention.items() if label.startswith("torch.tanh")]
    relu = [rule for label, rule in attention.items() if label.startswith("F.relu")]
    assert tanh == ["reveal_cancel"] and relu == ["rescale"]

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 4, 1)

        def forward(self, x):
            h = self.conv(x)
            return torch.relu(h + h @ h.transpose(1, 2)[..., :1]).mean(-1)

    with pytest.raises(UnsupportedModelError, match="fed by convolutions and matrix products"):
        build_graph(Mixed().double(), "genomics_default", example=EXAMPLE)


@pytest.mark.parametrize(
    ("forward", "message"),
    [
        (lambda h: torch.einsum("bi,bi,bi->b", h, h, h), "exactly two"),
        (
            lambda h: torch.einsum(
                "bi,ij,jk->bk", h, h.new_ones(4, 4), torch.ones(4, 1, dtype=h.dtype)
            ).sum(-1),
            "contract the constant operands first",
        ),
        (lambda h: F.interpolate(h.view(-1, 1, 2, 2), scale_factor=2, mode="bicubic"), "bicubic"),
        (lambda h: torch.div(h, h.exp(), rounding_mode="floor"), "piecewise constant"),
        (lambda h: h ** h.sigmoid(), "input-dependent power"),
    ],
)
def test_refusals(forward, message):
    class Net(nn.Module):
        def forward(self, x):
            return forward(x.flatten(1)[:, :4])

    with pytest.raises(UnsupportedModelError, match=message):
        pairs(Net(), *data(n=2, j=1))
