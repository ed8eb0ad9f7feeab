"""Seqlets beyond the graph sample: shared k-mer columns, neighbours among the graph seqlets,
assignment to the cluster of the most similar one, and discovery that drops none of them."""

import numpy as np
import pytest
from testkit import FAST, MOTIFS, planted

from cislens.motifs import discover_motifs
from cislens.motifs.affinity import (
    coarse_neighbors,
    gapped_kmer_embedding,
    l1_tracks,
    pairwise_jaccard,
)
from cislens.motifs.assign import assign_to_clusters
from cislens.motifs.graph import cluster_seqlets
from cislens.motifs.params import DiscoveryParams
from cislens.motifs.seqlets import call_seqlets, extract_seqlets, null_window_sample, window_sums


def _seqlets(n=90, width=25, seed=0):
    """Seqlet windows of three random 10-mers at random offsets on random strands, noisy."""
    rng = np.random.default_rng(seed)
    motifs = rng.integers(0, 4, (3, 10))
    kinds = rng.integers(0, 3, n)
    tokens = rng.integers(0, 4, (n, width))
    hyp = rng.normal(0, 0.05, (n, 4, width)).astype(np.float32)
    for i, kind in enumerate(kinds):
        site = motifs[kind] if rng.random() < 0.5 else 3 - motifs[kind][::-1]
        start = int(rng.integers(3, width - 13))
        tokens[i, start : start + 10] = site
        hyp[i, site, np.arange(start, start + 10)] += 1.0
    onehot = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()
    return onehot, hyp, kinds


def test_embedding_in_a_given_vocabulary_gives_the_joint_cosines():
    onehot, hyp, _ = _seqlets()
    contrib = onehot * hyp
    joint = gapped_kmer_embedding(onehot, contrib)
    graph, vocabulary = gapped_kmer_embedding(onehot[:50], contrib[:50], return_vocabulary=True)
    assert np.array_equal(vocabulary, np.unique(vocabulary)) and graph.shape[1] == vocabulary.size
    rest = gapped_kmer_embedding(onehot[50:], contrib[50:], vocabulary=vocabulary)
    # Keys the graph lacks are dropped, but the rows keep their own norm: the same cosines.
    np.testing.assert_allclose(
        (rest @ graph.T).toarray(), (joint[50:] @ joint[:50].T).toarray(), atol=1e-6
    )
    assert not np.allclose(np.asarray(rest.multiply(rest).sum(axis=1)).ravel(), 1.0)


@pytest.mark.parametrize("chunk_size", [1, 7, 512])
def test_neighbours_among_a_reference_are_the_brute_force_ones(chunk_size):
    onehot, hyp, _ = _seqlets()
    emb, vocabulary = gapped_kmer_embedding(
        onehot[:60], (onehot * hyp)[:60], return_vocabulary=True
    )
    query = gapped_kmer_embedding(onehot[60:], (onehot * hyp)[60:], vocabulary=vocabulary)
    idx, sims = coarse_neighbors(query, n_neighbors=5, reference=emb, chunk_size=chunk_size)
    dense = (query @ emb.T).toarray()
    assert idx.shape == (30, 5) and np.all(np.diff(sims, axis=1) <= 0)
    np.testing.assert_allclose(sims, -np.sort(-dense, axis=1)[:, :5], atol=1e-6)
    np.testing.assert_allclose(np.take_along_axis(dense, idx, axis=1), sims, atol=1e-6)
    with pytest.raises(ValueError, match="same vocabulary"):
        coarse_neighbors(query[:, :3], reference=emb)


def test_assignment_is_the_label_of_the_most_similar_graph_seqlet_for_any_chunk_size():
    onehot, hyp, kinds = _seqlets()
    contrib = onehot * hyp
    tracks = l1_tracks(hyp, contrib)
    emb, vocabulary = gapped_kmer_embedding(onehot[:60], contrib[:60], return_vocabulary=True)
    graph_labels = kinds[:60] * 10 + 3  # any labels: they are copied, not renumbered
    runs = [
        assign_to_clusters(
            onehot[60:],
            contrib[60:],
            tracks[60:],
            tracks[:60],
            emb,
            vocabulary,
            graph_labels,
            n_neighbors=60,
            chunk_size=chunk_size,
        )
        for chunk_size in (1, 4, 1000)
    ]
    for labels, sims in runs[1:]:
        assert np.array_equal(labels, runs[0][0]) and np.array_equal(sims, runs[0][1])
    labels, sims = runs[0]
    # With every graph seqlet a candidate, it is the exact nearest one by fine similarity.
    rows = np.repeat(np.arange(60, 90), 60)
    cols = np.tile(np.arange(60), 30)
    brute = pairwise_jaccard(tracks, rows, cols)[0].reshape(30, 60)
    np.testing.assert_allclose(sims, brute.max(axis=1), atol=1e-6)
    assert np.array_equal(labels, graph_labels[brute.argmax(axis=1)])
    assert np.array_equal(labels, kinds[60:] * 10 + 3)  # the planted kinds are recovered


def test_cluster_seqlets_assigns_every_seqlet_beyond_the_sample():
    onehot, hyp, kinds = _seqlets(n=120, seed=1)
    p = DiscoveryParams(max_seqlets_per_metacluster=70, n_neighbors=20, perplexity=5)
    clock = {}
    contrib = onehot * hyp
    tracks = l1_tracks(hyp, contrib)
    labels = cluster_seqlets(onehot, contrib, tracks, 1, p, 0, clock=clock)
    assert labels.shape == (120,)
    assert set(clock) == {"graph", "leiden", "assign"} and clock["assign"] >= 0
    # The graph part equals clustering the sample alone (same seed): the rest changes nothing.
    alone = cluster_seqlets(onehot[:70], contrib[:70], tracks[:70], 1, p, 0)
    assert np.array_equal(labels[:70], alone)
    # Every cluster holds one planted kind, assigned seqlets included.
    assert len(set(zip(labels.tolist(), kinds.tolist(), strict=True))) == len(set(labels))


def test_discovery_with_a_small_graph_sample_keeps_every_seqlet():
    X, H, _ = planted(n=240)
    full = discover_motifs(X, H, random_state=0, **FAST)
    small = discover_motifs(X, H, random_state=0, max_seqlets_per_metacluster=100, **FAST)
    assert len(small.patterns) == len(full.patterns) == len(MOTIFS)
    table = small.seqlets
    graph = table.groupby("metacluster").head(100).index
    beyond = table.index.difference(graph)
    # Seqlets beyond the 100-seqlet graph sample end in patterns, as in the full graph.
    assert (
        (table.loc[beyond, "pattern"] != "").sum()
        >= 0.9 * (full.seqlets.loc[beyond, "pattern"] != "").sum()
        > 0
    )
    assert sum(p.n_seqlets for p in small.patterns) >= 0.95 * sum(
        p.n_seqlets for p in full.patterns
    )
    assert small.cpu_seconds["assign"] > 0 and full.cpu_seconds["assign"] < 0.05


def test_seqlet_calls_from_window_sums_with_the_null_drawn_first_are_extract_seqlets():
    rng = np.random.default_rng(3)
    scores = rng.laplace(0, 0.05, (40, 300))
    scores[:, 100:110] += rng.uniform(0, 1.5, (40, 1))
    expected = extract_seqlets(scores, window_size=11, flank=4, max_windows=2000, random_state=5)
    generator = np.random.default_rng(5)
    sample = null_window_sample(40 * 290, 2000, generator)  # drawn before the sums exist
    assert sample is not None and sample.size == 2000
    got = call_seqlets(
        window_sums(scores, 11, chunk=7),
        window_size=11,
        flank=4,
        max_windows=2000,
        random_state=generator,
        sample=sample,
    )
    assert got.table.equals(expected.table) and got.thresholds == expected.thresholds
    assert null_window_sample(100, 2000, generator) is None
