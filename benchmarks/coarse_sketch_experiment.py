"""Experiment (negative result): coarse neighbours from sign-sketch candidates, rescored exactly.

Not used by cislens: on the planted benchmark it found too few of the exact neighbours and was
slower than the exact search at the sizes the 20,000-seqlet cap allows (numbers in
``benchmarks/results/coarse_sketch_experiment.json`` and ``motifs_vs_modisco.md``). Usage::

    python benchmarks/coarse_sketch_experiment.py --attributions planted_3155_seed0.h5


:func:`cislens.motifs.affinity.coarse_neighbors` compares every seqlet with every other one
(O(N^2) sparse products). :func:`sketch_neighbors` instead

1. projects each L2-normalised gapped k-mer embedding onto ``n_tables * n_bits`` random +-1
   directions (the direction of a k-mer column is a hash of the column id, so no
   (n_kmers, n_directions) matrix is ever stored) - a SimHash sketch (Charikar 2002);
2. per table, sorts the seqlets by their ``n_bits``-bit sign key and takes the ``window``
   seqlets on each side of a seqlet in that order as candidates (similar embeddings agree on
   most signs, so they share key prefixes and sit close in the order);
3. ranks a seqlet's distinct candidates by the cosine of their projections and rescores the
   best ``n_rescore`` of them with the exact cosine of the sparse embeddings, keeping the top
   ``n_neighbors``.

Cost: O(N log N) for the sorts and O(N * n_tables * window) for the candidates, i.e. linear in
N for fixed settings; the similarities it returns are exact, only the neighbour *set* is
approximate (recall against the exact top-k is what this script measures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np
import scipy.sparse as sp

from cislens.utils.random import check_random_state


@numba.njit(cache=True)
def _direction_sign(column, direction, salt):
    # splitmix64 finaliser of (column, direction, salt): the sign of a random +-1 entry.
    x = (np.uint64(column) * np.uint64(0x9E3779B97F4A7C15)) ^ (
        np.uint64(direction) * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(salt)
    )
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return 1.0 if (x & np.uint64(1)) else -1.0


@numba.njit(cache=True)
def _project(indptr, indices, data, n_directions, salt):
    n = indptr.size - 1
    out = np.zeros((n, n_directions), dtype=np.float32)
    for i in range(n):
        for t in range(indptr[i], indptr[i + 1]):
            c, v = indices[t], data[t]
            for d in range(n_directions):
                out[i, d] += v * _direction_sign(c, d, salt)
    return out


@numba.njit(cache=True)
def _rescore(indptr, indices, data, proj, orders, ranks, window, k, n_rescore, out_idx, out_sim):
    n, n_tables = proj.shape[0], orders.shape[0]
    dense = np.zeros(indices.max() + 1 if indices.size else 1, dtype=np.float64)
    cand = np.empty(n_tables * 2 * window, dtype=np.int64)
    for i in range(n):
        m = 0
        for t in range(n_tables):
            r = ranks[t, i]
            for q in range(max(r - window, 0), min(r + window + 1, n)):
                j = orders[t, q]
                if j != i:
                    cand[m] = j
                    m += 1
        uniq = np.unique(cand[:m])
        approx = proj[uniq] @ proj[i]
        best = uniq[np.argsort(-approx, kind="mergesort")[: max(n_rescore, k)]]
        for t in range(indptr[i], indptr[i + 1]):  # scatter row i once, dot each candidate
            dense[indices[t]] = data[t]
        sims = np.zeros(best.size, dtype=np.float64)
        for c in range(best.size):
            j = best[c]
            s = 0.0
            for t in range(indptr[j], indptr[j + 1]):
                s += dense[indices[t]] * data[t]
            sims[c] = s
        for t in range(indptr[i], indptr[i + 1]):
            dense[indices[t]] = 0.0
        top = np.argsort(-sims, kind="mergesort")[:k]
        out_idx[i, : top.size] = best[top]
        out_sim[i, : top.size] = sims[top]


def sketch_neighbors(
    embedding: sp.csr_matrix,
    *,
    n_neighbors: int = 100,
    n_tables: int = 8,
    n_bits: int = 16,
    window: int | None = None,
    n_rescore: int | None = None,
    random_state=None,
):
    """Approximate top ``n_neighbors`` cosine neighbours of each row, in O(N) time.

    Same output as :func:`cislens.motifs.affinity.coarse_neighbors` - ``(indices,
    similarities)``, both (n, k) with k = min(n_neighbors, n - 1), sorted by decreasing exact
    cosine - but the neighbours are searched among sign-sketch candidates (see the module
    docstring): ``n_tables`` sorted orders of ``n_bits``-bit keys, ``window`` seqlets on each
    side (default ``n_neighbors``), of which the ``n_rescore`` (default ``3 * n_neighbors``)
    with the closest projections get their exact cosine. A row with fewer candidates than k
    keeps index 0 / similarity 0 in its last columns (only possible for tiny inputs).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> emb = sp.csr_matrix(rng.random((50, 20)).astype(np.float32))
    >>> idx, sim = sketch_neighbors(emb, n_neighbors=5, random_state=0)
    >>> idx.shape, bool((np.diff(sim, axis=1) <= 1e-6).all())
    ((50, 5), True)
    """
    n = embedding.shape[0]
    k = min(n_neighbors, n - 1)
    window = n_neighbors if window is None else window
    n_rescore = 3 * n_neighbors if n_rescore is None else n_rescore
    for name, value in (("n_tables", n_tables), ("window", window), ("n_rescore", n_rescore)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}.")
    if not 1 <= n_bits <= 62:
        raise ValueError(f"n_bits must be in 1..62 (an int64 key); got {n_bits!r}.")
    indices = np.zeros((n, max(k, 0)), dtype=np.int64)
    similarities = np.zeros((n, max(k, 0)), dtype=np.float32)
    if k <= 0:
        return indices, similarities
    emb = sp.csr_matrix(embedding, dtype=np.float64, copy=True)
    emb.sort_indices()
    salt = int(check_random_state(random_state).integers(0, 2**62))
    proj = _project(emb.indptr, emb.indices, emb.data, n_tables * n_bits, salt)
    weights = np.left_shift(np.int64(1), np.arange(n_bits - 1, -1, -1, dtype=np.int64))
    keys = (proj.reshape(n, n_tables, n_bits) > 0).astype(np.int64) @ weights  # (n, n_tables)
    orders = np.argsort(keys.T, axis=1, kind="stable")
    ranks = np.empty_like(orders)
    np.put_along_axis(ranks, orders, np.arange(n)[None, :].repeat(n_tables, 0), axis=1)
    norms = np.linalg.norm(proj, axis=1, keepdims=True)
    proj = proj / np.where(norms > 0, norms, 1)
    _rescore(
        emb.indptr,
        emb.indices,
        emb.data,
        proj,
        orders,
        ranks,
        int(window),
        k,
        int(n_rescore),
        indices,
        similarities,
    )
    return indices, similarities


def positive_embedding(path: str, max_seqlets: int) -> sp.csr_matrix:
    """The gapped k-mer embedding of the positive metacluster, as ``discover_motifs`` makes it."""
    from cislens.io import load_attributions
    from cislens.motifs.affinity import gapped_kmer_embedding
    from cislens.motifs.aggregate import SeqletSource
    from cislens.motifs.seqlets import extract_seqlets
    from cislens.motifs.source import scan

    s = load_attributions(path)
    scores, _, _ = scan(s.X, s.hypothetical, 1024)
    calls = extract_seqlets(scores, window_size=21, flank=10, target_fdr=0.2, random_state=0)
    table = calls.table
    sub = table[table.metacluster == "pos"].head(max_seqlets).reset_index(drop=True)
    width = int(sub.end.iloc[0] - sub.start.iloc[0])
    onehot, hyp, _ = SeqletSource(s.X, s.hypothetical).windows(
        sub.example.to_numpy(), sub.start.to_numpy(), np.zeros(len(sub), bool), width
    )
    return gapped_kmer_embedding(onehot, onehot * hyp, sign=1)


def main(argv: list[str] | None = None) -> int:
    from cislens.motifs.affinity import coarse_neighbors

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attributions", required=True)
    parser.add_argument("--max-seqlets", type=int, default=20_000)
    parser.add_argument("--n-neighbors", type=int, default=150)
    parser.add_argument("--out", default="benchmarks/results/coarse_sketch_experiment.json")
    args = parser.parse_args(argv)
    numba.set_num_threads(1)
    emb = positive_embedding(args.attributions, args.max_seqlets)
    sketch_neighbors(emb[:300], n_neighbors=20, random_state=0)  # compile
    t = time.process_time()
    exact, exact_sims = coarse_neighbors(emb, n_neighbors=args.n_neighbors)
    rows = [{"method": "exact", "cpu_seconds": time.process_time() - t}]
    for settings in ({}, {"n_tables": 16}):
        t = time.process_time()
        found, sims = sketch_neighbors(
            emb, n_neighbors=args.n_neighbors, random_state=0, **settings
        )
        cpu = time.process_time() - t
        recall = np.mean(
            [np.intersect1d(a, b).size / b.size for a, b in zip(found, exact, strict=True)]
        )
        rows.append(
            {
                "method": "sketch",
                **settings,
                "cpu_seconds": cpu,
                "recall_of_exact_top_k": float(recall),
                "similarity_sum_over_exact": float(sims.sum() / exact_sims.sum()),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    record = {"n_seqlets": emb.shape[0], "loadavg": list(os.getloadavg()), "rows": rows}
    record["command"] = "python " + " ".join(sys.argv)
    print(json.dumps(record, indent=1))
    Path(args.out).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
