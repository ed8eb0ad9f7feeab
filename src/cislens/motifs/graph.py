"""Clustering the seqlets of one metacluster: a sparse similarity graph, Leiden, assignment.

For the graph sample (the first ``max_seqlets_per_metacluster`` seqlets given): coarse gapped
k-mer neighbours, continuous Jaccard over alignments for those pairs only (a sparse
k-nearest-neighbour graph; memory O(n k)), density-adaptive affinities and Leiden
(:func:`cislens.motifs.clustering.leiden_clusters`). Seqlets beyond the sample take the cluster
of their most similar graph seqlet (:func:`cislens.motifs.assign.assign_to_clusters`).
"""

from __future__ import annotations

import logging
import time

import numpy as np
from tqdm.auto import tqdm

from cislens.motifs.affinity import (
    cosine_neighbors,
    gapped_kmer_embedding,
    pairwise_jaccard,
)
from cislens.motifs.assign import assign_to_clusters
from cislens.motifs.clustering import leiden_clusters
from cislens.motifs.density import density_adapted_affinity
from cislens.motifs.memory import release_free_memory
from cislens.utils.random import check_random_state

logger = logging.getLogger(__name__)


def fine_graph(data, neighbors, *, min_overlap, revcomp, verbose=False, desc="similarities"):
    """(n, k) fine similarities of each row of ``data`` to its ``neighbors`` (n, k), each
    unordered pair computed once (:func:`cislens.motifs.affinity.pairwise_jaccard`)."""
    n, k = neighbors.shape
    rows = np.repeat(np.arange(n), k)
    cols = neighbors.ravel()
    # The similarity is symmetric: compute each unordered pair once.
    keys, inverse = np.unique(
        np.minimum(rows, cols) * n + np.maximum(rows, cols), return_inverse=True
    )
    first, second = keys // n, keys % n
    sims = np.empty(keys.size, dtype=np.float32)
    step = 50_000
    for lo in tqdm(range(0, keys.size, step), disable=not verbose, desc=desc, leave=False):
        sims[lo : lo + step] = pairwise_jaccard(
            data,
            first[lo : lo + step],
            second[lo : lo + step],
            min_overlap=min_overlap,
            revcomp=revcomp,
        )[0]
    return sims[inverse].reshape(n, k)


def embedding_inputs(onehot: np.ndarray, contrib: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the gapped k-mer embedding reads of (n, 4, W) seqlet windows, in less memory.

    Returns ``(bases, per_position)``: an int8 one-hot (n, 4, W) with a 1 at the most likely
    base (the first maximum) of each position whose largest entry is positive and zeros
    elsewhere, and the per-position contribution sums ``contrib.sum(axis=1)`` as (n, 1, W)
    float32. :func:`~cislens.motifs.affinity.gapped_kmer_embedding` (and so
    :func:`cluster_seqlets`) gives exactly the same result for them as for ``(onehot,
    contrib)``: it reads only which positions are known, their most likely base and the
    per-position sums. They take a quarter of the two float32 windows' memory.

    Examples
    --------
    >>> onehot = np.array([[[1.0, 0, 0], [0, 0, 0], [0, 1.0, 0], [0, 0, 0]]], dtype=np.float32)
    >>> bases, per_position = embedding_inputs(onehot, onehot * 2)
    >>> bases[0].tolist(), per_position.tolist()
    ([[1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]], [[[2.0, 2.0, 0.0]]])
    """
    known = onehot.max(axis=1, keepdims=True) > 0
    bases = np.zeros(onehot.shape, dtype=np.int8)
    np.put_along_axis(bases, onehot.argmax(axis=1)[:, None], known.astype(np.int8), axis=1)
    per_position = contrib.sum(axis=1, keepdims=True).astype(np.float32, copy=False)
    return bases, per_position


def cluster_seqlets(
    onehot, contrib, data, sign, p, rng, verbose=False, label="seqlets", clock=None
) -> np.ndarray:
    """Cluster labels of seqlets (n, 4, W), strongest first, of one metacluster.

    ``contrib`` is ``onehot * hypothetical`` and ``data`` the (n, 8, W)
    :func:`~cislens.motifs.affinity.l1_tracks`; ``onehot`` and ``contrib`` may be the compact
    :func:`embedding_inputs` (the same labels, in less memory). The graph sample (the first
    ``p.max_seqlets_per_metacluster``) is clustered by the coarse + fine graph and Leiden, the
    rest by :func:`cislens.motifs.assign.assign_to_clusters`. ``clock`` (a dict) accumulates
    the CPU seconds of the stages ``graph``, ``leiden`` and ``assign``.

    Examples
    --------
    >>> from cislens.motifs.affinity import l1_tracks
    >>> from cislens.motifs.params import DiscoveryParams
    >>> rng = np.random.default_rng(0)
    >>> kinds = np.tile([0, 1], 30)  # two motifs; the last 20 seqlets are assigned
    >>> motifs = rng.integers(0, 4, (2, 15))
    >>> onehot = np.eye(4, dtype=np.float32)[motifs[kinds]].transpose(0, 2, 1)
    >>> contrib = onehot * rng.uniform(0.5, 1, (60, 1, 15)).astype(np.float32)
    >>> p = DiscoveryParams(max_seqlets_per_metacluster=40, n_neighbors=10, perplexity=5)
    >>> labels = cluster_seqlets(onehot, contrib, l1_tracks(contrib, contrib), 1, p, 0)
    >>> len(set(zip(labels, kinds))) == len(set(labels))  # no cluster mixes the motifs
    True
    """
    clock = {} if clock is None else clock
    start = time.process_time()
    n_graph = min(onehot.shape[0], p.max_seqlets_per_metacluster)

    def graph_embedding():
        return gapped_kmer_embedding(
            onehot[:n_graph],
            contrib[:n_graph],
            sign=sign,
            revcomp=p.revcomp,
            return_vocabulary=True,
        )

    embedding, _ = graph_embedding()
    neighbors, _ = cosine_neighbors(
        embedding, embedding.T.tocsr(), n_neighbors=p.n_neighbors, exclude_self=True
    )
    del embedding
    release_free_memory()
    sims = fine_graph(
        data[:n_graph],
        neighbors,
        min_overlap=p.min_overlap,
        revcomp=p.revcomp,
        verbose=verbose,
        desc=f"{label}: similarities",
    )
    middle = time.process_time()
    logger.info("%s: similarity graph of %d seqlets", label, n_graph)
    release_free_memory()
    affinity = density_adapted_affinity(neighbors, sims, perplexity=p.perplexity)
    del neighbors, sims
    release_free_memory()
    labels = leiden_clusters(
        affinity,
        n_runs=p.n_leiden_runs,
        random_state=check_random_state(rng),
        verbose=verbose,
    )
    del affinity
    release_free_memory()
    end = time.process_time()
    logger.info("%s: %d Leiden clusters", label, int(labels.max()) + 1 if labels.size else 0)
    if n_graph < onehot.shape[0]:
        logger.info("%s: %d seqlets beyond the graph sample", label, onehot.shape[0] - n_graph)
        # Made again (the same embedding) rather than held through Leiden: memory, not time.
        embedding, vocabulary = graph_embedding()
        graph_t = embedding.T.tocsr()
        del embedding
        release_free_memory()
        rest, _ = assign_to_clusters(
            onehot[n_graph:],
            contrib[n_graph:],
            data[n_graph:],
            data[:n_graph],
            graph_t,
            vocabulary,
            labels,
            sign=sign,
            n_neighbors=min(p.assign_neighbors, n_graph),
            min_overlap=p.min_overlap,
            revcomp=p.revcomp,
            transposed=True,
        )
        del graph_t
        labels = np.concatenate([labels, rest])
    for stage, seconds in (
        ("graph", middle - start),
        ("leiden", end - middle),
        ("assign", time.process_time() - end),
    ):
        clock[stage] = clock.get(stage, 0.0) + seconds
    return labels


__all__ = ["cluster_seqlets", "embedding_inputs", "fine_graph"]
