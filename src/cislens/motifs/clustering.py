"""Leiden clustering of a sparse affinity graph, several seeds, the best modularity kept.

Runs are screened: every seed first runs ``screen_iterations`` (2) Leiden iterations, where it
makes nearly all of its gain, and only the seed with the best modularity is then iterated to
convergence. On the 6,143-seqlet positive graph of the planted benchmark a run to convergence
took 2.5 CPU s and 2 iterations 0.9 s, with modularity within 0.001 of it (0.6979 vs 0.6985);
the number of iterations to convergence grows with the graph, so screening is what keeps ten
seeds affordable at 20,000 seqlets. ``screen_iterations=-1`` runs every seed to convergence.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from cislens.utils.random import check_random_state
from cislens.utils.validation import check_positive_int

logger = logging.getLogger(__name__)


def leiden_clusters(
    affinity: sp.spmatrix,
    *,
    n_runs: int = 10,
    n_iterations: int = -1,
    screen_iterations: int = 2,
    random_state=None,
    verbose: bool = False,
) -> np.ndarray:
    """Cluster labels (0 = largest cluster) from ``n_runs`` Leiden runs; best modularity wins.

    Parameters
    ----------
    affinity : scipy.sparse matrix (n, n)
        Symmetric non-negative edge weights (only the upper triangle is read).
    n_runs : int
        Leiden runs with different seeds (default 10).
    n_iterations : int
        Iterations of the chosen run; -1 (default) until convergence.
    screen_iterations : int
        Iterations every seed runs before the best (highest modularity) is chosen and
        continued to ``n_iterations`` (default 2); -1 runs every seed to ``n_iterations``.
    random_state : int, Generator or None
        Seeds of the runs.
    verbose : bool
        A progress bar over the runs.

    Returns
    -------
    numpy.ndarray (n,) of int64
        Cluster labels, numbered by decreasing size (ties by first member).

    Examples
    --------
    >>> block = np.ones((4, 4)) - np.eye(4)
    >>> A = sp.csr_matrix(np.block([[block, 0.01 * np.ones((4, 4))],
    ...                             [0.01 * np.ones((4, 4)), block]]))
    >>> leiden_clusters(A, n_runs=2, random_state=0).tolist()
    [0, 0, 0, 0, 1, 1, 1, 1]
    """
    import igraph
    import leidenalg

    n = affinity.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    check_positive_int(n_runs, "n_runs")
    if isinstance(screen_iterations, bool) or not isinstance(screen_iterations, (int, np.integer)):
        raise ValueError(
            f"screen_iterations must be -1 or a positive int; got {screen_iterations!r}."
        )
    if screen_iterations == 0 or screen_iterations < -1:
        raise ValueError(
            f"screen_iterations must be -1 or a positive int; got {screen_iterations!r}."
        )
    upper = sp.triu(affinity, k=1).tocoo()
    keep = upper.data > 0
    # An int32 array, not a list of Python pairs (which would take ~130 bytes per edge).
    edges = np.stack([upper.row[keep], upper.col[keep]], axis=1).astype(np.int32)
    graph = igraph.Graph(n=n, edges=edges)
    del edges
    graph.es["weight"] = upper.data[keep].astype(float).tolist()
    del upper, keep  # the graph holds its own copies
    rng = check_random_state(random_state)
    seeds = rng.integers(0, 2**31 - 1, size=n_runs)
    screen = n_iterations
    if screen_iterations != -1 and (n_iterations == -1 or screen_iterations < n_iterations):
        screen = screen_iterations
    best_quality, best = -np.inf, None
    for seed in tqdm(seeds, disable=not verbose, desc="Leiden", leave=False):
        optimiser = leidenalg.Optimiser()
        optimiser.set_rng_seed(int(seed))
        partition = leidenalg.ModularityVertexPartition(graph, weights="weight")
        optimiser.optimise_partition(partition, n_iterations=screen)
        quality = partition.quality()
        if quality > best_quality:
            best_quality, best = quality, (partition, optimiser)
    partition, optimiser = best
    if screen != n_iterations:  # continue the chosen run where it stopped
        remaining = -1 if n_iterations == -1 else n_iterations - screen
        optimiser.optimise_partition(partition, n_iterations=remaining)
    best = np.asarray(partition.membership, dtype=np.int64)
    return relabel_by_size(best)


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0, 1, ... by decreasing cluster size (ties: first appearance).

    Examples
    --------
    >>> relabel_by_size(np.array([5, 3, 3, 5, 3])).tolist()
    [1, 0, 0, 1, 0]
    """
    labels = np.asarray(labels)
    unique, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    mapping = np.empty(unique.size, dtype=np.int64)
    mapping[order] = np.arange(unique.size)
    return mapping[np.searchsorted(unique, labels)]


__all__ = ["leiden_clusters", "relabel_by_size"]
