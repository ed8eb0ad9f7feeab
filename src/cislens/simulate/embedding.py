"""Instance contents, embedding, and the clean-up that makes the recorded truth complete.

1. Each instance is drawn from its motif's PWM (``mode: sample``; draws below the match
   threshold are re-drawn, so every instance is a match) or is the consensus, reverse
   complemented on the - strand, and written over the background.
2. The whole batch is scanned for matches of every motif on both strands
   (:meth:`MatchModel.scan`). A match is *accounted for* when recorded instances of the same
   motif cover at least ``scan.overlap`` (default 50 %) of its window: the instance itself, a
   shifted echo of it (a palindrome's other strand, a repeated half-site), or a window between
   two tandem instances made of their half-sites (``docs/simulation.md``, "Truth").
3. For every other match, the background bases inside the window are re-drawn (from the
   background model, given their left context). If fewer than half of the window's bases are
   background, or after three rounds, the instances overlapping the window are also re-drawn
   from their PWMs (positions, strands and labels do not change). Only windows overlapping a
   changed stretch are scanned again, each distinct window counted once; this repeats until no
   unaccounted match is left, or stops with an error naming the motifs (no new low in the
   count for ``_PATIENCE`` rounds, or ``scan.max_rounds``).
"""

from __future__ import annotations

import logging

import numpy as np

from cislens.errors import ConfigError
from cislens.simulate.matching import MatchModel, unaccounted_hits

logger = logging.getLogger(__name__)

# Rounds without a new low in the number of unrecorded matches before the clean-up gives up.
# A removable match disappears with a fixed chance per round (its background and, from the
# fourth round on, its instance are re-drawn), so 50 rounds without progress mean it cannot be.
_PATIENCE = 50


class InstanceSampler:
    """Draws instance tokens that reach the match threshold."""

    def __init__(self, motifs: dict, modes: dict, match: MatchModel, wheres: dict):
        self.names = list(motifs)
        self.cumulative = [np.cumsum(m.probabilities, axis=0)[:3] for m in motifs.values()]
        self.consensus = [m.probabilities.argmax(axis=0).astype(np.uint8) for m in motifs.values()]
        self.modes = [modes[name] for name in self.names]
        self.wheres = [wheres.get(name, f"motifs.{name}") for name in self.names]
        self.match = match

    def _raw(self, motif: int, n: int, rng) -> np.ndarray:
        if self.modes[motif] == "consensus":
            return np.repeat(self.consensus[motif][None], n, axis=0)
        cum = self.cumulative[motif]
        u = rng.random((n, 1, cum.shape[1]))
        return (u > cum[None]).sum(axis=1).astype(np.uint8)

    def draw(self, motif: int, minus: np.ndarray, rng) -> np.ndarray:
        """(n, W) tokens for n instances of ``motif`` (``minus``: on the - strand)."""
        minus = np.asarray(minus, dtype=bool)
        width = self.match.widths[motif]
        out = np.empty((len(minus), width), dtype=np.uint8)
        todo = np.arange(len(minus))
        for _ in range(100_000):
            tok = self._raw(motif, len(todo), rng)
            flip = minus[todo]
            tok[flip] = 3 - tok[flip][:, ::-1]
            ok = np.empty(len(todo), dtype=bool)
            for strand, rows in ((0, ~flip), (1, flip)):
                scores = self.match.score_tokens(tok[rows], motif, strand)
                ok[rows] = scores >= self.match.thresholds[motif, strand]
            out[todo[ok]] = tok[ok]
            todo = todo[~ok]
            if not len(todo):
                return out
        raise ConfigError(  # pragma: no cover - check_acceptance catches this first
            f"{self.wheres[motif]}: sampled instances never reach the match threshold."
        )

    def check_acceptance(self, rng, *, n: int = 4000, minimum: float = 1e-3) -> dict:
        """Fraction of PWM draws reaching the threshold, per motif; fail when below ``minimum``."""
        rates = {}
        for motif, name in enumerate(self.names):
            tok = self._raw(motif, n, rng)
            rate = float(
                np.mean(self.match.score_tokens(tok, motif, 0) >= self.match.thresholds[motif, 0])
            )
            rates[name] = rate
            if rate < minimum:
                raise ConfigError(
                    f"{self.wheres[motif]}: only {rate:.2%} of instances sampled from the PWM "
                    f"reach the match threshold ({self.match.threshold_bits(motif, 0):.1f} "
                    "bits); the motif is too weak to sample. Use mode: consensus, or lower "
                    "scan.max_fraction / raise scan.p_value."
                )
        return rates


def _write(tokens, rows, starts, inst_tokens):
    width = inst_tokens.shape[1]
    tokens[rows[:, None], starts[:, None] + np.arange(width)] = inst_tokens


def embed_instances(tokens, seq, motif, start, minus, sampler: InstanceSampler, rng):
    """Draw every instance and write it into ``tokens`` (in place)."""
    for m in np.unique(motif):
        idx = np.flatnonzero(motif == m)
        _write(tokens, seq[idx], start[idx], sampler.draw(int(m), minus[idx], rng))


def _distinct_windows(row, pos, motif, length, n_motifs):
    """Each matching (row, position, motif) once, however many times the scan reported it.

    A window overlapping two scanned segments, or matching on both strands (a palindrome), is
    reported more than once. Re-drawing every report and scanning around each again made the
    count double every round (issue 21: 84 -> 17 million), so a round works on distinct
    windows only and its work is bounded by the number of windows in the batch.
    """
    key = np.unique((row * (length + 1) + pos) * n_motifs + motif)
    rest = key // n_motifs
    return rest // (length + 1), rest % (length + 1), key % n_motifs


def _merge_segments(row, lo, hi, length):
    """The union of the stretches ``[lo, hi)`` of each row, as disjoint segments."""
    order = np.lexsort((lo, row))
    row, lo, hi = row[order], lo[order], hi[order]
    # offsetting by row makes one running maximum work per row (rows never mix)
    span = length + 2
    reach = np.maximum.accumulate(row * span + hi)
    first = np.ones(len(row), dtype=bool)
    first[1:] = row[1:] * span + lo[1:] > reach[:-1]
    first = np.flatnonzero(first)
    return row[first], lo[first], np.maximum.reduceat(hi, first)


def _overlapping_instances(rows, lo, hi, ptr, order, o_start, o_end):
    """Indices of the instances overlapping any window ``rows[k], [lo[k], hi[k])``."""
    found = set()
    for r, p, q in zip(rows, lo, hi, strict=True):
        for i in range(ptr[r], ptr[r + 1]):
            if o_start[i] < q and o_end[i] > p:
                found.add(int(order[i]))
    return found


class UnremovableMatches(ConfigError):
    """The clean-up gave up; ``rows`` are the sequences that still hold unrecorded matches."""

    def __init__(self, message: str, rows: np.ndarray):
        super().__init__(message)
        self.rows = rows


def _check_removable(n_free, changeable, h_motif, match):
    if (n_free == 0).any() and not changeable:
        h = int(np.flatnonzero(n_free == 0)[0])
        raise ConfigError(
            f"motifs.{match.names[h_motif[h]]}: an unrecorded match lies entirely inside "
            "embedded consensus instances, so it cannot be removed; use mode: sample or "
            "give these motifs room (they are too similar for a complete ground truth)."
        )


def _not_converging(match, h_row, h_motif, counts, rounds):
    names = sorted({match.names[m] for m in h_motif})
    found, found_counts = np.unique(h_motif, return_counts=True)
    per_motif = {match.names[m]: int(c) for m, c in zip(found, found_counts, strict=True)}
    return UnremovableMatches(
        f"scan: {len(h_motif)} unrecorded matches {per_motif} of {names} remained after {rounds} "
        f"rounds of re-drawing (distinct matches per round: first {counts[0]}, fewest "
        f"{min(counts)}, last {counts[-1]}); the motifs are too similar to each other or too "
        "common in the background. Make matches stricter (lower scan.p_value, raise "
        "scan.max_fraction) or drop one of the similar motifs.",
        np.unique(h_row),
    )


def clean_matches(tokens, seq, motif, start, minus, sampler, match, background, scan, rng):
    """Remove every unaccounted match (see the module docstring); returns the number of rounds.

    Every round handles distinct windows only and rescans only the merged stretches it
    changed, so its time and memory are bounded by the size of the batch. The loop stops with
    a ``ConfigError`` naming the motifs and the counts after ``scan.max_rounds`` rounds, or
    earlier when the number of unrecorded matches has not fallen to a new low for
    ``_PATIENCE`` rounds.

    Parameters
    ----------
    tokens : (N, L) uint8, modified in place
    seq, motif, start, minus : instance arrays (row, motif index, start, on the - strand)
    """
    n, length = tokens.shape
    widths = match.widths
    end = start + widths[motif]
    coverage = np.zeros((n, length), dtype=bool)
    for m in np.unique(motif):
        idx = np.flatnonzero(motif == m)
        coverage[seq[idx][:, None], start[idx][:, None] + np.arange(widths[m])] = True
    order = np.argsort(seq, kind="stable")
    ptr = np.searchsorted(seq[order], np.arange(n + 1))
    o_motif, o_start, o_end = motif[order], start[order], end[order]
    segments = (None, None, None)  # first round: everything
    counts = []
    for round_ in range(scan.max_rounds):
        h_row, h_pos, h_motif, _, _ = match.scan(
            tokens, segments[0], lo=segments[1], hi=segments[2]
        )
        bad = unaccounted_hits(
            h_row, h_pos, h_motif, widths, ptr, o_motif, o_start, o_end, float(scan.overlap)
        )
        if not bad.any():
            return round_
        # de-duplicate the few unrecorded hits only, not the many recorded ones
        h_row, h_pos, h_motif = _distinct_windows(
            h_row[bad], h_pos[bad], h_motif[bad], length, len(widths)
        )
        counts.append(len(h_row))
        logger.debug("round %d: %d unrecorded matches re-drawn", round_ + 1, len(h_row))
        if len(counts) - 1 - int(np.argmin(counts)) >= _PATIENCE:
            raise _not_converging(match, h_row, h_motif, counts, round_ + 1)
        w = widths[h_motif]
        hit = np.repeat(np.arange(len(h_row)), w)
        rr = h_row[hit]
        cc = h_pos[hit] + (np.arange(w.sum()) - np.repeat(np.cumsum(w) - w, w))
        free = ~coverage[rr, cc]
        n_free = np.bincount(hit, weights=free, minlength=len(h_row)).astype(np.int64)
        stuck = (n_free * 2 < w) | (round_ >= 3)
        resample = _overlapping_instances(
            h_row[stuck], h_pos[stuck], h_pos[stuck] + w[stuck], ptr, order, o_start, o_end
        )
        changeable = {i for i in resample if sampler.modes[motif[i]] == "sample"}
        _check_removable(n_free, changeable, h_motif, match)
        # re-draw the background of the affected rows only (no (N, L) work per round)
        affected = np.unique(h_row)
        mask = np.zeros((len(affected), length), dtype=bool)
        mask[np.searchsorted(affected, rr[free]), cc[free]] = True
        sub = tokens[affected]
        background.redraw(sub, mask, rng)
        tokens[affected] = sub
        seg_row, seg_lo, seg_hi = [h_row], [h_pos], [h_pos + w]
        if changeable:
            idx = np.array(sorted(changeable), dtype=np.int64)
            for m in np.unique(motif[idx]):
                group = idx[motif[idx] == m]
                _write(tokens, seq[group], start[group], sampler.draw(int(m), minus[group], rng))
            seg_row.append(seq[idx])
            seg_lo.append(start[idx])
            seg_hi.append(end[idx])
        # only windows overlapping a changed stretch can change: scan just those next round
        segments = _merge_segments(*(np.concatenate(x) for x in (seg_row, seg_lo, seg_hi)), length)
    raise _not_converging(match, h_row, h_motif, counts, scan.max_rounds)


def instance_scores(tokens, seq, motif, start, minus, match: MatchModel) -> np.ndarray:
    """Binned log-odds score (bits) of each embedded instance on its own strand."""
    scores = np.empty(len(seq))
    for m in np.unique(motif):
        for strand in (0, 1):
            idx = np.flatnonzero((motif == m) & (minus == bool(strand)))
            if not len(idx):
                continue
            cols = start[idx][:, None] + np.arange(match.widths[m])
            window = tokens[seq[idx][:, None], cols]
            scores[idx] = match.score_tokens(window, int(m), strand) * match.bin_size
    return scores


__all__ = [
    "InstanceSampler",
    "UnremovableMatches",
    "clean_matches",
    "embed_instances",
    "instance_scores",
]
