"""Refining patterns: splitting spurious merges (subclustering) and merging similar patterns.

**Split.** A pattern with at least ``split_min_size`` seqlets is subclustered: the continuous
Jaccard similarities of its aligned seqlet windows (up to 1,000 of them, a seeded subsample; the
rest join the most similar subcluster mean) give a k-nearest-neighbour graph, density-adapted at
``subcluster_perplexity`` and clustered with Leiden. Each subcluster with at least
``min_cluster_size`` seqlets is re-aggregated; the subpatterns are then merged among themselves
and the split stands only if more than one remains.

**Merge.** Repeatedly, the most similar pair of patterns (:func:`pattern_similarity`, cores
within each other, both strands unless strand-specific) is merged, by re-aggregating the union of
their seqlets, while that similarity is at least ``merge_threshold``.
"""

from __future__ import annotations

import numpy as np

from cislens.motifs.affinity import l1_tracks, pairwise_jaccard
from cislens.motifs.aggregate import aggregate_seqlets, member_tracks, pattern_similarity
from cislens.motifs.clustering import leiden_clusters
from cislens.motifs.density import density_adapted_affinity


def aggregate_rows(source, table, data, rows, p, name, metacluster):
    """:func:`aggregate_seqlets` of the seqlets at positions ``rows`` of ``table`` / ``data``."""
    return aggregate_seqlets(
        source,
        table.iloc[rows],
        data[rows],
        name=name,
        metacluster=metacluster,
        min_overlap=p.min_overlap,
        revcomp=p.revcomp,
        trim_width=p.trim_width,
        background=p.background,
    )


def merge_patterns(patterns, source, table, data, p, metacluster):
    """Greedily merge the most similar pair while its similarity >= merge_threshold."""
    cache = {}
    patterns = list(patterns)
    while len(patterns) > 1:
        best, pair = -np.inf, None
        for i in range(len(patterns)):
            for j in range(i + 1, len(patterns)):
                key = (id(patterns[i]), id(patterns[j]))
                if key not in cache:
                    cache[key] = pattern_similarity(
                        patterns[i], patterns[j], min_overlap=p.min_overlap, revcomp=p.revcomp
                    )
                if cache[key] > best:
                    best, pair = cache[key], (i, j)
        if best < p.merge_threshold:
            break
        i, j = pair
        rows = np.union1d(patterns[i].stats["source_rows"], patterns[j].stats["source_rows"])
        merged = aggregate_rows(source, table, data, rows, p, patterns[i].name, metacluster)
        patterns = [q for k, q in enumerate(patterns) if k not in pair]
        if merged is not None:
            patterns.append(merged)
    return patterns


def split_pattern(pattern, source, table, data, p, rng, metacluster):
    """Subcluster a large pattern's aligned seqlets; the split stands if subpatterns differ."""
    onehot, hyp = member_tracks(source, pattern)
    n = onehot.shape[0]
    if n < p.split_min_size:
        return [pattern]
    sample = np.sort(rng.choice(n, size=min(n, 1000), replace=False))
    aligned = l1_tracks(hyp[sample], onehot[sample] * hyp[sample])
    m = sample.size
    rows, cols = np.triu_indices(m, k=1)
    sims = pairwise_jaccard(aligned, rows, cols, min_overlap=1.0, revcomp=False)[0]
    dense = np.full((m, m), -1.0, dtype=np.float32)
    dense[rows, cols] = sims
    dense[cols, rows] = sims
    perplexity = min(p.subcluster_perplexity, (m - 1) / 3.0)
    k = min(int(3 * perplexity + 2), m - 1)
    neighbors = np.argsort(-dense, axis=1)[:, :k]
    affinity = density_adapted_affinity(
        neighbors, np.take_along_axis(dense, neighbors, axis=1), perplexity=perplexity
    )
    labels = leiden_clusters(affinity, n_runs=max(2, p.n_leiden_runs // 5), random_state=rng)
    if labels.max() == 0:
        return [pattern]
    source_rows = pattern.stats["source_rows"]
    if m < n:  # assign the other seqlets to the most similar subcluster mean
        all_data = l1_tracks(hyp, onehot * hyp)
        means = np.stack(
            [all_data[sample[labels == c]].mean(axis=0) for c in range(labels.max() + 1)]
        )
        scores = np.stack(
            [
                (np.minimum(np.abs(all_data), np.abs(mu)) * np.sign(all_data) * np.sign(mu)).sum(
                    axis=(1, 2)
                )
                / np.maximum(np.abs(all_data), np.abs(mu)).sum(axis=(1, 2))
                for mu in means
            ],
            axis=1,
        )
        full = scores.argmax(axis=1)
        full[sample] = labels
        labels = full
    subpatterns = []
    for c in range(labels.max() + 1):
        members = source_rows[labels == c]
        if members.size >= p.min_cluster_size:
            sub = aggregate_rows(
                source, table, data, members, p, f"{pattern.name}.{c}", metacluster
            )
            if sub is not None:
                subpatterns.append(sub)
    subpatterns = merge_patterns(subpatterns, source, table, data, p, metacluster)
    return subpatterns if len(subpatterns) > 1 else [pattern]


__all__ = ["aggregate_rows", "merge_patterns", "split_pattern"]
