"""Leiden clustering of a sparse affinity graph, several seeds, the best modularity kept."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from cislens.utils.random import check_random_state

logger = logging.getLogger(__name__)


def leiden_clusters(
    affinity: sp.spmatrix,
    *,
    n_runs: int = 10,
    n_iterations: int = -1,
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
        Iterations per run; -1 (default) until convergence.
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
    if isinstance(n_runs, bool) or not isinstance(n_runs, (int, np.integer)) or n_runs < 1:
        raise ValueError(f"n_runs must be a positive int; got {n_runs!r}.")
    upper = sp.triu(affinity, k=1).tocoo()
    keep = upper.data > 0
    # An int32 array, not a list of Python pairs (which would take ~130 bytes per edge).
    edges = np.stack([upper.row[keep], upper.col[keep]], axis=1).astype(np.int32)
    graph = igraph.Graph(n=n, edges=edges)
    del edges
    graph.es["weight"] = upper.data[keep].astype(float).tolist()
    rng = check_random_state(random_state)
    seeds = rng.integers(0, 2**31 - 1, size=n_runs)
    best_quality, best = -np.inf, None
    for seed in tqdm(seeds, disable=not verbose, desc="Leiden", leave=False):
        partition = leidenalg.find_partition(
            graph,
            leidenalg.ModularityVertexPartition,
            weights="weight",
            n_iterations=n_iterations,
            seed=int(seed),
        )
        quality = partition.quality()
        if quality > best_quality:
            best_quality, best = quality, np.asarray(partition.membership, dtype=np.int64)
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
