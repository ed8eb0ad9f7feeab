"""Seqlet similarity: a gapped k-mer coarse filter, then continuous Jaccard over alignments.

Coarse step (:func:`gapped_kmer_embedding`, :func:`coarse_neighbors`): each seqlet becomes a
sparse vector of contribution-weighted gapped k-mers built from its ``top_n`` most important
positions; k-mers and their reverse complements share one (canonical) key, so the cosine of two
embeddings does not depend on strand. Each seqlet keeps its ``n_neighbors`` most similar seqlets,
found in chunks: memory is O(chunk x N), never N x N.

Fine step (:func:`continuous_jaccard`, :func:`pairwise_jaccard`): for each neighbour pair, the
continuous Jaccard similarity of their L1-normalised ``[hypothetical | contrib]`` tracks,
maximised over every offset with at least ``min_overlap`` of the shorter track overlapping and
over both strands of the neighbour. Positions covered by only one of the two tracks count in the
denominator (the union), so partial overlaps are penalised symmetrically.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse as sp

from cislens.motifs.neighbors import coarse_neighbors, cosine_neighbors
from cislens.utils.threads import torch_threads_kept
from cislens.utils.types import ArrayLike


def continuous_jaccard(a: ArrayLike, b: ArrayLike) -> float:
    """Continuous Jaccard similarity of two arrays of the same shape.

    ``J(a, b) = sum(min(|a|, |b|) * sign(a) * sign(b)) / sum(max(|a|, |b|))``, in [-1, 1];
    0 when both are all zero. Unlike Pearson correlation it weighs every entry by its
    magnitude, so one large shared entry does not dominate.

    Examples
    --------
    >>> u = [-1, -1, -2, 4, -1, -1, -1]
    >>> round(continuous_jaccard(u, [0, 0, 0, 4, 0, 0, 0]) * 11, 6)
    4.0
    >>> round(continuous_jaccard(u, [-1, -1, -2, 0, -1, -1, -1]) * 11, 6)
    7.0
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}.")
    union = np.maximum(np.abs(a), np.abs(b)).sum()
    if union == 0:
        return 0.0
    return float((np.minimum(np.abs(a), np.abs(b)) * np.sign(a) * np.sign(b)).sum() / union)


def l1_tracks(hypothetical: np.ndarray, contrib: np.ndarray) -> np.ndarray:
    """``[hyp / sum|hyp| ; contrib / sum|contrib|]`` per seqlet: (n, 4, W) x 2 -> (n, 8, W).

    Each half is divided straight into the float32 result (no normalised copies and no
    concatenation: for 64,000 seqlets that is 80 MB less at once); the values are those of
    dividing in the inputs' precision and rounding to float32.

    Examples
    --------
    >>> hyp = np.array([[[1.0, -3.0]] * 4])  # (1, 4, 2): sum |hyp| = 16
    >>> l1_tracks(hyp, np.zeros_like(hyp))[0, :, 1].tolist()
    [-0.1875, -0.1875, -0.1875, -0.1875, 0.0, 0.0, 0.0, 0.0]
    """
    hypothetical, contrib = np.asarray(hypothetical), np.asarray(contrib)
    n, c, width = hypothetical.shape
    out = np.empty((n, 2 * c, width), dtype=np.float32)
    for half, values in enumerate((hypothetical, contrib)):
        total = np.abs(values).sum(axis=(1, 2), keepdims=True)
        np.divide(values, np.where(total > 0, total, 1.0), out=out[:, half * c : (half + 1) * c])
    return out


def reverse_tracks(data: np.ndarray) -> np.ndarray:
    """Reverse complement of (n, 4k, W) tracks: flip positions and, per 4-channel block, bases."""
    n_blocks = data.shape[1] // 4
    flipped = data[:, :, ::-1]
    parts = [flipped[:, 4 * i : 4 * i + 4][:, ::-1] for i in range(n_blocks)]
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


@numba.njit(cache=True)
def _total(a):
    total = 0.0
    for k in range(a.shape[0]):
        for i in range(a.shape[1]):
            total += abs(a[k, i])
    return total


@numba.njit(cache=True, fastmath=True)
def _jaccard_at(a, b, offset, total_a, total_b):
    """Union continuous Jaccard with b's position 0 placed at a's position ``offset``.

    Uses ``max(|x|, |y|) = |x| + |y| - min(|x|, |y|)``: the denominator is
    ``total_a + total_b - sum(min)``, which also counts the non-overlapping parts.
    """
    c, la, lb = a.shape[0], a.shape[1], b.shape[1]
    lo = max(offset, 0)
    hi = min(offset + lb, la)
    shared = 0.0
    num = 0.0
    for k in range(c):
        for i in range(lo, hi):
            x = a[k, i]
            y = b[k, i - offset]
            # branch-free: min(|x|,|y|) sign(x y) = (|x + y| - |x - y|) / 2
            shared += abs(x) + abs(y) - abs(abs(x) - abs(y))
            num += abs(x + y) - abs(x - y)
    den = total_a + total_b - 0.5 * shared
    return 0.5 * num / den if den > 0 else 0.0


@numba.njit(cache=True)
def _best_offset(a, b, min_overlap):
    """Best (similarity, offset) of b slid along a with at least ``min_overlap`` positions."""
    la, lb = a.shape[1], b.shape[1]
    total_a = _total(a)
    total_b = _total(b)
    best = -2.0
    best_offset = 0
    for offset in range(min_overlap - lb, la - min_overlap + 1):
        s = _jaccard_at(a, b, offset, total_a, total_b)
        if s > best:
            best = s
            best_offset = offset
    return best, best_offset


def min_overlap_positions(length_a: int, length_b: int, min_overlap: float) -> int:
    """Positions two tracks must share: ``ceil(min_overlap * min(length_a, length_b))``."""
    return max(1, math.ceil(min_overlap * min(length_a, length_b) - 1e-9))


@numba.njit(parallel=True, cache=True)
def _pair_kernel(fwd, rev, rows, cols, min_overlap, use_rc, out_sim, out_offset, out_rc):
    for p in numba.prange(rows.size):
        a = fwd[rows[p]]
        s, o = _best_offset(a, fwd[cols[p]], min_overlap)
        out_sim[p], out_offset[p], out_rc[p] = s, o, False
        if use_rc:
            s2, o2 = _best_offset(a, rev[cols[p]], min_overlap)
            if s2 > s:
                out_sim[p], out_offset[p], out_rc[p] = s2, o2, True


def pairwise_jaccard(data, rows, cols, *, min_overlap: float = 0.7, revcomp: bool = True):
    """Best-alignment continuous Jaccard of pairs (rows[p], cols[p]) of (n, C, W) tracks.

    Returns (similarity, offset, is_revcomp) arrays of the length of ``rows``: the offset of
    seqlet ``cols[p]`` (reverse-complemented when ``is_revcomp``) within ``rows[p]``.

    Examples
    --------
    >>> data = np.zeros((2, 4, 6), dtype=np.float32)
    >>> data[0, 0, 2] = data[1, 0, 3] = 1.0
    >>> sim, offset, rc = pairwise_jaccard(data, np.array([0]), np.array([1]), min_overlap=0.5)
    >>> float(sim[0]), int(offset[0]), bool(rc[0])
    (1.0, -1, False)
    """
    data = np.ascontiguousarray(data, dtype=np.float32)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    rev = reverse_tracks(data) if revcomp else data
    width = data.shape[2]
    sim = np.empty(rows.size, dtype=np.float32)
    offset = np.empty(rows.size, dtype=np.int64)
    rc = np.empty(rows.size, dtype=np.bool_)
    overlap = min_overlap_positions(width, width, min_overlap)
    with torch_threads_kept():  # numba's OpenMP layer resets torch's threads
        _pair_kernel(data, rev, rows, cols, overlap, revcomp, sim, offset, rc)
    return sim, offset, rc


# --- coarse: gapped k-mers -------------------------------------------------------------------


@numba.njit(cache=True)
def _seqlet_kmers(positions, bases, weights, min_k, max_k, max_span, revcomp, keys, values):
    """Enumerate gapped k-mers over sorted ``positions``; write (key, weight) pairs, return n.

    For each first position, every subset (a bitmask) of the later positions within
    ``max_span`` bases completes a k-mer when it holds ``min_k - 1`` to ``max_k - 1`` of them.
    """
    m = positions.size
    count = 0
    for first in range(m):
        last = first
        while last + 1 < m and positions[last + 1] - positions[first] < max_span:
            last += 1
        n_cand = last - first
        for mask in range(1 << n_cand):
            bits = 0
            x = mask
            while x:
                bits += x & 1
                x >>= 1
            if bits < min_k - 1 or bits > max_k - 1:
                continue
            top = first
            for t in range(n_cand):
                if (mask >> t) & 1:
                    top = first + 1 + t
            span = positions[top] - positions[first]
            key = (bases[first] + 1) * 5**0
            rkey = (4 - bases[first]) * 5**span
            total = weights[first]
            for t in range(n_cand):
                if (mask >> t) & 1:
                    j = first + 1 + t
                    off = positions[j] - positions[first]
                    key += (bases[j] + 1) * 5**off
                    rkey += (4 - bases[j]) * 5 ** (span - off)
                    total += weights[j]
            if revcomp and rkey < key:
                key = rkey
            if count < keys.size:
                keys[count] = key
                values[count] = total / (bits + 1)
            count += 1
    return count


@numba.njit(cache=True)
def _top_positions(per_pos, top_n):
    """Indices of the ``top_n`` largest finite entries, ties by position, in position order."""
    order = np.argsort(-per_pos, kind="mergesort")
    count = 0
    keep = np.empty(min(top_n, per_pos.size), dtype=np.int64)
    for j in order[: keep.size]:
        if np.isfinite(per_pos[j]):
            keep[count] = j
            count += 1
    return np.sort(keep[:count])


@numba.njit(cache=True)
def _embed_all(per_pos, bases, top_n, min_k, max_k, max_span, max_entries, revcomp, counts):
    """Per seqlet: its gapped k-mers, summed by key, the ``max_entries`` strongest, L2-normed.

    Returns flat (keys, values) arrays, rows one after the other, ``counts[i]`` entries each;
    within a row keys are ordered by decreasing ``|value|`` (ties: smaller key first).
    """
    n = per_pos.shape[0]
    capacity = 4096
    keys = np.empty(capacity, dtype=np.int64)
    values = np.empty(capacity, dtype=np.float64)
    out_keys = np.empty(n * max_entries, dtype=np.int64)
    out_values = np.empty(n * max_entries, dtype=np.float32)
    filled = 0
    for i in range(n):
        top = _top_positions(per_pos[i], top_n)
        row_bases = np.empty(top.size, dtype=np.int64)
        row_weights = np.empty(top.size, dtype=np.float64)
        for t in range(top.size):
            row_bases[t] = bases[i, top[t]]
            row_weights[t] = per_pos[i, top[t]]
        count = _seqlet_kmers(
            top, row_bases, row_weights, min_k, max_k, max_span, revcomp, keys, values
        )
        if count > keys.size:
            keys = np.empty(count, dtype=np.int64)
            values = np.empty(count, dtype=np.float64)
            count = _seqlet_kmers(
                top, row_bases, row_weights, min_k, max_k, max_span, revcomp, keys, values
            )
        if count == 0:
            counts[i] = 0
            continue
        # Sum the weights of equal keys, in enumeration order (a stable sort keeps it).
        order = np.argsort(keys[:count], kind="mergesort")
        unique = np.empty(count, dtype=np.int64)
        summed = np.zeros(count, dtype=np.float64)
        m = -1
        for j in order:
            if m < 0 or keys[j] != unique[m]:
                m += 1
                unique[m] = keys[j]
            summed[m] += values[j]
        m += 1
        # Strongest max_entries: sort by decreasing |value|, ties by key (unique is sorted).
        rank = np.argsort(-np.abs(summed[:m]), kind="mergesort")
        m_keep = min(m, max_entries)
        norm2 = 0.0
        for t in range(m_keep):
            v32 = np.float32(summed[rank[t]])
            norm2 += np.float64(v32) * np.float64(v32)
        norm = np.float32(np.sqrt(norm2))
        for t in range(m_keep):
            out_keys[filled + t] = unique[rank[t]]
            v32 = np.float32(summed[rank[t]])
            out_values[filled + t] = v32 / norm if norm > 0 else v32
        counts[i] = m_keep
        filled += m_keep
    return out_keys[:filled], out_values[:filled]


def distinct_sorted(keys: np.ndarray, *, block: int = 1 << 20) -> np.ndarray:
    """``np.unique(keys)``, made block by block in memory O(distinct keys + block).

    Each block's distinct keys are merged into the sorted result so far (the ones it lacks are
    inserted at their ``searchsorted`` places): neither a sorted copy of all the keys nor the
    blocks' distinct keys side by side are ever held. A 20,000-seqlet embedding has 10 million
    keys (76 MB) and about 2 million distinct ones.

    Examples
    --------
    >>> distinct_sorted(np.array([5, 3, 5, 1, 3, 9]), block=2).tolist()
    [1, 3, 5, 9]
    """
    columns = keys[:0].copy()
    for lo in range(0, keys.size, block):
        part = np.unique(keys[lo : lo + block])
        at = np.searchsorted(columns, part)
        new = np.ones(part.size, dtype=bool)
        if columns.size:
            new = columns[np.minimum(at, columns.size - 1)] != part
        columns = np.insert(columns, at[new], part[new])
    return columns


def gapped_kmer_embedding(
    X_seqlets: np.ndarray,
    contrib_seqlets: np.ndarray,
    *,
    sign: int = 1,
    top_n: int = 20,
    min_k: int = 4,
    max_k: int = 6,
    max_span: int = 15,
    max_entries: int = 500,
    revcomp: bool = True,
    vocabulary: np.ndarray | None = None,
    return_vocabulary: bool = False,
):
    """Sparse, L2-normalised gapped k-mer embeddings of (n, 4, W) seqlets: (n, n_kmers) CSR.

    For each seqlet, the ``top_n`` positions with the largest ``sign * contribution`` (and a
    known base; ties go to the leftmost position) are kept in order; every subset of
    ``min_k``..``max_k`` of them spanning fewer than ``max_span`` bases is a gapped k-mer (bases
    at their offsets, gaps as wildcards) worth the mean contribution of its positions. Equal
    k-mers are summed, and a seqlet keeps its ``max_entries`` strongest k-mers (by ``|value|``,
    ties to the smaller key). One compiled pass does all seqlets.

    Column ``j`` is the k-mer key ``vocabulary[j]`` (sorted). By default the vocabulary is the
    seqlets' own keys; pass the vocabulary of another embedding (``return_vocabulary=True``
    gives it) to embed new seqlets in its columns: keys it lacks are dropped after the
    normalisation, so cosines with that embedding are exactly those of one joint embedding.
    Each row depends on its own seqlet only, so embedding in chunks gives the same rows.

    Examples
    --------
    >>> X = np.eye(4, dtype=np.float32)[np.array([[0, 1, 2, 3, 0, 1]] * 2)].transpose(0, 2, 1)
    >>> emb = gapped_kmer_embedding(X, X.copy(), top_n=6, min_k=2, max_k=3)
    >>> round(float((emb @ emb.T).toarray()[0, 1]), 6)
    1.0
    """
    n, _, width = X_seqlets.shape
    per_pos = (contrib_seqlets.sum(axis=1) * sign).astype(np.float64)
    known = X_seqlets.max(axis=1) > 0
    bases = X_seqlets.argmax(axis=1).astype(np.int64)
    per_pos = np.ascontiguousarray(np.where(known, per_pos, -np.inf))
    counts = np.zeros(n, dtype=np.int64)
    keys, values = _embed_all(
        per_pos,
        bases,
        min(top_n, width),
        min_k,
        max_k,
        max_span,
        max_entries,
        revcomp,
        counts,
    )
    del per_pos, bases, known
    if vocabulary is None:
        columns = distinct_sorted(keys)
    else:
        columns = np.asarray(vocabulary, dtype=np.int64)
    if columns.size == 0:
        empty = sp.csr_matrix((n, 1), dtype=np.float32)
        return (empty, columns) if return_vocabulary else empty
    # Rows are already grouped, so the CSR arrays are built directly (no COO copies).
    # Column ids: ranks of the sorted distinct keys, looked up in blocks straight into int32
    # (np.unique's return_inverse would hold two more int64 copies of the keys).
    key_index = np.empty(keys.size, dtype=np.int32)
    known_key = np.ones(keys.size, dtype=bool)
    for lo in range(0, keys.size, 1 << 20):
        block = keys[lo : lo + (1 << 20)]
        found = np.minimum(np.searchsorted(columns, block), columns.size - 1)
        key_index[lo : lo + (1 << 20)] = found
        known_key[lo : lo + (1 << 20)] = columns[found] == block
    del keys
    if vocabulary is not None and not known_key.all():  # drop keys outside the vocabulary
        row_of = np.repeat(np.arange(n), counts)[known_key]
        counts = np.bincount(row_of, minlength=n)
        key_index, values = key_index[known_key], values[known_key]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    embedding = sp.csr_matrix((values, key_index, indptr), shape=(n, columns.size))
    return (embedding, columns) if return_vocabulary else embedding


@numba.njit(parallel=True, cache=True)
def _align_kernel(target, fwd, rev, min_overlap, use_rc, out_sim, out_offset, out_rc):
    for m in numba.prange(fwd.shape[0]):
        s, o = _best_offset(target, fwd[m], min_overlap)
        out_sim[m], out_offset[m], out_rc[m] = s, o, False
        if use_rc:
            s2, o2 = _best_offset(target, rev[m], min_overlap)
            if s2 > s:
                out_sim[m], out_offset[m], out_rc[m] = s2, o2, True


@numba.njit(cache=True)
def _align_serial(target, fwd, rev, min_overlap, use_rc, out_sim, out_offset, out_rc):
    for m in range(fwd.shape[0]):
        s, o = _best_offset(target, fwd[m], min_overlap)
        out_sim[m], out_offset[m], out_rc[m] = s, o, False
        if use_rc:
            s2, o2 = _best_offset(target, rev[m], min_overlap)
            if s2 > s:
                out_sim[m], out_offset[m], out_rc[m] = s2, o2, True


def align_to_target(target, data, *, min_overlap: float = 0.7, revcomp: bool = True):
    """Best offset and strand of each (C, W) track of ``data`` (n, C, W) within ``target`` (C, F).

    Returns (similarity, offset, is_revcomp): position 0 of the (possibly reverse-complemented)
    track lies at ``target`` position ``offset``.

    Examples
    --------
    >>> target = np.zeros((4, 8), dtype=np.float32); target[0, 5] = 1.0
    >>> data = np.zeros((1, 4, 4), dtype=np.float32); data[0, 3, 1] = 1.0  # T: A on the - strand
    >>> sim, offset, rc = align_to_target(target, data, min_overlap=1.0)
    >>> float(sim[0]), int(offset[0]), bool(rc[0])
    (1.0, 3, True)
    """
    target = np.ascontiguousarray(target, dtype=np.float32)
    data = np.ascontiguousarray(data, dtype=np.float32)
    rev = reverse_tracks(data) if revcomp else data
    n = data.shape[0]
    sim = np.empty(n, dtype=np.float32)
    offset = np.empty(n, dtype=np.int64)
    rc = np.empty(n, dtype=np.bool_)
    overlap = min_overlap_positions(target.shape[1], data.shape[2], min_overlap)
    kernel = _align_kernel if n >= 64 else _align_serial
    with torch_threads_kept():
        kernel(target, data, rev, overlap, revcomp, sim, offset, rc)
    return sim, offset, rc


__all__ = [
    "align_to_target",
    "coarse_neighbors",
    "continuous_jaccard",
    "cosine_neighbors",
    "distinct_sorted",
    "gapped_kmer_embedding",
    "l1_tracks",
    "min_overlap_positions",
    "pairwise_jaccard",
    "reverse_tracks",
]
