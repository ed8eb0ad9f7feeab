"""Tests for cislens.io.dataset: the HDF5 dataset file, legacy layouts and validation."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from cislens import __version__
from cislens.io import Dataset, GroundTruth, load_dataset, save_dataset, validate_dataset
from cislens.sequence.onehot import one_hot_from_tokens

L = 12
SIZES = {"train": 5, "valid": 3, "test": 4}
TASKS = ["tf_a", "tf_b"]


def make_dataset(*, with_truth: bool = True, splits=("train", "valid", "test")) -> Dataset:
    rng = np.random.default_rng(0)
    X, Y = {}, {}
    for split in splits:
        tokens = rng.integers(0, 4, size=(SIZES[split], L))
        tokens[0, 3] = 4  # one unknown base (all-zero column) per split
        X[split] = one_hot_from_tokens(tokens)
        Y[split] = rng.integers(0, 2, size=(SIZES[split], len(TASKS))).astype(np.float32)
    truth = None
    if with_truth:
        instances = pd.DataFrame(
            {
                "sequence": [0, 2, 1],
                "split": [splits[0], splits[0], splits[-1]],
                "motif": ["GATA", "TAL1", "GATA"],
                "start": [1, 4, 0],
                "end": [5, 10, 4],
                "strand": ["+", "-", "+"],
                "relevant_tf_a": [True, False, True],
                "relevant_tf_b": [False, True, False],
                "role": ["rule", "decoy", "rule"],
            }
        )
        motifs = {
            "GATA": np.full((4, 4), 0.25),
            "TAL1": np.eye(4)[:, [0, 1, 2, 3, 0, 1]],
        }
        truth = GroundTruth(instances, motifs, config='{"n": 12}')
    attrs = {"random_state": 7, "preset": "toy", "config": '{"a": 1}', "sizes": [5, 3, 4]}
    return Dataset(X=X, Y=Y, task_names=list(TASKS), ground_truth=truth, attrs=attrs)


def assert_same(loaded: Dataset, original: Dataset) -> None:
    assert loaded.splits == original.splits
    for split in original.splits:
        assert loaded.X[split].dtype == np.float32
        assert loaded.Y[split].dtype == np.float32
        np.testing.assert_array_equal(loaded.X[split], original.X[split])
        np.testing.assert_array_equal(loaded.Y[split], original.Y[split])
    assert loaded.task_names == original.task_names


@pytest.mark.parametrize("with_truth", [True, False])
def test_round_trip_all_splits(tmp_path, with_truth):
    data = make_dataset(with_truth=with_truth)
    path = save_dataset(tmp_path / "data.h5", data)
    loaded = load_dataset(path)
    assert_same(loaded, data)
    assert loaded.attrs["random_state"] == 7
    assert loaded.attrs["cislens_version"] == __version__
    assert loaded.attrs["preset"] == "toy"
    assert loaded.attrs["config"] == '{"a": 1}'
    assert loaded.attrs["sizes"] == [5, 3, 4]  # a list survives as JSON
    if with_truth:
        truth, original = loaded.ground_truth, data.ground_truth
        pd.testing.assert_frame_equal(truth.instances, original.instances)
        assert list(truth.motifs) == ["GATA", "TAL1"]
        for name, matrix in original.motifs.items():
            np.testing.assert_array_equal(truth.motifs[name], matrix)
        assert truth.config == '{"n": 12}'
    else:
        assert loaded.ground_truth is None


def test_file_layout_matches_the_documented_schema(tmp_path):
    path = save_dataset(tmp_path / "data.h5", make_dataset())
    with h5py.File(path, "r") as handle:
        assert handle.attrs["format"] == "cislens-dataset"
        assert handle.attrs["format_version"] == 1
        assert handle.attrs["alphabet"] == "ACGT"
        assert handle.attrs["layout"] == "N4L"
        assert handle.attrs["task_names"] == '["tf_a", "tf_b"]'
        assert handle.attrs["random_state"] == 7
        assert handle["X_train"].dtype == np.int8
        assert handle["X_train"].shape == (5, 4, L)
        assert handle["Y_valid"].dtype == np.float32
        assert handle["Y_valid"].shape == (3, 2)
        assert h5py.check_string_dtype(handle["ground_truth/instances/motif"].dtype) is not None
        assert handle["ground_truth/instances/start"].dtype == np.int64
        assert handle["ground_truth/instances/relevant_tf_a"].dtype == bool
        assert handle["ground_truth/motifs/TAL1"].shape == (4, 6)
        assert handle["ground_truth"].attrs["config"] == '{"n": 12}'


def test_subset_of_splits_and_loading_selected_splits(tmp_path):
    data = make_dataset(splits=("train", "test"))
    path = save_dataset(tmp_path / "sub.h5", data)
    assert load_dataset(path).splits == ["train", "test"]
    only_test = load_dataset(path, splits=["test"])
    assert only_test.splits == ["test"]
    assert set(only_test.ground_truth.instances["split"]) == {"test"}
    with pytest.raises(ValueError, match=r"splits must name splits present.*'valid'"):
        load_dataset(path, splits=["valid"])


def test_empty_ground_truth_table_round_trips(tmp_path):
    data = make_dataset()
    data.ground_truth.instances = data.ground_truth.instances.iloc[:0]
    loaded = load_dataset(save_dataset(tmp_path / "empty.h5", data))
    assert len(loaded.ground_truth.instances) == 0
    assert list(loaded.ground_truth.instances.columns) == list(data.ground_truth.instances.columns)


def test_summary_and_repr():
    data = make_dataset()
    text = data.summary()
    assert text.splitlines()[0].split()[:2] == ["split", "n"]
    assert "tf_a (pos.)" in text and len(text.splitlines()) == 4
    assert "splits={'train': 5, 'valid': 3, 'test': 4}" in repr(data)
    assert data.length == L and data.n_tasks == 2


def write_legacy(path, X_train, Y_train):
    # A lab file as older Keras pipelines wrote it: no cislens attributes, X length-first.
    with h5py.File(path, "w") as handle:
        handle["X_train"] = X_train
        handle["Y_train"] = Y_train


def test_legacy_nl4_is_read_only_when_named(tmp_path):
    data = make_dataset(with_truth=False, splits=("train",))
    path = tmp_path / "legacy.h5"
    write_legacy(path, data.X["train"].transpose(0, 2, 1), data.Y["train"][:, 0])
    with pytest.raises(ValueError, match=r"no 'format' attribute.*layout='NL4'"):
        load_dataset(path)
    loaded = load_dataset(path, layout="NL4")
    np.testing.assert_array_equal(loaded.X["train"], data.X["train"])
    assert loaded.Y["train"].shape == (5, 1)
    assert loaded.task_names == ["task_0"]
    assert loaded.attrs["source_layout"] == "NL4"
    with pytest.raises(ValueError, match=r"layout='NL14' means \(N, L, 1, 4\).*'NL4'"):
        load_dataset(path, layout="NL14")


def test_legacy_nl14(tmp_path):
    data = make_dataset(with_truth=False, splits=("train",))
    path = tmp_path / "legacy14.h5"
    write_legacy(path, data.X["train"].transpose(0, 2, 1)[:, :, None, :], data.Y["train"])
    loaded = load_dataset(path, layout="NL14")
    np.testing.assert_array_equal(loaded.X["train"], data.X["train"])
    with pytest.raises(ValueError, match=r"shape \(5, 12, 1, 4\).*\(N, L, 4\)"):
        load_dataset(path, layout="NL4")


def test_named_legacy_layout_on_a_cislens_file_is_an_error(tmp_path):
    path = save_dataset(tmp_path / "data.h5", make_dataset())
    with pytest.raises(ValueError, match=r"layout='NL4' was named.*pass layout='N4L'"):
        load_dataset(path, layout="NL4")
    with pytest.raises(ValueError, match=r"layout must be one of"):
        load_dataset(path, layout="NLC")


def test_not_a_dataset(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as handle:
        handle["weights"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"not a cislens-dataset file"):
        load_dataset(other)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"is not an HDF5 file"):
        load_dataset(text)


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "data.h5"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset(missing)


def test_newer_format_version_is_refused(tmp_path):
    path = save_dataset(tmp_path / "data.h5", make_dataset())
    with h5py.File(path, "a") as handle:
        handle.attrs["format_version"] = 99
    with pytest.raises(ValueError, match=r"format_version 99.*Upgrade cislens"):
        load_dataset(path)


def test_corrupted_shapes_are_reported(tmp_path):
    path = save_dataset(tmp_path / "data.h5", make_dataset())
    with h5py.File(path, "a") as handle:
        del handle["Y_valid"]
        handle["Y_valid"] = np.zeros((2, 2), dtype=np.float32)  # 2 rows for 3 sequences
    with pytest.raises(ValueError, match=r"Y_valid has shape \(2, 2\).*N = 3"):
        load_dataset(path)
    with h5py.File(path, "a") as handle:
        del handle["Y_valid"]
        handle["Y_valid"] = np.zeros((3, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"invalid dataset.*5 columns but task_names has 2"):
        load_dataset(path)
    with h5py.File(path, "a") as handle:
        del handle["X_test"]
        handle["X_test"] = np.zeros((4, 4, L + 1), dtype=np.int8)
    with pytest.raises(ValueError, match=r"X\['test'\] must have length L=12"):
        load_dataset(path, splits=["train", "test"])


def test_validate_dataset_errors():
    data = make_dataset()
    data.X["valid"] = data.X["valid"] * 2
    with pytest.raises(ValueError, match=r"X\['valid'\] must contain only 0 and 1"):
        validate_dataset(data)

    data = make_dataset()
    data.Y["train"][1, 0] = np.nan
    with pytest.raises(ValueError, match=r"Y\['train'\] must be finite; row 1"):
        validate_dataset(data)

    data = make_dataset()
    data.X["val"] = data.X.pop("valid")
    data.Y["val"] = data.Y.pop("valid")
    with pytest.raises(ValueError, match=r"split names must be among.*'val'"):
        validate_dataset(data)

    data = make_dataset()
    data.ground_truth.instances.loc[1, "end"] = L + 3
    with pytest.raises(ValueError, match=r"row 1 is invalid: end must be <= L = 12"):
        validate_dataset(data)

    data = make_dataset()
    data.ground_truth.instances = data.ground_truth.instances.drop(columns="relevant_tf_b")
    with pytest.raises(ValueError, match=r"lacks the columns \['relevant_tf_b'\]"):
        validate_dataset(data)

    data = make_dataset()
    data.ground_truth.instances.loc[0, "motif"] = "CTCF"
    with pytest.raises(ValueError, match=r"motif must be a key of ground_truth\.motifs"):
        validate_dataset(data)

    data = make_dataset()
    data.attrs["format"] = "mine"
    with pytest.raises(ValueError, match=r"must not set \['format'\]"):
        save_dataset("unused.h5", data)


def test_failed_save_leaves_no_file(tmp_path):
    data = make_dataset()
    data.attrs["bad"] = object()
    with pytest.raises(TypeError, match=r"Dataset.attrs\['bad'\] must be JSON-serialisable"):
        save_dataset(tmp_path / "data.h5", data)
    assert list(tmp_path.iterdir()) == []
