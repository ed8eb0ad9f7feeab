"""Public API of the DeepLIFT engine: invariances, outputs, refusals, options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cislens.attribution.deeplift_engine import (
    SummationDeltas,
    SummationToDeltaError,
    deeplift,
    deeplift_shap,
    summation_deltas,
)
from cislens.errors import CislensWarning, UnsupportedModelError
from cislens.shuffle import dinucleotide_shuffle

F64 = torch.float64
L = 40


def onehot(n: int, length: int = L, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.one_hot(torch.randint(0, 4, (n, length), generator=g), 4).permute(0, 2, 1).float()


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv1d(4, 6, 5),
        nn.BatchNorm1d(6),
        nn.ReLU(),
        nn.MaxPool1d(3),
        nn.Flatten(),
        nn.Linear(6 * 12, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(8, 3),
    )
    with torch.no_grad():
        for bn in (model[1], model[6]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(-1.0, 1.5)  # some negative scales swap the parts
    return model.eval()


@pytest.fixture(scope="module")
def X():
    return onehot(5)


def test_batch_size_invariance_and_example_independence(X):
    model = small_cnn()
    X = X[:3]
    # on the CPU float64 results are bitwise identical (GPU kernels may pick other algorithms)
    kwargs = dict(target=2, n_shuffles=3, random_state=3, rule="genomics_default", device="cpu")
    ref = deeplift_shap(model, X, dtype=F64, batch_size=128, hypothetical=True, **kwargs)
    for batch_size in (1, 3, 6):
        got = deeplift_shap(model, X, dtype=F64, batch_size=batch_size, hypothetical=True, **kwargs)
        assert torch.equal(got, ref), batch_size
    for i in (0, 2):
        alone = deeplift_shap(model, X[i : i + 1], dtype=F64, hypothetical=True, **kwargs)
        assert torch.equal(alone, ref[i : i + 1])
    ref32 = deeplift_shap(model, X, batch_size=128, **kwargs)
    got32 = deeplift_shap(model, X, batch_size=3, **kwargs)
    torch.testing.assert_close(got32, ref32, rtol=1e-5, atol=1e-6)


def test_projection_and_hypothetical_sums(X):
    model = small_cnn(1)
    R = dinucleotide_shuffle(X, n=3, random_state=1)
    hyp = deeplift(model, X, target=0, baselines=R, hypothetical=True, dtype=F64)
    proj = deeplift(model, X, target=0, baselines=R, dtype=F64)
    assert proj.dtype == torch.float32 and proj.shape == X.shape and proj.device.type == "cpu"
    torch.testing.assert_close(proj, hyp * X, rtol=1e-6, atol=1e-7)
    with torch.no_grad():
        m = model.double()
        fx = m(X.double())[:, 0]
        fr = m(R.flatten(0, 1).double())[:, 0].view(len(X), -1)
        model.float()
    torch.testing.assert_close(proj.double().sum((1, 2)), fx - fr.mean(1), rtol=1e-5, atol=1e-6)


def test_frequency_reference_default_and_seed(X):
    model = small_cnn(2)
    a = deeplift(model, X, target=1)
    freq = torch.tensor([0.3, 0.2, 0.2, 0.3])[:, None].expand(4, L)
    b = deeplift(model, X, target=1, baselines=freq)
    assert torch.equal(a, b)
    s1 = deeplift_shap(model, X, target=1, n_shuffles=3, random_state=5)
    assert torch.equal(s1, deeplift_shap(model, X, target=1, n_shuffles=3, random_state=5))
    assert not torch.equal(s1, deeplift_shap(model, X, target=1, n_shuffles=3, random_state=6))


def test_every_rule_exact_with_negative_batchnorm_scales(X):
    model = small_cnn(5)
    assert bool((model[6].weight < 0).any())  # the dense BN swaps positive and negative parts
    for rule in ("rescale", "reveal_cancel", "genomics_default"):
        result = summation_deltas(
            model,
            X,
            target=1,
            baselines="dinucleotide",
            n_baselines=2,
            random_state=0,
            rule=rule,
            dtype=F64,
        )
        assert result.max_relative_error < 1e-10, rule


def test_unknown_bases_keep_pair_summation():
    X = onehot(2, seed=4)
    X[0, :, 5] = 0  # an N
    result = summation_deltas(small_cnn(), X, target=0, baselines="frequencies", dtype=F64)
    assert result.max_relative_error < 1e-10
    assert float(deeplift(small_cnn(), X, target=0)[0, :, 5].abs().sum()) == 0.0


class Plumbing(nn.Module):
    """Functional forms and tensor plumbing, all of which must be exact."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w1 = nn.Parameter(torch.randn(5, 4, 3, generator=g) / 2)
        self.w2 = nn.Parameter(torch.randn(6, 5 * 8 + 5 * 2 + 4, generator=g) / 4)
        self.register_buffer("mean", torch.randn(5, generator=g))
        self.register_buffer("var", torch.rand(5, generator=g) + 0.5)
        self.scale = nn.Parameter(torch.randn(1, 5, 1, generator=g))
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        h = F.conv1d(F.pad(x, (1, 1)), self.w1)
        h = F.batch_norm(h, self.mean, self.var, training=False)
        h = torch.relu(h) * self.scale - 0.5 * F.leaky_relu(h, 0.2) / 3 + 1.0
        h = F.max_pool1d(h, 3, stride=2)[:, :, 1:-1]
        side = F.adaptive_max_pool1d(-h, 2).flatten(1)
        pad = x.new_zeros(x.size(0), 4)
        h = F.avg_pool1d(h, 2).permute(0, 2, 1).reshape(x.size(0), -1)
        h = torch.cat([h, side, pad], dim=1)
        h = F.elu(F.linear(h, self.w2)).unsqueeze(-1).mean(-1)
        return self.out(1 - torch.sigmoid(h.transpose(0, 1).t()))


def test_functional_plumbing_is_exact(X):
    model = Plumbing().eval()
    R = dinucleotide_shuffle(X, n=3, random_state=2)
    for rule in ("rescale", "reveal_cancel", "genomics_default"):
        result = summation_deltas(model, X, target=1, baselines=R, rule=rule, dtype=F64)
        assert result.max_relative_error < 1e-10, rule


class Head(nn.Module):
    def __init__(self, final):
        super().__init__()
        self.body = small_cnn(3)
        self.final = final

    def forward(self, x):
        return self.final(self.body(x))


def test_output_activations_explain_logits(X):
    centred = Head(lambda z: z - z.mean(1, keepdim=True)).eval()
    plain = Head(nn.Identity()).eval()
    for final, same in (
        (nn.Softmax(dim=1), centred),
        (nn.LogSoftmax(dim=-1), centred),
        (nn.Sigmoid(), plain),
    ):
        model = Head(final).eval()
        got = deeplift_shap(model, X, target=1, n_shuffles=2, random_state=0, dtype=F64)
        want = deeplift_shap(same, X, target=1, n_shuffles=2, random_state=0, dtype=F64)
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_callable_targets(X):
    model = small_cnn(4)
    kwargs = dict(n_shuffles=2, random_state=0, dtype=F64)
    diff = deeplift_shap(model, X, target=lambda out: out[:, 0] - 2 * out[:, 2], **kwargs)
    a = deeplift_shap(model, X, target=0, **kwargs)
    c = deeplift_shap(model, X, target=2, **kwargs)
    torch.testing.assert_close(diff, a - 2 * c, rtol=1e-5, atol=1e-6)
    worst = r"example \d+, reference \d+: sum of contributions"
    with pytest.raises(SummationToDeltaError, match=worst) as info:
        deeplift_shap(model, X, target=lambda out: out[:, 0] ** 2, **kwargs)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value.deltas, SummationDeltas)
    with pytest.warns(CislensWarning, match="summation-to-delta fails"):
        out = deeplift_shap(
            model, X, target=lambda out: out[:, 0] ** 2, on_check_failure="warn", **kwargs
        )
    assert out.shape == X.shape


def test_targets_are_validated(X):
    model = small_cnn()
    with pytest.raises(ValueError, match="target must be given for a model with 3 outputs"):
        deeplift(model, X)
    with pytest.raises(ValueError, match=r"target must be an int in \[0, 3\)"):
        deeplift(model, X, target=3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rule": "revealcancel"}, "rule must be one of"),
        ({"dtype": torch.float16}, "dtype must be torch.float32 or torch.float64"),
        ({"tolerance": 0}, "tolerance must be a positive number"),
        ({"on_check_failure": "ignore"}, "on_check_failure must be one of"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
    ],
)
def test_options_are_validated(X, options, message):
    with pytest.raises(ValueError, match=message):
        deeplift(small_cnn(), X, target=0, **options)


def test_n_shuffles_and_hypothetical_validated(X):
    with pytest.raises(ValueError, match="n_shuffles must be a positive int"):
        deeplift_shap(small_cnn(), X, target=0, n_shuffles=0)
    with pytest.raises(TypeError, match="hypothetical must be True or False"):
        deeplift(small_cnn(), X, target=0, hypothetical="yes")


def test_model_is_restored(X):
    model = small_cnn().train()
    deeplift(model, X, target=0, dtype=F64)
    assert model.training and model[0].weight.dtype == torch.float32
    with pytest.raises(UnsupportedModelError):
        deeplift(nn.Sequential(model, nn.GroupNorm(1, 3)).train(), X, target=0, dtype=F64)
    assert model.training and model[0].weight.dtype == torch.float32


def test_summation_deltas_result(X):
    result = summation_deltas(
        small_cnn(), X, target=0, baselines="dinucleotide", n_baselines=3, random_state=0
    )
    assert result.relative_errors.shape == (5, 3) and result.all_passed
    assert bool(result.passed.all()) and result.max_relative_error < 1e-3
    worst = result.worst(2)
    assert len(worst) == 2 and worst[0][4] >= worst[1][4]
    torch.testing.assert_close(result.deltas, result.outputs[:, None] - result.reference_outputs)
    assert "example" in result.describe(1)


# --- refusals ------------------------------------------------------------------------------------


class Powered(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x)
        return (h ** torch.sigmoid(h)).mean(-1)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(4, 8, 3), nn.ReLU())
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        h = self.body(x).transpose(1, 2)
        return self.attn(h, h, h)[0].mean(1)


class BatchStats(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(4, 4, 3), nn.BatchNorm1d(4, track_running_stats=False))

    def forward(self, x):
        return self.body(x).mean(-1)


class MadeInForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        return nn.ReLU()(self.conv(x)).mean(-1)


class BatchSoftmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        return (torch.softmax(self.conv(x), dim=0) * 3).sum(-1)


class BatchFlip(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        return torch.flip(self.conv(x), [0]).mean(-1)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x)
        return h.mean(-1) if h.sum() > 0 else -h.mean(-1)


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)
        self.rnn = nn.GRU(2, 2, batch_first=True)

    def forward(self, x):
        return self.rnn(self.conv(x).transpose(1, 2))[0].mean(1)


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x).mean(-1)
        return h, h


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Powered(), r"Tensor.pow\(\) \(node 'pow\w*' in the model \(Powered\), at test_deeplift_"),
        (
            BatchStats(),
            r"body.1 \(nn.BatchNorm1d\) \[F.batch_norm .*\]: batch norm with training=True",
        ),
        (BatchSoftmax(), r"normalises over the batch dimension 0"),
        (BatchFlip(), "depends on the other sequences in the batch"),
        (
            Branchy(),
            r"Tensor.bool\(\) on an input-dependent tensor in the model \(Branchy\), at "
            r"test_deeplift_api.py:\d+ `return h.mean\(-1\) if h.sum\(\) > 0 else -h.mean\(-1\)` "
            r"reads its values into Python \(data-dependent control flow",
        ),
        (
            nn.Sequential(nn.Conv1d(4, 2, 3), nn.GroupNorm(1, 2), nn.Flatten(), nn.Linear(76, 1)),
            r"1 \(nn.GroupNorm\) \[F.group_norm \(node '\w+' in 1 \(GroupNorm\), at "
            r"test_deeplift_api.py:\d+ `deeplift\(model.eval\(\), X, target=0\)`\)\]: this "
            "function has no DeepLIFT rule",
        ),
        (
            Recurrent(),
            r"rnn \(nn.GRU\) \[torch.gru \(node 'gru' in rnn \(GRU\), at "
            r"test_deeplift_api.py:\d+ .*\]: this function has no DeepLIFT rule",
        ),
    ],
)
def test_unsupported_models_are_refused(X, model, message):
    with pytest.raises(UnsupportedModelError, match=message) as info:
        deeplift(model.eval(), X, target=0)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("model", [MadeInForward(), Attention()], ids=["made_in_forward", "mha"])
def test_models_fx_refused_are_captured_exactly(X, model):
    """nn.ReLU() built inside forward dissolves into F.relu, nn.MultiheadAttention into its
    projections, products and softmax: both exact (symbolic tracing refused them)."""
    result = summation_deltas(
        model.eval(),
        X,
        target=0,
        baselines="dinucleotide",
        n_baselines=2,
        random_state=0,
        dtype=torch.float64,
        tolerance=1e-8,
    )
    assert result.all_passed


def test_a_model_returning_two_tensors_asks_for_output(X):
    with pytest.raises(ValueError, match=r"returns tuple \(tensor \(\d, 2\), tensor \(\d, 2\)\)"):
        deeplift(Pair().eval(), X, target=0)
    assert deeplift(Pair().eval(), X, target=0, output=1).shape == X.shape


def test_rules_where_the_batch_axis_is_not_first_are_refused(X):
    class SequenceFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 2, 3)

        def forward(self, x):
            h = self.conv(x).permute(2, 0, 1)  # (L, N, C): the batch on axis 1
            return torch.relu(h).permute(1, 2, 0).mean(-1)

    with pytest.raises(UnsupportedModelError, match="does not keep one row per sequence"):
        deeplift(SequenceFirst().eval(), X, target=0)


def test_refusals_for_reductions_over_the_batch_and_random_dropout(X):
    class BatchMean(nn.Module):
        def forward(self, x):
            return (x - x.mean(0)).sum(-1)

    class RandomDropout(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.5).sum(-1)

    with pytest.raises(UnsupportedModelError, match="reduces over the batch dimension"):
        deeplift(BatchMean(), X, target=0)
    with pytest.raises(UnsupportedModelError, match="training=True"):
        deeplift(RandomDropout(), X, target=0)


def test_genomics_default_refuses_undecidable_nonlinearity(X):
    model = nn.Sequential(nn.ReLU(), nn.Conv1d(4, 2, 3), nn.Flatten(), nn.Linear(76, 1))
    with pytest.raises(UnsupportedModelError, match=r"0 \(nn.ReLU\) is fed by input"):
        deeplift(model, X, rule="genomics_default")
    assert deeplift(model, X, rule="reveal_cancel").shape == X.shape
