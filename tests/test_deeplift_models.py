"""DeepLIFT on the model zoo: summation-to-delta for every rule, agreement with peers."""

from __future__ import annotations

import copy
import importlib.metadata
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cislens.attribution.deeplift_engine import deeplift, deeplift_shap, summation_deltas
from cislens.attribution.deeplift_engine.graph import build_graph
from cislens.models import Basset, BPNetLike, DeepBind, DeepSEABeluga, LabCNN
from cislens.shuffle import dinucleotide_shuffle

F64 = torch.float64
L = 100


def onehot(n: int, length: int, generator: torch.Generator) -> torch.Tensor:
    idx = torch.randint(0, 4, (n, length), generator=generator)
    return F.one_hot(idx, 4).permute(0, 2, 1).float()


ZOO = {
    "labcnn": lambda: LabCNN(
        n_tasks=2,
        input_length=L,
        n_filters=(8, 8),
        filter_widths=(9, 4),
        pool_sizes=(2, 4),
        n_hidden=16,
        random_state=0,
    ),
    # the defaults of `cislens train` beyond 200 bp: batch norm, exp first layer, global pool
    "labcnn_bn_exp": lambda: LabCNN(
        n_tasks=2,
        input_length=L,
        n_filters=(8, 8),
        filter_widths=(9, 4),
        pool_sizes=(2, 43),
        n_hidden=16,
        batch_norm=True,
        activation1="exp",
        random_state=0,
    ),
    "basset": lambda: Basset(
        n_tasks=2,
        input_length=L,
        n_filters=(8, 8, 8),
        filter_widths=(7, 5, 3),
        pool_sizes=(2, 2, 2),
        n_hidden=(16, 16),
        dropout=0.0,
        random_state=0,
    ),
    "beluga": lambda: DeepSEABeluga(
        n_tasks=2,
        input_length=L,
        n_filters=(4, 4, 4),
        filter_width=5,
        pool_size=2,
        n_hidden=8,
        dropout=0.0,
        dense_dropout=0.0,
        random_state=0,
    ),
    "bpnet": lambda: BPNetLike(n_tasks=2, n_filters=8, n_layers=3, random_state=0),
    "deepbind": lambda: DeepBind(
        n_tasks=2,
        input_length=L,
        n_filters=8,
        filter_width=9,
        n_hidden=8,
        dropout=0.0,
        random_state=0,
    ),
}


def trained(model: nn.Module, steps: int = 3) -> nn.Module:
    """A few SGD steps on random labels: breaks the symmetry of fresh weights, moves BN stats."""
    g = torch.Generator().manual_seed(7)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    model.train()
    for _ in range(steps):
        X = onehot(8, L, g)
        y = torch.randint(0, 2, (8, 2), generator=g).float()
        loss = F.binary_cross_entropy_with_logits(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(11)
    X = onehot(3, L, g)
    return X, dinucleotide_shuffle(X, n=4, random_state=0)


@pytest.mark.parametrize("name", list(ZOO))
@pytest.mark.parametrize("state", ["random", "trained"])
def test_summation_to_delta_every_rule(name, state, data):
    X, R = data
    model = ZOO[name]() if state == "random" else trained(ZOO[name]())
    for rule in ("rescale", "reveal_cancel", "genomics_default"):
        result = summation_deltas(
            model, X, target=1, baselines=R, rule=rule, dtype=F64, tolerance=1e-5
        )
        assert result.all_passed, (rule, result.describe())
        assert float(result.absolute_errors.max()) < 1e-10 * max(
            1.0, float(result.contribution_l1.max())
        )


@pytest.mark.parametrize("name", ["labcnn", "basset", "beluga"])
def test_references_move_the_maxpool_argmax(name, data):
    """The zoo check above exercises the max rule where input and reference argmaxes differ."""
    X, R = data
    model = ZOO[name]().eval()
    first = next(m for m in model.modules() if isinstance(m, nn.MaxPool1d))
    seen = {}

    def keep(module, inputs, output):
        seen["in"] = inputs[0]

    handle = first.register_forward_hook(keep)
    with torch.no_grad():
        model(torch.cat([X[:1], R[0, :1]]))
    handle.remove()
    _, idx = F.max_pool1d_with_indices(seen["in"], first.kernel_size, first.stride)
    assert bool((idx[0] != idx[1]).any())


def test_genomics_default_assignment():
    rules = build_graph(
        Basset(
            n_tasks=1,
            input_length=L,
            n_filters=(4, 4, 4),
            filter_widths=(7, 5, 3),
            pool_sizes=(2, 2, 2),
            n_hidden=(8, 8),
        ).eval(),
        "genomics_default",
        example=torch.zeros(1, 4, L),
    ).rules()
    assert rules == {
        "conv.relu1 (nn.ReLU)": "rescale",
        "conv.relu2 (nn.ReLU)": "rescale",
        "conv.relu3 (nn.ReLU)": "rescale",
        "dense.relu1 (nn.ReLU)": "reveal_cancel",
        "dense.relu2 (nn.ReLU)": "reveal_cancel",
    }
    labcnn = build_graph(
        ZOO["labcnn"]().eval(), "genomics_default", example=torch.zeros(1, 4, L)
    ).rules()
    assert list(labcnn.values()) == ["rescale", "rescale", "reveal_cancel"]


def _tangermeme(model, X, R, hypothetical):
    from tangermeme.deep_lift_shap import deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deep_lift_shap(
            copy.deepcopy(model).double(),
            X.double(),
            references=R.double(),
            target=1,
            hypothetical=hypothetical,
            batch_size=8,
            device="cpu",
        )


@pytest.mark.parametrize("name", ["labcnn", "basset", "bpnet"])
def test_agrees_with_tangermeme(name, data):
    pytest.importorskip("tangermeme")
    X, R = data
    model = trained(ZOO[name]())
    ours = deeplift_shap(model, X, target=1, baselines=R, hypothetical=True, dtype=F64)
    theirs = _tangermeme(model, X, R, hypothetical=True)
    assert float((ours.double() - theirs).abs().max()) <= 1e-5 * float(theirs.abs().max())
    projected = deeplift_shap(model, X, target=1, baselines=R, dtype=F64)
    assert torch.equal(projected, ours * X)


class Variant(nn.Module):
    """A conv-pool-dense network written in the styles that break hook-based DeepLIFT.

    ``reused``: one ReLU module called three times; ``functional``: ``F.relu`` / ``torch.relu``
    calls; ``residual``: a residual addition around the second convolution. ``untangled=True``
    computes the same function with one ReLU module per call (what hook-based tools need).
    """

    def __init__(self, style: str, untangled: bool = False):
        super().__init__()
        self.style, self.untangled = style, untangled
        self.conv1 = nn.Conv1d(4, 8, 7, padding=3)
        self.conv2 = nn.Conv1d(8, 8, 3, padding=1)
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.pool = nn.MaxPool1d(4)
        self.dense = nn.Linear(8 * (L // 4), 8)
        self.out = nn.Linear(8, 2)

    def act(self, i: int, h):
        if self.untangled or self.style == "residual":
            return (self.relu1, self.relu2, self.relu3)[i](h)
        if self.style == "reused":
            return self.relu1(h)
        return torch.relu(h) if i == 1 else F.relu(h)

    def forward(self, x):
        h = self.act(0, self.conv1(x))
        g = self.act(1, self.conv2(h))
        h = h + g if self.style == "residual" else g
        h = self.pool(h).flatten(1)
        return self.out(self.act(2, self.dense(h)))


@pytest.mark.parametrize("style", ["reused", "functional", "residual"])
def test_reused_functional_and_residual_handled_exactly(style, data):
    pytest.importorskip("tangermeme")
    X, R = data
    torch.manual_seed(0)
    model = Variant(style).eval()
    for rule in ("rescale", "genomics_default"):
        result = summation_deltas(
            model, X, target=1, baselines=R, rule=rule, dtype=F64, tolerance=1e-8
        )
        assert result.all_passed, rule
    ours = deeplift_shap(model, X, target=1, baselines=R, dtype=F64, hypothetical=True)
    untangled = Variant(style, untangled=True)
    untangled.load_state_dict(model.state_dict())
    theirs = _tangermeme(untangled.eval(), X, R, hypothetical=True)
    assert float((ours.double() - theirs).abs().max()) <= 1e-5 * float(theirs.abs().max())


def test_reused_module_calls_are_separate_nodes():
    rules = build_graph(
        Variant("reused").eval(), "genomics_default", example=torch.zeros(1, 4, L)
    ).rules()
    assert rules == {
        "relu1 (nn.ReLU), call 1 of 3": "rescale",
        "relu1 (nn.ReLU), call 2 of 3": "rescale",
        "relu1 (nn.ReLU), call 3 of 3": "reveal_cancel",
    }
    labels = list(
        build_graph(
            Variant("functional").eval(), "genomics_default", example=torch.zeros(1, 4, L)
        ).rules()
    )
    assert labels[0].startswith("F.relu (node") and "in the model (Variant)" in labels[0]
    assert labels[1].startswith("torch.relu (node")


def test_agrees_with_captum_on_maxpool_free_model(data):
    captum = pytest.importorskip("captum.attr")
    X, R = data
    R = R[:, :2]
    model = trained(ZOO["bpnet"]())
    double = copy.deepcopy(model).double().eval()
    ours = deeplift_shap(model, X, target=1, baselines=R, dtype=F64, hypothetical=True)
    hyp = torch.zeros(X.shape, dtype=F64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(R.shape[1]):
            r = R[:, j].double()
            m = captum.DeepLift(double, multiply_by_inputs=False).attribute(
                X.double(), baselines=r, target=1
            )
            hyp += m - (m * r).sum(1, keepdim=True)
        shared = R[0].double()  # DeepLiftShap: one set of baselines for every input
        theirs = captum.DeepLiftShap(double).attribute(X.double(), baselines=shared, target=1)
    hyp /= R.shape[1]
    assert float((ours.double() - hyp).abs().max()) <= 1e-5 * float(hyp.abs().max())
    projected = deeplift(model, X, target=1, baselines=shared, dtype=F64)
    torch.testing.assert_close(
        projected.double().sum(1),
        theirs.sum(1),
        rtol=0,
        atol=1e-5 * float(theirs.detach().abs().max()),
    )


def test_exact_where_captum_is_not(data):
    """captum 0.9.0's max-pool hook breaks summation-to-delta on LabCNN; ours holds."""
    captum = pytest.importorskip("captum.attr")
    version = tuple(int(p) for p in importlib.metadata.version("captum").split(".")[:2])
    if version < (0, 9):
        pytest.skip(f"the max-pool defect is captum 0.9's; captum {version} is installed")
    X, R = data
    model = copy.deepcopy(trained(ZOO["labcnn"]())).double().eval()
    r = R[:, 0].double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attr = captum.DeepLift(model).attribute(X.double(), baselines=r, target=1)
    with torch.no_grad():
        delta = model(X.double())[:, 1] - model(r)[:, 1]
    captum_error = ((attr.sum((1, 2)) - delta).abs() / delta.abs()).max()
    assert captum_error > 0.05
    ours = summation_deltas(model, X, target=1, baselines=R[:, :1], dtype=F64)
    assert ours.max_relative_error < 1e-10
