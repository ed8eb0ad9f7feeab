"""Discovery from array-likes read in chunks (Zarr, h5py) and the kept-window source."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cislens.motifs import discover_motifs, extract_seqlets
from cislens.motifs.aggregate import SeqletSource
from cislens.motifs.significance import permuted_source
from cislens.motifs.source import RowSource, WindowSource, merged_segments

zarr = pytest.importorskip("zarr")

FAST = {"n_leiden_runs": 3, "n_neighbors": 60}


def planted(n, length, seed):
    """Random sequences, one of two motifs each (either strand), scores = motif + noise."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, length))
    hyp = rng.normal(0, 0.05, (n, 4, length)).astype(np.float32)
    for i in range(n):
        site = np.array(["ACGT".index(c) for c in ("GATTACAGGC", "CCGTTAACTT")[i % 2]])
        if rng.random() < 0.5:
            site = 3 - site[::-1]
        start = int(rng.integers(15, length - 15 - len(site)))
        tokens[i, start : start + len(site)] = site
        hyp[i, :, start : start + len(site)] -= 0.3
        hyp[i, site, np.arange(start, start + len(site))] += 1.3
    return np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy(), hyp


def _zarr(values, chunks):
    store = zarr.create_array(
        store=zarr.storage.MemoryStore(), shape=values.shape, chunks=chunks, dtype=values.dtype
    )
    store[:] = values
    return store


def test_merged_segments_cover_and_are_disjoint():
    rng = np.random.default_rng(0)
    example = rng.integers(0, 5, 40)
    start = rng.integers(0, 90, 40)
    end = start + 7
    seg_example, lo, hi = merged_segments(example, start, end, 4, 100)
    key = seg_example * 1000 + lo
    assert (np.diff(key) > 0).all()
    for e in np.unique(seg_example):  # disjoint, not touching within an example
        rows = seg_example == e
        assert (lo[rows][1:] > hi[rows][:-1]).all()
    for e, s, t in zip(example, start, end, strict=True):  # every padded seqlet is inside one
        inside = (seg_example == e) & (lo <= max(s - 4, 0)) & (hi >= min(t + 4, 100))
        assert inside.sum() == 1
    # covered positions are exactly the union of the padded intervals
    covered = np.zeros((5, 100), dtype=bool)
    for e, s, t in zip(example, start, end, strict=True):
        covered[e, max(s - 4, 0) : min(t + 4, 100)] = True
    kept = np.zeros_like(covered)
    for e, a, b in zip(seg_example, lo, hi, strict=True):
        kept[e, a:b] = True
    assert (covered == kept).all()


@pytest.mark.parametrize("backend", ["zarr", "h5py"])
def test_window_source_equals_full_arrays_including_fallback(backend, tmp_path):
    rng = np.random.default_rng(1)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (6, 50))].transpose(0, 2, 1).copy()
    H = rng.normal(size=X.shape).astype(np.float32)
    table = pd.DataFrame(
        {"example": [0, 2, 2, 5], "start": [3, 10, 30, 40], "end": [9, 16, 36, 46]}
    )
    full = SeqletSource(X, H)
    if backend == "zarr":
        X_like, H_like = _zarr(X, (2, 4, 50)), _zarr(H, (2, 4, 50))
    else:
        import h5py

        handle = h5py.File(tmp_path / "a.h5", "w")
        X_like, H_like = handle.create_dataset("X", data=X), handle.create_dataset("H", data=H)
    kept = WindowSource.from_chunks(X_like, H_like, table, pad=3, chunk_size=4)
    assert kept.X.shape[1] < X.shape[0] * X.shape[2]  # only stretches are held
    example = rng.choice([0, 2, 5, 1], 200)  # example 1 holds no seqlet: always a fallback
    gstart = rng.integers(-15, 55, 200)
    rc = rng.random(200) < 0.5
    for width in (1, 8, 20):
        want = full.windows(example, gstart, rc, width)
        got = kept.windows(example, gstart, rc, width)
        for a, b in zip(want, got, strict=True):
            np.testing.assert_array_equal(a, b)
    assert kept.n_fallback > 0
    rows = RowSource(X_like, H_like)
    want, got = full.windows(example, gstart, rc, 8), rows.windows(example, gstart, rc, 8)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_permuted_source_permutes_inside_seqlets_only():
    rng = np.random.default_rng(2)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 40))].transpose(0, 2, 1).copy()
    H = rng.normal(size=X.shape).astype(np.float32)
    table = pd.DataFrame({"example": [1, 1], "start": [5, 9], "end": [15, 19]})
    null, _ = permuted_source(SeqletSource(X, H), table, random_state=0, pad=30)
    onehot, hyp, _ = null.windows(np.array([1]), np.array([0]), np.array([False]), 40)
    outside = np.r_[0:5, 19:40]
    np.testing.assert_array_equal(hyp[0][:, outside], H[1][:, outside])
    # inside: the same columns (one-hot and hypothetical together), in another order
    inside = np.r_[5:19]
    got = sorted(map(tuple, np.vstack([onehot[0], hyp[0]])[:, inside].T))
    want = sorted(map(tuple, np.vstack([X[1], H[1]])[:, inside].T))
    assert got == want and not np.array_equal(hyp[0][:, inside], H[1][:, inside])


SETTINGS = {"n_leiden_runs": 3, "random_state": 0}  # what the CLI test passes


@pytest.fixture(scope="module")
def small_planted():
    X, H = planted(160, 90, 3)
    return X, H, discover_motifs(X, H, **SETTINGS)


def _assert_same_patterns(got, want):
    assert [p.name for p in got.patterns] == [p.name for p in want.patterns]
    for a, b in zip(got.patterns, want.patterns, strict=True):
        for name in ("sequence", "contrib", "hypothetical"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-6, atol=1e-7)
        pd.testing.assert_frame_equal(
            a.seqlets.reset_index(drop=True), b.seqlets.reset_index(drop=True), check_dtype=False
        )


def test_extract_seqlets_accepts_a_per_position_score_array(small_planted):
    X, H, _ = small_planted
    a = extract_seqlets(X * H, random_state=0).table
    b = extract_seqlets((X * H).astype(np.float64).sum(axis=1), random_state=0).table
    pd.testing.assert_frame_equal(a, b)


def test_discovery_from_zarr_equals_numpy(small_planted):
    X, H, want = small_planted
    assert len(want.patterns) == 2
    got = discover_motifs(_zarr(X, (32, 4, 90)), _zarr(H, (32, 4, 90)), chunk_size=50, **SETTINGS)
    _assert_same_patterns(got, want)
    for a, b in zip(got.patterns, want.patterns, strict=True):
        assert a.stats["p_value"] == pytest.approx(b.stats["p_value"], rel=1e-9)
    pd.testing.assert_frame_equal(got.seqlets, want.seqlets)


def test_cli_reads_a_zarr_store(small_planted, tmp_path):
    import cislens.cli.motifs  # noqa: F401  (registers the command)
    from cislens.cli import main
    from cislens.motifs import load_motifs

    X, H, want = small_planted
    group = zarr.open_group(str(tmp_path / "attr.zarr"), mode="w")
    for name, values in (
        ("sequences", X.astype(np.int8)),
        ("hypothetical", H),
        ("attributions", X * H),
    ):
        group.create_array(name, shape=values.shape, chunks=(64, 4, 90), dtype=values.dtype)[:] = (
            values
        )
    out = tmp_path / "motifs"
    args = ["motifs", "--attributions", str(tmp_path / "attr.zarr"), "--out", str(out)]
    assert main([*args, "--no-annotate", "--n-leiden-runs", "3"]) == 0
    _assert_same_patterns(load_motifs(out / "motifs.h5"), want)
    assert (out / "modisco.h5").exists()
    marks = group.create_array("completed", shape=(3,), chunks=(1,), dtype="uint8")
    marks[:] = np.array([1, 0, 1], dtype=np.uint8)
    assert main([*args, "--no-annotate"]) == 2  # an unfinished store is refused


def test_discovery_rejects_a_non_array(small_planted):
    X, H, _ = small_planted
    with pytest.raises(ValueError, match=r"array-like with \.shape"):
        discover_motifs(X, _zarr(H[:, :3], (32, 3, 90)), random_state=0)
