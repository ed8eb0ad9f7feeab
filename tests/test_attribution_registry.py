"""The METHODS registry, get_method, attribute, attribution_set, and the DeepLIFT methods."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from testkit import (
    SmallConv,
    random_one_hot,
    single_thread,  # noqa: F401 (autouse fixture)
)

import cislens.attribution as attribution
from cislens.attribution import METHODS, AttributionMethod, attribute, attribution_set, get_method
from cislens.io.attributions import AttributionSet

EXPECTED = {
    "ism",
    "saliency",
    "grad_x_input",
    "integrated_gradients",
    "deeplift",
    "deeplift_shap",
    "gradcam",
    "guided_backprop",
    "guided_gradcam",
}


def test_registry_names_and_flags():
    assert set(METHODS) == EXPECTED
    for name, record in METHODS.items():
        assert isinstance(record, AttributionMethod) and record.name == name
        assert get_method(name) is record
        assert record.description
        for flag in (
            "gradient_based",
            "completeness",
            "needs_baselines",
            "supports_hypothetical",
            "stochastic",
        ):
            assert isinstance(getattr(record, flag), bool)
    assert {n for n, r in METHODS.items() if r.completeness} == {
        "integrated_gradients",
        "deeplift",
        "deeplift_shap",
    }
    assert {n for n, r in METHODS.items() if not r.gradient_based} == {"ism"}
    assert {n for n, r in METHODS.items() if r.stochastic} == {"deeplift_shap"}
    assert {n for n, r in METHODS.items() if not r.supports_hypothetical} == {
        "saliency",
        "guided_backprop",
        "guided_gradcam",
    }


def test_every_function_has_the_common_signature():
    for record in METHODS.values():
        defaults = record.defaults()
        for option in (
            "target",
            "batch_size",
            "device",
            "random_state",
            "verbose",
            "output",
            "input_layout",
        ):
            assert option in defaults, (record.name, option)
        assert defaults["target"] is None and defaults["device"] is None
        assert defaults["output"] is None and defaults["input_layout"] == "NCL"
        assert defaults["random_state"] is None and defaults["verbose"] is False
        assert ("hypothetical" in defaults) == record.supports_hypothetical, record.name
        assert (
            "baselines" in defaults
        ) == record.needs_baselines or record.name == "deeplift_shap", record.name


def test_unknown_method_lists_the_valid_names():
    with pytest.raises(
        ValueError,
        match="unknown attribution method 'shap'; valid names are "
        "'deeplift', 'deeplift_shap', 'grad_x_input'",
    ):
        get_method("shap")
    with pytest.raises(ValueError, match="unknown attribution method"):
        attribute(SmallConv(), random_one_hot(1, 24, 0), method="shap")


def test_attribute_dispatches():
    model, X = SmallConv(), random_one_hot(2, 24, 0)
    for name in ("ism", "saliency", "gradcam"):
        torch.testing.assert_close(
            attribute(model, X, method=name, target=1), METHODS[name](model, X, target=1)
        )
    with pytest.raises(TypeError, match="n_steps"):
        attribute(model, X, method="saliency", target=1, n_steps=3)


def test_package_exports():
    for name in attribution.__all__:
        assert hasattr(attribution, name), name
    assert callable(attribution.deeplift) and callable(attribution.deeplift_shap)


def test_deeplift_runs_through_the_registry():
    from cislens.attribution.deeplift_engine import deeplift

    model, X = SmallConv(), random_one_hot(2, 24, 0)
    assert attribution.deeplift is deeplift
    torch.testing.assert_close(
        attribute(model, X, method="deeplift", target=0), deeplift(model, X, target=0)
    )


def test_attribution_set_records_everything():
    model, X = SmallConv(), random_one_hot(3, 24, 0)
    result = attribution_set(
        model,
        X,
        method="integrated_gradients",
        target=1,
        hypothetical=True,
        random_state=5,
        example_index=np.array([4, 7, 9]),
        task_names=["a", "b", "c"],
        n_steps=4,
        baselines="dinucleotide",
        n_baselines=2,
    )
    assert isinstance(result, AttributionSet)
    assert result.method == "integrated_gradients" and result.target == 1
    assert result.random_state == 5 and result.task_names == ["a", "b", "c"]
    assert result.example_index.tolist() == [4, 7, 9]
    assert result.params["n_steps"] == 4 and result.params["baselines"] == "dinucleotide"
    assert result.params["quadrature"] == "gausslegendre" and result.params["dtype"] == "float32"
    np.testing.assert_allclose(result.attributions, result.hypothetical * result.X)
    again = attribution_set(
        model,
        X,
        method="integrated_gradients",
        target=1,
        random_state=5,
        n_steps=4,
        baselines="dinucleotide",
        n_baselines=2,
    )
    np.testing.assert_allclose(again.attributions, result.attributions, rtol=1e-5, atol=1e-7)
    assert again.hypothetical is None


def test_attribution_set_seeds_and_refusals():
    model, X = SmallConv(), random_one_hot(2, 24, 0)
    drawn = attribution_set(model, X, method="saliency", target=0)
    assert isinstance(drawn.random_state, int)  # drawn and recorded
    seeded = attribution_set(
        model, X, method="saliency", target=0, random_state=np.random.default_rng(1)
    )
    assert isinstance(seeded.random_state, int)
    with pytest.raises(ValueError, match="has no hypothetical scores"):
        attribution_set(model, X, method="saliency", target=0, hypothetical=True)
    named = attribution_set(model, X, method="grad_x_input", target=lambda out: out[:, 0])
    assert named.target == "<lambda>"
    tensor_refs = attribution_set(
        model, X, method="integrated_gradients", target=0, n_steps=2, baselines=torch.zeros(4, 24)
    )
    assert tensor_refs.params["baselines"] == "Tensor"


def test_resolve_methods_is_the_one_parser():
    from cislens.attribution import resolve_methods

    assert resolve_methods("all") == resolve_methods(None) == resolve_methods(["all"])
    assert resolve_methods("all") == list(METHODS)
    assert resolve_methods(" saliency, ism ") == ["saliency", "ism"]
    assert resolve_methods(("gradcam", "ism")) == ["gradcam", "ism"]
    assert resolve_methods("all", require=["completeness", "stochastic"]) == ["deeplift_shap"]
    with pytest.raises(ValueError, match=r"^--method\[1\]: unknown attribution method 'salency'"):
        resolve_methods("ism,salency", where="--method")
    with pytest.raises(ValueError, match="Did you mean 'saliency'"):
        resolve_methods(["salency"])
    with pytest.raises(ValueError, match=r"^methods: \['ism'\] listed more than once"):
        resolve_methods("ism,saliency,ism")
    with pytest.raises(ValueError, match="expected at least one method name"):
        resolve_methods(" , ")
    with pytest.raises(ValueError, match=r"\['saliency'\] lack supports_hypothetical"):
        resolve_methods("ism,saliency", require=["supports_hypothetical"])
    with pytest.raises(ValueError, match="not a capability flag"):
        resolve_methods("ism", require=["fast"])
    with pytest.raises(ValueError, match=r"expected 'all', a comma-separated string or a list"):
        resolve_methods(3)


def test_parse_target_reads_indices_and_task_names():
    from cislens.attribution import parse_target

    tasks = ["GATA", "TAL1"]
    assert parse_target(None, tasks) is None
    assert parse_target("1", tasks) == 1 and parse_target("-1", tasks) == -1
    assert parse_target("TAL1", tasks) == 1
    with pytest.raises(ValueError, match=r"^--target must be an output index or a task name"):
        parse_target("REST", tasks)
    with pytest.raises(ValueError, match=r"^target must be an output index or a task name"):
        parse_target("REST", tasks, option="target")
