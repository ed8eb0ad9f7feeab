"""Compatibility: the models our users bring, from the packages they install.

Small random-weight configurations (tests/real_models.py) of bpnet-lite BPNet and ChromBPNet,
chrombpnet-pytorch, enformer-pytorch, borzoi-pytorch and gReLU's ConvModel (ReLU and GELU),
DilatedConvModel and EnformerModel. Every method runs on every model; DeepLIFT holds
summation-to-delta (float64 1e-8, float32 1e-4); DeepLiftShap equals tangermeme 1.6 with the
rules bpnet-lite registers wherever tangermeme is exact; ISM equals naive ISM; the model is
unchanged after every call. The packages are in the ``test`` extra; a missing one skips its rows.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import nullcontext

import pytest
import torch
from torch import nn

from cislens.attribution import deeplift, deeplift_shap, integrated_gradients, ism, saliency
from cislens.attribution.compat import borzoi_without_vmap
from cislens.attribution.deeplift_engine import summation_deltas
from tests import real_models as zoo

F64 = torch.float64
N_SEQS, N_REFS = 2, 2

# model -> (output=, target, package to import)
CASES = {
    "bpnetlite_bpnet-counts": ("bpnetlite_bpnet", "counts", 0, "bpnetlite"),
    "bpnetlite_bpnet-profile": ("bpnetlite_bpnet", "profile", 0, "bpnetlite"),
    "bpnetlite_chrombpnet-counts": ("bpnetlite_chrombpnet", "counts", 0, "bpnetlite"),
    "bpnetlite_chrombpnet-profile": ("bpnetlite_chrombpnet", "profile", 0, "bpnetlite"),
    "chrombpnet_pytorch-counts": ("chrombpnet_pytorch", (1, "counts"), 0, "chrombpnet"),
    "chrombpnet_pytorch-profile": ("chrombpnet_pytorch", (0, "profile"), 0, "chrombpnet"),
    "enformer_pytorch": (
        "enformer_pytorch",
        lambda out: out["human"].sum(1),
        1,
        "enformer_pytorch",
    ),
    "borzoi_pytorch": ("borzoi_pytorch", "sum", 1, "borzoi_pytorch"),
    "grelu_conv_relu": ("grelu_conv_relu", None, 1, "grelu"),
    "grelu_conv_gelu": ("grelu_conv_gelu", None, 1, "grelu"),
    "grelu_dilated_conv": ("grelu_dilated_conv", None, 1, "grelu"),
    "grelu_enformer": ("grelu_enformer", None, 1, "grelu"),
}


class NoCast(nn.Module):
    """Borzoi in float64: its forward casts to float32 before the head, and borzoi-pytorch 0.5
    caches float32 positional features on the first call; both are bypassed here (the cache
    is restored by cislens after the call like any other attribute)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        for module in self.model.modules():
            positions = getattr(module, "positions", None)
            if isinstance(positions, torch.Tensor) and positions.dtype != x.dtype:
                module.positions = positions.to(x.dtype)
        return zoo.borzoi_forward_nocast(self.model, x)


def build(case: str):
    name, output, target, package = CASES[case]
    pytest.importorskip(package)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = zoo.FACTORIES[name]()
    X = zoo.random_onehot(N_SEQS, info["test_length"], seed=1)
    options = dict(output=output, target=target, input_layout=info["layout"][:3])
    switch = borzoi_without_vmap if name == "borzoi_pytorch" else nullcontext
    return model, X, options, switch


def _snapshot(model: nn.Module):
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    attributes = {  # names, and which object each tensor or None attribute holds (caches)
        name: {key: id(value) if value is None or isinstance(value, torch.Tensor) else key
               for key, value in vars(m).items()}
        for name, m in model.named_modules()
    }  # fmt: skip
    return state, attributes


def _assert_unchanged(model, before, X, options):
    state, attributes = _snapshot(model)
    assert attributes == before[1]
    for key, value in before[0].items():
        assert torch.equal(state[key], value), key


@pytest.mark.parametrize("case", list(CASES))
def test_deeplift_is_exact_and_leaves_the_model_alone(case):
    model, X, options, switch = build(case)
    before = _snapshot(model)
    with switch():  # first calls on a fresh model: Borzoi's positional cache is still empty
        single = summation_deltas(
            model, X, baselines="dinucleotide", n_baselines=N_REFS, random_state=0,
            tolerance=1e-3, **options,
        )  # fmt: skip
        scores = [
            deeplift(model, X, **options),  # "frequencies" references
            deeplift_shap(model, X, n_shuffles=N_REFS, random_state=0, **options),
        ]
    _assert_unchanged(model, before, X, options)
    assert all(s.shape == X.shape and bool(torch.isfinite(s).all()) for s in scores)
    # float32: 1e-4 of the scale; Borzoi's random head outputs ~10 and moves by ~1e-5, which
    # float32 resolves to ~1e-6, so its float32 sums are checked to the engine's 1e-3
    limit = 1e-3 if case == "borzoi_pytorch" else 1e-4
    assert float(single.relative_errors.max()) <= limit
    float64 = _float64(case, model, X)
    with switch():
        exact = summation_deltas(
            float64, X, baselines="dinucleotide", n_baselines=N_REFS, random_state=0,
            dtype=F64, tolerance=1e-8, **options,
        )  # fmt: skip
    assert exact.all_passed, float(exact.relative_errors.max())


def _float64(case: str, model: nn.Module, X) -> nn.Module:
    """The model as float64 runs it: Borzoi after the user's first forward (which fills its
    float32 positional cache, converted in :class:`NoCast`), without its float32 cast."""
    if case != "borzoi_pytorch":
        return model
    with torch.no_grad(), borzoi_without_vmap():
        model(X)
    return NoCast(model)


def _ism_window(case: str, length: int) -> dict:
    middle = length // 2
    return dict(start=middle - 4, end=middle + 4) if case == "borzoi_pytorch" else {}


@pytest.mark.parametrize("case", list(CASES))
def test_ism_equals_naive_ism_and_gradients_run(case):
    model, X, options, switch = build(case)
    window = _ism_window(case, X.shape[-1])
    float64 = _float64(case, model, X)
    before = _snapshot(model)
    with switch():
        fast = ism(float64, X, dtype=F64, hypothetical=True, **window, **options)
        naive = ism(float64, X, dtype=F64, hypothetical=True, fast=False, **window, **options)
    scale = float(naive.abs().max())
    assert float((fast - naive).abs().max()) <= 1e-8 * max(scale, 1e-12)
    grads = saliency(model, X, **options)
    ig = integrated_gradients(model, X, n_steps=4, baselines="zeros", **options)
    assert grads.shape == ig.shape == X.shape
    assert bool(torch.isfinite(grads).all() and torch.isfinite(ig).all())
    _assert_unchanged(model, before, X, options)


FAST_ISM = [
    "bpnetlite_bpnet-counts",
    "bpnetlite_chrombpnet-counts",
    "grelu_conv_relu",
    "grelu_conv_gelu",
    "grelu_dilated_conv",
]


@pytest.mark.parametrize("case", FAST_ISM)
def test_fast_ism_engages_on_conv_models(case):
    model, X, options, _ = build(case)
    fast = ism(model, X, dtype=F64, fast=True, **options)  # raises if the window path cannot run
    naive = ism(model, X, dtype=F64, fast=False, **options)
    torch.testing.assert_close(fast, naive, rtol=0, atol=1e-10 * float(naive.abs().max()))


# --- tangermeme 1.6 where it is exact -------------------------------------------------------------


class _Select(nn.Module):
    def __init__(self, model, index):
        super().__init__()
        self.model, self.index = model, index

    def forward(self, x):
        out = self.model(x)
        return out[self.index] if isinstance(out, tuple) else out[..., 0]


def _tangermeme_route(case: str, model: nn.Module):
    """The wrapper and rule table with which tangermeme is exact on ``case`` (bpnet-lite's own
    registrations: the profile scaling and ChromBPNet's log and exp modules)."""
    from tangermeme.deep_lift_shap import _nonlinear

    name, output, _, _ = CASES[case]
    if name.startswith("grelu"):
        return _Select(model, None), None
    from bpnetlite.bpnet import CountWrapper, ProfileWrapper, _ProfileLogitScaling

    rules = {_ProfileLogitScaling: _nonlinear}
    if name == "bpnetlite_chrombpnet":
        from bpnetlite.chrombpnet import _Exp, _Log

        rules.update({_Exp: _nonlinear, _Log: _nonlinear})
    wrapper = ProfileWrapper(model) if output == "profile" else CountWrapper(model)
    return wrapper, rules


TANGERMEME = [
    "bpnetlite_bpnet-counts",
    "bpnetlite_bpnet-profile",
    "bpnetlite_chrombpnet-counts",
    "bpnetlite_chrombpnet-profile",
    "grelu_conv_relu",
    "grelu_conv_gelu",
    "grelu_dilated_conv",
]


@pytest.mark.parametrize("case", TANGERMEME)
def test_deeplift_shap_agrees_with_tangermeme_where_it_is_exact(case):
    pytest.importorskip("tangermeme")
    from tangermeme.deep_lift_shap import deep_lift_shap
    from tangermeme.ersatz import dinucleotide_shuffle

    model, X, options, _ = build(case)
    X = X.double()
    R = dinucleotide_shuffle(X, n=3, random_state=0).double()
    ours = deeplift_shap(model, X, baselines=R, dtype=F64, hypothetical=True, **options)
    wrapper, rules = _tangermeme_route(case, copy.deepcopy(model))
    wrapper = wrapper.double().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = deep_lift_shap(
            wrapper, X, references=R, target=options["target"], hypothetical=True, device="cpu",
            additional_nonlinear_ops=rules, warning_threshold=1e-6,
        )  # fmt: skip
    scale = float(theirs.abs().max())
    assert float((ours.double() - theirs).abs().max()) <= 1e-5 * scale


def test_profile_deeplift_shap_equals_bpnet_lite_own_route():
    """bpnet-lite's ``deep_lift_shap`` with its ``ProfileWrapper`` (the route of its ``bpnet
    attribute`` command) and cislens with ``output="profile"`` on the same references."""
    pytest.importorskip("bpnetlite")
    from bpnetlite.attribute import deep_lift_shap as bpnet_lite_deep_lift_shap
    from bpnetlite.bpnet import ProfileWrapper

    model, X, options, _ = build("bpnetlite_bpnet-profile")
    X = X.double()
    wrapper = ProfileWrapper(copy.deepcopy(model)).double().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, references = bpnet_lite_deep_lift_shap(
            wrapper, X, n_shuffles=4, random_state=0, hypothetical=True, device="cpu",
            return_references=True,
        )  # fmt: skip
    ours = deeplift_shap(model, X, baselines=references, dtype=F64, hypothetical=True, **options)
    scale = float(theirs.abs().max())
    assert float((ours.double() - theirs).abs().max()) <= 1e-5 * scale


def test_borzoi_vmap_is_refused_by_name_without_the_switch():
    pytest.importorskip("borzoi_pytorch")
    from cislens.errors import UnsupportedModelError

    model, X, options, _ = build("borzoi_pytorch")
    with pytest.raises(UnsupportedModelError, match=r"torch.vmap .* fast_relative_shift"):
        summation_deltas(model, X, baselines="zeros", **options)
