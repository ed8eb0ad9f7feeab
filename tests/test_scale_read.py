"""The Zarr attribution reader (cislens.scale.read): an AttributionSet whose arrays stay lazy."""

import numpy as np
import pytest

from cislens.io import AttributionSet

zarr = pytest.importorskip("zarr")


def _store(path, *, hypothetical=True, record=True, completed=None):
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.int8)[rng.integers(0, 4, (6, 12))].transpose(0, 2, 1)
    H = rng.normal(size=X.shape).astype(np.float32)
    group = zarr.open_group(str(path), mode="w")
    arrays = {"sequences": X, "attributions": H * X, "example_index": np.arange(10, 16)}
    if hypothetical:
        arrays["hypothetical"] = H
    for name, values in arrays.items():
        chunks = (4, *values.shape[1:])
        group.create_array(name, shape=values.shape, chunks=chunks, dtype=values.dtype)[:] = values
    if completed is not None:
        marks = group.create_array("completed", shape=(2,), chunks=(1,), dtype="uint8")
        marks[:] = np.asarray(completed, dtype=np.uint8)
    if record:
        group.attrs["cislens"] = {"method": "deeplift_shap", "target": 1, "random_state": 3}
    return X, H


def test_reads_an_attribution_set_with_lazy_arrays(tmp_path):
    from cislens.scale.read import load_zarr_attributions

    X, H = _store(tmp_path / "a.zarr")
    result = load_zarr_attributions(tmp_path / "a.zarr")
    assert isinstance(result, AttributionSet)
    assert isinstance(result.X, zarr.Array) and isinstance(result.hypothetical, zarr.Array)
    assert (result.method, result.target, result.random_state) == ("deeplift_shap", 1, 3)
    assert result.n_examples == 6 and result.length == 12
    np.testing.assert_array_equal(result.X[2:5], X[2:5])
    np.testing.assert_array_equal(result.attributions[:], H * X)
    np.testing.assert_array_equal(result.example_index, np.arange(10, 16))


def test_refuses_unfinished_stores_and_motifs_need_hypothetical_scores(tmp_path):
    from cislens.motifs.source import open_zarr_attributions
    from cislens.scale.read import load_zarr_attributions

    _store(tmp_path / "u.zarr", completed=[1, 0])
    with pytest.raises(ValueError, match="1 of 2 row blocks are not written"):
        load_zarr_attributions(tmp_path / "u.zarr")
    _store(tmp_path / "p.zarr", hypothetical=False, record=False)
    plain = load_zarr_attributions(tmp_path / "p.zarr")
    assert plain.method == "zarr" and plain.hypothetical is None
    with pytest.raises(ValueError, match="no array 'hypothetical'"):
        open_zarr_attributions(tmp_path / "p.zarr")
