"""Compiled similarity kernels against plain-Python reference implementations.

The gapped k-mer embedding and the continuous Jaccard over alignments are numba kernels; here
each is recomputed with simple loops / itertools straight from its definition and compared.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cislens.motifs import continuous_jaccard
from cislens.motifs.affinity import (
    align_to_target,
    gapped_kmer_embedding,
    min_overlap_positions,
    pairwise_jaccard,
    reverse_tracks,
)


def _reference_embedding(onehot, contrib, *, sign, top_n, min_k, max_k, max_span, max_entries):
    """Dense (n, keys) dict-of-dicts embedding, straight from the docstring's definition."""
    rows = []
    for x, c in zip(onehot, contrib, strict=True):
        per_pos = sign * c.sum(axis=0).astype(np.float64)
        known = [j for j in range(x.shape[1]) if x[:, j].max() > 0]
        # top_n largest, ties to the leftmost position
        ranked = sorted(known, key=lambda j: (-per_pos[j], j))[:top_n]
        top = sorted(ranked)
        kmers: dict[int, float] = {}
        for size in range(min_k, max_k + 1):
            for subset in itertools.combinations(top, size):
                span = subset[-1] - subset[0]
                if span >= max_span:
                    continue
                # a canonical key: the smaller base-5 code of the k-mer and its reverse complement
                key = sum((int(x[:, j].argmax()) + 1) * 5 ** (j - subset[0]) for j in subset)
                rkey = sum(
                    (4 - int(x[:, j].argmax())) * 5 ** (span - (j - subset[0])) for j in subset
                )
                key = min(key, rkey)
                kmers[key] = kmers.get(key, 0.0) + float(np.mean(per_pos[list(subset)]))
        strongest = sorted(kmers.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:max_entries]
        norm = np.sqrt(sum(v * v for _, v in strongest))
        rows.append({k: v / norm for k, v in strongest} if norm > 0 else dict(strongest))
    return rows


def _as_dicts(embedding):
    """CSR rows as {column: value}; columns are ranks of sorted keys, so compare by cosine."""
    embedding = embedding.tocsr()
    return [
        dict(zip(embedding.indices[a:b].tolist(), embedding.data[a:b].tolist(), strict=True))
        for a, b in itertools.pairwise(embedding.indptr)
    ]


@pytest.mark.parametrize("max_entries", [500, 7])
def test_gapped_kmer_embedding_equals_reference(max_entries):
    rng = np.random.default_rng(3)
    n, width = 12, 18
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, width))].transpose(0, 2, 1)
    onehot[0, :, 5] = 0.0  # an N: never a k-mer position
    contrib = onehot * rng.normal(size=(n, 4, width)).astype(np.float32)
    contrib[1] = 0.0  # all ties: the leftmost positions win
    settings = dict(sign=1, top_n=8, min_k=3, max_k=4, max_span=10, max_entries=max_entries)
    ours = gapped_kmer_embedding(onehot, contrib, revcomp=True, **settings)
    reference = _reference_embedding(onehot, contrib, **settings)
    # Column ids of ours are ranks of the sorted canonical keys: map the reference keys the same.
    keys = sorted({k for row in reference for k in row})
    assert ours.shape == (n, len(keys))
    column = {k: i for i, k in enumerate(keys)}
    for got, want in zip(_as_dicts(ours), reference, strict=True):
        assert set(got) == {column[k] for k in want}
        for key, value in want.items():
            assert got[column[key]] == pytest.approx(value, rel=1e-5, abs=1e-7)


def test_gapped_kmer_embedding_is_strand_symmetric():
    rng = np.random.default_rng(4)
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (5, 20))].transpose(0, 2, 1)
    contrib = onehot * rng.random((5, 4, 20)).astype(np.float32)
    both = (
        np.concatenate([onehot, onehot[:, ::-1, ::-1]]),
        np.concatenate([contrib, contrib[:, ::-1, ::-1]]),
    )
    emb = gapped_kmer_embedding(*both, top_n=10)
    cosine = (emb[:5].multiply(emb[5:])).sum(axis=1)
    assert np.allclose(np.asarray(cosine).ravel(), 1.0, atol=1e-5)


def _reference_best(a, b, min_overlap):
    """Best (similarity, offset) of b slid along a, union Jaccard, from continuous_jaccard."""
    la, lb = a.shape[1], b.shape[1]
    best, best_offset = -2.0, 0
    for offset in range(min_overlap - lb, la - min_overlap + 1):
        lo, hi = min(0, offset), max(la, offset + lb)
        pa = np.zeros((a.shape[0], hi - lo))
        pb = np.zeros_like(pa)
        pa[:, -lo : -lo + la] = a
        pb[:, offset - lo : offset - lo + lb] = b
        s = continuous_jaccard(pa, pb)
        if s > best + 1e-12:
            best, best_offset = s, offset
    return best, best_offset


def test_pairwise_jaccard_equals_reference():
    rng = np.random.default_rng(5)
    data = rng.laplace(size=(9, 8, 11)).astype(np.float32)
    data[3] = np.roll(data[2], 2, axis=1)  # a shifted copy: a clear best offset
    rows, cols = np.array([0, 2, 4, 5, 8]), np.array([1, 3, 6, 7, 0])
    for revcomp in (False, True):
        sim, offset, rc = pairwise_jaccard(data, rows, cols, min_overlap=0.6, revcomp=revcomp)
        overlap = min_overlap_positions(11, 11, 0.6)
        rev = reverse_tracks(data)
        for p, (i, j) in enumerate(zip(rows, cols, strict=True)):
            candidates = [(*_reference_best(data[i], data[j], overlap), False)]
            if revcomp:
                candidates.append((*_reference_best(data[i], rev[j], overlap), True))
            want = max(candidates, key=lambda c: c[0])
            assert sim[p] == pytest.approx(want[0], abs=1e-5)
            assert (int(offset[p]), bool(rc[p])) == (want[1], want[2])
    assert sim[1] > 0.5  # the shifted copy


def test_align_to_target_equals_reference():
    rng = np.random.default_rng(6)
    target = rng.normal(size=(8, 25)).astype(np.float32)
    data = rng.normal(size=(70, 8, 9)).astype(np.float32)  # >= 64: the parallel kernel
    data[0] = reverse_tracks(target[None, :, 10:19])[0]
    sim, offset, rc = align_to_target(target, data, min_overlap=0.7)
    overlap = min_overlap_positions(25, 9, 0.7)
    rev = reverse_tracks(data)
    for m in range(data.shape[0]):
        fwd = _reference_best(target, data[m], overlap)
        back = _reference_best(target, rev[m], overlap)
        want = (*back, True) if back[0] > fwd[0] else (*fwd, False)
        assert sim[m] == pytest.approx(want[0], abs=1e-5)
        assert (int(offset[m]), bool(rc[m])) == (want[1], want[2])
    assert (int(offset[0]), bool(rc[0])) == (10, True)  # the planted reverse-complement copy
