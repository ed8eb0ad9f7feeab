"""The memory-saving forms of discovery's window reads, tracks and clustering inputs are exact:
the same values as the plain formulas, the same embedding, the same cluster labels."""

import numpy as np
import pytest

from cislens.motifs.affinity import gapped_kmer_embedding, l1_tracks
from cislens.motifs.aggregate import SeqletSource
from cislens.motifs.graph import cluster_seqlets, embedding_inputs
from cislens.motifs.params import DiscoveryParams
from cislens.motifs.source import WindowSource, merged_segments


def _plain_l1(hyp, contrib):
    """The textbook form: normalised copies, concatenated, then rounded to float32."""

    def norm(values):
        total = np.abs(values).sum(axis=(1, 2), keepdims=True)
        return values / np.where(total > 0, total, 1.0)

    return np.concatenate([norm(hyp), norm(contrib)], axis=1).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_l1_tracks_in_place_equals_the_plain_formula(dtype):
    rng = np.random.default_rng(0)
    hyp = rng.normal(size=(40, 4, 13)).astype(dtype)
    contrib = hyp * (rng.random(hyp.shape) < 0.3)
    contrib[5] = 0.0  # an all-zero row keeps its zeros (no division by zero)
    got = l1_tracks(hyp, contrib)
    assert got.dtype == np.float32 and got.shape == (40, 8, 13)
    np.testing.assert_array_equal(got, _plain_l1(hyp, contrib))
    np.testing.assert_allclose(np.abs(got[:, :4]).sum(axis=(1, 2)), 1.0, rtol=1e-5)
    assert not got[5, 4:].any()


def _reference_windows(X, H, example, start, rc, width):
    """Window by window: positions outside the sequence are zero, rc rows reverse-complemented."""
    n, length = len(example), X.shape[2]
    onehot = np.zeros((n, 4, width), dtype=np.float32)
    hyp = np.zeros_like(onehot)
    for i in range(n):
        for j in range(width):
            pos = start[i] + j
            if 0 <= pos < length:
                onehot[i, :, j], hyp[i, :, j] = X[example[i], :, pos], H[example[i], :, pos]
        if rc[i]:
            onehot[i], hyp[i] = onehot[i, ::-1, ::-1], hyp[i, ::-1, ::-1]
    return onehot, hyp


@pytest.mark.parametrize("flips", ["none", "some"])
@pytest.mark.parametrize("inside", [True, False])
def test_windows_equal_the_window_by_window_reference(flips, inside):
    rng = np.random.default_rng(1)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (6, 50))].transpose(0, 2, 1).copy()
    H = rng.normal(size=X.shape).astype(np.float32)
    example = rng.integers(0, 6, 30)
    start = rng.integers(0, 40, 30) if inside else rng.integers(-8, 48, 30)
    rc = rng.random(30) < 0.5 if flips == "some" else np.zeros(30, dtype=bool)
    expected = _reference_windows(X, H, example, start, rc, 10)
    full = SeqletSource(X, H)
    ex, lo, hi = merged_segments(example, start, start + 10, 3, 50)
    offsets = np.concatenate([[0], np.cumsum(hi - lo)])
    segments = list(zip(ex, lo, hi, strict=True))
    kept = [np.concatenate([A[e, :, a:b] for e, a, b in segments], axis=1) for A in (X, H)]
    window = WindowSource(50, ex, lo, hi, *kept, fallback=full)
    assert offsets[-1] == kept[0].shape[1]
    for source in (full, window):
        onehot, hyp, mask = source.windows(example, start, rc, 10)
        assert onehot.dtype == hyp.dtype == np.float32
        np.testing.assert_array_equal(onehot, expected[0])
        np.testing.assert_array_equal(hyp, expected[1])
        assert mask.all() == inside
        onehot[:] = -1.0  # a new array each time, never a view of the source's values
        assert not (X == -1.0).any() and not (window.X == -1.0).any()


def _windows(seed=0, n=120, width=21):
    rng = np.random.default_rng(seed)
    motifs = rng.integers(0, 4, (2, 8))
    tokens = rng.integers(0, 4, (n, width))
    hyp = rng.normal(0, 0.05, (n, 4, width)).astype(np.float32)
    for i in range(n):
        site, at = motifs[i % 2], int(rng.integers(2, width - 10))
        tokens[i, at : at + 8] = site
        hyp[i, site, np.arange(at, at + 8)] += 1.0
    onehot = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()
    onehot[:3, :, :4] = 0.0  # unknown bases (N): all-zero columns
    return onehot, onehot * hyp, hyp


def test_compact_inputs_give_the_same_embedding_and_labels():
    onehot, contrib, hyp = _windows()
    bases, per_position = embedding_inputs(onehot, contrib)
    assert bases.dtype == np.int8 and per_position.shape == (120, 1, 21)
    assert bases.nbytes + per_position.nbytes == (onehot.nbytes + contrib.nbytes) // 4
    for sign in (1, -1):
        full = gapped_kmer_embedding(onehot, contrib, sign=sign)
        compact = gapped_kmer_embedding(bases, per_position, sign=sign)
        assert (full != compact).nnz == 0 and full.shape == compact.shape
    data = l1_tracks(hyp, contrib)
    # max 80 < 120: the last 40 seqlets go through the assignment, which embeds them too
    p = DiscoveryParams(max_seqlets_per_metacluster=80, n_neighbors=20, perplexity=5)
    labels = cluster_seqlets(onehot, contrib, data, 1, p, 0)
    np.testing.assert_array_equal(cluster_seqlets(bases, per_position, data, 1, p, 0), labels)
    assert len(set(zip(labels, np.arange(120) % 2, strict=True))) == len(set(labels))


def _plain_density_affinity(neighbors, similarities, perplexity, min_affinity=1e-4):
    """Sparse-matrix arithmetic spelled out: mean of both directions, row-wise conditional
    probabilities, geometric mean with the transpose, small values dropped."""
    import scipy.sparse as sp

    from cislens.motifs.density import _all_betas, similarity_to_distance

    n, k = neighbors.shape
    rows, cols = np.repeat(np.arange(n), k), neighbors.ravel()
    valid = (cols >= 0) & (cols != rows)
    d = similarity_to_distance(similarities.ravel()[valid]) + 1e-9
    forward = sp.csr_matrix((d, (rows[valid], cols[valid])), shape=(n, n))
    forward.sum_duplicates()
    present = sp.csr_matrix((np.ones(forward.nnz), forward.indices, forward.indptr), (n, n))
    symmetric = (forward + forward.T).multiply((present + present.T).power(-1)).tocsr()
    symmetric.sort_indices()
    betas = np.zeros(n)
    _all_betas(symmetric.indptr, symmetric.data, np.log(perplexity), 1e-5, 100, betas)
    rows = np.repeat(np.arange(n), np.diff(symmetric.indptr))
    row_min = np.zeros(n)
    filled = np.diff(symmetric.indptr) > 0
    row_min[filled] = np.minimum.reduceat(symmetric.data, symmetric.indptr[:-1][filled])
    weights = np.exp(-(symmetric.data - row_min[rows]) * betas[rows])
    totals = np.bincount(rows, weights=weights, minlength=n)
    conditional = sp.csr_matrix((weights / totals[rows], symmetric.indices, symmetric.indptr))
    affinity = conditional.multiply(conditional.T).sqrt().tocsr()
    affinity.data[affinity.data < min_affinity] = 0.0
    affinity.eliminate_zeros()
    return affinity


@pytest.mark.parametrize("n, k, holes", [(40, 8, False), (400, 30, True)])
def test_density_affinity_equals_the_plain_sparse_arithmetic(n, k, holes):
    from cislens.motifs.density import density_adapted_affinity

    rng = np.random.default_rng(n)
    neighbors = np.stack([rng.choice(n - 1, k, replace=False) for _ in range(n)])
    neighbors += neighbors >= np.arange(n)[:, None]  # never itself
    if holes:
        neighbors[rng.random(neighbors.shape) < 0.1] = -1
    sims = rng.random((n, k)).astype(np.float32)
    sims[rng.random(sims.shape) < 0.05] = 0.0
    got = density_adapted_affinity(neighbors, sims, perplexity=5.0)
    expected = _plain_density_affinity(neighbors, sims, 5.0)
    expected.sort_indices()
    assert got.nnz > 2 * n  # a real graph, not an empty one
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)
    assert abs(got - got.T).max() == 0.0


def _rss_mib():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def test_release_free_memory_returns_freed_heap_pages():
    from cislens.motifs.memory import release_free_memory

    if _rss_mib() is None or not release_free_memory():
        pytest.skip("needs Linux /proc and glibc's malloc_trim")
    # 1,000 heap blocks of 96 KiB (below malloc's mmap threshold), all but the last freed: the
    # last one pins the top of the heap, so free() alone gives none of the pages back.
    blocks = [bytearray(96 * 1024) for _ in range(1000)]
    last = blocks.pop()
    before = _rss_mib()
    del blocks
    held = _rss_mib()
    release_free_memory()
    after = _rss_mib()
    assert before - held < 20 < held - after  # ~94 MiB freed, resident until trimmed
    assert len(last) == 96 * 1024
