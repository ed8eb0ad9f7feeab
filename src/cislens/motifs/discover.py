"""``discover_motifs``: TF-MoDISco-style motif discovery from hypothetical contributions.

Stages (per metacluster: positive and negative seqlets separately), each with a progress bar
when ``verbose``:

1. seqlets (:func:`cislens.motifs.extract_seqlets`);
2. for at most ``max_seqlets_per_metacluster`` of them (the graph sample: all, or a seeded
   random sample of that size): coarse gapped k-mer
   neighbours, then continuous Jaccard over alignments for those pairs only (a sparse
   k-nearest-neighbour graph; memory O(n k));
3. density-adaptive affinities and Leiden clustering: ``n_leiden_runs`` seeds are screened
   after 2 Leiden iterations and the one with the best modularity is run to convergence
   (:func:`cislens.motifs.clustering.leiden_clusters`); every seqlet beyond the graph sample
   then takes the cluster of its most similar graph seqlet
   (:func:`cislens.motifs.assign.assign_to_clusters`), so no seqlet is dropped and the work
   beyond the sample grows linearly;
4. aggregation of each cluster into a pattern; large patterns are split by subclustering their
   aligned seqlets, and similar patterns are merged (:mod:`cislens.motifs.refine`; similarity
   of their cores within each other's ``[hCWM ; CWM]`` at least ``merge_threshold``);
5. patterns smaller than ``min_cluster_size`` are dropped, and every remaining pattern must pass
   the significance test of :mod:`cislens.motifs.significance` against null patterns built
   from permuted seqlet windows.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cislens._version import __version__
from cislens.errors import CislensWarning
from cislens.motifs.affinity import (
    l1_tracks,
)
from cislens.motifs.aggregate import (
    Pattern,
    SeqletSource,
    information_content,
)
from cislens.motifs.graph import cluster_seqlets, embedding_inputs
from cislens.motifs.memory import release_free_memory
from cislens.motifs.params import DiscoveryParams
from cislens.motifs.refine import aggregate_rows, merge_patterns, split_pattern
from cislens.motifs.seqlets import (
    MAX_NULL_WINDOWS,
    call_seqlets,
    check_seqlet_length,
    null_window_sample,
)
from cislens.motifs.significance import (
    pattern_seqlet_similarity,
    permuted_source,
    test_patterns,
)
from cislens.motifs.source import WindowSource, check_array_like, is_in_memory, scan
from cislens.utils.random import check_random_state, resolve_seed
from cislens.utils.types import ArrayLike, RandomState
from cislens.utils.validation import check_positive_int

logger = logging.getLogger(__name__)


@dataclass
class MotifDiscoveryResult:
    """Patterns found by :func:`discover_motifs`, with their seqlets and the settings used.

    Attributes
    ----------
    patterns : list of Pattern
        Significant patterns: positive metacluster first, each by decreasing seqlet count.
    seqlets : pandas.DataFrame
        Every seqlet called: ``example, start, end, strand, score, metacluster`` and
        ``pattern`` (the name of the pattern it ended in, "" if none).
    rejected : list of Pattern
        Patterns that failed the significance test (for diagnostics; not reported).
    thresholds : dict
        Seqlet-calling thresholds (see :class:`cislens.motifs.SeqletCalls`).
    params : dict
        Every setting of the call (:meth:`DiscoveryParams.to_dict`).
    random_state : int
        The seed actually used.
    cislens_version : str
    empty_reason : str or None
        Why nothing was found, when ``patterns`` is empty (all-zero attributions, no seqlet
        past the threshold, too few seqlets for a pattern, every pattern rejected by the
        significance test); None when patterns were found. Saved in ``motifs.h5``.
    cpu_seconds : dict
        Process CPU seconds of the clustering stages of the real seqlets (both metaclusters):
        ``graph`` (embedding, coarse neighbours, fine similarities), ``leiden`` (affinities and
        Leiden) and ``assign`` (seqlets beyond the graph sample); for benchmarks, not saved.
    """

    patterns: list
    seqlets: pd.DataFrame
    rejected: list = field(default_factory=list)
    thresholds: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    random_state: int | None = None
    cislens_version: str = __version__
    empty_reason: str | None = None
    cpu_seconds: dict = field(default_factory=dict)

    def pattern(self, name: str) -> Pattern:
        """The pattern called ``name``."""
        for pattern in self.patterns + self.rejected:
            if pattern.name == name:
                return pattern
        names = [p.name for p in self.patterns]
        raise KeyError(f"no pattern named {name!r}; the patterns are {names}.")

    def to_motifs(self, *, kind: str = "pfm", trim: float | None = 0.3) -> list:
        """The patterns as :class:`cislens.pwm.Motif` objects (see :meth:`Pattern.to_motif`)."""
        return [p.to_motif(kind=kind, trim=trim) for p in self.patterns]

    def summary(self) -> str:
        """A short text table of the patterns."""
        lines = [
            f"{len(self.seqlets)} seqlets, {len(self.patterns)} significant patterns "
            f"({len(self.rejected)} rejected)"
        ]
        for p in self.patterns + self.rejected:
            start, end = p.trim_bounds()
            from cislens.sequence.alphabet import ALPHABET

            core = "".join(ALPHABET[i] for i in p.sequence[:, start:end].argmax(axis=0))
            lines.append(
                f"  {p.name:10s} n={p.n_seqlets:5d} {core:30s} "
                f"median_sim={p.stats.get('median_similarity', np.nan):.3f} "
                f"null_q95={p.stats.get('null_q95', np.nan):.3f} "
                f"p_adj={p.stats.get('p_adjusted', np.nan):.2g}"
                + ("" if p.stats.get("significant", True) else "  REJECTED")
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"MotifDiscoveryResult(n_patterns={len(self.patterns)}, "
            f"n_seqlets={len(self.seqlets)}, rejected={len(self.rejected)})"
        )


def _as_array(values, name):
    array = np.asarray(getattr(values, "numpy", lambda: values)(), dtype=np.float32)
    if array.ndim != 3 or array.shape[1] != 4:
        raise ValueError(
            f"{name} must be an (N, 4, L) array; got shape {array.shape}. "
            "Convert (N, L, 4) arrays with .transpose(0, 2, 1) first."
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty; pass at least one sequence.")
    return array  # finiteness is checked chunk by chunk in scan


def _pad(window_size, flank):
    """Bases kept on each side of a seqlet: two seqlet widths covers every aggregation frame."""
    return 2 * (window_size + 2 * flank)


def _passes_filters(pattern, p, sign):
    if pattern.n_seqlets < p.min_cluster_size:
        return False
    if np.sign(pattern.contrib.sum()) != sign:
        return False
    ic = information_content(pattern.sequence, p.background)
    window = min(6, ic.size)
    return float(np.convolve(ic, np.ones(window), mode="valid").max()) >= p.min_ic_in_window


def _metacluster_patterns(source, table, sign, p, rng, verbose, label, *, refine=True, clock=None):
    """Patterns of one metacluster (table rows all of one width, strongest first); source_rows
    are positions."""
    table = table.reset_index(drop=True)
    width = int(table["end"].iloc[0] - table["start"].iloc[0])
    onehot, hyp, _ = source.windows(
        table["example"].to_numpy(),
        table["start"].to_numpy(),
        np.zeros(len(table), dtype=bool),
        width,
    )
    contrib = onehot * hyp
    data = l1_tracks(hyp, contrib)
    del hyp
    # Similarities need the tracks, the k-mers only the bases and the per-position sums: keep
    # those compactly through the clustering (the same labels; 60 MB less at 64,000 seqlets).
    bases, per_position = embedding_inputs(onehot, contrib)
    del onehot, contrib
    labels = cluster_seqlets(bases, per_position, data, sign, p, rng, verbose, label, clock)
    del bases, per_position
    release_free_memory()
    metacluster = "pos" if sign > 0 else "neg"
    patterns = []
    clusters = [c for c in range(labels.max() + 1) if (labels == c).sum() >= p.min_cluster_size]
    for c in tqdm(clusters, disable=not verbose, desc=f"{label}: aggregation", leave=False):
        pattern = aggregate_rows(
            source, table, data, np.flatnonzero(labels == c), p, f"{metacluster}_{c}", metacluster
        )
        if pattern is not None:
            patterns.append(pattern)
    if refine:
        split = []
        for pattern in tqdm(patterns, disable=not verbose, desc=f"{label}: splitting", leave=False):
            split.extend(split_pattern(pattern, source, table, data, p, rng, metacluster))
        patterns = merge_patterns(split, source, table, data, p, metacluster)
    return [q for q in patterns if _passes_filters(q, p, sign)]


def discover_motifs(
    X: ArrayLike,
    hypothetical: ArrayLike,
    params: DiscoveryParams | None = None,
    *,
    chunk_size: int = 1024,
    random_state: RandomState = None,
    verbose: bool = False,
    **options: Any,
) -> MotifDiscoveryResult:
    """Discover motifs (patterns) from hypothetical contribution scores.

    Parameters
    ----------
    X : array (N, 4, L)
        One-hot sequences (A, C, G, T): a NumPy array or torch tensor, or an array-like with
        ``.shape`` and slicing along the first axis (a Zarr array, an h5py dataset), which is
        read ``chunk_size`` sequences at a time and never loaded whole.
    hypothetical : array (N, 4, L)
        Hypothetical contributions (e.g. ``deeplift_shap(..., hypothetical=True)``), of the same
        kinds; the projected scores ``X * hypothetical`` are used for seqlet calling.
    params : DiscoveryParams or None
        The settings (seqlets, clustering, merging, significance); None: the defaults.
    chunk_size : int
        Sequences read (and multiplied) at a time (default 1,024). With array-like inputs only
        the stretches of sequence around the seqlets are then kept in memory; the result is the
        same as with the whole arrays in memory.
    random_state : int, Generator or None
        Seed; the one used is recorded in the result.
    verbose : bool
        Progress bars and log lines.
    **options
        Fields of :class:`DiscoveryParams` (``window_size=``, ``min_cluster_size=``,
        ``revcomp=``...), applied over ``params``.

    Returns
    -------
    MotifDiscoveryResult
        Always returned; when nothing is found (no seqlet passes, all-zero attributions, too few
        seqlets) it has no patterns and a :class:`cislens.errors.CislensWarning` says why.

    Examples
    --------
    >>> X = np.eye(4, dtype=np.float32)[np.zeros((3, 60), dtype=int)].transpose(0, 2, 1)
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     result = discover_motifs(X, np.zeros_like(X), random_state=0)
    >>> len(result.patterns), "zero" in str(caught[0].message)
    (0, True)
    """
    X, H, in_memory = _check_inputs(X, hypothetical, chunk_size)
    p = _check_params(params, options)
    seed = resolve_seed(random_state)
    rng = check_random_state(seed)
    check_seqlet_length(int(X.shape[2]), p.window_size, p.flank)
    # As extract_seqlets(scores, random_state=seed), in less memory: the null windows are drawn
    # first (a transient int64 array over all windows), then the scan makes the window sums
    # directly (the per-position scores never exist whole).
    seqlet_rng = check_random_state(seed)
    n_windows = int(X.shape[0]) * (int(X.shape[2]) - p.window_size + 1)
    sample = null_window_sample(n_windows, MAX_NULL_WINDOWS, seqlet_rng)
    sums, largest, counts = scan(X, H, chunk_size, window_size=p.window_size)
    calls = call_seqlets(
        sums,
        window_size=p.window_size,
        flank=p.flank,
        target_fdr=p.target_fdr,
        random_state=seqlet_rng,
        sample=sample,
    )
    del sums, sample
    release_free_memory()  # the scan's per-chunk blocks stay resident in the C heap otherwise
    table = calls.table.copy()
    table["pattern"] = ""
    result = MotifDiscoveryResult([], table, [], calls.thresholds, p.to_dict(), seed)
    if largest == 0:
        return _nothing_found(
            result,
            "all projected attributions (X * hypothetical) are zero: no seqlets, no "
            "motifs. Check that the attributions were computed.",
        )
    if table.empty:
        return _nothing_found(result, "no seqlet passed the threshold: no motifs.")
    if p.background is None:
        composition = counts / max(counts.sum(), 1.0)
        p = p.with_options(background=tuple(np.clip(composition, 1e-3, 1)))
    # Strongest first (extract_seqlets' order); above the cap the graph sample is drawn per
    # metacluster in _discover_metacluster.
    tables = {
        metacluster: table[table["metacluster"] == metacluster] for metacluster in ("pos", "neg")
    }
    source = _seqlet_source(X, H, tables, p, in_memory=in_memory, chunk_size=chunk_size)
    messages = []
    for metacluster, sign in (("pos", 1), ("neg", -1)):
        message = _discover_metacluster(result, source, tables[metacluster], sign, p, rng, verbose)
        if message:
            messages.append(message)
    if getattr(source, "n_fallback", 0):
        logger.info("%d windows read past the kept stretches", source.n_fallback)
    if not result.patterns:
        if not messages:  # candidates were found, and every one failed the test
            messages.append(
                f"{len(result.rejected)} candidate pattern(s) failed the significance test "
                f"(alpha={p.alpha})"
            )
        return _nothing_found(result, "no motifs: " + "; ".join(messages) + ".")
    if messages:
        logger.info("; ".join(messages))
    return result


def _check_inputs(X, hypothetical, chunk_size):
    """``(X, H, in_memory)``: NumPy arrays, tensors and nested lists are read whole; other
    array-likes (Zarr, h5py) in chunks."""
    in_memory = all(is_in_memory(v) or not hasattr(v, "shape") for v in (X, hypothetical))
    if in_memory:
        X = _as_array(X, "X")
        H = _as_array(hypothetical, "hypothetical")
    else:
        X, H = check_array_like(X, "X"), check_array_like(hypothetical, "hypothetical")
    if tuple(X.shape) != tuple(H.shape):
        raise ValueError(f"hypothetical must have the shape of X {X.shape}; got {H.shape}.")
    check_positive_int(chunk_size, "chunk_size")
    return X, H, in_memory


def _check_params(params, options) -> DiscoveryParams:
    """``params`` (default: the defaults) with the keyword ``options`` applied over it."""
    if params is None:
        params = DiscoveryParams()
    elif not isinstance(params, DiscoveryParams):
        raise TypeError(
            f"params must be a DiscoveryParams (or None); got {type(params).__name__}. Pass "
            "single settings as keywords: discover_motifs(X, H, min_cluster_size=10)."
        )
    unknown = sorted(set(options) - set(DiscoveryParams.names()))
    if unknown:  # a TypeError, as Python's own for an unexpected keyword
        raise TypeError(
            f"discover_motifs() got unexpected keyword argument(s) {unknown}; the settings are "
            f"the fields of DiscoveryParams: {DiscoveryParams.names()}."
        )
    return params.with_options(**options)


def _seqlet_source(X, H, tables, p, *, in_memory, chunk_size):
    """What the windows of the seqlets are read from: the arrays, or the kept stretches."""
    if in_memory:
        return SeqletSource(X, H)
    # Keep only the stretches of sequence around the seqlets (see cislens.motifs.source).
    source = WindowSource.from_chunks(
        X,
        H,
        pd.concat(list(tables.values())),
        pad=_pad(p.window_size, p.flank),
        chunk_size=chunk_size,
    )
    logger.info("kept %.1f MB of windows around the seqlets", source.nbytes / 1e6)
    return source


def _discover_metacluster(result, source, sub, sign, p, rng, verbose) -> str | None:
    """Patterns of one metacluster, tested and named, added to ``result``; or why there are
    none (None when some were found or it was empty)."""
    metacluster = "pos" if sign > 0 else "neg"
    label = f"{metacluster} metacluster"
    if len(sub) < max(p.min_cluster_size, 2):
        if len(sub):
            return (
                f"the {metacluster} metacluster has {len(sub)} seqlets, fewer "
                f"than min_cluster_size={p.min_cluster_size}; skipped"
            )
        return None
    logger.info("%s: %d seqlets", label, len(sub))
    if len(sub) > p.max_seqlets_per_metacluster:
        # The graph sample (the first rows) is a seeded random sample, strongest first within
        # it and within the rest: a representative sample, so that the seqlets assigned to
        # their nearest graph seqlet find noise among it as well as motifs (the strongest
        # seqlets alone are nearly all motif instances, and noise would join motif clusters).
        chosen = np.zeros(len(sub), dtype=bool)
        chosen[rng.choice(len(sub), p.max_seqlets_per_metacluster, replace=False)] = True
        sub = pd.concat([sub[chosen], sub[~chosen]])
    patterns = _metacluster_patterns(
        source, sub, sign, p, rng, verbose, label, clock=result.cpu_seconds
    )
    if not patterns:
        return (
            f"the {metacluster} metacluster ({len(sub)} seqlets) gave no pattern "
            f"of >= {p.min_cluster_size} seqlets"
        )
    logger.info("%s: %d candidate patterns; null patterns next", label, len(patterns))
    null_values = _null_similarities(source, sub, sign, p, rng, verbose, label)
    passed, failed = test_patterns(source, patterns, null_values, alpha=p.alpha)
    for group in (passed, failed):
        group.sort(key=lambda q: -q.n_seqlets)
    for rank, pattern in enumerate(passed):
        pattern.name = f"{metacluster}_{rank}"
    for rank, pattern in enumerate(failed):
        pattern.name = f"{metacluster}_rejected_{rank}"
    for pattern in passed:
        rows = pattern.stats.pop("source_rows")
        result.seqlets.loc[sub.index[rows], "pattern"] = pattern.name
        _instance_thresholds(source, pattern)
    for pattern in failed:
        pattern.stats.pop("source_rows", None)
    result.patterns.extend(passed)
    result.rejected.extend(failed)
    return None


def _nothing_found(result: MotifDiscoveryResult, reason: str) -> MotifDiscoveryResult:
    """The explicit empty result: the reason is kept in the result (and its file) and warned."""
    result.empty_reason = reason
    warnings.warn(reason, CislensWarning, stacklevel=3)
    return result


def _null_similarities(source, table, sign, p, rng, verbose, label):
    """Pooled leave-one-out similarities of the seqlets of null patterns."""
    if len(table) > p.null_max_seqlets:
        table = table.iloc[np.sort(rng.choice(len(table), p.null_max_seqlets, replace=False))]
    null, table = permuted_source(source, table, random_state=rng)
    null_p = p.with_options(n_leiden_runs=max(1, p.n_leiden_runs // 5), min_ic_in_window=0.0)
    patterns = _metacluster_patterns(
        null,
        table,
        sign,
        null_p,
        rng,
        verbose,
        f"{label} (null)",
        refine=False,
    )
    values = [pattern_seqlet_similarity(null, q) for q in patterns]
    if not values:  # no null cluster: one null pattern of all the null seqlets
        pattern = aggregate_rows(
            null,
            table,
            l1_tracks(*_windows(null, table)),
            np.arange(len(table)),
            p,
            "null",
            "pos" if sign > 0 else "neg",
        )
        values = [pattern_seqlet_similarity(null, pattern)] if pattern is not None else []
    return np.concatenate(values) if values else np.zeros(0)


def _windows(source, table):
    width = int(table["end"].iloc[0] - table["start"].iloc[0])
    onehot, hyp, _ = source.windows(
        table["example"].to_numpy(),
        table["start"].to_numpy(),
        np.zeros(len(table), dtype=bool),
        width,
    )
    return hyp, onehot * hyp


def _instance_thresholds(source, pattern, quantile: float = 0.05, trim: float = 0.3):
    """Similarity / contribution of the pattern's own seqlets, for instance calling."""
    from cislens.motifs.instances import seqlet_scores

    similarity, contribution = seqlet_scores(source, pattern, trim=trim)
    pattern.stats["similarity_threshold"] = float(np.quantile(similarity, quantile))
    pattern.stats["contribution_threshold"] = float(np.quantile(contribution, quantile))
    pattern.stats["threshold_quantile"] = quantile


__all__ = ["DiscoveryParams", "MotifDiscoveryResult", "discover_motifs"]
