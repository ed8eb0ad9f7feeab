"""Nearest neighbours by cosine similarity of sparse embeddings, a block of rows at a time.

The coarse step of seqlet similarity (:mod:`cislens.motifs.affinity`): each row keeps its
``n_neighbors`` most cosine-similar rows of a reference (itself, excluding the diagonal, or
another embedding in the same columns). Memory is O(chunk_size x n_reference), never
n x n_reference, and each row's result depends only on that row and the reference.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def coarse_neighbors(
    embedding: sp.csr_matrix,
    *,
    n_neighbors: int = 100,
    chunk_size: int = 128,
    reference: sp.csr_matrix | None = None,
):
    """Top ``n_neighbors`` cosine neighbours of each row (itself excluded), chunk by chunk.

    Returns ``(indices, similarities)``, both (n, k) with k = min(n_neighbors, n - 1), sorted by
    decreasing similarity. With ``reference`` (same columns), the neighbours are rows of
    ``reference`` instead (nothing excluded; k = min(n_neighbors, n_reference)). Peak memory is
    O(chunk_size x n); each row's result does not depend on ``chunk_size``.

    Examples
    --------
    >>> emb = sp.csr_matrix(np.array([[1.0, 0], [0.9, 0.1], [0, 1.0]], dtype=np.float32))
    >>> idx, sim = coarse_neighbors(emb, n_neighbors=1)
    >>> idx.ravel().tolist()
    [1, 0, 1]
    >>> coarse_neighbors(emb[:1], n_neighbors=2, reference=emb[1:])[0].tolist()
    [[0, 1]]
    """
    exclude_self = reference is None
    ref = embedding if reference is None else reference
    if ref.shape[1] != embedding.shape[1]:
        raise ValueError(
            f"reference must have the columns of embedding ({embedding.shape[1]}); got "
            f"{ref.shape[1]}. Embed both with the same vocabulary."
        )
    # CSR once: a CSR @ CSC product would convert the right factor to CSR for every chunk.
    return cosine_neighbors(
        embedding,
        ref.T.tocsr(),
        n_neighbors=n_neighbors,
        exclude_self=exclude_self,
        chunk_size=chunk_size,
    )


def cosine_neighbors(
    query: sp.csr_matrix,
    reference_t: sp.csr_matrix,
    *,
    n_neighbors: int = 100,
    exclude_self: bool = False,
    chunk_size: int = 128,
):
    """:func:`coarse_neighbors` given the transposed reference ``reference.T.tocsr()`` (made
    once by a caller that queries it repeatedly); ``exclude_self`` skips column ``i`` for row
    ``i`` (query and reference the same rows).

    Examples
    --------
    >>> emb = sp.csr_matrix(np.array([[1.0, 0], [0.9, 0.1], [0, 1.0]], dtype=np.float32))
    >>> cosine_neighbors(emb[2:], emb.T.tocsr(), n_neighbors=1)[0].tolist()
    [[2]]
    """
    n, n_ref = query.shape[0], reference_t.shape[1]
    k = min(n_neighbors, n_ref - 1 if exclude_self else n_ref)
    indices = np.zeros((n, max(k, 0)), dtype=np.int64)
    similarities = np.zeros((n, max(k, 0)), dtype=np.float32)
    if k <= 0:
        return indices, similarities
    for lo in range(0, n, chunk_size):
        hi = min(lo + chunk_size, n)
        # Negated in place: one dense block per chunk, not two.
        block = (query[lo:hi] @ reference_t).toarray()
        np.negative(block, out=block)
        if exclude_self:
            block[np.arange(hi - lo), np.arange(lo, hi)] = np.inf
        part = np.argpartition(block, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(block, part, axis=1)
        del block
        order = np.argsort(values, axis=1, kind="stable")
        indices[lo:hi] = np.take_along_axis(part, order, axis=1)
        similarities[lo:hi] = -np.take_along_axis(values, order, axis=1)
    return indices, similarities


__all__ = ["coarse_neighbors", "cosine_neighbors"]
