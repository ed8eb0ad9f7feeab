"""The model zoo: shapes, parameter counts, fx-traceability, determinism, configs, errors."""

from __future__ import annotations

import operator

import numpy as np
import pytest
import torch
import torch.fx
from torch import nn

from cislens.errors import ConfigError
from cislens.models import (
    MODELS,
    Basset,
    BPNetLike,
    DeepBind,
    DeepSEABeluga,
    LabCNN,
    SequenceModel,
    build_model,
    count_parameters,
    get_model_class,
    initialize_parameters,
    model_config,
)

# Small configurations of every architecture (fast to build and run).
TINY = {
    "labcnn": {"n_tasks": 3, "input_length": 200},
    "deepbind": {"n_tasks": 2, "n_filters": 3, "filter_width": 5, "n_hidden": 4},
    "basset": {
        "n_tasks": 2,
        "input_length": 60,
        "n_filters": [4, 5, 6],
        "filter_widths": [5, 3, 3],
        "pool_sizes": [2, 2, 2],
        "n_hidden": [7, 8],
    },
    "beluga": {"n_tasks": 2, "input_length": 400, "n_filters": [3, 4, 5], "n_hidden": 6},
    "bpnet": {"n_tasks": 3, "n_filters": 4, "n_layers": 3, "first_width": 7},
}


def tiny(name: str, **overrides) -> SequenceModel:
    return build_model({"name": name, **TINY[name], **overrides}, random_state=0)


def random_one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)
    return torch.from_numpy(np.ascontiguousarray(X))


# --- LabCNN: the classic lab model ------------------------------------------------------------


def _layer_lengths(model: nn.Module, layers: list[str], x: torch.Tensor) -> dict[str, tuple]:
    shapes = {}
    handles = [
        getattr(model, name).register_forward_hook(
            lambda module, args, out, name=name: shapes.__setitem__(name, tuple(out.shape))
        )
        for name in layers
    ]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


@pytest.mark.parametrize("pool", ["max", "subsample"])
def test_labcnn_reproduces_the_classic_shapes_and_parameter_count(pool):
    model = LabCNN(n_tasks=3, input_length=200, pool=pool, random_state=0).eval()
    assert count_parameters(model) == 17_331
    layers = ["conv1", "pool1", "conv2", "pool2", "flatten", "dense", "out"]
    shapes = _layer_lengths(model, layers, random_one_hot(2, 200))
    assert shapes["conv1"] == (2, 32, 182)
    assert shapes["pool1"] == (2, 32, 46)
    assert shapes["conv2"] == (2, 16, 39)
    assert shapes["pool2"] == (2, 16, 5)
    assert shapes["flatten"] == (2, 80)
    assert shapes["dense"] == (2, 128)
    assert shapes["out"] == (2, 3)
    assert model.feature_lengths == [182, 46, 39, 5]
    # 2464 + 4112 + 10368 + 387, layer by layer
    assert [count_parameters(getattr(model, n)) for n in ("conv1", "conv2", "dense", "out")] == [
        4 * 32 * 19 + 32,
        32 * 16 * 8 + 16,
        80 * 128 + 128,
        128 * 3 + 3,
    ]


def test_labcnn_subsample_pool_keeps_every_kth_position_and_max_pool_takes_the_max():
    x = random_one_hot(3, 200)
    sub = LabCNN(n_tasks=3, pool="subsample", random_state=1).eval()
    h = sub.relu1(sub.conv1(x))
    assert torch.equal(sub.pool1(h), h[:, :, ::4])
    maxed = LabCNN(n_tasks=3, pool="max", random_state=1).eval()
    h = maxed.relu1(maxed.conv1(x))  # 182 positions, ceil mode: the last window has 2
    expected = torch.stack([h[:, :, i : i + 4].amax(-1) for i in range(0, 182, 4)], -1)
    assert torch.equal(maxed.pool1(h), expected)


@pytest.mark.parametrize("length", [47, 100, 200, 1000])
def test_labcnn_other_lengths(length):
    model = LabCNN(n_tasks=2, input_length=length, random_state=0).eval()
    assert model(random_one_hot(2, length)).shape == (2, 2)
    assert model.dense.in_features == 16 * model.feature_lengths[-1]


def _second_layer_output(model: LabCNN, x: torch.Tensor) -> torch.Tensor:
    seen = {}
    handle = model.relu2.register_forward_hook(lambda m, i, out: seen.__setitem__("a", out))
    try:
        loss = model(x).sum()
    finally:
        handle.remove()
    loss.backward()
    return seen["a"]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_labcnn_batch_norm_keeps_every_second_layer_channel_alive(batch_norm):
    # A second-layer channel whose pre-activation is negative everywhere (here: a bias of -50)
    # is silent after its ReLU and gets no gradient through the global max pool, for good;
    # batch norm (train mode) centres each channel over the batch and positions first.
    model = LabCNN(
        n_tasks=1, input_length=300, pool_sizes=(4, 64), batch_norm=batch_norm, random_state=0
    )
    with torch.no_grad():
        model.conv2.bias.fill_(-50.0)
    out = _second_layer_output(model.train(), random_one_hot(8, 300))
    alive = out.amax(dim=(0, 2)) > 0
    grad = model.conv2.weight.grad.abs().sum(dim=(1, 2))
    if batch_norm:
        assert bool(alive.all()) and bool((grad > 0).all())
    else:  # every channel silent, no gradient reaches its filter
        assert not bool(alive.any()) and float(grad.sum()) == 0.0


def test_labcnn_exp_activation_and_batch_norm_layers():
    x = random_one_hot(3, 300)
    base = LabCNN(n_tasks=2, input_length=300, random_state=0).eval()
    exp = LabCNN(n_tasks=2, input_length=300, activation1="exp", random_state=0).eval()
    assert count_parameters(exp) == count_parameters(base)  # exp has no parameters
    seen = {}
    exp.pool1.register_forward_hook(lambda m, i, out: seen.__setitem__("in", i[0]))
    exp(x)
    assert torch.allclose(seen["in"], torch.exp(exp.conv1(x)))
    # batch norm: a weight and a bias per channel of each convolution (2 x (32 + 16))
    bn = LabCNN(n_tasks=2, input_length=300, batch_norm=True, random_state=0)
    assert count_parameters(bn) == count_parameters(base) + 2 * (32 + 16)
    assert build_model({"name": "labcnn", **bn.hparams}).hparams["batch_norm"] is True
    with pytest.raises(ValueError, match="activation1 must be one of"):
        LabCNN(activation1="gelu")
    with pytest.raises(TypeError, match="batch_norm must be True or False"):
        LabCNN(batch_norm=1)


def test_labcnn_too_short_is_a_clear_error():
    with pytest.raises(ValueError, match="too short"):
        LabCNN(n_tasks=1, input_length=30)


# --- Every architecture ----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    ("name", "lengths"),
    [
        ("labcnn", [60, 200, 333]),
        ("deepbind", [5, 64, 301]),
        ("basset", [48, 60, 600]),
        ("beluga", [16, 200, 400]),
        ("bpnet", [1, 50, 257]),
    ],
)
def test_output_shapes_for_several_lengths(name, lengths):
    for length in lengths:
        overrides = {"input_length": length} if MODELS[name].fixed_length else {}
        model = tiny(name, **overrides).eval()
        out = model(random_one_hot(3, length))
        assert out.shape == (3, TINY[name]["n_tasks"]), (name, length)
        assert out.dtype == torch.float32


def test_variable_length_models_accept_any_length_without_rebuilding():
    for name in ("deepbind", "bpnet"):
        model = tiny(name).eval()
        for length in (30, 31, 200):
            assert model(random_one_hot(2, length)).shape == (2, TINY[name]["n_tasks"])


def _expected_parameters(name: str) -> int:
    if name == "labcnn":
        return 17_331
    if name == "deepbind":  # conv 4*3*5+3, dense (2*3)*4+4, out 4*2+2
        return (4 * 3 * 5 + 3) + (6 * 4 + 4) + (4 * 2 + 2)
    if name == "basset":  # lengths 60 -> 56 -> 28 -> 26 -> 13 -> 11 -> 5: flatten 6*5 = 30
        convs = (4 * 4 * 5 + 4) + (4 * 5 * 3 + 5) + (5 * 6 * 3 + 6)
        batchnorms = 2 * (4 + 5 + 6) + 2 * (7 + 8)
        dense = (30 * 7 + 7) + (7 * 8 + 8) + (8 * 2 + 2)
        return convs + batchnorms + dense
    if name == "beluga":  # 400 -> 393 -> 386 -> 96 -> 89 -> 82 -> 20 -> 13 -> 6: flatten 5*6
        convs = (4 * 3 * 8 + 3) + (3 * 3 * 8 + 3) + (3 * 4 * 8 + 4) + (4 * 4 * 8 + 4)
        convs += (4 * 5 * 8 + 5) + (5 * 5 * 8 + 5)
        return convs + (30 * 6 + 6) + (6 * 2 + 2)
    if name == "bpnet":  # first conv, 3 dilated convs, 3 heads
        return (4 * 4 * 7 + 4) + 3 * (4 * 4 * 3 + 4) + 3 * (4 + 1)
    raise AssertionError(name)


@pytest.mark.parametrize("name", sorted(TINY))
def test_parameter_counts(name):
    assert count_parameters(tiny(name)) == _expected_parameters(name)


def test_basset_default_layout_matches_the_original():
    model = Basset(n_tasks=164, input_length=600, random_state=0)
    assert model.hparams["padding"] == "valid"
    assert model.feature_lengths == [582, 194, 184, 46, 40, 10]
    assert model.dense1.in_features == 2000
    # convs 23,100 + 660,200 + 280,200; dense 2,001,000 + 1,001,000 + 164,164; BN 2*(700 + 2000)
    assert count_parameters(model) == 4_135_064


def test_beluga_layout_scales_with_the_input_length():
    model = DeepSEABeluga(n_tasks=4, input_length=2000, n_filters=[2, 2, 3], n_hidden=5)
    assert model.feature_lengths[-1] == 106  # 640 x 106 = 67,840 in the original
    assert model.dense.in_features == 3 * 106
    short = DeepSEABeluga(n_tasks=4, input_length=200, n_filters=[2, 2, 3], n_hidden=5)
    assert short.hparams["padding"] == "same"
    assert short.dense.in_features == 3 * 12
    assert (
        DeepSEABeluga(n_tasks=4, input_length=310, n_filters=[1, 1, 1]).hparams["padding"]
        == "valid"
    )
    assert (
        DeepSEABeluga(n_tasks=4, input_length=309, n_filters=[1, 1, 1]).hparams["padding"] == "same"
    )


def test_bpnet_has_one_scalar_head_per_task_and_dilations_double():
    model = tiny("bpnet")
    assert len(model.heads) == 3 and all(head.out_features == 1 for head in model.heads)
    assert [conv.dilation[0] for conv in model.convs] == [2, 4, 8]


# --- What the attribution engine relies on -----------------------------------------------------

_ALLOWED_FUNCTIONS = {operator.add, torch.cat}


@pytest.mark.parametrize("name", sorted(TINY))
def test_fx_traceable_and_every_module_called_once(name):
    model = tiny(name).eval()
    graph_module = torch.fx.symbolic_trace(model)
    length = model.input_length or 80
    x = random_one_hot(4, length)
    assert torch.equal(graph_module(x), model(x))
    called = [node.target for node in graph_module.graph.nodes if node.op == "call_module"]
    assert len(called) == len(set(called)), "a module instance is used more than once"
    leaves = {n for n, m in model.named_modules() if not list(m.children()) and n}
    assert set(called) == leaves, "every leaf module is used in forward"
    functions = {node.target for node in graph_module.graph.nodes if node.op == "call_function"}
    assert functions <= _ALLOWED_FUNCTIONS, f"functional ops in forward: {functions}"
    assert not any(node.op == "call_method" for node in graph_module.graph.nodes)
    for module in model.modules():
        assert not getattr(module, "inplace", False), f"in-place module {module}"
    nonlinear = (nn.ReLU, nn.MaxPool1d, nn.AdaptiveMaxPool1d, nn.Dropout, nn.BatchNorm1d)
    ids = [id(m) for m in model.modules() if isinstance(m, nonlinear)]
    assert len(ids) == len(set(ids))


def test_bpnet_residual_is_a_plain_add():
    graph_module = torch.fx.symbolic_trace(tiny("bpnet"))
    adds = [n for n in graph_module.graph.nodes if n.target is operator.add]
    assert len(adds) == 3


@pytest.mark.parametrize("name", sorted(TINY))
def test_eval_forward_is_deterministic_and_example_independent(name):
    model = tiny(name).eval()
    x = random_one_hot(5, model.input_length or 64)
    with torch.no_grad():
        first, second = model(x), model(x)
        assert torch.equal(first, second)
        single = torch.cat([model(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(single, first, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(TINY))
def test_same_seed_same_weights_without_touching_the_global_rng(name):
    state = torch.get_rng_state()
    a, b = tiny(name), tiny(name)
    c = build_model({"name": name, **TINY[name]}, random_state=1)
    assert torch.equal(torch.get_rng_state(), state)
    for (key, wa), wb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(wa, wb), key
    weights_a = [p for p in a.parameters() if p.ndim > 1]
    weights_c = [p for p in c.parameters() if p.ndim > 1]
    assert not all(torch.equal(p, q) for p, q in zip(weights_a, weights_c, strict=True))


def test_initialization_follows_pytorch_default_bounds():
    model = LabCNN(n_tasks=3, random_state=0)
    bound = 1 / np.sqrt(4 * 19)  # kaiming_uniform(a=sqrt(5)) gives 1/sqrt(fan_in)
    assert model.conv1.weight.abs().max() <= bound
    assert model.conv1.weight.abs().max() > 0.9 * bound
    assert model.conv1.bias.abs().max() <= bound
    with pytest.raises(TypeError, match="does not know"):
        initialize_parameters(nn.Sequential(nn.Embedding(3, 2)), random_state=0)


# --- Configs and the registry ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TINY))
def test_config_round_trip(name):
    model = tiny(name)
    config = model_config(model)
    assert config["name"] == name
    rebuilt = build_model(config, random_state=0)
    assert model_config(rebuilt) == config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    for key, value in model.state_dict().items():
        assert torch.equal(value, rebuilt.state_dict()[key])


def test_registry_names_and_lookup():
    assert sorted(MODELS) == ["argminn", "basset", "beluga", "bpnet", "deepbind", "labcnn"]
    assert get_model_class("LabCNN") is LabCNN
    assert get_model_class("DeepSEABeluga") is DeepSEABeluga
    assert get_model_class("BPNetLike") is BPNetLike
    assert get_model_class("deepbind") is DeepBind


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match=r"unknown model architecture 'resnet'.*basset"):
        build_model({"name": "resnet", "n_tasks": 1})
    with pytest.raises(ConfigError, match="needs a 'name'"):
        build_model({"n_tasks": 1})
    with pytest.raises(ConfigError, match=r"unknown hyperparameter\(s\) \['n_filter'\]"):
        build_model({"name": "deepbind", "n_tasks": 1, "n_filter": 3})
    with pytest.raises(ConfigError, match=r"needs the hyperparameter\(s\) \['n_tasks'\]"):
        build_model({"name": "basset"})
    with pytest.raises(ValueError, match="n_tasks must be a positive int"):
        build_model({"name": "bpnet", "n_tasks": 0})
    with pytest.raises(ValueError, match="pool must be one of"):
        LabCNN(pool="average")
    with pytest.raises(ValueError, match="dropout must be a float"):
        DeepBind(n_tasks=1, dropout=1.5)
    with pytest.raises(TypeError, match="registered cislens architecture"):
        model_config(nn.Linear(2, 2))


# --- Input checks ------------------------------------------------------------------------------


def test_wrong_input_length_for_a_fixed_length_model():
    model = LabCNN(n_tasks=3, input_length=200, random_state=0)
    with pytest.raises(ValueError, match=r"input_length=200.*length 150"):
        model(random_one_hot(2, 150))


def test_wrong_layout_gets_a_hint():
    model = tiny("deepbind")
    with pytest.raises(ValueError, match=r"\(N, L, 4\)"):
        model(random_one_hot(2, 30).transpose(1, 2))


def test_too_short_for_a_variable_length_model():
    with pytest.raises(ValueError, match="at least 5 bp"):
        tiny("deepbind")(random_one_hot(2, 4))
