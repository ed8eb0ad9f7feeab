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
  at which every member fires at its place: the unit's stitched PFM.
"""

from __future__ import annotations

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
    X: np.ndarray, hits: dict[int, Hits], members: list[tuple[int, int, bool]], width: int
) -> tuple[np.ndarray, int]:
    """The stitched counts (4, span) of a unit and the number of windows they come from.

    The span runs, in the leader's orientation, from the leftmost to the rightmost column that
    a member's window covers; the counts are taken at the leader's windows where every member
    fires at its place (:func:`unit_sites`), each read in the leader's orientation (minus
    strand: reverse-complemented). Windows whose span leaves the sequence are skipped.

    Examples
    --------
    >>> from cislens.sequence import one_hot_encode
    >>> X = one_hot_encode(["TTACGTCCAA", "GGACGTCCTT"]).numpy()
    >>> a = (np.array([0, 1]), np.array([2, 2]), np.array([False, False]))
    >>> b = (np.array([0, 1]), np.array([4, 4]), np.array([False, False]))
    >>> counts, n = unit_counts(X, {0: a, 1: b}, [(0, 0, False), (1, 2, False)], 4)
    >>> "".join("ACGT"[i] for i in counts.argmax(0)), n
    ('ACGTCC', 2)
    """
    lo = min(0, *(d for _, d, _ in members))
    hi = max(width, *(d + width for _, d, _ in members))
    n, p, minus = hits[members[0][0]]
    rows = unit_sites(hits, members)
    n, p, minus = n[rows], p[rows], minus[rows]
    first = np.where(minus, p + width - hi, p + lo)  # sequence start of the span
    ok = (first >= 0) & (first + hi - lo <= X.shape[2])
    n, first, minus = n[ok], first[ok], minus[ok]
    idx = first[:, None] + np.arange(hi - lo)[None]
    windows = X[n[:, None], :, idx].transpose(0, 2, 1)  # (m, 4, span)
    windows = np.where(minus[:, None, None], windows[:, ::-1, ::-1], windows)
    return windows.sum(0).astype(np.float64), len(n)


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
    "consensus",
)
"""Columns of :attr:`cislens.argminn.readout.ArgminnMotifs.units`: ``unit`` (``unit_<leader>``),
``filters`` / ``offsets`` / ``flipped`` (``;``-joined, leader first: each member's start
relative to the leader's window and whether its strand is the opposite), ``share`` (the
smallest share of both filters' windows at the arrangement that joined them; 1 for a unit of one
filter), ``n_sites`` (the leader's windows where the whole unit fires), ``start`` / ``end`` /
``length`` (the stitched PFM's trimmed span), ``parts`` (its informative runs, ``start-end``
in the trimmed PFM's columns, joined by ``;``; units of several filters only), ``consensus``."""


def readout_units(X, hits, passing, pfms, spans, width, *, trim_ic, min_cooccurrence):
    """The readout's units: ``(table, pfms, notes)``.

    ``hits``: filter -> :data:`Hits`; ``passing``: the passing filters, strongest first;
    ``pfms`` (F, 4, W) and ``spans`` (filter -> trimmed ``(start, end)``): the filters' own.
    A unit of one filter keeps its filter's PFM and span; a unit of several gets the stitched
    PFM (:func:`unit_counts`), trimmed from its first to its last column with IC >= ``trim_ic``
    (both blocks of a composite are kept). ``pfms`` of the result: unit name -> trimmed PFM.
    ``notes``: filter -> the sentence its ``reason`` gets when it shares a unit.
    """
    units, _ = group_units(hits, list(passing), min_cooccurrence=min_cooccurrence)
    rows, out, notes = [], {}, {}
    for unit in units:
        leader, members = unit["leader"], unit["members"]
        if len(members) == 1:
            pfm, n_sites = pfms[leader], len(hits[leader][0])
            start, end = spans[leader]
        else:
            counts, n_sites = unit_counts(X, hits, members, width)
            total = counts.sum(0, keepdims=True)
            pfm = counts / np.maximum(total, 1e-12) if n_sites else np.full(counts.shape, 0.25)
            keep = np.flatnonzero(information_content(pfm) >= trim_ic)
            start, end = (int(keep[0]), int(keep[-1]) + 1) if keep.size else (0, 0)
            for k, offset, flipped in members:
                others = ", ".join(f"filter_{m}" for m, _, _ in members if m != k)
                notes[k] = (
                    f"; one unit (unit_{leader}) with {others}: their windows co-occur at one "
                    f"arrangement on >= {unit['share']:.0%} of the sites of each"
                )
                if k != leader:
                    strand = ", opposite strand" if flipped else ""
                    notes[k] += f" (its window at {offset:+d} from filter_{leader}'s{strand})"
        if end <= start:  # nothing informative (or no window in place): keep every column
            start, end = 0, pfm.shape[1]
        trimmed = pfm[:, start:end]
        runs = informative_runs(information_content(trimmed))
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
                "parts": ";".join(f"{a}-{b}" for a, b in runs) if len(members) > 1 else "",
                "consensus": _consensus(trimmed, trim_ic),
            }
        )
        out[f"unit_{leader}"] = (pfm, (start, end))
    table = pd.DataFrame(rows, columns=list(UNIT_COLUMNS))
    return table, out, notes


__all__ = [
    "UNIT_COLUMNS",
    "Arrangement",
    "Hits",
    "arrangement",
    "group_units",
    "readout_units",
    "unit_counts",
    "unit_sites",
]
