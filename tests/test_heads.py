"""output= and input_layout=: one way to say what to explain, the same for every method."""

from __future__ import annotations

import pytest
import torch
from testkit import random_one_hot
from torch import nn

from cislens.attribution import (
    deeplift_shap,
    grad_x_input,
    integrated_gradients,
    ism,
    saliency,
)
from cislens.attribution.deeplift_engine import summation_deltas
from cislens.attribution.heads import explained_model, select_output

L = 30
F64 = torch.float64


class ProfileCounts(nn.Module):
    """A BPNet-like pair of heads: profile logits (N, 2, L') and counts (N, 1)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.profile = nn.Conv1d(6, 2, 3)
        self.counts = nn.Linear(6, 1)
        self.relu = nn.ReLU()  # a module: tangermeme hooks modules only

    def forward(self, x):
        h = self.relu(self.conv(x))
        return self.profile(h)[:, :, 2:-2], self.counts(h.mean(-1))


class Reference(nn.Module):
    """The hand-written wrapper users wrote before output= existed."""

    def __init__(self, model, head):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x):
        profile, counts = self.model(x)
        if self.head == "counts":
            return counts
        logits = profile.flatten(1)
        logits = logits - logits.mean(-1, keepdim=True)
        return (torch.softmax(logits, -1).detach() * logits).sum(-1, keepdim=True)


def test_select_output_forms():
    raw = (torch.randn(2, 3, 7), torch.randn(2, 1))
    assert torch.equal(select_output(raw, 1), raw[1])
    assert torch.equal(select_output(raw, "counts"), raw[1])
    assert torch.equal(select_output(raw, (0, "sum")), raw[0].sum(-1))
    assert torch.equal(select_output(raw, "mean"), raw[0].mean(-1))
    assert torch.equal(select_output(raw, lambda out: out[0][:, :, 3]), raw[0][:, :, 3])
    keyed = {"human": torch.randn(2, 5, 1), "mouse": torch.randn(2, 4, 1)}
    assert torch.equal(select_output(keyed, "mouse"), keyed["mouse"][..., 0])
    profile = select_output(raw, "profile")
    logits = raw[0].flatten(1) - raw[0].flatten(1).mean(-1, keepdim=True)
    torch.testing.assert_close(profile[:, 0], (logits.softmax(-1) * logits).sum(-1))


@pytest.mark.parametrize(
    ("raw", "output", "message"),
    [
        ((torch.zeros(2, 1), torch.zeros(2, 1)), 2, r"available: indices 0..1"),
        ({"a": torch.zeros(2, 1)}, "b", r"available: keys \['a'\]"),
        ((torch.zeros(2, 1), torch.zeros(2, 1)), None, r"returns tuple \(tensor \(2, 1\)"),
        ((torch.zeros(2, 3, 4),), 0, r"shape \(2, 3, 4\), not \(N, T\)"),
        ((torch.zeros(2, 1), torch.zeros(2, 3)), "counts", r"\(2 such tensors\)"),
    ],
)
def test_wrong_output_names_the_available_outputs(raw, output, message):
    with pytest.raises(ValueError, match=message):
        select_output(raw, output)


METHODS = {
    "ism": lambda m, X, **kw: ism(m, X, dtype=F64, **kw),
    "saliency": lambda m, X, **kw: saliency(m, X, dtype=F64, **kw),
    "grad_x_input": lambda m, X, **kw: grad_x_input(m, X, dtype=F64, **kw),
    "integrated_gradients": lambda m, X, **kw: integrated_gradients(
        m, X, n_steps=8, dtype=F64, **kw
    ),
    "deeplift_shap": lambda m, X, **kw: deeplift_shap(
        m, X, n_shuffles=3, random_state=0, dtype=F64, **kw
    ),
}


@pytest.mark.parametrize("head", ["counts", "profile"])
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_explains_a_named_head_like_a_hand_written_wrapper(method, head):
    if (method, head) == ("deeplift_shap", "profile"):
        pytest.skip("a hand-written product has another DeepLIFT rule: see the tangermeme test")
    model = ProfileCounts().eval()
    X = random_one_hot(3, L, seed=1)
    ours = METHODS[method](model, X, output=head)
    theirs = METHODS[method](Reference(model, head), X)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


class _Scaling(nn.Module):
    """bpnet-lite's profile scaling: logits times their softmax, one module that bpnet-lite
    registers with tangermeme as a nonlinearity (Rescale on the whole map)."""

    def forward(self, logits):
        return logits * torch.softmax(logits, dim=-1)


class _ProfileRoute(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.scaling = model, _Scaling()

    def forward(self, x):
        logits = self.model(x)[0].flatten(1)
        logits = logits - logits.mean(-1, keepdim=True)
        return self.scaling(logits).sum(-1, keepdim=True)


def test_profile_head_deeplift_shap_matches_tangermeme_with_profile_scaling():
    pytest.importorskip("tangermeme")
    from tangermeme.deep_lift_shap import _nonlinear, deep_lift_shap

    model = ProfileCounts().double().eval()
    X = random_one_hot(3, L, seed=5).double()
    from cislens.shuffle import dinucleotide_shuffle

    R = dinucleotide_shuffle(X, n=4, random_state=0).double()
    ours = deeplift_shap(model, X, output="profile", baselines=R, dtype=F64, hypothetical=True)
    theirs = deep_lift_shap(
        _ProfileRoute(model), X, references=R, target=0, hypothetical=True, device="cpu",
        additional_nonlinear_ops={_Scaling: _nonlinear}, warning_threshold=1e-6,
    )  # fmt: skip
    scale = float(theirs.abs().max())
    assert float((ours.double() - theirs).abs().max()) <= 1e-5 * scale


def test_profile_head_deeplift_is_exact():
    model = ProfileCounts().eval()
    result = summation_deltas(
        model, random_one_hot(3, L, seed=2), output="profile", baselines="dinucleotide",
        n_baselines=4, random_state=0, dtype=F64, tolerance=1e-8,
    )  # fmt: skip
    assert result.all_passed


class LengthFirst(nn.Module):
    """Takes (N, L, 4), as Keras-style models do."""

    def __init__(self, conv: nn.Conv1d):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        if x.shape[-1] != 4:
            raise RuntimeError(f"expected size 4 in the last dimension, got shape {x.shape}")
        return torch.tanh(self.conv(x.transpose(1, 2))).mean(-1)


@pytest.mark.parametrize("method", list(METHODS))
def test_input_layout_nlc_equals_the_same_weights_in_ncl(method):
    torch.manual_seed(1)
    conv = nn.Conv1d(4, 2, 5)
    X = random_one_hot(2, L, seed=3)
    ours = METHODS[method](LengthFirst(conv).eval(), X, input_layout="NLC", target=1)
    plain = nn.Sequential(conv, nn.Tanh()).eval()
    theirs = METHODS[method](lambda_model(plain), X, target=1)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


def lambda_model(body: nn.Module) -> nn.Module:
    class Mean(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x).mean(-1)

    return Mean()


def test_wrong_layout_names_the_shape_and_the_flag():
    torch.manual_seed(1)
    model = LengthFirst(nn.Conv1d(4, 2, 5)).eval()
    with pytest.raises(ValueError, match=r"input of shape \(1, 4, 30\).*input_layout='NLC'"):
        saliency(model, random_one_hot(1, L, seed=0), target=0)


def test_options_are_validated():
    with pytest.raises(ValueError, match="input_layout must be 'NCL'"):
        explained_model(nn.Identity(), input_layout="NHWC")
    with pytest.raises(TypeError, match="output must be None, an int"):
        explained_model(nn.Identity(), output=1.5)
    model = nn.Identity()
    wrapped = explained_model(model)
    assert wrapped.model is model and explained_model(wrapped) is wrapped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        (" -1 ", -1),
        ("counts", "counts"),
        ("profile", "profile"),
        ("human", "human"),
        ("0:profile", (0, "profile")),
        ("human:sum", ("human", "sum")),
        ("a:b", "a:b"),  # not KEY:HEAD, so a dict key
    ],
)
def test_parse_output_reads_every_text_form(text, expected):
    from cislens.attribution.heads import parse_output

    assert parse_output(text) == expected


@pytest.mark.parametrize("text", ["", "  ", ":profile"])
def test_parse_output_names_the_option_and_the_forms(text):
    from cislens.attribution.heads import parse_output

    with pytest.raises(ValueError, match=r"^--output must be an output index \('1'\), a head"):
        parse_output(text, name="--output")


def test_a_pair_read_back_from_json_is_the_pair():
    raw = (torch.randn(2, 3, 7), torch.randn(2, 1))
    assert torch.equal(select_output(raw, [0, "sum"]), select_output(raw, (0, "sum")))
    model = ProfileCounts().eval()
    X = random_one_hot(2, L, seed=4)
    assert torch.equal(explained_model(model, output=[0, "profile"])(X),
                       explained_model(model, output=(0, "profile"))(X))  # fmt: skip


def test_check_output_counts_outputs_and_names_the_option():
    from cislens.attribution.heads import check_output

    model = ProfileCounts().train()
    assert check_output(model, length=L, output="counts") == 1
    assert check_output(model, length=L, output=(0, "sum")) == 2
    assert model.training  # left as it was
    with pytest.raises(ValueError, match=r"^--output=7 does not name .*indices 0\.\.1"):
        check_output(model, length=L, output=7, name="--output")
