"""Tests for cislens.io.attributions: the attribution store in HDF5 and npz."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from cislens import __version__
from cislens.io import AttributionSet, load_attributions, save_attributions
from cislens.sequence.onehot import one_hot_from_tokens

N, L = 3, 10


def make_set(*, hypothetical: bool = True, **overrides) -> AttributionSet:
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 4, size=(N, L))
    tokens[1, 0] = 4  # an unknown base
    X = one_hot_from_tokens(tokens)
    hyp = rng.normal(size=(N, 4, L)).astype(np.float32)
    fields = {
        "X": X,
        "attributions": hyp * X,
        "hypothetical": hyp if hypothetical else None,
        "method": "deeplift_shap",
        "target": 1,
        "params": {"reference": "dinucleotide_shuffle", "n_shuffles": 20, "scale": (1, 2)},
        "random_state": 123,
        "example_index": np.array([4, 0, 9]),
        "task_names": ["a", "b"],
    }
    fields.update(overrides)
    return AttributionSet(**fields)


def assert_same(loaded: AttributionSet, original: AttributionSet) -> None:
    np.testing.assert_array_equal(loaded.X, original.X)
    np.testing.assert_array_equal(loaded.attributions, original.attributions)
    if original.hypothetical is None:
        assert loaded.hypothetical is None
    else:
        np.testing.assert_array_equal(loaded.hypothetical, original.hypothetical)
    assert loaded.X.dtype == loaded.attributions.dtype == np.float32
    assert loaded.method == original.method
    assert loaded.target == original.target
    assert loaded.random_state == original.random_state
    assert loaded.cislens_version == original.cislens_version
    assert loaded.task_names == original.task_names
    if original.example_index is None:
        assert loaded.example_index is None
    else:
        assert loaded.example_index.dtype == np.int64
        np.testing.assert_array_equal(loaded.example_index, original.example_index)


@pytest.mark.parametrize("suffix", [".h5", ".hdf5", ".npz"])
@pytest.mark.parametrize("hypothetical", [True, False])
def test_round_trip(tmp_path, suffix, hypothetical):
    original = make_set(hypothetical=hypothetical)
    path = save_attributions(tmp_path / f"attr{suffix}", original)
    loaded = load_attributions(path)
    assert_same(loaded, original)
    # Tuples come back as JSON lists; everything else is unchanged.
    assert loaded.params == {"reference": "dinucleotide_shuffle", "n_shuffles": 20, "scale": [1, 2]}


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_optional_fields_absent(tmp_path, suffix):
    original = make_set(
        target=None, random_state=None, example_index=None, task_names=None, params={}
    )
    loaded = load_attributions(save_attributions(tmp_path / f"attr{suffix}", original))
    assert_same(loaded, original)
    assert loaded.params == {}


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_str_target_for_callable(tmp_path, suffix):
    original = make_set(target="sum_of_profile")
    loaded = load_attributions(save_attributions(tmp_path / f"attr{suffix}", original))
    assert loaded.target == "sum_of_profile"


def test_hdf5_schema(tmp_path):
    path = save_attributions(tmp_path / "attr.h5", make_set())
    with h5py.File(path, "r") as handle:
        assert handle["X"].dtype == np.int8
        assert handle["attributions"].dtype == np.float32
        assert handle["hypothetical"].shape == (N, 4, L)
        assert handle["example_index"].dtype == np.int64
        assert handle.attrs["format"] == "cislens-attributions"
        assert handle.attrs["format_version"] == 1
        assert handle.attrs["method"] == "deeplift_shap"
        assert handle.attrs["target"] == 1
        assert handle.attrs["random_state"] == 123
        assert handle.attrs["cislens_version"] == __version__
        assert json.loads(handle.attrs["params"])["n_shuffles"] == 20


def test_npz_schema_loads_without_pickle(tmp_path):
    path = save_attributions(tmp_path / "attr.npz", make_set())
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == [
            "X",
            "attributions",
            "example_index",
            "hypothetical",
            "metadata",
        ]
        assert archive["X"].dtype == np.int8
        metadata = json.loads(str(archive["metadata"]))
    assert metadata["format"] == "cislens-attributions"
    assert metadata["random_state"] == 123
    assert metadata["cislens_version"] == __version__


def test_torch_inputs_are_converted():
    X = torch.from_numpy(one_hot_from_tokens(np.zeros((2, 5), dtype=int)))
    result = AttributionSet(X=X, attributions=X.double(), method="ism", random_state=np.int64(3))
    assert isinstance(result.X, np.ndarray) and result.attributions.dtype == np.float32
    assert result.random_state == 3 and result.cislens_version == __version__


def test_shape_validation():
    good = make_set()
    with pytest.raises(ValueError, match=r"attributions must have the shape of X \(3, 4, 10\)"):
        AttributionSet(X=good.X, attributions=good.attributions[:, :, :-1], method="ism")
    with pytest.raises(ValueError, match=r"hypothetical must have the shape of X"):
        AttributionSet(
            X=good.X, attributions=good.attributions, hypothetical=good.X[:2], method="ism"
        )
    with pytest.raises(ValueError, match=r"X must have shape \(N, 4, L\).*\(N, L, 4\)"):
        AttributionSet(X=good.X.transpose(0, 2, 1), attributions=good.X, method="ism")
    with pytest.raises(ValueError, match=r"example_index must be an int array of shape \(N,\)"):
        make_set(example_index=np.arange(5))
    with pytest.raises(TypeError, match="random_state must be the int seed"):
        make_set(random_state=np.random.default_rng(0))
    with pytest.raises(TypeError, match="target must be an int, a str label"):
        make_set(target=1.5)


def test_unknown_suffix_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"\.h5, \.hdf5, \.npz"):
        save_attributions(tmp_path / "attr.pt", make_set())
    (tmp_path / "attr.pkl").write_bytes(b"")
    with pytest.raises(ValueError, match=r"must end in one of"):
        load_attributions(tmp_path / "attr.pkl")


def test_params_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="params must be JSON-serialisable"):
        save_attributions(tmp_path / "attr.h5", make_set(params={"f": len}))
    assert list(tmp_path.iterdir()) == []


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.h5"):
        load_attributions(tmp_path / "missing.h5")
    np.savez(tmp_path / "plain.npz", X=np.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match="no 'metadata' entry"):
        load_attributions(tmp_path / "plain.npz")
    np.savez(tmp_path / "pickled.npz", metadata=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled objects"):
        load_attributions(tmp_path / "pickled.npz")
    with h5py.File(tmp_path / "model.h5", "w") as handle:
        handle["weights"] = np.zeros(2)
    with pytest.raises(ValueError, match="not a cislens-attributions file"):
        load_attributions(tmp_path / "model.h5")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="could not be read as an npz archive"):
        load_attributions(tmp_path / "text.npz")


def test_corrupted_shapes_are_reported(tmp_path):
    path = save_attributions(tmp_path / "attr.h5", make_set())
    with h5py.File(path, "a") as handle:
        del handle["attributions"]
        handle["attributions"] = np.zeros((N, 4, L - 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"invalid attribution set: attributions must have"):
        load_attributions(path)
    with h5py.File(path, "a") as handle:
        del handle["attributions"]
    with pytest.raises(ValueError, match=r"has no 'attributions' array"):
        load_attributions(path)
