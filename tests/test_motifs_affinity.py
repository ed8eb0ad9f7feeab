"""Continuous Jaccard, alignment, gapped k-mer neighbours, density adaptation, Leiden."""

import numpy as np
import pytest
import scipy.sparse as sp

from cislens.motifs import continuous_jaccard
from cislens.motifs.affinity import (
    align_to_target,
    coarse_neighbors,
    gapped_kmer_embedding,
    l1_tracks,
    pairwise_jaccard,
    reverse_tracks,
)
from cislens.motifs.clustering import leiden_clusters
from cislens.motifs.density import conditional_probabilities, density_adapted_affinity

U = np.array([-1, -1, -2, 4, -1, -1, -1], dtype=float)


def test_worked_example_and_pearson_disagrees():
    spike = np.array([0, 0, 0, 4, 0, 0, 0], dtype=float)
    rest = np.array([-1, -1, -2, 0, -1, -1, -1], dtype=float)
    assert continuous_jaccard(U, spike) == pytest.approx(4 / 11)
    assert continuous_jaccard(U, rest) == pytest.approx(7 / 11)
    # Pearson ranks them the other way round (0.98 vs 0.87): why we do not use it.
    assert np.corrcoef(U, spike)[0, 1] == pytest.approx(0.98, abs=0.01)
    assert np.corrcoef(U, rest)[0, 1] == pytest.approx(0.87, abs=0.01)


def test_jaccard_properties():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 4, 9))
    assert continuous_jaccard(a, b) == pytest.approx(continuous_jaccard(b, a))
    assert continuous_jaccard(a, a) == pytest.approx(1.0)
    assert continuous_jaccard(a, -a) == pytest.approx(-1.0)
    assert continuous_jaccard(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        continuous_jaccard(a, b[:, :3])


def test_kernel_matches_reference_and_is_symmetric():
    rng = np.random.default_rng(1)
    data = l1_tracks(rng.normal(size=(5, 4, 12)), rng.normal(size=(5, 4, 12)))
    rows, cols = np.array([0, 1, 2, 3]), np.array([1, 0, 4, 2])
    at_zero, _, _ = pairwise_jaccard(data, rows, cols, min_overlap=1.0, revcomp=False)
    for p in range(4):
        assert at_zero[p] == pytest.approx(
            continuous_jaccard(data[rows[p]], data[cols[p]]), abs=1e-5
        )
    forward, _, _ = pairwise_jaccard(data, rows, cols)
    backward, _, _ = pairwise_jaccard(data, cols, rows)
    np.testing.assert_allclose(forward, backward, atol=1e-5)


def test_alignment_finds_offset_and_strand():
    rng = np.random.default_rng(2)
    motif = rng.normal(size=(8, 10)).astype(np.float32)
    target = np.zeros((8, 30), dtype=np.float32)
    target[:, 12:22] = motif
    shifted = np.zeros((2, 8, 16), dtype=np.float32)
    shifted[0, :, 3:13] = motif  # forward, motif at 3 -> offset 9
    shifted[1] = reverse_tracks(shifted[:1])[0]  # same, reverse-complemented
    sim, offset, rc = align_to_target(target, shifted, min_overlap=0.7)
    assert offset.tolist() == [9, 9] and rc.tolist() == [False, True]
    assert sim[0] == pytest.approx(sim[1]) and sim[0] > 0.99
    _, _, rc_off = align_to_target(target, shifted, min_overlap=0.7, revcomp=False)
    assert not rc_off.any()


def test_min_overlap_penalises_partial_matches():
    a = np.zeros((1, 4, 10), dtype=np.float32)
    a[0, 0, :5] = 1.0
    b = np.zeros((1, 4, 10), dtype=np.float32)
    b[0, 0, 5:] = 1.0
    data = np.concatenate([a, b])
    strict, _, _ = pairwise_jaccard(data, [0], [1], min_overlap=1.0, revcomp=False)
    loose, offset, _ = pairwise_jaccard(data, [0], [1], min_overlap=0.5, revcomp=False)
    assert strict[0] == 0.0 and loose[0] == pytest.approx(1.0) and offset[0] == -5


def test_gapped_kmer_neighbours_are_strand_invariant():
    rng = np.random.default_rng(3)
    motif = rng.integers(0, 4, 10)
    tokens = rng.integers(0, 4, (6, 20))
    tokens[:3, 5:15] = motif
    tokens[3:, 5:15] = rng.integers(0, 4, 10)
    X = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1)
    contrib = X * 0.01
    contrib[:, :, 5:15] *= 100
    X[2], contrib[2] = X[2, ::-1, ::-1], contrib[2, ::-1, ::-1]  # one copy on the - strand
    neighbors, sims = coarse_neighbors(gapped_kmer_embedding(X, contrib, top_n=10), n_neighbors=2)
    assert set(neighbors[0]) == {1, 2} and set(neighbors[2]) == {0, 1}
    assert sims[0, 0] > 0.99 and set(neighbors[3]) == {4, 5}


def test_density_adaptation_reaches_target_perplexity():
    rng = np.random.default_rng(4)
    distances = sp.csr_matrix(rng.random((20, 60)) * 4 + 0.01)
    probabilities = conditional_probabilities(distances, perplexity=7).toarray()
    entropy = -(probabilities * np.log2(np.where(probabilities > 0, probabilities, 1))).sum(1)
    np.testing.assert_allclose(2**entropy, 7.0, rtol=1e-3)
    np.testing.assert_allclose(probabilities.sum(1), 1.0)


def test_density_affinity_symmetric_and_leiden_separates_two_groups():
    rng = np.random.default_rng(5)
    n = 40
    group = np.arange(n) // 20
    sims = np.where(group[:, None] == group[None], 0.8, 0.05) + rng.normal(0, 0.02, (n, n))
    np.fill_diagonal(sims, -np.inf)
    neighbors = np.argsort(-sims, axis=1)[:, :25]
    affinity = density_adapted_affinity(
        neighbors, np.take_along_axis(sims, neighbors, 1), perplexity=15
    )
    assert abs(affinity - affinity.T).max() < 1e-12
    labels = leiden_clusters(affinity, n_runs=3, random_state=0)
    assert len(set(labels)) == 2
    assert (labels[:20] == labels[0]).all() and (labels[20:] == labels[20]).all()
    assert labels[0] != labels[20]


def _modularity(affinity, labels):
    """Newman modularity of a weighted undirected graph (weights on both triangles)."""
    A = affinity.toarray()
    degree = A.sum(1)
    same = labels[:, None] == labels[None]
    return float(((A - np.outer(degree, degree) / A.sum()) * same).sum() / A.sum())


def test_screened_leiden_recovers_planted_blocks_at_full_modularity():
    rng = np.random.default_rng(3)
    n_blocks, size = 6, 30
    group = np.repeat(np.arange(n_blocks), size)
    n = group.size
    dense = rng.random((n, n)) * np.where(group[:, None] == group[None], 1.0, 0.03)
    dense = np.triu(dense, 1)
    affinity = sp.csr_matrix(dense + dense.T)
    screened = leiden_clusters(affinity, n_runs=5, random_state=0)
    full = leiden_clusters(affinity, n_runs=5, screen_iterations=-1, random_state=0)
    # the planted blocks exactly (labels up to renaming)
    assert len(set(zip(screened.tolist(), group.tolist(), strict=True))) == n_blocks
    assert len(set(screened.tolist())) == n_blocks
    assert _modularity(affinity, screened) >= _modularity(affinity, full) - 1e-3


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_leiden_refuses_bad_screen_iterations(bad):
    affinity = sp.csr_matrix(np.ones((3, 3)) - np.eye(3))
    with pytest.raises(ValueError, match="screen_iterations"):
        leiden_clusters(affinity, screen_iterations=bad)
