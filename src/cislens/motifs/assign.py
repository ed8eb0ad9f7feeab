"""Seqlets beyond the graph sample: each joins the cluster of its most similar graph seqlet.

The similarity graph and Leiden clustering of :func:`cislens.motifs.discover_motifs` use at most
``max_seqlets_per_metacluster`` seqlets (a seeded random sample: a sample of the strongest alone
holds nearly no noise seqlets, and noise would then join motif clusters). Every further seqlet
is not dropped but assigned, with the same two similarity steps as the graph itself:

1. its gapped k-mer embedding, in the graph seqlets' k-mer columns
   (:func:`cislens.motifs.affinity.gapped_kmer_embedding` with their ``vocabulary``), gives its
   ``n_neighbors`` most cosine-similar graph seqlets;
2. the continuous Jaccard similarity over alignments (both strands) to each of them picks the
   most similar one, whose cluster label it takes (ties: the higher coarse rank).

Work and memory grow linearly with the further seqlets (``chunk_size`` of them at a time, each
compared with the graph seqlets), and a seqlet's label depends on itself and the graph only, so
it does not depend on ``chunk_size`` or on the other further seqlets.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cislens.motifs.affinity import cosine_neighbors, gapped_kmer_embedding, pairwise_jaccard
from cislens.utils.validation import check_positive_int


def assign_to_clusters(
    onehot: np.ndarray,
    contrib: np.ndarray,
    tracks: np.ndarray,
    graph_tracks: np.ndarray,
    graph_embedding: sp.csr_matrix,
    vocabulary: np.ndarray,
    graph_labels: np.ndarray,
    *,
    sign: int = 1,
    n_neighbors: int = 30,
    min_overlap: float = 0.7,
    revcomp: bool = True,
    chunk_size: int = 4096,
    transposed: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster labels of further seqlets: the label of each one's most similar graph seqlet.

    Parameters
    ----------
    onehot, contrib : arrays (m, 4, W)
        The further seqlets' one-hot windows and projected contributions.
    tracks : array (m, 8, W)
        Their :func:`cislens.motifs.affinity.l1_tracks`.
    graph_tracks : array (n, 8, W)
        The graph seqlets' tracks.
    graph_embedding : scipy.sparse.csr_matrix (n, n_kmers)
        The graph seqlets' gapped k-mer embedding, made with ``return_vocabulary=True`` and
        the default k-mer settings (the further seqlets are embedded with the same); or its
        transpose ``graph_embedding.T.tocsr()`` (n_kmers, n) with ``transposed=True``.
    vocabulary : array of int64
        Its k-mer keys (the second value returned with ``return_vocabulary=True``).
    graph_labels : array (n,) of int
        The graph seqlets' cluster labels.
    sign : int
        +1 or -1: the metacluster (which contributions make the k-mers).
    n_neighbors : int
        Coarse candidates per seqlet whose fine similarity is computed (default 30).
    min_overlap, revcomp : float, bool
        As for the graph (:func:`cislens.motifs.affinity.pairwise_jaccard`).
    chunk_size : int
        Further seqlets embedded and compared at a time (memory, not results).
    transposed : bool
        ``graph_embedding`` is given transposed (saves a copy when the caller has it).

    Returns
    -------
    (labels, similarity) : arrays (m,) of int64 and float32
        The label taken and the fine similarity to the graph seqlet it came from.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> motifs = rng.integers(0, 4, (2, 12))
    >>> def seqlets(kinds):
    ...     onehot = np.eye(4, dtype=np.float32)[motifs[kinds]].transpose(0, 2, 1)
    ...     return onehot, onehot * rng.uniform(0.5, 1.0, (len(kinds), 1, 12)).astype(np.float32)
    >>> from cislens.motifs.affinity import l1_tracks
    >>> g_onehot, g_contrib = seqlets([0, 0, 1, 1])
    >>> emb, vocab = gapped_kmer_embedding(g_onehot, g_contrib, return_vocabulary=True)
    >>> onehot, contrib = seqlets([1, 0])
    >>> labels, _ = assign_to_clusters(onehot, contrib, l1_tracks(contrib, contrib),
    ...     l1_tracks(g_contrib, g_contrib), emb, vocab, np.array([0, 0, 1, 1]), n_neighbors=4)
    >>> labels.tolist()
    [1, 0]
    """
    check_positive_int(n_neighbors, "n_neighbors")
    check_positive_int(chunk_size, "chunk_size")
    # CSR of the transpose, made once for all chunks (a CSR @ CSC product would convert it).
    graph_t = graph_embedding if transposed else graph_embedding.T.tocsr()
    m, n_graph = onehot.shape[0], graph_t.shape[1]
    graph_labels = np.asarray(graph_labels)
    if n_graph == 0 or graph_labels.shape != (n_graph,) or graph_tracks.shape[0] != n_graph:
        raise ValueError(
            f"graph_labels ({graph_labels.shape}) and graph_tracks ({graph_tracks.shape[0]} rows) "
            f"must have one entry per row of graph_embedding ({n_graph}, at least 1); pass the "
            "graph's own."
        )
    labels = np.empty(m, dtype=np.int64)
    similarity = np.empty(m, dtype=np.float32)
    for lo in range(0, m, chunk_size):
        hi = min(lo + chunk_size, m)
        embedding = gapped_kmer_embedding(
            onehot[lo:hi], contrib[lo:hi], sign=sign, revcomp=revcomp, vocabulary=vocabulary
        )
        if embedding.shape[1] != graph_t.shape[0]:
            raise ValueError(
                f"vocabulary ({embedding.shape[1]} k-mers) must be the graph embedding's "
                f"({graph_t.shape[0]} columns); pass the one returned with it."
            )
        candidates, _ = cosine_neighbors(embedding, graph_t, n_neighbors=n_neighbors)
        k = candidates.shape[1]
        # Graph tracks first, then this chunk's: one array for the pair kernel.
        both = np.concatenate([graph_tracks, tracks[lo:hi]])
        rows = np.repeat(n_graph + np.arange(hi - lo), k)
        sims = pairwise_jaccard(
            both, rows, candidates.ravel(), min_overlap=min_overlap, revcomp=revcomp
        )[0].reshape(hi - lo, k)
        best = sims.argmax(axis=1)  # the first maximum: the higher coarse rank wins ties
        labels[lo:hi] = graph_labels[candidates[np.arange(hi - lo), best]]
        similarity[lo:hi] = sims[np.arange(hi - lo), best]
    return labels, similarity


__all__ = ["assign_to_clusters"]
