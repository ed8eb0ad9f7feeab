"""Filters that read one unit: passing ARGMINN filters whose windows come at a fixed arrangement.

A planted rule can make two motifs one unit (``jund_tead``: JUND, exactly 6 bp, TEAD1, on one
strand; the label depends on nothing else), and a model can then read that unit with more than
one filter. On ``jund_tead`` (20,000 sequences, the defaults) two 15 bp filters each read the
JUND-gap-TEAD1 junction, one column apart: their windows co-occur at that one offset on most of
their sites. Two filters for separate motifs that merely co-occur (both planted in the
positives, at positions of their own) meet at many different offsets instead.

- :func:`arrangement`: the most frequent relative arrangement (offset, strand) of two filters'
  activating windows in the same sequences, and on what fraction of each filter's windows it
  occurs;
- :func:`group_units`: passing filters joined into units wherever that fraction is at least
  ``min_cooccurrence`` for both filters, each member placed relative to the unit's leader (its
  most influential filter);
- :func:`unit_counts`: the base counts of the sequence a unit covers, over the leader's windows
  at which every member fires at its place, optionally with flanks;
- :func:`extend_span`: from the columns the filters cover, outward while the columns keep
  information, so a composite unit (several filters, or one filter with two parts) is read
  whole from the sequences (:func:`readout_units`), split into parts at its uninformative gaps
  and described in words (:func:`reading`, :func:`named_readings`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cislens.argminn.information import information_content, informative_runs

Hits = tuple[np.ndarray, np.ndarray, np.ndarray]
"""A filter's activating windows: sequence index (n,), placement (n,), minus strand won (n,)."""


@dataclass(frozen=True)
class Arrangement:
    """Where filter k's windows sit relative to filter j's.

    ``offset``: k's window starts ``offset`` columns from j's, counted in j's orientation (j on
    the minus strand: along the reverse complement); ``flipped``: k's winning strand is the
    opposite of j's. ``share_j`` / ``share_k``: the fraction of j's / k's activating windows
    that have a partner at exactly this arrangement.
    """

    offset: int
    flipped: bool
    share_j: float
    share_k: float

    @property
    def share(self) -> float:
        """The smaller of the two shares: how much of *both* filters the arrangement covers."""
        return min(self.share_j, self.share_k)


def arrangement(hits_j: Hits, hits_k: Hits) -> Arrangement | None:
    """The most frequent arrangement of filter k's windows relative to filter j's.

    Every pair of activating windows in one sequence gives an arrangement (offset in j's
    orientation, relative strand); the one held by the most of j's windows is returned, with
    the share of j's and of k's windows that take part in it. None when the two filters never
    fire in the same sequence.

    Examples
    --------
    >>> j = (np.array([0, 1, 2]), np.array([10, 40, 7]), np.array([False, True, False]))
    >>> k = (np.array([0, 1, 2]), np.array([12, 38, 30]), np.array([False, True, False]))
    >>> arrangement(j, k)
    Arrangement(offset=2, flipped=False, share_j=0.6666666666666666, share_k=0.6666666666666666)
    """
    nj, pj, mj = (np.asarray(a) for a in hits_j)
    nk, pk, mk = (np.asarray(a) for a in hits_k)
    if len(nj) == 0 or len(nk) == 0:
        return None
    left = pd.DataFrame({"n": nj, "pj": pj, "mj": mj, "ij": np.arange(len(nj))})
    right = pd.DataFrame({"n": nk, "pk": pk, "mk": mk, "ik": np.arange(len(nk))})
    pairs = left.merge(right, on="n")
    if pairs.empty:
        return None
    sign = np.where(pairs["mj"].to_numpy(), -1, 1)
    pairs["offset"] = sign * (pairs["pk"].to_numpy() - pairs["pj"].to_numpy())
    pairs["flipped"] = pairs["mj"].to_numpy() != pairs["mk"].to_numpy()
    held = pairs.groupby(["offset", "flipped"])["ij"].nunique().reset_index()
    # the most of j's windows; ties: the nearer offset, then the smaller, then same strand
    held["distance"] = held["offset"].abs()
    best = held.sort_values(
        ["ij", "distance", "offset", "flipped"], ascending=[False, True, True, True]
    ).iloc[0]
    at = pairs[(pairs["offset"] == best["offset"]) & (pairs["flipped"] == best["flipped"])]
    return Arrangement(
        int(best["offset"]),
        bool(best["flipped"]),
        float(at["ij"].nunique() / len(nj)),
        float(at["ik"].nunique() / len(nk)),
    )


def _inverse(offset: int, flipped: bool) -> tuple[int, bool]:
    """j relative to k, from k relative to j (a flipped partner's frame runs backwards, so the
    offset keeps its sign)."""
    return (offset if flipped else -offset), flipped


def _compose(first: tuple[int, bool], second: tuple[int, bool]) -> tuple[int, bool]:
    """l relative to j, from k relative to j (``first``) and l relative to k (``second``)."""
    (d1, f1), (d2, f2) = first, second
    return (d1 - d2 if f1 else d1 + d2), f1 != f2


def group_units(
    hits: dict[int, Hits], order: list[int], *, min_cooccurrence: float = 0.5
) -> tuple[list[dict], dict[tuple[int, int], Arrangement]]:
    """Join filters into units: two filters whose most frequent arrangement holds at least
    ``min_cooccurrence`` of the windows of each are one unit (and units sharing a filter are
    one unit).

    Parameters
    ----------
    hits : dict
        Filter index -> its activating windows (:data:`Hits`).
    order : list of int
        The filters to group, strongest first (the first of a unit is its leader).
    min_cooccurrence : float
        Share of *both* filters' windows the arrangement must hold (default 0.5).

    Returns
    -------
    units : list of dict
        One per unit, in ``order`` of their leaders: ``leader``, ``members`` (list of
        ``(filter, offset, flipped)`` relative to the leader, the leader first at ``(0,
        False)``), ``share`` (the smallest pairwise share that joined it; 1.0 for one filter).
    pairs : dict
        ``(j, k) -> Arrangement`` for every pair of ``order`` (j before k) that co-occurs.

    Examples
    --------
    >>> a = (np.arange(4), np.full(4, 10), np.zeros(4, bool))
    >>> b = (np.arange(4), np.full(4, 11), np.zeros(4, bool))
    >>> units, _ = group_units({0: a, 1: b, 2: a}, [1, 0])
    >>> units[0]["leader"], units[0]["members"]
    (1, [(1, 0, False), (0, -1, False)])
    """
    pairs: dict[tuple[int, int], Arrangement] = {}
    links: dict[int, list[tuple[int, tuple[int, bool], float]]] = {k: [] for k in order}
    for a, j in enumerate(order):
        for k in order[a + 1 :]:
            found = arrangement(hits.get(j, _NO_HITS), hits.get(k, _NO_HITS))
            if found is None:
                continue
            pairs[(j, k)] = found
            if found.share >= min_cooccurrence:
                links[j].append((k, (found.offset, found.flipped), found.share))
                links[k].append((j, _inverse(found.offset, found.flipped), found.share))
    units, placed = [], set()
    for leader in order:
        if leader in placed:
            continue
        members, share, queue = [(leader, 0, False)], 1.0, [(leader, (0, False))]
        placed.add(leader)
        while queue:  # breadth first: each member placed through its first link
            j, where = queue.pop(0)
            for k, step, link_share in links[j]:
                share = min(share, link_share)
                if k in placed:
                    continue
                placed.add(k)
                at = _compose(where, step)
                members.append((k, at[0], at[1]))
                queue.append((k, at))
        units.append({"leader": leader, "members": members, "share": share})
    return units, pairs


_NO_HITS: Hits = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))


def unit_sites(hits: dict[int, Hits], members: list[tuple[int, int, bool]]) -> np.ndarray:
    """Indices of the leader's windows at which every other member fires at its place.

    Examples
    --------
    >>> a = (np.array([0, 1]), np.array([10, 20]), np.array([False, True]))
    >>> b = (np.array([0, 1]), np.array([11, 19]), np.array([False, True]))
    >>> unit_sites({0: a, 1: b}, [(0, 0, False), (1, 1, False)])
    array([0, 1])
    """
    n, p, minus = hits[members[0][0]]
    keep = np.ones(len(n), dtype=bool)
    sign = np.where(minus, -1, 1)
    for k, offset, flipped in members[1:]:
        nk, pk, mk = hits[k]
        present = set(zip(nk.tolist(), pk.tolist(), mk.tolist(), strict=True))
        want = zip(
            n.tolist(), (p + sign * offset).tolist(), (minus != flipped).tolist(), strict=True
        )
        keep &= np.array([w in present for w in want], dtype=bool)
    return np.flatnonzero(keep)


def unit_counts(
    X: np.ndarray,
    hits: dict[int, Hits],
    members: list[tuple[int, int, bool]],
    width: int,
    *,
    flank: int = 0,
) -> tuple[np.ndarray, int]:
    """The counts (4, span + 2 flank) of a unit and the number of windows they come from.

    The span runs, in the leader's orientation, from the leftmost to the rightmost column that
    a member's window covers, plus ``flank`` columns on each side; the counts are taken at the
    leader's windows where every member fires at its place (:func:`unit_sites`), each read in
    the leader's orientation (minus strand: reverse-complemented). Windows whose span (without
    the flanks) leaves the sequence are skipped; flank columns beyond the sequence's ends are
    not counted (their column totals are smaller).

    Examples
    --------
    >>> from cislens.sequence import one_hot_encode
    >>> X = one_hot_encode(["TTACGTCCAA", "GGACGTCCTT"]).numpy()
    >>> a = (np.array([0, 1]), np.array([2, 2]), np.array([False, False]))
    >>> b = (np.array([0, 1]), np.array([4, 4]), np.array([False, False]))
    >>> counts, n = unit_counts(X, {0: a, 1: b}, [(0, 0, False), (1, 2, False)], 4)
    >>> "".join("ACGT"[i] for i in counts.argmax(0)), n
    ('ACGTCC', 2)
    >>> unit_counts(X, {0: a, 1: b}, [(0, 0, False), (1, 2, False)], 4, flank=1)[0].sum(0)
    array([2., 2., 2., 2., 2., 2., 2., 2.])
    """
    lo = min(0, *(d for _, d, _ in members))
    hi = max(width, *(d + width for _, d, _ in members))
    n, p, minus = hits[members[0][0]]
    rows = unit_sites(hits, members)
    n, p, minus = n[rows], p[rows], minus[rows]
    first = np.where(minus, p + width - hi, p + lo)  # sequence start of the span
    ok = (first >= 0) & (first + hi - lo <= X.shape[2])
    n, first, minus = n[ok], first[ok] - flank, minus[ok]
    idx = first[:, None] + np.arange(hi - lo + 2 * flank)[None]
    inside = (idx >= 0) & (idx < X.shape[2])
    windows = X[n[:, None], :, np.clip(idx, 0, X.shape[2] - 1)].transpose(0, 2, 1)
    windows = windows * inside[:, None, :]  # (m, 4, span): flank columns off the ends count 0
    windows = np.where(minus[:, None, None], windows[:, ::-1, ::-1], windows)
    return windows.sum(0).astype(np.float64), len(n)


def extend_span(
    ic: np.ndarray, core: tuple[int, int], trim_ic: float, *, max_gap: int = 2
) -> tuple[int, int]:
    """Grow ``core`` ``[start, end)`` outward over columns with IC >= ``trim_ic`` (across
    gaps of at most ``max_gap`` columns), starting from the core's first and last such column.

    Inside the core nothing splits (a composite's spacer stays); outside it, the span keeps
    growing while the columns keep information, so a motif that the filters see only in part
    is read whole from the sequences. ``(0, 0)`` when no column of the core is informative.

    Examples
    --------
    >>> ic = np.array([0.0, 1.2, 0.1, 1.5, 1.9, 0.0, 0.0, 0.0, 1.8, 0.0, 0.0, 0.0, 1.0])
    >>> extend_span(ic, (3, 9), 0.3)
    (1, 9)
    """
    informative = np.asarray(ic) >= trim_ic
    inside = np.flatnonzero(informative[core[0] : core[1]])
    if inside.size == 0:
        return 0, 0
    # from the core's own first and last informative columns, so a flat edge bridges nothing
    start, end = core[0] + int(inside[0]), core[0] + int(inside[-1]) + 1
    while True:
        near = [i for i in range(max(start - max_gap - 1, 0), start) if informative[i]]
        if not near:
            break
        start = near[0]
    while True:
        near = [i for i in range(end, min(end + max_gap + 1, len(informative))) if informative[i]]
        if not near:
            break
        end = near[-1] + 1
    return start, end


def _consensus(pfm: np.ndarray, trim_ic: float) -> str:
    """Most frequent base per column, ``n`` where the column's IC is below ``trim_ic``."""
    ic = information_content(pfm)
    return "".join(
        "ACGT"[i] if c >= trim_ic else "n" for i, c in zip(pfm.argmax(0), ic, strict=True)
    )


UNIT_COLUMNS = (
    "unit",
    "leader",
    "filters",
    "offsets",
    "flipped",
    "share",
    "n_sites",
    "start",
    "end",
    "length",
    "parts",
    "gaps",
    "consensus",
    "reading",
)
"""Columns of :attr:`cislens.argminn.readout.ArgminnMotifs.units`: ``unit`` (``unit_<leader>``),
``filters`` / ``offsets`` / ``flipped`` (``;``-joined, leader first: each member's start
relative to the leader's window and whether its strand is the opposite), ``share`` (the
smallest share of both filters' windows at the arrangement that joined them; 1 for a unit of one
filter), ``n_sites`` (the leader's windows where the whole unit fires), ``start`` / ``end`` /
``length`` (the unit PFM's span in the leader's columns, 0 = the first column of the leader's
window; negative or beyond the filter width where the read unit extends past the filters),
``parts`` (the informative runs of a composite unit's PFM, ``start-end`` in its own columns,
joined by ``;``), ``gaps`` (bp between consecutive parts, ``;``-joined), ``consensus``, and
``reading`` (a composite unit in words: each part's consensus, with its TOMTOM match when
annotated, and the gaps between them). A *composite* unit is one of several filters, or one
filter whose own PFM has two or more parts; other units keep their filter's PFM and leave
``parts``, ``gaps`` and ``reading`` empty."""


def _read_composite(X, hits, members, width, trim_ic):
    """A composite unit's PFM read from the sequences at its joint sites: ``(pfm, (start, end),
    n_sites)``, the span in the leader's columns (:func:`unit_counts` with ``width`` columns of
    flank each side, extended and trimmed by :func:`extend_span`)."""
    lo = min(0, *(d for _, d, _ in members))
    hi = max(width, *(d + width for _, d, _ in members))
    counts, n_sites = unit_counts(X, hits, members, width, flank=width)
    total = counts.sum(0, keepdims=True)
    pfm = counts / np.maximum(total, 1e-12) if n_sites else np.full(counts.shape, 0.25)
    ic = information_content(pfm)
    # a flank column seen at fewer than half of the sites (near a sequence end) says too little
    ic[total[0] < 0.5 * max(n_sites, 1)] = 0.0
    start, end = extend_span(ic, (width, width + hi - lo), trim_ic)
    if end <= start:  # nothing informative (or no window in place): keep the filters' columns
        start, end = width, width + hi - lo
    return pfm[:, start:end], (start - width + lo, end - width + lo), n_sites


def _parts_and_gaps(pfm: np.ndarray) -> tuple[list[tuple[int, int]], list[int]]:
    runs = informative_runs(information_content(pfm))
    return runs, [b[0] - a[1] for a, b in itertools.pairwise(runs)]


def readout_units(X, hits, passing, pfms, spans, width, *, trim_ic, min_cooccurrence, composite=()):
    """The readout's units: ``(table, pfms, notes)``.

    ``hits``: filter -> :data:`Hits`; ``passing``: the passing filters, strongest first;
    ``pfms`` (F, 4, W) and ``spans`` (filter -> trimmed ``(start, end)``): the filters' own;
    ``composite``: the filters whose own PFM has two or more parts. A unit of one filter keeps
    its filter's PFM and span; a composite unit (several filters, or one filter in
    ``composite``) is read from the sequences at its joint sites over the span its filters
    cover, extended while the columns keep information (:func:`_read_composite`), and split
    into parts at its uninformative gaps. ``pfms`` of the result: unit name -> trimmed PFM.
    ``notes``: filter -> the sentence its ``reason`` gets when it shares a unit.
    """
    units, _ = group_units(hits, list(passing), min_cooccurrence=min_cooccurrence)
    rows, out, notes = [], {}, {}
    for unit in units:
        leader, members = unit["leader"], unit["members"]
        whole = len(members) > 1 or leader in composite
        if whole:
            trimmed, (start, end), n_sites = _read_composite(X, hits, members, width, trim_ic)
        else:
            (start, end), n_sites = spans[leader], len(hits[leader][0])
            if end <= start:
                start, end = 0, pfms[leader].shape[1]
            trimmed = pfms[leader][:, start:end]
        if len(members) > 1:
            notes.update(_member_notes(unit))
        runs, gaps = _parts_and_gaps(trimmed) if whole else ([], [])
        rows.append(
            {
                "unit": f"unit_{leader}",
                "leader": leader,
                "filters": ";".join(str(k) for k, _, _ in members),
                "offsets": ";".join(str(d) for _, d, _ in members),
                "flipped": ";".join(str(bool(f)).lower() for _, _, f in members),
                "share": float(unit["share"]),
                "n_sites": int(n_sites),
                "start": int(start),
                "end": int(end),
                "length": int(end - start),
                "parts": ";".join(f"{a}-{b}" for a, b in runs),
                "gaps": ";".join(str(g) for g in gaps),
                "consensus": _consensus(trimmed, trim_ic),
                "reading": reading(trimmed, runs, trim_ic=trim_ic),
            }
        )
        out[f"unit_{leader}"] = trimmed
    table = pd.DataFrame(rows, columns=list(UNIT_COLUMNS))
    return table, out, notes


def _member_notes(unit: dict) -> dict[int, str]:
    """The sentence each member's ``reason`` gets: which unit, with whom, at which offset."""
    leader, members, notes = unit["leader"], unit["members"], {}
    for k, offset, flipped in members:
        others = ", ".join(f"filter_{m}" for m, _, _ in members if m != k)
        notes[k] = (
            f"; one unit (unit_{leader}) with {others}: their windows co-occur at one "
            f"arrangement on >= {unit['share']:.0%} of the sites of each"
        )
        if k != leader:
            strand = ", opposite strand" if flipped else ""
            notes[k] += f" (its window at {offset:+d} from filter_{leader}'s{strand})"
    return notes


def reading(
    pfm: np.ndarray,
    runs: list[tuple[int, int]],
    *,
    trim_ic: float = 0.3,
    matches: list[str] | None = None,
) -> str:
    """A composite unit in words: each part's consensus (with ``matches[i]``, e.g. its TOMTOM
    match, in brackets), joined by the gaps between them; ``""`` with fewer than two parts.

    Examples
    --------
    >>> pfm = np.full((4, 10), 0.25)
    >>> pfm[:, :4] = np.eye(4)
    >>> pfm[:, 6:] = np.eye(4)[::-1]
    >>> reading(pfm, [(0, 4), (6, 10)], matches=["X (q 0.001, +)", "-"])
    'ACGT [X (q 0.001, +)] + 2 bp + TGCA [-]'
    """
    if len(runs) < 2:
        return ""
    words = []
    for i, (a, b) in enumerate(runs):
        word = _consensus(pfm[:, a:b], trim_ic)
        if matches is not None:
            word += f" [{matches[i]}]"
        if i:
            words.append(f"{a - runs[i - 1][1]} bp")
        words.append(word)
    return " + ".join(words)


def named_readings(
    units: pd.DataFrame, annotation: pd.DataFrame, pfms: dict, *, trim_ic: float = 0.3
) -> list[str]:
    """Each unit's ``reading`` with its parts' rank-1 TOMTOM matches (``annotation``, patterns
    named ``unit_<leader>:<start>-<end>``): name, q-value and strand, ``-`` where q >= 0.05 or
    the part was not annotated; ``""`` for a unit with fewer than two parts.

    Examples
    --------
    >>> pfm = np.full((4, 10), 0.25)
    >>> pfm[:, :4], pfm[:, 6:] = np.eye(4), np.eye(4)[::-1]
    >>> units = pd.DataFrame({"unit": ["unit_0"], "parts": ["0-4;6-10"]})
    >>> found = pd.DataFrame({"pattern": ["unit_0:0-4", "unit_0:6-10"], "rank": [1, 1],
    ...     "target_name": ["X", "Y"], "q_value": [0.001, 0.2], "strand": ["+", "-"]})
    >>> named_readings(units, found, {"unit_0": pfm})
    ['ACGT [X q 0.001 +] + 2 bp + TGCA [-]']
    """
    best = annotation[annotation["rank"] == 1].set_index("pattern")
    out = []
    for row in units.itertuples():
        runs = [tuple(int(v) for v in s.split("-")) for s in str(row.parts).split(";") if s]
        named = []
        for a, b in runs:
            name = f"{row.unit}:{a}-{b}"
            match = best.loc[name] if name in best.index else None
            ok = match is not None and match["q_value"] < 0.05
            named.append(
                f"{match['target_name']} q {match['q_value']:.2g} {match['strand']}" if ok else "-"
            )
        out.append(reading(pfms[row.unit], runs, trim_ic=trim_ic, matches=named))
    return out


__all__ = [
    "UNIT_COLUMNS",
    "Arrangement",
    "Hits",
    "arrangement",
    "extend_span",
    "group_units",
    "named_readings",
    "reading",
    "readout_units",
    "unit_counts",
    "unit_sites",
]
